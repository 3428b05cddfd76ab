"""Sets of inputs (issue 10, item 1): the protocol of every set type, exact projections, certificates, plots."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from scipy.optimize import minimize  # noqa: E402

import symrecon as sr  # noqa: E402
from helpers import check_png  # noqa: E402
from symrecon.errors import InfeasibleTargetError, InvalidParameterError, InvalidValueError, ShapeError  # noqa: E402
from symrecon.sets import AffineSet, Box, EmptySet, Point, Polyhedron, Union  # noqa: E402


def _qp(A, c, x_ref, E=None, d=None):
    """The reference projection: scipy's SLSQP on min |x - x_ref|^2 (independent of symrecon's active set)."""
    cons = [{"type": "ineq", "fun": lambda x: c - A @ x, "jac": lambda x: -A}]
    if E is not None:
        cons.append({"type": "eq", "fun": lambda x: E @ x - d, "jac": lambda x: E})
    res = minimize(lambda x: 0.5 * np.sum((x - x_ref) ** 2), np.zeros_like(x_ref), jac=lambda x: x - x_ref,
                   constraints=cons, method="SLSQP", options={"ftol": 1e-12, "maxiter": 1000})
    assert res.success, res.message
    return res.x


def _random_polyhedron(rng, n, m, with_eq=False):
    A = rng.normal(size=(m, n))
    centre = rng.normal(size=n)
    c = A @ centre + rng.uniform(0.1, 2.0, size=m)   # centre is strictly inside: never empty
    if not with_eq:
        return Polyhedron(A, c), A, c, None, None
    E = rng.normal(size=(1, n))
    d = E @ centre
    return Polyhedron(A, c, E, d), A, c, E, d


@pytest.mark.parametrize("seed", range(12))
def test_polyhedron_nearest_matches_a_qp(seed):
    rng = np.random.default_rng(seed)
    n, m = int(rng.integers(2, 6)), int(rng.integers(1, 9))
    poly, A, c, E, d = _random_polyhedron(rng, n, m, with_eq=seed % 3 == 0)
    x_ref = rng.normal(size=(5, n)) * 4
    got = poly.nearest(x_ref)
    assert got.shape == (5, n) and np.all(poly.contains(got, tol=1e-9))
    for row, x in zip(x_ref, got):
        # SLSQP stops at ftol: it agrees to ~1e-6; the KKT check below is exact
        np.testing.assert_allclose(x, _qp(A, c, row, E, d), atol=1e-5)
        assert _kkt_residual(A, c, E, x, row) < 1e-9


def _kkt_residual(A, c, E, x, x_ref):
    """How far x_ref - x is from the cone of the active normals (0 at the exact projection): a proof of optimality."""
    from scipy.optimize import nnls

    active = A[np.abs(A @ x - c) <= 1e-9]
    normals = np.vstack([active] + ([E, -E] if E is not None else []))
    if normals.shape[0] == 0:
        return float(np.linalg.norm(x_ref - x))
    return float(nnls(normals.T, x_ref - x)[1])


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31 - 1))
def test_projection_is_the_variational_inequality_law(seed):
    # q = nearest(x) in a convex set iff (x - q) . (s - q) <= 0 for every member s
    rng = np.random.default_rng(seed)
    poly = _random_polyhedron(rng, 3, 5)[0]
    x = rng.normal(size=3) * 5
    q = poly.nearest(x)
    members = poly.sample(64, rng=seed)
    assert np.all(poly.contains(members, tol=1e-9))
    assert np.max((members - q) @ (x - q)) <= 1e-8 * (1 + np.linalg.norm(x - q))


def test_empty_polyhedron_carries_a_farkas_certificate():
    # x1 + x2 <= -1, -x1 <= 0, -x2 <= 0: no member
    A, c = np.array([[1.0, 1.0], [-1.0, 0.0], [0.0, -1.0]]), np.array([-1.0, 0.0, 0.0])
    poly = Polyhedron(A, c, description="triangle")
    assert poly.is_empty
    cert = poly.emptiness_certificate()
    assert isinstance(cert, EmptySet) and "triangle" in cert.certificate
    lam = np.asarray(cert.data["multipliers_A"])
    norms = np.linalg.norm(A, axis=1)
    # the scaled rows combine with lam >= 0 into 0 . x <= (negative number): a proof
    assert np.all(lam >= -1e-12)
    np.testing.assert_allclose(lam @ (A / norms[:, None]), 0.0, atol=1e-9)
    assert lam @ (c / norms) < -1e-6
    # by symmetry x1 = x2 = -t: every point violates some constraint by at least 1 / (2 + sqrt 2)
    assert cert.data["min_violation"] == pytest.approx(1.0 / (2.0 + np.sqrt(2.0)), rel=1e-9)
    with pytest.raises(InfeasibleTargetError, match="triangle"):
        poly.nearest([0.0, 0.0])
    with pytest.raises(InfeasibleTargetError):
        poly.sample(3)
    with pytest.raises(InvalidValueError, match="not empty"):
        Polyhedron.halfspace([1.0, 0.0], 0.0).emptiness_certificate()


def test_point_box_affine_and_union_follow_the_protocol():
    p = Point([1.0, -2.0])
    assert p.contains([1.0, -2.0]) and not p.contains([1.0, -1.9])
    assert p.sample(3).shape == (3, 2) and np.all(p.sample(3) == [1.0, -2.0])
    np.testing.assert_array_equal(p.nearest([[0.0, 0.0], [5.0, 5.0]]), [[1.0, -2.0]] * 2)

    b = Box([-1.0, -np.inf], [1.0, 2.0])
    np.testing.assert_array_equal(b.nearest([5.0, 7.0]), [1.0, 2.0])
    samples = b.sample(100, rng=1)
    assert np.all(b.contains(samples)) and np.all(samples[:, 1] >= -1.0 - 1e-12)  # within DEFAULT_RADIUS of 0
    assert b.latex() == r"-1 \le x_{1} \le 1,\; x_{2} \le 2"

    line = AffineSet(point=np.array([0.0, 1.0]), null_basis=np.array([[1.0], [0.0]]))
    np.testing.assert_allclose(line.nearest([3.0, 5.0]), [3.0, 1.0])
    assert line.contains([-7.0, 1.0]) and not line.contains([0.0, 1.1])
    # old callers: coefficients in, members out (also batched points)
    np.testing.assert_allclose(line.sample(np.array([2.0])), [2.0, 1.0])
    batched = AffineSet(point=np.array([[0.0, 1.0], [0.0, 2.0]]), null_basis=line.null_basis)
    assert batched.contains([[5.0, 1.0], [5.0, 2.0]]).tolist() == [True, True]
    with pytest.raises(ShapeError, match="2 rows"):
        batched.contains([[5.0, 1.0]] * 3)

    u = Union([Box([0.0, 0.0], [1.0, 1.0]).to_polyhedron(), Box([3.0, 0.0], [4.0, 1.0]).to_polyhedron()])
    np.testing.assert_allclose(u.nearest([[2.4, 0.5], [1.2, 3.0]]), [[3.0, 0.5], [1.0, 1.0]], atol=1e-12)
    assert np.all(u.contains(u.sample(50, rng=2)))
    assert u.contains([[0.5, 0.5], [2.0, 0.5]]).tolist() == [True, False]


def test_intersections_and_latex():
    half = Polyhedron.halfspace([1.0, -2.0], 3.0, description="h")
    both = half.intersect(Box([0.0, 0.0], [1.0, 1.0])).intersect(Point([0.5, 0.5]))
    assert both.E.shape == (2, 2) and both.contains([0.5, 0.5]) and not both.contains([0.6, 0.5])
    line = AffineSet(point=np.array([0.0, 1.0]), null_basis=np.array([[1.0], [0.0]]))
    seg = Box([-1.0, -1.0], [1.0, 1.0]).to_polyhedron().intersect(line)
    np.testing.assert_allclose(seg.nearest([4.0, 0.0]), [1.0, 1.0], atol=1e-12)
    assert half.latex() == r"\begin{aligned} x_{1} - 2 x_{2} &\le 3 \end{aligned}"
    assert Polyhedron(E=[[0.5, 1.0]], d=[2.0]).latex() == r"\begin{aligned} 0.5 x_{1} + x_{2} &= 2 \end{aligned}"
    assert line.latex().startswith(r"x = \begin{pmatrix}0 \\ 1\end{pmatrix} + t_{1}")
    assert EmptySet(2, "a_1 > 1 & more").latex() == r"\emptyset \quad \text{(a\_1 > 1 \& more)}"


def test_sets_never_modify_or_keep_the_callers_arrays():
    A, c = np.array([[1.0, 1.0]]), np.array([1.0])
    poly = Polyhedron(A, c)
    A[0, 0] = 100.0
    assert poly.A[0, 0] == 1.0 and not poly.A.flags.writeable
    x = np.array([3.0, 3.0])
    out = poly.nearest(x)
    assert x.tolist() == [3.0, 3.0] and not out.flags.writeable


@pytest.mark.parametrize("call, error, match", [
    (lambda: Polyhedron([[1.0, 0.0]]), InvalidParameterError, "A with c"),
    (lambda: Polyhedron([[1.0, 0.0]], [1.0, 2.0]), ShapeError, "c must have shape"),
    (lambda: Polyhedron(), InvalidParameterError, "needs the dimension"),
    (lambda: Polyhedron([[np.nan, 0.0]], [1.0]), InvalidValueError, "NaN"),
    (lambda: Box([1.0, 0.0], [0.0, 0.0]), InvalidValueError, "inverted"),
    (lambda: Point([0.0]).sample(0), InvalidParameterError, "'k' parameter"),
    (lambda: Point([0.0]).sample(2, rng="seed"), InvalidParameterError, "'rng' parameter"),
    (lambda: Point([0.0, 1.0]).contains([0.0]), ShapeError, r"\(2,\)"),
    (lambda: Point([0.0]).contains([0.0], tol=-1.0), InvalidParameterError, "tol"),
    (lambda: EmptySet(2, ""), InvalidValueError, "certificate"),
    (lambda: Union([Point([0.0]), Point([0.0, 1.0])]), InvalidValueError, "one dimension"),
    (lambda: Polyhedron.halfspace([1.0], 0.0).intersect("x"), InvalidParameterError, "intersect"),
])
def test_bad_input_gets_a_clear_error(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_empty_set_refuses_members_and_says_why():
    e = EmptySet(3, "unit 2 of layer 'h' cannot reach 7", data={"layer": "h", "unit": 2})
    assert e.is_empty and e.contains(np.zeros((4, 3))).tolist() == [False] * 4
    with pytest.raises(InfeasibleTargetError, match="cannot reach 7") as info:
        e.nearest(np.zeros(3))
    assert info.value.layer == "h" and info.value.unit == 2
    assert Union([], n=3).is_empty


def test_solution_set_plots(tmp_path):
    fig, axes = plt.subplots(1, 4, figsize=(12, 3))
    tri = Polyhedron([[-1.0, 0.0], [0.0, -1.0], [1.0, 1.0]], [0.0, 0.0, 1.0])
    sr.plot.solution_set(Union([tri, Box([1.5, 1.5], [2.0, 2.0]).to_polyhedron()]), ax=axes[0], box=(-3.0, 3.0),
                         label="union")
    assert len(axes[0].patches) == 2
    line = AffineSet(point=np.array([0.0, 1.0]), null_basis=np.array([[1.0], [0.0]]))
    sr.plot.solution_set(line, ax=axes[1], box=(-2.0, 2.0))
    (drawn,) = axes[1].get_lines()
    np.testing.assert_allclose(sorted(drawn.get_xdata()), [-2.0, 2.0], atol=1e-9)
    np.testing.assert_allclose(drawn.get_ydata(), [1.0, 1.0], atol=1e-9)
    sr.plot.solution_set(EmptySet(2, "no input: proof"), ax=axes[2])
    assert "proof" in axes[2].get_title()
    sr.plot.solution_set(Polyhedron([[1.0]], [0.5]), ax=axes[3], box=(-1.0, 1.0))
    np.testing.assert_allclose(axes[3].get_lines()[0].get_xdata(), [-1.0, 0.5])
    fig.savefig(tmp_path / "sets.png", dpi=80)
    check_png(tmp_path / "sets.png")
    plt.close("all")
    with pytest.raises(InvalidValueError, match="1 or 2 inputs"):
        sr.plot.solution_set(Point([0.0, 0.0, 0.0]))

"""Exact answers for a Keras-trained ReLU network with 2-D input: every input, or a proof that there is none.

The network (2 -> 8 relu -> 8 relu -> 2 linear, trained by
``examples/data/make_relu2d.py``) has no closed-form inverse.  Gradient
methods return one input per start; ``sr.preimage`` returns *all* of them in
the box, as a union of polygons (one per activation pattern, each proved
feasible by an LP), and for a target no input reaches it returns an
``EmptySet`` whose certificate says why.  The figure also shows the points
``newton`` found from random starts (all inside the exact set) and the region
where a hidden unit is switched off, and the certified witness ``method="milp"``
returns (or its proof that no input reaches the target).

Run: ``python examples/relu_preimage.py --out out``
"""

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import symrecon as sr  # noqa: E402

HERE = Path(__file__).resolve().parent
BOX = (-3.0, 3.0)


def exact_preimage(model, ax):
    x_true = np.array([1.0, -0.5])
    y = model(x_true)
    s = sr.preimage(model, y, bounds=BOX)
    print(f"target y = {np.round(y, 6).tolist()}: exact preimage in the box = {len(s.pieces)} polyhedra "
          f"({s.description})")
    print(f"  first piece: {s.pieces[0].latex()[:160]}...")
    members = s.sample(200, rng=0)
    print(f"  200 sampled members re-checked: max |model(x) - y| = {np.max(np.abs(model(members) - y)):.1e}")

    starts = np.random.default_rng(1).uniform(*BOX, size=(12, 2))
    res = sr.reconstruct(model, np.tile(y, (12, 1)), method="newton", x0=starts, bounds=BOX)
    found = np.asarray(res.x)[np.asarray(res.success)]
    distinct = {tuple(np.round(p, 6)) for p in found}
    print(f"  newton from 12 random starts: {len(found)} converged to {len(distinct)} distinct inputs (kind: "
          f"{sorted(set(res.kind.tolist()))}); all inside the exact set: {bool(np.all(s.contains(found, tol=1e-6)))}")

    witness = sr.reconstruct(model, y, method="milp", bounds=BOX)   # certified: LP/MILP, re-checked forward
    assert witness.success and bool(s.contains(witness.x, tol=1e-6))
    print(f"  milp witness: x = {np.round(witness.x, 6).tolist()} (kind {witness.kind}, residual "
          f"{witness.residual:.1e}; inside the exact set: True)")

    first = model.layers[-1]
    y1_only = sr.Sequential([*model.layers[:-1], sr.Dense(first.kernel[:, :1], first.bias[:1], name="out_1")])
    level = sr.preimage(y1_only, y[:1], bounds=BOX)
    print(f"  all inputs with output 1 = {y[0]:.6f} (output 2 free): {len(level.pieces)} polyhedra (segments)")

    off = sr.shutdown_region(model, "hidden1", 3, bounds=BOX)
    print(f"  unit 3 of 'hidden1' is off on: {off.latex()}  (derivation: {' ; '.join(off.derivation)})")
    deep = sr.shutdown_region(model, "hidden2", 0, bounds=BOX)
    nearest = deep.nearest(x_true)
    print(f"  unit 0 of 'hidden2' is off on {type(deep).__name__} (exact={deep.exact}); the smallest change of "
          f"x = {x_true.tolist()} that turns it off moves to {np.round(nearest, 4).tolist()}")

    sr.plot.solution_set(off, ax=ax, box=BOX, color="0.8", label="hidden1[3] off (exact halfspace)", alpha=0.5)
    sr.plot.solution_set(deep, ax=ax, box=BOX, color="tab:green", label="hidden2[0] off (exact polygons)", alpha=0.25)
    sr.plot.solution_set(level, ax=ax, box=BOX, color="tab:purple", label=f"output 1 = {y[0]:.3f} (exact)")
    sr.plot.solution_set(s, ax=ax, box=BOX, color="tab:blue", label="exact preimage of y (every point)")
    ax.scatter(found[:, 0], found[:, 1], color="tab:orange", edgecolor="black", zorder=6, label="newton points")
    ax.scatter(*witness.x, marker="D", s=60, color="black", zorder=7, label="milp witness (certified)")
    ax.scatter(*x_true, marker="*", s=160, color="tab:red", zorder=7, label="x used to make y")
    ax.legend(fontsize="x-small", loc="upper right")
    ax.set_title(f"all inputs giving y = {np.round(y, 3).tolist()}", fontsize="small")
    return s, found


def unreachable_target(model, ax):
    y = np.array([-4.0, 4.0])    # both outputs far from anything the trained task produces together
    e = sr.preimage(model, y, bounds=BOX)
    print(f"target y = {y.tolist()}: {type(e).__name__}; proof: {e.certificate}")
    try:   # the same question to the MILP solver: refused before any search, or proved infeasible by it
        res = sr.reconstruct(model, y, method="milp", bounds=BOX)
        assert not res.success and res.kind == "infeasible"
        print(f"  milp agrees: {res.message}")
    except sr.InfeasibleTargetError as err:
        print(f"  milp agrees (interval bounds, before any search): {err}")
    grid = np.stack(np.meshgrid(np.linspace(*BOX, 200), np.linspace(*BOX, 200)), -1).reshape(-1, 2)
    out = model(grid)
    ax.scatter(out[:, 0], out[:, 1], s=1, color="tab:blue", alpha=0.3, label="model(box), sampled")
    ax.scatter(*y, marker="X", s=120, color="tab:red", label="unreachable target (proved)")
    ax.set_xlabel("y_1")
    ax.set_ylabel("y_2")
    ax.set_title("no input in the box reaches it: " + e.certificate[:60] + "...", fontsize="x-small")
    ax.legend(fontsize="x-small")
    return e


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    model = sr.load_keras(HERE / "data" / "relu2d.keras")
    print(model)
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 5))
    exact_preimage(model, left)
    unreachable_target(model, right)
    fig.tight_layout()
    fig.savefig(out / "relu_preimage.png", dpi=110)
    print(f"wrote {out / 'relu_preimage.png'}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("out"))
    main(parser.parse_args().out)

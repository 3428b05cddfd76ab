"""The minima of silu, gelu and mish, written out in activations/_table.py so that import needs no scipy.optimize.

Each written value must be what it replaced (brentq on the NumPy form's
derivative, :func:`symrecon.activations._numpy.minimum_of`), agree with the
true minimum, and never lie above any value the NumPy form returns: the image
starts there, and an output below it would be refused as unreachable.
"""

from __future__ import annotations

import mpmath
import numpy as np
import pytest

from symrecon import activations
from symrecon.activations import _numpy as F
from symrecon.activations import _table as T

#: name -> (written minimum, NumPy form, its derivative, brentq bracket, exact form for mpmath, where the dip is)
CASES = {
    "silu": (T._SILU_MIN, F.silu, F.dsilu, (-3.0, -0.5), lambda z: z / (1 + mpmath.exp(-z)), -1.28),
    "gelu": (T._GELU_MIN, F.gelu, F.dgelu, (-3.0, -0.1), lambda z: z / 2 * (1 + mpmath.erf(z / mpmath.sqrt(2))), -0.75),
    "mish": (T._MISH_MIN, F.mish, F.dmish, (-3.0, -0.5), lambda z: z * mpmath.tanh(mpmath.log1p(mpmath.exp(z))), -1.19),
}


@pytest.mark.parametrize("name", CASES)
def test_written_minimum_is_the_brentq_minimum_of_the_numpy_form(name):
    written, fn, dfn, bracket, _, _ = CASES[name]
    # brentq stops within xtol=1e-15 of z*; f is flat there, so the value moves by far less than 1e-15
    assert abs(F.minimum_of(fn, dfn, bracket) - written) <= 1e-15


@pytest.mark.parametrize("name", CASES)
def test_written_minimum_agrees_with_the_40_digit_minimum_and_is_not_above_it(name):
    written, _, _, _, exact, guess = CASES[name]
    with mpmath.workdps(40):
        z_star = mpmath.findroot(lambda t: mpmath.diff(exact, t), guess)
        true_min = exact(z_star)
    # float64 forms round each operation: a few ulp of the value, here ~6e-17 each
    assert abs(written - float(true_min)) <= 2 * np.spacing(abs(written))
    # no correctly rounded output lies below float(true_min), so written must not lie above it
    assert written <= float(true_min)


@pytest.mark.parametrize("name", CASES)
def test_image_starts_at_the_written_minimum_and_holds_every_numpy_output(name):
    written, fn, _, _, _, guess = CASES[name]
    act = activations.get(name)
    assert float(act.image.inf) == written
    z = guess + np.linspace(-0.05, 0.05, 200_001)   # steps of 5e-7 across the dip
    assert np.min(fn(z)) >= written

"""Exact answers for piecewise-linear networks: big-M MILPs (HiGHS through :func:`scipy.optimize.milp`).

* :mod:`.network` — every piecewise-linear activation as hinges ``relu(z - t)``;
  a fixed on/off pattern makes the network one affine map.
* :mod:`.formulation` — the big-M model over a box (bounds from
  :mod:`symrecon.bounds`, interval propagation through the graph ops).
* :mod:`.tighten` — bounds tightened per target: LPs over the relaxed model
  with the output rows (an infeasible one proves the target unreachable).
* :mod:`.lp` — that relaxation as one LP re-solved with new objectives and
  chords (``highspy`` warm starts when installed, SciPy otherwise).
* :mod:`.distance` — L1 / L-infinity distance to a reference as a linear objective.
* :mod:`.search` — one target: pattern LP, MILP, polish, verdict (witness,
  proof of infeasibility, or undecided).
* :mod:`.region` — :func:`unit_off_region`, the exact shut-down set of a deeper unit.

The solver ``method="milp"`` (:mod:`symrecon.solvers.milp`) puts a batched
local phase (``newton`` from many starts) in front of :mod:`.search`.

Examples
--------
>>> import numpy as np, symrecon as sr
>>> from symrecon.milp import unit_off_region
>>> m = sr.Sequential([sr.Dense([[1.0, -1.0]], [0.0, 0.0], "relu"), sr.Dense([[1.0], [1.0]], [-1.0], "relu")])
>>> unit_off_region(m, 1, 0, 0.0, (-2.0, 2.0)).contains([[0.0], [1.5]]).tolist()
[True, False]
"""

from .network import PIECEWISE_LINEAR, PLNetwork
from .region import UnitOffRegion, unit_off_region

__all__ = ["PIECEWISE_LINEAR", "PLNetwork", "UnitOffRegion", "unit_off_region"]

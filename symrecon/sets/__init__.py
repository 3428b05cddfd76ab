"""Sets of inputs, as values: what a target's preimage is when it is more than a point.

Every set has ``n``, ``contains(x, tol)``, ``sample(k, rng)``, ``nearest(x_ref)``
(exact Euclidean projection), ``latex()``, ``is_empty`` and ``exact`` (True for
proved answers).  Types: :class:`Point`, :class:`AffineSet`, :class:`Box`,
:class:`Polyhedron` (``A x <= c``, ``E x = d``), :class:`Union` of polyhedra and
:class:`EmptySet` (with its certificate).

Examples
--------
>>> import numpy as np
>>> from symrecon.sets import AffineSet, Box
>>> s = AffineSet(point=np.array([1.0, 0.0]), null_basis=np.array([[0.0], [1.0]]))
>>> s.dimension, s.sample(np.array([2.0])).tolist()
(1, [1.0, 2.0])
>>> line_in_box = Box([-1.0, -1.0], [2.0, 0.5]).to_polyhedron().intersect(s)
>>> line_in_box.nearest([0.0, 3.0]).round(12).tolist()
[1.0, 0.5]
"""

from ._base import DEFAULT_RADIUS as DEFAULT_RADIUS
from ._base import SolutionSet as SolutionSet
from ._polyhedron import Polyhedron as Polyhedron
from ._polyhedron import Union as Union
from ._polyhedron import as_polyhedron as as_polyhedron
from ._simple import AffineSet as AffineSet
from ._simple import Box as Box
from ._simple import EmptySet as EmptySet
from ._simple import Point as Point

__all__ = ["SolutionSet", "Point", "AffineSet", "Box", "Polyhedron", "Union", "EmptySet", "DEFAULT_RADIUS",
           "as_polyhedron"]

"""Polygons of 2-D polyhedra and intervals of 1-D ones, clipped to a window (what the plots draw).

Examples
--------
>>> import numpy as np
>>> from symrecon.sets import Polyhedron
>>> from symrecon.sets._geometry import polygon
>>> tri = Polyhedron([[-1.0, 0.0], [0.0, -1.0], [1.0, 1.0]], [0.0, 0.0, 1.0])
>>> sorted((polygon(tri, np.array([-2.0, -2.0]), np.array([2.0, 2.0])).round(9) + 0.0).tolist())
[[0.0, 0.0], [0.0, 1.0], [1.0, 0.0]]
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

__all__ = ["polygon", "interval"]


def _clip(vertices: list[NDArray[np.float64]], a: NDArray[np.float64], c: float) -> list[NDArray[np.float64]]:
    """Sutherland-Hodgman: the part of the convex polygon with ``a . v <= c``."""
    out = []
    for i, p in enumerate(vertices):
        q = vertices[(i + 1) % len(vertices)]
        fp, fq = a @ p - c, a @ q - c
        if fp <= 0:
            out.append(p)
        if (fp < 0 < fq) or (fq < 0 < fp):
            out.append(p + (q - p) * (fp / (fp - fq)))
    return out


def polygon(poly, lower: NDArray[np.float64], upper: NDArray[np.float64]) -> NDArray[np.float64]:
    """Vertices ``(k, 2)`` of the 2-D polyhedron ∩ the window (k = 0: nothing inside; a segment has 2)."""
    verts = [np.array(v, dtype=np.float64) for v in
             ([lower[0], lower[1]], [upper[0], lower[1]], [upper[0], upper[1]], [lower[0], upper[1]])]
    rows = [(a, c) for a, c in zip(poly.A, poly.c)]
    rows += [(e, d) for e, d in zip(poly.E, poly.d)] + [(-e, -d) for e, d in zip(poly.E, poly.d)]
    scale = float(np.max(np.abs(upper - lower)))
    for a, c in rows:
        norm = float(np.linalg.norm(a))
        if norm == 0:
            if c < 0:
                return np.zeros((0, 2))
            continue
        verts = _clip(verts, a / norm, c / norm + 1e-12 * scale)
        if not verts:
            return np.zeros((0, 2))
    out = np.array(verts)
    keep = np.r_[True, np.linalg.norm(np.diff(out, axis=0), axis=1) > 1e-12 * scale]
    return out[keep]


def interval(poly, lower: float, upper: float) -> tuple[float, float] | None:
    """``(a, b)`` of the 1-D polyhedron ∩ ``[lower, upper]``, or None when empty."""
    lo, hi = lower, upper
    for a, c in zip(poly.A[:, 0], poly.c):
        if a > 0:
            hi = min(hi, c / a)
        elif a < 0:
            lo = max(lo, c / a)
        elif c < 0:
            return None
    for e, d in zip(poly.E[:, 0], poly.d):
        if e != 0:
            lo, hi = max(lo, d / e), min(hi, d / e)
        elif d != 0:
            return None
    return (lo, hi) if lo <= hi else None

"""Plain-text reports of results."""

from __future__ import annotations

import numpy as np

__all__ = ["reconstruction_report"]


def _fmt_vec(v, width: int = 60) -> str:
    return np.array2string(np.asarray(v), precision=12, max_line_width=width, threshold=12)


def reconstruction_report(res) -> str:
    """Fixed-width text block for a :class:`~symrecon.Reconstruction`."""
    lines = ["[[Reconstruction]]"]
    if res.is_batch:
        s = res.summary()
        rows = [
            ("targets", s["n_targets"]),
            ("within tol", f"{s['n_success']} ({100.0 * s['n_success'] / s['n_targets']:.2f} %)"),
            ("max residual", f"{s['max_residual']:.3e}"),
            ("tolerance", f"{s['tol']:.1e}"),
            ("methods", ", ".join(f"{k}: {v}" for k, v in s["methods"].items())),
            ("elapsed", f"{res.elapsed:.4g} s"),
        ]
    else:
        rows = [
            ("method", res.method),
            ("success", res.success),
            ("x", _fmt_vec(res.x)),
            ("y target", _fmt_vec(res.y_target)),
            ("y model(x)", _fmt_vec(res.y_pred)),
            ("residual", f"{res.residual:.3e} (tol {res.tol:.1e})"),
            ("iterations", res.n_iter),
            ("elapsed", f"{res.elapsed:.4g} s"),
        ]
        if res.affine_set is not None:
            rows.append(("solution set", f"affine, dimension {res.affine_set.dimension} (x is its min-norm point)"))
    lines += [f"    {k:<13} {v}" for k, v in rows]
    lines.append(f"    {'message':<13} {res.message}")
    return "\n".join(lines)

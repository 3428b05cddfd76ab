"""Plain-text reports of results."""

from __future__ import annotations

import numpy as np

__all__ = ["reconstruction_report", "comparison_cells", "comparison_text", "comparison_markdown",
           "comparison_latex", "comparison_html", "latex_escape"]


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
            ("n_iter", res.n_iter),
            ("elapsed", f"{res.elapsed:.4g} s"),
        ]
        if res.affine_set is not None:
            rows.append(("solution set", f"affine, dimension {res.affine_set.dimension} (x is its min-norm point)"))
    lines += [f"    {k:<13} {v}" for k, v in rows]
    lines.append(f"    {'message':<13} {res.message}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------
# Comparison tables (symrecon.compare.Comparison): one set of cells, four formats.

_COMPARISON_HEADER = ["method", "x", "residual", "within tol", "kind", "|x - x_analytic|", "digits", "n_iter",
                      "time (s)"]


def _num(v: float, fmt: str) -> str:
    return "n/a" if v is None or (isinstance(v, float) and np.isnan(v)) else format(v, fmt)


def comparison_cells(cmp) -> tuple[list[str], list[list[str]]]:
    """Header and string cells of a :class:`~symrecon.compare.Comparison`.

    ``x`` is shown for a single target and as ``(N targets)`` for a batch.
    """
    rows = []
    for row in cmp.rows:
        if row.result is None:
            rows.append([row.method, "not run", "n/a", "n/a", "n/a", "n/a", "n/a", "n/a", "n/a"])
            continue
        x = np.asarray(row.result.x)
        x_txt = (np.array2string(x, precision=10, max_line_width=10_000, threshold=6, separator=", ")
                 if x.ndim == 1 else f"({x.shape[0]} targets)")
        rows.append([
            row.method, x_txt, _num(row.residual, ".2e"), f"{100.0 * row.success_rate:.1f} %", row.kind,
            _num(row.distance, ".2e"), _num(row.digits, ".1f"), str(row.n_iter), _num(row.elapsed, ".3g"),
        ])
    return list(_COMPARISON_HEADER), rows


def _notes(cmp) -> list[str]:
    return [f"{row.method}: {row.error}" for row in cmp.rows if row.error]


def comparison_text(cmp) -> str:
    """Fixed-width text table."""
    header, rows = comparison_cells(cmp)
    widths = [max(len(c) for c in col) for col in zip(header, *rows)]
    line = "  ".join(h.ljust(w) for h, w in zip(header, widths))
    out = [f"[[Comparison]] {cmp.n_targets} target(s), tol {cmp.tol:.1e}", line, "-" * len(line)]
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows]
    out += [f"note: {n}" for n in _notes(cmp)]
    return "\n".join(out)


def comparison_markdown(cmp) -> str:
    """GitHub-flavoured Markdown table (pipes in cells escaped)."""
    header, rows = comparison_cells(cmp)

    def esc(c: str) -> str:
        return c.replace("|", "\\|")

    out = ["| " + " | ".join(esc(h) for h in header) + " |",
           "| " + " | ".join("---" for _ in header) + " |"]
    out += ["| " + " | ".join(esc(c) for c in r) + " |" for r in rows]
    out += ["", *[f"*{esc(n)}*" for n in _notes(cmp)]] if _notes(cmp) else []
    return "\n".join(out)


_LATEX_SPECIALS = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                   "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "|": r"\textbar{}",
                   "<": r"\textless{}", ">": r"\textgreater{}"}


def latex_escape(text: str) -> str:
    """Escape LaTeX's special characters in plain text."""
    return "".join(_LATEX_SPECIALS.get(ch, ch) for ch in text)


def comparison_latex(cmp) -> str:
    """A ``tabular`` (base LaTeX only: no booktabs) of the comparison."""
    header, rows = comparison_cells(cmp)
    header = [h.replace("|x - x_analytic|", "$|x - x_{\\mathrm{analytic}}|$") if "analytic" in h else latex_escape(h)
              for h in header]
    out = [r"\begin{tabular}{l" + "r" * (len(header) - 1) + "}", r"\hline", " & ".join(header) + r" \\", r"\hline"]
    out += [" & ".join(latex_escape(c) for c in r) + r" \\" for r in rows]
    out.append(r"\hline")
    out.append(r"\end{tabular}")
    return "\n".join(out)


def comparison_html(cmp) -> str:
    """HTML table for notebooks."""
    import html

    header, rows = comparison_cells(cmp)
    out = ["<table>", f"<caption>{cmp.n_targets} target(s), tol {cmp.tol:.1e}</caption>",
           "<thead><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr></thead>", "<tbody>"]
    out += ["<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows]
    out.append("</tbody></table>")
    out += [f"<p><em>{html.escape(n)}</em></p>" for n in _notes(cmp)]
    return "\n".join(out)

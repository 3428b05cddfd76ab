"""Checks shared by the tests that look at files symrecon writes."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np


def compile_latex(tex_path: Path) -> Path:
    """Compile a standalone .tex with pdflatex; fail (never skip) if it cannot.

    Returns the PDF path.  CI installs pdflatex (tools/test.sh).
    """
    exe = shutil.which("pdflatex")
    assert exe is not None, "pdflatex is not installed: tools/test.sh installs TeX Live (texlive-latex-base)"
    tex_path = Path(tex_path)
    proc = subprocess.run(
        [exe, "-interaction=nonstopmode", "-halt-on-error", tex_path.name],
        cwd=tex_path.parent, capture_output=True, text=True, timeout=120,
    )
    pdf = tex_path.with_suffix(".pdf")
    assert proc.returncode == 0, f"pdflatex failed on {tex_path}:\n{proc.stdout[-3000:]}"
    assert pdf.exists() and pdf.stat().st_size > 1000
    return pdf


def check_png(path: Path, min_width: int = 300, min_height: int = 200) -> np.ndarray:
    """Open a PNG, check its size and that it is not blank; return the pixels."""
    import matplotlib.image as mpimg

    path = Path(path)
    assert path.exists(), f"{path} was not written"
    with open(path, "rb") as fh:
        assert fh.read(8) == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    img = mpimg.imread(path)
    h, w = img.shape[:2]
    assert w >= min_width and h >= min_height, f"{path} is only {w}x{h}"
    rgb = img[..., :3].reshape(-1, 3)
    # A blank figure is one colour; a real plot has axes, text and markers.
    assert np.unique(np.round(rgb, 2), axis=0).shape[0] > 20, f"{path} looks blank"
    assert (rgb.std(axis=0) > 0.02).any(), f"{path} looks blank"
    return img


def import_keras_or_skip():
    """Import Keras (torch backend) for a live-Keras test module, at module level.

    In CI (``CI`` set) a missing Keras is a broken test machine and raises;
    elsewhere the whole module is skipped, saying why.
    """
    import os

    import pytest

    os.environ.setdefault("KERAS_BACKEND", "torch")
    try:
        import keras
    except ImportError:
        if os.environ.get("CI"):
            raise
        pytest.skip("keras is not installed (with CI set, this is an error instead)", allow_module_level=True)
    return keras

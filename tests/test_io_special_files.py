"""Named pipes, directories and devices are refused before they are opened (issue 9, item 2).

Opening a named pipe blocks until a writer appears, and a device like
``/dev/zero`` never ends: both used to hang (or fill memory) from the API and
from ``symrecon invert``.  The pipe cases run in a fresh interpreter under a
timeout, so a hang fails the test instead of hanging pytest.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import symrecon as sr
from symrecon.errors import ModelFormatError

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "keras"


def run_python(code: str, timeout: float = 60) -> subprocess.CompletedProcess:
    env = {**os.environ, "KERAS_BACKEND": "torch", "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, env=env, capture_output=True,
                          check=False, text=True, timeout=timeout)


@pytest.fixture
def fifo(tmp_path):
    path = tmp_path / "model.keras"
    os.mkfifo(path)
    return path


def test_fifo_is_refused_by_the_api(fifo):
    proc = run_python(f"""
        import symrecon as sr
        try:
            sr.load_keras({str(fifo)!r})
        except sr.ModelFormatError as exc:
            print("refused:", exc)
        """)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.startswith("refused:")
    assert str(fifo) in proc.stdout and "named pipe" in proc.stdout


def test_fifo_is_refused_by_the_cli(fifo):
    proc = run_python(f"""
        import sys
        from symrecon.cli import main
        sys.exit(main(["invert", {str(fifo)!r}, "--y", "1"]))
        """)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "ModelFormatError" in proc.stderr and str(fifo) in proc.stderr and "named pipe" in proc.stderr


def test_fifo_as_weights_file_is_refused(fifo):
    proc = run_python(f"""
        import symrecon as sr
        try:
            sr.load_keras({str(DATA / 'dense_chain.keras')!r}, weights={str(fifo)!r})
        except sr.ModelFormatError as exc:
            print("refused:", exc)
        """)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.startswith("refused:") and "named pipe" in proc.stdout


def test_directory_is_refused(tmp_path):
    folder = tmp_path / "model.keras"
    folder.mkdir()
    with pytest.raises(ModelFormatError, match="model.keras: is a directory"):
        sr.load_keras(folder)


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/null"])
def test_device_is_refused(device):
    # /dev/zero would otherwise be read up to the 512 MB file limit.
    with pytest.raises(ModelFormatError, match=f"{device}: is a device"):
        sr.load_keras(device)


def test_symlink_to_a_regular_file_still_loads(tmp_path):
    link = tmp_path / "link.keras"
    link.symlink_to(DATA / "dense_chain.keras")
    assert sr.load_keras(link).n_in == sr.load_keras(DATA / "dense_chain.keras").n_in

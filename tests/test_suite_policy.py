"""The test suite's own policy (tests/conftest.py): seeded hypothesis in CI, live-Keras tests never vanish in CI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from hypothesis import settings

HERE = Path(__file__).resolve().parent


def test_hypothesis_profile_is_seeded_unless_dev_is_asked_for():
    import conftest

    if os.environ.get("CI") or conftest.PROFILE == "ci":
        assert settings.default.derandomize is True
        assert settings.default.database is None
    else:
        assert conftest.PROFILE == "dev" and os.environ.get("HYPOTHESIS_PROFILE") == "dev"


def _run_live_keras_tests_without_keras(ci: str):
    # a sitecustomize-free way to hide keras: a module named keras that fails to import
    fake = HERE / "_no_keras_tmp"
    fake.mkdir(exist_ok=True)
    (fake / "keras.py").write_text("raise ImportError('keras hidden by test_suite_policy')\n")
    env = {**os.environ, "CI": ci, "PYTHONPATH": os.pathsep.join([str(fake), str(HERE.parent)])}
    try:
        return subprocess.run([sys.executable, "-m", "pytest", str(HERE / "test_keras_live.py"), "-q",
                               "-p", "no:cacheprovider", "-x"], cwd=HERE.parent, env=env, capture_output=True,
                              text=True, timeout=300)
    finally:
        (fake / "keras.py").unlink()
        fake.rmdir()


def test_live_keras_tests_fail_in_ci_without_keras():
    proc = _run_live_keras_tests_without_keras("true")
    assert proc.returncode not in (0, 5), proc.stdout[-2000:]  # 5 would be "everything skipped"
    assert "1 error" in proc.stdout and "skipped" not in proc.stdout, proc.stdout[-2000:]
    assert "keras hidden by test_suite_policy" in proc.stdout + proc.stderr


def test_live_keras_tests_skip_outside_ci_without_keras():
    proc = _run_live_keras_tests_without_keras("")
    assert proc.returncode in (0, 5) and "1 skipped" in proc.stdout, proc.stdout[-2000:]  # 5: nothing ran

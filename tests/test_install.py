"""Installing and running symrecon as a new user would (issue 9, items 10 and 13).

- numba's compiled kernels go to a per-user cache keyed by symrecon's version,
  never into the package folder (an install's ``__pycache__`` full of files pip
  does not own survived ``pip install -e .`` and broke ``import symrecon``);
- the package list is ``symrecon`` and ``symrecon.*`` (not the demo's output);
- the README's two commands, in either order, in one fresh virtual
  environment (slow: ``SYMRECON_INSTALL_TEST=1 pytest -m slow tests/test_install.py``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NUMBA_SUFFIXES = {".nbi", ".nbc"}


def _numba_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix in NUMBA_SUFFIXES)


def _copy_package(dest: Path) -> Path:
    """A clean copy of the source package (no __pycache__), so that 'nothing was written' is checkable."""
    shutil.copytree(ROOT / "symrecon", dest / "symrecon", ignore=shutil.ignore_patterns("__pycache__"))
    return dest / "symrecon"


def _run_python(code: str, *, cwd: Path, pythonpath: Path, **env_changes) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in {"NUMBA_CACHE_DIR", "PYTHONPATH"}}
    env.update({"PYTHONPATH": str(pythonpath), "MPLBACKEND": "Agg"}, **env_changes)
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    return proc


def test_solver_kernels_are_cached_per_user_not_in_the_package(tmp_path):
    src = tmp_path / "src"
    pkg = _copy_package(src)
    cache = tmp_path / "xdg-cache"
    proc = _run_python(
        """
        import symrecon as sr
        m = sr.Sequential([sr.Dense([[0.4]], [-25.0])])
        res = sr.reconstruct(m, [100.0], method="gd", x0=[1.0], max_iter=200)
        assert res.success, res
        print(sr.__version__)
        """,
        cwd=tmp_path, pythonpath=src, XDG_CACHE_HOME=str(cache))
    version = proc.stdout.strip()
    assert _numba_files(pkg) == [], "numba wrote its cache into the package folder"
    written = _numba_files(cache)
    assert {p.suffix for p in written} == NUMBA_SUFFIXES, f"no kernel cache under {cache}: {written}"
    assert all(p.is_relative_to(cache / "symrecon" / version) for p in written)


PROBE = """
from numba import njit

@njit(cache=True)
def twice(v):
    return 2.0 * v
"""


def test_explicit_numba_cache_dir_wins_and_other_code_is_left_alone(tmp_path):
    # A tiny kernel inside the package (and one outside it) keeps this test to one quick compilation each.
    src = tmp_path / "src"
    pkg = _copy_package(src)
    (pkg / "_probe_kernel.py").write_text(PROBE)
    (src / "user_code.py").write_text(PROBE)
    numba_dir, xdg = tmp_path / "numba-cache", tmp_path / "xdg-cache"
    _run_python(
        """
        import symrecon, user_code
        from symrecon import _probe_kernel
        assert _probe_kernel.twice(2.0) == 4.0 and user_code.twice(1.0) == 2.0
        """,
        cwd=tmp_path, pythonpath=src, NUMBA_CACHE_DIR=str(numba_dir), XDG_CACHE_HOME=str(xdg))
    assert _numba_files(pkg) == []
    assert any(p.name.startswith("_probe_kernel.twice") for p in _numba_files(numba_dir))
    assert not xdg.exists() or _numba_files(xdg) == []

    # Without NUMBA_CACHE_DIR: symrecon's kernels go to XDG, the user's own code keeps numba's default.
    _run_python("import symrecon, user_code; from symrecon import _probe_kernel; _probe_kernel.twice(1.0); "
                "user_code.twice(1.0)", cwd=tmp_path, pythonpath=src, XDG_CACHE_HOME=str(xdg))
    assert any(p.name.startswith("_probe_kernel.twice") for p in _numba_files(xdg))
    assert not any(p.name.startswith("user_code") for p in _numba_files(xdg))
    assert any(p.name.startswith("user_code.twice") for p in _numba_files(src / "__pycache__"))


def test_cache_dir_follows_xdg_and_ignores_a_relative_xdg(monkeypatch, tmp_path):
    from symrecon import _cache
    from numba.core import config

    monkeypatch.setattr(config, "CACHE_DIR", "")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert _cache.kernel_cache_dir() == tmp_path / "symrecon" / _cache.package_version()
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/dir")  # invalid per the XDG spec
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert _cache.kernel_cache_dir() == tmp_path / "home" / ".cache" / "symrecon" / _cache.package_version()
    monkeypatch.setattr(config, "CACHE_DIR", str(tmp_path / "explicit"))
    assert _cache.kernel_cache_dir() == tmp_path / "explicit"


def test_package_list_is_symrecon_and_its_subpackages_only(tmp_path):
    from setuptools import find_namespace_packages

    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    find = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    tree = tmp_path / "tree"
    shutil.copytree(ROOT / "symrecon", tree / "symrecon", ignore=shutil.ignore_patterns("__pycache__"))
    for folder in ("symrecon-demo", "symrecon_extras", "tests"):  # what a user's checkout may hold
        (tree / folder).mkdir()
        (tree / folder / "plot.png").write_bytes(b"png")
    found = find_namespace_packages(where=str(tree), include=find["include"])
    assert "symrecon" in found and "symrecon.solvers" in found and "symrecon.io" in found
    assert all(p == "symrecon" or p.startswith("symrecon.") for p in found), found


def test_demo_output_folder_is_ignored_by_git():
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    proc = subprocess.run(["git", "check-ignore", "-q", "symrecon-demo/reconstruction.png"], cwd=ROOT)
    assert proc.returncode == 0, "symrecon-demo/ (the demo's default output) is not in .gitignore"


# ---------------------------------------------------------------------------
# The README's two commands in one fresh virtual environment, in both orders.

README_INSTALL_AND_DEMO = "pip install . && symrecon demo"
# tools/test.sh passes its arguments to pytest: a few tests that load the installed package.
TEST_SH_SUBSET = ("bash tools/test.sh -q -p no:cacheprovider tests/test_demo_cli.py::test_symrecon_demo_console_script "
                  "tests/test_install.py::test_solver_kernels_are_cached_per_user_not_in_the_package")


def _clone(dest: Path) -> Path:
    """The checkout's tracked and untracked-but-not-ignored files, as a clean clone would have them."""
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                           capture_output=True, text=True, check=True).stdout.split("\0")
    for name in filter(None, files):
        if (ROOT / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, dest / name)
    return dest


def _sh(command: str, cwd: Path, env: dict, log: list) -> str:
    proc = subprocess.run(["bash", "-c", command], cwd=cwd, env=env, capture_output=True, text=True, timeout=3600)
    log.append(f"$ {command}  (in {cwd}) -> {proc.returncode}")
    assert proc.returncode == 0, "\n".join(log) + "\n" + proc.stdout[-3000:] + proc.stderr[-5000:]
    return proc.stdout


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("SYMRECON_INSTALL_TEST") != "1",
                    reason="builds a fresh virtual environment from the package index (minutes); "
                           "set SYMRECON_INSTALL_TEST=1 to run")
def test_readme_commands_in_either_order_in_one_fresh_venv(tmp_path):
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs a git checkout to clone")
    clone = _clone(tmp_path / "clone")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=600)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items()
           if k not in {"PYTHONPATH", "NUMBA_CACHE_DIR", "SYMRECON_INSTALL_TEST", "PYTHONHOME"}}
    env.update(PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}", VIRTUAL_ENV=str(venv), MPLBACKEND="Agg",
               XDG_CACHE_HOME=str(tmp_path / "xdg-cache"),
               PIP_CACHE_DIR=os.environ.get("PIP_CACHE_DIR", str(Path.home() / ".cache" / "pip")))
    log: list[str] = []
    where = "import symrecon, pathlib; print(pathlib.Path(symrecon.__file__).parent)"
    site_pkg = None
    for n, step in enumerate(("demo", "tests", "demo", "tests")):
        if step == "demo":
            _sh(README_INSTALL_AND_DEMO, clone, env, log)
            site_pkg = Path(_sh(f'python -c "{where}"', elsewhere, env, log).strip())
            assert venv in site_pkg.parents, f"regular install expected, got {site_pkg}"
            assert _numba_files(site_pkg) == [], "the demo wrote numba's cache into the installed package"
        else:
            _sh(TEST_SH_SUBSET, clone, env, log)
            # pip install -e . replaced the regular install: nothing of it may be left behind.
            assert not site_pkg.exists(), f"{site_pkg} survived the editable install: {list(site_pkg.rglob('*'))[:10]}"
            assert Path(_sh(f'python -c "{where}"', elsewhere, env, log).strip()) == clone / "symrecon"
        # Either way the console script works from any folder.
        out = _sh(f"symrecon demo --out {tmp_path / f'demo-out-{n}'}", elsewhere, env, log)
        assert "analytic x0 = " in out
    # The demo's output folder (clone/symrecon-demo) is no package of the editable install.
    site = next(venv.glob("lib/python*/site-packages"))
    for path in [*site.glob("symrecon-*.dist-info/top_level.txt"), *site.glob("__editable__*symrecon*")]:
        assert "symrecon-demo" not in path.read_text(), path

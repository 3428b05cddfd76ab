"""Every ``Examples`` section in symrecon's docstrings runs and prints what it says (so none can rot)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import symrecon

MODULES = sorted(m.name for m in pkgutil.walk_packages(symrecon.__path__, "symrecon.") if not m.name.endswith("__main__"))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # examples may write files
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} docstring examples of {name} failed"


def test_the_docstrings_do_have_examples():
    attempted = sum(doctest.testmod(importlib.import_module(n), verbose=False, report=False).attempted
                    for n in ("symrecon.reconstruct", "symrecon.tolerance", "symrecon.executor", "symrecon.status"))
    assert attempted >= 8

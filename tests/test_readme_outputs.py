"""The README's code comments are checked against what the code prints, and its claims against the code.

Convention for README ``python`` blocks
---------------------------------------
A comment on a line that calls ``print(...)`` states that call's output::

    print(res.method, res.x, res.success)         # analytic [65.2465...] True

The comment is compared with what the call printed as doctest does with
``ELLIPSIS | NORMALIZE_WHITESPACE``: ``...`` matches any text (a trailing
``...`` makes the comment a prefix), runs of whitespace compare equal, and
everything else must match exactly.  Comments on other lines are prose and are
not checked.  Every commented ``print`` must run (a ``print`` in an ``except``
branch that never fires fails the test).
"""

from __future__ import annotations

import doctest
import re
from pathlib import Path

import numpy as np
import pytest

import symrecon as sr
from symrecon.result import Status

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
PY_BLOCKS = [code for lang, code in re.findall(r"```(\w+)\n(.*?)```", README, flags=re.S) if lang == "python"]

_COMMENTED_PRINT = re.compile(r"^(?P<indent>\s*)print\((?P<args>.*)\)\s+#\s?(?P<want>.*?)\s*$")
_FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def commented_prints(block: str) -> list[tuple[int, str]]:
    """``(line number, expected output)`` of every commented ``print`` line of a block."""
    return [(i, m.group("want")) for i, line in enumerate(block.splitlines())
            if (m := _COMMENTED_PRINT.match(line))]


CASES = [(b, line, want) for b, block in enumerate(PY_BLOCKS) for line, want in commented_prints(block)]

#: README comments that are known not to state the output (an xfail each; see the report of issue 14)
KNOWN_MISMATCH: dict[str, str] = {}


def run_block(index: int) -> dict[int, str]:
    """Run README python block ``index``; what each commented ``print`` line printed, by line number."""
    printed: dict[int, list[str]] = {}
    lines = PY_BLOCKS[index].splitlines()
    for i, _ in commented_prints(PY_BLOCKS[index]):
        lines[i] = re.sub(r"\bprint\(", f"__readme_print__({i}, ", lines[i], count=1)

    def readme_print(line, *args, sep=" ", end="\n", **_):
        printed.setdefault(line, []).append(sep.join(str(a) for a in args) + end)

    exec(compile("\n".join(lines), f"README.md[python block {index}]", "exec"),
         {"__name__": "__readme__", "__readme_print__": readme_print})
    return {k: "".join(v) for k, v in printed.items()}


def test_the_readme_has_commented_prints():
    assert len(CASES) >= 3
    assert any("65.2465" in want for _, _, want in CASES)


@pytest.mark.parametrize("block, line, want", [
    pytest.param(*case, marks=pytest.mark.xfail(strict=True, reason=KNOWN_MISMATCH[case[2]]))
    if case[2] in KNOWN_MISMATCH else case for case in CASES], ids=[f"block{b}-line{ln}" for b, ln, _ in CASES])
def test_readme_print_matches_its_comment(block, line, want, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # blocks write files (sigmoid.tex)
    got = run_block(block).get(line)
    assert got is not None, f"README block {block}, line {line}: the commented print never ran"
    assert doctest.OutputChecker().check_output(want + "\n", got, _FLAGS), (
        f"README block {block}, line {line}:\n  comment: {want}\n  printed: {got}")


def test_the_convention_rejects_a_wrong_comment():
    checker = doctest.OutputChecker()
    assert checker.check_output("analytic [65.2465...] True\n", "analytic [65.24653072] True\n", _FLAGS)
    assert not checker.check_output("analytic [65.2466...] True\n", "analytic [65.24653072] True\n", _FLAGS)
    assert not checker.check_output("analytic [65.2465...] True\n", "newton [65.24653072] True\n", _FLAGS)
    assert not checker.check_output("analytic [65.2465...]\n", "analytic [65.24653072] False\n", _FLAGS)


# --- the README's claim about targets no input can reach -----------------------------------------------

def test_target_outside_the_output_image_raises():
    model = sr.Sequential([sr.Dense([[0.4]], [-25.0], activation="sigmoid")])
    for method in ("auto", "analytic", "newton", "gd", "scipy"):
        with pytest.raises(sr.InfeasibleTargetError, match=r"outside the image Interval.open\(0, 1\)"):
            sr.reconstruct(model, [1.2], method=method)


def test_unreachable_target_inside_the_output_range_ends_stalled_not_an_error():
    # y = tanh(x) + tanh(x): the last layer (linear) can output 3, but no input reaches it (|y| < 2)
    model = sr.Sequential([sr.Dense([[1.0, 1.0]], [0.0, 0.0], "tanh"), sr.Dense([[1.0], [1.0]], [0.0])])
    res = sr.reconstruct(model, [3.0])
    assert not res.success and res.status is Status.STALLED
    assert "unreachable" in res.message
    assert res.residual >= 1.0 - 1e-9  # the closest the network gets is 2
    batch = sr.reconstruct(model, [[3.0], [1.0]])
    np.testing.assert_array_equal(batch.success, [False, True])


def test_readme_states_both_cases():
    text = " ".join(README.split())
    assert "raise a clear error" in text and "outside" in text
    assert "success=False" in text

"""Size metrics the architecture issue sets limits on: module lines, function lines, parameters.

Run: python tools/code_metrics.py [--max-module 450 --max-function 100 --max-params 12]
Exits 1 when a limit is exceeded, listing the offenders.
"""
from __future__ import annotations

import argparse
import ast
import pathlib
import sys


def functions(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            a = node.args
            n_params = len(a.posonlyargs) + len(a.args) + len(a.kwonlyargs)
            if a.args and a.args[0].arg in ("self", "cls"):
                n_params -= 1
            yield node.name, node.lineno, node.end_lineno - node.lineno + 1, n_params


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("root", nargs="?", default="symrecon")
    p.add_argument("--max-module", type=int, default=450)
    p.add_argument("--max-function", type=int, default=100)
    p.add_argument("--max-params", type=int, default=12)
    args = p.parse_args()
    bad = []
    worst = {"module": (0, ""), "function": (0, ""), "params": (0, "")}
    for path in sorted(pathlib.Path(args.root).rglob("*.py")):
        text = path.read_text()
        n = len(text.splitlines())
        worst["module"] = max(worst["module"], (n, str(path)))
        if n > args.max_module:
            bad.append(f"{path}: {n} lines > {args.max_module}")
        for name, line, length, n_params in functions(ast.parse(text)):
            where = f"{path}:{line} {name}"
            worst["function"] = max(worst["function"], (length, where))
            worst["params"] = max(worst["params"], (n_params, where))
            if length > args.max_function:
                bad.append(f"{where}: {length} lines > {args.max_function}")
            if n_params > args.max_params:
                bad.append(f"{where}: {n_params} parameters > {args.max_params}")
    for key, (value, where) in worst.items():
        print(f"largest {key}: {value} ({where})")
    for line in bad:
        print("LIMIT:", line)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

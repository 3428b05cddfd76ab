#!/usr/bin/env bash
# Install everything the test suite needs on a fresh machine, then run it.
# Used by the README's test command and by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."

# A real LaTeX engine: the tests compile the derivations symrecon writes.
if ! command -v pdflatex >/dev/null 2>&1; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
        texlive-latex-base texlive-latex-recommended lmodern >/dev/null
fi

# torch 2.13.0 (CPU) is Keras's backend for the live-Keras tests; pinning it keeps
# pip from fetching a multi-GB CUDA build.
python3 -m pip install -q torch==2.13.0
# dask: dask, distributed, zarr, pyarrow (tests/test_dask*.py)
# cuda: numba-cuda and the CUDA toolkit wheels (no GPU needed): the GPU kernels run under numba's
# simulator and compile to PTX in tests/test_cuda.py
# milp: highspy, the warm-started LP backend of method="milp" (tests/test_milp_lp.py runs both backends)
python3 -m pip install -q -e ".[test,keras,cuda,dask,milp]"

# The editable install must be what `import symrecon` finds outside the checkout.  An
# older symrecon (before the per-user kernel cache) left numba's *.nbi/*.nbc files in
# site-packages/symrecon/__pycache__ when it was replaced; that folder then shadows this
# checkout as an empty namespace package.  Say so instead of failing obscurely later.
found=$(cd / && python3 -c "import os, symrecon; f = getattr(symrecon, '__file__', None); \
print(os.path.realpath(f) if f else 'an empty namespace package at ' + ', '.join(symrecon.__path__))")
expected=$(python3 -c "import os; print(os.path.realpath('symrecon/__init__.py'))")
if [ "$found" != "$expected" ]; then
    echo "tools/test.sh: 'import symrecon' outside the checkout finds $found, not $expected;" \
         "remove that leftover folder (an earlier install's numba cache) and run again" >&2
    exit 1
fi

export KERAS_BACKEND=torch
set +e
python3 -m pytest "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
    echo "pytest collected no tests: failing on purpose" >&2
    exit 1
fi
exit "$rc"

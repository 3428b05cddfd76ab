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
python3 -m pip install -q -e ".[test,keras]"

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

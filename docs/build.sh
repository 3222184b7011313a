#!/usr/bin/env bash
# Build the HTML documentation with warnings as errors.
#
#   bash docs/build.sh            # from anywhere; needs `pip install ".[docs]"`
#
# 1. Runs every ``>>>`` example in the hand-written pages as a doctest, so the
#    numbers the pages state are the current code's.
# 2. Runs Sphinx with -W, which also executes the example gallery
#    (examples/plot_*.py); an example that raises fails the build.
# The site ends up in docs/_build/html. PYTHON selects the interpreter;
# SOFTREG_DOCS_OFFLINE=1 skips the network and uses docs/_intersphinx/ only.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON="${PYTHON:-python}"
export MPLBACKEND=Agg

echo "== doctests of the documentation pages"
"$PYTHON" -m doctest -o NORMALIZE_WHITESPACE -o ELLIPSIS \
    docs/*.rst docs/user_guide/*.rst

# Start from scratch, as CI's fresh clone does: autodoc does not notice
# edited docstrings and sphinx-gallery skips unchanged example files, so a
# cached build could show outputs of older code.
rm -rf docs/_build docs/generated docs/auto_examples docs/sg_execution_times.rst

echo "== sphinx-build -W -b html docs docs/_build/html"
"$PYTHON" -m sphinx -W --keep-going -b html docs docs/_build/html "$@"

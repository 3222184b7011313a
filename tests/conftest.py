"""Test session setup.

* ``SCIPY_ARRAY_API=1``, as scikit-learn's own test suite sets it: scipy
  reads it once, when first imported, and scikit-learn refuses
  ``array_api_dispatch=True`` without it, which would skip the array-API
  checks of ``parametrize_with_checks`` and the device tests. pytest imports
  this file before it collects any test module, so nothing has imported
  scipy yet (asserted below, so that a plugin that does is noticed).
* Slow tests (marked ``slow``) run only with ``--run-slow``.
"""

import os
import sys

if "scipy" not in sys.modules:
    os.environ.setdefault("SCIPY_ARRAY_API", "1")
elif os.environ.get("SCIPY_ARRAY_API") != "1":  # pragma: no cover
    raise RuntimeError(
        "scipy was imported before tests/conftest.py could set SCIPY_ARRAY_API=1; "
        "run the tests with SCIPY_ARRAY_API=1 in the environment."
    )

import pytest


def pytest_addoption(parser):
    parser.addoption(
        "--run-slow",
        action="store_true",
        default=False,
        help="also run tests marked slow (minutes: e.g. saga on digits)",
    )


def pytest_collection_modifyitems(config, items):
    if config.getoption("--run-slow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --run-slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)

"""Shared test configuration.

Hypothesis policy (one policy, everywhere):

* ``ci`` (the default, and always when ``CI`` is set): derandomised, so every
  run of the suite — in CI, on a laptop, in a bisect — draws the same
  examples; 60 examples per property, no deadline (numba compiles on first
  use).  A failure is reproducible by rerunning the same command.
* ``dev`` (opt-in: ``HYPOTHESIS_PROFILE=dev``): randomised, 500 examples per
  property and Hypothesis's example database, for hunting new failures
  locally.  A counterexample found there is added to the test as an
  ``@example`` so that the ``ci`` profile keeps it.

``HYPOTHESIS_PROFILE`` is honoured outside CI only; with ``CI`` set the
profile is always ``ci``.  The profile in use is printed in pytest's header.

Live-Keras tests (``tests/test_keras_live.py``) skip where Keras is missing
only outside CI; with ``CI`` set a missing Keras is an error, so they cannot
vanish silently.
"""

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("ci", derandomize=True, deadline=None, max_examples=60, database=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", derandomize=False, deadline=None, max_examples=500,
                          suppress_health_check=[HealthCheck.too_slow])

PROFILE = "ci" if os.environ.get("CI") else os.environ.get("HYPOTHESIS_PROFILE", "ci")
settings.load_profile(PROFILE)

os.environ.setdefault("KERAS_BACKEND", "torch")


def pytest_report_header(config):
    return f"hypothesis profile: {PROFILE} (see tests/conftest.py)"


@pytest.fixture
def rng():
    return np.random.default_rng(12345)

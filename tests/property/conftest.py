"""The property suite's budget: fixed and reproducible in CI (well under a minute on a busy 2-core machine).

HYPOTHESIS_PROFILE=fuzz (random, no deadline) with LEARNBOT_FUZZ_SCALE=100 runs a long campaign by hand.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

_QUIET = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]
# derandomize: the same examples on every run, so a red CI run is red again on a laptop.
settings.register_profile("ci", deadline=None, derandomize=True, database=None, print_blob=True,
                          suppress_health_check=_QUIET)
settings.register_profile("fuzz", deadline=None, database=None, print_blob=True, suppress_health_check=_QUIET)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

"""Suite-wide settings: Hypothesis explores randomly on developer machines and replays a fixed set in CI."""

from __future__ import annotations

import os

from hypothesis import settings

# CI runs must be reproducible: a derandomized profile replays the same examples on every run, while local runs
# keep searching for new counterexamples (and store them in .hypothesis/ for replay).
settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    settings.load_profile("ci")

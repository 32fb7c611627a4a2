"""Suite-wide fixtures: no real sleeps anywhere, hypothesis profiles."""

from __future__ import annotations

import os
import time

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    derandomize=True,
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("nightly", max_examples=5000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(autouse=True)
def _no_real_sleep(monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> None:
    """Time is virtual in tests: a real sleep is a bug (socket tests opt out with a marker)."""
    if request.node.get_closest_marker("netns") or request.node.get_closest_marker("realtime"):
        return

    def forbidden(_seconds: float) -> None:
        raise AssertionError("time.sleep() called in a virtual-time test")

    monkeypatch.setattr(time, "sleep", forbidden)

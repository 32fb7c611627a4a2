"""The same station and chart on the monotonic clock, as in production."""

from __future__ import annotations

from pathlib import Path

import pytest

from evse.runtime.scenario import load_scenario, run_scenario

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.realtime
def test_short_session_runs_on_the_monotonic_clock(tmp_path: Path) -> None:
    f = tmp_path / "s.yaml"
    f.write_text(
        "scenario: rt\nduration_s: 1.0\nsteps:\n  - {at: 0.1, do: ev_plug}\n"
        "  - {at: 0.8, do: ev_ready}\n"
        "expect:\n  - {at: 0.3, state: plugged.B.B1}\n  - {at: 0.7, state: plugged.B.B2}\n"
        "  - {at: 0.95, state: plugged.C.C2.idle}\n"
    )
    result = run_scenario(load_scenario(f), realtime=True)
    assert result.ok, result.failures

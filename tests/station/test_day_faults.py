"""The short fault day (scenarios/day_faults.yaml): a car-side error, a lost V2G link and
each injected device fault (modules, over-current, over-temperature, PP, weld, meter),
each checked like every day session with its stop reason and when the connector is
Available again, and the ordinary session after each must be right."""

from __future__ import annotations

from pathlib import Path

import pytest

from evse.runtime.day import INJECTED, load_day, run_day

DAY = Path(__file__).resolve().parents[2] / "scenarios" / "day_faults.yaml"


@pytest.mark.parametrize("ocpp", ["1.6", "2.0.1"])
def test_after_a_car_error_or_a_lost_link_the_next_session_is_right(ocpp: str) -> None:
    day = load_day(DAY)
    assert {s.during for s in day.sessions} == {"ev_error", "v2g_lost", *INJECTED, None}
    lines: list[str] = []
    result = run_day(day, ocpp, echo=lines.append)
    failed = [line for line in lines if " FAIL" in line]
    assert not failed, "\n".join(lines)
    assert result.ok and result.violations == []
    # Each fault row is followed by a session that charged and ended OK.
    for fault, after in zip(result.outcomes[::2], result.outcomes[1::2], strict=True):
        assert fault.transactions == 1 and after.transactions == 1
        assert (after.ev_result or "").startswith("OK")

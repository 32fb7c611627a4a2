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


PHASES_DAY = Path(__file__).resolve().parents[2] / "scenarios" / "day_phases.yaml"


def test_faults_outside_charging_leave_the_station_right_for_the_next_car() -> None:
    """`at:` injects in the fault campaign's phases (cable check, authorization, precharge,
    ramp-down): the session's expectations hold (no transaction where no energy flowed,
    Faulted until repair/reset where the fault table says so) and the next car charges."""
    day = load_day(PHASES_DAY)
    assert {s.at.value for s in day.sessions if s.during} == {
        "cable_check", "authorization", "precharge", "ramp_down"}
    lines: list[str] = []
    result = run_day(day, "1.6", echo=lines.append)
    assert result.ok, "\n".join(lines)
    by_fault = {o.session.during: o for o in result.outcomes if o.session.during}
    assert by_fault["module_alarm"].transactions == 0
    assert by_fault["pp_lost"].ev_result is not None and "FAILED" in by_fault["pp_lost"].ev_result
    assert by_fault["over_temperature"].status_after == "Faulted"
    for o in result.outcomes:
        if o.session.during is None:
            assert o.transactions == 1 and (o.ev_result or "").startswith("OK")


@pytest.mark.parametrize(("old", "new", "message"), [
    ("at: cable_check,", "at: cabel_check,", "at must be one of"),
    ("at: cable_check,", "at: idle,", "at must be one of"),
    ("  - {car: {protocol: din, ev_profile: generic, charge_s: 4}}\n",
     "  - {car: {protocol: din, ev_profile: generic, charge_s: 4}, at: precharge}\n",
     "at needs a `during`"),
])
def test_a_bad_phase_names_file_and_line(tmp_path: Path, old: str, new: str,
                                         message: str) -> None:
    from evse.runtime.day import DayError

    text = PHASES_DAY.read_text()
    assert old in text
    path = tmp_path / "day.yaml"
    path.write_text(text.replace(old, new, 1))
    with pytest.raises(DayError) as err:
        load_day(path)
    assert message in str(err.value) and str(path) in str(err.value)

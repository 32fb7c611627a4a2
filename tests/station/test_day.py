"""A day of operation (scenarios/day_of_operation.yaml) on one station, for both OCPP
versions: at least 50 sessions in a row, every session checked (evse/runtime/day.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from evse.cli import main
from evse.runtime.day import DURING, INJECTED, DayError, load_day, run_day

ROOT = Path(__file__).resolve().parents[2]
DAY = ROOT / "scenarios" / "day_of_operation.yaml"
DATA = ROOT / "tests" / "data" / "day"


@pytest.mark.parametrize("ocpp", ["1.6", "2.0.1"])
def test_a_day_of_operation_passes_every_session_check(ocpp: str) -> None:
    day = load_day(DAY)
    assert len(day.sessions) >= 50
    # ev_error, v2g_lost and the injected device faults run in the short fault day
    # (tests/station/test_day_faults.py).
    assert {s.during for s in day.sessions} >= set(DURING) - {
        "soft_reset", "ev_error", "v2g_lost", *INJECTED} | {None}
    assert {s.auth for s in day.sessions} == {"after", "before", "remote", "rejected"}
    assert {s.car.protocol for s in day.sessions} == {"din", "iso2"}
    lines: list[str] = []
    result = run_day(day, ocpp, echo=lines.append)
    assert result.violations == []
    failed = [line for line in lines if " FAIL" in line]
    assert not failed, "\n".join(failed)
    assert result.ok and len(lines) == len(day.sessions)
    charged = [o for o in result.outcomes if o.transactions == 1]
    assert all(o.charged_wh > 0 for o in charged)
    assert len(charged) == sum(1 for s in day.sessions if s.expect.charged)


def test_the_day_checks_fail_when_the_station_does_not_do_what_is_expected() -> None:
    result = run_day(load_day(DATA / "wrong_expectation.yaml"), "1.6")
    first, second = result.outcomes
    assert any("stop reason 'Local', expected 'Remote'" in f for f in first.failures)
    assert any("0 transactions at the CSMS, expected 1" in f for f in second.failures)
    assert not result.ok


def test_evse_day_prints_one_line_per_session_and_fails_on_a_failed_check(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["day", str(DATA / "wrong_expectation.yaml"), "--ocpp", "1.6"]) == 1
    out = capsys.readouterr().out
    assert out.count("\n#0") == 2 and "0 passed, 2 failed" in out


@pytest.mark.parametrize(("text", "line", "message"), [
    ("day: d\nsessions:\n  - {car: {protocol: din}, colour: red}\n", 3, "unknown key 'colour'"),
    ("day: d\nsessions:\n  - {car: {protocol: can}}\n", 3, "car.protocol"),
    ("day: d\nsessions:\n  - {during: meteor}\n", 3, "during must be one of"),
    ("day: d\nsessions:\n  - {car: {charge_s: yes please}}\n", 3, "car.charge_s must be float"),
    ("day: d\nsessions:\n  - {after: [dance]}\n", 3, "unknown after 'dance'"),
    ("day: d\nsessions: []\n", 2, "non-empty"),
    ("day: d\nsessions:\n  - {car: {ev_profile: lada}}\n", 3, "unknown EV profile"),
    ("day: d\nconfig: 5\nsessions:\n  - {}\n", 2, "config must be a path"),
])
def test_a_bad_day_file_is_an_error_with_its_line(tmp_path: Path, text: str, line: int,
                                                  message: str) -> None:
    path = tmp_path / "day.yaml"
    path.write_text(text)
    with pytest.raises(DayError) as err:
        load_day(path)
    assert err.value.line == line and message in err.value.message
    assert main(["day", str(path)]) == 2

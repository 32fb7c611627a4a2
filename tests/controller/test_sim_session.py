"""The controller core through a scripted DC session against the CSMS simulator (virtual
time). The real-clock websocket path is tests/station/test_external_csms.py."""

from __future__ import annotations

import pytest

from tests.controller.scripted_session import CHARGE_CURRENT_A, PACK_VOLTAGE_V, run_virtual


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_scripted_session_runs_against_the_simulator(version: str) -> None:
    report = run_virtual(version, charge_seconds=180)
    assert report.violations == []
    assert report.final_state == "available"
    assert report.energy_wh == pytest.approx(PACK_VOLTAGE_V * CHARGE_CURRENT_A * 180 / 3600,
                                             abs=1.0)
    assert report.stop_reason == ("Local" if version == "1.6" else "StoppedByEV")
    assert report.actions[0] == "BootNotification"

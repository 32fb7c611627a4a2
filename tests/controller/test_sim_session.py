"""`evse sim` material: the scripted DC session, virtual and against a CSMS on a socket."""

from __future__ import annotations

import asyncio
import json

import pytest

from evse.csms_sim.core import CsmsSim
from evse.csms_sim.session import CHARGE_CURRENT_A, PACK_VOLTAGE_V, run_virtual
from evse.io.ocpp_ws import CsmsServer, ServerSecurity, WsSecurity, run_external
from evse.runtime.clock import MonotonicClock


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_scripted_session_runs_against_the_simulator(version: str) -> None:
    report = run_virtual(version, charge_seconds=180)
    assert report.violations == []
    assert report.final_state == "available"
    assert report.energy_wh == pytest.approx(PACK_VOLTAGE_V * CHARGE_CURRENT_A * 180 / 3600,
                                             abs=1.0)
    assert report.stop_reason == ("Local" if version == "1.6" else "StoppedByEV")
    assert report.actions[0] == "BootNotification"


@pytest.mark.realtime
def test_external_csms_mode_over_a_websocket() -> None:
    async def main() -> tuple[list[str], CsmsSim]:
        sim = CsmsSim("1.6")
        sim.tokens["SIM-TOKEN"] = "Accepted"
        clock = MonotonicClock()
        sec = ServerSecurity(1, "CP1", "password-16-chars")
        async with CsmsServer(sim, clock.now_ns, security=sec) as srv:
            sent = await run_external(f"ws://127.0.0.1:{srv.port}/ocpp/CP1", "1.6", 1,
                                      WsSecurity(1, "CP1", "password-16-chars"))
        return sent, sim

    sent, sim = asyncio.run(main())
    actions = [json.loads(t)[2] for t in sent if json.loads(t)[0] == 2]
    assert "StartTransaction" in actions and "StopTransaction" in actions
    assert sim.violations == []
    (tx,) = sim.transactions.values()
    assert tx.stop_reason == "Local"

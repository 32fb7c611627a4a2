"""`evse sim --csms URL`: the whole simulated station on the real clock, over a real
websocket, against a CSMS that validates every message (our simulator's server)."""

from __future__ import annotations

import asyncio
import json

import pytest

from evse.csms_sim.core import CsmsSim
from evse.io.ocpp_ws import CsmsServer, ServerSecurity, WsSecurity
from evse.runtime.clock import MonotonicClock
from evse.runtime.external_csms import ExternalRunResult, run_with_external_csms
from evse.runtime.ocpp_side import SIM_TOKEN

#: The card `evse sim --csms URL --id-token` makes the simulated driver present.
CARD = "CARD-4711"


@pytest.mark.realtime
def test_simulated_station_charges_against_an_external_csms_over_websocket() -> None:
    async def main() -> tuple[ExternalRunResult, CsmsSim]:
        sim = CsmsSim("1.6")
        sim.tokens[CARD] = "Accepted"  # the simulator's own card (SIM_TOKEN) is not known
        clock = MonotonicClock()
        sec = ServerSecurity(1, "CP1", "password-16-chars")
        async with CsmsServer(sim, clock.now_ns, security=sec) as srv:
            result = await run_with_external_csms(
                f"ws://127.0.0.1:{srv.port}/ocpp/CP1", "1.6", 3.0,
                security=WsSecurity(1, "CP1", "password-16-chars"), id_token=CARD, limit_s=90,
            )
        return result, sim

    result, sim = asyncio.run(main())
    assert result.ev_result == "OK: charge time over"
    sent = [json.loads(t) for t in result.frames_sent]
    actions = [f[2] for f in sent if f[0] == 2]
    assert actions[0] == "BootNotification"
    assert actions.index("Authorize") < actions.index("StartTransaction")
    (authorize,) = [f[3] for f in sent if f[0] == 2 and f[2] == "Authorize"]
    assert authorize["idTag"] == CARD  # `evse sim --id-token`: the driver's card
    assert actions.index("StartTransaction") < actions.index("StopTransaction")
    assert sim.violations == []
    (tx,) = sim.transactions.values()
    assert tx.meter_stop_wh is not None and tx.meter_stop_wh > 10.0


@pytest.mark.realtime
def test_E01_E06_ev_connected_points_through_the_whole_station_over_websocket() -> None:
    """`evse sim --csms URL --ocpp 2.0.1 --tx-start-point EVConnected --tx-stop-point
    EVConnected`: the whole simulated station (PLC, power path, car) on the real clock;
    the transaction opens at the plug-in without a token, takes the token when the driver
    taps, and closes only when the car leaves, after the energy transfer. Every frame is
    schema-checked by the CSMS simulator."""
    async def main() -> tuple[ExternalRunResult, CsmsSim]:
        sim = CsmsSim("2.0.1")
        sim.tokens[SIM_TOKEN] = "Accepted"
        clock = MonotonicClock()
        sec = ServerSecurity(1, "CP1", "password-16-chars")
        async with CsmsServer(sim, clock.now_ns, security=sec) as srv:
            result = await run_with_external_csms(
                f"ws://127.0.0.1:{srv.port}/ocpp/CP1", "2.0.1", 3.0,
                security=WsSecurity(1, "CP1", "password-16-chars"), limit_s=90,
                tx_start_points="EVConnected", tx_stop_points="EVConnected",
            )
        return result, sim

    result, sim = asyncio.run(main())
    assert result.ev_result == "OK: charge time over"
    tx_events = [(p["eventType"], p["triggerReason"]) for p in sim.of("TransactionEvent")
                 if p["triggerReason"] != "MeterValuePeriodic"]
    assert tx_events == [("Started", "CablePluggedIn"), ("Updated", "Authorized"),
                         ("Updated", "ChargingStateChanged"), ("Ended", "EVDeparted")]
    started = sim.of("TransactionEvent")[0]
    assert "idToken" not in started
    assert sim.violations == []
    (tx,) = sim.transactions.values()
    assert tx.meter_stop_wh is not None and tx.meter_stop_wh > 10.0

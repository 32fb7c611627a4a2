"""The 2.0.1 use cases added for issue 15 over a real websocket on 127.0.0.1: the
controller's websocket client against the CSMS simulator's server (every frame validated),
GetReport (B08) paged NotifyReport, GetTransactionStatus (E14), DataTransfer (P01) and an
external limit through the client's `ems_command` (K12: the `evse run` path)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from evse.controller.config import ControllerConfig
from evse.controller.core import Controller
from evse.controller.external_limits import EmsCommand
from evse.controller.store import Store
from evse.csms_sim.core import CsmsSim, Expect
from evse.io.ocpp_ws import (
    CsmsServer,
    OcppWsClient,
    ServerSecurity,
    WsSecurity,
    realtime_epoch_unix_s,
)
from evse.runtime.clock import MonotonicClock
from tests.controller.ws_wait import PASSWORD, until

pytestmark = pytest.mark.realtime


async def _session() -> tuple[CsmsSim, dict[str, Any]]:
    sim = CsmsSim("2.0.1")
    clock = MonotonicClock()
    got: dict[str, Any] = {}
    async with CsmsServer(sim, clock.now_ns, security=ServerSecurity(1, "CP1", PASSWORD)
                          ) as srv:
        ctrl = Controller(ControllerConfig(ocpp_version="2.0.1",
                                           epoch_unix_s=realtime_epoch_unix_s(clock)),
                          Store(":memory:"))
        ctrl.data_transfer_handlers["EVSE-Ref"] = {"Ping": lambda d: ("Accepted", "pong")}
        ctrl.start(clock.now_ns())
        client = OcppWsClient(ctrl, f"ws://127.0.0.1:{srv.port}/ocpp/CP1",
                              WsSecurity(1, "CP1", PASSWORD), clock)
        task = asyncio.create_task(client.run())

        async def call(action: str, payload: dict[str, Any]) -> dict[str, Any]:
            uid = await srv.call("CP1", action, payload)
            await until(lambda: sim.answers[uid].payload is not None
                        or sim.answers[uid].error is not None)
            assert sim.answers[uid].error is None
            answer = sim.answers[uid].payload
            assert answer is not None
            return answer

        try:
            await until(lambda: "StatusNotification" in sim.actions())
            sim.expect(Expect("NotifyReport", {"requestId": 5, "seqNo": 0, "tbc": True}),
                       Expect("NotifyReport", {"requestId": 5, "seqNo": 1}),
                       ignore=("Heartbeat", "StatusNotification"))
            got["B08"] = await call("GetReport", {"requestId": 5})
            await until(lambda: not sim.script)
            sim.assert_script_done()
            got["B08-empty"] = await call("GetReport", {"requestId": 6, "componentVariable": [
                {"component": {"name": "NoSuchCtrlr"}}]})
            got["E14"] = await call("GetTransactionStatus", {})
            got["P01"] = await call("DataTransfer", {"vendorId": "EVSE-Ref",
                                                     "messageId": "Ping"})
            got["P01-unknown"] = await call("DataTransfer", {"vendorId": "com.other"})
            client.ems_command(EmsCommand(11_000.0))
            await until(lambda: bool(sim.of("NotifyChargingLimit")))
            client.ems_command(EmsCommand(None))
            await until(lambda: bool(sim.of("ClearedChargingLimit")))
        finally:
            client.stop()
            await task
    return sim, got


def test_b08_e14_p01_k12_over_a_real_websocket() -> None:
    sim, got = asyncio.run(_session())
    assert got["B08"] == {"status": "Accepted"}
    assert got["B08-empty"] == {"status": "EmptyResultSet"}
    assert got["E14"] == {"messagesInQueue": False}
    assert got["P01"] == {"status": "Accepted", "data": "pong"}
    assert got["P01-unknown"] == {"status": "UnknownVendorId"}
    (notify,) = sim.of("NotifyChargingLimit")
    assert notify["chargingLimit"]["chargingLimitSource"] == "EMS"
    assert sim.violations == [] and sim.duplicates == []

"""Management use cases over a real websocket on 127.0.0.1: the controller's websocket
client (with its host services in worker threads) against the CSMS simulator's server,
which scripts the use case's message order and validates every frame."""

from __future__ import annotations

import asyncio
import datetime
from pathlib import Path
from typing import Any

import pytest

from evse.controller.config import ControllerConfig
from evse.controller.core import Controller
from evse.controller.store import Store
from evse.csms_sim.core import CsmsSim, Expect
from evse.io.host_services import HostServices
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


def _status(version: str, value: str) -> Expect:
    key = "status" if version == "1.6" else "connectorStatus"
    return Expect("StatusNotification", {key: value})


async def _session(version: str, tmp_path: Path, restarts: list[str]) -> CsmsSim:
    sim = CsmsSim(version)
    clock = MonotonicClock()
    host = HostServices(tmp_path / "staging", tmp_path / "fw", restart=restarts.append)
    async with CsmsServer(sim, clock.now_ns, security=ServerSecurity(1, "CP1", PASSWORD)
                          ) as srv:
        ctrl = Controller(ControllerConfig(ocpp_version=version,
                                           epoch_unix_s=realtime_epoch_unix_s(clock)),
                          Store(":memory:"))
        ctrl.start(clock.now_ns())
        client = OcppWsClient(ctrl, f"ws://127.0.0.1:{srv.port}/ocpp/CP1",
                              WsSecurity(1, "CP1", PASSWORD), clock, host=host)
        task = asyncio.create_task(client.run())
        try:
            await until(lambda: "StatusNotification" in sim.actions())
            sim.expect(_status(version, "Reserved"), _status(version, "Available"))
            expiry = (datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=1)
                      ).strftime("%Y-%m-%dT%H:%M:%SZ")
            reserve: dict[str, Any] = (
                {"connectorId": 1, "expiryDate": expiry, "idTag": "RESERVED-0001",
                 "reservationId": 7} if version == "1.6" else
                {"id": 7, "expiryDateTime": expiry, "evseId": 1,
                 "idToken": {"idToken": "RESERVED-0001", "type": "ISO14443"}})
            uid = await srv.call("CP1", "ReserveNow", reserve)
            await until(lambda: sim.answers[uid].payload is not None)
            assert sim.answers[uid].payload == {"status": "Accepted"}
            await until(lambda: ctrl.state.startswith("reserved"))
            uid = await srv.call("CP1", "CancelReservation", {"reservationId": 7})
            await until(lambda: ctrl.state == "available" and len(sim.of(
                "StatusNotification")) >= 3)
            assert sim.answers[uid].payload == {"status": "Accepted"}
            sim.assert_script_done()
            uid = await srv.call("CP1", "Reset", {"type": "Soft" if version == "1.6"
                                                  else "Immediate"})
            await until(lambda: bool(restarts))
            assert sim.answers[uid].payload == {"status": "Accepted"}
        finally:
            client.stop()
            await task
    return sim


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_h01_h02_reserve_and_cancel_over_a_real_websocket(version: str,
                                                          tmp_path: Path) -> None:
    restarts: list[str] = []
    sim = asyncio.run(_session(version, tmp_path, restarts))
    assert restarts == ["Soft" if version == "1.6" else "Immediate"]
    assert sim.violations == [] and sim.duplicates == []

"""The 2.0.1 use cases added for issue 15 over a real websocket on 127.0.0.1: the
controller's websocket client against the CSMS simulator's server (every frame validated),
GetReport (B08) paged NotifyReport, GetTransactionStatus (E14), DataTransfer (P01), an
external limit through the client's `ems_command` (K12: the `evse run` path), TriggerMessage
StatusNotification without an evse (F06) and a reservation used under TxStartPoint
EVConnected (H01)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from evse.controller.config import ControllerConfig
from evse.controller.core import Controller
from evse.controller.external_limits import EmsCommand
from evse.controller.plc_port import AuthRequested, EvPresent, PaymentOption
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


async def _station(sim: CsmsSim, clock: MonotonicClock, srv: CsmsServer,
                   **cfg: Any) -> tuple[Controller, OcppWsClient, asyncio.Task[None]]:
    """A 2.0.1 controller on the real clock, connected to `srv`, booted."""
    ctrl = Controller(ControllerConfig(ocpp_version="2.0.1",
                                       epoch_unix_s=realtime_epoch_unix_s(clock), **cfg),
                      Store(":memory:"))
    ctrl.start(clock.now_ns())
    client = OcppWsClient(ctrl, f"ws://127.0.0.1:{srv.port}/ocpp/CP1",
                          WsSecurity(1, "CP1", PASSWORD), clock)
    task = asyncio.create_task(client.run())
    await until(lambda: "StatusNotification" in sim.actions())
    return ctrl, client, task


async def _answer(srv: CsmsServer, action: str, payload: dict[str, Any]) -> dict[str, Any]:
    uid = await srv.call("CP1", action, payload)
    await until(lambda: srv.sim.answers[uid].payload is not None
                or srv.sim.answers[uid].error is not None)
    answer = srv.sim.answers[uid].payload
    assert answer is not None, srv.sim.answers[uid].error
    return answer


async def _trigger_status_without_evse() -> tuple[CsmsSim, list[dict[str, Any]]]:
    clock = MonotonicClock()
    sim = CsmsSim("2.0.1", epoch_unix_s=realtime_epoch_unix_s(clock))
    answers: list[dict[str, Any]] = []
    async with CsmsServer(sim, clock.now_ns, security=ServerSecurity(1, "CP1", PASSWORD)
                          ) as srv:
        ctrl, client, task = await _station(sim, clock, srv)
        try:
            client.plc_event(EvPresent(True))  # Occupied: not the boot's Available again
            await until(lambda: sim.of("StatusNotification")[-1]["connectorStatus"]
                        == "Occupied")
            before = len(sim.of("StatusNotification"))
            answers.append(await _answer(srv, "TriggerMessage",
                                         {"requestedMessage": "StatusNotification"}))
            await until(lambda: len(sim.of("StatusNotification")) > before)
            await asyncio.sleep(0.3)  # a second connector's status would come by now
            answers.append(await _answer(srv, "TriggerMessage", {
                "requestedMessage": "StatusNotification", "evse": {"id": 1}}))
            await until(lambda: len(sim.of("StatusNotification")) > before + 1)
        finally:
            client.stop()
            await task
    return sim, answers


def test_f06_trigger_status_notification_without_evse_reports_every_connector() -> None:
    """F06 TriggerMessage(StatusNotification) with no evse: the status of every connector
    of the station (one EVSE, one connector here: exactly one StatusNotification, its
    current status), the same message as with that evse named."""
    sim, answers = asyncio.run(_trigger_status_without_evse())
    assert answers == [{"status": "Accepted"}, {"status": "Accepted"}]
    *_, plugged, triggered, named = sim.of("StatusNotification")
    for status in (plugged, triggered, named):
        assert (status["evseId"], status["connectorId"], status["connectorStatus"]) == (
            1, 1, "Occupied")
    assert sim.violations == [] and sim.duplicates == []


async def _reserved_ev_connected() -> tuple[CsmsSim, list[str]]:
    clock = MonotonicClock()
    sim = CsmsSim("2.0.1", epoch_unix_s=realtime_epoch_unix_s(clock))
    sim.tokens.update({"RESERVED-0001": "Accepted", "OTHER-0002": "Accepted"})
    states: list[str] = []
    async with CsmsServer(sim, clock.now_ns, security=ServerSecurity(1, "CP1", PASSWORD)
                          ) as srv:
        ctrl, client, task = await _station(sim, clock, srv, tx_start_points="EVConnected",
                                            tx_stop_points="EVConnected")
        try:
            sim.expect(Expect("TransactionEvent", {"eventType": "Started",
                                                   "triggerReason": "CablePluggedIn"}),
                       Expect("Authorize", {"idToken": {"idToken": "RESERVED-0001"}}),
                       Expect("TransactionEvent", {
                           "eventType": "Updated", "triggerReason": "Authorized",
                           "reservationId": 7, "idToken": {"idToken": "RESERVED-0001"}}),
                       ignore=("Heartbeat", "StatusNotification"))
            expiry = sim.timestamp(clock.now_ns() + 3600 * 1_000_000_000)
            assert await _answer(srv, "ReserveNow", {
                "id": 7, "expiryDateTime": expiry, "evseId": 1,
                "idToken": {"idToken": "RESERVED-0001", "type": "ISO14443"}}) == {
                "status": "Accepted"}
            await until(lambda: ctrl.state == "reserved.idle")
            client.plc_event(EvPresent(True))
            client.plc_event(AuthRequested(PaymentOption.EIM))
            await until(lambda: bool(sim.of("TransactionEvent")))
            states.append(ctrl.state)
            client.present_token("OTHER-0002")  # refused locally: the CSMS is not asked
            await asyncio.sleep(0.3)
            states.append(ctrl.state)
            client.present_token("RESERVED-0001")
            await until(lambda: not sim.script)
            await until(lambda: ctrl.state.startswith("authorized"))
            states.append(ctrl.state)
        finally:
            client.stop()
            await task
    sim.assert_script_done()
    return sim, states


def test_h01_reserved_evse_with_tx_start_point_ev_connected() -> None:
    """H01 (with H03's use) under TxStartPoint EVConnected: the reserved driver's car plugs
    in, the transaction starts at the plug-in (no token yet); another token is refused
    without an Authorize; the reserved token authorizes the transaction, whose Updated
    Authorized event carries the idToken and the reservationId. The reservation is used
    up: no ReservationStatusUpdate."""
    sim, states = asyncio.run(_reserved_ev_connected())
    assert states == ["reserved.ev_connected", "reserved.ev_connected",
                      "authorized.ev_connected"]
    assert [p["idToken"]["idToken"] for p in sim.of("Authorize")] == ["RESERVED-0001"]
    started, authorized = sim.of("TransactionEvent")[:2]
    assert "reservationId" not in started and "idToken" not in started
    assert started["transactionInfo"]["transactionId"] == \
        authorized["transactionInfo"]["transactionId"]
    assert [p["connectorStatus"] for p in sim.of("StatusNotification")] == [
        "Available", "Reserved", "Occupied"]
    assert sim.of("ReservationStatusUpdate") == []
    assert sim.violations == [] and sim.duplicates == []

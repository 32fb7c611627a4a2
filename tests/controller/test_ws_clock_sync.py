"""Clock synchronisation over a real websocket on 127.0.0.1 (2.0.1 per B01/G02, 1.6 §4.2
BootNotification.conf / §4.6 Heartbeat.conf currentTime): the CSMS simulator's clock is
years away from the station's, and every timestamp the station sends after the answer is
the CSMS's time plus the elapsed time; a malformed currentTime leaves the clock alone with
a logged warning."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from evse.controller.config import ControllerConfig
from evse.controller.core import Controller
from evse.controller.plc_port import (
    AuthRequested,
    EvPresent,
    Measurement,
    PaymentOption,
    PowerDeliveryStarted,
)
from evse.controller.store import Store
from evse.controller.wall_clock import parse_current_time
from evse.csms_sim.core import CsmsSim, Seen
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

NS = 1_000_000_000
#: The CSMS's clock at the start of the test: 2031-02-28T...Z, years from the host's.
FAR_UNIX_S = 1_930_000_000
#: How far the CSMS moves its own clock before the Heartbeat (G02): three days.
HEARTBEAT_STEP_S = 3 * 86_400
#: A timestamp follows the CSMS when it is within this of the CSMS's time at receipt:
#: whole-second currentTime, the station's 2 s tolerance, the loopback delay.
FOLLOWS_S = 3.5


def _ts_s(text: str) -> float:
    unix_ns = parse_current_time(text)
    assert unix_ns is not None, text
    return unix_ns / NS


def _follows(seen: Seen, ts: str, csms_epoch_unix_s: int) -> bool:
    """`ts` (sent by the station) is the CSMS's clock (`csms_epoch_unix_s` + its time)
    at the moment the CSMS received it."""
    return abs(_ts_s(ts) - (csms_epoch_unix_s + seen.at_ns / NS)) < FOLLOWS_S


def _tx_started(sim: CsmsSim, version: str) -> Seen | None:
    for s in sim.seen:
        if s.action == "StartTransaction" or (
                s.action == "TransactionEvent" and s.payload["eventType"] == "Started"):
            return s
    return None


async def _synced_session(version: str) -> tuple[CsmsSim, list[int], Controller]:
    """Boot against a CSMS at FAR_UNIX_S (B01), then the CSMS moves its clock by three
    days and a Heartbeat (G02) brings that too; then a charging session whose
    transaction start and MeterValues must carry the CSMS's time."""
    clock = MonotonicClock()
    sim = CsmsSim(version, epoch_unix_s=FAR_UNIX_S - clock.now_ns() // NS)
    sim.tokens["TAG-OK"] = "Accepted"
    epochs = [sim.epoch_unix_s]
    async with CsmsServer(sim, clock.now_ns, security=ServerSecurity(1, "CP1", PASSWORD)
                          ) as srv:
        ctrl = Controller(ControllerConfig(ocpp_version=version,
                                           epoch_unix_s=realtime_epoch_unix_s(clock)),
                          Store(":memory:"))
        ctrl.start(clock.now_ns())
        client = OcppWsClient(ctrl, f"ws://127.0.0.1:{srv.port}/ocpp/CP1",
                              WsSecurity(1, "CP1", PASSWORD), clock)
        task = asyncio.create_task(client.run())

        async def call(action: str, payload: dict[str, Any]) -> dict[str, Any]:
            uid = await srv.call("CP1", action, payload)
            await until(lambda: sim.answers[uid].payload is not None
                        or sim.answers[uid].error is not None)
            answer = sim.answers[uid].payload
            assert answer is not None, sim.answers[uid].error
            return answer

        try:
            await until(lambda: "StatusNotification" in sim.actions())
            # G02: the CSMS corrects its own clock; the next HeartbeatResponse carries it
            sim.epoch_unix_s += HEARTBEAT_STEP_S
            epochs.append(sim.epoch_unix_s)
            assert await call("TriggerMessage", {"requestedMessage": "Heartbeat"}) == {
                "status": "Accepted"}
            await until(lambda: abs(ctrl.unix_s() - (sim.epoch_unix_s + clock.now_ns() / NS))
                        < FOLLOWS_S)
            client.plc_event(EvPresent(True))
            client.plc_event(AuthRequested(PaymentOption.EIM))
            client.present_token("TAG-OK")
            await until(lambda: ctrl.state.startswith("authorized"))
            client.plc_event(Measurement(400.0, 0.0, 10_000.0))
            client.plc_event(PowerDeliveryStarted())
            await until(lambda: _tx_started(sim, version) is not None)
            client.plc_event(Measurement(400.0, 100.0, 10_010.0))
            assert await call("TriggerMessage", {"requestedMessage": "MeterValues"}) == {
                "status": "Accepted"}
            await until(lambda: bool(sim.of("MeterValues")))
        finally:
            client.stop()
            await task
    return sim, epochs, ctrl


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_b01_g02_csms_current_time_becomes_the_timestamps_of_the_next_messages(
        version: str) -> None:
    sim, (boot_epoch, heartbeat_epoch), ctrl = asyncio.run(_synced_session(version))
    first_status = next(s for s in sim.seen if s.action == "StatusNotification")
    assert _follows(first_status, first_status.payload["timestamp"], boot_epoch)
    started = _tx_started(sim, version)
    assert started is not None
    assert _follows(started, started.payload["timestamp"], heartbeat_epoch)
    meter = next(s for s in sim.seen if s.action == "MeterValues")
    assert _follows(meter, meter.payload["meterValue"][0]["timestamp"], heartbeat_epoch)
    # each step is a SettingSystemTime security event (A04), sent with the CSMS's time
    stepped = [s for s in sim.seen if s.action == "SecurityEventNotification"
               and s.payload["type"] == "SettingSystemTime"]
    assert len(stepped) == 2
    assert sim.violations == [] and sim.duplicates == []


async def _malformed_boot(version: str, current_time: str) -> tuple[CsmsSim, int, Controller]:
    clock = MonotonicClock()
    sim = CsmsSim(version, epoch_unix_s=FAR_UNIX_S - clock.now_ns() // NS)
    sim.current_time_text = current_time
    host_epoch = realtime_epoch_unix_s(clock)
    async with CsmsServer(sim, clock.now_ns, security=ServerSecurity(1, "CP1", PASSWORD)
                          ) as srv:
        ctrl = Controller(ControllerConfig(ocpp_version=version, epoch_unix_s=host_epoch),
                          Store(":memory:"))
        ctrl.start(clock.now_ns())
        client = OcppWsClient(ctrl, f"ws://127.0.0.1:{srv.port}/ocpp/CP1",
                              WsSecurity(1, "CP1", PASSWORD), clock)
        task = asyncio.create_task(client.run())
        try:
            await until(lambda: "StatusNotification" in sim.actions())
            uid = await srv.call("CP1", "TriggerMessage", {"requestedMessage": "Heartbeat"})
            await until(lambda: sim.answers[uid].payload is not None
                        and len(sim.of("Heartbeat")) >= 1)
            await asyncio.sleep(0.2)  # the Heartbeat's answer reaches the station
        finally:
            client.stop()
            await task
    return sim, host_epoch, ctrl


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
@pytest.mark.parametrize("current_time", ["not-a-time", "2031-02-28T10:00:00",
                                          "2031-02-30T10:00:00Z"])
def test_b01_g02_malformed_current_time_is_ignored_with_a_warning(
        version: str, current_time: str, caplog: pytest.LogCaptureFixture) -> None:
    """Not a date-time, no offset (its zone unknown), no such day: the station keeps its
    clock, registers as usual and says why in the log; nothing raises."""
    with caplog.at_level(logging.WARNING, logger="evse.controller.wall_clock"):
        sim, host_epoch, ctrl = asyncio.run(_malformed_boot(version, current_time))
    assert ctrl.booted and ctrl.wall_clock.offset_ns == 0
    status = next(s for s in sim.seen if s.action == "StatusNotification")
    assert _follows(status, status.payload["timestamp"], host_epoch)
    warnings = [r for r in caplog.records if r.name == "evse.controller.wall_clock"]
    # one for the BootNotificationResponse, one for the HeartbeatResponse
    assert [r.levelno for r in warnings] == [logging.WARNING] * 2
    assert all(repr(current_time) in r.getMessage() for r in warnings)
    assert not any(s.action == "SecurityEventNotification"
                   and s.payload["type"] == "SettingSystemTime" for s in sim.seen)
    assert sim.violations == []


@pytest.mark.parametrize(("text", "unix_ns"), [
    ("2026-01-01T00:00:00Z", 1_767_225_600 * NS),
    ("2026-01-01T00:00:00.250Z", 1_767_225_600 * NS + 250_000_000),
    ("2026-01-01T01:00:00+01:00", 1_767_225_600 * NS),
    ("2026-01-01T00:00:00", None), ("2026-01-01", None), ("", None), ("yesterday", None),
])
def test_current_time_parsing_takes_rfc3339_with_an_offset_only(text: str,
                                                                unix_ns: int | None) -> None:
    """RFC 3339 with an offset (OCPP dateTime) as Unix nanoseconds, anything else None."""
    assert parse_current_time(text) == unix_ns

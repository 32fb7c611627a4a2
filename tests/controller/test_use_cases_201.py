"""OCPP 2.0.1 use cases named by their ID (evse/controller/use_cases.py lists them), through
the real controller core and the CSMS simulator, which scripts the use case's message order
(`expect`) and validates every frame against the schemas. Virtual time."""

from __future__ import annotations

from typing import Any

import pytest

from evse.contract import values as cv
from evse.controller.contract_binding import ContractBinding
from evse.csms_sim.core import Expect
from tests.controller.harness import Rig, S, ask


def charging(rig: Rig) -> None:
    rig.plug()
    rig.ev_waits_for_auth()
    rig.token("TAG-OK")
    rig.power_on()
    rig.charge(2)


def seen_index(rig: Rig, action: str, **fields: Any) -> int:
    for i, s in enumerate(rig.csms.seen):
        if s.action == action and all(s.payload.get(k) == v for k, v in fields.items()):
            return i
    raise AssertionError(f"{action} {fields} not seen")


# ---------------------------------------------------------------- B Provisioning
def test_b01_cold_boot_accepted_then_status_and_heartbeat() -> None:
    rig = Rig("2.0.1", online=False)
    rig.csms.heartbeat_interval_s = 30
    rig.csms.expect(Expect("BootNotification", {"reason": "PowerUp"}),
                    Expect("StatusNotification", {"connectorStatus": "Available",
                                                  "evseId": 1, "connectorId": 1}),
                    Expect("Heartbeat"), Expect("Heartbeat"), ignore=())
    rig.link.set_online(True)
    rig.run(61)
    rig.csms.assert_script_done()
    beats = [s.at_ns // S for s in rig.csms.seen if s.action == "Heartbeat"]
    assert beats == [30, 60] and rig.csms.violations == []


@pytest.mark.parametrize("verdict", ["Pending", "Rejected"])
def test_b02_b03_boot_pending_or_rejected_is_retried_and_nothing_else_sent(
        verdict: str) -> None:
    rig = Rig("2.0.1", online=False)
    rig.csms.boot_status = verdict
    rig.csms.heartbeat_interval_s = 20
    rig.link.set_online(True)
    rig.plug()
    rig.run(19)
    assert rig.csms.actions() == ["BootNotification"]  # B02.FR / B03.FR: nothing else
    rig.csms.boot_status = "Accepted"
    rig.run(2)
    assert rig.csms.actions() == ["BootNotification", "BootNotification",
                                  "StatusNotification"]


def test_b11_reset_idle_requests_a_restart_from_the_service_manager() -> None:
    rig = Rig("2.0.1")
    uid = rig.csms.call("Reset", {"type": "Immediate"}, rig.link.now_ns)
    assert rig.restarts == []
    rig.link.pump()
    rig.collect()
    assert rig.csms.answers[uid].payload == {"status": "Accepted"}
    assert [k for _, _, k in rig.restarts] == ["Immediate"]
    rig.run(10)
    assert len(rig.restarts) == 1  # asked once
    assert ask(rig, "Reset", {"type": "OnIdle"}) == {"status": "Accepted"}
    assert [k for _, _, k in rig.restarts] == ["Immediate", "OnIdle"]


def test_b12_reset_on_idle_restarts_after_the_transaction_ended() -> None:
    rig = Rig("2.0.1")
    charging(rig)
    assert ask(rig, "Reset", {"type": "OnIdle"}) == {"status": "Scheduled"}
    rig.charge(30)
    assert rig.restarts == [] and rig.state == "charging"
    assert "STOP_GRACEFUL" not in rig.session_commands()  # not interrupted
    rig.power_off()
    (_, frames, kind) = rig.restarts[0]
    assert kind == "OnIdle"
    # after the CSMS had the transaction's Ended event
    assert frames > seen_index(rig, "TransactionEvent", eventType="Ended")


def test_b12_reset_immediate_stops_the_transaction_then_restarts() -> None:
    rig = Rig("2.0.1")
    charging(rig)
    assert ask(rig, "Reset", {"type": "Immediate"}) == {"status": "Accepted"}
    assert rig.session_commands()[-1] == "STOP_GRACEFUL" and rig.restarts == []
    rig.power_off()
    (tx,) = rig.csms.transactions.values()
    assert tx.stop_reason == "ImmediateReset"
    (_, frames, kind) = rig.restarts[0]
    assert kind == "Immediate"
    assert frames > seen_index(rig, "TransactionEvent", eventType="Ended")


def test_b12_reset_immediate_offline_restarts_without_waiting_for_the_csms() -> None:
    rig = Rig("2.0.1")
    charging(rig)
    ask(rig, "Reset", {"type": "Immediate"})
    rig.link.set_online(False)
    rig.power_off()
    assert [k for _, _, k in rig.restarts] == ["Immediate"]
    assert len(rig.store) == 1  # the Ended event waits in the store for after the restart


def test_16_reset_soft_restarts_after_stop_transaction() -> None:
    rig = Rig("1.6")
    charging(rig)
    assert ask(rig, "Reset", {"type": "Soft"}) == {"status": "Accepted"}
    assert rig.restarts == []
    rig.power_off()
    (_, frames, kind) = rig.restarts[0]
    assert kind == "Soft" and frames > seen_index(rig, "StopTransaction")


# ---------------------------------------------------------------- D LocalAuthList
def test_d01_d02_send_local_list_full_and_differential_and_version() -> None:
    rig = Rig("2.0.1")
    assert ask(rig, "GetLocalListVersion", {}) == {"versionNumber": 0}
    tok = {"idToken": "LL-A", "type": "ISO14443"}
    assert ask(rig, "SendLocalList", {"versionNumber": 3, "updateType": "Full",
                                      "localAuthorizationList": [
                                          {"idToken": tok, "idTokenInfo": {"status": "Accepted"}}
                                      ]}) == {"status": "Accepted"}
    assert ask(rig, "GetLocalListVersion", {}) == {"versionNumber": 3}
    assert ask(rig, "SendLocalList", {"versionNumber": 2, "updateType": "Differential"}) == {
        "status": "VersionMismatch"}
    rig.link.set_online(False)
    rig.plug()
    rig.ev_waits_for_auth()
    rig.token("LL-A")
    assert rig.auth_statuses()[-1].value == "ACCEPTED"
    assert rig.csms.violations == []


# ---------------------------------------------------------------- E Transactions
def test_e05_token_not_accepted_by_the_transaction_event_deauthorizes() -> None:
    rig = Rig("2.0.1")
    rig.csms.tokens["TAG-OK"] = "Accepted"
    rig.plug()
    rig.ev_waits_for_auth()
    rig.token("TAG-OK")
    rig.csms.tokens["TAG-OK"] = "Blocked"  # the CSMS changes its mind at Started
    rig.power_on()
    assert rig.session_commands()[-1] == "STOP_GRACEFUL"
    rig.power_off()
    (tx,) = rig.csms.transactions.values()
    assert tx.stop_reason == "DeAuthorized"


def _request(target_a: float, ready: bool = True) -> cv.PlcEvRequest:
    return cv.PlcEvRequest(source=cv.RequestSource.CURRENT_DEMAND, target_voltage_v=400.0,
                           target_current_a=target_a, charge_complete=False, soc_pct=50,
                           ev_ready=ready, ev_error_code=cv.EvErrorCode.NO_ERROR)


def _setpoint(amps: float) -> cv.PlcPowerSetpoint:
    return cv.PlcPowerSetpoint(voltage_setpoint_v=400.0, current_setpoint_a=amps,
                               enable_output=amps > 0)


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_suspended_ev_and_suspended_evse_from_the_contract_signals(version: str) -> None:
    """1.6 §4.9 SuspendedEV / SuspendedEVSE connector status, 2.0.1 TransactionEvent
    chargingState: the car asking 0 A is the EV's pause, the car asking and the EVSE
    setting 0 A is the EVSE's; both come from plc.ev_request / plc.power_setpoint through
    the contract binding."""
    rig = Rig(version)
    binding = ContractBinding()

    def signal(value: object) -> None:
        for ev in binding.events(value):
            rig.plc(ev)

    charging(rig)
    for value in (_request(100.0), _setpoint(100.0), _setpoint(0.5),  # flowing, ramping
                  _request(0.0), _setpoint(0.0),                        # car pauses
                  _request(100.0),                                      # EVSE holds back
                  _setpoint(100.0)):                                    # resumes
        signal(value)
        rig.run(1)
    if version == "1.6":
        assert [p["status"] for p in rig.csms.of("StatusNotification")][-4:] == [
            "Charging", "SuspendedEV", "SuspendedEVSE", "Charging"]
    else:
        states = [p["transactionInfo"]["chargingState"] for p in
                  rig.csms.of("TransactionEvent") if p["triggerReason"] ==
                  "ChargingStateChanged" and p["eventType"] == "Updated"]
        assert states == ["SuspendedEV", "SuspendedEVSE", "Charging"]
    rig.power_off()
    assert rig.csms.violations == []


def test_suspended_evse_by_a_charging_profile_of_zero_201() -> None:
    rig = Rig("2.0.1")
    charging(rig)
    ask(rig, "SetChargingProfile", {"evseId": 1, "chargingProfile": {
        "id": 5, "stackLevel": 1, "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Absolute", "chargingSchedule": [{
            "id": 1, "chargingRateUnit": "A", "startSchedule": "2026-01-01T00:00:00Z",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 0.0}]}]}})
    last = rig.csms.of("TransactionEvent")[-1]
    assert last["triggerReason"] == "ChargingStateChanged"
    assert last["transactionInfo"]["chargingState"] == "SuspendedEVSE"
    assert rig.csms.violations == []


# ---------------------------------------------------------------- G Availability
def test_g03_g04_change_availability_idle_and_scheduled() -> None:
    rig = Rig("2.0.1")
    assert ask(rig, "ChangeAvailability", {"operationalStatus": "Inoperative",
                                           "evse": {"id": 1}}) == {"status": "Accepted"}
    assert rig.state == "unavailable"
    assert ask(rig, "ChangeAvailability", {"operationalStatus": "Operative"}) == {
        "status": "Accepted"}
    charging(rig)
    assert ask(rig, "ChangeAvailability", {"operationalStatus": "Inoperative"}) == {
        "status": "Scheduled"}
    rig.power_off()
    rig.session_end()
    rig.unplug()
    assert rig.state == "unavailable"
    assert [p["connectorStatus"] for p in rig.csms.of("StatusNotification")][-1] == \
        "Unavailable"
    assert rig.csms.violations == []


def test_b11_the_restarted_process_boots_with_reason_remote_reset(tmp_path: Any) -> None:
    db = str(tmp_path / "ctrl.db")
    rig = Rig("2.0.1", db=db)
    ask(rig, "Reset", {"type": "Immediate"})
    assert rig.restarts
    rig.store.close()
    again = Rig("2.0.1", db=db)  # the process the service manager started
    assert again.csms.of("BootNotification")[0]["reason"] == "RemoteReset"
    rig3 = Rig("2.0.1", db=db)  # and a later power cut is a power-up again
    assert rig3.csms.of("BootNotification")[0]["reason"] == "PowerUp"


def test_f06_trigger_message_for_an_unknown_evse_is_rejected() -> None:
    """F06: a message about an EVSE (StatusNotification, MeterValues, TransactionEvent) for
    an EVSE or connector this station does not have is Rejected (reasonCode UnknownEvse)
    and nothing is sent; for its own EVSE it is sent; for a message not about an EVSE
    (Heartbeat) the evse is ignored (F06.FR.02)."""
    rig = Rig("2.0.1")
    rig.plug()
    rig.ev_waits_for_auth()
    rig.token("TAG-OK")
    rig.power_on()
    rig.charge(2)
    counts = {m: len(rig.csms.of(m)) for m in ("StatusNotification", "MeterValues",
                                                "TransactionEvent", "Heartbeat")}
    for message in ("StatusNotification", "MeterValues", "TransactionEvent"):
        for evse in ({"id": 2}, {"id": 1, "connectorId": 2}):
            answer = ask(rig, "TriggerMessage", {"requestedMessage": message, "evse": evse})
            assert answer["status"] == "Rejected", (message, evse)
            assert answer["statusInfo"]["reasonCode"] == "UnknownEvse"
    assert {m: len(rig.csms.of(m)) for m in counts} == counts
    for message in ("StatusNotification", "MeterValues", "TransactionEvent"):
        assert ask(rig, "TriggerMessage", {"requestedMessage": message, "evse": {
            "id": 1, "connectorId": 1}}) == {"status": "Accepted"}
        assert len(rig.csms.of(message)) == counts[message] + 1
    assert ask(rig, "TriggerMessage", {"requestedMessage": "Heartbeat", "evse": {"id": 9}}
               ) == {"status": "Accepted"}
    assert len(rig.csms.of("Heartbeat")) == counts["Heartbeat"] + 1
    assert rig.csms.violations == []


def test_f06_trigger_message_boot_notification_says_triggered() -> None:
    """F06 BootNotification: while the CSMS holds the station Pending, a triggered
    BootNotification goes at once (reason Triggered), not after the Pending interval;
    once registered (Accepted) the trigger is Rejected (F06.FR.17) and nothing is sent."""
    rig = Rig("2.0.1", online=False)
    rig.csms.boot_status = "Pending"
    rig.csms.heartbeat_interval_s = 600
    rig.link.set_online(True)
    rig.collect()
    assert [p["reason"] for p in rig.csms.of("BootNotification")] == ["PowerUp"]
    assert not rig.ctrl.booted
    rig.csms.boot_status = "Accepted"
    assert ask(rig, "TriggerMessage", {"requestedMessage": "BootNotification"}) == {
        "status": "Accepted"}
    assert [p["reason"] for p in rig.csms.of("BootNotification")] == ["PowerUp", "Triggered"]
    assert rig.ctrl.booted
    assert ask(rig, "TriggerMessage", {"requestedMessage": "BootNotification"}) == {
        "status": "Rejected"}
    assert len(rig.csms.of("BootNotification")) == 2
    for message in ("FirmwareStatusNotification", "LogStatusNotification"):
        assert ask(rig, "TriggerMessage", {"requestedMessage": message}) == {
            "status": "Accepted"}
        assert rig.csms.of(message) == [{"status": "Idle"}]
    assert rig.csms.violations == []

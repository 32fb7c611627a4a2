"""CSMS-initiated calls: answers, effects, and schema-invalid calls that change nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.controller.harness import Rig, ask


def raw(rig: Rig, frame: list[Any]) -> list[Any]:
    """Send a frame as is and return the charger's reply frame."""
    replies: list[str] = []
    rig.ctrl.receive_text(json.dumps(frame), rig.link.now_ns)
    replies.extend(rig.ctrl.data_to_send())
    assert len(replies) == 1
    reply: list[Any] = json.loads(replies[0])
    return reply


def charging(rig: Rig) -> None:
    rig.plug()
    rig.ev_waits_for_auth()
    rig.token("TAG-OK")
    rig.power_on()
    rig.charge(2)


# ---------------------------------------------------------------- schema validation (1.6)
@pytest.mark.parametrize(("frame", "code"), [
    ([2, "x1", "Reset", {"type": "Bogus"}], "PropertyConstraintViolation"),
    ([2, "x2", "Reset", {}], "OccurenceConstraintViolation"),
    ([2, "x3", "Reset", {"type": 5}], "TypeConstraintViolation"),
    ([2, "x4", "Reset", {"type": "Hard", "extra": 1}], "FormationViolation"),
    ([2, "x5", "FlyToTheMoon", {}], "NotImplemented"),
    ([2, "x6", "ReserveNow", {"connectorId": 1, "expiryDate": "2026-01-01T01:00:00Z",
                              "idTag": "A"}], "OccurenceConstraintViolation"),
    ([2, "x7", "ChangeConfiguration", {"key": "K" * 51, "value": "1"}],
     "PropertyConstraintViolation"),
])
def test_invalid_16_call_gets_the_right_call_error_and_changes_nothing(
        frame: list[Any], code: str) -> None:
    rig = Rig("1.6")
    before = (rig.state, rig.ctrl.reset_requested, rig.ctrl.settings.get("HeartbeatInterval"))
    reply = raw(rig, frame)
    assert reply[0] == 4 and reply[1] == frame[1] and reply[2] == code
    assert (rig.state, rig.ctrl.reset_requested,
            rig.ctrl.settings.get("HeartbeatInterval")) == before


@pytest.mark.parametrize(("frame", "code"), [
    ([2, "y1", "Reset", {"type": "Bogus"}], "PropertyConstraintViolation"),
    ([2, "y2", "Reset", {}], "OccurrenceConstraintViolation"),
    ([2, "y3", "RequestStopTransaction", {"transactionId": 7}], "TypeConstraintViolation"),
    ([2, "y4", "Reset", {"type": "Immediate", "x": 1}], "FormatViolation"),
    ([2, "y5", "Nope", {}], "NotImplemented"),
])
def test_invalid_201_call_gets_the_right_call_error(frame: list[Any], code: str) -> None:
    rig = Rig("2.0.1")
    reply = raw(rig, frame)
    assert reply[2] == code and rig.ctrl.reset_requested is None


def test_frame_that_is_not_json_is_dropped_without_reply() -> None:
    rig = Rig("1.6")
    rig.ctrl.receive_text("{not json", rig.link.now_ns)
    assert rig.ctrl.data_to_send() == []


# ---------------------------------------------------------------- 1.6 operations
def test_boot_pending_is_retried_after_its_interval_and_nothing_else_is_sent() -> None:
    rig = Rig("1.6", online=False)
    rig.csms.boot_status = "Pending"
    rig.csms.heartbeat_interval_s = 20
    rig.link.set_online(True)
    rig.plug()
    rig.run(19)
    assert rig.csms.actions() == ["BootNotification"]
    rig.csms.boot_status = "Accepted"
    rig.run(2)
    assert rig.csms.actions() == ["BootNotification", "BootNotification", "StatusNotification"]


def test_heartbeat_follows_the_boot_interval() -> None:
    rig = Rig("1.6", online=False)
    rig.csms.heartbeat_interval_s = 60
    rig.link.set_online(True)
    rig.run(185)
    beats = [s.at_ns // 1_000_000_000 for s in rig.csms.seen if s.action == "Heartbeat"]
    assert beats == [60, 120, 180]


def test_reset_during_charging_stops_with_soft_reset() -> None:
    rig = Rig("1.6")
    charging(rig)
    assert ask(rig, "Reset", {"type": "Soft"}) == {"status": "Accepted"}
    assert rig.session_commands() == ["STOP_GRACEFUL"]
    rig.power_off()
    (tx,) = rig.csms.transactions.values()
    assert tx.stop_reason == "SoftReset" and rig.ctrl.reset_requested == "Soft"


def test_change_availability_idle_and_scheduled() -> None:
    rig = Rig("1.6")
    assert ask(rig, "ChangeAvailability", {"connectorId": 1, "type": "Inoperative"}) == {
        "status": "Accepted"}
    assert rig.state == "unavailable" and rig.session_commands() == ["DISABLE"]
    assert ask(rig, "ChangeAvailability", {"connectorId": 1, "type": "Operative"}) == {
        "status": "Accepted"}
    assert rig.state == "available"
    charging(rig)
    assert ask(rig, "ChangeAvailability", {"connectorId": 0, "type": "Inoperative"}) == {
        "status": "Scheduled"}
    assert rig.state == "charging"
    rig.power_off()
    rig.unplug()
    assert rig.state == "unavailable"
    key = "status"
    assert [p[key] for p in rig.csms.of("StatusNotification")][-2:] == ["Finishing",
                                                                         "Unavailable"]


def test_unlock_connector_during_charging_stops_with_unlock_command() -> None:
    rig = Rig("1.6")
    charging(rig)
    assert ask(rig, "UnlockConnector", {"connectorId": 1}) == {"status": "Unlocked"}
    rig.power_off()
    (tx,) = rig.csms.transactions.values()
    assert tx.stop_reason == "UnlockCommand"


@pytest.mark.parametrize(("message", "sent"), [
    ("StatusNotification", "StatusNotification"), ("Heartbeat", "Heartbeat"),
    ("BootNotification", "BootNotification"), ("MeterValues", "MeterValues"),
])
def test_trigger_message_sends_what_was_asked(message: str, sent: str) -> None:
    rig = Rig("1.6")
    charging(rig)
    n = len(rig.csms.of(sent))
    assert ask(rig, "TriggerMessage", {"requestedMessage": message}) == {"status": "Accepted"}
    assert len(rig.csms.of(sent)) == n + 1


def test_trigger_message_for_an_unknown_connector_is_rejected_16() -> None:
    """1.6 §5.17: StatusNotification / MeterValues for a connector the station does not
    have are Rejected, nothing sent; a connectorId on a Heartbeat is ignored."""
    rig = Rig("1.6")
    charging(rig)
    n = {m: len(rig.csms.of(m)) for m in ("StatusNotification", "MeterValues", "Heartbeat")}
    for message in ("StatusNotification", "MeterValues"):
        assert ask(rig, "TriggerMessage", {"requestedMessage": message, "connectorId": 2}
                   ) == {"status": "Rejected"}
    assert {m: len(rig.csms.of(m)) for m in n} == n
    assert ask(rig, "TriggerMessage", {"requestedMessage": "MeterValues", "connectorId": 1}
               ) == {"status": "Accepted"}
    assert ask(rig, "TriggerMessage", {"requestedMessage": "Heartbeat", "connectorId": 3}
               ) == {"status": "Accepted"}
    assert len(rig.csms.of("MeterValues")) == n["MeterValues"] + 1
    assert len(rig.csms.of("Heartbeat")) == n["Heartbeat"] + 1
    assert rig.csms.violations == []


def test_trigger_diagnostics_and_firmware_status_send_the_current_status() -> None:
    rig = Rig("1.6")
    for message in ("DiagnosticsStatusNotification", "FirmwareStatusNotification"):
        assert ask(rig, "TriggerMessage", {"requestedMessage": message}
                   ) == {"status": "Accepted"}
        assert rig.csms.of(message) == [{"status": "Idle"}]
    assert rig.csms.violations == []


def test_get_and_change_configuration() -> None:
    rig = Rig("1.6")
    got = ask(rig, "GetConfiguration", {"key": ["HeartbeatInterval", "NoSuchKey"]})
    assert got == {"configurationKey": [{"key": "HeartbeatInterval", "readonly": False,
                                         "value": "300"}], "unknownKey": ["NoSuchKey"]}
    assert ask(rig, "ChangeConfiguration", {"key": "HeartbeatInterval", "value": "30"}) == {
        "status": "Accepted"}
    assert ask(rig, "ChangeConfiguration", {"key": "HeartbeatInterval", "value": "x"}) == {
        "status": "Rejected"}
    assert ask(rig, "ChangeConfiguration", {"key": "NumberOfConnectors", "value": "2"}) == {
        "status": "Rejected"}
    assert ask(rig, "ChangeConfiguration", {"key": "Nope", "value": "2"}) == {
        "status": "NotSupported"}
    rig.run(61)
    assert len(rig.csms.of("Heartbeat")) == 2  # the new interval is in force
    everything = ask(rig, "GetConfiguration", {})["configurationKey"]
    assert {"MeterValueSampleInterval", "LocalAuthorizeOffline", "ISO15118PnCEnabled"} <= {
        k["key"] for k in everything}


def test_change_configuration_of_offline_policy_takes_effect() -> None:
    rig = Rig("1.6")
    ask(rig, "ChangeConfiguration", {"key": "AllowOfflineTxForUnknownId", "value": "true"})
    rig.link.set_online(False)
    rig.plug()
    rig.ev_waits_for_auth()
    rig.token("WHO")
    assert rig.auth_statuses()[-1].value == "ACCEPTED"


def test_local_list_versions_and_differential_updates() -> None:
    rig = Rig("1.6")
    assert ask(rig, "GetLocalListVersion", {}) == {"listVersion": 0}
    ask(rig, "SendLocalList", {"listVersion": 3, "updateType": "Full", "localAuthorizationList": [
        {"idTag": "A", "idTagInfo": {"status": "Accepted"}},
        {"idTag": "B", "idTagInfo": {"status": "Blocked"}}]})
    assert ask(rig, "GetLocalListVersion", {}) == {"listVersion": 3}
    assert ask(rig, "SendLocalList", {"listVersion": 2, "updateType": "Differential"}) == {
        "status": "VersionMismatch"}
    assert ask(rig, "SendLocalList", {"listVersion": 4, "updateType": "Differential",
                                      "localAuthorizationList": [{"idTag": "A"}]}) == {
        "status": "Accepted"}
    rig.link.set_online(False)
    for tag, expected in (("A", "REJECTED"), ("B", "REJECTED")):
        rig.plug()
        rig.ev_waits_for_auth()
        rig.token(tag)
        assert rig.auth_statuses()[-1].value == expected
        rig.session_end()
        rig.unplug()


# ---------------------------------------------------------------- 2.0.1 operations
def test_get_and_set_variables_201() -> None:
    rig = Rig("2.0.1")
    got = ask(rig, "GetVariables", {"getVariableData": [
        {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}},
        {"component": {"name": "TxCtrlr"}, "variable": {"name": "TxStartPoint"}},
        {"component": {"name": "EVSE"}, "variable": {"name": "Power"}},
        {"component": {"name": "Nope"}, "variable": {"name": "X"}},
        {"component": {"name": "TxCtrlr"}, "variable": {"name": "Nope"}},
    ]})["getVariableResult"]
    assert [(r["attributeStatus"], r.get("attributeValue")) for r in got] == [
        ("Accepted", "300"), ("Accepted", "EnergyTransfer"), ("Accepted", "150000"),
        ("UnknownComponent", None), ("UnknownVariable", None)]
    res = ask(rig, "SetVariables", {"setVariableData": [
        {"component": {"name": "SampledDataCtrlr"}, "variable": {"name": "TxUpdatedInterval"},
         "attributeValue": "15"},
        {"component": {"name": "TxCtrlr"}, "variable": {"name": "TxStartPoint"},
         "attributeValue": "ParkingBayOccupancy"},  # no bay sensor
    ]})["setVariableResult"]
    assert [r["attributeStatus"] for r in res] == ["Accepted", "Rejected"]
    assert rig.ctrl.settings.get_int("MeterValueSampleInterval") == 15


def test_reset_unlock_trigger_201() -> None:
    rig = Rig("2.0.1")
    charging(rig)
    assert ask(rig, "UnlockConnector", {"evseId": 1, "connectorId": 1}) == {
        "status": "OngoingAuthorizedTransaction"}
    assert ask(rig, "TriggerMessage", {"requestedMessage": "TransactionEvent"}) == {
        "status": "Accepted"}
    assert ask(rig, "Reset", {"type": "OnIdle"}) == {"status": "Scheduled"}
    assert ask(rig, "Reset", {"type": "Immediate"}) == {"status": "Accepted"}
    rig.power_off()
    (tx,) = rig.csms.transactions.values()
    assert tx.stop_reason == "ImmediateReset"
    assert tx.events[-1].startswith("Ended:ResetCommand")
    assert rig.csms.violations == []


@pytest.mark.req("P1-7")
def test_get_15118_ev_certificate_is_relayed_201_and_16() -> None:
    from evse.controller.plc_port import PncCertificateRequested, PncCertificateResponseCmd

    for version in ("2.0.1", "1.6"):
        rig = Rig(version)
        rig.plug()
        rig.plc(PncCertificateRequested(9, "INSTALLATION", "urn:iso:15118:2:2013:MsgDef",
                                        b"\x80\x01"))
        answers = [c for c in rig.commands if isinstance(c, PncCertificateResponseCmd)]
        assert answers == [PncCertificateResponseCmd(9, True, rig.csms.pnc_certificate_exi)]
        offline = Rig(version, online=False)
        offline.plug()
        offline.plc(PncCertificateRequested(10, "UPDATE", "urn:iso:15118:2:2013:MsgDef", b"\x01"))
        assert [c for c in offline.commands if isinstance(c, PncCertificateResponseCmd)] == [
            PncCertificateResponseCmd(10, False)]


def test_201_fault_is_reported_with_notify_event_and_cleared() -> None:
    from evse.controller.plc_port import FaultCode, FaultSeverity, PlcFault

    rig = Rig("2.0.1")
    charging(rig)
    rig.plc(PlcFault(FaultCode.IMD_FAULT, FaultSeverity.ERROR, diagnostic="R_iso 80 kOhm"))
    rig.plc(PlcFault(FaultCode.IMD_FAULT, FaultSeverity.ERROR))  # 1 Hz refresh: no new event
    rig.plc(PlcFault(FaultCode.IMD_FAULT, FaultSeverity.ERROR, active=False))
    events = [p["eventData"][0] for p in rig.csms.of("NotifyEvent")]
    assert [(e["techCode"], e["component"]["name"], e["cleared"]) for e in events] == [
        ("IMD_FAULT", "InsulationMonitor", False), ("IMD_FAULT", "InsulationMonitor", True)]
    assert rig.csms.violations == []


def test_clock_aligned_meter_values_fall_on_the_interval_boundaries() -> None:
    rig = Rig("1.6", clock_aligned_interval_s=900.0, meter_sample_interval_s=0.0)
    rig.run(100)
    charging(rig)
    rig.charge(1900)
    stamps = [p["meterValue"][0]["timestamp"] for p in rig.csms.of("MeterValues")]
    contexts = {p["meterValue"][0]["sampledValue"][0]["context"]
                for p in rig.csms.of("MeterValues")}
    assert stamps == ["2026-01-01T00:15:00.000Z", "2026-01-01T00:30:00.000Z"]
    assert contexts == {"Sample.Clock"}


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_get_certificate_status_carries_the_ocsp_request_data(version: str) -> None:
    from evse.controller.pnc_auth import PncAuthority
    from evse.controller.trust_store import TrustStore
    from tests.controller.certs import contract_chain

    rig = Rig(version)
    ((data, tag), _) = PncAuthority(TrustStore(), "never").ocsp_requests(contract_chain(), None)
    assert rig.ctrl.dialect.certificate_status(data, tag)
    rig.link.pump()
    if version == "2.0.1":
        (req,) = rig.csms.of("GetCertificateStatus")
    else:
        (dt,) = rig.csms.of("DataTransfer")
        assert dt["messageId"] == "GetCertificateStatus"
        req = json.loads(dt["data"])
    assert req["ocspRequestData"]["responderURL"] == "http://ocsp.example.test"
    assert rig.csms.violations == []


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_silent_csms_on_certificate_request_fails_within_the_contract_bound(
        version: str) -> None:
    from evse.controller.plc_port import PncCertificateRequested, PncCertificateResponseCmd

    rig = Rig(version)
    rig.plug()
    rig.csms.data_to_send = lambda: []  # type: ignore[method-assign]  # the CSMS never answers
    rig.plc(PncCertificateRequested(4, "INSTALLATION", "urn:iso:15118:2:2013:MsgDef", b"\x80"))
    rig.run(4.4)
    assert not [c for c in rig.commands if isinstance(c, PncCertificateResponseCmd)]
    rig.run(0.2)  # pnc_cert_answer_timeout = 4.5 s
    assert [c for c in rig.commands if isinstance(c, PncCertificateResponseCmd)] == [
        PncCertificateResponseCmd(4, False)]


def test_201_get_base_report_sends_the_device_model() -> None:
    rig = Rig("2.0.1")
    assert ask(rig, "GetBaseReport", {"requestId": 5, "reportBase": "FullInventory"}) == {
        "status": "Accepted"}
    rows = {(r["component"]["name"], r["variable"]["name"]): r
            for page in rig.csms.of("NotifyReport") for r in page["reportData"]}
    assert rows[("TxCtrlr", "TxStartPoint")]["variableAttribute"][0] == {
        "type": "Actual", "value": "EnergyTransfer", "mutability": "ReadWrite"}
    assert rows[("OCPPCommCtrlr", "HeartbeatInterval")]["variableCharacteristics"][
        "dataType"] == "integer"
    ask(rig, "GetBaseReport", {"requestId": 6, "reportBase": "ConfigurationInventory"})
    config_rows = [r for page in rig.csms.of("NotifyReport") if page["requestId"] == 6
                   for r in page["reportData"]]
    assert config_rows
    # configurable = ReadWrite, or WriteOnly for a secret (SecurityCtrlr.BasicAuthPassword,
    # reported without its value)
    assert all(r["variableAttribute"][0]["mutability"] in ("ReadWrite", "WriteOnly")
               for r in config_rows)
    assert all("value" not in r["variableAttribute"][0] for r in config_rows
               if r["variableAttribute"][0]["mutability"] == "WriteOnly")
    assert rig.csms.violations == []


@pytest.mark.parametrize(("version", "action", "payload", "caused"), [
    ("1.6", "TriggerMessage", {"requestedMessage": "StatusNotification"}, "StatusNotification"),
    ("2.0.1", "TriggerMessage", {"requestedMessage": "Heartbeat"}, "Heartbeat"),
    ("2.0.1", "GetBaseReport", {"requestId": 1, "reportBase": "FullInventory"},
     "NotifyReport"),
])
def test_the_answer_goes_out_before_the_message_the_call_causes(
        version: str, action: str, payload: dict[str, Any], caused: str) -> None:
    rig = Rig(version)
    frames = [json.loads(t) for t in (
        rig.ctrl.receive_text(json.dumps([2, "c-1", action, payload]), rig.link.now_ns)
        or rig.ctrl.data_to_send())]
    assert frames[0][:2] == [3, "c-1"]
    assert frames[1][0] == 2 and frames[1][2] == caused

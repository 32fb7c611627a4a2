"""OCPP 2.0.1 Core use cases added for issue 15 (B07 SummaryInventory, B08, E14, E15, J01,
P01, P02) and the authorization ones (C09, C14, C16), named by their IDs: the real
controller core against the CSMS simulator (schema-checked frames, `expect` scripts the
use case's message order). Virtual time."""

from __future__ import annotations

from typing import Any

from evse.controller.data_transfer import DataTransferAnswer
from evse.controller.plc_port import EvseLimitsCmd, FaultCode, FaultSeverity, PlcFault, ScheduleCmd
from evse.csms_sim.core import Expect
from tests.controller.harness import Rig, S, ask


def charging(rig: Rig, tag: str = "TAG-OK") -> None:
    rig.plug()
    rig.ev_waits_for_auth()
    rig.token(tag)
    rig.power_on()
    rig.charge(2)


def report_rows(rig: Rig, request_id: int) -> list[dict[str, Any]]:
    pages = [p for p in rig.csms.of("NotifyReport") if p["requestId"] == request_id]
    assert [p["seqNo"] for p in pages] == list(range(len(pages)))
    assert [p["tbc"] for p in pages] == [True] * (len(pages) - 1) + [False]
    return [row for p in pages for row in p.get("reportData", [])]


def names(rows: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(r["component"]["name"], r["variable"]["name"]) for r in rows]


# ---------------------------------------------------------------- B07 / B08
def test_b07_summary_inventory_reports_availability_and_problems() -> None:
    rig = Rig("2.0.1")
    rig.csms.expect(Expect("NotifyReport", {"requestId": 7, "seqNo": 0, "tbc": False}))
    assert ask(rig, "GetBaseReport", {"requestId": 7, "reportBase": "SummaryInventory"}) == {
        "status": "Accepted"}
    rig.csms.assert_script_done()
    rows = report_rows(rig, 7)
    assert names(rows) == [("ChargingStation", "AvailabilityState"),
                           ("EVSE", "AvailabilityState"), ("Connector", "AvailabilityState")]
    assert {r["variableAttribute"][0]["value"] for r in rows} == {"Available"}
    rig.plc(PlcFault(FaultCode.IMD_FAULT, FaultSeverity.ERROR, diagnostic="R_iso 80 kOhm"))
    ask(rig, "GetBaseReport", {"requestId": 8, "reportBase": "SummaryInventory"})
    rows = report_rows(rig, 8)
    assert ("InsulationMonitor", "Problem") in names(rows)
    assert {r["variableAttribute"][0]["value"] for r in rows
            if r["variable"]["name"] == "AvailabilityState"} == {"Faulted"}
    assert rig.csms.violations == []


def test_b07_full_inventory_is_paged_with_tbc_and_seq_no() -> None:
    rig = Rig("2.0.1")
    ask(rig, "GetBaseReport", {"requestId": 3, "reportBase": "FullInventory"})
    pages = rig.csms.of("NotifyReport")
    assert len(pages) >= 2 and all(len(p["reportData"]) <= 20 for p in pages)
    rows = report_rows(rig, 3)
    assert ("TxCtrlr", "TxStartPoint") in names(rows)
    assert len(names(rows)) == len(set(names(rows)))  # each variable once
    assert rig.csms.violations == []


def test_b08_get_report_by_component_and_variable() -> None:
    rig = Rig("2.0.1")
    rig.csms.expect(Expect("NotifyReport", {"requestId": 1, "seqNo": 0, "tbc": False}))
    assert ask(rig, "GetReport", {"requestId": 1, "componentVariable": [
        {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}},
    ]}) == {"status": "Accepted"}
    rig.csms.assert_script_done()
    (row,) = report_rows(rig, 1)
    assert row["variableAttribute"][0] == {"type": "Actual", "value": "300",
                                           "mutability": "ReadWrite"}
    # a component without a variable: all of its variables
    ask(rig, "GetReport", {"requestId": 2, "componentVariable": [
        {"component": {"name": "AuthCtrlr"}}]})
    assert {v for c, v in names(report_rows(rig, 2))} == {
        "LocalAuthorizeOffline", "LocalPreAuthorize", "OfflineTxForUnknownIdEnabled",
        "AuthorizeRemoteStart", "MasterPassGroupId"}
    # an EVSE that does not exist, an unknown component: nothing to report, no NotifyReport
    before = len(rig.csms.of("NotifyReport"))
    for wanted in ({"component": {"name": "EVSE", "evse": {"id": 2}}},
                   {"component": {"name": "NoSuchCtrlr"}}):
        assert ask(rig, "GetReport", {"requestId": 9, "componentVariable": [wanted]}) == {
            "status": "EmptyResultSet"}
    assert len(rig.csms.of("NotifyReport")) == before
    too_many = [{"component": {"name": "AuthCtrlr"}}] * 21
    assert ask(rig, "GetReport", {"requestId": 10, "componentVariable": too_many}) == {
        "status": "Rejected"}
    assert rig.csms.violations == []


def test_b08_get_report_by_component_criteria() -> None:
    rig = Rig("2.0.1", authorization_cache_enabled=False)
    ask(rig, "GetReport", {"requestId": 4, "componentCriteria": ["Enabled"]})
    assert names(report_rows(rig, 4)) == [("LocalAuthListCtrlr", "Enabled"),
                                          ("LocalAuthListCtrlr", "ItemsPerMessage")]
    assert ask(rig, "GetReport", {"requestId": 5, "componentCriteria": ["Problem"]}) == {
        "status": "EmptyResultSet"}
    rig.plc(PlcFault(FaultCode.IMD_FAULT, FaultSeverity.ERROR))
    assert ask(rig, "GetReport", {"requestId": 6, "componentCriteria": ["Problem"]}) == {
        "status": "Accepted"}
    assert names(report_rows(rig, 6)) == [("InsulationMonitor", "Problem")]
    # both: the component must be named and meet the criterion
    assert ask(rig, "GetReport", {"requestId": 11, "componentCriteria": ["Enabled"],
                                  "componentVariable": [{"component": {
                                      "name": "AuthCacheCtrlr"}}]}) == {
        "status": "EmptyResultSet"}
    assert rig.csms.violations == []


# ---------------------------------------------------------------- E14 / E15
def test_e14_get_transaction_status_ongoing_and_messages_in_queue() -> None:
    rig = Rig("2.0.1", tx_message_retry_interval_s=60)
    charging(rig)
    (tx_id,) = rig.csms.transactions
    assert ask(rig, "GetTransactionStatus", {"transactionId": tx_id}) == {
        "ongoingIndicator": True, "messagesInQueue": False}
    # the CSMS fails to take the next transaction message: it waits in the queue
    rig.csms._on_TransactionEvent = None  # type: ignore[assignment,method-assign]
    rig.charge(60)
    assert ask(rig, "GetTransactionStatus", {"transactionId": tx_id}) == {
        "ongoingIndicator": True, "messagesInQueue": True}
    assert ask(rig, "GetTransactionStatus", {}) == {"messagesInQueue": True}
    del rig.csms._on_TransactionEvent  # the CSMS takes them again
    rig.power_off()
    rig.run(200)
    assert rig.csms.transactions[tx_id].stop_reason is not None
    assert ask(rig, "GetTransactionStatus", {"transactionId": tx_id}) == {
        "ongoingIndicator": False, "messagesInQueue": False}
    assert ask(rig, "GetTransactionStatus", {}) == {"messagesInQueue": False}
    assert ask(rig, "GetTransactionStatus", {"transactionId": "nobody-7"}) == {
        "ongoingIndicator": False, "messagesInQueue": False}
    assert rig.csms.violations == []


def test_e15_end_of_charging_reports_ev_connected_then_available_at_unplug() -> None:
    rig = Rig("2.0.1")
    charging(rig)
    rig.csms.expect(
        Expect("TransactionEvent", {"eventType": "Ended", "transactionInfo": {
            "chargingState": "EVConnected", "stoppedReason": "StoppedByEV"},
            "triggerReason": "ChargingStateChanged"}),
        Expect("StatusNotification", {"connectorStatus": "Available"}))
    rig.power_off()  # the car is full and ends the energy transfer; it is still plugged
    rig.session_end()
    rig.unplug()
    rig.csms.assert_script_done()
    # unplugged while charging (E09): the car is gone, the state is Idle
    charging(rig)
    rig.unplug()
    rig.power_off()
    ended = rig.csms.of("TransactionEvent")[-1]
    assert ended["eventType"] == "Ended"
    assert ended["transactionInfo"]["chargingState"] == "Idle"
    assert rig.csms.violations == []


# ---------------------------------------------------------------- J01
def test_g02_j01_a_clock_step_moves_the_aligned_samples_to_the_csms_boundaries() -> None:
    """Clock-aligned samples fall on the quarter hours of the CSMS's clock: after a
    HeartbeatResponse (G02) puts the station 100 s ahead, the next aligned MeterValues
    (J01) is at the CSMS's 00:15:00, 100 s earlier on the scheduler's clock than before
    the step, and is stamped 00:15:00."""
    rig = Rig("2.0.1", clock_aligned_interval_s=900.0, meter_sample_interval_s=0.0)
    rig.meas(0.0)
    rig.run(60)
    rig.csms.epoch_unix_s += 100
    assert ask(rig, "TriggerMessage", {"requestedMessage": "Heartbeat"}) == {
        "status": "Accepted"}
    rig.run(900)
    (first, *_) = [s for s in rig.csms.seen if s.action == "MeterValues"]
    assert first.at_ns // S == 800
    assert first.payload["meterValue"][0]["timestamp"] == "2026-01-01T00:15:00.000Z"
    assert rig.csms.violations == []


def test_j01_clock_aligned_meter_values_outside_a_transaction() -> None:
    rig = Rig("2.0.1", clock_aligned_interval_s=900.0, meter_sample_interval_s=0.0)
    rig.meas(0.0)  # the DC meter reports while idle
    rig.run(1850)
    idle = rig.csms.of("MeterValues")
    assert [p["meterValue"][0]["timestamp"] for p in idle] == [
        "2026-01-01T00:15:00.000Z", "2026-01-01T00:30:00.000Z"]
    assert all(p["evseId"] == 1 and p["meterValue"][0]["sampledValue"][0]["context"] ==
               "Sample.Clock" for p in idle)
    # during a transaction the aligned sample is a TransactionEvent (J02), not MeterValues
    charging(rig)
    rig.charge(900)
    assert len(rig.csms.of("MeterValues")) == 2
    assert "MeterValueClock" in [p["triggerReason"] for p in rig.csms.of("TransactionEvent")]
    rig.power_off()
    rig.session_end()
    rig.unplug()
    # AlignedDataCtrlr.Interval changed by the CSMS re-arms on the new boundaries; 0 stops
    assert ask(rig, "SetVariables", {"setVariableData": [{
        "component": {"name": "AlignedDataCtrlr"}, "variable": {"name": "Interval"},
        "attributeValue": "60"}]})["setVariableResult"][0]["attributeStatus"] == "Accepted"
    start = rig.link.now_ns // S
    rig.run(125)
    stamps = [s.at_ns // S for s in rig.csms.seen if s.action == "MeterValues"][2:]
    assert stamps == [t for t in range(start + 1, start + 126) if t % 60 == 0]
    ask(rig, "SetVariables", {"setVariableData": [{
        "component": {"name": "AlignedDataCtrlr"}, "variable": {"name": "Interval"},
        "attributeValue": "0"}]})
    n = len(rig.csms.of("MeterValues"))
    rig.run(600)
    assert len(rig.csms.of("MeterValues")) == n
    assert rig.csms.violations == []


def test_j01_nothing_is_sent_without_a_meter_reading() -> None:
    rig = Rig("2.0.1", clock_aligned_interval_s=60.0)
    rig.run(300)
    assert rig.csms.of("MeterValues") == []  # never an invented value


# ---------------------------------------------------------------- P01 / P02
def test_p01_data_transfer_from_the_csms_unknown_vendor_message_and_registered() -> None:
    rig = Rig("2.0.1")
    assert ask(rig, "DataTransfer", {"vendorId": "com.example"}) == {
        "status": "UnknownVendorId"}
    rig.ctrl.data_transfer_handlers["EVSE-Ref"] = {
        "Echo": lambda data: ("Accepted", {"echo": data})}
    assert ask(rig, "DataTransfer", {"vendorId": "EVSE-Ref", "messageId": "Nope"}) == {
        "status": "UnknownMessageId"}
    assert ask(rig, "DataTransfer", {"vendorId": "EVSE-Ref", "messageId": "Echo",
                                     "data": [1, 2]}) == {
        "status": "Accepted", "data": {"echo": [1, 2]}}
    assert rig.csms.violations == []


def test_p01_data_transfer_16_answers_from_the_same_registry_with_string_data() -> None:
    rig = Rig("1.6")
    assert ask(rig, "DataTransfer", {"vendorId": "com.example"}) == {
        "status": "UnknownVendorId"}
    rig.ctrl.data_transfer_handlers["EVSE-Ref"] = {"Echo": lambda data: ("Accepted", [data])}
    assert ask(rig, "DataTransfer", {"vendorId": "EVSE-Ref", "messageId": "Echo",
                                     "data": "x"}) == {"status": "Accepted", "data": '["x"]'}
    assert rig.csms.violations == []


def test_p02_data_transfer_to_the_csms_with_its_answer() -> None:
    rig = Rig("2.0.1")
    rig.csms.data_transfer_answers[("EVSE-Ref", "Hello")] = {"status": "Accepted",
                                                            "data": {"greeting": "hi"}}
    got: list[DataTransferAnswer] = []
    rig.csms.expect(Expect("DataTransfer", {"vendorId": "EVSE-Ref", "messageId": "Hello",
                                            "data": {"n": 1}}))
    assert rig.ctrl.data_transfer("EVSE-Ref", "Hello", {"n": 1}, got.append, rig.link.now_ns)
    rig.link.pump()
    rig.csms.assert_script_done()
    assert got == [DataTransferAnswer("Accepted", {"greeting": "hi"})]
    rig.ctrl.data_transfer("EVSE-Ref", "Other", None, got.append, rig.link.now_ns)
    rig.ctrl.data_transfer("org.other", "Hello", None, got.append, rig.link.now_ns)
    rig.link.pump()
    assert [a.status for a in got[1:]] == ["UnknownMessageId", "UnknownVendorId"]
    # a CSMS that cannot take it, and no CSMS at all: Failed, never a silent loss
    rig.csms._on_DataTransfer = None  # type: ignore[assignment,method-assign]
    rig.ctrl.data_transfer("EVSE-Ref", "Hello", None, got.append, rig.link.now_ns)
    rig.link.pump()
    rig.link.set_online(False)
    assert not rig.ctrl.data_transfer("EVSE-Ref", "Hello", None, got.append, rig.link.now_ns)
    assert [a.status for a in got[3:]] == ["Failed", "Failed"]
    assert rig.csms.violations == []


# ---------------------------------------------------------------- C09 / C14 / C16
def send_local_list(rig: Rig, version: int, entries: dict[str, tuple[str, str]]) -> None:
    """SendLocalList Full: token -> (status, group or "")."""
    items = []
    for token, (status, group) in entries.items():
        info: dict[str, Any] = {"status": status}
        if group:
            info["groupIdToken"] = {"idToken": group, "type": "Central"}
        items.append({"idToken": {"idToken": token, "type": "ISO14443"}, "idTokenInfo": info})
    assert ask(rig, "SendLocalList", {"versionNumber": version, "updateType": "Full",
                                      "localAuthorizationList": items}) == {
        "status": "Accepted"}


def test_c09_a_token_of_the_same_group_from_the_csms_stops_the_transaction() -> None:
    rig = Rig("2.0.1")
    rig.csms.tokens.update({"FLEET-A": "Accepted", "FLEET-B": "Accepted", "OTHER": "Accepted"})
    rig.csms.groups.update({"FLEET-A": "FLEET", "FLEET-B": "FLEET", "OTHER": "ELSEWHERE"})
    charging(rig, "FLEET-A")
    rig.token("OTHER")  # another group: the CSMS is asked, the transaction goes on
    rig.charge(2)
    assert rig.state == "charging"
    rig.csms.expect(Expect("Authorize", {"idToken": {"idToken": "FLEET-B"}}),
                    Expect("TransactionEvent", {"eventType": "Ended",
                                                "triggerReason": "StopAuthorized",
                                                "transactionInfo": {"stoppedReason": "Local"}}),
                    ignore=("Heartbeat", "StatusNotification"))
    rig.token("FLEET-B")
    assert rig.session_commands()[-1] == "STOP_GRACEFUL"
    rig.power_off()
    rig.csms.assert_script_done()
    assert rig.csms.violations == []


def test_c09_the_group_from_the_local_list_stops_offline() -> None:
    rig = Rig("2.0.1")
    send_local_list(rig, 1, {"LL-A": ("Accepted", "G1"), "LL-B": ("Accepted", "G1"),
                             "LL-C": ("Accepted", "G2")})
    rig.link.set_online(False)
    charging(rig, "LL-A")
    rig.token("LL-C")
    assert rig.state == "charging"
    rig.token("LL-B")
    assert rig.session_commands()[-1] == "STOP_GRACEFUL"


def test_c14_local_pre_authorize_starts_from_the_local_list_without_asking() -> None:
    rig = Rig("2.0.1")
    assert ask(rig, "SetVariables", {"setVariableData": [{
        "component": {"name": "AuthCtrlr"}, "variable": {"name": "LocalPreAuthorize"},
        "attributeValue": "true"}]})["setVariableResult"][0]["attributeStatus"] == "Accepted"
    send_local_list(rig, 2, {"LL-OK": ("Accepted", ""), "LL-BLOCKED": ("Blocked", "")})
    charging(rig, "LL-OK")
    assert "Authorize" not in rig.csms.actions()  # C14.FR.01: started without the CSMS
    (tx,) = rig.csms.transactions.values()
    assert tx.id_tag == "LL-OK"
    rig.power_off()
    rig.session_end()
    rig.unplug()
    # not Accepted in the list: the CSMS decides (C14.FR.02)
    rig.csms.tokens["LL-BLOCKED"] = "Accepted"
    rig.csms.expect(Expect("Authorize", {"idToken": {"idToken": "LL-BLOCKED"}}),
                    ignore=("Heartbeat", "StatusNotification"))
    rig.plug()
    rig.ev_waits_for_auth()
    rig.token("LL-BLOCKED")
    rig.csms.assert_script_done()
    assert rig.auth_statuses()[-1].value == "ACCEPTED"
    assert rig.csms.violations == []


def test_c16_master_pass_stops_any_transaction_but_starts_none() -> None:
    rig = Rig("2.0.1")
    ask(rig, "SetVariables", {"setVariableData": [{
        "component": {"name": "AuthCtrlr"}, "variable": {"name": "MasterPassGroupId"},
        "attributeValue": "MASTER"}]})
    rig.csms.tokens["SERVICE-1"] = "Accepted"
    rig.csms.groups["SERVICE-1"] = "MASTER"
    # cannot start (C16.FR.02)
    rig.plug()
    rig.ev_waits_for_auth()
    rig.token("SERVICE-1")
    assert rig.auth_statuses()[-1].value == "REJECTED"
    rig.unplug()
    # stops any transaction (C16.FR.01), with stoppedReason MasterPass
    charging(rig)
    rig.token("SERVICE-1")
    assert rig.session_commands()[-1] == "STOP_GRACEFUL"
    rig.power_off()
    ended = rig.csms.of("TransactionEvent")[-1]
    assert ended["eventType"] == "Ended"
    assert ended["transactionInfo"]["stoppedReason"] == "MasterPass"
    assert ended["triggerReason"] == "StopAuthorized"
    assert rig.csms.violations == []


# ---------------------------------------------------------------- K05 / K06 / K07
def last_limits(rig: Rig) -> EvseLimitsCmd:
    return [c for c in rig.commands if isinstance(c, EvseLimitsCmd)][-1]


def profile201(pid: int, purpose: str, periods: list[tuple[int, float]], *,
               kind: str = "Relative") -> dict[str, Any]:
    schedule: dict[str, Any] = {"id": pid, "chargingRateUnit": "W", "chargingSchedulePeriod": [
        {"startPeriod": s, "limit": lim} for s, lim in periods]}
    if kind == "Absolute":
        schedule["startSchedule"] = "2026-01-01T00:00:00Z"
    return {"id": pid, "stackLevel": 0, "chargingProfilePurpose": purpose,
            "chargingProfileKind": kind, "chargingSchedule": [schedule]}


def test_k05_remote_start_with_a_tx_profile_limits_that_transaction_only() -> None:
    rig = Rig("2.0.1")
    assert ask(rig, "RequestStartTransaction", {
        "idToken": {"idToken": "REMOTE-1", "type": "Central"}, "remoteStartId": 41,
        "evseId": 1, "chargingProfile": profile201(
            9, "TxDefaultProfile", [(0, 11_000.0)])}) == {"status": "Rejected"}
    rig.csms.expect(Expect("TransactionEvent", {"eventType": "Started", "transactionInfo": {
        "remoteStartId": 41}}), ignore=("Heartbeat", "StatusNotification", "Authorize"))
    assert ask(rig, "RequestStartTransaction", {
        "idToken": {"idToken": "REMOTE-1", "type": "Central"}, "remoteStartId": 41,
        "evseId": 1, "chargingProfile": profile201(
            9, "TxProfile", [(0, 11_000.0), (60, 22_000.0)])}) == {"status": "Accepted"}
    rig.plug()
    rig.ev_waits_for_auth()
    rig.power_on()
    rig.csms.assert_script_done()
    assert last_limits(rig).max_power_w == 11_000.0
    rig.charge(61)
    assert last_limits(rig).max_power_w == 22_000.0
    rig.power_off()
    rig.session_end()
    rig.unplug()
    rig.plug()  # the profile ended with its transaction (K05.FR / K01: TxProfile)
    assert last_limits(rig).max_power_w == 150_000.0
    assert rig.csms.violations == []


def test_k06_the_profile_in_force_keeps_applying_offline() -> None:
    rig = Rig("2.0.1")
    assert ask(rig, "SetChargingProfile", {"evseId": 1, "chargingProfile": profile201(
        3, "TxDefaultProfile", [(0, 50_000.0), (600, 20_000.0)], kind="Absolute")}) == {
        "status": "Accepted"}
    charging(rig)
    assert last_limits(rig).max_power_w == 50_000.0
    rig.link.set_online(False)
    rig.charge(600)
    assert last_limits(rig).max_power_w == 20_000.0  # the step came while offline
    rig.power_off()
    rig.link.set_online(True)
    (tx,) = rig.csms.transactions.values()
    assert tx.stop_reason == "StoppedByEV"
    assert rig.csms.violations == []


def test_k07_offline_start_uses_the_stored_profiles_from_the_transaction_start() -> None:
    rig = Rig("2.0.1")
    send_local_list(rig, 1, {"LL-A": ("Accepted", "")})
    ask(rig, "SetChargingProfile", {"evseId": 1, "chargingProfile": profile201(
        4, "TxDefaultProfile", [(0, 30_000.0), (120, 60_000.0)])})
    rig.link.set_online(False)
    rig.run(500)  # the relative schedule counts from the transaction, not from its install
    charging(rig, "LL-A")
    assert last_limits(rig).max_power_w == 30_000.0
    sched = [c for c in rig.commands if isinstance(c, ScheduleCmd)][-1]
    # published at the transaction start: the step 120 s after it, not after the install
    assert [(e.start_offset_s, e.max_power_w) for e in sched.entries[:2]] == [
        (0, 30_000.0), (120, 60_000.0)]
    rig.charge(120)
    assert last_limits(rig).max_power_w == 60_000.0
    rig.power_off()
    rig.link.set_online(True)
    (tx,) = rig.csms.transactions.values()
    assert tx.id_tag == "LL-A" and tx.stop_reason == "StoppedByEV"
    assert rig.csms.violations == []


# ---------------------------------------------------------------- K11 LimitChangeSignificance
def test_k11_limit_change_significance_reports_only_changes_at_least_that_large() -> None:
    from evse.controller.smart_charging import ExternalLimit, LimitSource, Period

    def ems(watts: float) -> None:
        rig.ctrl.set_external_limit(ExternalLimit(LimitSource.EMS, (Period(0, watts),)),
                                    rig.link.now_ns)
        rig.link.pump()
        rig.collect()

    def rate_changes() -> int:
        return sum(e["triggerReason"] == "ChargingRateChanged"
                   for e in rig.csms.of("TransactionEvent"))

    rig = Rig("2.0.1")
    assert ask(rig, "SetVariables", {"setVariableData": [{
        "component": {"name": "SmartChargingCtrlr"},
        "variable": {"name": "LimitChangeSignificance"}, "attributeValue": "10"}]})[
        "setVariableResult"][0]["attributeStatus"] == "Accepted"
    charging(rig)
    ems(60_000.0)
    assert (len(rig.csms.of("NotifyChargingLimit")), rate_changes()) == (1, 1)
    ems(57_000.0)  # 5 %: applied, not reported
    assert last_limits(rig).max_power_w == 57_000.0
    assert (len(rig.csms.of("NotifyChargingLimit")), rate_changes()) == (1, 1)
    ems(53_000.0)  # 11.7 % from the last reported 60 kW: the small steps add up
    assert (len(rig.csms.of("NotifyChargingLimit")), rate_changes()) == (2, 2)
    assert ask(rig, "SetVariables", {"setVariableData": [{
        "component": {"name": "SmartChargingCtrlr"},
        "variable": {"name": "LimitChangeSignificance"}, "attributeValue": "-1"}]})[
        "setVariableResult"][0]["attributeStatus"] == "Rejected"
    assert rig.csms.violations == []


def test_k07_the_stored_profiles_survive_a_restart_and_apply_to_an_offline_start(
        tmp_path: Any) -> None:
    """K07 after a power cut: the TxDefaultProfile the CSMS set is still in force when the
    station comes back offline and a local-list token starts a transaction; a TxProfile
    (its transaction is gone) is not kept."""
    db = str(tmp_path / "ctrl.db")
    rig = Rig("2.0.1", db=db)
    send_local_list(rig, 1, {"LL-A": ("Accepted", "")})
    ask(rig, "SetChargingProfile", {"evseId": 1, "chargingProfile": profile201(
        4, "TxDefaultProfile", [(0, 30_000.0), (120, 60_000.0)])})
    rig.store.close()
    again = Rig("2.0.1", db=db, online=False)
    charging(again, "LL-A")
    assert last_limits(again).max_power_w == 30_000.0
    again.charge(120)
    assert last_limits(again).max_power_w == 60_000.0
    again.link.set_online(True)
    answer = ask(again, "GetChargingProfiles", {"requestId": 1, "chargingProfile": {}})
    assert answer == {"status": "Accepted"}
    (report,) = again.csms.of("ReportChargingProfiles")
    assert [p["id"] for p in report["chargingProfile"]] == [4]
    assert again.csms.violations == []


def test_f06_trigger_message_meter_values_sends_meter_values_idle_and_charging() -> None:
    rig = Rig("2.0.1")
    assert ask(rig, "TriggerMessage", {"requestedMessage": "MeterValues"}) == {
        "status": "Rejected"}  # no meter reading yet: nothing invented
    rig.meas(0.0)
    rig.csms.expect(Expect("MeterValues", {"evseId": 1}))
    assert ask(rig, "TriggerMessage", {"requestedMessage": "MeterValues"}) == {
        "status": "Accepted"}
    rig.csms.assert_script_done()
    charging(rig)
    ask(rig, "TriggerMessage", {"requestedMessage": "MeterValues"})
    ask(rig, "TriggerMessage", {"requestedMessage": "TransactionEvent"})
    contexts = [p["meterValue"][0]["sampledValue"][0]["context"]
                for p in rig.csms.of("MeterValues")]
    assert contexts == ["Trigger", "Trigger"]
    assert rig.csms.of("TransactionEvent")[-1]["triggerReason"] == "Trigger"
    assert rig.csms.violations == []


# ---------------------------------------------------------------- B04
def test_b04_status_after_reconnect_follows_the_offline_threshold() -> None:
    rig = Rig("2.0.1")
    ask(rig, "SetVariables", {"setVariableData": [{
        "component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "OfflineThreshold"},
        "attributeValue": "120"}]})
    def statuses() -> list[str]:
        return [p["connectorStatus"] for p in rig.csms.of("StatusNotification")]

    assert statuses() == ["Available"]
    rig.link.set_online(False)
    rig.run(30)
    rig.link.set_online(True)  # a short outage, nothing changed: nothing re-sent
    assert statuses() == ["Available"]
    rig.link.set_online(False)
    rig.plug()
    rig.run(30)
    rig.link.set_online(True)  # short, but the status changed meanwhile: sent
    assert statuses() == ["Available", "Occupied"]
    rig.link.set_online(False)
    rig.run(150)
    rig.link.set_online(True)  # longer than OfflineThreshold: every status again
    assert statuses() == ["Available", "Occupied", "Occupied"]
    assert rig.csms.violations == []

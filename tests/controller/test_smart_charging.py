"""Charging profiles -> ctrl.evse_limits_dynamic / ctrl.schedule, and GetCompositeSchedule."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from evse.controller.plc_port import (
    DeratingReason,
    EvChargingNeeds,
    EvseLimitsCmd,
    ScheduleCmd,
)
from evse.controller.smart_charging import (
    EXTERNAL_PROFILE_ID_BASE,
    ExternalLimit,
    LimitSource,
    Period,
)
from tests.controller.harness import Rig
from tests.controller.test_csms_calls import ask, charging


def profile16(pid: int, purpose: str, level: int, periods: list[tuple[int, float]], *,
              unit: str = "W", kind: str = "Absolute", **extra: Any) -> dict[str, Any]:
    schedule: dict[str, Any] = {"chargingRateUnit": unit, "chargingSchedulePeriod": [
        {"startPeriod": s, "limit": lim} for s, lim in periods]}
    if kind == "Absolute":
        schedule["startSchedule"] = extra.pop("start", "2026-01-01T00:00:00Z")
    if "duration" in extra:
        schedule["duration"] = extra.pop("duration")
    out = {"chargingProfileId": pid, "stackLevel": level, "chargingProfilePurpose": purpose,
           "chargingProfileKind": kind, "chargingSchedule": schedule}
    out.update(extra)
    return out


def set16(rig: Rig, connector: int, prof: dict[str, Any]) -> str:
    res = ask(rig, "SetChargingProfile", {"connectorId": connector, "csChargingProfiles": prof})
    return str(res["status"])


def last_limits(rig: Rig) -> EvseLimitsCmd:
    return [c for c in rig.commands if isinstance(c, EvseLimitsCmd)][-1]


def last_schedule(rig: Rig) -> ScheduleCmd:
    return [c for c in rig.commands if isinstance(c, ScheduleCmd)][-1]


def test_no_profile_publishes_the_hardware_rating_with_a_one_entry_schedule() -> None:
    rig = Rig("1.6")
    rig.plug()
    lim = last_limits(rig)
    assert (lim.max_power_w, lim.max_current_a, lim.derating_reason) == (
        150_000.0, 300.0, DeratingReason.NONE)
    assert 100 <= lim.validity_ms <= 5000  # contract limits_validity_min..max
    sched = last_schedule(rig)
    assert [(e.start_offset_s, e.max_power_w) for e in sched.entries] == [(0, 150_000.0)]


def test_limits_are_refreshed_before_their_validity_expires() -> None:
    rig = Rig("1.6")
    rig.plug()
    n = len([c for c in rig.commands if isinstance(c, EvseLimitsCmd)])
    rig.run(10)
    refreshed = [c for c in rig.commands if isinstance(c, EvseLimitsCmd)]
    assert len(refreshed) - n >= 10 and refreshed[-1].validity_ms > 1000


@pytest.mark.req("P2-11")
def test_tx_default_profile_limits_power_and_schedule() -> None:
    rig = Rig("1.6")
    assert set16(rig, 0, profile16(1, "TxDefaultProfile", 0,
                                   [(0, 50_000.0), (3600, 100_000.0)])) == "Accepted"
    rig.plug()
    lim = last_limits(rig)
    assert lim.max_power_w == 50_000.0 and lim.derating_reason is DeratingReason.OCPP_PROFILE
    assert [(e.start_offset_s, e.max_power_w) for e in last_schedule(rig).entries] == [
        (0, 50_000.0), (3600, 100_000.0)]


def test_higher_stack_level_wins_and_charge_point_max_caps() -> None:
    rig = Rig("1.6")
    set16(rig, 0, profile16(1, "TxDefaultProfile", 0, [(0, 50_000.0)]))
    set16(rig, 0, profile16(2, "TxDefaultProfile", 1, [(0, 90_000.0)]))
    rig.plug()
    assert last_limits(rig).max_power_w == 90_000.0
    set16(rig, 0, profile16(3, "ChargePointMaxProfile", 0, [(0, 200.0)], unit="A"))
    lim = last_limits(rig)
    assert (lim.max_power_w, lim.max_current_a) == (90_000.0, 200.0)


def test_tx_profile_needs_a_transaction_overrides_default_and_ends_with_it() -> None:
    rig = Rig("1.6")
    set16(rig, 0, profile16(1, "TxDefaultProfile", 0, [(0, 50_000.0)]))
    assert set16(rig, 1, profile16(5, "TxProfile", 0, [(0, 20_000.0)])) == "Rejected"
    charging(rig)
    assert set16(rig, 1, profile16(5, "TxProfile", 0, [(0, 20_000.0)])) == "Accepted"
    assert last_limits(rig).max_power_w == 20_000.0
    sched = last_schedule(rig)
    assert sched.renegotiate  # new schedule during the session: the PLC renegotiates
    rig.power_off()
    rig.session_end()
    rig.unplug()
    rig.plug()
    assert last_limits(rig).max_power_w == 50_000.0


def test_charge_point_max_profile_on_a_connector_is_rejected() -> None:
    rig = Rig("1.6")
    assert set16(rig, 1, profile16(1, "ChargePointMaxProfile", 0, [(0, 1.0)])) == "Rejected"


def test_validity_window_bounds_a_profile() -> None:
    rig = Rig("1.6")
    set16(rig, 0, profile16(1, "TxDefaultProfile", 0, [(0, 40_000.0)],
                            validFrom="2026-01-01T00:00:00Z", validTo="2026-01-01T00:10:00Z"))
    rig.plug()
    assert last_limits(rig).max_power_w == 40_000.0
    rig.run(600)
    assert last_limits(rig).max_power_w == 150_000.0


def test_relative_tx_profile_starts_with_the_transaction() -> None:
    rig = Rig("1.6")
    charging(rig)
    set16(rig, 1, profile16(7, "TxProfile", 0, [(0, 30_000.0), (60, 60_000.0)],
                            kind="Relative"))
    comp = ask(rig, "GetCompositeSchedule", {"connectorId": 1, "duration": 300})
    periods = comp["chargingSchedule"]["chargingSchedulePeriod"]
    # the transaction started 2 s before the query: the step comes 58 s from now
    assert periods == [{"startPeriod": 0, "limit": 30_000.0},
                       {"startPeriod": 58, "limit": 60_000.0}]


def test_recurring_daily_profile_repeats_in_the_composite() -> None:
    rig = Rig("1.6")
    prof = profile16(1, "TxDefaultProfile", 0, [(0, 11_000.0), (3600, 22_000.0)],
                     kind="Recurring", recurrencyKind="Daily", duration=7200)
    prof["chargingSchedule"]["startSchedule"] = "2026-01-01T00:00:00Z"
    assert set16(rig, 0, prof) == "Accepted"
    comp = ask(rig, "GetCompositeSchedule", {"connectorId": 0, "duration": 90_000,
                                             "chargingRateUnit": "W"})
    periods = [(p["startPeriod"], p["limit"])
               for p in comp["chargingSchedule"]["chargingSchedulePeriod"]]
    # between recurrences only the hardware limits: 300 A at the 400 V nominal = 120 kW
    assert periods == [(0, 11_000.0), (3600, 22_000.0), (7200, 120_000.0),
                       (86_400, 11_000.0)]


def test_composite_in_amps_converts_power_at_nominal_voltage() -> None:
    rig = Rig("1.6")
    set16(rig, 0, profile16(1, "TxDefaultProfile", 0, [(0, 40_000.0)]))
    comp = ask(rig, "GetCompositeSchedule", {"connectorId": 1, "duration": 60,
                                             "chargingRateUnit": "A"})
    assert comp["chargingSchedule"]["chargingSchedulePeriod"] == [
        {"startPeriod": 0, "limit": 100.0}]
    assert rig.csms.violations == []


def test_clear_charging_profile_by_purpose_and_unknown() -> None:
    rig = Rig("1.6")
    set16(rig, 0, profile16(1, "TxDefaultProfile", 0, [(0, 40_000.0)]))
    rig.plug()
    assert ask(rig, "ClearChargingProfile", {"chargingProfilePurpose": "TxDefaultProfile"}) == {
        "status": "Accepted"}
    assert last_limits(rig).max_power_w == 150_000.0
    assert ask(rig, "ClearChargingProfile", {"id": 99}) == {"status": "Unknown"}


@pytest.mark.parametrize("unit", ["W", "A"])
def test_201_set_profile_and_composite(unit: str) -> None:
    rig = Rig("2.0.1")
    prof = {"id": 1, "stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile",
            "chargingProfileKind": "Absolute", "chargingSchedule": [{
                "id": 1, "startSchedule": "2026-01-01T00:00:00Z", "chargingRateUnit": unit,
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 100.0}]}]}
    assert ask(rig, "SetChargingProfile", {"evseId": 0, "chargingProfile": prof}) == {
        "status": "Accepted"}
    comp = ask(rig, "GetCompositeSchedule", {"duration": 60, "evseId": 1,
                                             "chargingRateUnit": unit})
    assert comp["schedule"]["chargingSchedulePeriod"] == [{"startPeriod": 0, "limit": 100.0}]
    rig.plug()
    lim = last_limits(rig)
    assert (lim.max_current_a if unit == "A" else lim.max_power_w) == 100.0
    assert rig.csms.violations == []


def test_transaction_start_republishes_the_schedule_under_the_same_id() -> None:
    """Issue 11 item 5: the schedule republished at transaction start has not changed in
    value, so it keeps its id (the car's SAScheduleTupleID) and asks for no renegotiation."""
    rig = Rig("1.6")
    set16(rig, 0, profile16(1, "TxDefaultProfile", 0, [(0, 50_000.0), (3600, 100_000.0)]))
    rig.plug()
    first = last_schedule(rig)
    charging(rig)
    scheds = [c for c in rig.commands if isinstance(c, ScheduleCmd)]
    assert len(scheds) >= 2  # republished at transaction start
    assert {s.schedule_id for s in scheds} == {first.schedule_id}
    assert not any(s.renegotiate for s in scheds)


def test_a_profile_that_changes_the_power_gets_a_new_schedule_id() -> None:
    rig = Rig("1.6")
    charging(rig)
    before = last_schedule(rig).schedule_id
    set16(rig, 1, profile16(5, "TxProfile", 0, [(0, 20_000.0)], kind="Relative"))
    after = last_schedule(rig)
    assert after.schedule_id != before and after.renegotiate


# ---------------------------------------------------------------- 2.0.1 K09-K17
def profile201(pid: int, purpose: str, level: int, periods: list[tuple[int, float]], *,
               unit: str = "W", kind: str = "Absolute", **extra: Any) -> dict[str, Any]:
    schedule: dict[str, Any] = {"id": pid, "chargingRateUnit": unit, "chargingSchedulePeriod": [
        {"startPeriod": s, "limit": lim} for s, lim in periods]}
    if kind == "Absolute":
        schedule["startSchedule"] = extra.pop("start", "2026-01-01T00:00:00Z")
    out = {"id": pid, "stackLevel": level, "chargingProfilePurpose": purpose,
           "chargingProfileKind": kind, "chargingSchedule": [schedule]}
    out.update(extra)
    return out


def set201(rig: Rig, evse: int, prof: dict[str, Any]) -> str:
    res = ask(rig, "SetChargingProfile", {"evseId": evse, "chargingProfile": prof})
    return str(res["status"])


def clear201(rig: Rig, **p: Any) -> str:
    return str(ask(rig, "ClearChargingProfile", p)["status"])


def test_k10_clear_charging_profile_by_id_criteria_and_evse_201() -> None:
    """K10: a profile id clears that profile whatever the criteria say; criteria clear every
    profile matching all of them; nothing matched answers Unknown and changes nothing. The
    charger's limits follow each clear."""
    rig = Rig("2.0.1")
    assert set201(rig, 0, profile201(1, "TxDefaultProfile", 0, [(0, 40_000.0)])) == "Accepted"
    assert set201(rig, 1, profile201(2, "TxDefaultProfile", 1, [(0, 30_000.0)])) == "Accepted"
    assert set201(rig, 0, profile201(3, "ChargingStationMaxProfile", 0,
                                     [(0, 35_000.0)])) == "Accepted"
    rig.plug()
    assert last_limits(rig).max_power_w == 30_000.0
    # by id: the criteria that do not match profile 2 are not applied
    assert clear201(rig, chargingProfileId=2, chargingProfileCriteria={
        "evseId": 0, "chargingProfilePurpose": "ChargingStationMaxProfile"}) == "Accepted"
    assert last_limits(rig).max_power_w == 35_000.0
    assert clear201(rig, chargingProfileId=2) == "Unknown"
    # criteria that match no profile (no TxDefaultProfile at stack level 5)
    n = len(rig.commands)
    assert clear201(rig, chargingProfileCriteria={"chargingProfilePurpose": "TxDefaultProfile",
                                                  "stackLevel": 5}) == "Unknown"
    assert len(rig.commands) == n
    assert clear201(rig, chargingProfileCriteria={"evseId": 1}) == "Unknown"
    # purpose on evse 0
    assert clear201(rig, chargingProfileCriteria={
        "evseId": 0, "chargingProfilePurpose": "ChargingStationMaxProfile"}) == "Accepted"
    assert last_limits(rig).max_power_w == 40_000.0
    # everything on evse 0
    assert clear201(rig, chargingProfileCriteria={"evseId": 0}) == "Accepted"
    lim = last_limits(rig)
    assert (lim.max_power_w, lim.derating_reason) == (150_000.0, DeratingReason.NONE)
    assert clear201(rig) == "Unknown"
    assert rig.csms.violations == []


def test_clear_charging_profile_16_by_id_connector_and_stack_level() -> None:
    """1.6 §5.5: the same rules in the 1.6 dialect (connectorId for evseId)."""
    rig = Rig("1.6")
    set16(rig, 0, profile16(1, "TxDefaultProfile", 0, [(0, 40_000.0)]))
    set16(rig, 1, profile16(2, "TxDefaultProfile", 1, [(0, 30_000.0)]))
    rig.plug()
    assert last_limits(rig).max_power_w == 30_000.0
    assert ask(rig, "ClearChargingProfile", {"connectorId": 1, "stackLevel": 0}) == {
        "status": "Unknown"}
    assert ask(rig, "ClearChargingProfile", {"connectorId": 1, "stackLevel": 1}) == {
        "status": "Accepted"}
    assert last_limits(rig).max_power_w == 40_000.0
    assert ask(rig, "ClearChargingProfile", {"id": 1, "connectorId": 1}) == {
        "status": "Accepted"}
    assert last_limits(rig).max_power_w == 150_000.0
    assert rig.csms.violations == []


def get_profiles(rig: Rig, request_id: int, criteria: dict[str, Any],
                 evse: int | None = None) -> tuple[str, list[dict[str, Any]]]:
    """GetChargingProfiles; returns its status and the ReportChargingProfiles it caused."""
    before = len(rig.csms.of("ReportChargingProfiles"))
    p: dict[str, Any] = {"requestId": request_id, "chargingProfile": criteria}
    if evse is not None:
        p["evseId"] = evse
    status = str(ask(rig, "GetChargingProfiles", p)["status"])
    rig.run(1)
    return status, rig.csms.of("ReportChargingProfiles")[before:]


def test_k09_get_charging_profiles_reports_the_installed_profiles_by_criteria() -> None:
    """K09: Accepted then ReportChargingProfiles with the profiles as the CSMS sent them,
    one report per EVSE, tbc on all but the last; criteria narrow the set; none left:
    NoProfiles and no report."""
    rig = Rig("2.0.1")
    p1 = profile201(1, "TxDefaultProfile", 0, [(0, 40_000.0), (600, 50_000.0)])
    p2 = profile201(2, "TxDefaultProfile", 1, [(0, 30_000.0)], kind="Relative")
    p3 = profile201(3, "ChargingStationMaxProfile", 0, [(0, 200.0)], unit="A")
    for evse, prof in ((0, p1), (1, p2), (0, p3)):
        assert set201(rig, evse, prof) == "Accepted"
    status, reports = get_profiles(rig, 7, {})
    assert status == "Accepted"
    assert [(r["requestId"], r["evseId"], r["chargingLimitSource"], r["tbc"],
             r["chargingProfile"]) for r in reports] == [
        (7, 0, "CSO", True, [p1, p3]), (7, 1, "CSO", False, [p2])]
    assert [r["chargingProfile"] for r in get_profiles(rig, 8, {}, evse=1)[1]] == [[p2]]
    assert [r["chargingProfile"] for r in get_profiles(
        rig, 9, {"chargingProfilePurpose": "ChargingStationMaxProfile"})[1]] == [[p3]]
    assert [r["chargingProfile"] for r in get_profiles(
        rig, 10, {"chargingProfileId": [2, 99]})[1]] == [[p2]]
    assert [r["chargingProfile"] for r in get_profiles(
        rig, 11, {"chargingProfilePurpose": "TxDefaultProfile", "stackLevel": 0})[1]] == [[p1]]
    assert get_profiles(rig, 12, {"stackLevel": 7}) == ("NoProfiles", [])
    assert get_profiles(rig, 13, {"chargingLimitSource": ["EMS"]}) == ("NoProfiles", [])
    assert get_profiles(rig, 14, {"chargingLimitSource": ["CSO"]}, evse=1)[0] == "Accepted"
    # a cleared profile is no longer reported
    assert clear201(rig, chargingProfileId=2) == "Accepted"
    assert get_profiles(rig, 15, {}, evse=1) == ("NoProfiles", [])
    assert rig.csms.violations == []


def external(rig: Rig, source: LimitSource, periods: list[tuple[int, float]], *,
             unit: str = "W", grid_critical: bool | None = None) -> None:
    rig.ctrl.set_external_limit(ExternalLimit(
        source, tuple(Period(s, lim) for s, lim in periods), unit,
        grid_critical=grid_critical), rig.link.now_ns)
    rig.link.pump()
    rig.collect()


def rate_changes(rig: Rig) -> list[dict[str, Any]]:
    return [e for e in rig.csms.of("TransactionEvent")
            if e["triggerReason"] == "ChargingRateChanged"]


def test_k12_external_limit_without_transaction_is_notified_and_caps_the_limits() -> None:
    """K12: an EMS limit set while no transaction runs: NotifyChargingLimit with its source
    and schedule; it caps the PLC limits, the schedule and the composite schedule (K08), and
    GetChargingProfiles reports it under its source (K09); no TransactionEvent."""
    rig = Rig("2.0.1")
    rig.plug()
    external(rig, LimitSource.EMS, [(0, 22_000.0), (3600, 40_000.0)], grid_critical=True)
    [note] = rig.csms.of("NotifyChargingLimit")
    assert note["chargingLimit"] == {"chargingLimitSource": "EMS", "isGridCritical": True}
    assert note["evseId"] == 0
    assert note["chargingSchedule"][0]["chargingSchedulePeriod"] == [
        {"startPeriod": 0, "limit": 22_000.0}, {"startPeriod": 3600, "limit": 40_000.0}]
    lim = last_limits(rig)
    assert (lim.max_power_w, lim.derating_reason) == (22_000.0, DeratingReason.OCPP_PROFILE)
    assert [(e.start_offset_s, e.max_power_w) for e in last_schedule(rig).entries] == [
        (0, 22_000.0), (3600, 40_000.0)]
    comp = ask(rig, "GetCompositeSchedule", {"duration": 7200, "evseId": 1,
                                             "chargingRateUnit": "W"})
    assert comp["schedule"]["chargingSchedulePeriod"] == [
        {"startPeriod": 0, "limit": 22_000.0}, {"startPeriod": 3600, "limit": 40_000.0}]
    status, [report] = get_profiles(rig, 3, {"chargingLimitSource": ["EMS"]})
    assert (status, report["chargingLimitSource"], report["evseId"]) == ("Accepted", "EMS", 0)
    assert report["chargingProfile"][0]["chargingProfilePurpose"] == \
        "ChargingStationExternalConstraints"
    # an update of the same source replaces it and is notified again
    external(rig, LimitSource.EMS, [(0, 11_000.0)])
    assert len(rig.csms.of("NotifyChargingLimit")) == 2
    assert last_limits(rig).max_power_w == 11_000.0
    assert "isGridCritical" not in rig.csms.of("NotifyChargingLimit")[1]["chargingLimit"]
    assert rig.csms.of("TransactionEvent") == [] and rig.csms.violations == []


def test_k11_external_limit_in_a_transaction_changes_the_rate_and_renegotiates() -> None:
    """K11: during a transaction the limit is notified, the transaction gets a
    TransactionEvent ChargingRateChanged, and the PLC a new schedule to renegotiate with
    (K16 path). The same limit again is no change (an EMS repeats itself): neither a second
    NotifyChargingLimit nor a second ChargingRateChanged."""
    rig = Rig("2.0.1")
    charging(rig)
    before = last_schedule(rig).schedule_id
    external(rig, LimitSource.SO, [(0, 200.0)], unit="A")
    assert [n["chargingLimit"]["chargingLimitSource"]
            for n in rig.csms.of("NotifyChargingLimit")] == ["SO"]
    [event] = rate_changes(rig)
    assert event["eventType"] == "Updated"
    tx_id = event["transactionInfo"]["transactionId"]
    assert rig.csms.of("TransactionEvent")[0]["transactionInfo"]["transactionId"] == tx_id
    assert last_limits(rig).max_current_a == 200.0
    sched = last_schedule(rig)
    assert sched.schedule_id != before and sched.renegotiate
    external(rig, LimitSource.SO, [(0, 200.0)], unit="A")
    assert len(rig.csms.of("NotifyChargingLimit")) == 1 and len(rate_changes(rig)) == 1
    # a second source caps too: the lower limit wins
    external(rig, LimitSource.EMS, [(0, 60_000.0)])
    lim = last_limits(rig)
    assert (lim.max_current_a, lim.max_power_w) == (200.0, 60_000.0)
    assert len(rate_changes(rig)) == 2 and rig.csms.violations == []


def test_k13_release_sends_cleared_charging_limit_and_restores_the_rate() -> None:
    """K13: the CSMS cannot clear an external limit (ClearChargingProfile matches nothing);
    its release by the external system sends ClearedChargingLimit and, during a transaction,
    ChargingRateChanged, and the hardware rating is back. Releasing nothing sends nothing."""
    rig = Rig("2.0.1")
    external(rig, LimitSource.EMS, [(0, 30_000.0)])
    charging(rig)
    assert last_limits(rig).max_power_w == 30_000.0
    assert clear201(rig, chargingProfileCriteria={
        "chargingProfilePurpose": "ChargingStationExternalConstraints"}) == "Unknown"
    assert clear201(rig, chargingProfileId=EXTERNAL_PROFILE_ID_BASE) == "Unknown"
    assert clear201(rig) == "Unknown"
    assert last_limits(rig).max_power_w == 30_000.0
    assert rig.ctrl.clear_external_limit(LimitSource.EMS, rig.link.now_ns)
    rig.link.pump()
    rig.collect()
    assert rig.csms.of("ClearedChargingLimit") == [{"chargingLimitSource": "EMS",
                                                     "evseId": 0}]
    assert len(rate_changes(rig)) == 1
    assert last_limits(rig).max_power_w == 150_000.0
    assert not rig.ctrl.clear_external_limit(LimitSource.EMS, rig.link.now_ns)
    assert not rig.ctrl.clear_external_limit(LimitSource.SO, rig.link.now_ns)
    rig.link.pump()
    assert len(rig.csms.of("ClearedChargingLimit")) == 1 and rig.csms.violations == []


def test_k12_k13_limits_set_and_released_offline_reach_the_csms_after_reconnect() -> None:
    """The CSMS cannot see an external limit otherwise: NotifyChargingLimit and
    ClearedChargingLimit raised offline are sent, in order, once the connection is back."""
    rig = Rig("2.0.1")
    rig.link.set_online(False)
    external(rig, LimitSource.EMS, [(0, 30_000.0)])
    assert rig.ctrl.clear_external_limit(LimitSource.EMS, rig.link.now_ns)
    rig.run(5)
    assert rig.csms.of("NotifyChargingLimit") == []
    rig.link.set_online(True)
    rig.run(5)
    assert [a for a in rig.csms.actions() if "ChargingLimit" in a] == [
        "NotifyChargingLimit", "ClearedChargingLimit"]
    assert rig.csms.violations == []


def test_external_limit_applies_in_16_without_messages() -> None:
    """1.6 has no external-limit messages: the limit still caps the charger."""
    rig = Rig("1.6")
    rig.plug()
    n = len(rig.csms.seen)
    external(rig, LimitSource.EMS, [(0, 25_000.0)])
    assert last_limits(rig).max_power_w == 25_000.0
    assert len(rig.csms.seen) == n
    with pytest.raises(ValueError):
        ExternalLimit(LimitSource.EMS, (Period(10, 1.0),))


NEEDS = EvChargingNeeds(ev_max_voltage_v=500.4, ev_max_current_a=250.0,
                        ev_max_power_w=150_000.0, soc_pct=40, full_soc_pct=100, bulk_soc_pct=80,
                        energy_capacity_wh=77_000.0, energy_request_wh=40_000.0,
                        departure_time_s=3600)


def test_k15_the_cars_charging_needs_go_to_the_csms_once_and_its_profile_applies() -> None:
    """K15: the car's ChargeParameterDiscovery values (plc.ev_limits) reach the CSMS in
    NotifyEVChargingNeeds (DC, whole units, departure as a date-time); the PLC republishing
    them with a new SOC sends nothing; the profile the CSMS answers with sets the schedule
    the car gets. 1.6 has no such message."""
    rig = Rig("2.0.1")
    rig.plug()
    rig.plc(NEEDS)
    rig.run(1)
    [note] = rig.csms.of("NotifyEVChargingNeeds")
    assert note["evseId"] == 1
    assert note["chargingNeeds"] == {
        "requestedEnergyTransfer": "DC",
        "departureTime": "2026-01-01T01:00:00Z",  # the rig starts at 00:00:00Z; + 3600 s
        "dcChargingParameters": {
            "evMaxCurrent": 250, "evMaxVoltage": 500, "evMaxPower": 150_000,
            "energyAmount": 40_000, "evEnergyCapacity": 77_000, "stateOfCharge": 40,
            "fullSoC": 100, "bulkSoC": 80}}
    rig.plc(replace(NEEDS, soc_pct=41))
    rig.run(1)
    assert len(rig.csms.of("NotifyEVChargingNeeds")) == 1
    # the CSMS's answer: a TxDefaultProfile for this EVSE (no transaction before energy flows)
    assert set201(rig, 1, profile201(4, "TxDefaultProfile", 0, [(0, 45_000.0)])) == "Accepted"
    assert [(e.start_offset_s, e.max_power_w) for e in last_schedule(rig).entries] == [
        (0, 45_000.0)]
    rig.unplug()
    rig.plug()
    rig.plc(replace(NEEDS, soc_pct=41))  # the next car: its needs are reported
    rig.run(1)
    assert len(rig.csms.of("NotifyEVChargingNeeds")) == 2
    assert rig.csms.violations == []
    rig16 = Rig("1.6")
    rig16.plug()
    rig16.plc(NEEDS)
    assert "NotifyEVChargingNeeds" not in rig16.csms.actions()


def test_k16_k17_renegotiation_from_the_csms_and_from_the_car() -> None:
    """K16: a TxProfile during the transaction gives the PLC a new schedule with
    `renegotiate` (the SECC sends EVSENotification ReNegotiation). K17: the car's new
    ChargeParameterDiscovery with other needs is reported again; the same needs are not."""
    rig = Rig("2.0.1")
    rig.plug()
    rig.plc(NEEDS)
    rig.ev_waits_for_auth()
    rig.token("TAG-OK")
    rig.power_on()
    rig.charge(2)
    [started] = [e for e in rig.csms.of("TransactionEvent") if e["eventType"] == "Started"]
    tx_id = started["transactionInfo"]["transactionId"]
    before = last_schedule(rig).schedule_id
    assert set201(rig, 1, profile201(5, "TxProfile", 0, [(0, 20_000.0)], kind="Relative",
                                     transactionId=tx_id)) == "Accepted"
    sched = last_schedule(rig)
    assert sched.schedule_id != before and sched.renegotiate
    assert [(e.start_offset_s, e.max_power_w) for e in sched.entries] == [(0, 20_000.0)]
    assert last_limits(rig).max_power_w == 20_000.0
    rig.plc(replace(NEEDS, soc_pct=45))  # the car renegotiates with the same needs
    rig.run(1)
    assert len(rig.csms.of("NotifyEVChargingNeeds")) == 1
    rig.plc(replace(NEEDS, soc_pct=46, energy_request_wh=30_000.0))  # K17: new needs
    rig.run(1)
    notes = rig.csms.of("NotifyEVChargingNeeds")
    assert len(notes) == 2
    assert notes[1]["chargingNeeds"]["dcChargingParameters"]["energyAmount"] == 30_000
    assert notes[1]["chargingNeeds"]["dcChargingParameters"]["stateOfCharge"] == 46
    assert rig.csms.violations == []


def test_external_limits_survive_a_restart_and_a_restated_limit_costs_no_store_write(
        tmp_path: Any) -> None:
    """K11-K13 after a power cut: the EMS's limit (persisted like the K07 profiles) still
    caps the station that comes back, until the EMS releases it; a restart must not lift a
    grid limit. The same flat limit said again (an EMS repeats itself every second) keeps
    the installed profile, so the store is not written each time."""
    db = str(tmp_path / "ctrl.db")
    rig = Rig("2.0.1", db=db)
    external(rig, LimitSource.EMS, [(0, 22_000.0)])
    writes: list[str] = []
    put = rig.store.put
    rig.store.put = lambda k, v: (writes.append(k), put(k, v))[1]  # type: ignore[method-assign]
    rig.run(3)
    external(rig, LimitSource.EMS, [(0, 22_000.0)])
    assert "charging_profiles" not in writes
    rig.store.close()
    again = Rig("2.0.1", db=db)
    again.plug()
    assert last_limits(again).max_power_w == 22_000.0
    answer = ask(again, "GetChargingProfiles", {"requestId": 3, "chargingProfile": {
        "chargingProfilePurpose": "ChargingStationExternalConstraints"}})
    assert answer == {"status": "Accepted"}
    (report,) = again.csms.of("ReportChargingProfiles")
    assert report["chargingLimitSource"] == "EMS"
    assert again.ctrl.clear_external_limit(LimitSource.EMS, again.link.now_ns)
    again.link.pump()
    again.collect()
    assert last_limits(again).max_power_w == 150_000.0
    again.store.close()
    third = Rig("2.0.1", db=db)
    third.plug()
    assert last_limits(third).max_power_w == 150_000.0  # the release is kept too
    assert again.csms.violations == [] and third.csms.violations == []


def test_k15_the_cars_charging_profile_goes_to_the_csms_as_notify_ev_charging_schedule(
        ) -> None:
    """K15/K17: the ChargingProfile the car sends in PowerDeliveryReq (contract
    plc.ev_charging_profile, added in 1.2) reaches the CSMS as NotifyEVChargingSchedule,
    through the real contract binding; 1.6 has no such message and sends nothing."""
    from evse.contract import values as cv
    from evse.controller.contract_binding import ContractBinding

    value = cv.PlcEvChargingProfile(schedule_id=3, entries=(
        cv.ScheduleEntry(start_offset_s=0, max_power_w=50_000.0),
        cv.ScheduleEntry(start_offset_s=600, max_power_w=30_000.0)))
    (event,) = ContractBinding().events(value)
    for version in ("2.0.1", "1.6"):
        rig = Rig(version)
        rig.plug()
        rig.ev_waits_for_auth()
        rig.token("TAG-OK")
        before = len(rig.csms.seen)
        rig.plc(event)
        if version == "1.6":
            assert len(rig.csms.seen) == before
            continue
        (notify,) = rig.csms.of("NotifyEVChargingSchedule")
        assert notify["evseId"] == 1 and notify["timeBase"].startswith("2026-01-01T")
        assert notify["chargingSchedule"] == {
            "id": 3, "chargingRateUnit": "W", "chargingSchedulePeriod": [
                {"startPeriod": 0, "limit": 50_000.0}, {"startPeriod": 600, "limit": 30_000.0}]}
        assert rig.csms.violations == []

"""K15/K16 through the whole station in virtual time: the car's ChargeParameterDiscovery
reaches the CSMS as NotifyEVChargingNeeds over the real SECC, contract and controller, and a
CSMS TxProfile makes the real car renegotiate (2.0.1)."""

from __future__ import annotations

from evse.runtime.config import StationConfig
from evse.runtime.dc_station import DcStation, SessionConfig
from evse.runtime.ocpp_side import OcppSide

S = 1_000_000_000


def test_k15_k16_station_reports_the_cars_needs_and_renegotiates_a_csms_profile() -> None:
    st = _charging_session("generic", None)
    st.sched.run_for(3 * S)
    side = st.controller
    assert isinstance(side, OcppSide)
    csms = side.csms
    [note] = csms.of("NotifyEVChargingNeeds")
    dc = note["chargingNeeds"]["dcChargingParameters"]
    assert note["chargingNeeds"]["requestedEnergyTransfer"] == "DC" and note["evseId"] == 1
    # the simulated car's own ChargeParameterDiscoveryReq limits
    ev = st.ev_profile.battery
    assert (dc["evMaxVoltage"], dc["evMaxCurrent"]) == (round(ev.max_voltage_v),
                                                       round(ev.max_current_a))
    # CPD comes before the energy transfer that starts the transaction (TxStartPoint)
    order = [s.action if s.action != "TransactionEvent" else s.payload["eventType"]
             for s in csms.seen]
    assert order.index("NotifyEVChargingNeeds") < order.index("Started")
    (tx_id,) = csms.transactions
    csms.call("SetChargingProfile", {"evseId": 1, "chargingProfile": {
        "id": 7, "transactionId": tx_id, "stackLevel": 1,
        "chargingProfilePurpose": "TxProfile", "chargingProfileKind": "Relative",
        "chargingSchedule": [{"id": 7, "chargingRateUnit": "W",
                              "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 20000}]}]}},
        st.sched.now_ns())
    before = sum(1 for line in st.sched.trace.lines if '"charge_parameter_req"' in line)
    st.sched.run_for(10 * S)
    after = sum(1 for line in st.sched.trace.lines if '"charge_parameter_req"' in line)
    assert after > before, "the car never renegotiated"
    plant = st.world.plant
    assert plant.connector_voltage_v * plant.connector_current_a < 20_000 * 1.05
    # the renegotiation restated the same needs: not reported again
    assert len(csms.of("NotifyEVChargingNeeds")) == 1
    assert csms.violations == []
    st.close()


def _charging_plan_session(renegotiate_after_s: float | None) -> DcStation:
    """An ISO-2 car that states its plan in PowerDeliveryReq(Start) (profile
    iso_charging_plan: 20 kW, 10 kW after 600 s), charging under 2.0.1."""
    return _charging_session("iso_charging_plan", renegotiate_after_s)


def _charging_session(ev_profile: str, renegotiate_after_s: float | None) -> DcStation:
    """An ISO-2 car of `ev_profile` charging (over 50 A) under OCPP 2.0.1."""
    st = DcStation(StationConfig(), SessionConfig(protocol="iso2", ocpp="2.0.1", charge_s=120,
                                                  ev_profile=ev_profile))
    if renegotiate_after_s is not None:
        st.ev_profile.renegotiate_after_ns = round(renegotiate_after_s * S)
    st.start()
    st.sched.run_until(1 * S)
    st.plug_in()
    assert st.sched.run_until_true(
        lambda: st.secc is not None and st.secc.state == "charging"
        and st.world.plant.connector_current_a > 50, limit_ns=60 * S)
    return st


def _plans(st: DcStation) -> list[tuple[int, list[tuple[int, float]]]]:
    side = st.controller
    assert isinstance(side, OcppSide)
    return [(n["chargingSchedule"]["id"],
             [(p["startPeriod"], p["limit"]) for p in n["chargingSchedule"][
                 "chargingSchedulePeriod"]])
            for n in side.csms.of("NotifyEVChargingSchedule")]


def test_K16_the_cars_plan_after_a_csms_renegotiation_is_notified_again() -> None:
    """K16: a CSMS TxProfile makes the car renegotiate; its new PowerDeliveryReq(Start)
    ChargingProfile (contract plc.ev_charging_profile) reaches the CSMS as a second
    NotifyEVChargingSchedule, for the schedule the car now follows (a new
    SAScheduleTupleID)."""
    st = _charging_plan_session(None)
    st.sched.run_for(3 * S)
    plan = [(0, 20_000.0), (600, 10_000.0)]
    assert [p for _, p in _plans(st)] == [plan]
    side = st.controller
    assert isinstance(side, OcppSide)
    (tx_id,) = side.csms.transactions
    side.csms.call("SetChargingProfile", {"evseId": 1, "chargingProfile": {
        "id": 7, "transactionId": tx_id, "stackLevel": 1,
        "chargingProfilePurpose": "TxProfile", "chargingProfileKind": "Relative",
        "chargingSchedule": [{"id": 7, "chargingRateUnit": "W",
                              "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 20000}]}]}},
        st.sched.now_ns())
    st.sched.run_for(10 * S)
    plans = _plans(st)
    assert [p for _, p in plans] == [plan, plan]
    assert plans[0][0] != plans[1][0]  # the renegotiated schedule's id
    assert side.csms.violations == []
    st.close()


def test_K17_the_cars_plan_after_its_own_renegotiation_is_notified_again() -> None:
    """K17: the car renegotiates on its own (PowerDeliveryReq Renegotiate after 5 s of
    charging); its plan in the PowerDeliveryReq(Start) that follows is notified again."""
    st = _charging_plan_session(5.0)
    before = sum(1 for line in st.sched.trace.lines if '"charge_parameter_req"' in line)
    st.sched.run_for(15 * S)
    after = sum(1 for line in st.sched.trace.lines if '"charge_parameter_req"' in line)
    assert after > before, "the car never renegotiated"
    assert [p for _, p in _plans(st)] == [[(0, 20_000.0), (600, 10_000.0)]] * 2
    side = st.controller
    assert isinstance(side, OcppSide)
    assert side.csms.violations == []
    st.close()

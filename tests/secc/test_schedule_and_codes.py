"""The schedule the car is offered and held to (SAScheduleTupleID, DepartureTime horizon,
ChargingProfile check), renegotiation by either path, and the specific FAILED codes for
bad charge parameters and service selections (issue 11 item 5, issue 16)."""

from __future__ import annotations

from typing import Any

import pytest

from evse.ev.sim_env import SimEnvConfig
from evse.secc.env import AppProtocol, SessionEndReason
from evse.secc.units import to_float
from exi import din, iso2
from tests.secc.helpers import MS, ScriptedCar

ISO, DIN = AppProtocol.ISO15118_2, AppProtocol.DIN70121


def cpd(car: ScriptedCar, *, max_current_a: float = 200.0, departure_s: int | None = None,
        ) -> Any:
    m = car.m
    kw: dict[str, Any] = {}
    if departure_s is not None:
        kw["DepartureTime"] = departure_s
    params = m.DC_EVChargeParameterType(
        DC_EVStatus=car.ev_status(), EVMaximumCurrentLimit=car.pv(max_current_a, "A"),
        EVMaximumVoltageLimit=car.pv(450, "V"), **kw)
    if car.protocol is DIN:
        return car.send(din.ChargeParameterDiscoveryReqType(
            EVRequestedEnergyTransferType=din.EVRequestedEnergyTransferType.DC_extended,
            EVChargeParameter=params))
    return car.send(iso2.ChargeParameterDiscoveryReqType(
        RequestedEnergyTransferMode=iso2.EnergyTransferModeType.DC_extended,
        EVChargeParameter=params))


def power_delivery(car: ScriptedCar, progress: str, tuple_id: int,
                   profile: list[tuple[int, float]] | None = None) -> Any:
    par = iso2.DC_EVPowerDeliveryParameterType(DC_EVStatus=car.ev_status(),
                                               ChargingComplete=False)
    prof = None if profile is None else iso2.ChargingProfileType(ProfileEntry=[
        iso2.ProfileEntryType(ChargingProfileEntryStart=t,
                              ChargingProfileEntryMaxPower=car.pv(p, "W"))
        for t, p in profile])
    return car.send(iso2.PowerDeliveryReqType(
        ChargeProgress=iso2.chargeProgressType[progress], SAScheduleTupleID=tuple_id,
        ChargingProfile=prof, EVPowerDeliveryParameter=par))


def to_precharge(car: ScriptedCar, **cpd_kw: Any) -> Any:
    car.through_auth()
    res = cpd(car, **cpd_kw)
    while car.cable_check().EVSEProcessing.value != "Finished":
        car.advance(200 * MS)
    for _ in range(20):
        car.precharge()
        car.advance(100 * MS)
    return res


def intervals(res: Any) -> list[tuple[int, int | None, float]]:
    (tup,) = res.SASchedules.SAScheduleTuple
    return [(e.TimeInterval.start, e.TimeInterval.duration, to_float(e.PMax))
            for e in tup.PMaxSchedule.PMaxScheduleEntry]


# ------------------------------------------------------------ SAScheduleTupleID in force
def test_current_demand_names_the_tuple_offered_and_chosen() -> None:
    car = ScriptedCar(ISO, SimEnvConfig(schedule_id=7))
    res = to_precharge(car)
    assert res.SASchedules.SAScheduleTuple[0].SAScheduleTupleID == 7
    assert power_delivery(car, "Start", 7).ResponseCode.value == "OK"
    cd = car.current_demand()
    assert cd.ResponseCode.value == "OK" and cd.SAScheduleTupleID == 7


def test_a_tuple_id_never_offered_is_tariff_selection_invalid() -> None:
    """[V2G2-479]."""
    car = ScriptedCar(ISO, SimEnvConfig(schedule_id=7))
    to_precharge(car)
    res = power_delivery(car, "Start", 1)
    assert res.ResponseCode.value == "FAILED_TariffSelectionInvalid"
    assert car.closed is not None and car.env.ended is SessionEndReason.PARAMETER_ERROR
    assert "power_delivery" not in car.env.call_names()  # contactors never asked to close


def test_a_charging_profile_above_the_offered_pmax_is_refused() -> None:
    """[V2G2-224] a profile within the PMax is accepted, [V2G2-225] one above it is
    FAILED_ChargingProfileInvalid."""
    cfg = SimEnvConfig(schedule_entries=((0, 50_000.0), (600, 20_000.0)))
    car = ScriptedCar(ISO, cfg)
    to_precharge(car)
    # 50 kW from 0 s is fine, but still 50 kW after 600 s is above the 20 kW step
    res = power_delivery(car, "Start", 1, [(0, 50_000.0)])
    assert res.ResponseCode.value == "FAILED_ChargingProfileInvalid"
    assert car.env.ended is SessionEndReason.PARAMETER_ERROR


def test_a_charging_profile_within_the_pmax_starts_charging() -> None:
    cfg = SimEnvConfig(schedule_entries=((0, 50_000.0), (600, 20_000.0)))
    car = ScriptedCar(ISO, cfg)
    to_precharge(car)
    res = power_delivery(car, "Start", 1, [(0, 50_000.0), (600, 20_000.0)])
    assert res.ResponseCode.value == "OK"
    assert car.current_demand().ResponseCode.value == "OK"


# ------------------------------------------------------------ DepartureTime horizon
def test_the_schedule_covers_24_h_without_departure_time() -> None:
    """[V2G2-304]."""
    car = ScriptedCar(ISO)
    car.through_auth()
    assert intervals(cpd(car)) == [(0, 86_400, 150_000.0)]


def test_the_schedule_ends_at_the_departure_time() -> None:
    """[V2G2-303]: the intervals add up to the DepartureTime the car asked for; a step
    after it is not offered."""
    cfg = SimEnvConfig(schedule_entries=((0, 50_000.0), (1800, 20_000.0), (7200, 90_000.0)))
    car = ScriptedCar(ISO, cfg)
    car.through_auth()
    got = intervals(cpd(car, departure_s=3600))
    assert got == [(0, None, 50_000.0), (1800, 1800, 20_000.0)]
    assert got[-1][0] + (got[-1][1] or 0) == 3600


# ------------------------------------------------------------ renegotiation, both paths
def charging_then_renegotiate(car: ScriptedCar) -> None:
    to_precharge(car)
    assert power_delivery(car, "Start", 1).ResponseCode.value == "OK"
    for _ in range(5):
        car.current_demand()
        car.advance(100 * MS)
    assert power_delivery(car, "Renegotiate", 1).ResponseCode.value == "OK"
    assert cpd(car).ResponseCode.value == "OK"


@pytest.mark.req("P2-11")
def test_renegotiation_straight_to_power_delivery_vw_path() -> None:
    car = ScriptedCar(ISO)
    charging_then_renegotiate(car)
    assert power_delivery(car, "Start", 1).ResponseCode.value == "OK"
    assert car.current_demand().ResponseCode.value == "OK"
    assert car.env.call_names().count("start_cable_check") == 1


@pytest.mark.req("P2-11")
def test_renegotiation_through_cable_check_and_precharge_dspace_path() -> None:
    """The dSPACE test system's order after Renegotiate (capture
    ISO-2_DC_Renegotiation_DS5366_RiseV2G): CPD, CableCheck, PreCharge, PowerDelivery.
    Answered without a second isolation test or precharge: the output stays on, PreCharge
    only sets a <= 2 A setpoint."""
    car = ScriptedCar(ISO)
    charging_then_renegotiate(car)
    calls_before = len(car.env.calls)
    res = car.cable_check()
    assert res.ResponseCode.value == "OK" and res.EVSEProcessing.value == "Finished"
    pre = car.precharge(380.0)
    assert pre.ResponseCode.value == "OK"
    assert power_delivery(car, "Start", 1).ResponseCode.value == "OK"
    assert car.current_demand().ResponseCode.value == "OK"
    after = car.env.calls[calls_before:]
    names = [c[0] for c in after]
    assert "start_cable_check" not in names and "precharge" not in names
    setpoint = next(c for c in after if c[0] == "current_demand")
    assert setpoint[2][1] <= 2.0  # the precharge current limit


# ------------------------------------------------------------ parameter errors
@pytest.mark.parametrize("proto", [ISO, DIN])
def test_negative_ev_maximum_current_is_wrong_charge_parameter(proto: AppProtocol) -> None:
    """ISO 15118-2 [V2G2-477]; DIN SPEC 70121 has the same code."""
    car = ScriptedCar(proto)
    car.through_auth()
    res = cpd(car, max_current_a=-10.0)
    assert res.ResponseCode.value == "FAILED_WrongChargeParameter"
    assert car.closed is not None and car.env.ended is SessionEndReason.PARAMETER_ERROR


def payment(car: ScriptedCar, service_ids: list[int]) -> Any:
    m = car.m
    cls = (m.ServicePaymentSelectionReqType if car.protocol is DIN
           else m.PaymentServiceSelectionReqType)
    car.setup()
    car.discovery()
    return car.send(cls(SelectedPaymentOption=m.paymentOptionType.ExternalPayment,
                        SelectedServiceList=m.SelectedServiceListType(
                            SelectedService=[m.SelectedServiceType(ServiceID=s)
                                             for s in service_ids])))


@pytest.mark.parametrize(("proto", "ids", "code"), [
    (ISO, [1, 65535], "FAILED_ServiceSelectionInvalid"),  # [V2G2-467]
    (ISO, [65535], "FAILED_NoChargeServiceSelected"),  # [V2G2-804]
    (DIN, [1, 65535], "FAILED_ServiceSelectionInvalid"),  # [V2G-DC-396]
    (DIN, [65535], "FAILED_ServiceSelectionInvalid"),  # DIN has no NoChargeServiceSelected
])
@pytest.mark.req("PLC-5.1")
def test_service_selection_errors_get_their_codes(proto: AppProtocol, ids: list[int],
                                                  code: str) -> None:
    car = ScriptedCar(proto)
    res = payment(car, ids)
    assert res.ResponseCode.value == code
    assert car.closed is not None and car.env.ended is SessionEndReason.PARAMETER_ERROR


@pytest.mark.parametrize("proto", [ISO, DIN])
@pytest.mark.req("PLC-5.1")
def test_the_charge_service_alone_is_accepted(proto: AppProtocol) -> None:
    car = ScriptedCar(proto)
    assert payment(car, [1]).ResponseCode.value == "OK"



# ------------------------------------------------------------ value comparison
def test_a_new_id_for_the_same_power_over_time_is_no_change() -> None:
    from evse.secc.env import Schedule, ScheduleEntry
    from evse.secc.schedule import Offered, rebase, same_in_value
    s = 1_000_000_000
    served = Offered(Schedule(1, (ScheduleEntry(0, 50_000.0), ScheduleEntry(3600, 90_000.0)),
                              86_400), 100 * s)
    # the controller republishes 10 s later with a new id: offsets shifted by 10 s
    later = Offered(Schedule(2, (ScheduleEntry(0, 50_000.0), ScheduleEntry(3590, 90_000.0)),
                             86_400), 110 * s)
    assert same_in_value(served, later, 111 * s)
    changed = Offered(Schedule(3, (ScheduleEntry(0, 20_000.0),), 86_400), 110 * s)
    assert not same_in_value(served, changed, 111 * s)
    moved = Offered(Schedule(4, (ScheduleEntry(0, 50_000.0), ScheduleEntry(1800, 90_000.0)),
                             86_400), 110 * s)
    assert not same_in_value(served, moved, 111 * s)
    # served 600 s later, the car is told the step comes 3000 s from now
    assert [(e.start_s, e.max_power_w) for e in rebase(served, 700 * s).entries] == [
        (0, 50_000.0), (3000, 90_000.0)]

"""Whatever the car sends, the SECC answers with a complete response or ends the session
cleanly; it never raises and never hangs. Plus status mapping per protocol."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import exi
from evse.ev.profiles import PROFILES
from evse.ev.sim_env import SimEnvConfig
from evse.secc.core import SendPayload, check_response_time
from evse.secc.env import AppProtocol, EvseFault, SessionEndReason
from tests.secc.helpers import MS, ScriptedCar, session


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=64), proto=st.sampled_from(list(AppProtocol)),
       flip=st.integers(0, 400))
def test_any_payload_is_answered_or_ends_the_session(data: bytes, proto: AppProtocol,
                                                     flip: int) -> None:
    """Invariant: any bytes -> a decodable response of the matching protocol, or a clean
    end (CloseConnection + env.session_ended), never an exception."""
    car = ScriptedCar(proto)
    car.setup()
    # either random bytes or a valid ServiceDiscoveryReq with one bit flipped
    msg = car.m.V2G_Message(Header=car.m.MessageHeaderType(SessionID=car.session_id),
                            Body=car.m.BodyType(BodyElement=car.m.ServiceDiscoveryReqType()))
    valid = bytearray(exi.encode(car.schema, msg))
    if flip < len(valid) * 8:
        valid[flip // 8] ^= 1 << (flip % 8)
    for payload in (data, bytes(valid)):
        if car.closed:
            break
        out = car.send_raw(payload)
        for o in out:
            if isinstance(o, SendPayload):
                exi.decode(car.schema, o.payload)
    assert car.closed is None or car.env.ended is not None


@pytest.mark.parametrize("name", PROFILES)
def test_every_car_profile_completes_a_session(name: str) -> None:
    r, _, _, _ = session(name)
    assert r.ev.ok, (name, r.ev.reason)


@pytest.mark.parametrize("fault,din_code,iso_code", [
    (EvseFault.MALFUNCTION, "EVSE_Malfunction", "EVSE_Malfunction"),
    (EvseFault.UTILITY_INTERRUPT, "EVSE_UtilityInterruptEvent", "EVSE_UtilityInterruptEvent"),
    (EvseFault.ISOLATION, "EVSE_EmergencyShutdown", "EVSE_EmergencyShutdown"),
    (EvseFault.EMERGENCY, "EVSE_EmergencyShutdown", "EVSE_EmergencyShutdown"),
])
@pytest.mark.req("PLC-6.6")
def test_hard_faults_map_to_status_codes_and_failed(fault: EvseFault, din_code: str,
                                                    iso_code: str) -> None:
    for proto, code in ((AppProtocol.DIN70121, din_code), (AppProtocol.ISO15118_2, iso_code)):
        car = ScriptedCar(proto)
        car.to_charging()
        car.env.config.fault_at_ns = car.now_ns
        car.env.config.fault = fault
        res = car.current_demand()
        assert res.ResponseCode.value == "FAILED"
        assert res.DC_EVSEStatus.EVSEStatusCode.value == code
        if fault is EvseFault.ISOLATION:
            assert res.DC_EVSEStatus.EVSEIsolationStatus.value == "Fault"
        assert car.closed is not None and car.closed.reason is SessionEndReason.EVSE_FAULT


@pytest.mark.req("PLC-6.6")
def test_controlled_shutdown_is_status_in_din_and_notification_in_iso() -> None:
    for proto in AppProtocol:
        car = ScriptedCar(proto)
        car.to_charging()
        car.env.config.fault_at_ns = car.now_ns
        car.env.config.fault = EvseFault.SHUTDOWN
        res = car.current_demand()
        st_ = res.DC_EVSEStatus
        assert res.ResponseCode.value == "OK"
        assert st_.EVSEStatusCode.value == "EVSE_Shutdown"
        expected = "None" if proto is AppProtocol.DIN70121 else "StopCharging"
        assert st_.EVSENotification.value == expected
        assert ("current_demand", car.now_ns, (380.0, 0.0)) in car.env.calls  # derated to 0


def test_iso_service_detail_and_metering_receipt_are_answered() -> None:
    from exi import iso2
    car = ScriptedCar(AppProtocol.ISO15118_2)
    car.setup()
    car.discovery()
    assert car.send(iso2.ServiceDetailReqType(ServiceID=1)).ResponseCode.value == "OK"
    assert car.closed is None  # the charge service's detail keeps the session
    car.payment()
    car.auth()
    car.cpd()
    while car.cable_check().EVSEProcessing.value != "Finished":
        car.advance(200 * MS)
    for _ in range(30):
        car.precharge()
        car.advance(100 * MS)
    car.power_delivery(True)
    car.current_demand()
    res = car.send(iso2.MeteringReceiptReqType(
        SessionID=car.session_id, MeterInfo=iso2.MeterInfoType(MeterID="M1", MeterReading=5)))
    assert res.ResponseCode.value == "OK"
    assert car.env.pnc[-1].kind.value == "MeteringReceipt"


@pytest.mark.req("ISO15118-4:TC_SECC_CMN_VTB_ServiceDetail")
def test_iso_service_detail_for_a_service_not_offered_fails_and_ends_the_session() -> None:
    """FAILED_ServiceIDInvalid, and as every FAILED answer the end of the session (TCP
    closed), which ISO 15118-4 checks within par_CMN_TCP_Connection_Termination_Timeout."""
    from exi import iso2
    car = ScriptedCar(AppProtocol.ISO15118_2)
    car.setup()
    car.discovery()
    bad = car.send(iso2.ServiceDetailReqType(ServiceID=99))
    assert bad.ResponseCode.value == "FAILED_ServiceIDInvalid"
    assert car.closed is not None


def test_a_late_current_demand_answer_is_reported_as_an_overrun() -> None:
    over = check_response_time("CurrentDemandRes", 0, 30 * MS, AppProtocol.DIN70121)
    assert over is not None and over.budget_ns == 25 * MS
    assert check_response_time("CurrentDemandRes", 0, 20 * MS, AppProtocol.DIN70121) is None
    assert check_response_time("PowerDeliveryRes", 0, 2_000 * MS, AppProtocol.ISO15118_2) is None


@pytest.mark.req("PLC-5.6")
def test_slow_power_path_start_is_answered_within_the_din_budget() -> None:
    r, _, _, _ = session("din_only", env_config=SimEnvConfig(output_enable_delay_ns=1_000 * MS))
    assert r.ev.ok, r.ev.reason
    assert not [o for o in r.secc_outputs if type(o).__name__ == "ResponseOverrun"]

"""One test per quirk registry entry (the entry names its test)."""

from __future__ import annotations

import sys

import pytest

from evse.ev.profiles import profile
from evse.ev.sim_env import SimEnvConfig
from evse.secc.env import AppProtocol, SessionEndReason
from evse.secc.quirks import QUIRKS, Deviation, QuirkContext, find
from evse.secc.units import to_float
from tests.secc.helpers import MS, ScriptedCar, responses, session


def test_every_quirk_names_an_existing_test() -> None:
    here = sys.modules[__name__]
    for q in QUIRKS:
        assert callable(getattr(here, q.test, None)), f"{q.name}: missing {q.test}"
        assert q.source and q.tolerance


def test_a_quirk_does_not_apply_outside_its_states() -> None:
    ctx = QuirkContext(b"\x01", AppProtocol.ISO15118_2, "authorization")
    assert find(Deviation.EARLY_SESSION_STOP, ctx) is None


def test_audi_q4_session_stop_after_session_setup_is_answered_ok() -> None:
    r, env, core, _ = session("audi_q4_stop_early")
    assert r.ev.ok
    other = profile("audi_q4_stop_early")
    other.evccid = bytes.fromhex("0a0b0c0d0e0f")  # same behaviour from an unknown car
    r2, _, _, _ = session(ev_profile=other)
    assert not r2.ev.ok and "FAILED_SequenceError" in r2.ev.reason
    assert responses(r.secc_outputs, "iso2")[-1].ResponseCode.value == "OK"
    assert env.ended is SessionEndReason.EV_STOP


def test_early_session_stop_without_a_quirk_is_a_sequence_error() -> None:
    car = ScriptedCar(AppProtocol.ISO15118_2)
    car.through_payment()
    res = car.session_stop()  # in authorization: no registry entry covers it
    assert res.ResponseCode.value == "FAILED_SequenceError"


def test_session_stop_after_cpd_is_answered_ok() -> None:
    car = ScriptedCar(AppProtocol.DIN70121)
    car.through_cpd()
    assert car.session_stop().ResponseCode.value == "OK"
    assert car.closed is not None and car.closed.reason is SessionEndReason.EV_STOP


def test_session_stop_after_cable_check_is_answered_ok() -> None:
    car = ScriptedCar(AppProtocol.ISO15118_2)
    car.through_cpd()
    while car.cable_check().EVSEProcessing.value != "Finished":
        car.advance(200 * MS)
    assert car.session_stop().ResponseCode.value == "OK"


def test_ev_not_ready_in_cpd_is_not_an_error() -> None:
    r, _, core, _ = session("vw_id4")
    assert r.ev.ok, r.ev.reason
    assert any(q.deviation is Deviation.EV_NOT_READY_BEFORE_CABLE_CHECK
               for q in core.handler.quirks_applied)  # type: ignore[union-attr]


def test_negative_target_current_is_clamped_not_failed() -> None:
    r, env, _, _ = session("skoda_enyaq")
    assert r.ev.ok, r.ev.reason
    first = next(c for c in env.calls if c[0] == "current_demand")
    assert first[2][1] == 0.0


def test_repeated_cpd_is_answered_again() -> None:
    car = ScriptedCar(AppProtocol.DIN70121, evccid=bytes.fromhex("e00ee1ffd3e2"))
    car.through_auth()
    assert car.cpd().ResponseCode.value == "OK"
    again = car.cpd()
    assert again.ResponseCode.value == "OK"
    assert again.EVSEChargeParameter.EVSEMaximumPowerLimit is not None


def test_repeated_cpd_from_a_car_without_the_quirk_is_a_sequence_error() -> None:
    car = ScriptedCar(AppProtocol.DIN70121)
    car.through_auth()
    car.cpd()
    assert car.cpd().ResponseCode.value == "FAILED_SequenceError"


@pytest.mark.req("PLC-5.1")
def test_session_setup_accepts_short_session_ids() -> None:
    for sid in (b"", b"\x00\x00\x00\x00", b"\x00" * 6, bytes.fromhex("6f2ddfd326470bf4")):
        car = ScriptedCar(AppProtocol.DIN70121)
        res = car.setup(session_id=sid)
        assert res.ResponseCode.value == "OK_NewSessionEstablished"
        assert len(car.session_id) == 8
    r, _, _, _ = session("tesla_short_session_id")
    assert r.ev.ok, r.ev.reason


def test_din_charger_stop_uses_status_code_never_notification() -> None:
    p = profile("din_only")
    p.charge_for_ns = 60_000 * MS
    r, _, _, _ = session(ev_profile=p, env_config=SimEnvConfig(limits_lost_at_ns=8_000 * MS))
    cds = [b for b in responses(r.secc_outputs, "din") if hasattr(b, "EVSEPresentCurrent")]
    assert any(b.DC_EVSEStatus.EVSEStatusCode.value == "EVSE_Shutdown" for b in cds)
    assert all(b.DC_EVSEStatus.EVSENotification.value == "None" for b in cds)
    assert r.ev.reason == "EVSE asked to stop"


def test_ev_sim_tls_then_tcp_profile_completes_a_session() -> None:
    # The SDP part (TLS asked, TCP offered under `allow`) is evse/sdp's; here the same
    # car must then complete its session over the plain transport.
    r, _, _, _ = session("vw_id4")
    assert r.ev.ok, r.ev.reason


@pytest.mark.req("P0-2", "PLC-5.5")
def test_present_voltage_is_reported_as_measured_through_the_whole_precharge() -> None:
    r, env, _, ev = session("din_only")
    pre = [b for b in responses(r.secc_outputs, "din") if type(b).__name__ == "PreChargeResType"]
    assert pre and all(to_float(b.EVSEPresentVoltage) >= 0 for b in pre)


@pytest.mark.parametrize("proto", [AppProtocol.ISO15118_2, AppProtocol.DIN70121])
@pytest.mark.req("PLC-5.6")
def test_power_delivery_stop_right_after_authorization_is_honoured(proto: AppProtocol) -> None:
    """A car that gives up after authorization with PowerDelivery(Stop) (Hyundai Ioniq
    28kWh bench capture) is answered OK, not FAILED_SequenceError, and may end."""
    car = ScriptedCar(proto)
    car.through_auth()
    res = car.power_delivery(False)
    assert res.ResponseCode.value == "OK"
    assert car.session_stop().ResponseCode.value == "OK"
    assert car.env.ended is SessionEndReason.EV_STOP

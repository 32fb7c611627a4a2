"""Full DIN 70121 and ISO 15118-2 DC sessions in virtual time: EV sim <-> SECC <-> sim env."""

from __future__ import annotations

from pathlib import Path

import pytest

from evse.ev.profiles import profile
from evse.ev.sim_env import SimEnvConfig
from evse.secc.core import CloseConnection, ResponseOverrun
from evse.secc.env import AppProtocol, SessionEndReason, StationRequest
from evse.secc.session import JsonFileSessionStore
from tests.secc.helpers import MS, S, responses, session


@pytest.mark.parametrize("name,proto", [("din_only", AppProtocol.DIN70121),
                                        ("iso_only", AppProtocol.ISO15118_2)])
@pytest.mark.req("PLC-5.1", "PLC-5.8")
def test_full_session_charges_and_ends_cleanly(name: str, proto: AppProtocol) -> None:
    r, env, core, ev = session(name)
    assert r.ev.ok, r.ev.reason
    assert r.ev.protocol is proto
    assert r.ev.current_demands > 20
    assert env.ended is SessionEndReason.EV_STOP
    assert isinstance(r.secc_outputs[-1], CloseConnection)
    assert not [o for o in r.secc_outputs if isinstance(o, ResponseOverrun)]
    names = env.call_names()
    for step in ("request_authorization", "start_cable_check", "precharge",
                 "power_delivery", "current_demand", "start_welding_detection",
                 "session_ended"):
        assert step in names


@pytest.mark.req("P2-11")
def test_iso_renegotiation_by_the_car_returns_to_the_loop() -> None:
    p = profile("iso_only")
    p.renegotiate_after_ns = 1 * S
    p.charge_for_ns = 3 * S
    r, env, core, _ = session(ev_profile=p)
    assert r.ev.ok, r.ev.reason
    assert env.call_names().count("start_cable_check") == 1  # no second cable check


@pytest.mark.req("P2-11")
def test_charger_initiated_renegotiation_is_notified_in_iso() -> None:
    cfg = SimEnvConfig(station_request_at_ns=8 * S, station_request=StationRequest.RENEGOTIATE)
    p = profile("iso_only")
    p.charge_for_ns = 10 * S
    r, env, core, _ = session(ev_profile=p, env_config=cfg)
    notes = {b.DC_EVSEStatus.EVSENotification.value
             for b in responses(r.secc_outputs, "iso2") if hasattr(b, "EVSEPresentCurrent")}
    assert "ReNegotiation" in notes


@pytest.mark.req("PLC-5.6")
def test_charger_initiated_stop_ends_the_session_in_both_protocols() -> None:
    for name in ("din_only", "iso_only"):
        p = profile(name)
        p.charge_for_ns = 60 * S
        cfg = SimEnvConfig(station_request_at_ns=8 * S, station_request=StationRequest.STOP)
        r, env, _, _ = session(ev_profile=p, env_config=cfg)
        assert r.ev.ok and r.ev.reason == "EVSE asked to stop", (name, r.ev)
        assert env.ended is SessionEndReason.EV_STOP


def test_paused_iso_session_resumes_after_a_station_restart(tmp_path: Path) -> None:
    store_file = tmp_path / "paused.json"
    p = profile("iso_only")
    p.pause_after_ns = 1 * S
    r1, env1, core1, _ = session(ev_profile=p, store=JsonFileSessionStore(store_file))
    assert r1.ev.ok and r1.ev.paused
    assert env1.ended is SessionEndReason.EV_PAUSE
    sid = r1.ev.session_id
    # "restart": new core, new env, new store object reading the same file
    r2, env2, core2, _ = session("iso_only", store=JsonFileSessionStore(store_file),
                                 resume=sid, start_ns=100 * S)
    assert r2.ev.ok, r2.ev.reason
    assert r2.ev.session_id == sid
    setup = responses(r2.secc_outputs, "iso2")[0]
    assert setup.ResponseCode.value == "OK_OldSessionJoined"
    # the resumed session was already authorized: no second authorization request
    assert "request_authorization" not in env2.call_names()


def test_unknown_resume_id_starts_a_new_session() -> None:
    r, _, _, _ = session("iso_only", resume=bytes(range(1, 9)))
    setup = responses(r.secc_outputs, "iso2")[0]
    assert setup.ResponseCode.value == "OK_NewSessionEstablished"
    assert r.ev.ok


@pytest.mark.req("PLC-6.5", "V2G2-443")
def test_sequence_timeout_ends_a_silent_session() -> None:
    from tests.secc.helpers import ScriptedCar
    car = ScriptedCar(AppProtocol.DIN70121)
    car.setup()
    car.advance(59 * S)
    assert car.closed is None
    car.advance(2 * S)
    assert car.closed is not None and car.closed.reason is SessionEndReason.SEQUENCE_TIMEOUT
    assert car.env.ended is SessionEndReason.SEQUENCE_TIMEOUT


@pytest.mark.req("PLC-5.6")
def test_power_delivery_start_is_answered_only_when_contactors_closed_and_ready() -> None:
    from tests.secc.helpers import ScriptedCar
    car = ScriptedCar(AppProtocol.DIN70121, SimEnvConfig(output_enable_delay_ns=300 * MS))
    car.through_cpd()
    while car.cable_check().EVSEProcessing.value != "Finished":
        car.advance(200 * MS)
    car.precharge()
    sent_at = car.now_ns
    res = car.power_delivery(True)
    assert res.ResponseCode.value == "OK"
    pp = car.env.power_path(car.now_ns)
    assert pp.contactors_closed and pp.output_ready
    assert car.now_ns - sent_at >= 300 * MS - 30 * MS  # waited for the power path


@pytest.mark.req("PLC-5.6")
def test_power_delivery_start_fails_when_the_output_never_gets_ready() -> None:
    from tests.secc.helpers import ScriptedCar
    car = ScriptedCar(AppProtocol.DIN70121, SimEnvConfig(output_enable_delay_ns=10 * S))
    car.through_cpd()
    while car.cable_check().EVSEProcessing.value != "Finished":
        car.advance(200 * MS)
    res = car.power_delivery(True)
    assert res.ResponseCode.value == "FAILED_PowerDeliveryNotApplied"
    assert car.closed is not None
    assert car.closed.reason is SessionEndReason.POWER_DELIVERY_FAILED

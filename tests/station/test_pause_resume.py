"""ISO 15118-2 pause and resume on the whole station: SessionStop(Pause) ends the V2G
connection, the car stays plugged; woken again, it offers the paused SessionID in
SessionSetupReq and the SECC joins the old session (OK_OldSessionJoined) without a new
authorization. Each V2G connection gets a new SeccCore, so the paused session must be
kept by the station (DcStation.paused_sessions); found by `evse probe` PAUSE-001 against
`evse run`, where the resume got OK_NewSessionEstablished."""

from __future__ import annotations

import json

import pytest

from evse.fsm import Event
from evse.runtime.dc_station import DcStation
from tests.station.test_dc_station import S, charging, run_until, station


def paused(st: DcStation) -> bytes:
    st.ev_profile.pause_after_ns = 4 * S
    charging(st)
    run_until(st, lambda: st.sim_car is not None and st.sim_car.ev.result is not None, 30)
    assert st.sim_car is not None
    result = st.sim_car.ev.result
    assert result is not None and result.paused, result
    # The pause settles: the car back in B, the pilot without PWM (B1), nothing running.
    run_until(st, lambda: st.cp.state == "plugged.B.B1", 10)
    return result.session_id


def session_setup_codes(st: DcStation) -> list[str]:
    codes = []
    for line in st.sched.trace.lines:
        d = json.loads(line)
        if d.get("src") == "secc" and d.get("kind") == "transition" \
                and d.get("event") == "session_setup_req":
            codes.append(d["to"])
    return codes


def resume(st: DcStation) -> None:
    st.ev_profile.pause_after_ns = None  # the resumed session charges to the end
    st.sched.post("cp", Event("wake_up"), source="test")  # e.g. the CSMS's new schedule
    run_until(st, lambda: st.secc is not None and st.secc.state.startswith("cable_check"), 30)


def test_a_paused_iso2_session_is_joined_again_when_the_car_resumes() -> None:
    st = station(protocol="iso2", ev_profile="iso_only", charge_s=60)
    sid = paused(st)
    auth_before = sum('"authorization_req"' in line for line in st.sched.trace.lines)
    resume(st)
    assert st.sim_car is not None
    assert st.sim_car.ev.session_id == sid  # OK_OldSessionJoined keeps the SessionID
    assert len(session_setup_codes(st)) == 2
    # The resumed session was authorized before the pause: its AuthorizationReq is
    # answered at once (one request, Finished), not held for a new card.
    assert sum('"authorization_req"' in line for line in st.sched.trace.lines) == auth_before + 1
    st.close()


@pytest.mark.xfail(strict=True, reason=(
    "found, not fixed: after the first session the cable side stays at the battery's "
    "voltage (357 V: the station opens its contactors before the car's WeldingDetection and "
    "nothing discharges the cable and inlet), so the resumed session's cable check fails "
    "'output at 358 V' (VOLTAGE_NOT_BELOW_60V) after t_cc_voltage_gate"))
def test_a_resumed_iso2_session_charges_again() -> None:
    st = station(protocol="iso2", ev_profile="iso_only", charge_s=60)
    paused(st)
    resume(st)
    run_until(st, lambda: st.secc is not None and st.secc.state == "charging", 30)
    st.close()


def test_a_paused_session_is_forgotten_when_the_car_leaves() -> None:
    st = station(protocol="iso2", ev_profile="iso_only", charge_s=60)
    sid = paused(st)
    assert st.paused_sessions.load(sid) is not None
    st.unplug()
    st.sched.run_for(2 * S)
    assert st.paused_sessions.load(sid) is None
    st.close()

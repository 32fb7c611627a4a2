"""ISO 15118-2 renegotiation followed by CableCheck and PreCharge again (the dSPACE test
system's order, capture ISO-2_DC_Renegotiation_DS5366_RiseV2G), on the whole station: the
SECC chart's `renegotiated` -> `recheck` / `recheck_precharge` states
(fsm_specs/secc_iso2.yaml). The contactors stay closed and the IMD keeps monitoring while
charging, so that CableCheck is answered from the live isolation result: no new isolation
test, no opening of the contactors, and a live fault still ends the session safely."""

from __future__ import annotations

import json

import pytest

from evse.power.shutdown import ERROR_SHUTDOWN_OPEN_BOUND_NS
from evse.runtime.dc_station import DcStation
from evse.runtime.inject import INJECTORS, Rig
from evse.secc.env import CableCheckResult, CableCheckStatus
from tests.station.test_dc_station import S, charging, run_until, station

PROFILE = "iso_renegotiate_recheck"  # renegotiates after 5 s of charging, then CableCheck


def secc_path(st: DcStation, since_ns: int) -> list[tuple[str, str]]:
    """(from, to) of the SECC chart's transitions after `since_ns`, CurrentDemand loops out."""
    out = []
    for line in st.sched.trace.lines:
        d = json.loads(line)
        if (d.get("src") == "secc" and d.get("kind") == "transition" and d["t"] >= since_ns
                and d["from"] != d["to"]):
            out.append((d["from"], d["to"]))
    return out


def cable_check_answers(st: DcStation, since_ns: int) -> list[str]:
    """The SECC actions that answered a CableCheckReq after `since_ns`."""
    answers = []
    for line in st.sched.trace.lines:
        d = json.loads(line)
        if (d.get("src") == "secc" and d.get("kind") == "transition" and d["t"] >= since_ns
                and d.get("event") == "cable_check_req"):
            answers.append(d["to"])
    return answers


def at_renegotiation(st: DcStation) -> int:
    charging(st)
    run_until(st, lambda: st.secc is not None and st.secc.state == "renegotiation", 30)
    return st.sched.now_ns()


@pytest.mark.req("P2-11")
def test_cable_check_after_a_renegotiation_is_answered_from_the_live_isolation() -> None:
    st = station(protocol="iso2", ev_profile=PROFILE, charge_s=15)
    t0 = at_renegotiation(st)
    closed_through = True

    def watch() -> bool:
        nonlocal closed_through
        closed_through = closed_through and st.world.contactor.closed
        return st.secc is not None and st.secc.state == "charging"

    assert st.sched.run_until_true(watch, limit_ns=5 * S)
    path = secc_path(st, t0)
    assert path[:4] == [("charging", "renegotiation"), ("renegotiation", "renegotiated"),
                        ("renegotiated", "recheck_precharge"),
                        ("recheck_precharge", "power_delivery_pending")], path
    assert closed_through, "the contactors opened for the CableCheck after the renegotiation"
    run_until(st, lambda: st.world.plant.connector_current_a > 50, 5)  # current resumes
    run_until(st, lambda: st.log.ev_result is not None, 60)
    assert st.log.ev_result is not None and st.log.ev_result.startswith("OK"), st.log.ev_result
    st.close()


def _hide_live_result_until(st: DcStation, until_ns: int) -> None:
    """Stand-in: the simulated iso165C reports every second while charging, so its live
    result is never missing; a real IMD's is during its periodic self-test, and that is
    what the `recheck` state waits for. Until `until_ns` a valid live result reads as
    none yet (IDLE); a fault always shows through."""
    own = st.env.cable_check

    def cable_check(now_ns: int) -> CableCheckResult:
        got = own(now_ns)
        if now_ns < until_ns and got.status is CableCheckStatus.VALID:
            return CableCheckResult(CableCheckStatus.IDLE)
        return got

    st.env.cable_check = cable_check  # type: ignore[method-assign]


def test_without_a_live_isolation_result_the_recheck_answers_ongoing_until_there_is_one() -> None:
    st = station(protocol="iso2", ev_profile=PROFILE, charge_s=15)
    t0 = at_renegotiation(st)
    _hide_live_result_until(st, t0 + 2 * S)
    assert st.sched.run_until_true(lambda: st.secc is not None and st.secc.state == "charging",
                                   limit_ns=10 * S)
    answers = cable_check_answers(st, t0)
    assert answers[0] == "recheck" and answers[-1] == "recheck_precharge", answers
    assert answers.count("recheck") >= 5  # Ongoing every ~200 ms (the car's repeat) for 2 s
    assert st.world.contactor.closed
    run_until(st, lambda: st.log.ev_result is not None, 60)
    assert st.log.ev_result is not None and st.log.ev_result.startswith("OK"), st.log.ev_result
    st.close()


def test_a_live_insulation_fault_during_the_recheck_ends_the_session_contacts_open() -> None:
    st = station(protocol="iso2", ev_profile=PROFILE, charge_s=15)
    t0 = at_renegotiation(st)
    # The recheck waits (stand-in, as above) while the IMD measures a real insulation fault.
    _hide_live_result_until(st, t0 + 30 * S)
    INJECTORS["insulation_fault"].apply(Rig(st))
    run_until(st, lambda: st.secc is not None and st.secc.state == "ended", 10)
    ended_ns = st.sched.now_ns()
    path = secc_path(st, t0)
    assert path[-2:] == [("renegotiated", "recheck"), ("recheck", "ended")], path
    answers = cable_check_answers(st, t0)
    assert answers[-1] == "ended" and set(answers[:-1]) == {"recheck"}, answers
    run_until(st, lambda: not st.world.contactor.closed
              and st.world.plant.connector_current_a < 1.0, 5)
    assert st.sched.now_ns() - ended_ns <= ERROR_SHUTDOWN_OPEN_BOUND_NS
    assert st.log.ev_result is not None and not st.log.ev_result.startswith("OK")
    st.close()

"""Issue 11 on the real station parts (DcStation): after an insulation fault the power path
stays out of service through the unplug and is back after the operator's reset; after a
normal session the unplug alone makes it available. The station's own wiring of unplug ->
end_session and RESET_FAULT -> reset_fault is the runtime's (not done here): the test calls
the PowerPath API the runtime will call."""

from __future__ import annotations

from evse.power.faults import Clearing, FaultReason
from evse.power.types import Phase
from evse.runtime.config import StationConfig
from evse.runtime.dc_station import DcStation, SessionConfig

S = 1_000_000_000


def station(**session: object) -> DcStation:
    st = DcStation(StationConfig(), SessionConfig(**session))  # type: ignore[arg-type]
    st.start()
    st.sched.run_until(1 * S)
    st.plug_in()
    return st


def run_until(st: DcStation, pred: object, limit_s: float) -> None:
    assert callable(pred)
    assert st.sched.run_until_true(pred, limit_ns=round(limit_s * S)), st.log.milestones


def unplug(st: DcStation) -> None:
    st.unplug()
    st.power.end_session(st.sched.now_ns())


def test_insulation_fault_is_latched_through_the_unplug_and_cleared_by_the_reset() -> None:
    st = station(protocol="din", ocpp="none", charge_s=300)
    try:
        run_until(st, lambda: st.secc is not None and st.secc.state == "charging"
                  and st.world.plant.connector_current_a > 50, 60)
        st.world.imd_physics.inject_insulation_fault(20_000.0)
        run_until(st, lambda: st.power.fault is not None, 15)
        f = st.power.fault
        assert f is not None and f.reason is FaultReason.INSULATION_FAULT
        assert f.clearing is Clearing.LATCHED
        run_until(st, lambda: st.log.ev_result is not None, 30)
        assert not st.power.reset_fault(st.sched.now_ns()).accepted  # the car is still there
        unplug(st)
        st.sched.run_for(3 * S)
        assert st.power.phase is Phase.FAULTED and not st.power.available
        result = st.power.reset_fault(st.sched.now_ns())
        assert result.accepted, result.reason
        st.sched.run_for(1 * S)
        assert st.power.available and st.power.phase is Phase.IDLE
    finally:
        st.close()


def test_after_a_normal_session_the_unplug_makes_the_connector_available() -> None:
    st = station(protocol="iso2", ocpp="none", charge_s=5)
    try:
        run_until(st, lambda: st.log.ev_result is not None, 120)
        assert st.log.ev_result is not None and st.log.ev_result.startswith("OK")
        st.sched.run_for(3 * S)
        unplug(st)
        st.sched.run_for(3 * S)
        assert st.power.fault is None
        assert st.power.available and st.power.phase is Phase.IDLE
    finally:
        st.close()

"""Self-clearing power faults clear on the whole station (DcStation): the car leaves, the
cause is repaired, and the connector is available again without an operator."""

from __future__ import annotations

import pytest

from evse.power.faults import FaultReason
from evse.power.types import Phase
from evse.runtime.config import StationConfig
from evse.runtime.dc_station import DcStation, SessionConfig

MS = 1_000_000
S = 1_000 * MS


def _charging_station(charge_s: float = 300) -> DcStation:
    st = DcStation(StationConfig(), SessionConfig(protocol="din", ocpp="none",
                                                  charge_s=charge_s))
    st.start()
    st.sched.run_until(1 * S)
    st.plug_in()
    assert st.sched.run_until_true(
        lambda: st.power.phase is Phase.CHARGING and st.world.plant.connector_current_a > 20,
        limit_ns=60 * S), st.log.milestones
    return st


def _reasons(st: DcStation) -> set[FaultReason]:
    return {f.reason for f in st.power.faults}


def test_with_every_module_silent_the_welding_check_trusts_the_open_feedback() -> None:
    """No module answers: the module-side voltage is unknown (the last one, at the battery's
    voltage, is stale). The contactor's feedback says open, so no weld is reported and the
    no_modules fault clears once the modules are back and the car is gone."""
    st = _charging_station()
    try:
        for stage in st.world.stages.values():
            stage.present = False
        lost = {FaultReason.NO_MODULES, FaultReason.MODULE_COMM_LOST}
        assert st.sched.run_until_true(lambda: bool(lost & _reasons(st)), limit_ns=20 * S)
        # The error shutdown opens, the welding check runs and must find the contacts open.
        assert st.sched.run_until_true(lambda: not st.world.contactor.closed, limit_ns=5 * S)
        st.sched.run_for(5 * S)
        assert FaultReason.CONTACTOR_WELDED not in _reasons(st), st.power.faults
        st.unplug()
        st.sched.run_for(2 * S)
        for stage in st.world.stages.values():
            stage.present = True
        st.sched.run_for(5 * S)
        assert st.power.fault is None, st.power.faults
        assert st.power.available
    finally:
        st.close()


def _wait_cable_check_station() -> DcStation:
    st = DcStation(StationConfig(), SessionConfig(protocol="din", ocpp="none", charge_s=300))
    st.start()
    st.sched.run_until(1 * S)
    return st


def test_a_contactor_that_does_not_close_clears_when_the_car_leaves() -> None:
    """fault_table.yaml contactor_not_closed is self-clearing on the unplug. The pilot's
    own supervision sees the same contactor first and goes to F; that F is bounded
    (fsm_specs/iec61851.yaml after_f), else the unplug could not be seen (-12 V) and the
    connector would stay out of service until an operator reset."""
    st = _wait_cable_check_station()
    try:
        c = st.world.contactor
        command = c.command
        c.command = lambda closed, now_ns: command(False, now_ns) if not closed else None  # type: ignore[method-assign]
        st.plug_in()
        assert st.sched.run_until_true(
            lambda: FaultReason.CONTACTOR_NOT_CLOSED in _reasons(st), limit_ns=60 * S)
        assert st.cp.state == "after_f" and not st.cp.handler.pwm_on  # no PWM, car still in
        st.sched.run_for(3 * S)
        st.unplug()
        c.command = command  # type: ignore[method-assign]
        st.sched.run_for(2 * S)
        assert st.cp.state == "A"
        assert st.power.fault is None, st.power.faults
        assert st.power.available
    finally:
        st.close()


def test_a_contactor_that_drops_out_under_load_clears_when_the_car_leaves() -> None:
    """contactor_opened_unexpectedly (emergency, self-clearing once the contacts are open and
    the car left): the pilot's F for the divergence is bounded, the unplug is seen."""
    st = _charging_station()
    try:
        c = st.world.contactor
        command = c.command
        command(False, st.sched.now_ns())
        c.command = lambda closed, now_ns: command(False, now_ns)  # type: ignore[method-assign]
        assert st.sched.run_until_true(
            lambda: FaultReason.CONTACTOR_OPENED_UNEXPECTEDLY in _reasons(st), limit_ns=1 * S)
        st.sched.run_for(5 * S)
        st.unplug()
        c.command = command  # type: ignore[method-assign]
        st.sched.run_for(3 * S)
        assert st.cp.state == "A"
        assert st.power.fault is None, st.power.faults
        assert st.power.available
    finally:
        st.close()


def test_one_module_silent_at_the_welding_check_is_not_a_weld() -> None:
    """Module 0 leaves the bus as the car's welding detection begins: its last answer (the
    charging voltage) is history, not the module side. The other modules' readings show
    the decay, so no weld is reported and the connector is available once the car left
    and the module is back (fault campaign module_comm_lost@welding: the frozen ~368 V
    counted for 3 s and the check latched CONTACTOR_WELDED on a dead bus)."""
    from evse.ev.sim import Phase as EvPhase

    st = _charging_station(charge_s=3)
    try:
        car = st.sim_car
        assert car is not None
        assert st.sched.run_until_true(lambda: car.ev.phase is EvPhase.WELDING,
                                       limit_ns=30 * S), st.log.milestones
        stage = st.world.stages[min(st.world.stages)]
        stage.present = False
        st.sched.run_for(5 * S)
        assert FaultReason.CONTACTOR_WELDED not in _reasons(st), st.power.faults
        st.unplug()
        st.sched.run_for(2 * S)
        stage.present = True
        st.sched.run_for(5 * S)
        assert st.power.fault is None, st.power.faults
        assert st.power.available
    finally:
        st.close()


@pytest.mark.parametrize(("injector", "reason"), [
    ("module_alarm", FaultReason.MODULE_ALARM),
    ("meter_stale", FaultReason.METER_STALE),
])
def test_a_device_fault_standing_before_the_car_stops_the_session_unenergised(
        injector: str, reason: FaultReason) -> None:
    """A module alarm or a stopped meter that began before the car came were events the
    idle path ignored; the session must not run its cable check (and, before this, its
    precharge) on them. Checked as the path is energised: the fault is raised, the
    contactors never close with a module on, and once the device is repaired and the car
    has left the connector is available (both self-clearing)."""
    from evse.runtime.inject import INJECTORS, Rig

    st = DcStation(StationConfig(), SessionConfig(protocol="din", ocpp="none", charge_s=300))
    try:
        st.start()
        st.sched.run_until(1 * S)
        rig = Rig(st)
        INJECTORS[injector].apply(rig)
        st.sched.run_for(3 * S)
        energised: list[int] = []

        def watch(now_ns: int) -> None:
            w = st.world
            if w.contactor.closed and any(s.commanded_on for s in w.stages.values()):
                energised.append(now_ns)

        st.sched.call_every(10 * MS, watch, "test.watch")
        st.plug_in()
        assert st.sched.run_until_true(lambda: reason in _reasons(st), limit_ns=30 * S), (
            st.power.faults, st.log.milestones)
        st.sched.run_for(3 * S)
        assert not energised, f"energised on a standing {injector} at {energised[:3]}"
        st.unplug()
        rig.car_left()
        rig.repair()
        st.sched.run_for(5 * S)
        assert st.power.fault is None, st.power.faults
        assert st.power.available
    finally:
        st.close()

"""The pilot cuts power under load, or the pins are shorted: the emergency path.

When the car is unplugged or the pilot goes to F while current flows, the pilot withdraws
allow_power_on and the board opens the contactors at once (IEC 61851-1 Table A.6 seq. 8.1:
within 100 ms). The modules must be commanded off in the same instant, not after the
power path's 200 ms error ramp (fsm_specs/power_path.yaml `power_withdrawn`): a ramp would
keep the modules driving into opening contacts. Run on the whole station (DcStation)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from drivers.sim.loads import ShortCircuit
from evse.cp.pilot import T_POWER_OFF_AFTER_C_TO_B_NS
from evse.fsm import Event
from evse.power.faults import FaultReason, Severity
from evse.power.types import Phase
from evse.runtime.config import StationConfig
from evse.runtime.dc_station import DcStation, SessionConfig

MS = 1_000_000
S = 1_000 * MS


def _charging_station() -> DcStation:
    st = DcStation(StationConfig(), SessionConfig(protocol="din", ocpp="none", charge_s=300))
    st.start()
    st.sched.run_until(1 * S)
    st.plug_in()
    assert st.sched.run_until_true(
        lambda: st.power.phase is Phase.CHARGING and st.world.plant.connector_current_a > 50,
        limit_ns=60 * S), st.log.milestones
    return st


def _modules_on(st: DcStation) -> bool:
    return any(s.commanded_on and s.present for s in st.world.stages.values())


def _unplug(st: DcStation) -> None:
    st.unplug()


def _pilot_f(st: DcStation) -> None:
    # The board reports a CP signal fault: the pilot chart latches F and withdraws power.
    st.sched.post("cp", Event("fault", "test:cp_f"), source="board")


@pytest.mark.parametrize("cut", [_unplug, _pilot_f], ids=["unplug", "pilot_f"])
def test_the_modules_go_off_with_the_contacts_when_the_pilot_cuts_power_under_load(
        cut: Callable[[DcStation], None]) -> None:
    st = _charging_station()
    try:
        assert _modules_on(st)
        t0 = st.sched.now_ns()
        cut(st)
        assert st.sched.run_until_true(lambda: not _modules_on(st), limit_ns=1 * S)
        off_ns = st.sched.now_ns() - t0
        assert st.sched.run_until_true(lambda: not st.world.contactor.closed, limit_ns=1 * S)
        open_ns = st.sched.now_ns() - t0
        # Both within the pilot's 100 ms (Table A.6 seq. 8.1), the modules not after the
        # contacts by the length of an error ramp.
        assert off_ns <= T_POWER_OFF_AFTER_C_TO_B_NS, f"modules off after {off_ns / MS} ms"
        assert open_ns <= T_POWER_OFF_AFTER_C_TO_B_NS, f"contacts open after {open_ns / MS} ms"
        # No power fault of the path's own: an unplug or the pilot's F is not a power-path
        # fault, and the welding check that follows the opening finds the contacts open.
        st.sched.run_for(3 * S)
        assert st.power.fault is None
        assert st.power.phase in (Phase.STOPPED, Phase.IDLE)
    finally:
        st.close()


def test_a_short_across_the_pins_while_charging_opens_at_once_and_clears_with_the_car() -> None:
    """A 50 mOhm short: the modules hold their current limit into it (no over-current), the
    output collapses. fault_table.yaml output_collapse: below half the precharge voltage for
    t_output_collapse (50 ms), then the emergency shutdown; self-clearing on the unplug."""
    st = _charging_station()
    try:
        plant = st.world.plant
        battery = plant.load
        t0 = st.sched.now_ns()
        plant.load = ShortCircuit(0.05)
        assert st.sched.run_until_true(
            lambda: not _modules_on(st) and not st.world.contactor.closed, limit_ns=1 * S)
        took_ns = st.sched.now_ns() - t0
        assert took_ns <= 200 * MS, f"safe after {took_ns / MS} ms"
        fault = st.power.fault
        assert fault is not None and fault.reason is FaultReason.OUTPUT_COLLAPSE
        assert fault.severity is Severity.EMERGENCY
        st.sched.run_for(3 * S)
        st.unplug()
        plant.load = battery
        st.sched.run_for(3 * S)
        assert st.power.fault is None, st.power.faults
        assert st.power.available
    finally:
        st.close()


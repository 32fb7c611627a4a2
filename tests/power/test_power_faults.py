"""Faults while charging: output off and contactors open within the named bounds, and the
reason reaches the SECC (EVSEStatusCode) and the controller (contract fault)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from hypothesis import given, settings, strategies as st

from drivers.power.group import OFFLINE_TIMEOUT_NS
from drivers.power.infy import POLL_PERIOD_NS
from evse.contract.values import FaultCode
from evse.ports.power import TRIPPING_ALARMS, ModuleAlarm
from evse.power.faults import FaultReason, Severity
from evse.power.shutdown import (
    EMERGENCY_OPEN_BOUND_NS,
    ERROR_CURRENT_OFF_BOUND_NS,
    ERROR_SHUTDOWN_OPEN_BOUND_NS,
    INTERNAL_OVER_VOLTAGE_DURATION_NS,
    SAFE_OPEN_CURRENT_A,
)
from evse.power.types import EvRequest, Phase
from tests.power.closed_loop import TICK_NS, Rig

#: A module alarm is seen at the next status poll plus the reply latency.
ALARM_DETECTION_BOUND_NS = POLL_PERIOD_NS + 100_000_000
#: An insulation fault shows after a few averaged one-second samples (drivers/sim/imd.py).
IMD_DETECTION_BOUND_NS = 10_000_000_000


@dataclass
class Outcome:
    inject_ns: int
    detect_ns: int
    off_ns: int
    open_ns: int
    reason: FaultReason
    severity: Severity


def run_fault(rig: Rig, inject: Callable[[Rig], None], budget_ns: int) -> Outcome:
    inject_ns = rig.now_ns
    inject(rig)
    off_ns: int | None = None
    end = rig.now_ns + budget_ns
    while rig.now_ns < end:
        if rig.core.phase is Phase.CHARGING:
            rig.core.current_demand(EvRequest(rig.ev.battery.ocv_v() + 40, 100.0), rig.now_ns)
            assert rig.core.snapshot is not None
        rig.tick()
        if off_ns is None and rig.core.fault is not None and (
                rig.modules_delivering_a() < SAFE_OPEN_CURRENT_A):
            off_ns = rig.now_ns
        if off_ns is not None and not rig.contactor.closed:
            break
    fault = rig.core.fault
    assert fault is not None, "no fault raised"
    assert off_ns is not None, "output never switched off"
    opened = [t for t, closed in rig.contactor.history if not closed]
    assert opened, "contactors never opened"
    return Outcome(inject_ns, fault.timestamp_ns, off_ns, opened[-1], fault.reason,
                   fault.severity)


def charging_rig(current_a: float = 100.0, seed: int = 1) -> Rig:
    rig = Rig(seed=seed)
    rig.full_session_to_charging()
    rig.charge(current_a, 5_000_000_000)
    assert rig.plant.connector_current_a > 0.8 * min(current_a, 125.0)
    return rig


def assert_error_bounds(o: Outcome) -> None:
    assert o.severity is Severity.ERROR
    assert o.off_ns - o.detect_ns <= ERROR_CURRENT_OFF_BOUND_NS
    assert o.open_ns - o.detect_ns <= ERROR_SHUTDOWN_OPEN_BOUND_NS
    assert o.open_ns >= o.off_ns - TICK_NS  # ramp down first, then open


def assert_emergency_bounds(o: Outcome) -> None:
    assert o.severity is Severity.EMERGENCY
    assert o.open_ns - o.detect_ns <= EMERGENCY_OPEN_BOUND_NS


@pytest.mark.req("PLC-6.5")
def test_module_comm_loss_stops_within_offline_timeout_plus_error_bound() -> None:
    rig = charging_rig()
    try:
        def mute(r: Rig) -> None:
            r.rack.mute = set(r.stages)
        o = run_fault(rig, mute, OFFLINE_TIMEOUT_NS + 5_000_000_000)
        assert o.reason is FaultReason.MODULE_COMM_LOST
        assert o.detect_ns - o.inject_ns <= OFFLINE_TIMEOUT_NS
        assert_error_bounds(o)
        assert rig.core.fault is not None
        assert rig.core.fault.fault_code is FaultCode.POWER_MODULE_FAULT
    finally:
        rig.close()


@pytest.mark.parametrize("alarm", [ModuleAlarm.OVER_TEMPERATURE, ModuleAlarm.OUTPUT_SHORT,
                                   ModuleAlarm.INPUT_PHASE_LOSS, ModuleAlarm.MODULE_FAULT])
def test_module_alarm_stops_within_bounds(alarm: ModuleAlarm) -> None:
    rig = charging_rig()
    try:
        o = run_fault(rig, lambda r: r.stages[0].injected_alarms.add(alarm), 5_000_000_000)
        assert o.reason is FaultReason.MODULE_ALARM
        assert o.detect_ns - o.inject_ns <= ALARM_DETECTION_BOUND_NS
        assert_error_bounds(o)
        assert rig.core.fault is not None and alarm.value in rig.core.fault.detail
    finally:
        rig.close()


@pytest.mark.req("PLC-6.2")
def test_imd_fault_during_charging_stops_within_bounds() -> None:
    rig = charging_rig()
    try:
        o = run_fault(rig, lambda r: r.imd_physics.inject_insulation_fault(30_000.0),
                      IMD_DETECTION_BOUND_NS + 3_000_000_000)
        assert o.reason is FaultReason.INSULATION_FAULT
        assert o.detect_ns - o.inject_ns <= IMD_DETECTION_BOUND_NS
        assert_error_bounds(o)
    finally:
        rig.close()


@pytest.mark.req("PLC-6.5")
def test_imd_device_silence_during_charging_stops_with_reason() -> None:
    rig = charging_rig()
    try:
        def silence(r: Rig) -> None:
            r.imd_sim.silent = True
        o = run_fault(rig, silence, 8_000_000_000)
        assert o.reason is FaultReason.IMD_DEVICE_FAULT
        assert_error_bounds(o)
    finally:
        rig.close()


@pytest.mark.req("PLC-6.1")
def test_emergency_stop_opens_at_once() -> None:
    rig = charging_rig()
    try:
        o = run_fault(rig, lambda r: r.emergency_stop(), 1_000_000_000)
        assert o.reason is FaultReason.CONTROLLER_EMERGENCY_STOP
        assert o.detect_ns == o.inject_ns
        assert_emergency_bounds(o)
        assert rig.core.fault is not None
        assert rig.core.fault.fault_code is FaultCode.EMERGENCY_STOP
        assert rig.core.fault.severity is Severity.EMERGENCY
    finally:
        rig.close()


def precharging_rig() -> Rig:
    rig = Rig()
    assert rig.cable_check(500.0)
    assert rig.precharge() is not None
    return rig


def test_software_over_voltage_stops_after_400_ms() -> None:
    rig = precharging_rig()
    try:
        def runaway(r: Rig) -> None:
            r.stages[0].forced_voltage_v = 530.0  # above 500 V x 1.02, below Table 103's 550 V
            r.stages[1].forced_voltage_v = 530.0
        inject = rig.now_ns

        def keep_precharging() -> bool:
            if rig.core.phase is Phase.PRECHARGE:
                rig.core.precharge(EvRequest(rig.ev.battery.ocv_v(), 2.0), rig.now_ns)
            return rig.core.fault is not None
        runaway(rig)
        assert rig.run_until(keep_precharging, 3_000_000_000)
        fault = rig.core.fault
        assert fault is not None and fault.reason is FaultReason.OVER_VOLTAGE
        assert fault.timestamp_ns - inject >= INTERNAL_OVER_VOLTAGE_DURATION_NS
        rig.run_for(ERROR_SHUTDOWN_OPEN_BOUND_NS)
        assert not rig.contactor.closed and rig.modules_delivering_a() == 0.0
    finally:
        rig.close()


def test_emergency_over_voltage_opens_at_once() -> None:
    rig = precharging_rig()
    try:
        for s in rig.stages.values():
            s.forced_voltage_v = 700.0
        assert rig.run_until(lambda: rig.core.fault is not None, 3_000_000_000)
        fault = rig.core.fault
        assert fault is not None and fault.reason is FaultReason.EMERGENCY_OVER_VOLTAGE
        assert fault.severity is Severity.EMERGENCY
        rig.run_for(EMERGENCY_OPEN_BOUND_NS)
        assert not rig.contactor.closed
        assert [t for t, c in rig.contactor.history if not c][-1] - fault.timestamp_ns <= (
            EMERGENCY_OPEN_BOUND_NS)
    finally:
        rig.close()


def _alarm(alarm: ModuleAlarm) -> Callable[[Rig], None]:
    return lambda r: r.stages[1].injected_alarms.add(alarm)


def _comm_loss(r: Rig) -> None:
    r.rack.mute = set(r.stages)


def _runaway_load_dump(r: Rig) -> None:
    """A module regulator runs away just as the car drops its battery off the bus."""
    for s in r.stages.values():
        s.forced_voltage_v = 650.0
    r.ev.open_ev_contactors()


FAULTS: dict[str, Callable[[Rig], None]] = {
    "estop": lambda r: r.emergency_stop(),
    "imd": lambda r: r.imd_physics.inject_insulation_fault(20_000.0),
    "comm_loss": _comm_loss,
    "runaway": _runaway_load_dump,
    **{f"alarm:{a.value}": _alarm(a) for a in sorted(TRIPPING_ALARMS, key=lambda a: a.value)},
}


@settings(max_examples=15, deadline=None)
@given(kind=st.sampled_from(sorted(FAULTS)), delay_ms=st.integers(0, 3000),
       current_a=st.floats(20.0, 150.0), seed=st.integers(0, 1000))
@pytest.mark.req("PLC-6.6")
def test_any_injected_fault_ends_with_output_off_contactors_open_and_a_reason(
        kind: str, delay_ms: int, current_a: float, seed: int) -> None:
    """Invariant: whatever fault, whenever: output off and open within its bound, reason set."""
    rig = charging_rig(current_a, seed)
    try:
        rig.charge(current_a, delay_ms * 1_000_000)
        o = run_fault(rig, FAULTS[kind], OFFLINE_TIMEOUT_NS + 3_000_000_000)
        if o.severity is Severity.EMERGENCY:
            assert_emergency_bounds(o)
        else:
            assert_error_bounds(o)
        assert rig.core.phase is Phase.FAULTED
    finally:
        rig.close()


def test_runaway_module_on_load_dump_trips_emergency_over_voltage() -> None:
    rig = charging_rig()
    try:
        o = run_fault(rig, _runaway_load_dump, 2_000_000_000)
        assert o.reason is FaultReason.EMERGENCY_OVER_VOLTAGE
        assert_emergency_bounds(o)
        assert rig.plant.module_voltage_v < 650.0
    finally:
        rig.close()

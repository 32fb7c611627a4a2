"""CableCheck per hardware.md §2.5: rules in isolation, then in the closed loop."""

from __future__ import annotations

import pytest

from drivers.sim.loads import Battery, EvInlet, ShortCircuit
from evse.contract.values import FaultCode, IsolationStatus
from evse.ports.imd import IsolationMeasurement
from evse.power import cable_check as cc
from evse.power.faults import FaultReason
from evse.power.types import (
    EvRequest,
    Phase,
    PowerPathUsageError,
    Processing,
    SetModuleOutput,
)
from tests.power.closed_loop import Rig


@pytest.mark.parametrize(("ev_max", "evse_max", "expected"), [
    (400.0, 1000.0, 450.0),   # <= 500 V: EV max + 50
    (480.0, 1000.0, 500.0),   # capped at 500 V
    (500.0, 1000.0, 500.0),
    (800.0, 1000.0, 880.0),   # > 500 V: 1.1 x EV max
    (950.0, 1000.0, 1000.0),  # capped by the EVSE
    (400.0, 420.0, 420.0),
])
def test_test_voltage_follows_iec_61851_23_cc_4_1_2(ev_max: float, evse_max: float,
                                                     expected: float) -> None:
    assert cc.test_voltage_v(ev_max, evse_max) == pytest.approx(expected)


def test_fixed_100_kohm_threshold_is_the_default_and_warning_needs_the_old_rule() -> None:
    default = cc.CableCheckConfig()
    assert cc.classify(99_999.0, 500.0, default) is IsolationStatus.FAULT
    assert cc.classify(100_000.0, 500.0, default) is IsolationStatus.VALID
    old = cc.CableCheckConfig(per_volt_rule=True)
    assert cc.classify(200_000.0, 500.0, old) is IsolationStatus.WARNING  # 400 Ohm/V
    assert cc.classify(300_000.0, 500.0, old) is IsolationStatus.VALID  # 600 Ohm/V


def test_voltage_to_earth_limit_is_550_v_up_to_500_v_rating() -> None:
    m = IsolationMeasurement(1e6, 0, 500.0, 560.0, -10.0)
    assert not cc.voltage_to_earth_ok(m, 500.0)
    assert cc.voltage_to_earth_ok(m, 1000.0)  # 1.1 x 1000 V


@pytest.fixture(params=["iso165c", "isocha425"])
def imd_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.mark.req("PLC-5.4")
def test_healthy_cable_passes_valid_and_ends_below_60_v(imd_kind: str) -> None:
    rig = Rig(imd=imd_kind)
    try:
        rig.core.start_cable_check(500.0, rig.now_ns)
        assert rig.core.status.cable_check_processing is Processing.ONGOING
        assert rig.run_until(lambda: rig.core.phase is not Phase.CABLE_CHECK, 40_000_000_000)
        st = rig.core.status
        assert st.phase is Phase.CABLE_CHECK_DONE and st.fault is None
        assert st.isolation_level is IsolationStatus.VALID
        assert st.cable_check_processing is Processing.FINISHED
        assert rig.plant.connector_voltage_v < cc.SAFE_VOLTAGE_V
        assert rig.now_ns < 20_000_000_000  # Taycan gives up after < 20 s (interop row 36)
        setpoints = [c for _, c in rig.trace.commands if isinstance(c, SetModuleOutput)]
        assert setpoints and all(c.current_a <= cc.TEST_CURRENT_LIMIT_A for c in setpoints)
        assert max(v for v in [rig.plant.module_voltage_v]) < 60.0
    finally:
        rig.close()


@pytest.mark.req("PLC-5.4", "PLC-6.2")
def test_insulation_fault_fails_before_any_ev_contactor_closes(imd_kind: str) -> None:
    rig = Rig(imd=imd_kind)
    try:
        rig.imd_physics.inject_insulation_fault(50_000.0)
        rig.cable_check(500.0)
        st = rig.core.status
        assert st.isolation_level is IsolationStatus.FAULT
        assert st.fault is not None and st.fault.reason is FaultReason.INSULATION_FAULT
        assert st.fault.fault_code is FaultCode.ISOLATION_FAULT  # what the controller sees
        rig.run_for(1_000_000_000)
        assert not rig.contactor.closed and not rig.ev.ev_contactors_closed
        assert rig.modules_delivering_a() == 0.0
        with pytest.raises(PowerPathUsageError):
            rig.core.precharge(EvRequest(350.0, 2.0), rig.now_ns)
    finally:
        rig.close()


def test_short_circuit_never_reaches_test_voltage_and_stays_below_5_a() -> None:
    rig = Rig(load=ShortCircuit(100.0))
    try:
        rig.core.start_cable_check(500.0, rig.now_ns)
        peak_a = 0.0
        while rig.core.phase is Phase.CABLE_CHECK:
            rig.tick()
            peak_a = max(peak_a, rig.plant.connector_current_a)
        assert rig.core.fault is not None
        assert rig.core.fault.reason is FaultReason.TEST_VOLTAGE_NOT_REACHED
        assert peak_a < 5.0  # CC.4.1.2: < 5 A into R <= 110 Ohm (hardware.md §2.5)
        rig.run_for(2_500_000_000)
        assert rig.plant.connector_voltage_v < 60.0 and not rig.contactor.closed
    finally:
        rig.close()


def test_failed_imd_self_test_fails_the_check_as_invalid() -> None:
    rig = Rig()
    try:
        rig.imd_physics.fail_self_test = True
        rig.cable_check(500.0)
        st = rig.core.status
        assert st.fault is not None and st.fault.reason is FaultReason.SELF_TEST_FAILED
        assert st.isolation_level is IsolationStatus.INVALID
    finally:
        rig.close()


def test_voltage_above_60_v_at_start_blocks_the_check() -> None:
    ev = EvInlet(Battery())
    rig = Rig(load=ev)
    try:
        rig.contactor.command(True, 0)
        rig.ev.close_ev_contactors(0.0)  # a car that closed its contactors too early
        rig.run_for(100_000_000)
        rig.cable_check(500.0)
        assert rig.core.fault is not None
        assert rig.core.fault.reason is FaultReason.VOLTAGE_NOT_BELOW_60V
    finally:
        rig.close()

"""Simulated sessions: precharge time, reported values equal physics, the current loop."""

from __future__ import annotations

import pytest

from drivers.meter.sim_meter import Accuracy
from drivers.sim.loads import Battery, EvInlet
from evse.contract.limits import EvseLimits, LimitsSource
from evse.power.controller import (
    PRECHARGE_TARGET_TIME_NS,
    PowerPathConfig,
    precharge_tolerance_v,
)
from evse.power.current_loop import RAMP_UP_A_PER_S
from evse.power.faults import FaultReason
from evse.power.types import EvRequest, Phase, SetModuleOutput, WeldingResult
from tests.power.closed_loop import Rig

CONTROLLER = LimitsSource.CONTROLLER

PROTOCOLS = ["infy", "winline", "dpm1000"]


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.req("P0-5", "PLC-5.5")
def test_precharge_reaches_400_v_battery_within_3_s_with_default_modules(protocol: str) -> None:
    rig = Rig(protocol=protocol)
    try:
        assert rig.cable_check(500.0)
        took_ns = rig.precharge()
        assert took_ns is not None and took_ns <= PRECHARGE_TARGET_TIME_NS
        target = rig.ev.battery.ocv_v()
        assert abs(rig.plant.connector_voltage_v - target) <= precharge_tolerance_v(target)
        assert rig.plant.connector_current_a <= 2.0 + 1e-6  # precharge current limit
    finally:
        rig.close()


@pytest.mark.req("P0-5", "PLC-5.5")
def test_precharge_reaches_800_v_class_battery_within_3_s() -> None:
    ev = EvInlet(Battery(soc=0.5, series_cells=192))
    rig = Rig(load=ev, modules=3, config=PowerPathConfig(max_power_w=90_000.0))
    try:
        assert rig.cable_check(900.0)
        took_ns = rig.precharge()
        assert ev.battery.ocv_v() > 700.0
        assert took_ns is not None and took_ns <= PRECHARGE_TARGET_TIME_NS
    finally:
        rig.close()


@pytest.mark.req("P0-5", "PLC-5.5")
def test_closing_onto_the_battery_after_precharge_has_no_inrush() -> None:
    rig = Rig()
    try:
        rig.full_session_to_charging()
        assert rig.ev.closed_at_delta_v is not None
        assert rig.ev.closed_at_delta_v <= precharge_tolerance_v(rig.ev.battery.ocv_v())
    finally:
        rig.close()


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.req("P0-2", "PLC-5.7")
def test_reported_voltage_and_current_equal_physics_within_meter_accuracy(protocol: str) -> None:
    rig = Rig(protocol=protocol)
    try:
        rig.full_session_to_charging()
        rig.charge(80.0, 10_000_000_000, period_ns=50_000_000)
        acc = Accuracy()
        assert len(rig.trace.responses) > 150
        for _, v_rep, i_rep, v_true, i_true in rig.trace.responses:
            assert abs(v_rep - v_true) <= acc.voltage_tolerance_v(v_true)
            assert abs(i_rep - i_true) <= acc.current_tolerance_a(i_true)
        assert rig.plant.connector_current_a == pytest.approx(80.0, abs=0.5)
    finally:
        rig.close()


def test_current_rises_no_faster_than_the_ramp_rate() -> None:
    rig = Rig()
    try:
        rig.full_session_to_charging()
        t0 = rig.now_ns
        samples = []
        end = t0 + 6_000_000_000
        while rig.now_ns < end:
            rig.charge(150.0, 100_000_000)
            samples.append((rig.now_ns - t0, rig.plant.connector_current_a))
        for t_ns, amps in samples:
            assert amps <= RAMP_UP_A_PER_S * t_ns * 1e-9 + 3.0
        assert samples[-1][1] >= 140.0
    finally:
        rig.close()


def test_request_is_clamped_by_controller_limits_power_and_flags_it() -> None:
    rig = Rig()
    try:
        rig.core.handle(EvseLimits(1000.0, 40.0, 60_000.0, 0.0, CONTROLLER), rig.now_ns)
        rig.full_session_to_charging()
        rig.charge(100.0, 5_000_000_000)
        assert rig.plant.connector_current_a == pytest.approx(40.0, abs=0.5)
        assert rig.core.status.demand.current_limit_achieved
        # derated to 10 kW
        rig.core.handle(EvseLimits(1000.0, 200.0, 10_000.0, 0.0, CONTROLLER), rig.now_ns)
        rig.charge(100.0, 4_000_000_000)
        power = rig.plant.connector_current_a * rig.plant.connector_voltage_v
        assert power == pytest.approx(10_000.0, rel=0.03)
        assert rig.core.status.demand.power_limit_achieved
        assert rig.core.status.limits.max_power_w == 10_000.0
    finally:
        rig.close()


def test_lower_request_is_followed_at_once() -> None:
    rig = Rig()
    try:
        rig.full_session_to_charging()
        rig.charge(100.0, 6_000_000_000)
        assert rig.plant.connector_current_a > 95.0
        rig.charge(20.0, 300_000_000)
        assert rig.plant.connector_current_a == pytest.approx(20.0, abs=1.0)
    finally:
        rig.close()


@pytest.mark.req("P0-6")
def test_expired_controller_limits_stop_the_charge_with_a_reason() -> None:
    rig = Rig()
    try:
        rig.full_session_to_charging()
        rig.core.handle(EvseLimits(1000.0, 200.0, 60_000.0, 0.0, CONTROLLER,
                                   valid_until_ns=rig.now_ns + 3_000_000_000), rig.now_ns)
        rig.charge(50.0, 6_000_000_000)
        assert rig.core.fault is not None
        assert rig.core.fault.reason is FaultReason.LIMITS_EXPIRED
        rig.run_for(1_500_000_000)
        assert not rig.contactor.closed
    finally:
        rig.close()


@pytest.mark.req("PLC-5.8")
def test_normal_stop_ramps_down_opens_and_finds_no_welding() -> None:
    rig = Rig()
    try:
        rig.full_session_to_charging()
        rig.charge(100.0, 6_000_000_000)
        t0 = rig.now_ns
        rig.core.stop(t0)
        rig.run_for(3_000_000_000)
        st = rig.core.status
        assert st.phase is Phase.STOPPED and st.fault is None
        assert st.welding is WeldingResult.OPEN
        opened_at = rig.contactor.history[-1]
        assert opened_at[1] is False and opened_at[0] - t0 < 1_000_000_000
    finally:
        rig.close()


@pytest.mark.req("PLC-5.8", "PLC-6.4")
def test_welding_detection_catches_a_welded_contactor() -> None:
    rig = Rig()
    try:
        rig.full_session_to_charging()
        rig.charge(100.0, 5_000_000_000)
        rig.contactor.inject_welding()
        rig.core.stop(rig.now_ns)
        rig.run_for(3_000_000_000)
        st = rig.core.status
        assert st.welding is WeldingResult.WELDED
        assert st.fault is not None and st.fault.reason is FaultReason.CONTACTOR_WELDED
        assert st.phase is Phase.FAULTED
        assert rig.modules_delivering_a() == 0.0
    finally:
        rig.close()


def test_energy_register_counts_the_delivered_energy() -> None:
    rig = Rig()
    try:
        rig.full_session_to_charging()
        e0 = rig.meter.last.energy_wh if rig.meter.last else 0.0
        rig.charge(100.0, 20_000_000_000)
        e1 = rig.meter.last.energy_wh if rig.meter.last else 0.0
        # about 35 kW for ~16 s after the ramp, plus the ramp itself
        assert 120.0 < e1 - e0 < 220.0
    finally:
        rig.close()


def test_session_calls_out_of_order_are_usage_errors() -> None:
    from evse.power.types import PowerPathUsageError

    rig = Rig()
    try:
        with pytest.raises(PowerPathUsageError):
            rig.core.precharge(EvRequest(400.0, 2.0), 0)
        with pytest.raises(PowerPathUsageError):
            rig.core.current_demand(EvRequest(400.0, 2.0), 0)
        with pytest.raises(PowerPathUsageError):
            rig.core.start_charging(0)
    finally:
        rig.close()


@pytest.mark.req("P0-5")
def test_precharge_current_is_clamped_once_by_the_power_path_whatever_the_car_asks() -> None:
    """The SECC passes the car's PreCharge targets unclamped (evse/secc/handler.py): a car
    asking 10 A still gets at most 2 A, and a voltage target above the path's maximum is
    held to it."""
    rig = Rig()
    try:
        assert rig.cable_check(500.0)
        rig.precharge(current_a=10.0)
        rig.core.precharge(EvRequest(9_999.0, 10.0), rig.now_ns)
        rig.run_for(100_000_000)
        outputs = [c for _, c in rig.trace.commands if isinstance(c, SetModuleOutput)]
        assert outputs and all(0.0 <= c.current_a <= 2.0 for c in outputs)
        assert max(c.voltage_v for c in outputs) <= rig.core.config.max_voltage_v
        assert rig.plant.connector_current_a <= 2.0 + 1e-6
    finally:
        rig.close()

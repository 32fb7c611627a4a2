"""The physical simulators behave like the physics they stand for (hardware.md §6.2)."""

from __future__ import annotations

import math
import random

import can
import pytest

from drivers.power import infy
from drivers.sim import plant as plant_mod
from drivers.sim.contactor import ACTUATION_DELAY_NS, FEEDBACK_DELAY_NS, ContactorSim
from drivers.sim.imd import SELF_TEST_DURATION_NS, ImdPhysics
from drivers.sim.loads import Battery, EvInlet, OpenCircuit, ShortCircuit
from drivers.sim.module_rack import REPLY_LATENCY_MAX_NS, REPLY_LATENCY_MIN_NS, InfyRackSim
from drivers.sim.module_stage import SLEW_V_PER_S, ModuleParams, ModuleStage
from drivers.sim.plant import DcPlant
from evse.ports.power import ModuleAlarm


def plant_with(load: object, n: int = 1, closed: bool = True) -> DcPlant:
    stages = [ModuleStage() for _ in range(n)]
    contactor = ContactorSim(actuation_delay_ns=0, feedback_delay_ns=0)
    plant = DcPlant(stages, contactor, load)  # type: ignore[arg-type]
    contactor.command(closed, 0)
    plant.step(1_000_000)
    return plant


def switch_on(plant: DcPlant, voltage_v: float, current_a: float) -> None:
    for s in plant.modules:
        s.voltage_set_v, s.current_set_a, s.commanded_on = voltage_v, current_a, True
        s.touch(plant.now_ns)


def test_voltage_rises_at_the_slew_limit_into_open_circuit() -> None:
    plant = plant_with(OpenCircuit())
    switch_on(plant, 800.0, 10.0)
    plant.step(1_000_000 + 1_000_000_000)
    assert plant.module_voltage_v == pytest.approx(SLEW_V_PER_S * 1.0, rel=0.01)
    plant.step(3_000_000_000)
    assert plant.module_voltage_v == pytest.approx(800.0)


def test_current_limit_makes_it_a_current_source_into_a_short() -> None:
    plant = plant_with(ShortCircuit(100.0))
    switch_on(plant, 500.0, 2.0)
    plant.step(2_000_000_000)
    assert plant.connector_current_a == pytest.approx(2.0, rel=0.01)
    assert plant.connector_voltage_v == pytest.approx(200.0, rel=0.01)  # 2 A x 100 Ohm


def test_power_limit_clips_current_and_sets_the_flag() -> None:
    ev = EvInlet(Battery(soc=0.5))
    ev.close_ev_contactors(0.0)
    plant = plant_with(ev)
    plant.modules[0].params.rated_power_w = 10_000.0
    switch_on(plant, 800.0, 100.0)
    plant.step(3_000_000_000)
    assert plant.connector_current_a * plant.connector_voltage_v == pytest.approx(10_000, rel=0.02)
    assert plant.modules[0].power_limited


def test_battery_voltage_is_ocv_plus_ir_and_soc_rises() -> None:
    battery = Battery(soc=0.5)
    ev = EvInlet(battery)
    ev.close_ev_contactors(0.0)
    plant = plant_with(ev)
    ocv0 = battery.ocv_v()
    switch_on(plant, ocv0 + 50.0, 50.0)
    plant.step(5_000_000_000)
    assert plant.connector_voltage_v == pytest.approx(battery.ocv_v() + 50.0 * 0.1, abs=0.2)
    assert battery.soc > 0.5


def test_ocv_rises_with_soc() -> None:
    ocvs = [Battery(soc=s).ocv_v() for s in (0.0, 0.2, 0.5, 0.8, 1.0)]
    assert ocvs == sorted(ocvs) and ocvs[0] < ocvs[-1]


def test_off_module_output_discharges() -> None:
    plant = plant_with(OpenCircuit())
    switch_on(plant, 400.0, 5.0)
    plant.step(2_000_000_000)
    for s in plant.modules:
        s.commanded_on = False
    plant.step(4_000_000_000)
    assert plant.module_voltage_v < 60.0


@pytest.mark.parametrize("adaptive", [True, False])
def test_the_cable_side_discharges_while_the_contactors_are_open(adaptive: bool) -> None:
    """Both sides open (the car opened its own contactors after the station): the cable
    and inlet fall below 60 V through the output discharge, with tau = R * C as the
    closed form says, in either integrator; while the car's battery is still on the
    cable, the discharge only draws it a little (the node stays at its voltage)."""
    inlet = EvInlet()
    stages = [ModuleStage()]
    contactor = ContactorSim(actuation_delay_ns=0, feedback_delay_ns=0)
    plant = DcPlant(stages, contactor, inlet, adaptive=adaptive)
    plant.step(0)
    inlet.close_ev_contactors(0.0)
    plant.step(1_000_000_000)
    battery_v = plant.connector_voltage_v
    assert battery_v > 300.0  # the car's battery holds the cable while its contacts are in
    inlet.open_ev_contactors()
    tau_s = plant_mod.OUTPUT_DISCHARGE_OHM * inlet.capacitance_f()
    plant.step(1_000_000_000 + round(tau_s * 1e9))
    assert plant.connector_voltage_v == pytest.approx(battery_v * math.exp(-1.0), rel=0.02)
    plant.step(1_000_000_000 + round(1.0 * 1e9))
    assert plant.connector_voltage_v < 60.0
    # Closing the contactors takes the discharge out of circuit: it does not load the output.
    contactor.command(True, plant.now_ns)
    switch_on(plant, 400.0, 5.0)
    plant.step(plant.now_ns + 2_000_000_000)
    assert plant.connector_voltage_v == pytest.approx(400.0, abs=1.0)


def test_module_switches_off_after_its_comm_timeout_and_raises_the_alarm() -> None:
    stage = ModuleStage(ModuleParams(comm_timeout_ns=1_000_000_000))
    stage.commanded_on = True
    stage.touch(0)
    stage.check_comm(999_999_999)
    assert stage.output_on
    stage.check_comm(1_000_000_000)
    assert not stage.output_on and ModuleAlarm.COMM_INTERRUPT in stage.alarms
    stage.touch(1_100_000_000)
    assert stage.output_on


def test_contactor_feedback_follows_the_coil_and_welding_keeps_it_closed() -> None:
    c = ContactorSim()
    c.command(True, 0)
    c.step(ACTUATION_DELAY_NS)
    assert c.closed and not c.feedback_closed
    c.step(ACTUATION_DELAY_NS + FEEDBACK_DELAY_NS)
    assert c.feedback_closed
    c.inject_welding()
    c.command(False, 100_000_000)
    c.step(500_000_000)
    assert c.closed and c.feedback_closed


def test_replies_come_after_a_jittered_latency_within_the_window() -> None:
    ch = "sim-latency"
    drv = can.Bus(interface="virtual", channel=ch, preserve_timestamps=True)
    sim = can.Bus(interface="virtual", channel=ch, preserve_timestamps=True)
    try:
        rack = InfyRackSim(sim, {1: ModuleStage()}, random.Random(5), lambda: 0.0)
        latencies = []
        for k in range(40):
            t0 = k * 100_000_000
            drv.send(infy.request(infy.InfyCommand.STATUS, 1))
            rack.step(t0)
            for dt in range(0, 40_000_000, 1_000_000):
                rack.step(t0 + dt)
                msg = drv.recv(timeout=0)
                if msg is not None:
                    latencies.append(dt)
                    break
        assert len(latencies) == 40
        assert min(latencies) >= REPLY_LATENCY_MIN_NS and max(latencies) <= REPLY_LATENCY_MAX_NS
        assert len(set(latencies)) > 5  # jitter, not a constant
    finally:
        drv.shutdown()
        sim.shutdown()


def test_infy_sim_answers_nonzero_read_payload_with_an_error_code() -> None:
    ch = "sim-infy-err"
    drv = can.Bus(interface="virtual", channel=ch, preserve_timestamps=True)
    sim = can.Bus(interface="virtual", channel=ch, preserve_timestamps=True)
    try:
        rack = InfyRackSim(sim, {1: ModuleStage()}, random.Random(5), lambda: 0.0)
        drv.send(infy.request(infy.InfyCommand.STATUS, 1, b"\x01" + bytes(7)))
        rack.step(0)
        rack.step(100_000_000)
        msg = drv.recv(timeout=0)
        assert msg is not None
        assert infy.decode_id(msg.arbitration_id).error == infy.InfyErrorCode.DATA_INVALID
    finally:
        drv.shutdown()
        sim.shutdown()


def test_imd_averages_so_a_new_fault_shows_within_a_few_samples_and_tracks_bus() -> None:
    bus_v = [400.0]
    imd = ImdPhysics(lambda: bus_v[0])
    imd.set_measuring(True, 0)
    imd.step(5_000_000_000)
    assert imd.averaged_resistance_ohm == pytest.approx(5e6)
    imd.inject_insulation_fault(50_000.0)
    imd.step(6_000_000_000)
    assert imd.averaged_resistance_ohm is not None and imd.averaged_resistance_ohm > 100_000
    imd.step(10_000_000_000)
    assert imd.averaged_resistance_ohm is not None and imd.averaged_resistance_ohm < 100_000


def test_imd_self_test_is_slow_and_can_be_forced_to_fail() -> None:
    imd = ImdPhysics(lambda: 0.0)
    imd.start_self_test(0)
    imd.step(SELF_TEST_DURATION_NS - 1)
    assert imd.self_test_running
    imd.step(SELF_TEST_DURATION_NS)
    assert imd.last_self_test_passed is True
    imd.fail_self_test = True
    imd.start_self_test(SELF_TEST_DURATION_NS)
    imd.step(3 * SELF_TEST_DURATION_NS)
    assert imd.last_self_test_passed is False

"""DC meter: simulated meter within its accuracy, and the V x I integrator fallback."""

from __future__ import annotations

import random

import pytest

from drivers.meter.integrator import VoltageCurrentIntegrator
from drivers.meter.sim_meter import SAMPLE_PERIOD_NS, Accuracy, SimDcMeter
from evse.ports.meter import MeterError


def test_integrator_energy_of_constant_power_is_exact() -> None:
    m = VoltageCurrentIntegrator()
    for k in range(3601):
        m.feed(400.0, 100.0, k * 1_000_000_000)  # 40 kW for one hour
    assert m.last is not None and m.last.energy_wh == pytest.approx(40_000.0)
    assert len(m.poll(0)) == 3601 and m.poll(0) == []


def test_integrator_rejects_time_going_backwards() -> None:
    m = VoltageCurrentIntegrator()
    m.feed(400.0, 1.0, 10)
    with pytest.raises(MeterError):
        m.feed(400.0, 1.0, 5)


def test_sim_meter_readings_stay_inside_the_accuracy_band_and_count_energy() -> None:
    truth = [(0.0, 0.0)]
    meter = SimDcMeter(lambda: truth[0], random.Random(7))
    acc = Accuracy()
    t = 0
    for k in range(1000):
        truth[0] = (300.0 + k * 0.1, 50.0 + (k % 10))
        t = k * SAMPLE_PERIOD_NS
        (r,) = meter.poll(t)
        v, i = truth[0]
        assert abs(r.voltage_v - v) <= acc.voltage_tolerance_v(v)
        assert abs(r.current_a - i) <= acc.current_tolerance_a(i)
    assert meter.poll(t + 1) == []  # not due yet
    assert meter.last is not None and meter.last.energy_wh > 0


def test_reverse_power_does_not_count_the_import_register_down() -> None:
    """The register is the import direction (evse/ports/meter.py): the car's battery feeding
    the module discharge path back (modules off, contacts closed) leaves it where it was,
    so an OCPP meter stop is never below its start."""
    truth = [(400.0, 100.0)]
    meter = SimDcMeter(lambda: truth[0], random.Random(7))
    integrator = VoltageCurrentIntegrator()
    for k in range(101):
        if k == 50:
            truth[0] = (400.0, -3.0)
        meter.poll(k * SAMPLE_PERIOD_NS)
        integrator.feed(*truth[0], k * SAMPLE_PERIOD_NS)
    for m in (meter, integrator):
        assert m.last is not None
        # 40 kW for 49 periods plus half of the step period (trapezoid), then nothing.
        assert m.last.energy_wh == pytest.approx(40_000 * 49.5 * SAMPLE_PERIOD_NS * 1e-9 / 3600)


def test_integrator_fallback_runs_a_session_on_module_read_back() -> None:
    """Without a DC meter the core regulates on the modules' own V/I (0x060: 250 ms polls):
    the documented fallback. Energy agrees with the simulated meter within a few percent."""
    from tests.power.closed_loop import Rig

    rig = Rig(protocol="winline", meter="integrator")
    try:
        rig.full_session_to_charging()
        assert rig.integrator is not None and rig.integrator.last is not None
        e0, s0 = rig.integrator.last.energy_wh, rig.meter.last.energy_wh  # type: ignore[union-attr]
        rig.charge(80.0, 30_000_000_000)
        e1, s1 = rig.integrator.last.energy_wh, rig.meter.last.energy_wh  # type: ignore[union-attr]
        assert e1 - e0 == pytest.approx(s1 - s0, rel=0.03)
    finally:
        rig.close()

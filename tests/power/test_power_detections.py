"""Issue 11 detections on the power side: over-current (setpoint and cable rating, bounded
duration), connector temperature (derating that feeds maxima(), then stop), stale meter."""

from __future__ import annotations

import pytest

from evse.ports.temperature import TemperatureReading
from evse.power.controller import (
    METER_STALE_NS,
    OVER_CURRENT_DURATION_NS,
    PowerPath,
    PowerPathConfig,
)
from evse.power.faults import FaultReason, Severity
from evse.power.types import DisableModules, EvRequest, Phase, SetContactors, SetModuleOutput
from tests.power.test_power_fault_table import EV_MAX_V, MS, Driver


def test_over_current_against_the_setpoint_trips_only_after_its_duration() -> None:
    d = Driver()
    d.charging()
    setpoint = d.core.status.present
    assert setpoint is not None
    d.meter(EV_MAX_V - 10, 120.0, 1 * MS)  # far above the ~50 A setpoint
    d.meter(EV_MAX_V - 10, 120.0, OVER_CURRENT_DURATION_NS - 10 * MS)
    assert d.core.fault is None  # a spike shorter than the bound is tolerated
    d.meter(EV_MAX_V - 10, 120.0, 20 * MS)
    f = d.core.fault
    assert f is not None and f.reason is FaultReason.OVER_CURRENT
    assert f.severity is Severity.ERROR and d.core.phase is Phase.STOPPING


def test_current_back_within_the_margin_resets_the_over_current_timer() -> None:
    d = Driver()
    d.charging()
    for _ in range(10):
        d.meter(EV_MAX_V - 10, 120.0, 300 * MS)
        d.meter(EV_MAX_V - 10, 30.0, 1 * MS)  # back below the setpoint
    assert d.core.fault is None


def test_cable_rating_caps_the_maxima_and_trips_over_current() -> None:
    d = Driver()
    d.core = PowerPath(PowerPathConfig(cable_rating_a=40.0))
    assert d.core.limits(0).max_current_a == 40.0
    d.charging()  # the car asks 50 A: the setpoint stays at the cable's 40 A
    sent = [c for c in d.core.take_commands() if isinstance(c, SetModuleOutput)]
    assert all(c.current_a <= 40.0 for c in sent)
    for _ in range(5):
        d.meter(EV_MAX_V - 10, 44.0, 100 * MS)  # within setpoint + 5 A, above the cable
    f = d.core.fault
    assert f is not None and f.reason is FaultReason.OVER_CURRENT


@pytest.mark.req("PLC-6.3")
def test_connector_temperature_derates_the_maxima_then_stops_the_charge() -> None:
    d = Driver()
    full = d.core.limits(0).max_current_a
    d.charging()
    d.feed(TemperatureReading("dc_plus_pin", 85.0, d.t))  # half way 80 -> 90 °C
    assert d.core.limits(d.t).max_current_a == full / 2
    d.core.current_demand(EvRequest(EV_MAX_V, 150.0), d.at(20 * MS))
    assert d.core.status.limits.max_current_a == full / 2  # what the car is told
    assert d.core.fault is None
    d.feed(TemperatureReading("cable", 60.0, d.t))
    assert d.core.limits(d.t).max_current_a == full / 2  # the hottest sensor counts
    d.feed(TemperatureReading("dc_plus_pin", 90.0, d.t))
    f = d.core.fault
    assert f is not None and f.reason is FaultReason.OVER_TEMPERATURE
    assert f.severity is Severity.ERROR
    d.feed(TemperatureReading("dc_plus_pin", 30.0, d.t))
    assert d.core.limits(d.t).max_current_a == full


def test_stale_meter_while_charging_is_an_error_shutdown() -> None:
    d = Driver()
    d.charging()
    d.take()
    d.timer(METER_STALE_NS - 10 * MS)
    assert d.core.fault is None
    assert d.core.next_deadline_ns() is not None
    d.timer(20 * MS)
    f = d.core.fault
    assert f is not None and f.reason is FaultReason.METER_STALE
    assert f.severity is Severity.ERROR
    for _ in range(80):  # no reading proves < 5 A: the contactors open at the 1 s bound
        d.timer(20 * MS)
    cmds = d.take()
    assert cmds.index(DisableModules()) < cmds.index(SetContactors(False))


def test_stale_meter_is_watched_while_energised_not_while_idle() -> None:
    """The cable check's 60 V gates read the meter as the charge does, so a meter that
    stops while the path is energised stops the session (fault campaign: meter_stale
    injected before precharge went unseen through a whole cable check); idle, with no
    session, nothing depends on it."""
    idle = Driver()
    idle.timer(10 * METER_STALE_NS)
    assert idle.core.fault is None
    d = Driver()
    d.check_done()
    d.timer(10 * METER_STALE_NS)
    assert d.core.fault is not None and d.core.fault.reason is FaultReason.METER_STALE

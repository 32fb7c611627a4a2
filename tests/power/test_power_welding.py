"""The welding check's two witnesses (evse/power/welding.py): feedback and module side."""

from __future__ import annotations

from evse.power.shutdown import CONTACTOR_FEEDBACK_BOUND_NS
from evse.power.types import WeldingResult
from evse.power.welding import VOLTAGE_DECAY_BOUND_NS, WeldingCheck

MS = 1_000_000


def _run(feedback_closed: bool, module_v: float | None, connector_v: float,
         measured_ns: int | None = None) -> WeldingCheck:
    w = WeldingCheck(0)
    t = 0
    while w.result is WeldingResult.CHECKING and t <= VOLTAGE_DECAY_BOUND_NS:
        w.update(feedback_closed, module_v, connector_v, t,
                 t if measured_ns is None else measured_ns)
        t += 10 * MS
    return w


def test_an_unmeasured_module_side_with_open_feedback_is_not_a_weld() -> None:
    """Every module silent, the car's battery still on the pins: unknown is not live."""
    w = _run(False, None, 380.0)
    assert w.result is WeldingResult.OPEN
    assert "not measured" in w.detail


def test_closed_feedback_is_a_weld_even_without_a_module_voltage() -> None:
    w = _run(True, None, 380.0)
    assert w.result is WeldingResult.WELDED and w.detail == "feedback still closed"
    assert CONTACTOR_FEEDBACK_BOUND_NS < VOLTAGE_DECAY_BOUND_NS


def test_a_measured_live_module_side_is_still_a_weld() -> None:
    w = _run(False, 380.0, 380.0)
    assert w.result is WeldingResult.WELDED and "module side still 380.0 V" in w.detail


def test_a_module_voltage_from_before_the_opening_is_not_a_weld() -> None:
    """The modules went silent as the check began (their last report, at the battery's
    voltage, predates the opening): it says nothing about the decay."""
    w = _run(False, 380.0, 380.0, measured_ns=-500 * MS)
    assert w.result is WeldingResult.OPEN and "not measured" in w.detail



def test_a_live_module_side_behind_a_discharged_cable_is_an_output_not_off() -> None:
    """The cable side fell below 60 V (the output discharge works, the contacts are apart)
    while the module side, measured since the opening, stays live: no weld, but modules
    that did not switch off (or cannot discharge), after the whole decay bound."""
    w = _run(False, 400.0, 12.0)
    assert w.result is WeldingResult.MODULE_LIVE
    assert "module side still 400.0 V" in w.detail and "output not off" in w.detail
    early = WeldingCheck(0)
    early.update(False, 400.0, 12.0, VOLTAGE_DECAY_BOUND_NS - MS, VOLTAGE_DECAY_BOUND_NS - MS)
    assert early.result is WeldingResult.CHECKING  # it may still be decaying


def test_a_module_side_that_decays_behind_a_discharged_cable_is_open() -> None:
    w = WeldingCheck(0)
    w.update(False, 300.0, 12.0, CONTACTOR_FEEDBACK_BOUND_NS, CONTACTOR_FEEDBACK_BOUND_NS)
    assert w.result is WeldingResult.CHECKING
    w.update(False, 55.0, 10.0, 600 * MS, 600 * MS)
    assert w.result is WeldingResult.OPEN


def test_a_module_report_from_before_the_opening_waits_for_a_fresh_one() -> None:
    """The cable side is discharged but the module side's last report predates the opening:
    the check waits for the next report (bench seed 640, discharge_timeout@sdp_sap read
    open at 0.87 s), and that report, still live, is an output not off."""
    w = WeldingCheck(0)
    w.update(False, 400.0, 12.0, 900 * MS, -100 * MS)
    assert w.result is WeldingResult.CHECKING
    w.update(False, 400.0, 12.0, VOLTAGE_DECAY_BOUND_NS, 1_000 * MS)
    assert w.result is WeldingResult.MODULE_LIVE

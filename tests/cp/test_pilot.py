"""IEC 61851-1 control pilot behaviour seen from the board: states, timing rules, faults."""

from __future__ import annotations

import pytest

from drivers.board.sim import EvCpState
from evse.cp.pilot import T_POWER_OFF_AFTER_C_TO_B_NS, T_POWER_ON_AFTER_B_TO_C_NS
from evse.ports.board import CpOutputMode, PpState
from tests.cp.harness import Cp


@pytest.mark.req("PLC-1")
def test_plug_in_gives_b1_then_5_percent_pwm_after_the_hlc_delay() -> None:
    h = Cp()
    h.ev(EvCpState.B)
    h.run(0.1)
    assert h.state == "plugged.B.B1" and h.board.output is CpOutputMode.X1
    h.run(0.5)
    assert h.state == "plugged.B.B2"
    assert h.board.output is CpOutputMode.PWM and h.board.duty_permille == 50


@pytest.mark.req("PLC-1")
def test_contactors_never_close_without_a_power_request() -> None:
    h = Cp()
    h.ev(EvCpState.B)
    h.run(1.0)
    h.ev(EvCpState.C)
    h.run(5.0)
    assert h.state == "plugged.C.C2.idle" and not h.board.contact_closed


@pytest.mark.req("PLC-1")
def test_power_request_before_state_c_is_granted_on_b_to_c_within_3_s() -> None:
    """IEC 61851-1 Table A.6 seq. 4: power on within 3 s after B->C."""
    h = Cp()
    h.ev(EvCpState.B)
    h.run(1.0)
    h.post("power_on_request")
    h.ev(EvCpState.C)
    t_c = h.sched.now_ns()
    h.run(3.0)
    closed_at = [t for t, closed in h.board.contact_log if closed]
    assert closed_at and closed_at[0] - t_c <= T_POWER_ON_AFTER_B_TO_C_NS
    assert h.state == "plugged.C.C2.energized"


@pytest.mark.req("PLC-1")
def test_c_to_b_withdraws_power_and_opens_contactors_within_100_ms() -> None:
    """IEC 61851-1 Table A.6 seq. 8.1."""
    h = Cp()
    h.charging()
    h.ev(EvCpState.B)
    t_b = h.sched.now_ns()
    h.run(0.2)
    opened = [t for t, closed in h.board.contact_log if not closed]
    assert opened and opened[-1] - t_b <= T_POWER_OFF_AFTER_C_TO_B_NS
    assert h.state == "plugged.B.B2" and not h.st.cp.handler.power_granted


@pytest.mark.req("PLC-1")
def test_unplug_while_charging_ends_in_a_with_contactors_open() -> None:
    h = Cp()
    h.charging()
    h.ev(EvCpState.A)
    h.run(0.2)
    assert h.state == "A" and not h.board.contact_closed


@pytest.mark.req("PLC-6.1")
def test_estop_opens_contactors_at_once_and_latches_until_reset() -> None:
    h = Cp()
    h.charging()
    h.board.press_estop()
    t = h.sched.now_ns()
    h.run(0.05)
    assert h.state == "emergency" and not h.board.contact_closed
    assert h.board.contact_log[-1] == (t, False)  # hardware cut: same instant
    h.post("fault_reset")
    assert h.state == "emergency"  # still pressed
    h.board.release_estop()
    h.run(0.5)
    assert h.state == "F"
    h.post("fault_reset")
    h.run(0.1)
    assert h.state.startswith("plugged")  # EV still connected and seen again


@pytest.mark.req("PLC-6.5")
def test_keepalive_loss_makes_the_board_drop_contactors_within_its_timeout() -> None:
    h = Cp()
    h.charging()
    h.cp.set_keepalive_enabled(False)
    last_keepalive = h.board.last_keepalive_ns
    h.run(5.0)
    opened = [t for t, closed in h.board.contact_log if not closed]
    assert opened and opened[-1] - last_keepalive <= (
        h.board.p.keepalive_timeout_ns + h.board.p.contactor_open_ns + 20_000_000
    )
    assert h.state == "F"  # the board's fault report latches F


@pytest.mark.req("PLC-6.4")
def test_welded_contactor_is_detected_and_latched() -> None:
    h = Cp()
    h.charging()
    h.board.welded = True
    h.ev(EvCpState.B)
    h.run(2.0)
    assert h.board.contact_closed  # physically stuck
    assert h.state == "F"
    assert "contactor_welded" in {c.value for c in h.cp.handler.latched}


@pytest.mark.req("PLC-6.4")
def test_contactor_that_does_not_close_is_a_fault() -> None:
    h = Cp()
    h.board.fail_to_close = True
    h.ev(EvCpState.B)
    h.run(1.0)
    h.ev(EvCpState.C)
    h.run(0.1)
    h.post("power_on_request")
    h.run(1.1)  # T_CONTACTOR_FEEDBACK_NS (1 s) after the grant
    assert h.state == "F" and not h.board.contact_closed


@pytest.mark.req("PLC-6.4")
def test_f_for_a_contactor_that_did_not_close_is_bounded_so_the_unplug_is_seen() -> None:
    """The power path's fault for it clears on the unplug (fault_table.yaml
    contactor_not_closed: self_clearing); in F (-12 V) the unplug cannot be seen, so F lasts
    t_f_after_fault and the pilot drives X1 again: no PWM, no power while the car stays, A
    when it leaves, and the next car is offered 5 % PWM without an operator reset."""
    h = Cp()
    h.board.fail_to_close = True
    h.ev(EvCpState.B)
    h.run(1.0)
    h.ev(EvCpState.C)
    h.run(0.1)
    h.post("power_on_request")
    h.run(1.1)
    assert h.state == "F" and h.board.output is CpOutputMode.F
    h.run(0.4)  # t_f_after_fault 0.3 s
    assert h.state == "after_f" and h.board.output is CpOutputMode.X1
    h.post("power_on_request")  # a power request there is not granted
    h.run(3.0)
    assert h.state == "after_f" and not h.st.cp.handler.power_granted
    assert not h.st.cp.handler.pwm_on
    h.board.fail_to_close = False
    h.ev(EvCpState.A)
    h.run(0.2)
    assert h.state == "A"
    h.ev(EvCpState.B)
    h.run(1.0)
    assert h.state == "plugged.B.B2" and h.board.output is CpOutputMode.PWM


@pytest.mark.req("PLC-6.4")
def test_f_for_a_welded_contactor_stays_until_the_reset() -> None:
    """A latched cause (fault_table.yaml contactor_welded: latched) keeps F past
    t_f_after_fault."""
    h = Cp()
    h.charging()
    h.board.welded = True
    h.ev(EvCpState.B)
    h.run(3.0)
    assert h.state == "F"


@pytest.mark.req("PLC-1")
def test_cp_short_goes_to_e_and_recovers_on_removal() -> None:
    h = Cp()
    h.charging()
    h.ev(EvCpState.E)
    h.run(0.1)
    assert h.state == "E" and not h.board.contact_closed
    h.ev(EvCpState.B)
    h.run(0.1)
    assert h.state.startswith("plugged.B")


@pytest.mark.req("PLC-1")
def test_diode_fault_goes_to_e() -> None:
    h = Cp()
    h.ev(EvCpState.B)
    h.run(1.0)
    assert h.state == "plugged.B.B2"
    h.board.ev_diode_ok = False
    h.run(0.1)
    assert h.state == "E"


def test_state_d_without_ventilation_refuses_power() -> None:
    h = Cp()
    h.ev(EvCpState.B)
    h.run(1.0)
    h.ev(EvCpState.D)
    h.run(0.1)
    h.post("power_on_request")
    h.run(0.5)
    assert h.state == "plugged.D.D2.idle" and not h.board.contact_closed


@pytest.mark.parametrize("where", ["F", "E", "A"])
def test_a_power_request_the_pilot_cannot_grant_is_refused_at_once(where: str) -> None:
    """In F, E or A the board will not close the contactors: the requester is told now
    (power_refused), not left to read the missing feedback as a contactor fault (fault
    campaign cp_f@cpd: CONTACTOR_NOT_CLOSED after the cable check's 5 s)."""
    h = Cp()
    if where != "A":
        h.ev(EvCpState.B)
        h.run(1.0)
    if where == "F":
        h.post("fault")
    elif where == "E":
        h.ev(EvCpState.E)
        h.run(0.1)
    assert h.state == where
    before = len(h.st.notices)
    h.post("power_on_request")
    refused = [n for _, n in h.st.notices[before:] if n.kind == "power_refused"]
    assert refused and refused[0].data["reason"] == "pilot_not_granting"
    assert h.state == where and not h.board.contact_closed


def test_a_power_request_waiting_for_pwm_is_not_refused() -> None:
    """C1 (PWM about to start) keeps the request and grants it with the PWM."""
    h = Cp()
    h.ev(EvCpState.C)
    h.run_ms(50)
    assert h.state == "plugged.C.C1"
    before = len(h.st.notices)
    h.post("power_on_request")
    h.run(1.0)
    assert not any(n.kind == "power_refused" for _, n in h.st.notices[before:])
    assert h.state == "plugged.C.C2.energized" and h.board.contact_closed


def test_pwm_stop_while_charging_withdraws_power() -> None:
    h = Cp()
    h.charging()
    h.post("hlc_suspend")
    h.run(0.1)
    assert h.state == "plugged.C.C1" and not h.board.contact_closed
    h.run(5.0)
    assert h.state == "plugged.C.C1"  # suspended HLC does not restart by itself


def test_wake_up_drives_f_for_t_step_ef_then_restarts_pwm() -> None:
    h = Cp()
    h.ev(EvCpState.B)
    h.run(1.0)
    h.post("wake_up")
    assert h.board.output is CpOutputMode.F
    h.run(3.9)
    assert h.state == "plugged.wake_ef"
    h.run(0.2)
    assert h.state == "plugged.B.B1"
    h.run(0.6)
    assert h.state == "plugged.B.B2"


def test_external_fault_holds_f_for_its_minimum_time() -> None:
    h = Cp()
    h.ev(EvCpState.B)
    h.run(1.0)
    h.post("fault")
    assert h.state == "F" and h.board.output is CpOutputMode.F
    h.post("fault_reset")
    assert h.state == "F"  # t_f_after_fault (300 ms) not yet over
    h.run(0.3)
    h.post("fault_reset")
    h.run(0.1)
    assert h.state.startswith("plugged.B")


def test_power_requested_while_pwm_is_off_is_granted_once_pwm_runs() -> None:
    """A car already in C when 5 % PWM starts (e.g. after a wake-up or a fast car): the
    power path's request must not be lost on the way C1 -> C2."""
    h = Cp()
    h.ev(EvCpState.C)  # plugs in directly in C: C1, PWM off
    h.run(0.1)
    assert h.state == "plugged.C.C1"
    h.post("power_on_request")
    h.run(0.6)  # t_hlc_pwm_delay
    assert h.state == "plugged.C.C2.energized"
    h.run(0.1)
    assert h.board.contact_closed


# --- PP (proximity) gating: reference A1 S0 -> S1 needs PP connected -------------------------
def _pp_notices(h: Cp, kind: str) -> list[dict[str, object]]:
    return [n.data for _, n in h.st.notices if n.kind == kind]


@pytest.mark.req("PLC-1")
def test_pp_open_while_charging_withdraws_power_at_once_and_reports_a_pp_fault() -> None:
    """The plug is unlatched with the car still on the pilot: X1 and contacts open within
    the C -> B bound (IEC 61851-1 Table A.6 seq. 8.1); still open after t_pp_open_confirm:
    a PP fault. PP back: 5 % PWM again after the HLC delay."""
    h = Cp()
    h.charging()
    h.board.set_pp(PpState.DISCONNECTED)
    t = h.sched.now_ns()
    h.run_ms(50)
    opened = [at for at, closed in h.board.contact_log if not closed]
    assert opened and opened[-1] - t <= T_POWER_OFF_AFTER_C_TO_B_NS
    assert h.state == "plugged.proximity_open" and h.board.output is CpOutputMode.X1
    assert not _pp_notices(h, "pp_fault")
    h.run_ms(100)
    assert _pp_notices(h, "pp_fault") == [{"state": "disconnected"}]
    h.board.set_pp(PpState.CONNECTED)
    h.run_ms(50)
    assert h.state == "plugged.C.C1"  # the car is still in C
    h.run(0.6)
    assert h.state == "plugged.C.C2.idle" and h.board.output is CpOutputMode.PWM
    assert not h.board.contact_closed  # a new power request is needed


@pytest.mark.req("PLC-1")
def test_a_car_whose_pp_reads_open_gets_no_pwm_until_pp_connects() -> None:
    h = Cp()
    h.board.set_pp(PpState.FAULT)  # broken PP wire before the car arrives
    h.board.ev_state = EvCpState.B  # CP alone changes: the plug's PP stays invalid
    h.run(2.0)
    assert h.state == "plugged.B.B1" and h.board.output is CpOutputMode.X1
    h.post("power_on_request")
    h.ev(EvCpState.C)
    h.run(2.0)
    assert h.state == "plugged.C.C1" and not h.board.contact_closed
    h.board.set_pp(PpState.CONNECTED)
    h.run(0.7)
    assert h.state == "plugged.C.C2.energized" and h.board.output is CpOutputMode.PWM


@pytest.mark.req("PLC-1")
def test_an_ordinary_unplug_is_an_unplug_not_a_pp_fault() -> None:
    """PP and CP break together when the plug is pulled: the pilot reaches A before
    t_pp_open_confirm, so no PP fault is reported."""
    h = Cp()
    h.charging()
    h.ev(EvCpState.A)
    h.run(0.5)
    assert h.state == "A" and not _pp_notices(h, "pp_fault")


@pytest.mark.req("PLC-1")
def test_a_board_that_does_not_read_pp_never_gates() -> None:
    """DC boards normally do not read PP (hardware.md §4.4): UNKNOWN never holds PWM back."""
    h = Cp()
    h.board.set_pp(PpState.UNKNOWN)
    h.board.ev_state = EvCpState.B
    h.run(1.0)
    assert h.state == "plugged.B.B2"


def test_the_station_reads_the_pilot_by_chart_tags_and_refuses_a_missing_one() -> None:
    """What the SECC and the fault report ask of the pilot (e-stop, not available, no
    vehicle) are tags of fsm_specs/iec61851.yaml states: they follow the chart as it moves,
    and a tag no state carries is refused when the station is built, not read as never set."""
    h = Cp()
    assert h.cp.has_tag("no_vehicle") and not h.cp.has_tag("emergency")
    h.charging()
    assert not h.cp.has_tag("no_vehicle")
    h.board.press_estop()
    h.run(0.05)
    assert h.cp.has_tag("emergency") and not h.cp.has_tag("not_available")
    h.board.release_estop()
    h.run(0.5)
    assert h.state == "F" and h.cp.has_tag("not_available") and h.cp.has_tag("pilot_f")
    h.cp.require_tags("emergency", "pp_open")
    with pytest.raises(ValueError, match="no state tagged estop"):
        h.cp.require_tags("emergency", "estop")

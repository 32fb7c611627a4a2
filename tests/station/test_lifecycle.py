"""A station, not a session: faults that clear, commands that act, reasons that arrive.

Every test runs the whole simulated station (pilot, SLAC, SECC, power path on CAN, contract
guard, OCPP controller against the CSMS simulator) through more than one plug-in, and checks
what the next car and the CSMS see after a fault, a command or a stop.
"""

from __future__ import annotations

from typing import Any

import pytest

from evse.contract.values import SessionCommand
from evse.controller.plc_port import SessionCommandKind
from evse.ports.board import PpState
from evse.power.shutdown import EMERGENCY_OPEN_BOUND_NS
from evse.runtime.config import StationConfig
from evse.runtime.dc_station import DcStation, SessionConfig
from evse.runtime.ocpp_side import OcppSide

MS = 1_000_000
S = 1_000 * MS


def station(ocpp: str = "1.6", **session: Any) -> DcStation:
    session.setdefault("charge_s", 300.0)
    st = DcStation(StationConfig(), SessionConfig(ocpp=ocpp, **session))
    st.start()
    return st


def run_until(st: DcStation, pred: Any, limit_s: float) -> None:
    ok = st.sched.run_until_true(pred, limit_ns=round(limit_s * S))
    assert ok, f"not reached within {limit_s} s; milestones {st.log.milestones}"


def side(st: DcStation) -> OcppSide:
    assert isinstance(st.controller, OcppSide)
    return st.controller


def plug_and_charge(st: DcStation, session: SessionConfig | None = None) -> None:
    st.plug_in(session)
    run_until(st, lambda: st.secc is not None and st.secc.state == "charging"
              and st.world.plant.connector_current_a > 10.0, 120)


def finish(st: DcStation, limit_s: float = 60) -> str:
    run_until(st, lambda: st.log.ev_result is not None, limit_s)
    assert st.log.ev_result is not None
    return st.log.ev_result


def statuses(st: DcStation) -> list[str]:
    return [p.get("status", p.get("connectorStatus", ""))
            for p in side(st).csms.of("StatusNotification")]


def stop_reasons(st: DcStation) -> list[str]:
    csms = side(st).csms
    if csms.version == "1.6":
        return [p.get("reason", "Local") for p in csms.of("StopTransaction")]
    return [p["transactionInfo"].get("stoppedReason", "Local")
            for p in csms.of("TransactionEvent") if p["eventType"] == "Ended"]


def csms_call(st: DcStation, action: str, payload: dict[str, Any]) -> None:
    side(st).csms.call(action, payload, st.sched.now_ns())
    st.sched.run_for(500 * MS)


def short_session() -> SessionConfig:
    return SessionConfig(charge_s=5.0)


@pytest.mark.req("PLC-6.2")
def test_insulation_fault_is_latched_until_an_operator_reset_then_the_next_car_charges() -> None:
    st = station()
    imd = st.world.imd_physics
    healthy = imd.resistance_ohm
    plug_and_charge(st)
    imd.inject_insulation_fault(20_000.0)
    run_until(st, lambda: st.power.fault is not None, 15)
    assert not finish(st).startswith("OK")
    st.unplug()
    st.sched.run_for(3 * S)
    # Latched: the connector is Faulted and the next car gets no PWM (pilot in F).
    assert statuses(st)[-1] == "Faulted"
    assert st.cp.state == "F"
    imd.inject_insulation_fault(healthy)  # the cable is repaired
    st.plug_in(short_session())
    st.sched.run_for(5 * S)
    assert not st.cp.handler.pwm_on and st.secc is None, "a car was offered PWM while faulted"
    st.unplug()
    st.sched.run_for(1 * S)
    csms_call(st, "Reset", {"type": "Soft"})
    st.sched.run_for(2 * S)
    assert st.reset_log and st.reset_log[-1][1], st.reset_log
    assert st.cp.state == "A" and statuses(st)[-1] == "Available"
    plug_and_charge(st, short_session())
    assert finish(st).startswith("OK")
    # One transaction per charging session; the faulted one ended as a ground fault does
    # in 1.6 (EmergencyStop: the contacts opened on an insulation fault).
    assert stop_reasons(st) == ["EmergencyStop", "Local"]
    assert side(st).csms.violations == []
    st.close()


@pytest.mark.req("PLC-6.1")
def test_estop_needs_release_and_reset_before_the_next_car_and_reads_as_an_estop() -> None:
    st = station()
    plug_and_charge(st)
    st.world.board.press_estop()
    pressed = st.sched.now_ns()
    run_until(st, lambda: not st.world.contactor.closed, 1)
    assert st.sched.now_ns() - pressed <= EMERGENCY_OPEN_BOUND_NS
    finish(st)
    st.unplug()
    st.sched.run_for(2 * S)
    csms_call(st, "Reset", {"type": "Soft"})  # still pressed: refused, stays out of service
    assert st.reset_log and not st.reset_log[-1][1]
    assert "estop_released does not hold" in st.reset_log[-1][2]
    # The refusal and its reason reach the controller (plc.command_result, contract 1.1).
    refused = side(st).ctrl.command_results[-1]
    assert not refused.accepted and "estop_released does not hold" in refused.reason
    assert st.cp.state == "emergency"
    st.world.board.release_estop()
    st.sched.run_for(1 * S)
    assert st.cp.state == "F" and statuses(st)[-1] == "Faulted"
    csms_call(st, "Reset", {"type": "Soft"})
    st.sched.run_for(1 * S)
    assert st.cp.state == "A" and statuses(st)[-1] == "Available"
    plug_and_charge(st, short_session())
    assert finish(st).startswith("OK")
    assert stop_reasons(st)[0] == "EmergencyStop"
    errors = [p["errorCode"] for p in side(st).csms.of("StatusNotification")
              if p["status"] == "Faulted"]
    assert errors and "InternalError" not in errors, errors
    st.close()


def _emergency_in_answers(st: DcStation) -> bool:
    for _, kind, body in st.ev.transcript:
        status = getattr(body, "DC_EVSEStatus", None) if kind == "res" else None
        if status is not None and status.EVSEStatusCode.value == "EVSE_EmergencyShutdown":
            return True
    return False


def test_controller_emergency_stop_opens_at_once_tells_the_car_and_clears_on_unplug() -> None:
    st = station()
    plug_and_charge(st)
    side(st).ctrl.session_command(SessionCommandKind.STOP_EMERGENCY, "operator")
    sent = st.sched.now_ns()
    run_until(st, lambda: not st.world.contactor.closed, 1)
    # The command crosses the contract on the next power tick (10 ms), then opens at once.
    assert st.sched.now_ns() - sent <= EMERGENCY_OPEN_BOUND_NS + 20 * MS
    finish(st)
    assert _emergency_in_answers(st), "the car was never told EVSE_EmergencyShutdown"
    st.unplug()
    st.sched.run_for(2 * S)
    assert st.power.available and st.cp.state == "A"
    plug_and_charge(st, short_session())
    assert finish(st).startswith("OK")
    assert stop_reasons(st) == ["EmergencyStop", "Local"]
    st.close()


def test_a_controlled_stop_the_car_ignores_escalates_to_an_emergency_stop() -> None:
    st = station(ev_profile="generic")
    st.ev_profile.ignores_stop_notification = True
    plug_and_charge(st)
    side(st).ctrl.session_command(SessionCommandKind.STOP_GRACEFUL, "operator")
    asked = st.sched.now_ns()
    run_until(st, lambda: not st.world.contactor.closed, 15)
    waited = st.sched.now_ns() - asked
    assert 10 * S <= waited <= 10 * S + EMERGENCY_OPEN_BOUND_NS + 50 * MS, waited
    # The contactors may open before the car's next request; that next answer tells it.
    seen = len(st.ev.transcript)
    run_until(st, lambda: any(k == "res" for _, k, _ in st.ev.transcript[seen:]), 1)
    assert _emergency_in_answers(st)
    assert [s.reason.value for s in st.guard.stop_log][-1] == "CONTROLLED_STOP_TIMEOUT"
    st.close()


def test_inoperative_connector_offers_no_pwm_and_operative_serves_the_waiting_car() -> None:
    st = station(charge_s=5.0)
    st.sched.run_for(2 * S)
    csms_call(st, "ChangeAvailability", {"connectorId": 1, "type": "Inoperative"})
    assert statuses(st)[-1] == "Unavailable"
    assert any("AvailabilityChanged(enabled=False" in line for line in st.sched.trace.lines)
    st.plug_in()
    st.sched.run_for(10 * S)
    assert not st.cp.handler.pwm_on and st.secc is None
    assert st.cp.state == "plugged.B.B1"
    csms_call(st, "ChangeAvailability", {"connectorId": 1, "type": "Operative"})
    assert finish(st, 120).startswith("OK")
    assert len(side(st).csms.of("StartTransaction")) == 1
    st.close()


@pytest.mark.req("P0-6", "P1-9")
def test_limits_that_expire_stop_the_charge_as_other_not_as_a_local_stop() -> None:
    st = station()
    plug_and_charge(st)
    side(st).silent = True  # the controller process hangs: no more limits
    finish(st, 30)
    side(st).silent = False
    st.unplug()
    st.sched.run_for(3 * S)
    assert stop_reasons(st) == ["Other"]
    assert st.power.available and statuses(st)[-1] == "Available"
    plug_and_charge(st, short_session())
    assert finish(st).startswith("OK")
    st.close()


@pytest.mark.req("P1-9")
def test_unplug_while_charging_ends_the_transaction_as_ev_disconnected() -> None:
    st = station()
    plug_and_charge(st)
    st.unplug()
    st.sched.run_for(3 * S)
    assert stop_reasons(st) == ["EVDisconnected"]
    assert st.power.available and statuses(st)[-1] == "Available"
    plug_and_charge(st, short_session())
    assert finish(st).startswith("OK")
    st.close()


def test_session_command_enum_is_fully_handled_by_the_station() -> None:
    """Each ctrl.session_command value has a station behaviour above (guards a new value)."""
    assert {c.value for c in SessionCommand} == {
        "ENABLE", "DISABLE", "STOP_GRACEFUL", "STOP_EMERGENCY", "RESET_FAULT"}


@pytest.mark.req("P1-9")
def test_every_way_a_v2g_session_ends_has_a_stop_reason() -> None:
    """A new SessionEndReason without a row would leave the CSMS without a reason."""
    from evse.runtime.station_env import _END_REASONS
    from evse.secc.env import SessionEndReason

    assert set(_END_REASONS) == set(SessionEndReason)


@pytest.mark.req("PLC-1")
def test_pp_lost_with_the_car_in_cuts_power_reports_a_pp_fault_and_clears_with_the_plug() -> None:
    """The plug is unlatched under load: contacts open within the emergency bound, the CSMS
    sees the PP fault (1.6 OtherError, vendorErrorCode PP_INVALID), the transaction ends;
    PP connected again clears it (self-clearing), and the next car charges."""
    st = station()
    plug_and_charge(st)
    st.world.board.set_pp(PpState.DISCONNECTED)
    lost = st.sched.now_ns()
    run_until(st, lambda: not st.world.contactor.closed, 1)
    assert st.sched.now_ns() - lost <= EMERGENCY_OPEN_BOUND_NS
    st.sched.run_for(3 * S)
    faulted = [p for p in side(st).csms.of("StatusNotification") if p["status"] == "Faulted"]
    assert faulted and faulted[-1]["errorCode"] == "OtherError", faulted
    assert faulted[-1]["vendorErrorCode"] == "PP_INVALID"
    assert not st.cp.handler.pwm_on
    finish(st)
    st.world.board.set_pp(PpState.CONNECTED)
    st.sched.run_for(1 * S)
    # PP is no longer reported (the contactor drop the pilot's cut caused clears on unplug).
    last = side(st).csms.of("StatusNotification")[-1]
    assert last.get("vendorErrorCode") != "PP_INVALID", last
    st.unplug()
    st.sched.run_for(2 * S)
    assert statuses(st)[-1] == "Available"
    assert len(stop_reasons(st)) == 1
    plug_and_charge(st, short_session())
    assert finish(st).startswith("OK")
    before = len(side(st).csms.of("StatusNotification"))
    st.unplug()
    st.sched.run_for(2 * S)
    # The ordinary unplug that followed is an unplug, not a PP fault.
    after = side(st).csms.of("StatusNotification")[before:]
    assert after and all(p["status"] != "Faulted" for p in after), after
    assert after[-1]["status"] == "Available"
    assert side(st).csms.violations == []
    st.close()


@pytest.mark.req("PLC-6.1")
def test_a_refused_reset_reaches_the_201_csms_with_its_reason_and_an_accepted_one_clears() -> None:
    """2.0.1: RESET_FAULT refused while the e-stop is still pressed is a NotifyEvent
    (techCode RESET_FAULT_REFUSED, techInfo the PLC's reason); after the release the next
    reset is accepted and the connector is Available."""
    st = station("2.0.1")
    plug_and_charge(st)
    st.world.board.press_estop()
    finish(st)
    st.unplug()
    st.sched.run_for(2 * S)
    csms_call(st, "Reset", {"type": "Immediate"})
    events = [e for p in side(st).csms.of("NotifyEvent") for e in p["eventData"]
              if e.get("techCode") == "RESET_FAULT_REFUSED"]
    assert len(events) == 1 and "estop_released does not hold" in events[0]["techInfo"]
    st.world.board.release_estop()
    st.sched.run_for(1 * S)
    csms_call(st, "Reset", {"type": "Immediate"})
    st.sched.run_for(1 * S)
    results = side(st).ctrl.command_results
    assert [r.accepted for r in results] == [False, True]
    assert statuses(st)[-1] == "Available"
    assert side(st).csms.violations == []
    st.close()

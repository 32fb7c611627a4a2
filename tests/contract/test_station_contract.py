"""The contract scenarios of Deliverable 2 C2 against the real station's PLC side.

`DcStation` (pilot, SLAC, SECC on its DIN / ISO-2 chart, power path, guard) publishes,
a scripted controller answers, over the in-process link and over the CBOR stream link.
Every signal checked here is one the shipped PLC sends; bounds are the guard's own
recorded stops, late by at most one contract poll (the station's 10 ms power tick).
"""

from __future__ import annotations

import pytest

from evse.contract.guard import LINK_LOSS_GRACE_NS, SAFE_DEFAULT_ENVELOPE_TTL_NS
from evse.contract.values import (
    CpState,
    EvErrorCode,
    PlcCpState,
    PlcEvRequest,
    PlcPowerSetpoint,
    PlcPpState,
    PlcV2gPhase,
    PpState,
    RequestSource,
    SessionEventKind,
    StopReason,
    V2gPhase,
)
from tests.contract.session import FULL_SESSION_EVENTS, MS, S
from tests.contract.station_session import POLL_NS, TIMING, RealStation

TRANSPORTS = ["inprocess", "stream"]
#: The controller's limit (MiniController: 200 A, 150 kW).
CTRL_MAX_A = 200.0


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_full_session_reaches_every_milestone_and_respects_controller_limits(
    transport: str,
) -> None:
    st = RealStation(transport)
    st.run_session()
    assert st.station.log.ev_result is not None and st.station.log.ev_result.startswith("OK")
    assert st.session_events() == FULL_SESSION_EVENTS
    assert st.guard.session_stops == []
    setpoints = st.of_type(PlcPowerSetpoint)
    on = [v for v in setpoints if v.enable_output]  # type: ignore[attr-defined]
    assert on, "no plc.power_setpoint while charging"
    assert max(v.current_setpoint_a for v in on) <= CTRL_MAX_A  # type: ignore[attr-defined]
    assert not setpoints[-1].enable_output  # type: ignore[attr-defined]


def test_the_real_plc_publishes_every_state_signal_of_a_session() -> None:
    """plc.cp_state, plc.pp_state, plc.ev_request, plc.power_setpoint and every phase."""
    st = RealStation("inprocess")
    st.run_session()
    cp = [v.state for v in st.of_type(PlcCpState)]  # type: ignore[attr-defined]
    # Unplugged A1, plugged B1, 5 % PWM B2, the car ready C2, PWM off after the session,
    # unplugged again.
    for expected in (CpState.A1, CpState.B1, CpState.B2, CpState.C2, CpState.A1):
        assert expected in cp
        cp = cp[cp.index(expected):]
    assert all(v.pwm_duty_pct == 5.0 for v in st.of_type(PlcCpState)  # type: ignore[attr-defined]
               if v.state in (CpState.B2, CpState.C2))  # type: ignore[attr-defined]
    pp = [v.state for v in st.of_type(PlcPpState)]  # type: ignore[attr-defined]
    assert pp[0] is PpState.CONNECTED and pp[-1] is PpState.DISCONNECTED
    requests = st.of_type(PlcEvRequest)
    sources = {v.source for v in requests}  # type: ignore[attr-defined]
    assert sources == {RequestSource.PRE_CHARGE, RequestSource.CURRENT_DEMAND}
    assert all(v.ev_error_code is EvErrorCode.NO_ERROR for v in requests)  # type: ignore[attr-defined]
    demand = [v for v in requests if v.source is RequestSource.CURRENT_DEMAND]  # type: ignore[attr-defined]
    assert demand[-1].soc_pct >= demand[0].soc_pct  # type: ignore[attr-defined]
    phases = []
    for v in st.of_type(PlcV2gPhase):
        if not phases or phases[-1] is not v.phase:  # type: ignore[attr-defined]
            phases.append(v.phase)  # type: ignore[attr-defined]
    assert phases == [
        V2gPhase.IDLE, V2gPhase.SLAC, V2gPhase.SDP, V2gPhase.SAP, V2gPhase.SESSION_SETUP,
        V2gPhase.SERVICE_DISCOVERY, V2gPhase.AUTH, V2gPhase.CPD, V2gPhase.CABLECHECK,
        V2gPhase.PRECHARGE, V2gPhase.POWERDELIVERY, V2gPhase.CURRENTDEMAND,
        V2gPhase.POWERDELIVERY, V2gPhase.WELDING, V2gPhase.SESSION_STOP, V2gPhase.IDLE,
    ] or phases  # printed on failure
    # plc.power_setpoint at the 20 Hz meas cadence while the output is on (cable check,
    # then precharge and charging), closed by one enable_output=False sample each time.
    samples = list(zip(st.signal_times(PlcPowerSetpoint), st.of_type(PlcPowerSetpoint),
                       strict=True))
    gaps = [b[0] - a[0] for a, b in zip(samples, samples[1:], strict=False)
            if a[1].enable_output]  # type: ignore[attr-defined]
    assert len(gaps) > 100 and max(gaps) <= 100 * MS  # the contract's setpoint_ttl


def test_both_transports_give_the_same_observable_session() -> None:
    a, b = RealStation("inprocess", charge_s=5.0), RealStation("stream", charge_s=5.0)
    a.run_session()
    b.run_session()
    assert a.session_events() == b.session_events()
    assert [type(v) for v in a.received()] == [type(v) for v in b.received()]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_controller_silent_during_authorization_ends_the_session_at_the_auth_timeout(
    transport: str,
) -> None:
    st = RealStation(transport, auth_timeout_eim_s=20.0)
    st.ctrl.accept_auth = True
    st.at(1 * S + 500 * MS, lambda: setattr(st.ctrl, "alive", False))
    st.run_session(limit_s=120)
    [stop] = st.guard.session_stops
    assert stop.reason is StopReason.AUTH_TIMEOUT
    asked = [t for name, t in st.station.env.requests if name == "request_authorization"][0]
    assert stop.since_ns == asked + 20 * S
    assert (SessionEventKind.SESSION_STOPPED, StopReason.AUTH_TIMEOUT) in st.session_events()
    assert (SessionEventKind.POWER_DELIVERY_START, None) not in st.session_events()


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_controller_silent_from_cable_check_charges_on_the_safe_envelope_then_stops(
    transport: str,
) -> None:
    st = RealStation(transport, charge_s=15.0)
    st.after_phase(V2gPhase.CABLECHECK, 0, lambda: setattr(st.ctrl, "alive", False))
    st.run_session()
    assert (SessionEventKind.POWER_DELIVERY_START, None) in st.session_events()
    [stop] = st.guard.session_stops
    assert stop.reason is StopReason.LIMITS_EXPIRED
    started = st.phase_since(V2gPhase.CURRENTDEMAND)
    assert stop.since_ns == started + SAFE_DEFAULT_ENVELOPE_TTL_NS
    assert (SessionEventKind.SESSION_STOPPED, StopReason.LIMITS_EXPIRED) in st.session_events()


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_controller_silent_during_charging_stops_when_its_last_limits_expire(
    transport: str,
) -> None:
    st = RealStation(transport, charge_s=12.0)
    st.after_phase(V2gPhase.CURRENTDEMAND, 3 * S, lambda: setattr(st.ctrl, "alive", False))
    st.run_session()
    [stop] = st.guard.session_stops
    assert stop.reason is StopReason.LIMITS_EXPIRED
    silenced = st.phase_since(V2gPhase.CURRENTDEMAND) + 3 * S
    last_sent = st.ctrl.limits_sent_ns[-1]
    assert silenced - TIMING.limits_period_ns <= last_sent <= silenced
    due = last_sent + TIMING.limits_validity_ms * MS
    assert due <= stop.since_ns <= due + POLL_NS
    events = st.session_events()
    assert (SessionEventKind.POWER_DELIVERY_STOP, StopReason.LIMITS_EXPIRED) in events
    assert (SessionEventKind.SESSION_STOPPED, StopReason.LIMITS_EXPIRED) in events


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_controller_link_lost_for_good_stops_within_the_link_loss_grace(transport: str) -> None:
    st = RealStation(transport, charge_s=12.0)
    st.after_phase(V2gPhase.CURRENTDEMAND, 3 * S, st.cut)
    st.run_session()
    cut_at = st.phase_since(V2gPhase.CURRENTDEMAND) + 3 * S
    [stop] = st.guard.session_stops
    assert stop.reason in (StopReason.CONTROLLER_LINK_LOST, StopReason.LIMITS_EXPIRED)
    before_cut = [t for t in st.ctrl.limits_sent_ns if t < cut_at]
    bound = min(cut_at + LINK_LOSS_GRACE_NS, before_cut[-1] + TIMING.limits_validity_ms * MS)
    assert stop.since_ns <= bound + POLL_NS
    assert stop.since_ns <= cut_at + LINK_LOSS_GRACE_NS + POLL_NS


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_link_drop_and_return_mid_session_loses_nothing_and_keeps_charging(
    transport: str,
) -> None:
    st = RealStation(transport, charge_s=8.0)
    st.after_phase(V2gPhase.CURRENTDEMAND, 3 * S, st.cut)
    st.after_phase(V2gPhase.CURRENTDEMAND, 3 * S + 400 * MS, st.reconnect)
    st.run_session()
    assert st.session_events() == FULL_SESSION_EVENTS
    assert st.guard.session_stops == []


def test_controller_restart_mid_charge_is_survived_when_it_is_back_within_the_grace() -> None:
    st = RealStation("stream", charge_s=8.0)
    st.after_phase(V2gPhase.CURRENTDEMAND, 3 * S, st.cut)
    st.after_phase(V2gPhase.CURRENTDEMAND, 3 * S + 500 * MS, st.restart_controller)
    st.run_session()
    assert st.guard.session_stops == []
    assert st.station.plc_port.counters.peer_restarts == 1  # type: ignore[attr-defined]
    new_phases = [v.phase for v in st.of_type(PlcV2gPhase)]  # type: ignore[attr-defined]
    assert new_phases[0] is V2gPhase.CURRENTDEMAND  # republished for the newcomer
    # The newcomer is retold the session (EVCCID, SESSION_SETUP and, energy flowing,
    # POWER_DELIVERY_START), then how it ends.
    assert [e for e, _ in st.session_events()] == [
        SessionEventKind.SESSION_SETUP, SessionEventKind.POWER_DELIVERY_START,
        SessionEventKind.POWER_DELIVERY_STOP,
        SessionEventKind.SESSION_STOPPED, SessionEventKind.EV_UNPLUGGED]
    assert st.session_events(st.old_ctrl) == FULL_SESSION_EVENTS[:4]


def test_controller_restart_that_takes_too_long_stops_with_link_lost() -> None:
    st = RealStation("stream", charge_s=12.0)
    st.after_phase(V2gPhase.CURRENTDEMAND, 3 * S, st.cut)
    st.after_phase(V2gPhase.CURRENTDEMAND, 6 * S, st.restart_controller)
    st.run_session()
    cut_at = st.phase_since(V2gPhase.CURRENTDEMAND) + 3 * S
    [stop] = st.guard.session_stops
    assert stop.reason is StopReason.CONTROLLER_LINK_LOST
    before_cut = [t for t in st.old_ctrl.limits_sent_ns if t < cut_at]
    bound = min(cut_at + LINK_LOSS_GRACE_NS, before_cut[-1] + TIMING.limits_validity_ms * MS)
    assert bound <= stop.since_ns <= bound + POLL_NS
    # The restarted controller still learns how the session ended.
    assert (SessionEventKind.SESSION_STOPPED, StopReason.CONTROLLER_LINK_LOST) in \
        st.session_events()

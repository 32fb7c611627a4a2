"""PLC-side watchdogs and fallbacks (Deliverable 2 section C), each bound checked in
virtual time to the nanosecond."""

from __future__ import annotations

import pytest

from evse.contract.events import LinkDown, LinkDownReason, LinkUp, PeerRestarted, SignalReceived
from evse.contract.guard import (
    AUTH_TIMEOUT_EIM_NS,
    AUTH_TIMEOUT_PNC_NS,
    CONTROLLED_STOP_TIMEOUT_NS,
    LINK_LOSS_GRACE_NS,
    PNC_CERT_ANSWER_TIMEOUT_NS,
    SAFE_DEFAULT_DERATE_FACTOR,
    SAFE_DEFAULT_ENVELOPE_TTL_NS,
    AuthDecision,
    AuthTimedOut,
    AvailabilityChanged,
    ControllerRestarted,
    FaultResetRequested,
    GuardDecision,
    HardwareRating,
    LimitsSource,
    PlcContractGuard,
    PncAnswerState,
    PncAnswerTimedOut,
    StopKind,
    StopRequested,
    WakeUpRequested,
)
from evse.contract.values import (
    AuthMethod,
    AuthStatus,
    CertificateResponseStatus,
    CtrlAuthContext,
    CtrlAuthStatus,
    CtrlEvseLimitsDynamic,
    CtrlPncCertificateResponse,
    CtrlSchedule,
    CtrlSessionCommand,
    PaymentOption,
    ScheduleEntry,
    SessionCommand,
    SignalValue,
    StopReason,
    TokenType,
    V2gPhase,
)
from evse.power.current_loop import clamp_request
from evse.power.types import EvRequest

S = 1_000_000_000
MS = 1_000_000
HW = HardwareRating(max_voltage_v=920.0, max_current_a=500.0, max_power_w=300_000.0)


def limits(current_a: float = 200.0, validity_ms: int = 2000) -> CtrlEvseLimitsDynamic:
    return CtrlEvseLimitsDynamic(max_voltage_v=800.0, max_current_a=current_a,
                                 max_power_w=150_000.0, min_current_a=0.0,
                                 validity_ms=validity_ms)


def rx(guard: PlcContractGuard, value: SignalValue, t_ns: int) -> list[GuardDecision]:
    return guard.on_event(SignalReceived(value, t_ns), t_ns)


def up(guard: PlcContractGuard, t_ns: int = 0) -> PlcContractGuard:
    guard.on_event(LinkUp(2, 0, resumed=False), t_ns)
    return guard


def charging_guard(t_ns: int = 0) -> PlcContractGuard:
    """A guard whose session reached CurrentDemand at t_ns with fresh controller limits."""
    g = up(PlcContractGuard(HW))
    g.reset_session(0)
    for phase in (V2gPhase.AUTH, V2gPhase.CPD, V2gPhase.CABLECHECK, V2gPhase.PRECHARGE):
        g.set_phase(phase, 0)
    rx(g, limits(), t_ns)
    g.set_phase(V2gPhase.CURRENTDEMAND, t_ns)
    return g


# ----------------------------------------------------------------------- authorization


def test_the_mode_timeouts_are_the_sourced_values_not_each_other() -> None:
    # EVerest EvseV2G defaults (timing.md §7): a swap would cut EIM drivers off at 55 s.
    assert (AUTH_TIMEOUT_EIM_NS, AUTH_TIMEOUT_PNC_NS) == (300 * S, 55 * S)


@pytest.mark.parametrize(("option", "kwargs", "bound_ns"), [
    (PaymentOption.EIM, {}, 300 * S), (PaymentOption.CONTRACT, {}, 55 * S),
    # configured (station config auth section): each mode gets its own value
    (PaymentOption.EIM, {"auth_timeout_eim_ns": 200 * S, "auth_timeout_pnc_ns": 40 * S},
     200 * S),
    (PaymentOption.CONTRACT, {"auth_timeout_eim_ns": 200 * S, "auth_timeout_pnc_ns": 40 * S},
     40 * S),
])
def test_controller_silent_during_authorization_ends_the_session_at_the_mode_timeout(
    option: PaymentOption, kwargs: dict[str, int], bound_ns: int
) -> None:
    g = up(PlcContractGuard(HW, **kwargs))
    t0 = 7 * S
    g.set_phase(V2gPhase.AUTH, t0)
    g.auth_requested(option, t0)
    rx(g, CtrlAuthStatus(status=AuthStatus.PENDING), t0 + 1 * S)
    assert g.next_deadline_ns() == t0 + bound_ns
    assert g.auth_decision(t0 + bound_ns - 1) is AuthDecision.ONGOING  # EVSEProcessing=Ongoing
    assert g.stop_request(t0 + bound_ns - 1) is None
    decisions = g.handle_timer(t0 + bound_ns)
    assert g.auth_decision(t0 + bound_ns) is AuthDecision.TIMED_OUT
    stop = g.stop_request(t0 + bound_ns)
    assert stop is not None and (stop.reason, stop.kind, stop.since_ns) == (
        StopReason.AUTH_TIMEOUT, StopKind.CONTROLLED, t0 + bound_ns)
    assert AuthTimedOut(t0 + bound_ns) in decisions and StopRequested(stop) in decisions
    # nothing left to wake for (a past deadline here spun the station's scheduler forever)
    assert g.next_deadline_ns() is None or g.next_deadline_ns() > t0 + bound_ns  # type: ignore[operator]
    rx(g, CtrlAuthStatus(status=AuthStatus.ACCEPTED), t0 + bound_ns + 1)  # too late
    assert g.auth_decision(t0 + bound_ns + 1) is AuthDecision.TIMED_OUT


def test_waiting_for_customer_until_a_token_is_presented_in_eim_only() -> None:
    g = up(PlcContractGuard(HW))
    assert not g.auth_waiting_for_customer(0)  # nothing requested
    g.auth_requested(PaymentOption.EIM, 0)
    rx(g, CtrlAuthStatus(status=AuthStatus.PENDING), 1 * S)
    assert g.auth_waiting_for_customer(100 * S)
    rx(g, CtrlAuthContext(method=AuthMethod.EIM, id_token="TAG", token_type=TokenType.ISO14443,
                          offline=False), 120 * S)
    assert not g.auth_waiting_for_customer(120 * S)  # the CSMS checks the token: Ongoing
    assert g.auth_decision(120 * S) is AuthDecision.ONGOING
    pnc = up(PlcContractGuard(HW))
    pnc.auth_requested(PaymentOption.CONTRACT, 0)
    assert not pnc.auth_waiting_for_customer(1 * S)  # the car presented its contract
    late = up(PlcContractGuard(HW))
    late.auth_requested(PaymentOption.EIM, 0)
    assert not late.auth_waiting_for_customer(300 * S)  # timed out: FAILED, not waiting


def _ended_session_guard() -> PlcContractGuard:
    """The car asked, then its own Ongoing timeout ended the V2G session."""
    g = up(PlcContractGuard(HW))
    g.reset_session(0)
    g.set_phase(V2gPhase.AUTH, 1 * S)
    g.auth_requested(PaymentOption.EIM, 1 * S)
    rx(g, CtrlAuthStatus(status=AuthStatus.PENDING), 1 * S)
    g.set_phase(V2gPhase.SESSION_STOP, 61 * S)
    return g


def test_accepted_after_the_car_gave_up_asks_to_wake_it_once() -> None:
    g = _ended_session_guard()
    assert not [d for d in g.handle_timer(70 * S) if isinstance(d, WakeUpRequested)]
    out = g.on_event(SignalReceived(CtrlAuthStatus(status=AuthStatus.ACCEPTED), 90 * S), 90 * S)
    assert WakeUpRequested(90 * S) in out
    assert g.auth_decision(91 * S) is AuthDecision.ACCEPTED  # the next session: Finished
    again = g.on_event(SignalReceived(CtrlAuthStatus(status=AuthStatus.ACCEPTED), 91 * S),
                       91 * S)
    assert not [d for d in again if isinstance(d, WakeUpRequested)]


def test_accepted_before_the_session_ended_wakes_when_it_ends() -> None:
    g = up(PlcContractGuard(HW))
    g.set_phase(V2gPhase.AUTH, 1 * S)
    g.auth_requested(PaymentOption.EIM, 1 * S)
    rx(g, CtrlAuthStatus(status=AuthStatus.ACCEPTED), 59 * S)  # the car is already gone
    assert WakeUpRequested(62 * S) in g.set_phase(V2gPhase.SESSION_STOP, 62 * S)


@pytest.mark.parametrize("verdict", [AuthStatus.REJECTED, None])
def test_no_wake_when_refused_or_when_the_authorized_session_charged(
        verdict: AuthStatus | None) -> None:
    g = _ended_session_guard() if verdict is not None else up(PlcContractGuard(HW))
    decisions: list[object] = []
    if verdict is not None:
        decisions += g.on_event(SignalReceived(CtrlAuthStatus(status=verdict), 90 * S), 90 * S)
    else:
        g.auth_requested(PaymentOption.EIM, 0)
        rx(g, CtrlAuthStatus(status=AuthStatus.ACCEPTED), 1 * S)
        for phase in (V2gPhase.AUTH, V2gPhase.CPD, V2gPhase.SESSION_STOP):
            decisions += g.set_phase(phase, 2 * S)
    assert not [d for d in decisions if isinstance(d, WakeUpRequested)]


def test_accepted_in_time_lets_the_plc_answer_finished() -> None:
    g = up(PlcContractGuard(HW))
    g.auth_requested(PaymentOption.EIM, 0)
    rx(g, CtrlAuthStatus(status=AuthStatus.ACCEPTED), 30 * S)
    assert g.auth_decision(30 * S) is AuthDecision.ACCEPTED
    assert g.auth_decision(10_000 * S) is AuthDecision.ACCEPTED
    assert g.stop_request(10_000 * S) is None


def test_pre_authorization_before_the_ev_asks_counts_for_the_session() -> None:
    g = up(PlcContractGuard(HW))
    g.reset_session(0)
    rx(g, CtrlAuthStatus(status=AuthStatus.ACCEPTED), 1 * S)  # RemoteStart before SLAC
    g.auth_requested(PaymentOption.EIM, 20 * S)
    assert g.auth_decision(20 * S) is AuthDecision.ACCEPTED


def test_a_verdict_from_a_previous_session_does_not_authorize_the_next() -> None:
    g = up(PlcContractGuard(HW))
    rx(g, CtrlAuthStatus(status=AuthStatus.ACCEPTED), 1 * S)
    g.reset_session(100 * S)
    g.auth_requested(PaymentOption.EIM, 120 * S)
    assert g.auth_decision(120 * S) is AuthDecision.ONGOING


def test_rejected_ends_the_session_with_auth_rejected() -> None:
    g = up(PlcContractGuard(HW))
    g.set_phase(V2gPhase.AUTH, 0)
    g.auth_requested(PaymentOption.EIM, 0)
    rx(g, CtrlAuthStatus(status=AuthStatus.REJECTED), 2 * S)
    assert g.auth_decision(2 * S) is AuthDecision.REJECTED
    stop = g.stop_request(2 * S)
    assert stop is not None and stop.reason is StopReason.AUTH_REJECTED


# ----------------------------------------------------------------------- cable check


@pytest.mark.parametrize("phase", [V2gPhase.CPD, V2gPhase.CABLECHECK, V2gPhase.PRECHARGE])
def test_controller_silent_during_cable_check_and_precharge_uses_the_safe_default_envelope(
    phase: V2gPhase,
) -> None:
    g = PlcContractGuard(HW)
    g.on_event(LinkDown(LinkDownReason.PEER_SILENT, 0), 0)  # controller gone from the start
    g.set_phase(phase, 0)
    for t in (0, 10 * S, 39 * S):  # CableCheck may take up to V2G_EVCC_CableCheck_Timeout
        lim = g.effective_limits(t)
        assert lim.source is LimitsSource.SAFE_DEFAULT
        assert lim.max_current_a == HW.max_current_a * SAFE_DEFAULT_DERATE_FACTOR
        assert lim.max_power_w == HW.max_power_w * SAFE_DEFAULT_DERATE_FACTOR
        assert lim.max_voltage_v == HW.max_voltage_v
        assert g.stop_request(t) is None
    assert g.next_deadline_ns() is None  # nothing to wait for: the PLC never blocks


def test_controller_limits_are_clamped_by_the_hardware_rating() -> None:
    g = up(PlcContractGuard(HW))
    rx(g, CtrlEvseLimitsDynamic(max_voltage_v=1000.0, max_current_a=800.0,
                                max_power_w=100_000.0, min_current_a=2.0, validity_ms=1000), 0)
    lim = g.effective_limits(1)
    assert (lim.max_voltage_v, lim.max_current_a, lim.max_power_w, lim.min_current_a) == (
        920.0, 500.0, 100_000.0, 2.0)
    assert lim.source is LimitsSource.CONTROLLER and lim.valid_until_ns == 1000 * MS
    # power-limited: 100 kW / 400 V (the power path's one clamp, present voltage 400 V)
    assert clamp_request(EvRequest(400.0, 600.0), lim, 400.0).current_a == 250.0


# ----------------------------------------------------------------------- charging


@pytest.mark.req("P0-6")
def test_limits_expiring_during_charging_derate_to_zero_and_stop_at_their_validity() -> None:
    t0 = 100 * S
    g = charging_guard(t0)
    expiry = t0 + 2000 * MS
    for k in range(1, 4):  # refreshed in time: charging continues
        rx(g, limits(), t0 + k * 500 * MS)
    expiry = t0 + 3 * 500 * MS + 2000 * MS
    assert g.next_deadline_ns() == expiry
    assert g.effective_limits(expiry - 1).max_current_a == 200.0
    assert g.stop_request(expiry - 1) is None
    decisions = g.handle_timer(expiry)
    lim = g.effective_limits(expiry)
    assert lim.source is LimitsSource.DERATED_TO_ZERO and lim.max_current_a == 0.0
    stop = g.stop_request(expiry)
    assert stop is not None and (stop.reason, stop.kind, stop.since_ns) == (
        StopReason.LIMITS_EXPIRED, StopKind.CONTROLLED, expiry)
    assert decisions == [StopRequested(stop)]
    assert g.stop_reason is StopReason.LIMITS_EXPIRED


@pytest.mark.req("P0-6", "PLC-6.5")
def test_controller_link_lost_while_charging_stops_within_the_grace() -> None:
    t0 = 50 * S
    g = charging_guard(t0)
    rx(g, limits(validity_ms=5000), t0)
    lost = t0 + 300 * MS
    g.on_event(LinkDown(LinkDownReason.PEER_SILENT, lost), lost)
    assert g.next_deadline_ns() == lost + LINK_LOSS_GRACE_NS
    assert g.stop_request(lost + LINK_LOSS_GRACE_NS - 1) is None
    stop = g.stop_request(lost + LINK_LOSS_GRACE_NS)
    assert stop is not None and (stop.reason, stop.since_ns) == (
        StopReason.CONTROLLER_LINK_LOST, lost + LINK_LOSS_GRACE_NS)
    assert g.effective_limits(lost + LINK_LOSS_GRACE_NS).max_current_a == 0.0


def test_link_back_within_the_grace_with_fresh_limits_keeps_charging() -> None:
    t0 = 50 * S
    g = charging_guard(t0)
    g.on_event(LinkDown(LinkDownReason.TRANSPORT_CLOSED, t0 + 1), t0 + 1)
    back = t0 + LINK_LOSS_GRACE_NS // 2
    g.on_event(LinkUp(2, 0, resumed=True), back)
    rx(g, limits(), back)
    assert g.stop_request(t0 + 1 + LINK_LOSS_GRACE_NS) is None  # the grace has passed
    assert g.stop_request(back + 1999 * MS) is None  # limits received at `back` still valid
    stop = g.stop_request(back + 2000 * MS)
    assert stop is not None and stop.reason is StopReason.LIMITS_EXPIRED


def test_charging_without_any_controller_limits_is_watchdogged() -> None:
    g = PlcContractGuard(HW)
    g.set_phase(V2gPhase.PRECHARGE, 0)
    t0 = 20 * S
    g.set_phase(V2gPhase.CURRENTDEMAND, t0)
    assert g.effective_limits(t0).source is LimitsSource.SAFE_DEFAULT
    assert g.effective_limits(t0).valid_until_ns == t0 + SAFE_DEFAULT_ENVELOPE_TTL_NS
    assert g.next_deadline_ns() == t0 + SAFE_DEFAULT_ENVELOPE_TTL_NS
    assert g.stop_request(t0 + SAFE_DEFAULT_ENVELOPE_TTL_NS - 1) is None
    stop = g.stop_request(t0 + SAFE_DEFAULT_ENVELOPE_TTL_NS)
    assert stop is not None and stop.reason is StopReason.NO_CONTROLLER_LIMITS


def test_limits_that_lapsed_before_charging_get_only_the_safe_default_watchdog() -> None:
    g = up(PlcContractGuard(HW))
    rx(g, limits(validity_ms=1000), 0)
    g.set_phase(V2gPhase.CABLECHECK, 0)
    t0 = 30 * S
    g.set_phase(V2gPhase.CURRENTDEMAND, t0)
    assert g.effective_limits(t0).source is LimitsSource.SAFE_DEFAULT
    stop = g.stop_request(t0 + SAFE_DEFAULT_ENVELOPE_TTL_NS)
    assert stop is not None and stop.reason is StopReason.LIMITS_EXPIRED


def test_a_controlled_stop_that_does_not_finish_escalates_to_emergency() -> None:
    g = charging_guard(0)
    rx(g, CtrlSessionCommand(command=SessionCommand.STOP_GRACEFUL), 1 * S)
    first = g.stop_request(1 * S)
    assert first is not None and first.kind is StopKind.CONTROLLED
    assert g.next_deadline_ns() == 1 * S + CONTROLLED_STOP_TIMEOUT_NS
    decisions = g.handle_timer(1 * S + CONTROLLED_STOP_TIMEOUT_NS)
    esc = g.stop_request(1 * S + CONTROLLED_STOP_TIMEOUT_NS)
    assert esc is not None and (esc.reason, esc.kind) == (
        StopReason.CONTROLLED_STOP_TIMEOUT, StopKind.EMERGENCY)
    assert decisions == [StopRequested(esc)]
    assert g.stop_reason is StopReason.CONTROLLER_STOP_GRACEFUL  # the recorded cause


def test_a_controlled_stop_that_finishes_is_not_escalated() -> None:
    g = charging_guard(0)
    rx(g, CtrlSessionCommand(command=SessionCommand.STOP_GRACEFUL), 1 * S)
    g.set_phase(V2gPhase.POWERDELIVERY, 3 * S)
    g.stop_completed(3 * S)
    assert g.next_deadline_ns() is None
    stop = g.stop_request(100 * S)
    assert stop is not None and stop.kind is StopKind.CONTROLLED


def test_session_commands_become_decisions_for_the_station() -> None:
    """The guard decides nothing about availability or resets itself: it hands each command
    to the station as a decision (the station test proves what the station then does:
    tests/station/test_lifecycle.py)."""
    g = charging_guard(0)
    out = rx(g, CtrlSessionCommand(command=SessionCommand.STOP_EMERGENCY), 1 * S)
    assert any(isinstance(d, StopRequested) and d.request.kind is StopKind.EMERGENCY
               for d in out)
    assert g.effective_limits(1 * S).max_current_a == 0.0
    assert rx(g, CtrlSessionCommand(command=SessionCommand.DISABLE), 2 * S) == [
        AvailabilityChanged(False, 2 * S)]
    assert rx(g, CtrlSessionCommand(command=SessionCommand.ENABLE), 3 * S) == [
        AvailabilityChanged(True, 3 * S)]
    assert rx(g, CtrlSessionCommand(command=SessionCommand.RESET_FAULT), 3 * S) == [
        FaultResetRequested(3 * S)]


@pytest.mark.req("P0-1")
def test_the_current_demand_loop_never_waits_for_the_controller() -> None:
    """10 000 EV requests at 50 ms with a dead controller: every one gets an answer at
    once, first the safe envelope, then 0 A after the watchdog (P0 item 1)."""
    g = PlcContractGuard(HW)
    g.set_phase(V2gPhase.CURRENTDEMAND, 0)
    answers = [clamp_request(EvRequest(400.0, 300.0), g.effective_limits(k * 50 * MS),
                             400.0).current_a for k in range(10_000)]
    cutoff = SAFE_DEFAULT_ENVELOPE_TTL_NS // (50 * MS)
    assert set(answers[:cutoff]) == {250.0} and set(answers[cutoff:]) == {0.0}


# ----------------------------------------------------------------------- schedule / PnC


@pytest.mark.req("P0-3")
def test_cpd_always_has_a_schedule_and_max_power_even_without_the_controller() -> None:
    g = PlcContractGuard(HW)
    sched = g.schedule(0)
    assert sched.entries == (ScheduleEntry(start_offset_s=0, max_power_w=HW.max_power_w),)
    assert g.cpd_limits().max_power_w > 0
    mine = CtrlSchedule(schedule_id=3, entries=(ScheduleEntry(start_offset_s=0,
                                                              max_power_w=50_000.0),))
    rx(g, mine, 1)
    assert g.schedule(1) == mine


def test_pnc_certificate_answer_times_out_before_the_ev_gives_up() -> None:
    g = up(PlcContractGuard(HW))
    g.pnc_certificate_requested(9, 0)
    assert g.pnc_certificate_answer(9, 0).state is PncAnswerState.PENDING
    assert g.next_deadline_ns() == PNC_CERT_ANSWER_TIMEOUT_NS
    assert g.handle_timer(PNC_CERT_ANSWER_TIMEOUT_NS) == [PncAnswerTimedOut(9)]
    assert g.pnc_certificate_answer(9, PNC_CERT_ANSWER_TIMEOUT_NS).state is \
        PncAnswerState.TIMED_OUT
    g.pnc_certificate_requested(10, 0)
    answer = CtrlPncCertificateResponse(request_id=10, status=CertificateResponseStatus.ACCEPTED,
                                        exi_response=b"\x80\x01")
    rx(g, answer, 1 * S)
    got = g.pnc_certificate_answer(10, 1 * S)
    assert got.state is PncAnswerState.ANSWERED and got.response == answer


def test_charging_that_starts_with_the_controller_already_gone_gets_the_safe_watchdog() -> None:
    g = up(PlcContractGuard(HW))
    rx(g, limits(), 0)
    g.set_phase(V2gPhase.PRECHARGE, 0)
    g.on_event(LinkDown(LinkDownReason.PEER_SILENT, 1 * S), 1 * S)
    t0 = 10 * S
    g.set_phase(V2gPhase.CURRENTDEMAND, t0)
    assert g.effective_limits(t0).source is LimitsSource.SAFE_DEFAULT
    assert g.next_deadline_ns() == t0 + SAFE_DEFAULT_ENVELOPE_TTL_NS
    stop = g.stop_request(t0 + SAFE_DEFAULT_ENVELOPE_TTL_NS)
    assert stop is not None and stop.reason is StopReason.CONTROLLER_LINK_LOST


def test_a_controller_restart_asks_the_secc_to_retell_the_session_facts() -> None:
    g = up(PlcContractGuard(HW))
    g.auth_requested(PaymentOption.EIM, 0)
    decisions = g.on_event(PeerRestarted(2, 3), 5 * S)
    assert decisions == [ControllerRestarted(5 * S)]
    assert g.auth_decision(5 * S) is AuthDecision.ONGOING  # the wait goes on, same bound

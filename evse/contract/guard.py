"""PLC-side watchdogs and fallbacks for a silent, slow or lost controller (sans-IO).

Theory of operation
-------------------
The SECC must answer the EV at the EV's cadence whatever the controller does
(ccs2_dc_reference.md Deliverable 2 intro, P0 item 1). So the SECC never waits for the
controller: it feeds this guard every contract event it polls, tells it the V2G phase,
and asks it questions whose answers depend only on what has arrived and on `now_ns`:

* `auth_decision(now_ns)`: ONGOING (answer EVSEProcessing=Ongoing), ACCEPTED, REJECTED
  or TIMED_OUT (answer FAILED and end gracefully), after the mode-dependent timeout
  (contract bounds auth_timeout_eim 300 s / auth_timeout_pnc 55 s, or the station's
  configured values) [Deliverable 2 C2.1, Deliverable 1 C7].
* `auth_waiting_for_customer(now_ns)`: ONGOING in EIM with no token presented yet (no
  ctrl.auth_context): ISO 15118-2 answers Ongoing_WaitingForCustomerInteraction then.
* A `WakeUpRequested` decision when the authorization is ACCEPTED while no V2G session
  runs (the car gave up waiting and its session ended): the station wakes the car and
  the next session of the same plug-in finds the authorization granted.
* `effective_limits(now_ns)`: min(hardware, controller) while the controller's limits
  are valid; the safe default envelope (hardware rating with a conservative derate)
  before energy transfer or for at most `safe_default_envelope_ttl` into it
  [C2.2]; 0 A once a stop is requested [C2.3].
* `stop_request(now_ns)`: the first reason to stop (controller command, auth
  rejected/timed out, limits expired, link lost past its grace, no limits at all),
  escalated to an emergency stop if the controlled stop does not finish within
  `controlled_stop_timeout` [P0 item 6].
* `schedule(now_ns)`: the controller's schedule, else one entry at hardware max power so
  ChargeParameterDiscoveryRes is always valid (DIN 70121 EVSEMaxPowerLimit) [P0 item 3].
* `pnc_certificate_answer(request_id, now_ns)`: the CSMS answer, PENDING, or TIMED_OUT
  in time for the EV's 5 s CertificateInstallation timeout.

Every query is O(1) and never blocks. `next_deadline_ns()`/`handle_timer(now_ns)` let the
scheduler wake the SECC exactly when an answer changes on its own (a timeout), and
`handle_timer` returns the decisions that became true so a chart can get an event.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from evse.contract.definition import DEFINITION
from evse.contract.errors import ContractUsageError
from evse.contract.events import LinkDown, LinkUp, PeerRestarted, PortEvent, SignalReceived
from evse.contract.limits import EvseLimits, LimitsSource
from evse.contract.values import (
    AuthStatus,
    CtrlAuthContext,
    CtrlAuthStatus,
    CtrlEvseLimitsDynamic,
    CtrlOcppErrorMapping,
    CtrlPncAuthorizationResponse,
    CtrlPncCertificateResponse,
    CtrlSchedule,
    CtrlSessionCommand,
    PaymentOption,
    ScheduleEntry,
    SessionCommand,
    StopReason,
    V2gPhase,
)

AUTH_TIMEOUT_EIM_NS = DEFINITION.bound_ns("auth_timeout_eim")
AUTH_TIMEOUT_PNC_NS = DEFINITION.bound_ns("auth_timeout_pnc")
PNC_CERT_ANSWER_TIMEOUT_NS = DEFINITION.bound_ns("pnc_cert_answer_timeout")
SAFE_DEFAULT_ENVELOPE_TTL_NS = DEFINITION.bound_ns("safe_default_envelope_ttl")
LINK_LOSS_GRACE_NS = DEFINITION.bound_ns("link_loss_grace")
CONTROLLED_STOP_TIMEOUT_NS = DEFINITION.bound_ns("controlled_stop_timeout")
# Fraction of the hardware rating (current and power) used while the controller has not
# supplied limits: "hardware max with conservative derate", Deliverable 2 C2.2. The
# factor itself is a station policy; 0.5 keeps a thermally derated cabinet inside its
# envelope. Voltage is not derated (the EV's battery voltage decides it).
SAFE_DEFAULT_DERATE_FACTOR = 0.5
_NS_PER_MS = 1_000_000
_CHARGING = frozenset({V2gPhase.CURRENTDEMAND})


class AuthDecision(enum.Enum):
    NOT_REQUESTED = "not_requested"
    ONGOING = "ongoing"  # EVSEProcessing=Ongoing (or Ongoing_WaitingForCustomerInteraction)
    ACCEPTED = "accepted"  # EVSEProcessing=Finished, ResponseCode OK
    REJECTED = "rejected"  # ResponseCode FAILED, then end the session
    TIMED_OUT = "timed_out"  # ResponseCode FAILED, then end the session


class StopKind(enum.Enum):
    CONTROLLED = "controlled"  # EVSENotification StopCharging, 0 A, EV sends PowerDelivery Stop
    EMERGENCY = "emergency"  # EVSE_EmergencyShutdown: disable output, open contactors now


class PncAnswerState(enum.Enum):
    PENDING = "pending"
    ANSWERED = "answered"
    TIMED_OUT = "timed_out"  # answer the EV FAILED (no certificate)


@dataclass(frozen=True, slots=True)
class HardwareRating:
    """What the cabinet can do; the upper bound of every envelope."""

    max_voltage_v: float
    max_current_a: float
    max_power_w: float
    min_current_a: float = 0.0

    def as_limits(self) -> EvseLimits:
        """The rating as the limits record (ChargeParameterDiscoveryRes: nominal capability)."""
        return EvseLimits(self.max_voltage_v, self.max_current_a, self.max_power_w,
                          self.min_current_a, LimitsSource.RATED)


@dataclass(frozen=True, slots=True)
class StopRequest:
    reason: StopReason
    kind: StopKind
    since_ns: int


@dataclass(frozen=True, slots=True)
class PncAnswer:
    state: PncAnswerState
    response: CtrlPncCertificateResponse | None = None


@dataclass(frozen=True, slots=True)
class StopRequested:
    """Decision raised by handle_timer/on_event: a (new or escalated) stop request."""

    request: StopRequest


@dataclass(frozen=True, slots=True)
class AuthTimedOut:
    at_ns: int


@dataclass(frozen=True, slots=True)
class PncAnswerTimedOut:
    request_id: int


@dataclass(frozen=True, slots=True)
class ControllerRestarted:
    """A new controller process took over: it has lost this session's facts. The SECC
    republishes them (plc.evccid, plc.ev_limits, and plc.auth_request while the auth
    decision is still ONGOING); the link already republished level signals."""

    at_ns: int


@dataclass(frozen=True, slots=True)
class AvailabilityChanged:
    """ctrl.session_command ENABLE / DISABLE: the station offers (or stops offering) PWM to
    new sessions. A running session is stopped by the StopRequested that DISABLE raises."""

    enabled: bool
    at_ns: int


@dataclass(frozen=True, slots=True)
class FaultResetRequested:
    """ctrl.session_command RESET_FAULT: the station clears latched faults whose cause is
    gone and refuses (with a reason) the rest."""

    at_ns: int


@dataclass(frozen=True, slots=True)
class WakeUpRequested:
    """The controller ACCEPTED the authorization while no V2G session runs: the car's own
    Ongoing timeout (V2G_EVCC_Ongoing_Timeout 60 s; a DIN car, or one that ignores
    Ongoing_WaitingForCustomerInteraction) ended the session first. The station wakes the
    car (IEC 61851-1 / ISO 15118-3 E/F then 5 % PWM); the new session of the same plug-in
    is answered Finished at once because the verdict stays for the plug-in."""

    at_ns: int


GuardDecision = (StopRequested | AuthTimedOut | PncAnswerTimedOut | ControllerRestarted
                 | AvailabilityChanged | FaultResetRequested | WakeUpRequested)
#: Phases that mean an authorized session went on to charge-parameter discovery and
#: beyond: the authorization was used, nothing to wake for.
_AUTH_USED = frozenset({V2gPhase.CPD, V2gPhase.CABLECHECK, V2gPhase.PRECHARGE,
                        V2gPhase.POWERDELIVERY, V2gPhase.CURRENTDEMAND, V2gPhase.WELDING})

_COMMAND_STOPS = {
    SessionCommand.STOP_GRACEFUL: (StopReason.CONTROLLER_STOP_GRACEFUL, StopKind.CONTROLLED),
    SessionCommand.STOP_EMERGENCY: (StopReason.CONTROLLER_STOP_EMERGENCY, StopKind.EMERGENCY),
    SessionCommand.DISABLE: (StopReason.CONTROLLER_DISABLED, StopKind.CONTROLLED),
}


class PlcContractGuard:
    """Watchdogs of Deliverable 2 section C, owned by the PLC side."""

    def __init__(
        self,
        hardware: HardwareRating,
        *,
        auth_timeout_eim_ns: int = AUTH_TIMEOUT_EIM_NS,
        auth_timeout_pnc_ns: int = AUTH_TIMEOUT_PNC_NS,
        safe_default_derate_factor: float = SAFE_DEFAULT_DERATE_FACTOR,
    ) -> None:
        if not 0.0 <= safe_default_derate_factor <= 1.0:
            raise ContractUsageError("safe_default_derate_factor must be within [0, 1]")
        self._hw = hardware
        self._auth_timeout_ns = {
            PaymentOption.EIM: auth_timeout_eim_ns,
            PaymentOption.CONTRACT: auth_timeout_pnc_ns,
        }
        self._derate = safe_default_derate_factor
        self.enabled = True
        self.ocpp_error_mapping: CtrlOcppErrorMapping | None = None
        self.stop_log: list[StopRequest] = []  # every stop of the guard's life, for diagnostics
        self._link_up = False
        self._link_down_ns: int | None = None
        self._limits: CtrlEvseLimitsDynamic | None = None
        self._limits_until_ns = 0
        self._new_decisions: list[GuardDecision] = []
        self.reset_session(0)

    # ------------------------------------------------------------------ inputs

    def reset_session(self, now_ns: int) -> None:
        """A new session begins (EV plugged): forget everything session-scoped."""
        self._phase = V2gPhase.IDLE
        self._charging_since_ns: int | None = None
        self._auth_option: PaymentOption | None = None
        self._auth_requested_ns = 0
        self._auth_status: CtrlAuthStatus | None = None
        self._auth_timed_out = False
        self._auth_used = False
        self._wake_requested = False
        self.auth_context: CtrlAuthContext | None = None
        self._schedule: CtrlSchedule | None = None
        self._pnc_requests: dict[int, int] = {}
        self._pnc_answers: dict[int, CtrlPncCertificateResponse] = {}
        self._pnc_timed_out: set[int] = set()
        self.pnc_authorization: dict[int, CtrlPncAuthorizationResponse] = {}
        self._stop: StopRequest | None = None
        self._stop_done = False
        self.session_stops: list[StopRequest] = []

    def on_event(self, event: PortEvent, now_ns: int) -> list[GuardDecision]:
        """Feed every event polled from the contract port."""
        if isinstance(event, SignalReceived):
            self._on_signal(event, now_ns)
        elif isinstance(event, LinkUp):
            self._link_up = True
            self._link_down_ns = None
        elif isinstance(event, LinkDown):
            if self._link_up or self._link_down_ns is None:
                self._link_down_ns = event.at_ns
            self._link_up = False
        elif isinstance(event, PeerRestarted):
            # limits keep their TTL (the new controller republishes them in time or the
            # watchdog stops); session facts must be told again by the SECC
            self._new_decisions.append(ControllerRestarted(now_ns))
        return self.handle_timer(now_ns)

    def set_phase(self, phase: V2gPhase, now_ns: int) -> list[GuardDecision]:
        if phase in _CHARGING and self._charging_since_ns is None:
            self._charging_since_ns = now_ns
        elif phase not in _CHARGING:
            self._charging_since_ns = None
        self._phase = phase
        if phase in _AUTH_USED:
            self._auth_used = True
        self._check_wake(now_ns)
        return self.handle_timer(now_ns)

    def auth_requested(self, option: PaymentOption, now_ns: int) -> None:
        """The EV reached Authorization (first AuthorizationReq): the auth clock starts."""
        if self._auth_option is None:
            self._auth_option = option
            self._auth_requested_ns = now_ns

    def pnc_certificate_requested(self, request_id: int, now_ns: int) -> None:
        self._pnc_requests[request_id] = now_ns

    def stop_completed(self, now_ns: int) -> None:
        """The SECC finished the stop (output off, contactors open): no escalation."""
        self._stop_done = True

    # ------------------------------------------------------------------ outputs

    @property
    def link_up(self) -> bool:
        return self._link_up

    def auth_decision(self, now_ns: int) -> AuthDecision:
        status = self._auth_status.status if self._auth_status is not None else None
        if status is AuthStatus.ACCEPTED:
            return AuthDecision.ACCEPTED
        if status is AuthStatus.REJECTED:
            return AuthDecision.REJECTED
        if self._auth_option is None:
            return AuthDecision.NOT_REQUESTED
        if now_ns >= self._auth_deadline_ns():
            return AuthDecision.TIMED_OUT
        return AuthDecision.ONGOING

    def auth_waiting_for_customer(self, now_ns: int) -> bool:
        """EIM authorization still ONGOING and nobody presented a token yet (no
        ctrl.auth_context, which the controller sends when it learns the token): the driver
        has not acted. A token being checked by the CSMS, or Plug & Charge (the car
        presented its contract), is plain Ongoing."""
        return (self._auth_option is PaymentOption.EIM and self.auth_context is None
                and self.auth_decision(now_ns) is AuthDecision.ONGOING)

    def effective_limits(self, now_ns: int) -> EvseLimits:
        """The envelope the power path clamps every request with and the SECC reports."""
        hw = self._hw
        stop = self.stop_request(now_ns)
        if stop is not None:
            return EvseLimits(hw.max_voltage_v, 0.0, 0.0, 0.0, LimitsSource.DERATED_TO_ZERO)
        lim = self._limits
        if lim is not None and now_ns < self._limits_until_ns:
            return EvseLimits(
                max_voltage_v=min(hw.max_voltage_v, lim.max_voltage_v),
                max_current_a=min(hw.max_current_a, lim.max_current_a),
                max_power_w=min(hw.max_power_w, lim.max_power_w),
                min_current_a=max(hw.min_current_a, lim.min_current_a),
                source=LimitsSource.CONTROLLER,
                valid_until_ns=self._limits_until_ns,
            )
        until = None
        if self._charging_since_ns is not None:
            until = self._charging_since_ns + SAFE_DEFAULT_ENVELOPE_TTL_NS
        return EvseLimits(
            max_voltage_v=hw.max_voltage_v,
            max_current_a=hw.max_current_a * self._derate,
            max_power_w=hw.max_power_w * self._derate,
            min_current_a=hw.min_current_a,
            source=LimitsSource.SAFE_DEFAULT,
            valid_until_ns=until,
        )

    def cpd_limits(self) -> HardwareRating:
        """Nominal capability for ChargeParameterDiscoveryRes: EVs abort on 0 A / 0 W there
        (interop_failures.md, "don't like 0 W and/or 0 A"); dynamic limits apply in the loop."""
        return self._hw

    def stop_request(self, now_ns: int) -> StopRequest | None:
        self._evaluate(now_ns)
        return self._stop

    @property
    def stop_reason(self) -> StopReason | None:
        """The first reason recorded for this session (for plc.session_event)."""
        return self.session_stops[0].reason if self.session_stops else None

    def schedule(self, now_ns: int) -> CtrlSchedule:
        if self._schedule is not None:
            return self._schedule
        return CtrlSchedule(
            schedule_id=1,
            entries=(ScheduleEntry(start_offset_s=0, max_power_w=self._hw.max_power_w),),
        )

    def pnc_certificate_answer(self, request_id: int, now_ns: int) -> PncAnswer:
        answer = self._pnc_answers.get(request_id)
        if answer is not None:
            return PncAnswer(PncAnswerState.ANSWERED, answer)
        sent = self._pnc_requests.get(request_id)
        if sent is not None and now_ns >= sent + PNC_CERT_ANSWER_TIMEOUT_NS:
            return PncAnswer(PncAnswerState.TIMED_OUT)
        return PncAnswer(PncAnswerState.PENDING)

    def next_deadline_ns(self) -> int | None:
        candidates: list[int] = []
        if self._auth_option is not None and self._auth_status_open() and \
                not self._auth_timed_out:  # once past, a past deadline would spin the timer
            candidates.append(self._auth_deadline_ns())
        if self._stop is None and self._charging_since_ns is not None:
            candidates += [t for t, _ in self._charging_deadlines(self._charging_since_ns)]
        if self._stop is not None and self._stop.kind is StopKind.CONTROLLED and \
                not self._stop_done:
            candidates.append(self._stop.since_ns + CONTROLLED_STOP_TIMEOUT_NS)
        for rid, sent in self._pnc_requests.items():
            if rid not in self._pnc_answers and rid not in self._pnc_timed_out:
                candidates.append(sent + PNC_CERT_ANSWER_TIMEOUT_NS)
        return min(candidates) if candidates else None

    def handle_timer(self, now_ns: int) -> list[GuardDecision]:
        self._evaluate(now_ns)
        for rid in list(self._pnc_requests):
            if rid in self._pnc_timed_out or rid in self._pnc_answers:
                continue
            if self.pnc_certificate_answer(rid, now_ns).state is PncAnswerState.TIMED_OUT:
                self._pnc_timed_out.add(rid)
                self._new_decisions.append(PncAnswerTimedOut(rid))
        out, self._new_decisions = self._new_decisions, []
        return out

    # ------------------------------------------------------------------ internals

    def _auth_status_open(self) -> bool:
        return self._auth_status is None or self._auth_status.status is AuthStatus.PENDING

    def _auth_deadline_ns(self) -> int:
        assert self._auth_option is not None
        return self._auth_requested_ns + self._auth_timeout_ns[self._auth_option]

    def _on_signal(self, event: SignalReceived, now_ns: int) -> None:
        value = event.value
        if isinstance(value, CtrlEvseLimitsDynamic):
            self._limits = value
            self._limits_until_ns = event.rx_ns + value.validity_ms * _NS_PER_MS
        elif isinstance(value, CtrlAuthStatus):
            if self._auth_status_open() and not self._auth_timed_out:
                self._auth_status = value  # a verdict is final for the plug-in
                self._check_wake(now_ns)
        elif isinstance(value, CtrlAuthContext):
            self.auth_context = value
        elif isinstance(value, CtrlSessionCommand):
            self._on_command(value, event.rx_ns)
        elif isinstance(value, CtrlSchedule):
            self._schedule = value
        elif isinstance(value, CtrlPncCertificateResponse):
            if value.request_id in self._pnc_requests and \
                    value.request_id not in self._pnc_timed_out:
                self._pnc_answers[value.request_id] = value
        elif isinstance(value, CtrlPncAuthorizationResponse):
            self.pnc_authorization[value.request_id] = value
        elif isinstance(value, CtrlOcppErrorMapping):
            self.ocpp_error_mapping = value

    def _check_wake(self, now_ns: int) -> None:
        """ACCEPTED, not yet used by a session that went on to charge, and the V2G session
        is over (phase SESSION_STOP until the next session begins): wake the car, once."""
        status = self._auth_status.status if self._auth_status is not None else None
        if (status is AuthStatus.ACCEPTED and self._phase is V2gPhase.SESSION_STOP
                and not self._auth_used and not self._wake_requested and self._stop is None):
            self._wake_requested = True
            self._new_decisions.append(WakeUpRequested(now_ns))

    def _on_command(self, cmd: CtrlSessionCommand, now_ns: int) -> None:
        if cmd.command is SessionCommand.ENABLE:
            self.enabled = True
            self._new_decisions.append(AvailabilityChanged(True, now_ns))
        elif cmd.command is SessionCommand.RESET_FAULT:
            self._new_decisions.append(FaultResetRequested(now_ns))
        else:
            if cmd.command is SessionCommand.DISABLE:
                self.enabled = False
                self._new_decisions.append(AvailabilityChanged(False, now_ns))
            if self._phase is not V2gPhase.IDLE:
                reason, kind = _COMMAND_STOPS[cmd.command]
                self._request_stop(reason, kind, now_ns)

    def _request_stop(self, reason: StopReason, kind: StopKind, now_ns: int) -> None:
        current = self._stop
        if current is not None and (current.kind is StopKind.EMERGENCY or kind is
                                    StopKind.CONTROLLED):
            return  # first reason wins; only an escalation to EMERGENCY is recorded on top
        request = StopRequest(reason, kind, now_ns)
        self._stop = request
        self.stop_log.append(request)
        self.session_stops.append(request)
        self._new_decisions.append(StopRequested(request))

    def _evaluate(self, now_ns: int) -> None:
        decision = self.auth_decision(now_ns)
        if decision is AuthDecision.REJECTED:
            self._request_stop(StopReason.AUTH_REJECTED, StopKind.CONTROLLED, now_ns)
        elif decision is AuthDecision.TIMED_OUT and not self._auth_timed_out:
            self._auth_timed_out = True
            self._new_decisions.append(AuthTimedOut(self._auth_deadline_ns()))
            self._request_stop(StopReason.AUTH_TIMEOUT, StopKind.CONTROLLED,
                               self._auth_deadline_ns())
        if self._charging_since_ns is not None and self._stop is None:
            self._evaluate_charging(now_ns, self._charging_since_ns)
        stop = self._stop
        if stop is not None and stop.kind is StopKind.CONTROLLED and not self._stop_done:
            deadline = stop.since_ns + CONTROLLED_STOP_TIMEOUT_NS
            if now_ns >= deadline:
                self._request_stop(StopReason.CONTROLLED_STOP_TIMEOUT, StopKind.EMERGENCY,
                                   deadline)

    def _charging_deadlines(self, since_ns: int) -> list[tuple[int, StopReason]]:
        """When charging must stop on its own, and why, given what has arrived so far."""
        if self._limits is not None and self._limits_until_ns > since_ns:
            expiry = self._limits_until_ns  # valid at charge start: stop when they lapse
        else:
            expiry = since_ns + SAFE_DEFAULT_ENVELOPE_TTL_NS  # safe default, watchdogged
        reason = (StopReason.LIMITS_EXPIRED if self._limits is not None
                  else StopReason.NO_CONTROLLER_LIMITS)
        deadlines = [(expiry, reason)]
        if self._link_down_ns is not None:
            if self._link_down_ns >= since_ns:  # lost while charging: short grace
                link_deadline = self._link_down_ns + LINK_LOSS_GRACE_NS
            else:  # already lost when charging began: the safe default's watchdog
                link_deadline = since_ns + SAFE_DEFAULT_ENVELOPE_TTL_NS
            deadlines.append((link_deadline, StopReason.CONTROLLER_LINK_LOST))
        return deadlines

    def _evaluate_charging(self, now_ns: int, since_ns: int) -> None:
        due = [d for d in self._charging_deadlines(since_ns) if now_ns >= d[0]]
        if not due:
            return
        at, reason = min(due, key=lambda d: d[0])
        if self._link_down_ns is not None:
            reason = StopReason.CONTROLLER_LINK_LOST  # the root cause of any lapse
        self._request_stop(reason, StopKind.CONTROLLED, at)

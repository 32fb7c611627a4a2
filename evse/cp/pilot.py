"""The control-pilot core: board samples in, chart events out, board commands out.

Theory of operation
-------------------
Every `CP_SAMPLE_PERIOD_NS` the station calls `poll(now_ns)`. The core reads the board
(non-blocking), classifies each CP sample (`evse.cp.levels`), debounces it, and feeds the
resulting level changes to the `iec61851` chart. The chart's callbacks (this module's
`CpHandler`) are the only code that commands the board: CP output, allow-power-on. Board
reports (contactor feedback, e-stop, MCU faults) become chart events too.

What the core never does: decide sequencing of SLAC/V2G (it only offers `hlc_*` and
`power_*` events to others), read a clock (time comes in as `now_ns`), or sleep.

Safety bounds (named, with their source, checked by tests in virtual time):
- `T_POWER_OFF_AFTER_C_TO_B_NS`: C->B must remove power within 100 ms
  (IEC 61851-1 Table A.6 seq. 8.1). Debounce (<= 30 ms) + one dispatch.
- `T_POWER_ON_AFTER_B_TO_C_NS`: B->C with PWM and a pending request must grant power
  within 3 s (Table A.6 seq. 4); the chart grants in the same dispatch.
- `KEEPALIVE_PERIOD_NS`: keep-alive sent to the board's MCU at 1 Hz (EVerest Yeti/phyVERSO).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from evse.cp.levels import CpLevel, Debouncer, classify
from evse.fsm import Event, Machine, MachineSpec, TimerService
from evse.fsm.engine import TraceSink
from evse.ports.board import (
    Board,
    BoardFault,
    BoardFaultKind,
    ContactorFeedback,
    CpOutputMode,
    CpSample,
    EStopChanged,
    FaultResetAck,
    PpChanged,
    PpState,
)

MS = 1_000_000
S = 1_000_000_000

#: CP sampling period of the Linux side (the MCU samples every PWM period itself).
CP_SAMPLE_PERIOD_NS = 10 * MS  # default of config cp.sample_period_ms
#: Consecutive identical samples before a CP level change is believed (30 ms worst case).
CP_DEBOUNCE_SAMPLES = 3
#: IEC 61851-1 Table A.6 seq. 8.1: switch off within 100 ms after the EV opens S2 (C->B).
T_POWER_OFF_AFTER_C_TO_B_NS = 100 * MS
#: IEC 61851-1 Table A.6 seq. 4: power must be enabled within 3 s after B->C.
T_POWER_ON_AFTER_B_TO_C_NS = 3 * S
#: Keep-alive to the safety MCU (EVerest Yeti/phyVERSO: 1 Hz; reference/hardware.md §4.5).
KEEPALIVE_PERIOD_NS = 1 * S
#: Contactor feedback must follow the command within this time, else a latched fault
#: (EVerest `cable_check_relays_closed_timeout_s` is 5 s for the whole relay chain; a DC
#: contactor with mirror contacts reports in well under 100 ms, so 1 s is generous).
T_CONTACTOR_FEEDBACK_NS = 1 * S
#: 5 % duty = high-level communication required (ISO 15118-3; IEC 61851-1 Annex A).
HLC_DUTY_PERMILLE = 50

_LEVEL_EVENTS = {
    CpLevel.A: "cp_a",
    CpLevel.B: "cp_b",
    CpLevel.C: "cp_c",
    CpLevel.D: "cp_d",
    CpLevel.E: "cp_e",
    CpLevel.F: "cp_f",
    CpLevel.INVALID: "cp_invalid",
    CpLevel.DIODE_FAULT: "diode_fault",
}


class FaultCause(enum.Enum):
    """Latched causes that keep the chart in F until reset."""

    ESTOP = "estop"
    KEEPALIVE_TIMEOUT = "keepalive_timeout"
    CONTACTOR_NOT_CLOSING = "contactor_not_closing"
    CONTACTOR_WELDED = "contactor_welded"
    CONTACTOR_FEEDBACK_DIVERGES = "contactor_feedback_diverges"
    BOARD_LINK_LOST = "board_link_lost"
    EXTERNAL = "external"


#: Causes whose F is bounded (t_f_after_fault, then `after_f`: X1 until the car leaves), not
#: latched until RESET_FAULT. Decided per fault_table.yaml row: the power path's rows for
#: them are self-clearing (contactor_not_closed and contactor_opened_unexpectedly for
#: CONTACTOR_NOT_CLOSING; board_fault for CONTACTOR_FEEDBACK_DIVERGES), and a latched F would
#: keep them from ever clearing (in F the EVSE drives -12 V and cannot see the unplug).
#: Latched stay: ESTOP and CONTACTOR_WELDED (emergency_stop, contactor_welded rows are
#: latched), EXTERNAL (a latched power fault or the campaign's CP F, held for the operator)
#: and the Linux/MCU chain itself (KEEPALIVE_TIMEOUT, BOARD_LINK_LOST: the station's own
#: software or link failed, the operator looks before the next car; stricter than the
#: board_fault row, so the connector stays Faulted until RESET_FAULT).
SELF_CLEARING_CAUSES = frozenset({FaultCause.CONTACTOR_NOT_CLOSING,
                                  FaultCause.CONTACTOR_FEEDBACK_DIVERGES})


@dataclass(frozen=True, slots=True)
class CpConfig:
    hlc_enabled: bool = True
    ventilation_available: bool = False


@dataclass(frozen=True, slots=True)
class CpNotice:
    """What the pilot tells the rest of the station (SLAC, SECC, power path, controller)."""

    kind: str  # plugged, unplugged, cp_level, pwm, power_granted, power_withdrawn,
    # power_refused, contactors, fault, emergency, cp_error, pp, fault_reset (the board's answer)
    data: dict[str, Any] = field(default_factory=dict)


def pp_reads_open(state: PpState) -> bool:
    """The proximity input reads open or invalid: no 5 % PWM, no power. Reference A1
    (S0 -> S1 needs PP connected); UNKNOWN (a DC board that does not read PP,
    hardware.md §4.4) never gates."""
    return state in (PpState.DISCONNECTED, PpState.FAULT)


class CpHandler:
    """Named callbacks of fsm_specs/iec61851.yaml. The only code that commands the board."""

    def __init__(self, board: Board, config: CpConfig, notify: Callable[[CpNotice], None],
                 debouncer: Debouncer | None = None):
        self.board = board
        self.config = config
        self.notify = notify
        self.power_request = False
        self.hlc_suspended = False
        self.power_granted = False
        self.power_changed_ns = 0
        self.pwm_on = False
        self.f_min_passed = False
        self.diode_fault = False
        #: Inoperative (DISABLE / OCPP ChangeAvailability): no 5 % PWM for a new session.
        self.disabled = False
        self.latched: set[FaultCause] = set()
        #: The board's decoded proximity input; UNKNOWN on a board that does not read PP.
        self.pp_state = PpState.UNKNOWN
        #: The CP level debouncer (ControlPilot feeds it); its stable level is what the
        #: chart's guards read, one value for the core and the chart.
        self.debouncer = debouncer or Debouncer(CP_DEBOUNCE_SAMPLES)
        self.now_ns = 0

    # --- outputs -----------------------------------------------------------------------
    def cp_x1(self, ev: Event) -> None:
        self.board.set_cp_output(CpOutputMode.X1)
        self._pwm(False)

    def cp_pwm_hlc(self, ev: Event) -> None:
        self.board.set_cp_output(CpOutputMode.PWM, HLC_DUTY_PERMILLE)
        self._pwm(True)

    def cp_f(self, ev: Event) -> None:
        self.board.set_cp_output(CpOutputMode.F)
        self._pwm(False)

    def _pwm(self, on: bool) -> None:
        if on != self.pwm_on:
            self.pwm_on = on
            self.notify(CpNotice("pwm", {"on": on}))

    def grant_power(self, ev: Event) -> None:
        self.board.allow_power_on(True)
        self.power_granted = True
        self.power_changed_ns = ev.at_ns
        self.notify(CpNotice("power_granted"))

    def withdraw_power(self, ev: Event) -> None:
        # Idempotent: sent on every path that must not leave power on.
        self.board.allow_power_on(False)
        if self.power_granted:
            self.power_granted = False
            self.power_changed_ns = ev.at_ns
            self.notify(CpNotice("power_withdrawn", {"event": ev.name}))

    # --- bookkeeping ---------------------------------------------------------------------
    def note_power_request(self, ev: Event) -> None:
        self.power_request = True

    def clear_power_request(self, ev: Event) -> None:
        self.power_request = False

    def note_hlc_suspended(self, ev: Event) -> None:
        self.hlc_suspended = True

    def clear_hlc_suspended(self, ev: Event) -> None:
        self.hlc_suspended = False

    def note_disabled(self, ev: Event) -> None:
        self.disabled = True

    def clear_disabled(self, ev: Event) -> None:
        self.disabled = False

    def note_diode_fault(self, ev: Event) -> None:
        self.diode_fault = True

    def clear_diode_fault(self, ev: Event) -> None:
        self.diode_fault = False

    def note_f_min_elapsed(self, ev: Event) -> None:
        self.f_min_passed = True

    def clear_f_min(self, ev: Event) -> None:
        self.f_min_passed = False

    def drop_self_clearing_causes(self, ev: Event) -> None:
        """Leaving F for `after_f`: the bounded causes are over (SELF_CLEARING_CAUSES); what
        made them clears in the power path with the unplug."""
        self.latched -= SELF_CLEARING_CAUSES

    # --- reports -------------------------------------------------------------------------
    def report_plugged(self, ev: Event) -> None:
        self.notify(CpNotice("plugged"))

    def report_unplugged(self, ev: Event) -> None:
        self.notify(CpNotice("unplugged"))

    def report_cp_error(self, ev: Event) -> None:
        self.notify(CpNotice("cp_error", {"event": ev.name}))

    def report_fault(self, ev: Event) -> None:
        self.f_min_passed = False
        causes = sorted(c.value for c in self.latched)
        self.notify(CpNotice("fault", {"event": ev.name, "latched": causes}))

    def report_emergency(self, ev: Event) -> None:
        self.latched.add(FaultCause.ESTOP)
        self.notify(CpNotice("emergency"))

    def report_pp_open(self, ev: Event) -> None:
        self.notify(CpNotice("pp_open", {"state": self.pp_state.value}))

    def report_pp_fault(self, ev: Event) -> None:
        """PP still open with the pilot plugged after t_pp_open_confirm: a PP fault."""
        self.notify(CpNotice("pp_fault", {"state": self.pp_state.value}))

    def report_ventilation_unavailable(self, ev: Event) -> None:
        self.notify(CpNotice("power_refused", {"reason": "ventilation_unavailable"}))

    def report_power_refused(self, ev: Event) -> None:
        """A power request in a state that cannot grant it (A, E, F, after_f, emergency, PP
        open): the requester learns now that the board will not close the contactors,
        instead of reading the missing feedback as a contactor fault."""
        self.notify(CpNotice("power_refused", {"reason": "pilot_not_granting"}))

    # --- guards --------------------------------------------------------------------------
    def hlc_enabled(self, ev: Event) -> bool:
        return self.config.hlc_enabled

    def hlc_allowed(self, ev: Event) -> bool:
        return self.config.hlc_enabled and not self.hlc_suspended and not self.disabled

    def available(self, ev: Event) -> bool:
        return not self.disabled

    def hlc_is_suspended(self, ev: Event) -> bool:
        return self.hlc_suspended

    def power_requested(self, ev: Event) -> bool:
        return self.power_request

    def ventilation_available(self, ev: Event) -> bool:
        return self.config.ventilation_available

    def f_min_done(self, ev: Event) -> bool:
        return self.f_min_passed

    def diode_faulted(self, ev: Event) -> bool:
        return self.diode_fault

    def fault_latched(self, ev: Event) -> bool:
        """A cause that holds F until RESET_FAULT (every cause but SELF_CLEARING_CAUSES)."""
        return bool(self.latched - SELF_CLEARING_CAUSES)

    def pp_open(self, ev: Event) -> bool:
        return pp_reads_open(self.pp_state)

    def ev_in_c(self, ev: Event) -> bool:
        return self.debouncer.stable is CpLevel.C

    def ev_in_d(self, ev: Event) -> bool:
        return self.debouncer.stable is CpLevel.D


class ControlPilot:
    """The CP core: owns the chart, the debouncer and the board supervision."""

    def __init__(
        self,
        spec: MachineSpec,
        board: Board,
        *,
        timers: TimerService,
        notify: Callable[[CpNotice], None],
        config: CpConfig | None = None,
        trace: TraceSink | None = None,
        param_overrides: dict[str, float] | None = None,
        debounce_samples: int = CP_DEBOUNCE_SAMPLES,
    ) -> None:
        self.board = board
        self._debouncer = Debouncer(debounce_samples)
        self.handler = CpHandler(board, config or CpConfig(), notify, self._debouncer)
        self.machine = Machine(
            spec, self.handler, timers=timers, trace=trace, name="cp",
            param_overrides=param_overrides,
        )
        self._notify = notify
        mspec = self.machine.spec
        self._tags: dict[str, frozenset[str]] = {
            st.path: frozenset(mspec.tags_of(st.path)) for st in mspec.iter_states()}
        self.contactors_closed = False
        self.estop_active = False
        self._keepalive_enabled = True
        self._last_keepalive_ns: int | None = None
        #: A fault reset was passed to the board and its answer is awaited.
        self._reset_pending = False

    @property
    def state(self) -> str:
        return self.machine.state

    def has_tag(self, tag: str) -> bool:
        """The current state (or an ancestor) carries `tag` in fsm_specs/iec61851.yaml: what
        the rest of the station asks of the pilot ("not available", "PP open") is named in
        the chart, not by comparing state names."""
        return tag in self._tags[self.machine.state]

    def require_tags(self, *tags: str) -> None:
        """Refuse at build time a tag no state of the chart carries (a renamed tag would
        otherwise read as never set)."""
        known = {t for ts in self._tags.values() for t in ts}
        missing = sorted(set(tags) - known)
        if missing:
            raise ValueError(f"{self.machine.spec.file}: no state tagged {', '.join(missing)}")

    @property
    def pp_state(self) -> PpState:
        return self.handler.pp_state

    @property
    def level(self) -> CpLevel:
        return self._debouncer.stable

    def start(self, now_ns: int) -> None:
        self.machine.start(now_ns)
        self.board.keep_alive()
        self._last_keepalive_ns = now_ns

    # --- inputs from other components -----------------------------------------------------
    def handle(self, item: Any, now_ns: int) -> None:
        """Posted requests: an `Event` (hlc_suspend, power_on_request, fault_reset, ...)."""
        if not isinstance(item, Event):
            raise TypeError(f"ControlPilot expects Event, got {type(item).__name__}")
        if item.name == "fault_reset":
            # The board first: the MCU clears its latched flags and acknowledges; only
            # then does the pilot clear its latch and offer fault_reset to the chart.
            self._reset_pending = True
            if self.board.reset_fault():
                self._board_reset_done(FaultResetAck(True, now_ns), now_ns)
            return
        if item.name == "fault":
            self.handler.latched.add(FaultCause.EXTERNAL)
        self.machine.dispatch(item, now_ns)

    def _board_reset_done(self, ack: FaultResetAck, now_ns: int) -> None:
        """The board answered the fault reset: accepted, the latch clears and the chart
        hears fault_reset (it leaves F once nothing is latched); refused, F stays."""
        if not self._reset_pending:
            return  # an answer to no reset of ours (a resend's late duplicate)
        self._reset_pending = False
        self._notify(CpNotice("fault_reset", {"board_accepted": ack.accepted,
                                              "reason": ack.reason}))
        if not ack.accepted:
            return
        self._clear_resolved_faults()
        self.machine.dispatch(Event("fault_reset"), now_ns)

    def _clear_resolved_faults(self) -> None:
        latched = self.handler.latched
        if FaultCause.ESTOP in latched and not self.estop_active:
            latched.discard(FaultCause.ESTOP)
        # The rest are cleared by an explicit reset once the board agrees with the command.
        for cause in (
            FaultCause.KEEPALIVE_TIMEOUT,
            FaultCause.CONTACTOR_FEEDBACK_DIVERGES,
            FaultCause.CONTACTOR_NOT_CLOSING,
            FaultCause.BOARD_LINK_LOST,
            FaultCause.EXTERNAL,
        ):
            latched.discard(cause)
        if FaultCause.CONTACTOR_WELDED in latched and not self.contactors_closed:
            latched.discard(FaultCause.CONTACTOR_WELDED)

    def set_keepalive_enabled(self, enabled: bool) -> None:
        """Test/scenario hook that simulates a hung Linux side (no more keep-alives)."""
        self._keepalive_enabled = enabled

    # --- periodic -------------------------------------------------------------------------
    def poll(self, now_ns: int) -> None:
        """One CP tick: keep-alive, board events, CP classification, contactor supervision."""
        if self._keepalive_enabled and (
            self._last_keepalive_ns is None
            or now_ns - self._last_keepalive_ns >= KEEPALIVE_PERIOD_NS
        ):
            self.board.keep_alive()
            self._last_keepalive_ns = now_ns
        for item in self.board.poll(now_ns):
            if isinstance(item, CpSample):
                self._sample(item, now_ns)
            elif isinstance(item, ContactorFeedback):
                self.contactors_closed = item.closed
                self._notify(CpNotice("contactors", {"closed": item.closed}))
            elif isinstance(item, EStopChanged):
                self.estop_active = item.active
                # Before the chart reacts (and the board's hardware cut opens the contacts):
                # whoever listens learns the cause first, so an e-stop reads as an e-stop.
                self._notify(CpNotice("estop", {"active": item.active}))
                name = "estop_pressed" if item.active else "estop_released"
                self.machine.dispatch(Event(name), now_ns)
            elif isinstance(item, PpChanged):
                was_open = pp_reads_open(self.handler.pp_state)
                self.handler.pp_state = item.state
                self._notify(CpNotice("pp", {"state": item.state.value}))
                is_open = pp_reads_open(item.state)
                if is_open != was_open:
                    self.machine.dispatch(Event("pp_lost" if is_open else "pp_restored"),
                                          now_ns)
            elif isinstance(item, BoardFault):
                self._board_fault(item, now_ns)
            elif isinstance(item, FaultResetAck):
                self._board_reset_done(item, now_ns)
        self._supervise_contactors(now_ns)

    def _sample(self, sample: CpSample, now_ns: int) -> None:
        level = classify(
            sample.high_v, sample.low_v, pwm_on=self.handler.pwm_on,
            previous=self._debouncer.stable,
        )
        changed = self._debouncer.feed(level)
        if changed is not None:
            self._notify(CpNotice("cp_level", {"level": changed.value}))
            self.machine.dispatch(Event(_LEVEL_EVENTS[changed]), now_ns)

    def _board_fault(self, fault: BoardFault, now_ns: int) -> None:
        cause = {
            BoardFaultKind.KEEPALIVE_TIMEOUT: FaultCause.KEEPALIVE_TIMEOUT,
            BoardFaultKind.CONTACTOR_FEEDBACK_DIVERGES: FaultCause.CONTACTOR_FEEDBACK_DIVERGES,
            BoardFaultKind.CP_SIGNAL_FAULT: FaultCause.EXTERNAL,
            BoardFaultKind.LINK_LOST: FaultCause.BOARD_LINK_LOST,
        }[fault.kind]
        self._latch(cause, now_ns)

    def _latch(self, cause: FaultCause, now_ns: int) -> None:
        if cause not in self.handler.latched:
            self.handler.latched.add(cause)
            self._notify(CpNotice("fault_cause", {"cause": cause.value}))
            self.machine.dispatch(Event("fault", cause.value), now_ns)

    def _supervise_contactors(self, now_ns: int) -> None:
        h = self.handler
        if now_ns - h.power_changed_ns < T_CONTACTOR_FEEDBACK_NS:
            return
        if h.power_granted and not self.contactors_closed:
            self._latch(FaultCause.CONTACTOR_NOT_CLOSING, now_ns)
        elif not h.power_granted and self.contactors_closed:
            self._latch(FaultCause.CONTACTOR_WELDED, now_ns)

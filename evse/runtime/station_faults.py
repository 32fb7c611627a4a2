"""The station's fault-reset and pilot-hold sequencing: fsm_specs/station_faults.yaml.

The chart decides; this module only names what its guards read (the power path's fault,
phase and reset answer, the pilot's chart tags, the contract guard's stop) and what its
actions do (ask the power path, post the pilot, answer the operator). `StationFaults` runs
the chart for `DcStation`, which posts it the station's inputs: the operator's RESET_FAULT,
the pilot's notices (unplugged, the board's fault_reset answer) and every full power tick.

The power path's answer to a reset is an event of its own, queued by the action that asked
and dispatched right after the current event (as `PowerPath` queues its own chart's
events): a guard reads a reset's result, it never performs the reset.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from evse.contract.guard import PlcContractGuard
from evse.contract.values import PlcCommandResult, SessionCommand
from evse.cp.pilot import ControlPilot
from evse.fsm import Event, Machine, MachineSpec, TimerService
from evse.fsm.engine import TraceSink
from evse.ports.board import RESET_REFUSED_BY_BOARD
from evse.power.controller import PowerPath, ResetResult
from evse.power.faults import Clearing
from evse.power.types import Phase as PowerPhase

#: The power path is off: what a stop the guard asked for waits for (with the contacts open).
POWER_AT_REST = (PowerPhase.IDLE, PowerPhase.STOPPED, PowerPhase.FAULTED)
#: Offered every full power tick (100 Hz while a car is plugged): only their state changes
#: are traced, as for the power path's own `update` (evse/runtime/trace.py StateChanges).
TICK_EVENTS = frozenset({"power_tick", "stop_check"})
#: The pilot's chart tags the guards read (iec61851.yaml); a chart without them does not build.
PILOT_TAGS = ("pilot_f", "no_vehicle")
#: What the station reads back (fsm_specs/station_faults.yaml pilot_held_in_f).
PILOT_HELD_TAG = "pilot_held"


@dataclass(frozen=True, slots=True)
class FaultsWiring:
    """What the chart's callbacks reach: the station's parts and outputs. Given by the
    composition root (DcStation) so that this module builds nothing of its own."""

    power: PowerPath
    cp: ControlPilot
    guard: PlcContractGuard
    #: Post an event to the pilot through the scheduler: (event, source for the trace).
    post_cp: Callable[[Event, str], None]
    #: Publish on the contract (plc.command_result).
    publish: Callable[[object, int], None]
    #: The station's plc.fault report, after anything that may change it.
    report_faults: Callable[[int], None]
    #: The station's trace (the power path's reset answers are recorded there).
    trace: TraceSink
    #: Every RESET_FAULT answer of the power path: (time, accepted, reason).
    reset_log: list[tuple[int, bool, str]]


class StationFaultsHandler:
    """Named callbacks of fsm_specs/station_faults.yaml. Public methods are exactly the
    chart's guards and actions (tests/test_evse_cli.py checks the set)."""

    def __init__(self, wiring: FaultsWiring) -> None:
        self._w = wiring
        #: Events the actions queued (the power path's answers), dispatched after the
        #: current one by `StationFaults.post`.
        self.queue: deque[Event] = deque()
        #: What the power path said of the RESET_FAULT the board is now answering: the
        #: reason the operator reads with the board's acceptance.
        self._reset_reason = ""

    # ------------------------------------------------------------------ guards
    def power_fault_active(self, ev: Event) -> bool:
        """The power path holds a fault (any clearing class)."""
        return self._w.power.fault is not None

    def power_fault_needs_operator(self, ev: Event) -> bool:
        """The strictest power fault is latched or permanent: it does not leave with the car."""
        fault = self._w.power.fault
        return fault is not None and fault.clearing is not Clearing.SELF_CLEARING

    def path_faulted(self, ev: Event) -> bool:
        """The power path's shutdown is over and it sits in FAULTED."""
        return self._w.power.phase is PowerPhase.FAULTED

    def path_at_rest(self, ev: Event) -> bool:
        """The power path's output is off (idle, stopped or faulted)."""
        return self._w.power.phase in POWER_AT_REST

    def contactors_closed(self, ev: Event) -> bool:
        """The board reports the DC contactors closed."""
        return self._w.cp.contactors_closed

    def car_gone(self, ev: Event) -> bool:
        """The pilot reads no vehicle (CP A, iec61851.yaml tag no_vehicle)."""
        return self._w.cp.has_tag("no_vehicle")

    def pilot_in_f(self, ev: Event) -> bool:
        """The pilot drives F (-12 V, iec61851.yaml tag pilot_f), in which an unplug is unseen."""
        return self._w.cp.has_tag("pilot_f")

    def pilot_holds_a_latch(self, ev: Event) -> bool:
        """The pilot holds F for a latched cause of its own (any FaultCause)."""
        return bool(self._w.cp.handler.latched)

    def power_reset_accepted(self, ev: Event) -> bool:
        return self._result(ev).accepted

    def power_faults_self_clearing_only(self, ev: Event) -> bool:
        """Refused only because every active power fault clears by itself (with the unplug)."""
        return self._result(ev).self_clearing_only

    def power_fault_waits_only_for_unplug(self, ev: Event) -> bool:
        """Refused only because the car was not seen to leave (every unmet clear_when is
        `unplugged`)."""
        return self._result(ev).unplug_pending

    def board_accepted_reset(self, ev: Event) -> bool:
        return bool(self._notice(ev)["board_accepted"])

    def guard_awaits_stop(self, ev: Event) -> bool:
        """The contract guard asked for a stop this session (it escalates one that does not
        finish in time to the emergency path)."""
        return self._w.guard.stop_request(ev.at_ns) is not None

    # ------------------------------------------------------------------ actions
    def ask_power_path_reset(self, ev: Event) -> None:
        """The power path clears its latched faults whose cause is gone, or says why not;
        its answer is the next event (power_reset_answered)."""
        self.queue.append(Event("power_reset_answered", self._power_reset(ev.at_ns), ev.at_ns))

    def retry_power_path_reset(self, ev: Event) -> None:
        """The reset the pilot's F held back, asked again now that the inlet is seen empty;
        its answer is the next event (power_reset_retried)."""
        self.queue.append(Event("power_reset_retried", self._power_reset(ev.at_ns), ev.at_ns))

    def reset_pilot(self, ev: Event) -> None:
        """The reset is accepted on the power path's side (with its reason): the pilot asks
        the board, and the board's answer (pilot_reset_answered) completes the result."""
        self._reset_pilot(self._result(ev).reason, ev.at_ns)

    def reset_pilot_without_power_fault(self, ev: Event) -> None:
        """No power fault: only the pilot's own latch is reset."""
        self._reset_pilot("no latched power fault", ev.at_ns)

    def refuse_reset(self, ev: Event) -> None:
        """The power path's refusal goes to the operator with its reason."""
        self._answer(False, self._result(ev).reason, ev.at_ns)

    def report_faults(self, ev: Event) -> None:
        self._w.report_faults(ev.at_ns)

    def answer_reset_accepted(self, ev: Event) -> None:
        """The board cleared its latch: accepted, with what the power path said."""
        self._answer(True, self._reset_reason, ev.at_ns)

    def answer_reset_refused_by_board(self, ev: Event) -> None:
        """The board (the safety MCU) kept its latch: refused with its reason."""
        reason = self._notice(ev)["reason"]
        self._answer(False, str(reason or RESET_REFUSED_BY_BOARD), ev.at_ns)

    def hold_pilot_in_f(self, ev: Event) -> None:
        """Post the pilot `fault` for the power fault (its EXTERNAL latch: F, no PWM)."""
        fault = self._w.power.fault
        if fault is None:  # the guards just read it: a changed path here is our own bug
            raise RuntimeError("hold_pilot_in_f without a power fault")
        self._w.post_cp(Event("fault", f"power:{fault.reason.value}"), "power")

    def tell_guard_stop_completed(self, ev: Event) -> None:
        self._w.guard.stop_completed(ev.at_ns)

    # ------------------------------------------------------------------ helpers
    def _power_reset(self, now_ns: int) -> ResetResult:
        """The power path's answer to a reset, in the trace and the reset log."""
        result = self._w.power.reset_fault(now_ns)
        self._w.trace.record("power", "reset", {"accepted": result.accepted,
                                                "reason": result.reason})
        self._w.reset_log.append((now_ns, result.accepted, result.reason))
        return result

    def _reset_pilot(self, reason: str, now_ns: int) -> None:
        # The pilot asks the board (the safety MCU clears its own latch first); its answer
        # (CpNotice fault_reset) completes the result.
        self._reset_reason = reason
        self._w.post_cp(Event("fault_reset"), "controller")
        self._w.report_faults(now_ns)

    def _answer(self, accepted: bool, reason: str, now_ns: int) -> None:
        """plc.command_result (contract 1.1): the operator learns why a reset was refused."""
        self._w.publish(PlcCommandResult(command=SessionCommand.RESET_FAULT, accepted=accepted,
                                         reason=reason[:120]), now_ns)

    @staticmethod
    def _result(ev: Event) -> ResetResult:
        if not isinstance(ev.data, ResetResult):
            raise TypeError(f"{ev.name} carries {type(ev.data).__name__}, not a ResetResult")
        return ev.data

    @staticmethod
    def _notice(ev: Event) -> dict[str, Any]:
        if not isinstance(ev.data, dict):
            raise TypeError(f"{ev.name} carries {type(ev.data).__name__}, not the notice data")
        return ev.data


class _QuietTicks:
    """Trace sink: the tick events' ignored offers and internal transitions (every 10 ms)
    would cost more than they tell; their state changes, and everything else, are traced."""

    def __init__(self, trace: TraceSink) -> None:
        self._trace = trace

    def record(self, source: str, kind: str, payload: dict[str, Any]) -> None:
        if payload.get("event") in TICK_EVENTS and (
                kind == "ignored" or payload.get("from") == payload.get("to")):
            return
        self._trace.record(source, kind, payload)


class StationFaults:
    """fsm_specs/station_faults.yaml running on `StationFaultsHandler`: the station posts
    its inputs with `post`; the owner reads `has_tag("pilot_held")`."""

    def __init__(self, spec: MachineSpec, wiring: FaultsWiring, *, timers: TimerService,
                 trace: TraceSink, now_ns: int) -> None:
        wiring.cp.require_tags(*PILOT_TAGS)
        self.handler = StationFaultsHandler(wiring)
        self.machine = Machine(spec, self.handler, timers=timers, trace=_QuietTicks(trace),
                               name="station_faults")
        self._tags = {st.path: frozenset(spec.tags_of(st.path)) for st in spec.iter_states()}
        if PILOT_HELD_TAG not in {t for ts in self._tags.values() for t in ts}:
            raise ValueError(f"{spec.file}: no state tagged {PILOT_HELD_TAG}")
        self._pumping = False
        self.machine.start(now_ns)

    @property
    def state(self) -> str:
        return self.machine.state

    def has_tag(self, tag: str) -> bool:
        """The active state (or an ancestor) carries `tag` in the chart."""
        return tag in self._tags[self.machine.state]

    def post(self, name: str, now_ns: int, data: Any = None) -> None:
        """Offer one input now, then the events its actions queued, in order. A post from
        inside a dispatch (an action's output that reached the station) is queued, never
        dispatched re-entrantly."""
        queue = self.handler.queue
        queue.append(Event(name, data, now_ns))
        if self._pumping:
            return
        self._pumping = True
        try:
            while queue:
                ev = queue.popleft()
                self.machine.dispatch(ev, ev.at_ns)
        finally:
            self._pumping = False

"""Run a validated chart on `transitions`' HierarchicalMachine, with our timers and trace.

Theory of operation
-------------------
`transitions` gives us hierarchical dispatch (innermost state first, then outward) and the
entry/exit bookkeeping. It also has habits that do not fit a deterministic charger, each
measured in `reference/engine_bench.md`; this module fences them off:

- the model is private: only `Machine.dispatch` calls `trigger`, so the scheduler's FIFO queue
  is the only source of event order. A dispatch from inside a callback is a usage error;
- `auto_transitions=False` (no `to_<state>` teleports), a `.` separator through a subclass's
  state class (never the global), `ignore_invalid_triggers=True` with our own check that the
  event is declared, so "no transition here" is an observable result (`False`), not an error;
- callbacks are bound methods of a handler, resolved when the machine is built (a typo fails
  at start-up with the spec's file and line, not in the field on first use);
- per-state timeouts come from an injected `TimerService` (the scheduler), never from
  `transitions`' `Timeout` state, which starts a wall-clock thread per entry;
- an exception in a callback becomes `CallbackError` naming machine, state, event and
  callback; the owner turns it into a fault. Nothing queued is silently dropped, because the
  queue is the scheduler's, not transitions'.

Action order (what chart authors write for): a transition's `do` actions run first (they see
the source state), then exit actions innermost-first, then entry actions outermost-first;
a state's timers are armed after its entry actions and cancelled before its exit actions.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol

from transitions.extensions.nesting import HierarchicalMachine, NestedState

from evse.fsm.spec import SEPARATOR, MachineSpec, StateSpec, TransitionSpec, check_callbacks

# transitions logs a warning for every event a state does not handle; we trace those
# ourselves ("ignored", with guard results), so its logger would only duplicate them.
logging.getLogger("transitions").setLevel(logging.ERROR)

_START_STATE = "_start"
_START_EVENT = "_start"


@dataclass(frozen=True, slots=True)
class Event:
    """An input to a chart: its name (declared in the chart's `events`) and optional data."""

    name: str
    data: Any = None
    at_ns: int = 0


class TimerService(Protocol):
    """What a machine needs from the scheduler: one-shot timers it can cancel."""

    def start_timer(self, delay_ns: int, callback: Callable[[int], None], label: str) -> object:
        ...

    def cancel_timer(self, handle: object) -> None:
        ...


class TraceSink(Protocol):
    def record(self, source: str, kind: str, payload: dict[str, Any]) -> None:
        ...


class FsmUsageError(Exception):
    """Our own code misused a machine (unknown event, re-entrant dispatch, not started)."""


class CallbackError(Exception):
    """A chart callback raised. The machine may be half-way through a transition."""

    def __init__(self, machine: str, state: str, event: str, callback: str, exc: Exception):
        super().__init__(
            f"{machine}: callback {callback!r} raised {type(exc).__name__}: {exc} "
            f"(state {state!r}, event {event!r})"
        )
        self.machine = machine
        self.state = state
        self.event = event
        self.callback = callback
        self.original = exc


class _DotState(NestedState):
    separator = SEPARATOR


class _DotHSM(HierarchicalMachine):
    state_cls = _DotState


class _Model:
    """The object transitions binds to. Private: never handed out."""

    state: str


@dataclass(frozen=True, slots=True)
class _Candidate:
    """One transition as `Machine._run_plan` checks it (guards wrapped, actions bound)."""

    guards: tuple[Callable[[Event], bool], ...]
    unless: tuple[Callable[[Event], bool], ...]
    actions: tuple[Callable[[Event], None], ...]
    internal: bool


class _NullTrace:
    def record(self, source: str, kind: str, payload: dict[str, Any]) -> None:
        return None


class Machine:
    """One running instance of a chart, driven by `dispatch(event, now_ns)`."""

    def __init__(
        self,
        spec: MachineSpec,
        handler: object,
        *,
        timers: TimerService,
        trace: TraceSink | None = None,
        name: str | None = None,
        param_overrides: dict[str, float] | None = None,
    ) -> None:
        check_callbacks(spec, handler)
        self.spec = spec
        self.name = name or spec.name
        self._handler = handler
        self._timers = timers
        self._trace: TraceSink = trace or _NullTrace()
        self._overrides = dict(param_overrides or {})
        for p in self._overrides:
            if p not in spec.params:
                raise FsmUsageError(f"{self.name}: override of unknown param {p!r}")
        self._active_timers: dict[str, list[object]] = {}
        self._dispatching = False
        self._started = False
        self._now_ns = 0
        self._current_event = ""
        self._guard_log: list[tuple[str, bool]] = []
        self._model = _Model()
        self._hsm = _DotHSM(
            model=self._model,
            states=[{"name": _START_STATE}, *(self._state_cfg(s) for s in spec.states)],
            transitions=[
                {"trigger": _START_EVENT, "source": _START_STATE, "dest": spec.initial},
                *self._transition_cfgs(),
            ],
            initial=_START_STATE,
            auto_transitions=False,
            ignore_invalid_triggers=True,
            queued=False,
            send_event=False,
        )
        self._known_events = set(self._hsm.events)
        self._trigger: Callable[..., bool] = self._model.trigger  # type: ignore[attr-defined]
        self._candidates = self._candidate_table()
        #: (leaf state, event) -> what `transitions` would try, innermost state first.
        self._plans: dict[tuple[str, str], tuple[_Candidate, ...]] = {}

    # ------------------------------------------------------------------ build
    def _action(self, name: str) -> Callable[[Event], None]:
        fn = getattr(self._handler, name)

        def run(ev: Event) -> None:
            try:
                fn(ev)
            except CallbackError:
                raise
            except Exception as exc:
                raise CallbackError(self.name, self._model.state, ev.name, name, exc) from exc

        return run

    def _guard(self, name: str, negate: bool) -> Callable[[Event], bool]:
        fn = getattr(self._handler, name)
        log = self._guard_log

        def check(ev: Event) -> bool:
            try:
                result = bool(fn(ev))
            except Exception as exc:
                raise CallbackError(self.name, self._model.state, ev.name, name, exc) from exc
            log.append(("!" + name if negate else name, result))
            return result

        return check

    def _state_cfg(self, s: StateSpec) -> dict[str, Any]:
        on_enter: list[Callable[[Event], None]] = [self._action(a) for a in s.entry]
        on_exit: list[Callable[[Event], None]] = []
        if s.timeouts:
            on_enter.append(partial(self._arm_timers, s.path))
            on_exit.append(partial(self._cancel_timers, s.path))
        on_exit.extend(self._action(a) for a in s.exit)
        cfg: dict[str, Any] = {"name": s.name, "on_enter": on_enter, "on_exit": on_exit}
        if s.children:
            cfg["children"] = [self._state_cfg(c) for c in s.children]
            cfg["initial"] = s.initial
        return cfg

    def _transition_cfgs(self) -> list[dict[str, Any]]:
        cfgs: list[dict[str, Any]] = []
        top_level = [s.name for s in self.spec.states]
        for t in self.spec.all_transitions():
            cfg: dict[str, Any] = {
                "trigger": t.event,
                # A global transition hangs on every top-level state; children inherit it and
                # their own transitions are tried first (innermost first).
                "source": t.source if t.source else top_level,
                "dest": t.target,
                "conditions": [self._guard(g, False) for g in t.guards],
                "unless": [self._guard(g, True) for g in t.unless],
                "before": [self._action(a) for a in t.actions],
            }
            cfgs.append(cfg)
        return cfgs

    def _candidate_table(self) -> dict[tuple[str, str], list[TransitionSpec]]:
        """(declaring state, event) -> its transitions in the order they were given to
        `transitions` (global ones hang on every top-level state, after its own)."""
        table: dict[tuple[str, str], list[TransitionSpec]] = {}
        top_level = [s.name for s in self.spec.states]
        for t in self.spec.all_transitions():
            for src in ([t.source] if t.source else top_level):
                table.setdefault((src, t.event), []).append(t)
        return table

    def _plan(self, leaf: str, event: str) -> tuple[_Candidate, ...]:
        """The transitions `transitions` would try for `event` in `leaf`: innermost state
        first, then outward, in each state in chart order (empty: ignored here). Cached."""
        key = (leaf, event)
        plan = self._plans.get(key)
        if plan is None:
            parts = leaf.split(SEPARATOR)
            plan = tuple(
                _Candidate(
                    tuple(self._guard(g, False) for g in t.guards),
                    tuple(self._guard(g, True) for g in t.unless),
                    tuple(self._action(a) for a in t.actions),
                    t.internal,
                )
                for depth in range(len(parts), 0, -1)
                for t in self._candidates.get((SEPARATOR.join(parts[:depth]), event), ())
            )
            self._plans[key] = plan
        return plan

    def _run_plan(self, plan: tuple[_Candidate, ...], event: Event, now_ns: int) -> bool:
        """The fast path of `dispatch`: guards are pure (docs/fsm_spec.md), so they are
        checked here in `transitions`' order (`conditions` then `unless`, first miss stops).
        The first candidate that passes is taken: an internal one runs its `do` actions
        here (no exit/entry, no timers: exactly what `transitions` does for it); an external
        one is handed to `transitions` for the exit/entry bookkeeping, which checks the same
        guards again with the same result. Ignored events and internal transitions, most of
        a session's dispatches, so skip `transitions`' per-call machinery."""
        if self._dispatching:
            raise FsmUsageError(
                f"{self.name}: re-entrant dispatch of {event.name!r} during "
                f"{self._current_event!r}; post events through the scheduler instead"
            )
        self._dispatching = True
        self._now_ns = now_ns
        self._current_event = event.name
        try:
            for t in plan:
                if all(g(event) for g in t.guards) and not any(g(event) for g in t.unless):
                    if not t.internal:
                        break
                    for action in t.actions:
                        action(event)
                    return True
            else:
                return False
        finally:
            self._dispatching = False
        self._guard_log.clear()
        return self._run(event.name, event, now_ns)

    # ------------------------------------------------------------------ timers
    def param_ns(self, name: str) -> int:
        seconds = self._overrides.get(name, self.spec.params[name].seconds)
        return round(seconds * 1_000_000_000)

    def _arm_timers(self, path: str, _ev: Event | None = None) -> None:
        st = self.spec.state(path)
        handles = []
        for to in st.timeouts:
            delay_ns = (
                self.param_ns(to.after)
                if to.after in self.spec.params
                else round(to.seconds * 1_000_000_000)
            )
            handles.append(
                self._timers.start_timer(
                    delay_ns,
                    partial(self._timer_fired, path, to.event),
                    f"{self.name}:{path}:{to.event}",
                )
            )
        self._active_timers[path] = handles

    def _cancel_timers(self, path: str, _ev: Event | None = None) -> None:
        for h in self._active_timers.pop(path, ()):
            self._timers.cancel_timer(h)

    def _timer_fired(self, path: str, event: str, now_ns: int) -> None:
        # The scheduler only fires timers that were not cancelled, and a state's timers are
        # cancelled on its exit, so the state is still active here.
        self._active_timers.pop(path, None)
        self.dispatch(Event(event, None, now_ns), now_ns)

    # ------------------------------------------------------------------ running
    @property
    def state(self) -> str:
        """Dotted path of the active leaf state."""
        return self._model.state

    @property
    def now_ns(self) -> int:
        """Time of the event being (or last) dispatched: for callbacks that need it."""
        return self._now_ns

    def in_state(self, path: str) -> bool:
        """True if `path` is the active leaf or one of its ancestors."""
        cur = self._model.state
        return cur == path or cur.startswith(path + SEPARATOR)

    def start(self, now_ns: int) -> None:
        """Enter the initial state (running its entry actions and arming its timers)."""
        if self._started:
            raise FsmUsageError(f"{self.name}: already started")
        self._started = True
        self._run(_START_EVENT, Event(_START_EVENT, None, now_ns), now_ns)
        self._trace.record(self.name, "start", {"state": self._model.state})

    def dispatch(self, event: Event, now_ns: int) -> bool:
        """Offer one event to the chart. True if a transition (internal or external) was taken."""
        if not self._started:
            raise FsmUsageError(f"{self.name}: dispatch before start")
        if event.name not in self.spec.events:
            raise FsmUsageError(f"{self.name}: event {event.name!r} is not declared in the chart")
        if event.name not in self._known_events:
            self._trace.record(
                self.name, "ignored", {"event": event.name, "state": self._model.state}
            )
            return False
        if event.at_ns != now_ns:
            event = Event(event.name, event.data, now_ns)
        source = self._model.state
        self._guard_log.clear()
        taken = self._run_plan(self._plan(source, event.name), event, now_ns)
        if taken:
            self._trace.record(
                self.name,
                "transition",
                {"event": event.name, "from": source, "to": self._model.state},
            )
        else:
            payload: dict[str, Any] = {"event": event.name, "state": source}
            if self._guard_log:
                payload["guards"] = [f"{g}={'T' if r else 'F'}" for g, r in self._guard_log]
            self._trace.record(self.name, "ignored", payload)
        return taken

    def _run(self, trigger: str, event: Event, now_ns: int) -> bool:
        if self._dispatching:
            raise FsmUsageError(
                f"{self.name}: re-entrant dispatch of {event.name!r} during "
                f"{self._current_event!r}; post events through the scheduler instead"
            )
        self._dispatching = True
        self._now_ns = now_ns
        self._current_event = event.name
        try:
            return bool(self._trigger(trigger, event))
        finally:
            self._dispatching = False

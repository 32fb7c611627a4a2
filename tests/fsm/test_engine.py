"""The engine on transitions: nesting, guards, order of actions, timers in virtual time."""

from __future__ import annotations

import pytest

from evse.fsm import CallbackError, Event, FsmUsageError, Machine, parse_spec
from evse.runtime.scheduler import Scheduler

CHART = """\
machine: nest
version: 1
doc: nested test chart
initial: idle
params:
  t_wait: {s: 2.0, ref: "test"}
events:
  go: go
  stop: stop
  poke: poke
  boom: boom
  nudge: nudge
  wait_over: timer
when:
  stop: idle
states:
  idle:
    doc: idle
    entry: [enter_idle]
    exit: [exit_idle]
    when:
      go: {to: run, guard: [allowed], do: [act_go]}
      boom: {internal: true, do: [explode]}
  run:
    doc: composite
    initial: first
    entry: [enter_run]
    exit: [exit_run]
    when:
      poke: {to: run.second, do: [act_poke_parent]}
      nudge: {internal: true, do: [act_nudge_parent]}
    states:
      first:
        doc: first child
        entry: [enter_first]
        exit: [exit_first]
        timeouts:
          - {after: t_wait, event: wait_over}
        when:
          wait_over: second
          nudge: {internal: true, do: [act_nudge_child]}
      second:
        doc: second child
        entry: [enter_second]
        exit: [exit_second]
"""


class Recorder:
    def __init__(self) -> None:
        self.log: list[str] = []
        self.allow = True
        self.dispatch_inside: Machine | None = None

    def __getattr__(self, name: str):  # noqa: ANN204 - any callback name records itself
        if name.startswith(("enter_", "exit_", "act_")):
            return lambda ev: self.log.append(name)
        raise AttributeError(name)

    def allowed(self, ev: Event) -> bool:
        return self.allow

    def explode(self, ev: Event) -> None:
        raise ValueError("kaput")


@pytest.fixture
def env() -> tuple[Scheduler, Recorder, Machine]:
    sched = Scheduler()
    rec = Recorder()
    m = Machine(parse_spec(CHART, "nest.yaml"), rec, timers=sched, trace=sched.trace)
    m.start(0)
    return sched, rec, m


def test_start_runs_initial_entry(env: tuple[Scheduler, Recorder, Machine]) -> None:
    _, rec, m = env
    assert m.state == "idle" and rec.log == ["enter_idle"]


def test_uml_order_do_then_exits_then_entries(env: tuple[Scheduler, Recorder, Machine]) -> None:
    _, rec, m = env
    rec.log.clear()
    assert m.dispatch(Event("go"), 0)
    assert m.state == "run.first"
    assert rec.log == ["act_go", "exit_idle", "enter_run", "enter_first"]


def test_failed_guard_is_observable_and_traced(env: tuple[Scheduler, Recorder, Machine]) -> None:
    sched, rec, m = env
    rec.allow = False
    assert m.dispatch(Event("go"), 0) is False
    assert m.state == "idle"
    assert '"guards":["allowed=F"]' in sched.trace.lines[-1]


def test_child_transition_before_parent_and_internal_keeps_state(
    env: tuple[Scheduler, Recorder, Machine],
) -> None:
    _, rec, m = env
    m.dispatch(Event("go"), 0)
    rec.log.clear()
    assert m.dispatch(Event("nudge"), 0)
    assert rec.log == ["act_nudge_child"] and m.state == "run.first"


def test_parent_transition_inherited_by_child(env: tuple[Scheduler, Recorder, Machine]) -> None:
    _, rec, m = env
    m.dispatch(Event("go"), 0)
    rec.log.clear()
    m.dispatch(Event("poke"), 0)
    assert m.state == "run.second"
    assert rec.log == ["act_poke_parent", "exit_first", "enter_second"]


def test_global_transition_exits_innermost_first(env: tuple[Scheduler, Recorder, Machine]) -> None:
    _, rec, m = env
    m.dispatch(Event("go"), 0)
    rec.log.clear()
    m.dispatch(Event("stop"), 0)
    assert m.state == "idle"
    assert rec.log == ["exit_first", "exit_run", "enter_idle"]


def test_timeout_fires_exactly_at_deadline(env: tuple[Scheduler, Recorder, Machine]) -> None:
    sched, _, m = env
    sched.run_until(1_000_000_000)
    m.dispatch(Event("go"), sched.now_ns())
    sched.run_until(2_999_999_999)
    assert m.state == "run.first"
    sched.run_until(3_000_000_000)
    assert m.state == "run.second"


def test_timeout_cancelled_on_exit_and_rearmed_on_reentry(
    env: tuple[Scheduler, Recorder, Machine],
) -> None:
    sched, _, m = env
    m.dispatch(Event("go"), 0)
    sched.run_until(1_500_000_000)
    m.dispatch(Event("stop"), sched.now_ns())
    m.dispatch(Event("go"), sched.now_ns())  # re-entry at 1.5 s: new 2 s timer
    sched.run_until(3_400_000_000)
    assert m.state == "run.first"  # the first timer (due 2.0 s) was cancelled
    sched.run_until(3_500_000_000)
    assert m.state == "run.second"


def test_callback_exception_names_machine_state_and_callback(
    env: tuple[Scheduler, Recorder, Machine],
) -> None:
    _, _, m = env
    with pytest.raises(CallbackError) as info:
        m.dispatch(Event("boom"), 0)
    assert info.value.callback == "explode" and info.value.state == "idle"
    assert isinstance(info.value.original, ValueError)


def test_undeclared_event_is_a_usage_error(env: tuple[Scheduler, Recorder, Machine]) -> None:
    _, _, m = env
    with pytest.raises(FsmUsageError):
        m.dispatch(Event("no_such_event"), 0)


def test_reentrant_dispatch_is_refused() -> None:
    sched = Scheduler()

    class Reentrant(Recorder):
        def act_go(self, ev: Event) -> None:
            assert self.dispatch_inside is not None
            self.dispatch_inside.dispatch(Event("stop"), 0)

    rec = Reentrant()
    m = Machine(parse_spec(CHART, "nest.yaml"), rec, timers=sched)
    rec.dispatch_inside = m
    m.start(0)
    with pytest.raises(CallbackError) as info:
        m.dispatch(Event("go"), 0)
    assert isinstance(info.value.original, FsmUsageError)


def test_param_override_changes_timer(env: tuple[Scheduler, Recorder, Machine]) -> None:
    sched = Scheduler()
    m = Machine(
        parse_spec(CHART, "nest.yaml"), Recorder(), timers=sched, param_overrides={"t_wait": 0.5}
    )
    m.start(0)
    m.dispatch(Event("go"), 0)
    sched.run_until(500_000_000)
    assert m.state == "run.second"

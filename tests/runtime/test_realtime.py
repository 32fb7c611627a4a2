"""The same station and chart on the monotonic clock, as in production."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from evse.runtime.clock import MonotonicClock
from evse.runtime.realtime import LateCause, LateTurn, RealtimeRunner
from evse.runtime.scenario import load_scenario, run_scenario
from evse.runtime.scheduler import Scheduler

MS = 1_000_000

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.realtime
def test_short_session_runs_on_the_monotonic_clock(tmp_path: Path) -> None:
    f = tmp_path / "s.yaml"
    f.write_text(
        "scenario: rt\nduration_s: 1.0\nsteps:\n  - {at: 0.1, do: ev_plug}\n"
        "  - {at: 0.8, do: ev_ready}\n"
        "expect:\n  - {at: 0.3, state: plugged.B.B1}\n  - {at: 0.7, state: plugged.B.B2}\n"
        "  - {at: 0.95, state: plugged.C.C2.idle}\n"
    )
    result = run_scenario(load_scenario(f), realtime=True)
    assert result.ok, result.failures


def _runner() -> tuple[RealtimeRunner, Scheduler]:
    sched = Scheduler(MonotonicClock())
    return RealtimeRunner(sched), sched


def _then_late(sched: Scheduler, at_ns: int, work: Callable[[], None]) -> None:
    """At `at_ns`, arm a timer due 1 ms later, then do `work`: that timer fires late by
    about as long as `work` takes (armed from inside, so it cannot fire in the same turn)."""
    def fire(now: int) -> None:
        sched.call_at(now + MS, lambda now: None, "next")
        work()

    sched.call_at(at_ns, fire, "work")


def _ours(runner: RealtimeRunner, at_ns: int) -> LateTurn:
    """The late turn of the timer `_then_late` armed (its deadline is after `at_ns`): on a
    loaded machine other turns can be late too."""
    mine = [t for t in runner.stats.late_turns if t.at_ns - t.lateness_ns > at_ns]
    assert mine, runner.stats
    return min(mine, key=lambda t: t.at_ns)


def _busy(ns: int) -> None:
    end = time.thread_time_ns() + ns
    while time.thread_time_ns() < end:
        pass


@pytest.mark.realtime
def test_a_late_turn_says_it_was_our_own_work_when_a_callback_burned_the_cpu() -> None:
    runner, sched = _runner()
    t0 = sched.now_ns()
    # A timer that burns 30 ms of CPU makes the next (due 1 ms later) fire ~29 ms late.
    _then_late(sched, t0 + 10 * MS, lambda: _busy(30 * MS))
    runner.run_until(t0 + 1000 * MS)
    late = _ours(runner, t0 + 10 * MS)
    assert late.lateness_ns > 20 * MS
    assert late.slowest == "timers"
    assert 25 * MS <= late.cpu_ns <= late.work_ns  # the burn's CPU is counted as ours
    if late.work_ns < 1.5 * late.cpu_ns:  # a quiet machine: the burn is all of it
        assert late.cause is LateCause.OWN_WORK, late
        assert runner.stats.late_causes()["own work"] >= 1


@pytest.mark.realtime
def test_a_late_turn_says_so_when_wall_time_passed_without_our_cpu() -> None:
    runner, sched = _runner()
    t0 = sched.now_ns()
    # Blocking 30 ms without CPU (as when the OS runs another process) is not our work.
    _then_late(sched, t0 + 10 * MS, lambda: time.sleep(0.03))
    runner.run_until(t0 + 1000 * MS)
    late = _ours(runner, t0 + 10 * MS)
    assert late.lateness_ns > 20 * MS
    assert late.cause is LateCause.DESCHEDULED, late
    assert late.cpu_ns < late.work_ns / 2


@pytest.mark.realtime
def test_a_collection_past_the_deadline_is_named_gc() -> None:
    runner, sched = _runner()
    t0 = sched.now_ns()
    # 300,000 unreachable cycles: the collection that frees them takes tens of ms.
    gc.disable()
    try:
        for _ in range(300_000):
            cycle: list[object] = []
            cycle.append(cycle)
        del cycle
        t0 = sched.now_ns()  # after the set-up, which takes longer than the first timer's wait
        _then_late(sched, t0 + 10 * MS, gc.collect)
        runner.run_until(t0 + 1000 * MS)
    finally:
        gc.enable()
    late = _ours(runner, t0 + 10 * MS)
    assert late.gc_ns >= late.lateness_ns / 2, late
    assert late.cause is LateCause.GC
    assert gc.callbacks.count(runner._tc._on_gc) == 0  # noqa: SLF001 - removed after the run


def test_the_worst_late_turns_are_the_ones_kept() -> None:
    from evse.runtime.realtime import LATE_TURNS_KEPT, RunnerStats

    runner, _ = _runner()
    stats = RunnerStats()
    runner.stats = stats
    for i in range(LATE_TURNS_KEPT * 3):
        lateness = (i * 7919) % 1000 * MS  # every value once, in no order
        runner._note_late(i, 0, lateness)  # noqa: SLF001 - the bookkeeping alone
    kept = sorted(t.lateness_ns for t in stats.late_turns)
    assert len(kept) == LATE_TURNS_KEPT
    every = sorted((i * 7919) % 1000 * MS for i in range(LATE_TURNS_KEPT * 3))
    assert kept == every[-LATE_TURNS_KEPT:]
    assert all(isinstance(t, LateTurn) for t in stats.late_turns)

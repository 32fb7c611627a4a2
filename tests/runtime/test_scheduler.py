"""The scheduler's ordering rules, periodic tasks and the livelock guard."""

from __future__ import annotations

from typing import Any

import pytest

from evse.runtime.scheduler import DRAIN_BUDGET, Scheduler, SchedulerError


class Sink:
    def __init__(self, sched: Scheduler, log: list[str]) -> None:
        self.sched = sched
        self.log = log

    def handle(self, item: Any, now_ns: int) -> None:
        self.log.append(f"{now_ns}:{item}")
        if item == "echo":
            self.sched.post("sink", "echoed")


def test_same_instant_order_queue_then_timers_by_seq_with_drain_between() -> None:
    sched = Scheduler()
    log: list[str] = []
    sched.register("sink", Sink(sched, log))
    sched.call_at(10, lambda now: (log.append("t1"), sched.post("sink", "echo")), "t1")
    sched.call_at(10, lambda now: log.append("t2"), "t2")
    sched.post("sink", "queued-first")
    sched.run_until(10)
    assert log == ["0:queued-first", "t1", "10:echo", "10:echoed", "t2"]


def test_periodic_task_does_not_drift() -> None:
    sched = Scheduler()
    ticks: list[int] = []
    sched.call_every(3, ticks.append, "tick")
    sched.run_until(10)
    assert ticks == [3, 6, 9]


def test_cancelled_timer_never_fires() -> None:
    sched = Scheduler()
    fired: list[int] = []
    h = sched.start_timer(5, fired.append, "x")
    sched.cancel_timer(h)
    sched.run_until(100)
    assert fired == [] and sched.next_deadline_ns() is None


def test_virtual_time_jumps_to_deadlines() -> None:
    sched = Scheduler()
    seen: list[int] = []
    sched.start_timer(3_600_000_000_000, seen.append, "one hour")
    sched.run_until(7_200_000_000_000)
    assert seen == [3_600_000_000_000] and sched.now_ns() == 7_200_000_000_000


def test_livelock_becomes_an_error_not_a_hang() -> None:
    sched = Scheduler()

    class PingPong:
        def handle(self, item: Any, now_ns: int) -> None:
            sched.post("pp", item)

    sched.register("pp", PingPong())
    sched.post("pp", "ball")
    with pytest.raises(SchedulerError, match="livelock"):
        sched.drain()
    assert DRAIN_BUDGET >= 1000


def test_time_cannot_go_back() -> None:
    sched = Scheduler()
    sched.run_until(100)
    with pytest.raises(SchedulerError):
        sched.run_until(50)


def test_post_to_unknown_component_is_refused() -> None:
    with pytest.raises(SchedulerError):
        Scheduler().post("nobody", 1)

"""Deterministic discrete-event scheduler: the one owner of time, timers and event order.

Theory of operation
-------------------
Everything that happens in the station is either a timer expiring or a message posted to a
component. The scheduler keeps both:

- **Timers** live in a heap keyed by `(deadline_ns, seq)`; `seq` is the order in which they
  were started. Periodic tasks are timers that re-arm themselves at `deadline + period` (no
  drift, whatever the callback costs).
- **Messages** go through one FIFO queue. `post(target, item)` appends; the queue is drained
  run-to-completion: a component handles one item completely, and what it posts is appended
  behind everything already queued.

Ordering rule for a given instant (documented for chart authors and reviewers):
 1. messages already queued are drained first (FIFO);
 2. then due timers fire one at a time in `(deadline_ns, seq)` order, and after **each**
    timer the queue is drained completely before the next timer fires;
 3. a timer started with delay 0 fires after everything already due at that instant.

In virtual time the clock jumps straight from one deadline to the next, so an hour of
charging costs only the work done in it; in production `RealtimeRunner` waits on the
monotonic clock and on file descriptors. Both call `run_due(now_ns)`.

A per-drain budget turns a livelock (two components bouncing messages forever) into an
error instead of a hang.
"""

from __future__ import annotations

import heapq
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from evse.runtime.clock import Clock, VirtualClock
from evse.runtime.trace import Trace

#: Maximum messages handled in one drain before the scheduler declares a livelock.
DRAIN_BUDGET = 100_000


class SchedulerError(Exception):
    """Our own misuse of the scheduler (time going back, livelock, unknown target)."""


class Component(Protocol):
    """Anything that receives posted messages."""

    def handle(self, item: Any, now_ns: int) -> None: ...


@dataclass(frozen=True, slots=True)
class CallbackComponent:
    """A component made of one function: `post(name, item)` calls `fn(item, now_ns)`."""

    fn: Callable[[Any, int], None]

    def handle(self, item: Any, now_ns: int) -> None:
        self.fn(item, now_ns)


@dataclass(eq=False, slots=True)
class TimerHandle:
    deadline_ns: int
    seq: int
    label: str
    callback: Callable[[int], None]
    period_ns: int = 0
    cancelled: bool = False

    def __lt__(self, other: TimerHandle) -> bool:
        return (self.deadline_ns, self.seq) < (other.deadline_ns, other.seq)


@dataclass(slots=True)
class _Stats:
    timers_fired: int = 0
    messages: int = 0
    max_queue: int = 0
    errors: list[str] = field(default_factory=list)


class Scheduler:
    """Timers, a FIFO message queue and the trace, over a virtual or monotonic clock."""

    def __init__(
        self,
        clock: Clock | None = None,
        *,
        seed: int = 0,
        trace: Trace | None = None,
        trace_messages: bool = True,
    ) -> None:
        self.clock: Clock = clock if clock is not None else VirtualClock()
        self.rng = random.Random(seed)
        self.trace = trace if trace is not None else Trace(self.clock.now_ns)
        self._trace_messages = trace_messages
        self._heap: list[TimerHandle] = []
        self._seq = 0
        self._queue: deque[tuple[str, Component, Any, str]] = deque()
        self._components: dict[str, Component] = {}
        self.stats = _Stats()

    # ------------------------------------------------------------------ time
    def now_ns(self) -> int:
        return self.clock.now_ns()

    @property
    def virtual(self) -> bool:
        return isinstance(self.clock, VirtualClock)

    # ------------------------------------------------------------------ timers
    def call_at(self, deadline_ns: int, callback: Callable[[int], None], label: str) -> TimerHandle:
        self._seq += 1
        handle = TimerHandle(deadline_ns, self._seq, label, callback)
        heapq.heappush(self._heap, handle)
        return handle

    def start_timer(
        self, delay_ns: int, callback: Callable[[int], None], label: str
    ) -> TimerHandle:
        """One-shot timer `delay_ns` from now (the `TimerService` the charts use)."""
        if delay_ns < 0:
            raise SchedulerError(f"negative delay for timer {label!r}")
        return self.call_at(self.now_ns() + delay_ns, callback, label)

    def call_every(
        self,
        period_ns: int,
        callback: Callable[[int], None],
        label: str,
        *,
        first_delay_ns: int | None = None,
    ) -> TimerHandle:
        """Periodic task (control loops, polls). Re-armed at deadline + period: no drift."""
        if period_ns <= 0:
            raise SchedulerError(f"period of {label!r} must be > 0")
        handle = self.start_timer(
            period_ns if first_delay_ns is None else first_delay_ns, callback, label
        )
        handle.period_ns = period_ns
        return handle

    def cancel_timer(self, handle: object) -> None:
        if isinstance(handle, TimerHandle):
            handle.cancelled = True

    def next_deadline_ns(self) -> int | None:
        while self._heap and self._heap[0].cancelled:
            heapq.heappop(self._heap)
        return self._heap[0].deadline_ns if self._heap else None

    # ------------------------------------------------------------------ messages
    def register(self, name: str, component: Component) -> None:
        if name in self._components:
            raise SchedulerError(f"component {name!r} registered twice")
        self._components[name] = component

    def component(self, name: str) -> Component:
        return self._components[name]

    def post(self, target: str, item: Any, *, source: str = "") -> None:
        """Queue `item` for component `target`; traced as a message crossing a boundary."""
        try:
            component = self._components[target]
        except KeyError:
            raise SchedulerError(f"post to unknown component {target!r}") from None
        self._queue.append((target, component, item, source))
        if len(self._queue) > self.stats.max_queue:
            self.stats.max_queue = len(self._queue)

    def drain(self) -> int:
        """Handle queued messages until the queue is empty. Returns how many."""
        handled = 0
        queue = self._queue
        while queue:
            target, component, item, source = queue.popleft()
            handled += 1
            if handled > DRAIN_BUDGET:
                raise SchedulerError(
                    f"livelock: more than {DRAIN_BUDGET} messages at t={self.now_ns()} ns"
                )
            now = self.now_ns()
            if self._trace_messages:
                self.trace.record(source or "?", "msg", {"to": target, "item": item})
            component.handle(item, now)
        self.stats.messages += handled
        return handled

    # ------------------------------------------------------------------ running
    def run_due(self, now_ns: int) -> int:
        """Fire every timer due at or before `now_ns` (ordering rule in the module doc)."""
        self.drain()
        fired = 0
        heap = self._heap
        while heap and heap[0].deadline_ns <= now_ns:
            handle = heapq.heappop(heap)
            if handle.cancelled:
                continue
            if isinstance(self.clock, VirtualClock):
                self.clock.set_ns(handle.deadline_ns)
            if handle.period_ns:
                handle.deadline_ns += handle.period_ns
                self._seq += 1
                handle.seq = self._seq
                heapq.heappush(heap, handle)
            fired += 1
            handle.callback(self.now_ns())
            self.drain()
        self.stats.timers_fired += fired
        return fired

    def run_until(self, t_ns: int) -> None:
        """Virtual time only: jump from deadline to deadline up to `t_ns`, then stop there."""
        clock = self.clock
        if not isinstance(clock, VirtualClock):
            raise SchedulerError("run_until needs a VirtualClock; use RealtimeRunner")
        if t_ns < clock.now_ns():
            raise SchedulerError("cannot run back in time")
        self.run_due(t_ns)
        clock.set_ns(t_ns)
        self.drain()

    def run_for(self, dt_ns: int) -> None:
        self.run_until(self.now_ns() + dt_ns)

    def run_until_true(
        self, predicate: Callable[[], bool], *, limit_ns: int, step_ns: int | None = None
    ) -> bool:
        """Virtual time: advance deadline by deadline until `predicate()` holds or the limit."""
        clock = self.clock
        if not isinstance(clock, VirtualClock):
            raise SchedulerError("run_until_true needs a VirtualClock")
        end = clock.now_ns() + limit_ns
        self.drain()
        while not predicate():
            nxt = self.next_deadline_ns()
            if step_ns is not None:
                nxt = min(nxt if nxt is not None else end, clock.now_ns() + step_ns)
            if nxt is None or nxt > end:
                clock.set_ns(end)
                return predicate()
            self.run_due(nxt)
            if clock.now_ns() < nxt:
                clock.set_ns(nxt)
        return True

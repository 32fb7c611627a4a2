"""Keep one scheduler timer at a sans-IO core's next deadline (aioquic's get_timer pattern).

A core that owns its timers reports `next_deadline_ns()`; after every call into it the
runtime calls `update()`, which (re)arms a single scheduler timer there. When it fires, the
core's `handle_timer(now)` runs and the timer is re-armed at the new deadline.
"""

from __future__ import annotations

from collections.abc import Callable

from evse.runtime.scheduler import Scheduler, TimerHandle


class Rearm:
    """One scheduler timer kept at a sans-IO core's next deadline (aioquic's get_timer)."""

    def __init__(self, sched: Scheduler, label: str, deadline: Callable[[], int | None],
                 fire: Callable[[int], None]) -> None:
        self._sched = sched
        self._label = label
        self._deadline = deadline
        self._fire = fire
        self._handle: TimerHandle | None = None
        self._at: int | None = None

    def update(self) -> None:
        at = self._deadline()
        if at == self._at and (self._handle is None or not self._handle.cancelled):
            return
        if self._handle is not None:
            self._sched.cancel_timer(self._handle)
            self._handle = None
        self._at = at
        if at is not None:
            self._handle = self._sched.call_at(max(at, self._sched.now_ns()), self._run,
                                               self._label)

    def _run(self, now_ns: int) -> None:
        self._handle = None
        self._at = None
        self._fire(now_ns)
        self.update()

    def cancel(self) -> None:
        """Drop the timer (the core is gone, e.g. a car that left)."""
        if self._handle is not None:
            self._sched.cancel_timer(self._handle)
        self._handle = None
        self._at = None

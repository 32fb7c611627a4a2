"""One-shot timers owned by a sans-IO core: the chart's `TimerService` plus the core's own,
surfaced as one `next_deadline_ns()` for whoever drives the core (scheduler or adapter)."""

from __future__ import annotations

import heapq
from collections.abc import Callable
from typing import Any


class CoreTimers:
    def __init__(self, now: Callable[[], int]) -> None:
        self._now = now
        self._heap: list[tuple[int, int, list[Any]]] = []
        self._seq = 0

    def start_timer(self, delay_ns: int, callback: Callable[[int], None], label: str) -> object:
        self._seq += 1
        entry: list[Any] = [callback, label, False]  # [callback, label, cancelled]
        heapq.heappush(self._heap, (self._now() + delay_ns, self._seq, entry))
        return entry

    def cancel_timer(self, handle: object) -> None:
        if isinstance(handle, list):
            handle[2] = True

    def next_deadline_ns(self) -> int | None:
        while self._heap and self._heap[0][2][2]:
            heapq.heappop(self._heap)
        return self._heap[0][0] if self._heap else None

    def pop_due(self, now_ns: int) -> Callable[[int], None] | None:
        """The next due callback (deadline, then start order), or None."""
        while self._heap and self._heap[0][0] <= now_ns:
            _, _, entry = heapq.heappop(self._heap)
            if not entry[2]:
                entry[2] = True
                cb: Callable[[int], None] = entry[0]
                return cb
        return None

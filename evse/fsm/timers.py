"""A sans-IO `TimerService` for a core that is driven by `now_ns` + `handle_timer()`.

The charts' state timeouts need `start_timer(delay_ns, callback)`; a core that runs
without the station scheduler (the SECC core on a bench, in replay or the EV-sim loopback;
the MCU link driver, drivers/board/mcu.py) gets one here and exposes `next_deadline_ns()`
in the aioquic style. It lives with the chart engine so that drivers, which see only the
ports and the engine, can run a chart too.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(eq=False, slots=True)
class _Timer:
    deadline_ns: int
    seq: int
    label: str
    callback: Callable[[int], None]
    cancelled: bool = False

    def __lt__(self, other: _Timer) -> bool:
        return (self.deadline_ns, self.seq) < (other.deadline_ns, other.seq)


@dataclass(slots=True)
class LocalTimers:
    now_ns: int = 0
    _heap: list[_Timer] = field(default_factory=list)
    _seq: int = 0

    def start_timer(self, delay_ns: int, callback: Callable[[int], None], label: str) -> object:
        self._seq += 1
        t = _Timer(self.now_ns + delay_ns, self._seq, label, callback)
        heapq.heappush(self._heap, t)
        return t

    def cancel_timer(self, handle: object) -> None:
        if isinstance(handle, _Timer):
            handle.cancelled = True

    def next_deadline_ns(self) -> int | None:
        while self._heap and self._heap[0].cancelled:
            heapq.heappop(self._heap)
        return self._heap[0].deadline_ns if self._heap else None

    def fire_due(self, now_ns: int) -> int:
        """Run every timer due at `now_ns`, in (deadline, start order). Returns the count."""
        n = 0
        while True:
            d = self.next_deadline_ns()
            if d is None or d > now_ns:
                return n
            t = heapq.heappop(self._heap)
            self.now_ns = max(self.now_ns, t.deadline_ns)
            t.callback(t.deadline_ns)
            n += 1

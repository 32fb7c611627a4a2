"""Production loop: the same scheduler on the monotonic clock, waiting on file descriptors.

`RealtimeRunner` is the only loop that sleeps (inside `select`). Each turn it fires the
timers that are due, then waits until the next deadline or until a registered descriptor
is readable, whichever comes first; reader callbacks only read and `post` (they never call
a core directly), so event order stays the scheduler's. A late turn is counted as an
overrun, not absorbed: a charger must know when it missed its own deadlines.

`run_async` is the same loop for an asyncio host (the OCPP client runs on asyncio): charts
stay synchronous and the loop only calls `run_due` (aioquic's split).
"""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from evse.runtime.clock import MonotonicClock
from evse.runtime.scheduler import Scheduler, SchedulerError
from evse.runtime.sdnotify import SdNotifier

#: A timer fired later than this after its deadline counts as an overrun.
OVERRUN_NS = 5_000_000
#: How often a byte-stream port (the contract link) is serviced besides on input: flushes
#: what was published and runs its heartbeat/retransmit timers. One PLC power tick
#: (dc_station POWER_TICK_NS), so a sample leaves at most one tick after it was published.
STREAM_SERVICE_PERIOD_NS = 10_000_000


class StreamService(Protocol):
    """A port with its own non-blocking I/O (evse.io.contract_link's adapter)."""

    def fileno(self) -> int: ...

    def service(self, timeout_s: float = 0.0) -> None: ...


@dataclass
class RunnerStats:
    turns: int = 0
    overruns: int = 0
    worst_lateness_ns: int = 0


class RealtimeRunner:
    def __init__(self, scheduler: Scheduler) -> None:
        if not isinstance(scheduler.clock, MonotonicClock):
            raise SchedulerError("RealtimeRunner needs a MonotonicClock")
        self.scheduler = scheduler
        self.clock: MonotonicClock = scheduler.clock
        self.selector = selectors.DefaultSelector()
        self.stats = RunnerStats()
        #: systemd's notify socket when run as a Type=notify service (deploy/evse.service):
        #: READY=1 when the loop starts, WATCHDOG=1 from this loop's own timers, STOPPING=1.
        self.systemd = SdNotifier.from_env()
        #: STATUS= sent with READY=1 (a composition root says what it warmed up, say)
        self.ready_status = "running"

    def add_reader(self, fileobj: int, callback: Callable[[int], None]) -> None:
        """`callback(now_ns)` runs when `fileobj` is readable; it should read and post."""
        self.selector.register(fileobj, selectors.EVENT_READ, callback)

    def remove_reader(self, fileobj: int) -> None:
        self.selector.unregister(fileobj)

    def serve(self, port: StreamService) -> None:
        """Run a stream port on this loop: read when its descriptor is readable, and flush
        and run its timers every STREAM_SERVICE_PERIOD_NS; never blocks (timeout 0)."""
        self.add_reader(port.fileno(), lambda now_ns: port.service(0.0))
        self.scheduler.call_every(STREAM_SERVICE_PERIOD_NS, lambda now_ns: port.service(0.0),
                                  "link.service")

    def _turn(self, until_ns: int) -> None:
        sched = self.scheduler
        now = self.clock.now_ns()
        nxt = sched.next_deadline_ns()
        if nxt is not None and nxt <= now:
            lateness = now - nxt
            self.stats.worst_lateness_ns = max(self.stats.worst_lateness_ns, lateness)
            if lateness > OVERRUN_NS:
                self.stats.overruns += 1
        sched.run_due(now)
        nxt = sched.next_deadline_ns()
        wake = until_ns if nxt is None else min(nxt, until_ns)
        timeout_s = max(0.0, (wake - self.clock.now_ns()) / 1e9)
        for key, _ in self.selector.select(timeout_s):
            callback: Callable[[int], None] = key.data
            callback(self.clock.now_ns())
        sched.drain()
        self.stats.turns += 1

    def run_until(self, t_ns: int, stop: Callable[[], bool] | None = None) -> None:
        """Run until monotonic time `t_ns` (or until `stop()` is true)."""
        if self.systemd is not None:
            self.systemd.start(self.scheduler, self.ready_status)
        try:
            while self.clock.now_ns() < t_ns:
                if stop is not None and stop():
                    return
                self._turn(t_ns)
            self.scheduler.run_due(self.clock.now_ns())
        finally:
            if self.systemd is not None:
                self.systemd.stopping(self.scheduler)


async def run_async(
    scheduler: Scheduler, stop: asyncio.Event, wake: asyncio.Event | None = None
) -> None:
    """asyncio host loop: fire due timers, then await the next deadline, `wake` or `stop`."""
    clock = scheduler.clock
    if not isinstance(clock, MonotonicClock):
        raise SchedulerError("run_async needs a MonotonicClock")
    wake = wake or asyncio.Event()
    while not stop.is_set():
        scheduler.run_due(clock.now_ns())
        nxt = scheduler.next_deadline_ns()
        timeout = None if nxt is None else max(0.0, (nxt - clock.now_ns()) / 1e9)
        wake.clear()
        waiters = {asyncio.ensure_future(wake.wait()), asyncio.ensure_future(stop.wait())}
        _done, pending = await asyncio.wait(
            waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
        )
        for task in pending:
            task.cancel()

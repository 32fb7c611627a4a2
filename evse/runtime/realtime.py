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
import enum
import gc
import resource
import selectors
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

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


#: How many of the worst late turns are kept with their causes (RunnerStats.late_turns).
LATE_TURNS_KEPT = 20


class LateCause(enum.Enum):
    """Why a turn started late, from what the previous turn measured of itself."""

    OWN_WORK = "own work"  # our callbacks ran on the CPU past the deadline
    GC = "gc"  # a garbage collection ran past the deadline
    DESCHEDULED = "descheduled"  # wall time passed without our CPU time: the OS ran others
    WAKE_UP = "wake-up"  # select returned after its timeout: the OS woke us late


@dataclass(frozen=True, slots=True)
class LateTurn:
    """One late turn: how late, and how the previous turn spent the time up to it.

    `work_ns`/`cpu_ns` are the wall and thread-CPU time of the previous turn's work that
    ran past the deadline (timers, readers, messages); `wake_ns` how much later than its
    timeout the select returned; `gc_ns` collections in between; `switches` involuntary
    context switches (getrusage ru_nivcsw) in between."""

    at_ns: int
    lateness_ns: int
    work_ns: int
    cpu_ns: int
    wake_ns: int
    gc_ns: int
    switches: int
    slowest: str  # the previous turn's slowest part: "timers", "readers" or "messages"

    @property
    def cause(self) -> LateCause:
        parts = {LateCause.GC: self.gc_ns, LateCause.WAKE_UP: self.wake_ns,
                 LateCause.OWN_WORK: max(0, self.cpu_ns - self.gc_ns),
                 LateCause.DESCHEDULED: max(0, self.work_ns - self.cpu_ns)}
        return max(parts, key=lambda c: parts[c])


@dataclass
class RunnerStats:
    turns: int = 0
    overruns: int = 0
    worst_lateness_ns: int = 0
    #: The LATE_TURNS_KEPT worst overruns (a late turn is an overrun) with their causes.
    late_turns: list[LateTurn] = field(default_factory=list)

    def late_causes(self) -> dict[str, int]:
        """Overruns kept, counted by cause (bench/footprint.py prints it)."""
        out: dict[str, int] = {}
        for t in self.late_turns:
            out[t.cause.value] = out.get(t.cause.value, 0) + 1
        return out


class _TurnClock:
    """Where the time of the previous turn went (RealtimeRunner's bookkeeping: a few clock
    reads per turn). GC time is summed by a gc callback."""

    def __init__(self) -> None:
        self.gc_ns = 0
        self._gc_start = 0
        self.timed_out = False  # the select returned by its timeout, not a readable fd
        self.wait_end_ns = 0  # max(deadline waited for, end of the timers): when work resumed
        self.select_end_ns = 0
        self.cpu_after_ns = 0  # thread CPU time from the select's return to the turn's end
        self.cpu_timers_ns = 0  # thread CPU time of the timers, when they ran over (no wait)
        self.parts: dict[str, int] = {}
        self.gc_at_start = 0
        self.switches_at_start = 0

    def _on_gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._gc_start = time.perf_counter_ns()
        else:
            self.gc_ns += time.perf_counter_ns() - self._gc_start

    def open(self) -> None:
        if self._on_gc not in gc.callbacks:
            gc.callbacks.append(self._on_gc)

    def close(self) -> None:
        if self._on_gc in gc.callbacks:
            gc.callbacks.remove(self._on_gc)


def _switches() -> int:
    return resource.getrusage(resource.RUSAGE_THREAD).ru_nivcsw


class RealtimeRunner:
    def __init__(self, scheduler: Scheduler) -> None:
        if not isinstance(scheduler.clock, MonotonicClock):
            raise SchedulerError("RealtimeRunner needs a MonotonicClock")
        self.scheduler = scheduler
        self.clock: MonotonicClock = scheduler.clock
        self.selector = selectors.DefaultSelector()
        self.stats = RunnerStats()
        self._tc = _TurnClock()
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
        sched, tc = self.scheduler, self._tc
        now = self.clock.now_ns()
        nxt = sched.next_deadline_ns()
        if nxt is not None and nxt <= now:
            lateness = now - nxt
            self.stats.worst_lateness_ns = max(self.stats.worst_lateness_ns, lateness)
            if lateness > OVERRUN_NS:
                self.stats.overruns += 1
                self._note_late(now, nxt, lateness)
        tc.gc_at_start, tc.switches_at_start = tc.gc_ns, _switches()
        cpu0 = time.thread_time_ns()
        sched.run_due(now)
        t1 = self.clock.now_ns()
        cpu1 = time.thread_time_ns()
        nxt = sched.next_deadline_ns()
        wake = until_ns if nxt is None else min(nxt, until_ns)
        timeout_s = max(0.0, (wake - t1) / 1e9)
        ready = self.selector.select(timeout_s)
        t2 = self.clock.now_ns()
        cpu2 = time.thread_time_ns()
        for key, _ in ready:
            callback: Callable[[int], None] = key.data
            callback(self.clock.now_ns())
        t3 = self.clock.now_ns()
        sched.drain()
        t4 = self.clock.now_ns()
        tc.timed_out, tc.wait_end_ns, tc.select_end_ns = not ready, max(wake, t1), t2
        tc.cpu_timers_ns = cpu1 - cpu0 if timeout_s == 0.0 else 0
        tc.cpu_after_ns = time.thread_time_ns() - cpu2
        tc.parts = {"timers": t1 - now, "readers": t3 - t2, "messages": t4 - t3}
        self.stats.turns += 1

    def _note_late(self, now: int, deadline: int, lateness: int) -> None:
        """Record an overrun with what the previous turn measured: how much later than its
        timeout the select came back (the OS woke us late), and of the rest, how much was
        our own CPU, a collection, or wall time without our CPU (descheduled)."""
        tc = self._tc
        wake = max(0, tc.select_end_ns - tc.wait_end_ns) if tc.timed_out else 0
        work = max(0, lateness - wake)
        late = self.stats.late_turns
        late.append(LateTurn(
            at_ns=now, lateness_ns=lateness, work_ns=work,
            cpu_ns=min(work, tc.cpu_after_ns + tc.cpu_timers_ns), wake_ns=min(wake, lateness),
            gc_ns=tc.gc_ns - tc.gc_at_start, switches=_switches() - tc.switches_at_start,
            slowest=max(tc.parts, key=lambda k: tc.parts[k]) if tc.parts else "timers"))
        if len(late) > LATE_TURNS_KEPT:
            late.remove(min(late, key=lambda t: t.lateness_ns))

    def run_until(self, t_ns: int, stop: Callable[[], bool] | None = None) -> None:
        """Run until monotonic time `t_ns` (or until `stop()` is true)."""
        if self.systemd is not None:
            self.systemd.start(self.scheduler, self.ready_status)
        self._tc.open()
        try:
            while self.clock.now_ns() < t_ns:
                if stop is not None and stop():
                    return
                self._turn(t_ns)
            self.scheduler.run_due(self.clock.now_ns())
        finally:
            self._tc.close()
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

"""Clocks. The only module allowed to read the wall/monotonic clock or to sleep.

Time is integer nanoseconds everywhere: a float clock that adds 0.01 s 5,360 times reaches
53.599999999997905 s and fires a 50 s timer one tick late (reference/engine_bench.md).
"""

from __future__ import annotations

import time
from typing import Protocol

NS_PER_S = 1_000_000_000
NS_PER_MS = 1_000_000
#: 2026-01-01T00:00:00Z: the Unix time virtual time 0 stands for, unless a simulation says
#: otherwise. Fixed, so the same seed gives the same absolute timestamps (PaymentDetailsRes
#: EVSETimeStamp, OCPP timestamps) and the same trace; the same value as
#: evse/controller/config.py DEFAULT_EPOCH_UNIX_S and evse/secc/config.py.
VIRTUAL_EPOCH_UNIX_S = 1_767_225_600


def s_to_ns(seconds: float) -> int:
    """Convert a configured duration in seconds to integer nanoseconds, once."""
    return round(seconds * NS_PER_S)


def ms_to_ns(milliseconds: float) -> int:
    return round(milliseconds * NS_PER_MS)


def ns_to_s(ns: int) -> float:
    return ns / NS_PER_S


class Clock(Protocol):
    def now_ns(self) -> int: ...

    @property
    def epoch_unix_ns(self) -> int:
        """Unix time (ns) of `now_ns() == 0`: wall-clock timestamps are this plus now_ns,
        for what is told to others (cars, the CSMS), never for timers."""
        ...


class VirtualClock:
    """Simulated time: only the scheduler moves it, in jumps to the next deadline."""

    def __init__(self, start_ns: int = 0, *,
                 epoch_unix_s: int = VIRTUAL_EPOCH_UNIX_S) -> None:
        self._now_ns = start_ns
        self._epoch_unix_ns = epoch_unix_s * NS_PER_S

    @property
    def epoch_unix_ns(self) -> int:
        """A configured fixed Unix time: deterministic in virtual time."""
        return self._epoch_unix_ns

    def now_ns(self) -> int:
        return self._now_ns

    def set_ns(self, now_ns: int) -> None:
        if now_ns < self._now_ns:
            raise ValueError(f"virtual time cannot go back ({now_ns} < {self._now_ns})")
        self._now_ns = now_ns

    @property
    def virtual(self) -> bool:
        return True


class MonotonicClock:
    """Production time: CLOCK_MONOTONIC, immune to NTP steps and daylight saving."""

    def __init__(self) -> None:
        self._origin_ns = time.monotonic_ns()
        # Read once: later NTP steps do not move timers, only this mapping would.
        self._epoch_unix_ns = time.time_ns() - (time.monotonic_ns() - self._origin_ns)

    def now_ns(self) -> int:
        return time.monotonic_ns() - self._origin_ns

    @property
    def epoch_unix_ns(self) -> int:
        """Real Unix time of this clock's origin (the process start)."""
        return self._epoch_unix_ns

    def sleep_until_ns(self, deadline_ns: int) -> None:
        delay_ns = deadline_ns - self.now_ns()
        if delay_ns > 0:
            time.sleep(delay_ns / NS_PER_S)

    @property
    def virtual(self) -> bool:
        return False


def wall_time_s() -> float:
    """Seconds since the epoch: only for log/trace headers and OCPP timestamps, never timers."""
    return time.time()


def cpu_time_ns() -> int:
    """Process CPU time, for benches and overrun accounting."""
    return time.process_time_ns()


def perf_ns() -> int:
    """High-resolution elapsed time, for benches and response-time supervision."""
    return time.perf_counter_ns()

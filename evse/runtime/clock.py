"""Clocks. The only module allowed to read the wall/monotonic clock or to sleep.

Time is integer nanoseconds everywhere: a float clock that adds 0.01 s 5,360 times reaches
53.599999999997905 s and fires a 50 s timer one tick late (reference/engine_bench.md).
"""

from __future__ import annotations

import time
from typing import Protocol

NS_PER_S = 1_000_000_000
NS_PER_MS = 1_000_000


def s_to_ns(seconds: float) -> int:
    """Convert a configured duration in seconds to integer nanoseconds, once."""
    return round(seconds * NS_PER_S)


def ms_to_ns(milliseconds: float) -> int:
    return round(milliseconds * NS_PER_MS)


def ns_to_s(ns: int) -> float:
    return ns / NS_PER_S


class Clock(Protocol):
    def now_ns(self) -> int: ...


class VirtualClock:
    """Simulated time: only the scheduler moves it, in jumps to the next deadline."""

    def __init__(self, start_ns: int = 0) -> None:
        self._now_ns = start_ns

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

    def now_ns(self) -> int:
        return time.monotonic_ns() - self._origin_ns

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

"""The start-up heap moved out of the cyclic collector's reach before the loop runs.

Why: a station builds about 110,000 long-lived objects before it is ready (EXI grammar
tables and codecs, charts, the OCPP schemas, module code). CPython's collector walks every
tracked object of the oldest generation on a full collection; measured on this 2-core
machine after `IfaceStation` was built, `gc.collect(2)` took 88 ms, and such a collection
fires unannounced from whichever allocation crosses the threshold: one scheduler turn late
by tens of ms (issue 13: no turn later than 10 ms after ready). `gc.freeze()` (CPython 3.7+)
moves everything alive into a permanent generation the collector never scans; after it a
full collection took 0.001 ms. Objects built afterwards (sessions, messages) are collected
as before, and reference counting still frees frozen objects that lose their last
reference; only a reference cycle among frozen objects is never reclaimed, which is why the
freeze happens once, after the build, and `thaw()` undoes it for a process (a test run)
that builds many stations.
"""

from __future__ import annotations

import gc
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class HeapSettled:
    """What `settle()` did: objects frozen in total and its own cost."""

    frozen_objects: int
    collect_ms: float


def settle() -> HeapSettled:
    """Collect the start-up garbage once, then freeze what is alive (see the module doc)."""
    t0 = time.perf_counter()
    gc.collect()
    gc.freeze()
    return HeapSettled(gc.get_freeze_count(), (time.perf_counter() - t0) * 1e3)


def freeze_rest(settled: HeapSettled) -> HeapSettled:
    """Freeze what was built since `settle()` without collecting first: `gc.freeze()` only
    moves lists (no scan), so it costs nothing once timers are armed; the cycles that
    became garbage in between are few and stay (a station's build, once)."""
    t0 = time.perf_counter()
    gc.freeze()
    return HeapSettled(gc.get_freeze_count(),
                       settled.collect_ms + (time.perf_counter() - t0) * 1e3)


def thaw() -> None:
    """Give the frozen objects back to the collector (a station closing in a process that
    goes on, e.g. a test run; a real station exits)."""
    gc.unfreeze()

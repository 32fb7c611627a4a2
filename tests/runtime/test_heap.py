"""The start-up heap is frozen out of the collector's scans (evse/runtime/heap.py)."""

from __future__ import annotations

import gc

from evse.runtime import heap


class _Node:
    def __init__(self) -> None:
        self.peer: _Node | None = None


def test_objects_alive_at_settle_are_not_scanned_later_and_thaw_gives_them_back() -> None:
    built = [_Node() for _ in range(100)]
    try:
        settled = heap.settle()
        assert settled.frozen_objects == gc.get_freeze_count() >= 100
        # A full collection walks the generations; frozen objects are in none of them.
        tracked = {id(o) for g in range(3) for o in gc.get_objects(generation=g)}
        assert not any(id(n) in tracked for n in built)
        # What a session creates afterwards is collected as before (a cycle is reclaimed).
        later = _Node()
        later.peer = _Node()
        later.peer.peer = later
        del later
        assert gc.collect() >= 2
    finally:
        heap.thaw()
    assert gc.get_freeze_count() == 0

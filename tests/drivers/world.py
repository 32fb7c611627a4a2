"""The simulated world of one registry driver, built as DcStation builds it (world_config)."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

from evse.ev.battery import Battery
from evse.runtime.config import load_config
from evse.runtime.sim_world import SimWorld, world_config

MS = 1_000_000
S = 1_000_000_000


class Clock:
    def __init__(self) -> None:
        self.now_ns = 0

    def __call__(self) -> int:
        return self.now_ns


def world_for(tmp_path: Path, text: str) -> tuple[SimWorld, Clock]:
    path = tmp_path / "station.yaml"
    path.write_text(text, encoding="utf-8")
    cfg = load_config(path)
    clock = Clock()
    return SimWorld(clock, random.Random(cfg.seed), Battery(), world_config(cfg)), clock


def run(w: SimWorld, clock: Clock, until_ns: int, each: Callable[[int], None],
        step_ns: int = 10 * MS) -> None:
    while clock.now_ns < until_ns:
        clock.now_ns += step_ns
        w.step(clock.now_ns)
        each(clock.now_ns)

"""Composition root: builds the station from a config and wires components to the scheduler.

Only this module (and the rest of `evse.runtime`) knows which driver backs which port; the
cores see ports and events.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from drivers.board.sim import EvCpState, SimBoard, SimBoardParams
from evse.cp.pilot import ControlPilot, CpConfig, CpNotice
from evse.fsm import Event, MachineSpec, load_spec
from evse.runtime.clock import Clock, VirtualClock, ms_to_ns
from evse.runtime.config import StationConfig
from evse.runtime.scheduler import CallbackComponent, Scheduler

SPEC_DIR = Path(__file__).resolve().parents[2] / "fsm_specs"

_spec_cache: dict[str, MachineSpec] = {}


def spec(name: str) -> MachineSpec:
    """Load (once per process) and validate fsm_specs/NAME.yaml."""
    if name not in _spec_cache:
        _spec_cache[name] = load_spec(SPEC_DIR / f"{name}.yaml")
    return _spec_cache[name]


class Station:
    """One charging point: the scheduler plus every component the config names."""

    def __init__(self, config: StationConfig, *, clock: Clock | None = None) -> None:
        self.config = config
        self.scheduler = Scheduler(clock or VirtualClock(), seed=config.seed)
        sched = self.scheduler
        b = config.board
        self.board = SimBoard(
            sched.now_ns,
            sched.rng,
            SimBoardParams(
                noise_v=b.noise_v,
                contactor_close_ns=ms_to_ns(b.contactor_close_ms),
                contactor_open_ns=ms_to_ns(b.contactor_open_ms),
                keepalive_timeout_ns=ms_to_ns(b.keepalive_timeout_ms),
            ),
        )
        self.notices: list[tuple[int, CpNotice]] = []
        self.cp = ControlPilot(
            spec("iec61851"),
            self.board,
            timers=sched,
            notify=self._cp_notice,
            config=CpConfig(config.cp.hlc_enabled, config.cp.ventilation_available),
            trace=sched.trace,
            param_overrides=config.cp.params,
        )
        sched.register("cp", CallbackComponent(self.cp.handle))
        self._cp_poll = sched.call_every(
            ms_to_ns(config.cp.sample_period_ms), self.cp.poll, "cp.poll"
        )

    def _cp_notice(self, notice: CpNotice) -> None:
        now = self.scheduler.now_ns()
        self.notices.append((now, notice))
        self.scheduler.trace.record("cp", "notice", {"notice": notice.kind, **notice.data})

    def start(self) -> None:
        self.cp.start(self.scheduler.now_ns())

    def post_cp(self, name: str, data: Any = None, *, source: str = "station") -> None:
        self.scheduler.post("cp", Event(name, data), source=source)

    # The virtual EV of a pilot-only station is just a resistor on the pilot.
    def ev_plug(self) -> None:
        self.board.set_ev_state(EvCpState.B)

    def ev_unplug(self) -> None:
        self.board.set_ev_state(EvCpState.A)

    def close(self) -> None:
        """Nothing to release: the pilot-only station has no buses."""

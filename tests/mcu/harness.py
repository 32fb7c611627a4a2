"""The real MCU driver against the MCU simulator on a pty, in virtual time.

One scheduler drives both ends: the simulated firmware turns every millisecond (its own
main loop), the pilot polls the driver every 10 ms as the station does. Bytes really travel
through the kernel's pty, so framing, buffering and EIO behave as on a UART.
"""

from __future__ import annotations

from typing import Any

from drivers.board.mcu import McuBoard, McuParams
from drivers.board.mcu_sim import McuSimulator, PtyMcu
from drivers.board.sim import EvCpState, SimBoard
from evse.cp.pilot import CP_SAMPLE_PERIOD_NS, ControlPilot, CpNotice
from evse.fsm import Event
from evse.runtime.clock import ms_to_ns, s_to_ns
from evse.runtime.scheduler import CallbackComponent, Scheduler
from evse.runtime.station import spec

MCU_TURN_NS = ms_to_ns(1)


class Rig:
    def __init__(self, seed: int = 1, *, with_pilot: bool = True, **mcu_kwargs: Any) -> None:
        self.sched = Scheduler(seed=seed)
        sched = self.sched
        self.world = SimBoard(sched.now_ns, sched.rng)
        self.sim = McuSimulator(self.world, **mcu_kwargs)
        self.pty = PtyMcu(self.sim)
        self.params = McuParams(device=self.pty.device)
        self.board = McuBoard(self.pty.open_host(), sched.now_ns, self.params)
        self.mcu_running = True
        sched.call_every(MCU_TURN_NS, self._mcu_turn, "mcu.turn")
        self.notices: list[tuple[int, CpNotice]] = []
        self.cp: ControlPilot | None = None
        if with_pilot:
            self.cp = ControlPilot(
                spec("iec61851"), self.board, timers=sched,
                notify=lambda n: self.notices.append((sched.now_ns(), n)), trace=sched.trace,
            )
            sched.register("cp", CallbackComponent(self.cp.handle))
            self._poll = sched.call_every(CP_SAMPLE_PERIOD_NS, self._host_poll, "cp.poll")
        self.host_running = True
        self.board.start()
        if self.cp is not None:
            self.cp.start(sched.now_ns())

    def _mcu_turn(self, now_ns: int) -> None:
        if self.mcu_running:
            self.pty.service(now_ns)

    def _host_poll(self, now_ns: int) -> None:
        if self.host_running and self.cp is not None:
            self.cp.poll(now_ns)

    @property
    def state(self) -> str:
        assert self.cp is not None
        return self.cp.state

    def run(self, seconds: float) -> None:
        self.sched.run_for(s_to_ns(seconds))

    def run_ms(self, ms: float) -> None:
        self.sched.run_for(ms_to_ns(ms))

    def now(self) -> int:
        return self.sched.now_ns()

    def ev(self, state: EvCpState) -> None:
        self.world.set_ev_state(state)

    def post(self, name: str) -> None:
        self.sched.post("cp", Event(name), source="test")
        self.sched.drain()

    def kinds(self) -> list[str]:
        return [n.kind for _, n in self.notices]

    def charging(self) -> None:
        self.ev(EvCpState.B)
        self.run(1.0)
        self.ev(EvCpState.C)
        self.run(0.1)
        self.post("power_on_request")
        self.run(0.2)
        assert self.state == "plugged.C.C2.energized", self.state
        assert self.world.contact_closed

    def close(self) -> None:
        self.board.close()
        self.pty.close()

"""The simulated safety MCU on a pty, on the real clock: a stand-in board for `evse run`
with a config whose board driver is `mcu_uart`, for bench runs and bring-up without hardware.

    python -m evse.runtime.mcu_sim_run [--duration S] [--ev A|B|C|D]

prints the pty's device path (give it as `device:` to the mcu_uart driver) and runs the
firmware every millisecond until SIGINT/SIGTERM or `--duration`, with the virtual EV in
the `--ev` pilot state.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from types import FrameType

from drivers.board.mcu_sim import McuSimulator, PtyMcu
from drivers.board.sim import EvCpState, SimBoard
from evse.runtime.clock import MonotonicClock, ms_to_ns, s_to_ns
from evse.runtime.realtime import RealtimeRunner
from evse.runtime.scheduler import Scheduler

#: The simulated firmware's main-loop period (tests/mcu use the same).
FIRMWARE_TURN_NS = ms_to_ns(1)


class McuSimService:
    """The firmware on its own realtime loop (a thread of a test, or this module's main)."""

    def __init__(self, seed: int = 1) -> None:
        self.scheduler = Scheduler(MonotonicClock(), seed=seed)
        sched = self.scheduler
        self.world = SimBoard(sched.now_ns, sched.rng)
        self.pty = PtyMcu(McuSimulator(self.world))
        self.pty.synchronous = False  # real time: the kernel delivers when it delivers
        self.device = self.pty.device
        self.runner = RealtimeRunner(sched)
        self.runner.systemd = None  # never this process's service notifications
        self._stop = threading.Event()
        sched.call_every(FIRMWARE_TURN_NS, self.pty.service, "mcu.firmware")

    def run(self, duration_ns: int | None = None) -> None:
        end = self.scheduler.now_ns() + (duration_ns if duration_ns is not None else 2**62)
        self.runner.run_until(end, stop=self._stop.is_set)

    def stop(self) -> None:
        self._stop.set()

    def close(self) -> None:
        self.pty.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=None)
    ap.add_argument("--ev", choices=sorted(EvCpState.__members__), default="A")
    args = ap.parse_args(argv)
    svc = McuSimService()
    svc.world.set_ev_state(EvCpState[args.ev])
    print(svc.device, flush=True)

    def on_signal(signum: int, frame: FrameType | None) -> None:
        svc.stop()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)
    try:
        svc.run(None if args.duration is None else s_to_ns(args.duration))
    finally:
        svc.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Engine bench: events/s through the loaded IEC 61851 chart with its callbacks, and the
virtual-time speed-up of `evse sim`. Prints figures; asserts nothing (targets in the issue).

    python bench/engine.py
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from drivers.board.sim import SimBoard  # noqa: E402
from evse.cp.pilot import ControlPilot, CpNotice  # noqa: E402
from evse.fsm import Event  # noqa: E402
from evse.runtime.scenario import load_scenario, run_scenario  # noqa: E402
from evse.runtime.scheduler import Scheduler  # noqa: E402
from evse.runtime.station import spec  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

# One charging cycle through the CP chart: plug, PWM, ready, power, stop, unplug, a fault.
CYCLE = [
    "cp_b", "hlc_pwm_delay_elapsed", "cp_c", "power_on_request", "power_off_request",
    "power_on_request", "cp_b", "hlc_suspend", "hlc_resume", "cp_c", "power_on_request",
    "cp_a", "cp_b", "wake_up", "step_ef_elapsed", "hlc_pwm_delay_elapsed", "cp_e", "cp_a",
    "fault", "f_min_elapsed", "fault_reset",
]


def bench_dispatch(rounds: int, *, traced: bool) -> float:
    sched = Scheduler(trace_messages=False)
    if not traced:
        sched.trace._keep = False  # noqa: SLF001 - bench: measure the engine alone
    notices: list[CpNotice] = []
    board = SimBoard(sched.now_ns, sched.rng)
    cp = ControlPilot(
        spec("iec61851"), board, timers=sched, notify=notices.append, trace=sched.trace
    )
    cp.start(0)
    events = [Event(n) for n in CYCLE]
    dispatch = cp.machine.dispatch
    n = 0
    t0 = time.process_time()
    for _ in range(rounds):
        for ev in events:
            dispatch(ev, 0)
            n += 1
        notices.clear()
        if traced:
            sched.trace.lines.clear()
    dt = time.process_time() - t0
    return n / dt


def main() -> None:
    for traced in (False, True):
        rates = [bench_dispatch(300, traced=traced) for _ in range(5)]
        label = "with JSON trace" if traced else "trace off      "
        print(
            f"iec61851 chart + callbacks, {label}: median {statistics.median(rates):,.0f} "
            f"events/s (min {min(rates):,.0f}, max {max(rates):,.0f}; target >= 10,000)"
        )
    scenario = load_scenario(ROOT / "scenarios" / "cp_basic.yaml")
    speedups = []
    for _ in range(5):
        t0 = time.perf_counter()
        run_scenario(scenario)
        wall = time.perf_counter() - t0
        speedups.append(scenario.duration_ns / 1e9 / wall)
    print(
        f"evse sim {scenario.name}: {scenario.duration_ns / 1e9:.0f} s simulated, median "
        f"{statistics.median(speedups):,.0f}x real time (CP sampled every 10 ms)"
    )
    long = load_scenario(ROOT / "scenarios" / "cp_basic.yaml")
    long.duration_ns = 1800 * 1_000_000_000
    t0 = time.perf_counter()
    run_scenario(long)
    wall = time.perf_counter() - t0
    print(f"30 simulated minutes of the same station: {wall:.2f} s wall, {1800 / wall:,.0f}x")
    full = load_scenario(ROOT / "scenarios" / "dc_session.yaml")
    t0 = time.perf_counter()
    run_scenario(full)
    wall = time.perf_counter() - t0
    sim_s = full.duration_ns / 1e9
    print(
        f"evse sim {full.name} (full DIN session: SLAC, SECC, power path on CAN, 1 ms plant "
        f"physics): {sim_s:.0f} s simulated in {wall:.2f} s wall, {sim_s / wall:,.0f}x"
    )


if __name__ == "__main__":
    main()

"""Power-path bench: control-loop cost per tick and virtual-time speed-up of a 30-min charge.

Runs the closed-loop rig of tests/power (simulated modules on python-can `virtual`, IMD,
contactors, meter, real drivers, PowerPath core) on the virtual clock, and times with
`time.perf_counter_ns` only here (bench/ is exempt from the clock ban).

    PYTHONPATH=. /work/venv/bin/python bench/power_bench.py [--minutes 30] [--protocol infy]
"""

from __future__ import annotations

import argparse
import statistics
import time

from evse.ports.board import ContactorFeedback
from evse.power.types import EvRequest, Phase
from tests.power.closed_loop import TICK_NS, Rig

CURRENT_DEMAND_PERIOD_NS = 100_000_000  # an EV sending CurrentDemandReq at 10 Hz
TARGET_CURRENT_A = 100.0


def timed_tick(rig: Rig, core_ns: list[int]) -> None:
    """Rig.tick with the core's share (handle + handle_timer + take_commands) timed apart."""
    rig.now_ns += TICK_NS
    now = rig.now_ns
    rig.plant.step(now)
    rig.rack.step(now)
    rig.imd_sim.step(now)
    power_events = rig.group.poll(now)
    imd_events = rig.imd.poll(now)
    reading = rig.meter.read(now)
    feedback = rig.contactor.feedback_closed
    t0 = time.perf_counter_ns()
    core = rig.core
    for ev in power_events:
        core.handle(ev, now)
    for iev in imd_events:
        core.handle(iev, now)
    if feedback != rig._feedback:
        rig._feedback = feedback
        core.handle(ContactorFeedback(feedback, now), now)
    core.handle(reading, now)
    core.handle_timer(now)
    commands = core.take_commands()
    core_ns.append(time.perf_counter_ns() - t0)
    rig.apply(commands)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--protocol", default="infy", choices=["infy", "winline", "dpm1000"])
    parser.add_argument("--plant-step-ms", type=float, default=1.0)
    args = parser.parse_args()

    rig = Rig(protocol=args.protocol, plant_step_ns=int(args.plant_step_ms * 1e6))
    t_setup = time.perf_counter()
    rig.full_session_to_charging()
    setup_s = time.perf_counter() - t_setup
    virtual_setup_s = rig.now_ns / 1e9

    core_ns: list[int] = []
    demand_ns: list[int] = []
    duration_ns = int(args.minutes * 60e9)
    end = rig.now_ns + duration_ns
    next_demand = rig.now_ns
    soc0 = rig.ev.battery.soc
    t0 = time.perf_counter()
    while rig.now_ns < end and rig.core.phase is Phase.CHARGING:
        if rig.now_ns >= next_demand:
            req = EvRequest(rig.ev.battery.ocv_v() + 40.0, TARGET_CURRENT_A)
            d0 = time.perf_counter_ns()
            rig.core.current_demand(req, rig.now_ns)
            demand_ns.append(time.perf_counter_ns() - d0)
            next_demand += CURRENT_DEMAND_PERIOD_NS
        timed_tick(rig, core_ns)
    wall_s = time.perf_counter() - t0
    virtual_s = duration_ns / 1e9
    ticks = len(core_ns)
    rig.close()

    def us(values: list[int], q: float) -> float:
        return statistics.quantiles(values, n=100)[int(q) - 1] / 1000 if q < 100 else (
            max(values) / 1000)

    print(f"power bench: protocol={args.protocol}, {len(rig.stages)} modules, "
          f"tick {TICK_NS / 1e6:.0f} ms, plant step {args.plant_step_ms} ms")
    print(f"session setup (cable check + precharge): {virtual_setup_s:.1f} s virtual in "
          f"{setup_s:.2f} s wall")
    print(f"control-loop cost per tick (PowerPath only): mean "
          f"{statistics.fmean(core_ns) / 1000:.1f} us, p50 {us(core_ns, 50):.1f} us, "
          f"p99 {us(core_ns, 99):.1f} us, max {us(core_ns, 100):.1f} us over {ticks} ticks")
    print(f"current_demand() per CurrentDemandReq: mean "
          f"{statistics.fmean(demand_ns) / 1000:.1f} us, p99 {us(demand_ns, 99):.1f} us "
          f"(budget 25 ms, timing.md §4)")
    print(f"full rig per tick (physics + sims + drivers + core): "
          f"{wall_s / ticks * 1e6:.1f} us")
    print(f"{args.minutes:.0f}-minute charge: {virtual_s:.0f} s virtual in {wall_s:.1f} s wall "
          f"-> speed-up x{virtual_s / wall_s:.0f}; SOC {soc0:.3f} -> {rig.ev.battery.soc:.3f}, "
          f"phase {rig.core.phase.value}")


if __name__ == "__main__":
    main()

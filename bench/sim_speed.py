"""Simulator speed: wall/CPU time and x-real-time of full DC sessions, and where the time goes.

Two sessions of the embedded default station (SLAC, SDP, SECC on EXI, power path on CAN,
IMD, contract, OCPP 1.6 controller with its CSMS simulator, DC plant physics):

- the 110 s DIN session of `scenarios/dc_session.yaml` (60 s of CurrentDemand);
- the 30-minute session of `scenarios/dc_session_30min.yaml`: the same with 1,740 s of
  CurrentDemand (issue 14 item 1: >= 1,000x real time, i.e. <= 1.8 s on this machine).

Each is printed next to a recorded "before" figure (main at baff8b5, BASELINE_CPU_S).

Then one cProfile run of each, with the share of the run spent in each part (own time of
the functions of that part's modules). Prints figures; asserts nothing.

    python bench/sim_speed.py [--no-profile] [--repeat N]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# `--tree DIR`: measure another checkout's code (e.g. an export of main, for the "before").
_TREE = Path(sys.argv[sys.argv.index("--tree") + 1]) if "--tree" in sys.argv else ROOT
sys.path.insert(0, str(_TREE))

from evse.runtime.scenario import (  # noqa: E402
    Scenario,
    load_scenario,
    run_scenario,
)

S = 1_000_000_000


def din_session() -> Scenario:
    return load_scenario(ROOT / "scenarios" / "dc_session.yaml")


def long_session() -> Scenario:
    """scenarios/dc_session_30min.yaml: dc_session.yaml stretched to 30 minutes (1,740 s of
    CurrentDemand from 10 % SOC, target 100 %, so the battery does not end the charge)."""
    return load_scenario(ROOT / "scenarios" / "dc_session_30min.yaml")


#: "Before": main at baff8b5 (before the engine fast path and the settled power tick),
#: measured with this bench (`--repeat 1`) on this machine on 2026-12-07, CPU seconds.
BASELINE_CPU_S = {"dc_session": 5.21, "dc_session_30min": 78.57}


def timed(make: object, repeat: int) -> tuple[float, float, list[str]]:
    walls, cpus = [], []
    failures: list[str] = []
    for _ in range(repeat):
        sc = make()  # type: ignore[operator]
        w0, c0 = time.perf_counter(), time.process_time()
        result = run_scenario(sc)
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
        failures = result.failures
    return statistics.median(walls), statistics.median(cpus), failures


#: Parts of the station, by module path prefix (first match wins).
PARTS: list[tuple[str, tuple[str, ...]]] = [
    ("plant physics (drivers/sim/plant, module_stage, loads, contactor)",
     ("drivers/sim/plant", "drivers/sim/module_stage", "drivers/sim/loads",
      "drivers/sim/contactor")),
    ("module/IMD simulators + CAN (drivers/sim/*, python-can)",
     ("drivers/sim/", "/can/")),
    ("module/IMD/meter drivers (drivers/power, imd, meter)",
     ("drivers/power", "drivers/imd", "drivers/meter")),
    ("power path (evse/power)", ("evse/power",)),
    ("chart engine (evse/fsm)", ("evse/fsm",)),
    ("EXI codec (exi/)", ("/exi/",)),
    ("SECC (evse/secc, v2gtp, sdp)", ("evse/secc", "evse/v2gtp", "evse/sdp")),
    ("simulated car (evse/ev)", ("evse/ev/",)),
    ("SLAC + powerline (evse/slac, drivers/homeplug, scapy)",
     ("evse/slac", "drivers/homeplug", "/scapy/")),
    ("pilot (evse/cp, drivers/board)", ("evse/cp", "drivers/board")),
    ("OCPP controller + CSMS sim (evse/controller, evse/ocpp*)",
     ("evse/controller", "evse/ocpp", "evse/csms")),
    ("contract link + guard (evse/contract)", ("evse/contract",)),
    ("trace (JSON encoding)", ("evse/runtime/trace", "/json/")),
    ("station glue + scheduler (evse/runtime)", ("evse/runtime",)),
]


def profile(make: object) -> None:
    sc = make()  # type: ignore[operator]
    prof = cProfile.Profile()
    prof.enable()
    run_scenario(sc)
    prof.disable()
    stats = pstats.Stats(prof)
    raw = stats.stats  # type: ignore[attr-defined]
    total = sum(tt for (_, _, tt, _, _) in raw.values())
    shares: dict[str, float] = {}
    for (file, _, _), (_, _, tt, _, _) in raw.items():
        name = file.replace("\\", "/")
        part = "other (stdlib, dataclasses, ...)"
        for label, prefixes in PARTS:
            if any(p in name for p in prefixes):
                part = label
                break
        shares[part] = shares.get(part, 0.0) + tt
    print(f"  profile of {sc.name} (own time by part, {total:.2f} s under cProfile):")
    for part, tt in sorted(shares.items(), key=lambda kv: -kv[1]):
        print(f"    {100 * tt / total:5.1f} %  {part}")
    cum = {f"{func[2]} ({Path(func[0]).name})": (ct, nc)
           for func, (_, nc, _, ct, _) in raw.items()}
    keys = ["_power_tick (dc_station.py)", "step (plant.py)", "_substep (plant.py)",
            "_pump (controller.py)", "dispatch (engine.py)", "receive (core.py)",
            "step (sim_world.py)"]
    print("    cumulative:", "; ".join(
        f"{k} {100 * cum[k][0] / total:.0f} % ({cum[k][1]:,} calls)" for k in keys if k in cum))


def main() -> None:
    print(f"code from {_TREE}", flush=True)
    ap = argparse.ArgumentParser()
    ap.add_argument("--no-profile", action="store_true")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--only", choices=("din", "long"), help="one of the two sessions")
    ap.add_argument("--tree", default=str(ROOT), help="source tree to import (default: this one)")
    args = ap.parse_args()
    runs = [(din_session, args.repeat), (long_session, 1)]
    if args.only:
        runs = [runs[0 if args.only == "din" else 1]]
    for make, repeat in runs:
        sc = make()
        sim_s = sc.duration_ns / S
        wall, cpu, failures = timed(make, repeat)
        verdict = "OK" if not failures else "FAILED: " + "; ".join(failures)
        print(f"{sc.name}: {sim_s:.0f} s simulated in {wall:.2f} s wall / {cpu:.2f} s CPU "
              f"(median of {repeat}): {sim_s / wall:,.0f}x real time wall, "
              f"{sim_s / cpu:,.0f}x CPU; scenario {verdict}", flush=True)
        before = BASELINE_CPU_S.get(sc.name)
        if before is not None and _TREE == ROOT:
            print(f"  before (main baff8b5, recorded): {before:.2f} s CPU = "
                  f"{sim_s / before:,.0f}x real time; after: {cpu:.2f} s CPU = "
                  f"{sim_s / cpu:,.0f}x; speed-up {before / cpu:.2f}x; target for 1,000x: "
                  f"{sim_s / 1000:.2f} s", flush=True)
    if not args.no_profile:
        for make, _ in runs:
            profile(make)


if __name__ == "__main__":
    main()

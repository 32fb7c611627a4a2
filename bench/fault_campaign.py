"""The long fault campaign: N sessions on whole stations, random catalogue faults at random
phases, every cell check after every session (evse/campaign/harness.py).

    python bench/fault_campaign.py --sessions 200 [--seed 7] [--out docs/review/campaign.json]

Prints matrix coverage (cells hit / applicable cells), the slowest safe-state time per cell
against its bound, sessions/s, and every failing session as a replayable scenario file
(`--counterexamples DIR`, JSON: station seed, OCPP version, the car and the shots with
their phases; `--replay FILE` plays one back). Deterministic: same seed, same run.

Each station lives through `--per-station` sessions (one station's life: a fault in one
session must leave it right for the next), then a new one boots with the next OCPP version
and seed. Known station bugs (cells with `known:` in the catalogue) are not drawn.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from evse.campaign.catalogue import Catalogue, load_catalogue  # noqa: E402
from evse.campaign.harness import CarPlan, Harness, Shot, matrix, write_matrix  # noqa: E402
from evse.campaign.phases import PHASES, Phase  # noqa: E402

S = 1_000_000_000
PROFILES = ("generic", "din_only", "iso_only", "tata_nexon", "skoda_enyaq", "vw_id4")
#: Phases a plugged car is run to before a shot (paused needs a pausing ISO-2 car).
_TARGETS = [p for p in PHASES if p not in (Phase.IDLE, Phase.BETWEEN_SESSIONS)]


#: Injectors that force the same module regulation (evse/runtime/inject.py patches the
#: stages' forced voltage/current): a later one replaces an earlier one's fault, which
#: would then be judged on a fault no longer there (bench seed 640: emergency_over_voltage
#: @session_setup undone by over_voltage@cable_check). One of them per session.
_REGULATION = {name: "module_regulation" for name in (
    "over_voltage", "emergency_over_voltage", "output_stuck_low", "over_current",
    "output_stuck_on")}


def plan_session(rng: random.Random, catalogue: Catalogue) -> dict[str, Any]:
    """One session: the car, and 1-3 (phase, fault) shots in phase order."""
    protocol = rng.choice(["din", "iso2"])
    profile = rng.choice(PROFILES)
    if protocol == "din" and profile == "iso_only":
        profile = "generic"
    pause = protocol == "iso2" and rng.random() < 0.15
    order = {p: i for i, p in enumerate(PHASES)}
    phases = sorted(rng.sample(_TARGETS, rng.randint(1, 3)), key=order.__getitem__)
    if rng.random() < 0.1:
        phases = [Phase.IDLE if rng.random() < 0.5 else Phase.BETWEEN_SESSIONS]
    shots: list[dict[str, str]] = []
    for phase in phases:
        taken = {_REGULATION.get(catalogue.faults[s["fault"]].inject) for s in shots} - {None}
        names = [n for n, row in catalogue.faults.items()
                 if n != "contactor_welded_repeated" and row.cell(phase).applicable
                 and not any(c.known for c in row.cells.values())
                 and _REGULATION.get(row.inject) not in taken]
        if names:
            shots.append({"phase": phase.value, "fault": rng.choice(names)})
    return {"protocol": protocol, "profile": profile, "charge_s": rng.choice([3.0, 6.0]),
            "pause_after_s": 1.0 if pause else None, "shots": shots}


def play(h: Harness, session: dict[str, Any]) -> tuple[list[str], list[Shot]]:
    """Play one planned session on `h`; a shot whose phase is not reached is skipped."""
    shots: list[Shot] = []
    first = session["shots"][0]["phase"] if session["shots"] else None
    if first not in ("idle", "between_sessions"):
        h.plug_in(CarPlan(session["protocol"], session["profile"], session["charge_s"],
                          session["pause_after_s"]))
    for spec in session["shots"]:
        phase = Phase(spec["phase"])
        if phase is Phase.BETWEEN_SESSIONS and not h.had_car:
            continue
        if h.run_to(phase, limit_ns=60 * S) and h.catalogue.faults[spec["fault"]].cell(
                h.phase()).applicable:
            shots.append(h.inject(spec["fault"]))
    return h.end_session(), shots


def run(catalogue: Catalogue, sessions: int, seed: int, per_station: int,
        out: Path | None, counterexamples: Path | None, max_shrink: int = 2,
        budget_s: float | None = None) -> int:
    rng = random.Random(seed)
    all_shots: list[Shot] = []
    failing: list[dict[str, Any]] = []
    started = time.perf_counter()
    done = 0
    station = 0
    while done < sessions and (budget_s is None or time.perf_counter() - started < budget_s):
        ocpp = ("1.6", "2.0.1")[station % 2]
        station_seed = rng.randrange(1 << 16)
        h = Harness(catalogue, ocpp=ocpp, seed=station_seed)
        history: list[dict[str, Any]] = []
        try:
            for _ in range(min(per_station, sessions - done)):
                if budget_s is not None and time.perf_counter() - started >= budget_s:
                    break
                session = plan_session(rng, catalogue)
                history.append(session)
                failures, shots = play(h, session)
                all_shots += shots
                done += 1
                if failures:
                    failing.append({"station_seed": station_seed, "ocpp": ocpp,
                                    "sessions": list(history), "failures": failures})
                if h.out_of_service:
                    break  # a repeated weld: service replaces the part, a new station boots
        finally:
            h.close()
        station += 1
    seconds = time.perf_counter() - started
    data = matrix(catalogue, all_shots, sessions=done, seconds=seconds)
    data["seed"] = seed
    data["failing_sessions"] = len(failing)
    report(data)
    print(f"sessions {done} in {seconds:.1f} s: {done / seconds:.2f} sessions/s; "
          f"shots {len(all_shots)}; failing sessions {len(failing)}")
    for case in failing:
        print("FAILING:", case["failures"][0])
    if out is not None:
        write_matrix(out, data)
        print(f"matrix -> {out}")
    if counterexamples is not None and failing:
        counterexamples.mkdir(parents=True, exist_ok=True)
        for i, case in enumerate(failing[:max_shrink]):
            shrunk = shrink(catalogue, case)
            path = counterexamples / f"counterexample_{seed}_{i}.json"
            path.write_text(json.dumps(shrunk, indent=1) + "\n")
            print(f"counterexample -> {path}: {shrunk['failures'][:2]}")
    return 0 if not failing else 1


def replay(catalogue: Catalogue, case: dict[str, Any]) -> list[str]:
    """Play a scenario file's sessions on a fresh station; the last session's failures."""
    h = Harness(catalogue, ocpp=case["ocpp"], seed=case["station_seed"])
    try:
        failures: list[str] = []
        for session in case["sessions"]:
            failures, _ = play(h, session)
        return failures
    finally:
        h.close()


def shrink(catalogue: Catalogue, case: dict[str, Any]) -> dict[str, Any]:
    """Drop earlier sessions and shots while the failure stays: the smallest replay."""
    best = dict(case)
    sessions = list(case["sessions"])
    while len(sessions) > 1 and replay(catalogue, {**case, "sessions": sessions[1:]}):
        sessions = sessions[1:]
    last = dict(sessions[-1])
    for i in range(len(last["shots"]) - 1, -1, -1):
        trial = {**last, "shots": last["shots"][:i] + last["shots"][i + 1:]}
        if trial["shots"] and replay(catalogue, {**case, "sessions": [*sessions[:-1], trial]}):
            last = trial
    sessions[-1] = last
    best["sessions"] = sessions
    best["failures"] = replay(catalogue, best) or case["failures"]
    return best


def report(data: dict[str, Any]) -> None:
    print(f"matrix coverage: {data['cells_hit']} / {data['cells_total']} applicable cells hit "
          f"({data['cells_na']} n/a)")
    print(f"{'fault':30s} {'phase':16s} {'hits':>5s} {'worst ms':>9s} {'bound ms':>9s}  bound")
    for name, row in data["faults"].items():
        for phase, cell in row["phases"].items():
            if "na" in cell or not cell["hits"]:
                continue
            worst = "-" if cell["worst_ms"] is None else f"{cell['worst_ms']:.0f}"
            bound = "-" if cell["bound_ms"] is None else f"{cell['bound_ms']:.0f}"
            flag = "  FAIL" if cell["failures"] else ""
            print(f"{name:30s} {phase:16s} {cell['hits']:5d} {worst:>9s} {bound:>9s}  "
                  f"{cell['bound'] or 'none'}{flag}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=100)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--per-station", type=int, default=20)
    ap.add_argument("--out", type=Path, default=None,
                    help="write the matrix JSON (the audit reads docs/review/campaign.json)")
    ap.add_argument("--counterexamples", type=Path, default=ROOT / "tests" / "data" / "campaign")
    ap.add_argument("--minutes", type=float, default=None,
                    help="stop starting sessions after this much wall time")
    ap.add_argument("--replay", type=Path, default=None, help="play one scenario file back")
    args = ap.parse_args()
    catalogue = load_catalogue()
    if args.replay is not None:
        failures = replay(catalogue, json.loads(args.replay.read_text()))
        print("\n".join(failures) or "no failure")
        return 1 if failures else 0
    return run(catalogue, args.sessions, args.seed, args.per_station, args.out,
               args.counterexamples,
               budget_s=None if args.minutes is None else args.minutes * 60.0)


if __name__ == "__main__":
    raise SystemExit(main())

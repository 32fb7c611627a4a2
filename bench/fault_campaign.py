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
from evse.campaign.harness import Harness, Shot, matrix, write_matrix  # noqa: E402
from evse.campaign.play import plan_session, play, replay_file, shrink  # noqa: E402


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
        for failure in case["failures"]:
            print("FAILING:", failure)
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
    ap.add_argument("--max-shrink", type=int, default=2,
                    help="shrink and write this many failing sessions (shrinking replays)")
    args = ap.parse_args()
    catalogue = load_catalogue()
    if args.replay is not None:
        failures = replay_file(catalogue, args.replay)
        print("\n".join(failures) or "no failure")
        return 1 if failures else 0
    return run(catalogue, args.sessions, args.seed, args.per_station, args.out,
               args.counterexamples, max_shrink=args.max_shrink,
               budget_s=None if args.minutes is None else args.minutes * 60.0)


if __name__ == "__main__":
    raise SystemExit(main())

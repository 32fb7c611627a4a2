"""Planning, playing, replaying and shrinking campaign sessions (scenario files).

Shared by the bench (bench/fault_campaign.py, which draws sessions and prints figures) and
the tests that replay a saved counterexample (tests/campaign/test_counterexamples.py): a
counterexample is only worth keeping if the test replays it exactly as the bench played it,
so both call the same `play`.

A scenario file (JSON): the station seed, the OCPP version and the sessions of one
station's life, each with its car and its (phase, fault) shots in phase order; extra keys
(`failures`, `provenance`) are notes for the reader and are not read.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from evse.campaign.catalogue import Catalogue
from evse.campaign.harness import CarPlan, Harness, Shot
from evse.campaign.phases import PHASES, Phase

S = 1_000_000_000
PROFILES = ("generic", "din_only", "iso_only", "tata_nexon", "skoda_enyaq", "vw_id4")
#: Phases a plugged car is run to before a shot (paused needs a pausing ISO-2 car).
_TARGETS = [p for p in PHASES if p not in (Phase.IDLE, Phase.BETWEEN_SESSIONS)]
#: How long `play` runs towards a shot's phase before it counts as not reached.
PHASE_LIMIT_NS = 60 * S

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
    phases: list[Phase] = sorted(rng.sample(_TARGETS, rng.randint(1, 3)),
                                 key=order.__getitem__)
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
    """Play one planned session on `h`; a shot whose phase is not reached is skipped, and
    a void shot (its injector found nothing to act on, `Shot.void`) is not counted."""
    shots: list[Shot] = []
    first = session["shots"][0]["phase"] if session["shots"] else None
    if first not in ("idle", "between_sessions"):
        h.plug_in(CarPlan(session["protocol"], session["profile"], session["charge_s"],
                          session["pause_after_s"]))
    for spec in session["shots"]:
        phase = Phase(spec["phase"])
        if phase is Phase.BETWEEN_SESSIONS and not h.had_car:
            continue
        if h.run_to(phase, limit_ns=PHASE_LIMIT_NS) and h.catalogue.faults[
                spec["fault"]].cell(h.phase()).applicable:
            shot = h.inject(spec["fault"])
            if shot.void is None:
                shots.append(shot)
    return h.end_session(), shots


def replay(catalogue: Catalogue, case: dict[str, Any]) -> list[str]:
    """Play a scenario's sessions on a fresh station; the last session's failures."""
    h = Harness(catalogue, ocpp=case["ocpp"], seed=case["station_seed"])
    try:
        failures: list[str] = []
        for session in case["sessions"]:
            failures, _ = play(h, session)
        return failures
    finally:
        h.close()


def replay_file(catalogue: Catalogue, path: Path) -> list[str]:
    """`replay` of a scenario file (bench --replay, tests/campaign/test_counterexamples.py)."""
    case: dict[str, Any] = json.loads(path.read_text())
    return replay(catalogue, case)


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

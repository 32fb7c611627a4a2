"""Every saved fault-campaign counterexample replays clean (tests/data/campaign/*.json).

A counterexample is a shrunk scenario file the bench wrote for a failing session
(bench/fault_campaign.py --counterexamples; the station seed, the OCPP version, the cars
and their shots). Each file's `provenance` says which bench run found it, what failed and
what was judged and changed (a station fix, a harness fix or a catalogue cell with its
source). The replay is `evse.campaign.play.replay_file`, the same `play` the bench runs,
so a file that passes here passes `bench/fault_campaign.py --replay FILE`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evse.campaign.catalogue import load_catalogue
from evse.campaign.play import replay_file

CATALOGUE = load_catalogue()
DATA = Path(__file__).resolve().parents[1] / "data" / "campaign"
#: The counterexamples this suite replays: those with a provenance note (older files
#: without one are figures of the audit's campaign page, not regression cases).
CASES = sorted(p for p in DATA.glob("*.json") if "provenance" in json.loads(p.read_text()))


def test_there_are_counterexamples_to_replay() -> None:
    assert CASES, f"no counterexample with a provenance note in {DATA}"


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_a_saved_counterexample_replays_without_failures(path: Path) -> None:
    failures = replay_file(CATALOGUE, path)
    assert not failures, "\n".join(failures)

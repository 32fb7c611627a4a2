"""docs/conformance.md is generated: it must match the case catalogue and the recorded runs
(regenerate with `python -m evse.probe.inproc_runs docs/conformance` for the in-process
runs, then `python -m evse.probe.doc docs/conformance/*.json > docs/conformance.md`)."""

from __future__ import annotations

import json
from pathlib import Path

from evse.probe.cases import CASES
from evse.probe.doc import render

ROOT = Path(__file__).resolve().parents[2]
RUNS = sorted(str(p) for p in (ROOT / "docs" / "conformance").glob("*.json"))


def test_conformance_doc_is_up_to_date_with_the_catalogue_and_the_runs() -> None:
    assert (ROOT / "docs" / "conformance.md").read_text(encoding="utf-8") == render(RUNS)


def test_every_catalogued_case_has_a_recorded_verdict_for_its_protocols() -> None:
    """The in-process runs (no network: every timeout and the CP-state case can run) hold
    the whole catalogue; a network run may predate some cases, a peer's run is its own."""
    complete = set()
    for path in RUNS:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        assert sum(data["counts"].values()) == len(data["results"])
        meta = data["meta"]
        if meta.get("link") != "in-process" or meta.get("sut", "evse") != "evse":
            continue
        got = {r["case"] for r in data["results"]}
        missing = {c.case_id for c in CASES if meta["protocol"] in c.protocols} - got
        assert not missing, (path, missing)
        complete.add(meta["protocol"])
    assert complete == {"din", "iso2"}

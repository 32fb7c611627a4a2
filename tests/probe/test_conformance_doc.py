"""docs/conformance.md is generated: it must match the case catalogue and the recorded runs
(regenerate with `python -m evse.probe.doc docs/conformance/{din,iso2,iso2-tls,josev-din,
josev-iso2}.json > docs/conformance.md`)."""

from __future__ import annotations

import json
from pathlib import Path

from evse.probe.cases import CASES
from evse.probe.doc import render

ROOT = Path(__file__).resolve().parents[2]
RUNS = [str(ROOT / "docs" / "conformance" / f"{p}.json")
        for p in ("din", "iso2", "iso2-tls", "josev-din", "josev-iso2")]


def test_conformance_doc_is_up_to_date_with_the_catalogue_and_the_runs() -> None:
    assert (ROOT / "docs" / "conformance.md").read_text(encoding="utf-8") == render(RUNS)


def test_every_catalogued_case_has_a_recorded_verdict_for_its_protocols() -> None:
    for path in RUNS:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        got = {r["case"] for r in data["results"]}
        proto = data["meta"]["protocol"]
        if data["meta"].get("tls") or data["meta"].get("sut", "evse") != "evse":
            continue  # the TLS run covers some families; a peer's run is its own record
        missing = {c.case_id for c in CASES if proto in c.protocols} - got
        assert not missing, (proto, missing)
        assert sum(data["counts"].values()) == len(data["results"])

"""Every real car's recorded DC sequence replays through our SECC to its end without a
FAILED response we caused (tests/data/secc/cars.json; PROVENANCE.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from evse.replay.replay import replay_session

DATA = Path(__file__).resolve().parents[1] / "data" / "secc" / "cars.json"
RECORDS: list[dict[str, Any]] = json.loads(DATA.read_text())

#: Every car model in the captures; each must have at least one DC session that replays.
CAR_MODELS = {
    "Audi Q4", "Audi Q4 (pyPLC EVSE)", "BMW iX 2024-02-27", "BMW iX fw 11 2022.64",
    "BYD Atto3", "Citroen eC4", "Fiat Scudo", "Hyundai Ioniq 28kWh",
    "Hyundai Ioniq 28kWh (pyPLC EVSE)", "Hyundai Ioniq5", "Hyundai Kona 2017", "Kia EV6",
    "MG MG4 electric", "Mercedes-Benz EQC", "Mercedes-Benz EQE", "Opel Ampera-E",
    "Opel Mokka-E", "Polestar 2 (pyPLC EVSE)", "Polestar Polestar2", "Porsche Taycan 4S",
    "Renault Zoe Z50 R135", "Seres", "Subaru Solterra", "Tesla Model 3",
    "Tesla Model X (pyPLC EVSE)", "Tesla Model Y (pyPLC EVSE)", "Tesla Model Y 11.1",
    "VW id.3", "VW id.4", "VW id.4 fw 3.5", "VW id.buzz fw 3.2", "XPENG P7 performance",
}


def test_the_data_covers_every_listed_car_model() -> None:
    assert {r["car"] for r in RECORDS} == CAR_MODELS


@pytest.mark.parametrize("record", RECORDS,
                         ids=[f"{r['car']}#{r['capture'][-40:]}#{r['session']}"
                              for r in RECORDS])
def test_real_car_session_replays_to_its_end(record: dict[str, Any]) -> None:
    rep = replay_session(record)
    assert rep.ok, f"{rep.car}: broke at {rep.broke_at}: {rep.reason}"
    assert rep.steps == rep.total


def test_replay_reports_where_a_broken_secc_would_break_the_car() -> None:
    from evse.secc.config import SeccConfig
    from evse.secc.env import AppProtocol
    din = next(r for r in RECORDS if r["schema"] == "din")
    rep = replay_session(din, SeccConfig(protocols=(AppProtocol.ISO15118_2,)))
    assert not rep.ok and "negotiated" in rep.reason

"""Loads the hand-written golden frames (tests/data/power/golden_frames.json)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

_PATH = Path(__file__).resolve().parent.parent / "data" / "power" / "golden_frames.json"


def vectors(family: str) -> list[dict[str, Any]]:
    data: dict[str, list[dict[str, Any]]] = json.loads(_PATH.read_text(encoding="utf-8"))
    return data[family]


def by_name(family: str, name: str) -> dict[str, Any]:
    for v in vectors(family):
        if v["name"] == name:
            return v
    raise KeyError(name)

"""Loaders for the EXI vectors copied into tests/data/exi (see PROVENANCE.md there)."""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from typing import Any

DATA_DIR = os.path.join(os.path.dirname(__file__), "..", "data", "exi")


def load(name: str) -> list[dict[str, Any]]:
    with open(os.path.join(DATA_DIR, name), encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def infoset(xml: str) -> Any:
    """Namespace URI + local names, attributes, character content; prefixes ignored."""

    def walk(e: ET.Element) -> Any:
        text = (e.text or "") if len(e) == 0 else ""
        return (e.tag, sorted(e.attrib.items()), text, [walk(c) for c in e])

    return walk(ET.fromstring(xml))

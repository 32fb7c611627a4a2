"""Strict loader of `checklist.yaml`: the review items with their IDs, charts and modules.

Every problem (unknown key, missing column, a chart state or module that does not exist) is
one `AuditError` naming the file and line, so a renamed state cannot silently leave an item
pointing at nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evse.fsm.spec import load_spec
from evse.fsm.yamlstrict import FileLineError, LMap, line_of, load_yaml

CHECKLIST_FILE = Path(__file__).with_name("checklist.yaml")
#: What a checklist ID looks like; a marker argument of this shape that names no item is an
#: error (a typo would otherwise count as a clause and prove nothing).
ITEM_ID = re.compile(r"^(P[0-2]-\d+|PLC-\d+(\.\d+)?)$")
_KEYS = {"title", "text", "charts", "modules"}
_OPTIONAL = {"note"}


class AuditError(FileLineError):
    """A checklist, marker or pack input is wrong. One error, with file and line."""


@dataclass(frozen=True, slots=True)
class Item:
    id: str
    group: str  # P0, P1, P2, PLC
    title: str
    text: str
    charts: tuple[tuple[str, str], ...]  # (machine, state path)
    modules: tuple[str, ...]  # repository-relative paths
    line: int
    note: str = ""  # what the tests do not cover although the item has tests


def group_of(item_id: str) -> str:
    return item_id.split("-", 1)[0]


def load_checklist(root: Path, path: Path = CHECKLIST_FILE) -> tuple[Item, ...]:
    """Items in file order, every chart state and module checked against `root`."""
    file = str(path)
    raw = load_yaml(path)
    if not isinstance(raw, LMap) or set(raw) != {"version", "items"}:
        raise AuditError(file, line_of(raw), "top level must be exactly {version, items}")
    items_raw = raw["items"]
    if not isinstance(items_raw, LMap):
        raise AuditError(file, line_of(raw, "items"), "items must be a mapping")
    specs: dict[str, Any] = {}
    out: list[Item] = []
    for item_id, body in items_raw.items():
        line = line_of(items_raw, item_id)
        if not ITEM_ID.match(item_id):
            raise AuditError(file, line, f"item ID {item_id!r} is not P0-n, P1-n, P2-n or PLC-n")
        if not isinstance(body, LMap) or not _KEYS <= set(body) <= _KEYS | _OPTIONAL:
            raise AuditError(file, line, f"{item_id}: keys must be {sorted(_KEYS)} "
                             f"(and optionally {sorted(_OPTIONAL)})")
        charts: list[tuple[str, str]] = []
        charts_raw = body["charts"]
        if not isinstance(charts_raw, dict):
            raise AuditError(file, line_of(body, "charts"), f"{item_id}: charts must be a map")
        for machine, states in charts_raw.items():
            spec_path = root / "fsm_specs" / f"{machine}.yaml"
            if not spec_path.exists():
                raise AuditError(file, line_of(body, "charts"), f"{item_id}: no chart {machine}")
            if machine not in specs:
                specs[machine] = load_spec(spec_path)
            spec = specs[machine]
            known = {s.path for s in spec.iter_states()}
            for state in states:
                if state not in known:
                    raise AuditError(file, line_of(body, "charts"),
                                     f"{item_id}: chart {machine} has no state {state!r}")
                charts.append((machine, state))
        modules = tuple(str(m) for m in body["modules"])
        for m in modules:
            if not (root / m).is_file():
                raise AuditError(file, line_of(body, "modules"), f"{item_id}: no module {m}")
        out.append(Item(item_id, group_of(item_id), str(body["title"]), str(body["text"]),
                        tuple(charts), modules, line, str(body.get("note", ""))))
    return tuple(out)

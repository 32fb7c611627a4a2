"""Latched and permanent power faults that outlive the process (config `power_faults.store`).

A restart is not an operator reset (issue 11 item 1, fault_table.yaml `clearing`): a welded
contactor, an insulation fault or a repeated weld that put the connector out of service
must still do so after the process or the board restarts, until RESET_FAULT (latched) or a
technician (permanent) clears it. Self-clearing faults are not kept: they clear with the car.

The file is small JSON, rewritten atomically (temporary file + `os.replace`) whenever the
set of held faults changes. A file that cannot be read or parsed is a `FaultStoreError`
naming it: the station does not start as if nothing had happened.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from evse.power.faults import FaultReason

FORMAT_VERSION = 1


class FaultStoreError(Exception):
    """The fault store file is unreadable or malformed (message names the file)."""


@dataclass(frozen=True, slots=True)
class HeldFaults:
    """What a restart must not forget: the held faults and whether a weld is unresolved
    (the next weld without a clean opening in between is permanent)."""

    faults: tuple[tuple[FaultReason, str], ...] = ()
    welded_unresolved: bool = False


class FaultStore:
    """One JSON file; `load` at start, `save` on change."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._last: HeldFaults | None = None

    def load(self) -> HeldFaults:
        if not self.path.exists():
            self._last = HeldFaults()
            return self._last
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise FaultStoreError(f"{self.path}: cannot read the fault store: {exc}") from exc
        self._last = _parse(raw, self.path)
        return self._last

    def save(self, held: HeldFaults) -> None:
        """Write `held` if it differs from what the file holds."""
        if held == self._last:
            return
        data = {"version": FORMAT_VERSION,
                "faults": [{"reason": r.value, "detail": d} for r, d in held.faults],
                "welded_unresolved": held.welded_unresolved}
        tmp = self.path.with_name(self.path.name + ".tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
            os.replace(tmp, self.path)
        except OSError as exc:
            raise FaultStoreError(f"{self.path}: cannot write the fault store: {exc}") from exc
        self._last = held


def _parse(raw: object, path: Path) -> HeldFaults:
    def bad(what: str) -> FaultStoreError:
        return FaultStoreError(f"{path}: malformed fault store: {what}")

    if not isinstance(raw, dict) or set(raw) != {"version", "faults", "welded_unresolved"}:
        raise bad("expected the keys version, faults, welded_unresolved")
    if raw["version"] != FORMAT_VERSION:
        raise bad(f"version {raw['version']!r}, this build reads {FORMAT_VERSION}")
    if not isinstance(raw["welded_unresolved"], bool) or not isinstance(raw["faults"], list):
        raise bad("welded_unresolved must be a bool and faults a list")
    faults: list[tuple[FaultReason, str]] = []
    for item in raw["faults"]:
        if (not isinstance(item, dict) or set(item) != {"reason", "detail"}
                or not isinstance(item["detail"], str)):
            raise bad(f"fault entry {item!r}")
        try:
            faults.append((FaultReason(item["reason"]), item["detail"]))
        except ValueError as exc:
            raise bad(f"unknown fault reason {item['reason']!r}") from exc
    return HeldFaults(tuple(faults), raw["welded_unresolved"])

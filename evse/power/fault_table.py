"""The power path's fault table (`fault_table.yaml`) as frozen, validated rows.

One decision in one place: for every `FaultReason` the table says what detects it, which
contract `FaultCode` it reports as, which shutdown path it takes (error or emergency,
ccs2_dc_reference.md SF), how it clears (self-clearing on unplug, latched until the
operator's RESET_FAULT, permanent until service) and the machine-checked condition that must
hold for it to clear. `PowerPath` builds every `PowerFault` from its row (`make_fault`), the
station reports `fault_code(reason)`.

The file is loaded strictly at import: unknown keys, missing columns, unknown values, a row
for no FaultReason and a FaultReason without a row are `FaultTableError`s with file and line.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from evse.contract.values import FaultCode
from evse.fsm.yamlstrict import FileLineError, LMap, YamlError, line_of, load_yaml
from evse.power.faults import Clearing, FaultReason, PowerFault, Severity

TABLE_FILE = Path(__file__).with_name("fault_table.yaml")


class ClearCondition(enum.Enum):
    """What must hold before a fault may clear (checked by `PowerPath`)."""

    UNPLUGGED = "unplugged"  # the car is gone: end_session since the fault
    ESTOP_RELEASED = "estop_released"  # the e-stop input reads inactive
    TEMPERATURE_NORMAL = "temperature_normal"  # every sensor below the derating threshold
    MODULES_ONLINE = "modules_online"  # no module offline and at least one usable
    ALARMS_CLEARED = "alarms_cleared"  # no tripping module alarm active
    CONTACTORS_OPEN = "contactors_open"  # feedback reports open, open commanded
    SERVICE = "service"  # never true in software: a technician must act


class FaultTableError(FileLineError):
    """fault_table.yaml is malformed. One error, naming the file and line."""


@dataclass(frozen=True, slots=True)
class FaultRow:
    reason: FaultReason
    detection: str
    fault_code: FaultCode
    shutdown: Severity
    clearing: Clearing
    clear_when: ClearCondition
    source: str
    line: int


_COLUMNS = ("detection", "fault_code", "shutdown", "clearing", "clear_when", "source")


def _enum_value(cls: type[enum.Enum], raw: Any, by_name: bool, file: str, line: int,
                what: str) -> Any:
    if not isinstance(raw, str):
        raise FaultTableError(file, line, f"{what} must be a string")
    try:
        return cls[raw] if by_name else cls(raw)
    except (KeyError, ValueError):
        names = [m.name if by_name else m.value for m in cls]
        raise FaultTableError(file, line, f"{what} {raw!r} is not one of {names}") from None


def parse_table(raw: Any, file: str) -> dict[FaultReason, FaultRow]:
    if not isinstance(raw, LMap):
        raise FaultTableError(file, 1, "the fault table must be a mapping")
    extra = set(raw) - {"version", "rows"}
    if extra:
        key = sorted(extra)[0]
        raise FaultTableError(file, line_of(raw, key), f"unknown key {key!r}")
    if raw.get("version") != 1:
        raise FaultTableError(file, line_of(raw, "version", 1), "version must be 1")
    rows_raw = raw.get("rows")
    if not isinstance(rows_raw, LMap) or not rows_raw:
        raise FaultTableError(file, line_of(raw, "rows", 1), "rows must be a non-empty mapping")
    rows: dict[FaultReason, FaultRow] = {}
    for name, body in rows_raw.items():
        rline = line_of(rows_raw, name)
        reason = _enum_value(FaultReason, name, False, file, rline, "row")
        if not isinstance(body, LMap):
            raise FaultTableError(file, rline, f"row {name!r} must be a mapping")
        for key in body:
            if key not in _COLUMNS:
                raise FaultTableError(file, line_of(body, key, rline),
                                      f"row {name!r}: unknown key {key!r}")
        for column in _COLUMNS:
            if column not in body:
                raise FaultTableError(file, rline, f"row {name!r}: missing {column!r}")
        for column in ("detection", "source"):
            if not isinstance(body[column], str) or not body[column].strip():
                raise FaultTableError(file, line_of(body, column, rline),
                                      f"row {name!r}: {column} must be non-empty text")

        def col(key: str, cls: type[enum.Enum], by_name: bool = False,
                _b: LMap = body, _n: str = name, _l: int = rline) -> Any:
            return _enum_value(cls, _b[key], by_name, file, line_of(_b, key, _l),
                               f"row {_n!r}: {key}")

        row = FaultRow(
            reason=reason,
            detection=body["detection"].strip(),
            fault_code=col("fault_code", FaultCode, by_name=True),
            shutdown=col("shutdown", Severity),
            clearing=col("clearing", Clearing),
            clear_when=col("clear_when", ClearCondition),
            source=body["source"].strip(),
            line=rline,
        )
        if (row.clearing is Clearing.PERMANENT) != (row.clear_when is ClearCondition.SERVICE):
            raise FaultTableError(file, line_of(body, "clear_when", rline),
                                  f"row {name!r}: clear_when 'service' is for, and only for, "
                                  "permanent rows")
        rows[reason] = row
    missing = [r.value for r in FaultReason if r not in rows]
    if missing:
        raise FaultTableError(file, line_of(raw, "rows", 1), f"no row for {missing}")
    return rows


def load_table(path: str | Path = TABLE_FILE) -> dict[FaultReason, FaultRow]:
    file = str(path)
    try:
        raw = load_yaml(path)
    except YamlError as exc:
        raise FaultTableError(exc.file, exc.line, exc.message) from exc
    return parse_table(raw, file)


#: The table, loaded once at import (a malformed file fails the import with file:line).
FAULT_TABLE: MappingProxyType[FaultReason, FaultRow] = MappingProxyType(load_table())


def row(reason: FaultReason) -> FaultRow:
    return FAULT_TABLE[reason]


def fault_code(reason: FaultReason) -> FaultCode:
    """The contract FaultCode a power fault reports as (plc.fault, ccs2_dc_reference.md B5)."""
    return FAULT_TABLE[reason].fault_code


def make_fault(reason: FaultReason, detail: str, now_ns: int) -> PowerFault:
    """A PowerFault with the shutdown kind, clearing class and fault code of its row."""
    r = FAULT_TABLE[reason]
    return PowerFault(reason, r.shutdown, detail, now_ns, r.clearing, r.fault_code)


__all__ = [
    "FAULT_TABLE",
    "ClearCondition",
    "FaultRow",
    "FaultTableError",
    "fault_code",
    "load_table",
    "make_fault",
    "parse_table",
    "row",
]

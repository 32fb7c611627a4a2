"""The fault catalogue (`catalogue.yaml`) as frozen cells: fault x session phase.

Why data: a reviewer checks the matrix row by row against the fault table and the
standards, and the campaigns must test exactly what the matrix says, so both read one file.
Every fault row names its injector (evse/runtime/inject.py), the fault-table row it
exercises (evse/power/fault_table.yaml; every table row must appear), its main phase, and
row defaults that a phase may override: the safe-state bound (a named value of `bounds:`
with its source), the expected car-facing answer, the expected OCPP stop reasons, the
expected OCPP 1.6 error code and how the connector recovers. Phases where the fault cannot
happen are `na` with the reason.

Loaded strictly: an unknown key, an unknown phase / injector / bound / answer / fault-table
row, a phase both `na` and overridden, a fault-table row no fault exercises: a
`CatalogueError` naming file and line.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from evse.campaign.phases import PHASES, Phase
from evse.fsm.yamlstrict import FileLineError, LMap, YamlError, line_of, load_yaml
from evse.power.faults import FaultReason
from evse.runtime.inject import INJECTORS, Point

CATALOGUE_FILE = Path(__file__).with_name("catalogue.yaml")
MS = 1_000_000


class CatalogueError(FileLineError):
    """catalogue.yaml is malformed: one error, naming the file and line."""


class Recover(enum.Enum):
    """How the connector comes back after the car left and the world was repaired."""

    SELF = "self"  # Available again without the operator
    RESET = "reset"  # Faulted until the operator's reset (RESET_FAULT), then Available
    NEVER = "never"  # the reset is refused: out of service until a technician
    RESTART = "restart"  # the station boots again and offers the connector (power loss)


#: What the car may be told (checked against the car's transcript after the injection):
#: an EVSEStatusCode, EVSENotification StopCharging, any FAILED response code, a closed
#: connection, "ok" (the car's session goes on / ends as it planned), "none" (no V2G
#: session exists in this phase: nothing to tell), "timeout" (the car gives up on its own:
#: only where the fault silences the car's link), "ev_abort" (the car ends its session on
#: its own check, e.g. its inlet measurement against the reported present current).
CAR_ANSWERS = frozenset({
    "EVSE_EmergencyShutdown", "EVSE_Shutdown", "EVSE_Malfunction",
    "EVSE_IsolationMonitoringActive", "StopCharging", "FAILED", "closed", "ok", "none",
    "timeout", "ev_abort",
})
OCPP_VERSIONS = ("1.6", "2.0.1")


@dataclass(frozen=True, slots=True)
class Bound:
    name: str
    ns: int
    source: str

    @property
    def ms(self) -> float:
        return self.ns / MS


@dataclass(frozen=True, slots=True)
class Cell:
    fault: str
    phase: Phase
    line: int
    #: None: the fault applies in this phase; else why it cannot happen here.
    na: str | None = None
    #: Output off and contactors open within this bound of the injection; None: the
    #: fault needs no shutdown in this phase (the session may go on).
    bound: Bound | None = None
    car: frozenset[str] = frozenset()
    #: Stop reasons (per OCPP version) acceptable for a transaction running at the
    #: injection; None: not checked (the fault does not stop the transaction itself).
    stop: MappingProxyType[str, frozenset[str]] | None = None
    #: The OCPP 1.6 StatusNotification errorCode the CSMS must see; None: not checked.
    error_16: str | None = None
    recover: Recover = Recover.SELF
    note: str = ""
    #: A station bug this cell exposes and that is not fixed yet (the per-row test then
    #: expects this cell to fail, so the day it is fixed the mark must go).
    known: str | None = None
    #: The fault-table row the fault shows as in this phase when it is not the row's own
    #: (a broken discharge path read by the welding check as a weld); its recovery then
    #: applies once that row was raised. None: the row's `table`.
    shows_as: FaultReason | None = None

    @property
    def applicable(self) -> bool:
        return self.na is None


@dataclass(frozen=True, slots=True)
class FaultRow:
    name: str
    doc: str
    inject: str
    point: Point
    stand_in: str | None
    table: FaultReason | None
    main: Phase
    cells: MappingProxyType[Phase, Cell]
    line: int

    def cell(self, phase: Phase) -> Cell:
        return self.cells[phase]

    @property
    def applicable(self) -> tuple[Phase, ...]:
        return tuple(p for p in PHASES if self.cells[p].applicable)


@dataclass(frozen=True, slots=True)
class Catalogue:
    file: str
    bounds: MappingProxyType[str, Bound]
    faults: MappingProxyType[str, FaultRow]

    def cells(self) -> list[Cell]:
        return [row.cells[p] for row in self.faults.values() for p in PHASES]

    def applicable_cells(self) -> list[Cell]:
        return [c for c in self.cells() if c.applicable]


_ROW_KEYS = {"doc", "table", "inject", "main", "na", "phases", "bound", "car", "stop",
             "error_16", "recover", "note", "known"}
_CELL_KEYS = {"bound", "car", "stop", "error_16", "recover", "note", "known", "shows_as"}


def _err(file: str, node: Any, key: str | None, msg: str) -> CatalogueError:
    return CatalogueError(file, line_of(node, key), msg)


def _phase(raw: Any, file: str, node: Any, key: str | None) -> Phase:
    try:
        return Phase(raw)
    except ValueError:
        raise _err(file, node, key, f"unknown phase {raw!r} "
                   f"({', '.join(p.value for p in PHASES)})") from None


def _bound(raw: Any, bounds: dict[str, Bound], file: str, node: Any) -> Bound | None:
    if raw == "none":
        return None
    if raw not in bounds:
        raise _err(file, node, "bound", f"unknown bound {raw!r} ({', '.join(sorted(bounds))}"
                   ", or none)")
    return bounds[raw]


def _car(raw: Any, file: str, node: Any) -> frozenset[str]:
    values = raw if isinstance(raw, list) else [raw]
    for v in values:
        if v not in CAR_ANSWERS:
            raise _err(file, node, "car", f"unknown car answer {v!r} ({sorted(CAR_ANSWERS)})")
    return frozenset(values)


def _stop(raw: Any, file: str, node: Any) -> MappingProxyType[str, frozenset[str]] | None:
    if raw == "any":
        return None
    if not isinstance(raw, LMap):
        raise _err(file, node, "stop", "stop: a mapping {\"1.6\": [...], \"2.0.1\": [...]} or any")
    out: dict[str, frozenset[str]] = {}
    for version in raw:
        if version not in OCPP_VERSIONS:
            raise _err(file, raw, version, f"unknown OCPP version {version!r}")
        values = raw[version] if isinstance(raw[version], list) else [raw[version]]
        if not all(isinstance(v, str) for v in values):
            raise _err(file, raw, version, "stop reasons are names")
        out[version] = frozenset(values)
    for version in OCPP_VERSIONS:
        if version not in out:
            raise _err(file, node, "stop", f"stop needs {version!r}")
    return MappingProxyType(out)


def _recover(raw: Any, file: str, node: Any) -> Recover:
    try:
        return Recover(raw)
    except ValueError:
        raise _err(file, node, "recover", f"recover must be one of "
                   f"{[r.value for r in Recover]}") from None


def _fields(body: LMap, base: dict[str, Any], bounds: dict[str, Bound], file: str
            ) -> dict[str, Any]:
    out = dict(base)
    if "bound" in body:
        out["bound"] = _bound(body["bound"], bounds, file, body)
    if "car" in body:
        out["car"] = _car(body["car"], file, body)
    if "stop" in body:
        out["stop"] = _stop(body["stop"], file, body)
    if "error_16" in body:
        out["error_16"] = None if body["error_16"] == "none" else str(body["error_16"])
    if "recover" in body:
        out["recover"] = _recover(body["recover"], file, body)
    if "note" in body:
        out["note"] = str(body["note"])
    if "known" in body:
        out["known"] = None if body["known"] == "none" else str(body["known"])
    if "shows_as" in body:
        try:
            out["shows_as"] = FaultReason(body["shows_as"])
        except ValueError:
            raise _err(file, body, "shows_as",
                       f"no fault-table row {body['shows_as']!r}") from None
    return out


def _row(name: str, body: Any, bounds: dict[str, Bound], file: str) -> FaultRow:
    if not isinstance(body, LMap):
        raise CatalogueError(file, line_of(body), f"fault {name!r} must be a mapping")
    for k in body:
        if k not in _ROW_KEYS:
            raise _err(file, body, k, f"unknown key {k!r} ({sorted(_ROW_KEYS)})")
    for k in ("doc", "inject", "main", "bound", "car", "stop", "recover"):
        if k not in body:
            raise _err(file, body, None, f"fault {name!r} needs {k!r}")
    inject = body["inject"]
    if inject not in INJECTORS:
        raise _err(file, body, "inject", f"unknown injector {inject!r}")
    table: FaultReason | None = None
    if body.get("table") is not None:
        try:
            table = FaultReason(body["table"])
        except ValueError:
            raise _err(file, body, "table", f"no fault-table row {body['table']!r}") from None
    base = _fields(body, {"bound": None, "car": frozenset(), "stop": None, "error_16": None,
                          "recover": Recover.SELF, "note": "", "known": None}, bounds, file)
    na: dict[Phase, str] = {}
    raw_na = body.get("na", LMap())
    if not isinstance(raw_na, LMap):
        raise _err(file, body, "na", "na: a mapping from the reason to its phases")
    for why, phases in raw_na.items():
        if not isinstance(phases, list) or not phases:
            raise _err(file, raw_na, why, "na: each reason lists its phases")
        for p in phases:
            phase = _phase(p, file, raw_na, why)
            if phase in na:
                raise _err(file, raw_na, why, f"phase {p!r} is n/a twice")
            na[phase] = str(why)
    overrides = body.get("phases", LMap())
    if not isinstance(overrides, LMap):
        raise _err(file, body, "phases", "phases: a mapping from phase to its fields")
    cells: dict[Phase, Cell] = {}
    for p in PHASES:
        if p in na:
            cells[p] = Cell(name, p, line_of(raw_na), na=na[p])
    for key, cell_body in overrides.items():
        phase = _phase(key, file, overrides, key)
        if phase in na:
            raise _err(file, overrides, key, f"phase {key!r} is both n/a and overridden")
        if not isinstance(cell_body, LMap):
            raise _err(file, overrides, key, "a phase override is a mapping")
        for k in cell_body:
            if k not in _CELL_KEYS:
                raise _err(file, cell_body, k, f"unknown key {k!r} ({sorted(_CELL_KEYS)})")
        cells[phase] = Cell(name, phase, line_of(overrides, key),
                            **_fields(cell_body, base, bounds, file))
    for p in PHASES:
        if p not in cells:
            cells[p] = Cell(name, p, line_of(body), **base)
    main = _phase(body["main"], file, body, "main")
    if main in na:
        raise _err(file, body, "main", f"main phase {main.value!r} is n/a")
    injector = INJECTORS[inject]
    return FaultRow(name, str(body["doc"]), inject, injector.point, injector.stand_in, table,
                    main, MappingProxyType(cells), line_of(body))


def load_catalogue(path: str | Path = CATALOGUE_FILE) -> Catalogue:
    file = str(path)
    try:
        raw = load_yaml(path)
    except YamlError:
        raise
    except OSError as exc:
        raise CatalogueError(file, 0, f"cannot read: {exc}") from exc
    if not isinstance(raw, LMap):
        raise CatalogueError(file, 1, "the catalogue is a mapping")
    for k in raw:
        if k not in ("version", "bounds", "faults"):
            raise _err(file, raw, k, f"unknown key {k!r}")
    if raw.get("version") != 1:
        raise _err(file, raw, "version", "version must be 1")
    bounds: dict[str, Bound] = {}
    raw_bounds = raw.get("bounds")
    if not isinstance(raw_bounds, LMap):
        raise _err(file, raw, "bounds", "bounds: a mapping of named bounds")
    for name, b in raw_bounds.items():
        if not isinstance(b, LMap) or set(b) != {"ms", "source"}:
            raise _err(file, raw_bounds, name, "a bound is {ms: <number>, source: <text>}")
        ms = b["ms"]
        if not isinstance(ms, int | float) or isinstance(ms, bool) or ms <= 0:
            raise _err(file, b, "ms", "ms must be a positive number")
        bounds[name] = Bound(name, round(ms * MS), str(b["source"]))
    raw_faults = raw.get("faults")
    if not isinstance(raw_faults, LMap) or not raw_faults:
        raise _err(file, raw, "faults", "faults: a non-empty mapping")
    faults = {name: _row(name, body, bounds, file) for name, body in raw_faults.items()}
    covered = {row.table for row in faults.values()}
    missing = [r.value for r in FaultReason if r not in covered]
    if missing:
        raise _err(file, raw, "faults", f"fault-table rows no fault exercises: {missing}")
    used = {c.bound.name for row in faults.values() for c in row.cells.values() if c.bound}
    unused = sorted(set(bounds) - used)
    if unused:
        raise _err(file, raw, "bounds", f"bounds no cell uses: {unused}")
    return Catalogue(file, MappingProxyType(bounds), MappingProxyType(faults))

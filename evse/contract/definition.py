"""Strict loader of signals.yaml into typed, frozen definitions.

Why strict: PyYAML reads YAML 1.1, where `on`/`no` are booleans and a duplicate key
silently overwrites the first. A contract that two processes (and a certification
reviewer) rely on must not change meaning through a typo, so every mapping is checked
for duplicate keys, non-string keys and keys this loader does not know, and every name
(enum, record, bound, field, signal) is resolved here, at import time.
"""

from __future__ import annotations

import enum
import hashlib
import keyword
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar, cast

from evse.contract.errors import ContractDefinitionError
from evse.fsm.yamlstrict import YamlError, loads_yaml

_E = TypeVar("_E", bound=enum.Enum)

DEFINITION_PATH = Path(__file__).with_name("signals.yaml")
NS_PER_S = 1_000_000_000


class Direction(enum.Enum):
    """Who sends the signal."""

    PLC_TO_CTRL = "plc_to_ctrl"
    CTRL_TO_PLC = "ctrl_to_plc"


class Owner(enum.Enum):
    """Who is authoritative for the signal's value."""

    PLC = "plc"
    CONTROLLER = "controller"
    MEASUREMENT = "measurement"


class SignalKind(enum.Enum):
    """STATE: the latest value is what matters (republished after a peer restart).
    EVENT: every occurrence matters (delivered once, in order)."""

    STATE = "state"
    EVENT = "event"


class RateMode(enum.Enum):
    EVENT = "event"
    PERIODIC = "periodic"
    EVENT_AND_PERIODIC = "event_and_periodic"
    ONCE_PER_SESSION = "once_per_session"
    STATIC = "static"


class ValidityMode(enum.Enum):
    """How long a received value may be used."""

    TTL = "ttl"  # fixed time-to-live from receipt (a named bound)
    FIELD = "field"  # time-to-live carried in a field of the value (milliseconds)
    SESSION = "session"  # until the session ends
    UNTIL_REPLACED = "until_replaced"  # until the next value
    ONE_SHOT = "one_shot"  # consumed on delivery


class RequirementLevel(enum.Enum):
    REQUIRED = "required"
    CONDITIONAL = "conditional"
    RECOMMENDED = "recommended"
    OPTIONAL = "optional"


class FallbackAction(enum.Enum):
    """What the receiver does when the signal is missing or stale."""

    NOT_APPLICABLE = "not_applicable"
    CONTROLLER_REPORTS_UNAVAILABLE = "controller_reports_unavailable"
    AUTH_TIMEOUT_END_SESSION = "auth_timeout_end_session"
    PNC_ANSWER_FAILED = "pnc_answer_failed"
    SAFE_DEFAULT_THEN_DERATE_TO_ZERO = "safe_default_then_derate_to_zero"
    DEFAULT_SCHEDULE = "default_schedule"
    DISABLE_OUTPUT = "disable_output"
    CONTROLLER_HOLDS_METER = "controller_holds_meter"
    CONTROLLER_KEEPS_FAULT = "controller_keeps_fault"
    BUILTIN_MAPPING = "builtin_mapping"


class BaseType(enum.Enum):
    BOOL = "bool"
    INT = "int"
    FLOAT = "float"
    STR = "str"
    BYTES = "bytes"
    ENUM = "enum"
    RECORD = "record"


@dataclass(frozen=True, slots=True)
class TypeRef:
    """A field type: a scalar, an enum or record by name, or a list of one of those."""

    base: BaseType
    name: str  # "int", "float", ... or the enum/record name
    is_list: bool

    def spelled(self) -> str:
        return f"list[{self.name}]" if self.is_list else self.name


@dataclass(frozen=True, slots=True)
class FieldDef:
    name: str
    type: TypeRef
    required: bool
    doc: str
    unit: str | None = None
    min_value: float | None = None
    max_value: float | None = None
    min_len: int | None = None  # str/bytes length, or list item count
    max_len: int | None = None
    item_max_len: int | None = None  # per item of list[str] / list[bytes]
    pattern: str | None = None


@dataclass(frozen=True, slots=True)
class RecordDef:
    name: str
    doc: str
    fields: tuple[FieldDef, ...]


@dataclass(frozen=True, slots=True)
class EnumDef:
    name: str
    doc: str
    values: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class BoundDef:
    name: str
    value_ns: int
    seconds: float
    ref: str
    doc: str


@dataclass(frozen=True, slots=True)
class RateDef:
    mode: RateMode
    doc: str
    min_hz: float | None = None
    max_hz: float | None = None


@dataclass(frozen=True, slots=True)
class ValidityDef:
    mode: ValidityMode
    bound: str | None = None
    field: str | None = None
    ttl_ns: int | None = None


@dataclass(frozen=True, slots=True)
class RequirementDef:
    level: RequirementLevel
    doc: str


@dataclass(frozen=True, slots=True)
class FallbackDef:
    action: FallbackAction
    doc: str
    bounds: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SignalDef:
    name: str
    group: str
    doc: str
    refs: tuple[str, ...]
    direction: Direction
    owner: Owner
    kind: SignalKind
    rate: RateDef
    validity: ValidityDef
    requirement: RequirementDef
    fallback: FallbackDef
    fields: tuple[FieldDef, ...]

    @property
    def class_name(self) -> str:
        """Generated class name: `ctrl.evse_limits_dynamic` -> CtrlEvseLimitsDynamic."""
        return "".join(part.capitalize() for part in self.name.replace(".", "_").split("_"))


@dataclass(frozen=True, slots=True)
class MsgStep:
    """A message outside the contract (EV, CSMS, power), drawn for context."""

    sender: str
    receiver: str
    msg: str


@dataclass(frozen=True, slots=True)
class SignalStep:
    signal: str
    note: str


@dataclass(frozen=True, slots=True)
class BlockStep:
    kind: str  # "loop" | "opt"
    label: str
    steps: tuple[MsgStep | SignalStep | BlockStep, ...]


Step = MsgStep | SignalStep | BlockStep


@dataclass(frozen=True, slots=True, order=True)
class ContractVersion:
    major: int
    minor: int

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}"


@dataclass(frozen=True, slots=True)
class ContractDefinition:
    contract: str
    version: ContractVersion
    doc: str
    refs: tuple[str, ...]
    compatibility: tuple[str, ...]
    bounds: Mapping[str, BoundDef]
    enums: Mapping[str, EnumDef]
    records: Mapping[str, RecordDef]
    signals: Mapping[str, SignalDef]
    participants: Mapping[str, str]
    steps: tuple[Step, ...]

    def signal(self, name: str) -> SignalDef:
        return self.signals[name]

    def bound_ns(self, name: str) -> int:
        return self.bounds[name].value_ns


_IDENT = re.compile(r"^[a-z][a-z0-9_]*$")
_ENUM_VALUE = re.compile(r"^[A-Z][A-Z0-9_]*$")
_TYPE_NAME = re.compile(r"^[A-Z][A-Za-z0-9]*$")
_SIGNAL_NAME = re.compile(r"^(plc|ctrl|meas)\.[a-z][a-z0-9_]*$")
_SCALARS = {
    "bool": BaseType.BOOL,
    "int": BaseType.INT,
    "float": BaseType.FLOAT,
    "str": BaseType.STR,
    "bytes": BaseType.BYTES,
}


def _map(obj: object, where: str, allowed: set[str], required: set[str]) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise ContractDefinitionError(f"{where}: expected a mapping, got {type(obj).__name__}")
    mapping = cast(dict[str, Any], obj)
    unknown = set(mapping) - allowed
    if unknown:
        raise ContractDefinitionError(f"{where}: unknown keys {sorted(unknown)}")
    missing = required - set(mapping)
    if missing:
        raise ContractDefinitionError(f"{where}: missing keys {sorted(missing)}")
    return mapping


def _str(obj: object, where: str) -> str:
    if not isinstance(obj, str) or not obj.strip():
        raise ContractDefinitionError(f"{where}: expected a non-empty string")
    return obj


def _num(obj: object, where: str) -> float:
    if isinstance(obj, bool) or not isinstance(obj, int | float):
        raise ContractDefinitionError(f"{where}: expected a number")
    return float(obj)


def _int(obj: object, where: str) -> int:
    if isinstance(obj, bool) or not isinstance(obj, int):
        raise ContractDefinitionError(f"{where}: expected an integer")
    return obj


def _strs(obj: object, where: str) -> tuple[str, ...]:
    if not isinstance(obj, list):
        raise ContractDefinitionError(f"{where}: expected a list")
    return tuple(_str(item, f"{where}[{i}]") for i, item in enumerate(obj))


def _enum_of(cls: type[_E], obj: object, where: str) -> _E:
    text = _str(obj, where)
    try:
        return cls(text)
    except ValueError:
        allowed = [m.value for m in cls]
        raise ContractDefinitionError(f"{where}: {text!r} not one of {allowed}") from None


def _type_ref(spelled: object, where: str, enums: set[str], records: set[str]) -> TypeRef:
    text = _str(spelled, where)
    is_list = text.startswith("list[") and text.endswith("]")
    name = text[5:-1] if is_list else text
    if name in _SCALARS:
        return TypeRef(_SCALARS[name], name, is_list)
    if name in enums:
        return TypeRef(BaseType.ENUM, name, is_list)
    if name in records:
        return TypeRef(BaseType.RECORD, name, is_list)
    raise ContractDefinitionError(f"{where}: unknown type {text!r}")


_FIELD_KEYS = {
    "type", "required", "doc", "unit", "min", "max", "min_len", "max_len",
    "item_max_len", "pattern",
}


def _field(
    name: str, obj: object, where: str, enums: set[str], records: set[str]
) -> FieldDef:
    if not _IDENT.match(name) or keyword.iskeyword(name):
        raise ContractDefinitionError(f"{where}: field name {name!r} is not snake_case")
    m = _map(obj, where, _FIELD_KEYS, {"type", "required", "doc"})
    ftype = _type_ref(m["type"], f"{where}.type", enums, records)
    required = m["required"]
    if not isinstance(required, bool):
        raise ContractDefinitionError(f"{where}.required: expected true/false")
    numeric = ftype.base in (BaseType.INT, BaseType.FLOAT) and not ftype.is_list
    sized = ftype.is_list or ftype.base in (BaseType.STR, BaseType.BYTES)
    if ("min" in m or "max" in m) and not numeric:
        raise ContractDefinitionError(f"{where}: min/max only apply to int/float fields")
    if numeric and ("min" not in m or "max" not in m):
        raise ContractDefinitionError(f"{where}: numeric fields need min and max")
    if ("min_len" in m or "max_len" in m) and not sized:
        raise ContractDefinitionError(f"{where}: min_len/max_len only apply to str/bytes/list")
    if sized and "max_len" not in m:
        raise ContractDefinitionError(f"{where}: str/bytes/list fields need max_len")
    if "pattern" in m and ftype.base is not BaseType.STR:
        raise ContractDefinitionError(f"{where}: pattern only applies to str fields")
    if "item_max_len" in m and not (
        ftype.is_list and ftype.base in (BaseType.STR, BaseType.BYTES)
    ):
        raise ContractDefinitionError(f"{where}: item_max_len only applies to list[str|bytes]")
    if ftype.base is BaseType.FLOAT and ftype.is_list:
        raise ContractDefinitionError(f"{where}: list[float] is not supported")
    if ftype.base is BaseType.INT and ftype.is_list:
        raise ContractDefinitionError(f"{where}: list[int] is not supported")
    pattern = _str(m["pattern"], f"{where}.pattern") if "pattern" in m else None
    if pattern is not None:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ContractDefinitionError(f"{where}.pattern: {exc}") from None
    min_value = _num(m["min"], f"{where}.min") if "min" in m else None
    max_value = _num(m["max"], f"{where}.max") if "max" in m else None
    if min_value is not None and max_value is not None and min_value > max_value:
        raise ContractDefinitionError(f"{where}: min > max")
    if ftype.base is BaseType.INT and not ftype.is_list:
        min_value = float(_int(m["min"], f"{where}.min"))
        max_value = float(_int(m["max"], f"{where}.max"))
    return FieldDef(
        name=name,
        type=ftype,
        required=required,
        doc=_str(m["doc"], f"{where}.doc"),
        unit=_str(m["unit"], f"{where}.unit") if "unit" in m else None,
        min_value=min_value,
        max_value=max_value,
        min_len=_int(m["min_len"], f"{where}.min_len") if "min_len" in m else None,
        max_len=_int(m["max_len"], f"{where}.max_len") if "max_len" in m else None,
        item_max_len=(
            _int(m["item_max_len"], f"{where}.item_max_len") if "item_max_len" in m else None
        ),
        pattern=pattern,
    )


def _fields(obj: object, where: str, enums: set[str], records: set[str]) -> tuple[FieldDef, ...]:
    if not isinstance(obj, dict) or not obj:
        raise ContractDefinitionError(f"{where}: expected a non-empty mapping of fields")
    return tuple(
        _field(name, spec, f"{where}.{name}", enums, records)
        for name, spec in cast(dict[str, Any], obj).items()
    )


_SIGNAL_KEYS = {
    "group", "doc", "refs", "direction", "owner", "kind", "rate", "validity",
    "requirement", "fallback", "fields",
}


def _signal(
    name: str,
    obj: object,
    enums: set[str],
    records: set[str],
    bounds: Mapping[str, BoundDef],
) -> SignalDef:
    where = f"signals.{name}"
    if not _SIGNAL_NAME.match(name):
        raise ContractDefinitionError(f"{where}: name must be plc.*, ctrl.* or meas.*")
    m = _map(obj, where, _SIGNAL_KEYS, _SIGNAL_KEYS)
    direction = _enum_of(Direction, m["direction"], f"{where}.direction")
    expected = Direction.CTRL_TO_PLC if name.startswith("ctrl.") else Direction.PLC_TO_CTRL
    if direction is not expected:
        raise ContractDefinitionError(f"{where}: prefix says {expected.value}")
    fields = _fields(m["fields"], f"{where}.fields", enums, records)
    by_name = {f.name: f for f in fields}

    r = _map(m["rate"], f"{where}.rate", {"mode", "min_hz", "max_hz", "doc"}, {"mode", "doc"})
    rate = RateDef(
        mode=_enum_of(RateMode, r["mode"], f"{where}.rate.mode"),
        doc=_str(r["doc"], f"{where}.rate.doc"),
        min_hz=_num(r["min_hz"], f"{where}.rate.min_hz") if "min_hz" in r else None,
        max_hz=_num(r["max_hz"], f"{where}.rate.max_hz") if "max_hz" in r else None,
    )
    if (rate.mode in (RateMode.PERIODIC, RateMode.EVENT_AND_PERIODIC)) != (
        rate.min_hz is not None and rate.max_hz is not None
    ):
        raise ContractDefinitionError(f"{where}.rate: periodic rates (only) need min_hz/max_hz")

    v = _map(m["validity"], f"{where}.validity", {"mode", "bound", "field"}, {"mode"})
    vmode = _enum_of(ValidityMode, v["mode"], f"{where}.validity.mode")
    validity = ValidityDef(mode=vmode)
    if vmode is ValidityMode.TTL:
        bound = _str(v.get("bound"), f"{where}.validity.bound")
        if bound not in bounds:
            raise ContractDefinitionError(f"{where}.validity: unknown bound {bound!r}")
        validity = ValidityDef(mode=vmode, bound=bound, ttl_ns=bounds[bound].value_ns)
    elif vmode is ValidityMode.FIELD:
        fname = _str(v.get("field"), f"{where}.validity.field")
        fdef = by_name.get(fname)
        if fdef is None or fdef.type.base is not BaseType.INT or fdef.unit != "ms":
            raise ContractDefinitionError(f"{where}.validity: {fname!r} must be an int ms field")
        if not fdef.required:
            raise ContractDefinitionError(f"{where}.validity: {fname!r} must be required")
        validity = ValidityDef(mode=vmode, field=fname)
    elif "bound" in v or "field" in v:
        raise ContractDefinitionError(f"{where}.validity: bound/field only with ttl/field")

    q = _map(m["requirement"], f"{where}.requirement", {"level", "doc"}, {"level", "doc"})
    f = _map(m["fallback"], f"{where}.fallback", {"action", "doc", "bounds"}, {"action", "doc"})
    fb_bounds = _strs(f.get("bounds", []), f"{where}.fallback.bounds")
    for b in fb_bounds:
        if b not in bounds:
            raise ContractDefinitionError(f"{where}.fallback: unknown bound {b!r}")
    return SignalDef(
        name=name,
        group=_str(m["group"], f"{where}.group"),
        doc=_str(m["doc"], f"{where}.doc"),
        refs=_strs(m["refs"], f"{where}.refs"),
        direction=direction,
        owner=_enum_of(Owner, m["owner"], f"{where}.owner"),
        kind=_enum_of(SignalKind, m["kind"], f"{where}.kind"),
        rate=rate,
        validity=validity,
        requirement=RequirementDef(
            level=_enum_of(RequirementLevel, q["level"], f"{where}.requirement.level"),
            doc=_str(q["doc"], f"{where}.requirement.doc"),
        ),
        fallback=FallbackDef(
            action=_enum_of(FallbackAction, f["action"], f"{where}.fallback.action"),
            doc=_str(f["doc"], f"{where}.fallback.doc"),
            bounds=fb_bounds,
        ),
        fields=fields,
    )


def _steps(
    obj: object, where: str, participants: Mapping[str, str], signals: Mapping[str, SignalDef]
) -> tuple[Step, ...]:
    if not isinstance(obj, list) or not obj:
        raise ContractDefinitionError(f"{where}: expected a non-empty list")
    steps: list[Step] = []
    for i, raw in enumerate(obj):
        w = f"{where}[{i}]"
        if isinstance(raw, dict) and "signal" in raw:
            m = _map(raw, w, {"signal", "note"}, {"signal"})
            sig = _str(m["signal"], f"{w}.signal")
            if sig not in signals:
                raise ContractDefinitionError(f"{w}: unknown signal {sig!r}")
            note = _str(m["note"], f"{w}.note") if "note" in m else ""
            steps.append(SignalStep(sig, note))
        elif isinstance(raw, dict) and ("loop" in raw or "opt" in raw):
            kind = "loop" if "loop" in raw else "opt"
            m = _map(raw, w, {kind, "steps"}, {kind, "steps"})
            steps.append(
                BlockStep(kind, _str(m[kind], w), _steps(m["steps"], w, participants, signals))
            )
        else:
            m = _map(raw, w, {"from", "to", "msg"}, {"from", "to", "msg"})
            sender, receiver = _str(m["from"], w), _str(m["to"], w)
            if sender not in participants or receiver not in participants:
                raise ContractDefinitionError(f"{w}: unknown participant")
            steps.append(MsgStep(sender, receiver, _str(m["msg"], f"{w}.msg")))
    return tuple(steps)


_TOP_KEYS = {
    "contract", "version", "doc", "refs", "compatibility", "bounds", "enums", "records",
    "signals", "sequence",
}


def parse_definition(text: str) -> ContractDefinition:
    """Parse and cross-check a contract definition; raise ContractDefinitionError."""
    try:  # the project's one strict loader: no duplicate or YAML-1.1-boolean keys
        raw = loads_yaml(text, "signals.yaml")
    except YamlError as exc:
        raise ContractDefinitionError(str(exc)) from None
    top = _map(raw, "signals.yaml", _TOP_KEYS, _TOP_KEYS)
    ver = _map(top["version"], "version", {"major", "minor"}, {"major", "minor"})
    version = ContractVersion(
        _int(ver["major"], "version.major"), _int(ver["minor"], "version.minor")
    )

    bounds: dict[str, BoundDef] = {}
    for name, spec in _map(top["bounds"], "bounds", set(top["bounds"]), set()).items():
        if not _IDENT.match(name):
            raise ContractDefinitionError(f"bounds.{name}: name must be snake_case")
        b = _map(spec, f"bounds.{name}", {"s", "ref", "doc"}, {"s", "ref", "doc"})
        seconds = _num(b["s"], f"bounds.{name}.s")
        if seconds <= 0:
            raise ContractDefinitionError(f"bounds.{name}: must be positive")
        bounds[name] = BoundDef(
            name, round(seconds * NS_PER_S), seconds,
            _str(b["ref"], f"bounds.{name}.ref"), _str(b["doc"], f"bounds.{name}.doc"),
        )

    enums: dict[str, EnumDef] = {}
    for name, spec in _map(top["enums"], "enums", set(top["enums"]), set()).items():
        if not _TYPE_NAME.match(name):
            raise ContractDefinitionError(f"enums.{name}: name must be CamelCase")
        e = _map(spec, f"enums.{name}", {"doc", "values"}, {"doc", "values"})
        values = _strs(e["values"], f"enums.{name}.values")
        bad = [v for v in values if not _ENUM_VALUE.match(v)]
        if bad or len(set(values)) != len(values) or not values:
            raise ContractDefinitionError(f"enums.{name}: values must be unique UPPER_CASE")
        enums[name] = EnumDef(name, _str(e["doc"], f"enums.{name}.doc"), values)

    record_names = set(top["records"]) if isinstance(top["records"], dict) else set()
    enum_names = set(enums)
    if record_names & enum_names:
        raise ContractDefinitionError("a record and an enum share a name")
    records: dict[str, RecordDef] = {}
    for name, spec in _map(top["records"], "records", record_names, set()).items():
        if not _TYPE_NAME.match(name):
            raise ContractDefinitionError(f"records.{name}: name must be CamelCase")
        r = _map(spec, f"records.{name}", {"doc", "fields"}, {"doc", "fields"})
        fields = _fields(r["fields"], f"records.{name}.fields", enum_names, set())
        records[name] = RecordDef(name, _str(r["doc"], f"records.{name}.doc"), fields)

    signals: dict[str, SignalDef] = {}
    raw_signals = _map(top["signals"], "signals", set(top["signals"]), set())
    for name, spec in raw_signals.items():
        signals[name] = _signal(name, spec, enum_names, record_names, bounds)
    class_names = [s.class_name for s in signals.values()]
    clashes = set(class_names) & (enum_names | record_names)
    if len(set(class_names)) != len(class_names) or clashes:
        raise ContractDefinitionError(f"generated class names clash: {sorted(clashes)}")

    seq = _map(top["sequence"], "sequence", {"participants", "steps"}, {"participants", "steps"})
    parts = _map(seq["participants"], "sequence.participants", set(seq["participants"]), set())
    participants = {k: _str(v, f"sequence.participants.{k}") for k, v in parts.items()}
    if not {"plc", "ctrl"} <= set(participants):
        raise ContractDefinitionError("sequence.participants must include plc and ctrl")
    steps = _steps(seq["steps"], "sequence.steps", participants, signals)

    return ContractDefinition(
        contract=_str(top["contract"], "contract"),
        version=version,
        doc=_str(top["doc"], "doc"),
        refs=_strs(top["refs"], "refs"),
        compatibility=_strs(top["compatibility"], "compatibility"),
        bounds=MappingProxyType(bounds),  # read-only: the contract cannot be patched at run time
        enums=MappingProxyType(enums),
        records=MappingProxyType(records),
        signals=MappingProxyType(signals),
        participants=MappingProxyType(participants),
        steps=steps,
    )


def load_definition(path: Path = DEFINITION_PATH) -> ContractDefinition:
    return parse_definition(path.read_text(encoding="utf-8"))


def definition_sha256(path: Path = DEFINITION_PATH) -> str:
    """Fingerprint of signals.yaml; generated files carry it so staleness is detected."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


DEFINITION: ContractDefinition = load_definition()
"""The contract, loaded once at import; a broken signals.yaml fails the import."""
DEFINITION_SHA256: str = definition_sha256()

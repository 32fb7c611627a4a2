"""Signal values <-> plain CBOR-able maps, with the contract's compatibility rules.

Wire form of a sample: a CBOR map from field name to value; enums travel as their
names, records as nested maps, lists as arrays, absent optional fields are omitted.
Names (not positions) make the minor-version rule cheap: a newer peer may add optional
fields, which an older receiver skips only when the peer announced a higher minor.
"""

from __future__ import annotations

from typing import Any

from evse.contract.definition import DEFINITION, BaseType, FieldDef
from evse.contract.errors import (
    SampleDecodeError,
    SignalValueError,
    Violation,
    ViolationKind,
)
from evse.contract.values import ENUM_CLASSES, RECORD_CLASSES, SIGNAL_CLASSES, SignalValue


def _to_wire_item(f: FieldDef, value: Any) -> Any:
    base = f.type.base
    if base is BaseType.ENUM:
        return value.value
    if base is BaseType.RECORD:
        return _record_to_wire(f.type.name, value)
    return value


def _fields_to_wire(fields: tuple[FieldDef, ...], value: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in fields:
        item = getattr(value, f.name)
        if item is None:
            continue
        if f.type.is_list:
            out[f.name] = [_to_wire_item(f, x) for x in item]
        else:
            out[f.name] = _to_wire_item(f, item)
    return out


def _record_to_wire(name: str, value: Any) -> dict[str, Any]:
    return _fields_to_wire(DEFINITION.records[name].fields, value)


def to_wire(value: SignalValue) -> dict[str, Any]:
    """Map of field name -> CBOR-able value for one signal sample."""
    return _fields_to_wire(DEFINITION.signals[value.SIGNAL].fields, value)


class _Decoder:
    """Builds typed values from wire maps; counts fields skipped under the minor rule."""

    def __init__(self, signal: str, tolerate_unknown_fields: bool) -> None:
        self.signal = signal
        self.tolerate = tolerate_unknown_fields
        self.ignored_fields = 0

    def fail(self, kind: ViolationKind, path: str, detail: str) -> SampleDecodeError:
        return SampleDecodeError(Violation(kind, self.signal, path, detail))

    def item(self, f: FieldDef, raw: object, path: str) -> object:
        base = f.type.base
        if base is BaseType.ENUM:
            if not isinstance(raw, str):
                raise self.fail(ViolationKind.WRONG_TYPE, path, f"expected {f.type.name} name")
            if raw not in DEFINITION.enums[f.type.name].values:
                raise self.fail(
                    ViolationKind.UNKNOWN_ENUM_VALUE, path, f"{raw!r:.40} not in {f.type.name}"
                )
            return ENUM_CLASSES[f.type.name](raw)
        if base is BaseType.RECORD:
            rdef = DEFINITION.records[f.type.name]
            try:
                return RECORD_CLASSES[f.type.name](**self.fields(rdef.fields, raw, path + "."))
            except SignalValueError as exc:  # name the signal and the full path, not the record
                bad = exc.violation
                raise self.fail(bad.kind, f"{path}.{bad.field}", bad.detail) from None
        if base is BaseType.FLOAT and isinstance(raw, int) and not isinstance(raw, bool):
            return float(raw)  # peers without a float/int distinction may send 400 for 400.0
        return raw  # bool/int/str/bytes: the constructor's check judges the type and range

    def fields(self, fields: tuple[FieldDef, ...], raw: object, prefix: str) -> dict[str, Any]:
        if not isinstance(raw, dict):
            raise self.fail(ViolationKind.WRONG_TYPE, prefix.rstrip("."), "expected a map")
        known = {f.name for f in fields}
        for key in raw:
            if key not in known:
                if not self.tolerate:
                    raise self.fail(ViolationKind.UNKNOWN_FIELD, f"{prefix}{key!s:.40}",
                                    "not in this contract version")
                self.ignored_fields += 1
        kwargs: dict[str, Any] = {}
        for f in fields:
            raw_item = raw.get(f.name)
            path = prefix + f.name
            if raw_item is None:
                kwargs[f.name] = None
            elif f.type.is_list:
                if not isinstance(raw_item, list):
                    raise self.fail(ViolationKind.WRONG_TYPE, path, "expected an array")
                if f.max_len is not None and len(raw_item) > f.max_len:
                    raise self.fail(ViolationKind.OUT_OF_RANGE, path, "too many items")
                kwargs[f.name] = tuple(
                    self.item(f, x, f"{path}[{i}]") for i, x in enumerate(raw_item)
                )
            else:
                kwargs[f.name] = self.item(f, raw_item, path)
        return kwargs


def from_wire(
    signal: str, payload: object, *, tolerate_unknown_fields: bool = False
) -> tuple[SignalValue, int]:
    """Typed value of a received sample and the number of unknown fields skipped.

    Raises SampleDecodeError (remote blame) naming the signal and field on any violation.
    """
    cls = SIGNAL_CLASSES.get(signal)
    if cls is None:
        raise SampleDecodeError(
            Violation(ViolationKind.UNKNOWN_SIGNAL, f"{signal!s:.60}", "", "not in contract")
        )
    decoder = _Decoder(signal, tolerate_unknown_fields)
    try:
        kwargs = decoder.fields(DEFINITION.signals[signal].fields, payload, "")
        value = cls(**kwargs)
    except SignalValueError as exc:
        raise SampleDecodeError(exc.violation) from None
    return value, decoder.ignored_fields

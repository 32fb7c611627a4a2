"""Hypothesis strategies for every signal, derived from the definition (not hand-written)."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from evse.contract.definition import DEFINITION, BaseType, FieldDef
from evse.contract.values import ENUM_CLASSES, RECORD_CLASSES, SIGNAL_CLASSES, SignalValue

# Keep generated blobs small: the link's behaviour does not depend on their size.
_MAX_BLOB = 48
_MAX_ITEMS = 3


def _item(f: FieldDef) -> st.SearchStrategy[Any]:
    base = f.type.base
    in_list = f.type.is_list
    if base is BaseType.BOOL:
        return st.booleans()
    if base is BaseType.INT:
        assert f.min_value is not None and f.max_value is not None
        return st.integers(int(f.min_value), int(f.max_value))
    if base is BaseType.FLOAT:
        return st.floats(f.min_value, f.max_value, allow_nan=False, allow_infinity=False)
    if base is BaseType.STR:
        lo = 0 if in_list else (f.min_len or 0)
        hi = min((f.item_max_len if in_list else f.max_len) or _MAX_BLOB, _MAX_BLOB)
        if f.pattern is not None:
            return st.from_regex(f.pattern, fullmatch=True).filter(lambda s: lo <= len(s) <= hi)
        return st.text(min_size=lo, max_size=hi)
    if base is BaseType.BYTES:
        lo = 0 if in_list else (f.min_len or 0)
        hi = min((f.item_max_len if in_list else f.max_len) or _MAX_BLOB, _MAX_BLOB)
        return st.binary(min_size=lo, max_size=max(lo, hi))
    if base is BaseType.ENUM:
        return st.sampled_from(list(ENUM_CLASSES[f.type.name]))
    return record_values(f.type.name)


def _field(f: FieldDef) -> st.SearchStrategy[Any]:
    value = _item(f)
    if f.type.is_list:
        lo = f.min_len or 0
        value = st.lists(value, min_size=lo, max_size=max(lo, min(f.max_len or 0, _MAX_ITEMS)))
        value = value.map(tuple)
    return value if f.required else st.none() | value


def _builds(cls: Any, fields: tuple[FieldDef, ...]) -> st.SearchStrategy[Any]:
    return st.builds(cls, **{f.name: _field(f) for f in fields})


def record_values(name: str) -> st.SearchStrategy[Any]:
    return _builds(RECORD_CLASSES[name], DEFINITION.records[name].fields)


def signal_values_of(name: str) -> st.SearchStrategy[SignalValue]:
    return _builds(SIGNAL_CLASSES[name], DEFINITION.signals[name].fields)


def signal_values(direction: str | None = None) -> st.SearchStrategy[SignalValue]:
    names = [n for n, s in DEFINITION.signals.items()
             if direction is None or s.direction.value == direction]
    return st.one_of([signal_values_of(n) for n in names])

"""Checks a typed signal or record value against its definition in signals.yaml.

Why one checker for both directions: a value is checked when it is constructed, whether
our code built it or the codec built it from peer bytes, so nothing invalid can exist as
a typed value on either side. The codec turns the local `SignalValueError` into a
remote-blamed `SampleDecodeError`.
"""

from __future__ import annotations

import enum
import math
import re
from typing import Any

from evse.contract.definition import (
    DEFINITION,
    BaseType,
    FieldDef,
)
from evse.contract.errors import (
    ContractDefinitionError,
    SignalValueError,
    Violation,
    ViolationKind,
)

_ENUM_CLASSES: dict[str, type[enum.Enum]] = {}
_RECORD_CLASSES: dict[str, type[Any]] = {}
_PATTERNS: dict[str, re.Pattern[str]] = {}


def register_types(enums: dict[str, type[enum.Enum]], records: dict[str, type[Any]]) -> None:
    """Called once by the generated module, so checks can resolve enum/record names."""
    missing = (set(DEFINITION.enums) - set(enums)) | (set(DEFINITION.records) - set(records))
    if missing:
        raise ContractDefinitionError(f"generated module lacks {sorted(missing)}; regenerate")
    _ENUM_CLASSES.update(enums)
    _RECORD_CLASSES.update(records)


def _pattern(text: str) -> re.Pattern[str]:
    compiled = _PATTERNS.get(text)
    if compiled is None:
        compiled = _PATTERNS[text] = re.compile(text)
    return compiled


def _bad(kind: ViolationKind, owner: str, path: str, detail: str) -> Violation:
    return Violation(kind, owner, path, detail)


def _len_violation(
    owner: str, path: str, size: int, min_len: int | None, max_len: int | None
) -> Violation | None:
    if (min_len is not None and size < min_len) or (max_len is not None and size > max_len):
        return _bad(
            ViolationKind.OUT_OF_RANGE, owner, path,
            f"length {size} outside [{min_len or 0}, {max_len}]",
        )
    return None


def _item_violation(
    owner: str, f: FieldDef, value: object, path: str, in_list: bool
) -> Violation | None:
    base = f.type.base
    min_len = None if in_list else f.min_len
    max_len = f.item_max_len if in_list else f.max_len
    if base is BaseType.BOOL:
        if not isinstance(value, bool):
            return _bad(ViolationKind.WRONG_TYPE, owner, path, f"expected bool, got {value!r:.40}")
        return None
    if base is BaseType.INT or base is BaseType.FLOAT:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return _bad(ViolationKind.WRONG_TYPE, owner, path, f"expected {base.value}, got "
                        f"{type(value).__name__}")
        if base is BaseType.INT and not isinstance(value, int):
            return _bad(ViolationKind.WRONG_TYPE, owner, path, "expected int, got float")
        if isinstance(value, float) and not math.isfinite(value):
            return _bad(ViolationKind.OUT_OF_RANGE, owner, path, f"{value} is not finite")
        lo, hi = f.min_value, f.max_value
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            return _bad(ViolationKind.OUT_OF_RANGE, owner, path, f"{value} outside [{lo}, {hi}]"
                        f"{' ' + f.unit if f.unit else ''}")
        return None
    if base is BaseType.STR:
        if not isinstance(value, str):
            return _bad(ViolationKind.WRONG_TYPE, owner, path, f"expected str, got "
                        f"{type(value).__name__}")
        bad_len = _len_violation(owner, path, len(value), min_len, max_len)
        if bad_len is not None:
            return bad_len
        if f.pattern is not None and not _pattern(f.pattern).fullmatch(value):
            return _bad(ViolationKind.OUT_OF_RANGE, owner, path,
                        f"{value!r:.40} does not match {f.pattern}")
        return None
    if base is BaseType.BYTES:
        if not isinstance(value, bytes):
            return _bad(ViolationKind.WRONG_TYPE, owner, path, f"expected bytes, got "
                        f"{type(value).__name__}")
        return _len_violation(owner, path, len(value), min_len, max_len)
    if base is BaseType.ENUM:
        if not isinstance(value, _ENUM_CLASSES[f.type.name]):
            return _bad(ViolationKind.WRONG_TYPE, owner, path, f"expected {f.type.name}")
        return None
    if not isinstance(value, _RECORD_CLASSES[f.type.name]):
        return _bad(ViolationKind.WRONG_TYPE, owner, path, f"expected {f.type.name}")
    return None  # a record instance validated itself when it was built


def field_violation(owner: str, f: FieldDef, value: object) -> Violation | None:
    """First violation of `value` against field `f` of signal/record `owner`, or None."""
    if value is None:
        if f.required:
            return _bad(ViolationKind.MISSING_REQUIRED, owner, f.name, "required field absent")
        return None
    if not f.type.is_list:
        return _item_violation(owner, f, value, f.name, in_list=False)
    if not isinstance(value, tuple):
        return _bad(ViolationKind.WRONG_TYPE, owner, f.name, "expected a tuple")
    bad_len = _len_violation(owner, f.name, len(value), f.min_len, f.max_len)
    if bad_len is not None:
        return bad_len
    for i, item in enumerate(value):
        bad = _item_violation(owner, f, item, f"{f.name}[{i}]", in_list=True)
        if bad is not None:
            return bad
    return None


def check_signal(value: Any) -> None:
    """Raise SignalValueError if a generated signal value breaks its definition."""
    sdef = DEFINITION.signals[value.SIGNAL]
    for f in sdef.fields:
        bad = field_violation(sdef.name, f, getattr(value, f.name))
        if bad is not None:
            raise SignalValueError(bad)


def check_record(value: Any) -> None:
    """Raise SignalValueError if a generated record value breaks its definition."""
    rdef = DEFINITION.records[type(value).__name__]
    for f in rdef.fields:
        bad = field_violation(rdef.name, f, getattr(value, f.name))
        if bad is not None:
            raise SignalValueError(bad)

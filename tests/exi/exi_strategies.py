"""Hypothesis strategies for the generated message classes, driven by their metadata."""

from __future__ import annotations

import enum
from types import ModuleType
from typing import Any

from hypothesis import strategies as st

# Caps that keep examples small; bounded lists up to 24 (ProfileEntry's maxOccurs) are
# generated up to their bound, longer ones (PMaxScheduleEntry 1024) up to this cap.
LIST_CAP = 24
STRING_CAP = 24
BINARY_CAP = 48
BIG_INT = 2**80


def value_strategy(dt: list[Any], target: Any) -> st.SearchStrategy[Any]:
    kind = dt[0]
    if isinstance(target, type) and issubclass(target, enum.Enum):
        return st.sampled_from(list(target))
    if kind == "nbit":
        return st.integers(dt[1], dt[2])
    if kind == "uint":
        return st.integers(dt[1] if dt[1] is not None else 0,
                           dt[2] if dt[2] is not None else BIG_INT)
    if kind == "int":
        return st.integers(dt[1] if dt[1] is not None else -BIG_INT,
                           dt[2] if dt[2] is not None else BIG_INT)
    if kind == "bool":
        return st.booleans()
    if kind == "str":
        chars = st.characters(blacklist_categories=("Cs", "Cc"))  # XML-representable
        mx = min(dt[2] if dt[2] is not None else STRING_CAP, STRING_CAP)
        short = st.text(chars, min_size=min(dt[1], mx), max_size=mx)
        if dt[2] is not None and dt[2] <= 64:
            return short | st.text(chars, min_size=dt[2], max_size=dt[2])  # at the facet
        return short
    if kind in ("hex", "b64"):
        mx = min(dt[2] if dt[2] is not None else BINARY_CAP, BINARY_CAP)
        return st.binary(min_size=min(dt[1], mx), max_size=mx)
    raise ValueError(kind)


def class_strategy(mod: ModuleType, cls: type, depth: int = 0) -> st.SearchStrategy[Any]:
    kwargs: dict[str, st.SearchStrategy[Any]] = {}
    for pyname, kind, _uri, _local, target, repeated, optional, dt in mod.FIELDS[cls]:
        if kind == "content":
            kwargs[pyname] = st.just([])
            continue
        if kind == "subst":
            members = [m for m, _u, _l in target if mod.FIELDS.get(m) is not None]
            inner: st.SearchStrategy[Any] = st.one_of(
                [st.deferred(lambda m=m: class_strategy(mod, m, depth + 1)) for m in members])
        elif dt is None:
            inner = st.deferred(lambda t=target: class_strategy(mod, t, depth + 1))
        else:
            inner = value_strategy(dt, target)
        if repeated:
            mn, mx = mod.OCCURS[(cls, pyname)]
            cap = LIST_CAP if mx is None else min(mx, LIST_CAP)
            kwargs[pyname] = st.lists(inner, min_size=mn, max_size=max(cap, mn)) | st.lists(
                inner, min_size=max(cap, mn), max_size=max(cap, mn))
        elif optional:
            kwargs[pyname] = st.none() | inner
        else:
            kwargs[pyname] = inner
    return st.builds(cls, **kwargs)

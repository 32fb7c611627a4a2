"""Typed message objects <-> element trees, driven by the generated ``FIELDS`` tables."""

from __future__ import annotations

import enum
from typing import Any

from exi._tree import Element, Value
from exi.errors import DecodeError, EncodeError

FieldsTable = dict[type, tuple[tuple[Any, ...], ...]]


def to_tree(fields: FieldsTable, obj: object, qname: tuple[str, str], path: str) -> Element:
    spec = fields.get(type(obj))
    if spec is None:
        raise EncodeError(f"{type(obj).__name__} is not a message class of this schema",
                          field=path)
    node = Element(qname)
    for pyname, kind, uri, local, target, repeated, optional, _dt in spec:
        value = getattr(obj, pyname)
        if value is None:
            if not optional and kind != "value":
                raise EncodeError("required field is None", field=f"{path}/{local}")
            continue
        if kind == "attr":
            node.attrs.append(((uri, local), _scalar(value)))
        elif kind == "content":
            for item in value:
                if not isinstance(item, Element):
                    raise EncodeError("generic content items must be exi.Element trees",
                                      field=f"{path}/content")
                node.children.append(item)
        elif kind == "value":
            node.value = _scalar(value)
        else:
            items = value if repeated else [value]
            if repeated and not isinstance(value, list):
                raise EncodeError("expected a list", field=f"{path}/{local}")
            for item in items:
                if kind == "subst":
                    q = _member_qname(target, item, f"{path}/{local}")
                    node.children.append(to_tree(fields, item, q, f"{path}/{q[1]}"))
                elif target is not None and isinstance(target, type) and not issubclass(
                        target, enum.Enum):
                    node.children.append(to_tree(fields, item, (uri, local), f"{path}/{local}"))
                else:
                    node.children.append(Element((uri, local), value=_scalar(item)))
    return node


def _member_qname(members: tuple[tuple[type, str, str], ...], item: object,
                  path: str) -> tuple[str, str]:
    for cls, uri, local in members:
        if type(item) is cls:
            return (uri, local)
    raise EncodeError(f"{type(item).__name__} is not a member of this substitution group",
                      field=path)


def _scalar(v: object) -> Value:
    if isinstance(v, enum.Enum):
        return str(v.value)
    if isinstance(v, bool | int | bytes | str):
        return v
    if isinstance(v, bytearray):
        return bytes(v)
    raise EncodeError(f"unsupported value {v!r}", field="?")


OccursTable = dict[tuple[type, str], tuple[int, int | None]]


def from_tree(fields: FieldsTable, cls: type, node: Element,
              occurs: OccursTable | None = None) -> Any:
    """Typed object of a decoded tree; with ``occurs``, maxOccurs is enforced too (the
    lenient reference-grammar decode path does not enforce it in the grammar)."""
    spec = fields[cls]
    kwargs: dict[str, Any] = {}
    by_local: dict[str, tuple[Any, ...]] = {}
    for f in spec:
        pyname, kind, uri, local, target, repeated, _optional, _dt = f
        if repeated:
            kwargs[pyname] = []
        if kind == "subst":
            for mcls, _muri, mlocal in target:
                by_local[mlocal] = (*f[:4], mcls, *f[5:])
        elif kind == "elem":
            by_local[local] = f
        elif kind == "content":
            kwargs[pyname] = list(node.children)
            return _construct(cls, _finish_attrs(spec, node, kwargs))
        elif kind == "attr":
            for (_auri, alocal), v in node.attrs:
                if alocal == local:
                    kwargs[pyname] = _typed(target, v)
        else:
            kwargs[pyname] = _typed(target, node.value if node.value is not None else "")
    for child in node.children:
        cf = by_local.get(child.qname[1])
        if cf is None:
            raise DecodeError(f"unexpected element {child.qname[1]} for {cls.__name__}",
                              bit_position=-1, state=cls.__name__)
        pyname, kind, _uri, _local, target, repeated, _o, dt = cf
        if isinstance(target, type) and not issubclass(target, enum.Enum):
            val = from_tree(fields, target, child, occurs)
        else:
            raw = child.value
            if raw is None:
                raw = b"" if dt is not None and dt[0] in ("hex", "b64") else ""
            val = _typed(target, raw)
        if repeated:
            kwargs[pyname].append(val)
            if occurs is not None:
                mx = occurs.get((cls, pyname), (0, None))[1]
                if mx is not None and len(kwargs[pyname]) > mx:
                    raise DecodeError(f"more than maxOccurs={mx} {pyname} elements",
                                      bit_position=-1, state=cls.__name__)
        else:
            kwargs[pyname] = val
    return _construct(cls, kwargs)


def _construct(cls: type, kwargs: dict[str, Any]) -> Any:
    try:
        return cls(**kwargs)
    except TypeError as exc:  # a required field is missing
        raise DecodeError(f"incomplete {cls.__name__}: {exc}", bit_position=-1,
                          state=cls.__name__) from exc


def _typed(target: Any, v: Value) -> Any:
    if target is not None and isinstance(target, type) and issubclass(target, enum.Enum):
        try:
            return target(v)
        except ValueError as exc:
            raise DecodeError(f"{v!r} is not a {target.__name__}", bit_position=-1,
                              state=target.__name__) from exc
    return v


def _finish_attrs(spec: tuple[tuple[Any, ...], ...], node: Element,
                  kwargs: dict[str, Any]) -> dict[str, Any]:
    for pyname, kind, _uri, local, target, _r, _o, _dt in spec:
        if kind == "attr":
            for (_auri, alocal), v in node.attrs:
                if alocal == local:
                    kwargs[pyname] = _typed(target, v)
    return kwargs

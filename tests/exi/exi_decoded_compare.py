"""Compare a decoded tree with the third-party ``decoded`` field of real_world vectors.

The vectors come with decodings in several formats (OpenV2G-style flat JSON from pyPLC,
EVerest nested JSON, tux-evse scenario JSON, an XML snippet, assertion text). Each is
reduced to (leaf name, value) pairs; a pair whose name is one of our element/attribute
names must match one of our values for that name (after lexical normalisation: hex and
case, booleans as 1/0, enumerations by index). Pairs with names we do not have (tool
bookkeeping such as ``msgName``, renamed fields such as tux-evse's ``rcode``) only count
as matched when their value occurs somewhere in the decoding; otherwise they are skipped.
"""

from __future__ import annotations

import json
import re
from typing import Any

from exi._codec import Element, SchemaGrammar

META_KEYS = {"msgname", "info", "error", "result", "schema", "g_errn", "debug", "msgid",
             "proto", "tagid", "arraylen", "byteslen", "charlen"}


def expected_leaves(decoded: str) -> list[tuple[str, str]]:
    text = decoded.strip()
    out: list[tuple[str, str]] = []
    if text.startswith("{"):
        try:
            obj = json.loads(text)
        except json.JSONDecodeError:
            return out
        _walk(obj, "", out)
    elif text.startswith("<"):
        for name, val in re.findall(r"<(?:\w+:)?(\w+)>([^<]*)</", text):
            out.append((name, val))
    else:
        for part in text.split(";"):
            if "=" in part:
                k, v = part.split("=", 1)
                out.append((k.strip(), v.strip()))
    unused = {k[: -len("_isUsed")] for k, v in out if k.endswith("_isUsed") and v == "0"}
    result = []
    for k, v in out:
        key = k.split(".")[-1]
        if key.lower() in META_KEYS or key.endswith("isUsed"):
            continue
        if any(k == u or k.startswith(u + ".") for u in unused):
            continue  # the tool prints placeholders for absent optional elements
        result.append((k, v))
    return result


def _walk(obj: Any, key: str, out: list[tuple[str, str]]) -> None:
    if isinstance(obj, dict):
        for k, v in obj.items():
            _walk(v, k, out)
    elif isinstance(obj, list):
        for v in obj:
            _walk(v, key, out)
    elif isinstance(obj, bool):
        out.append((key, "true" if obj else "false"))
    elif obj is not None:
        out.append((key, str(obj)))


def _norm(v: str) -> str:
    v = v.strip().lower()
    m = re.fullmatch(r"\[([0-9a-f]{2}(?:,[0-9a-f]{2})*)\]", v)
    if m:
        return m.group(1).replace(",", "")
    return v


def our_leaves(g: SchemaGrammar, root: Element,
               parent: str | None = None) -> dict[str, set[str]]:
    """Local name -> normalised lexical values (plus enum indexes as digits).

    With ``parent``, only the direct children/attributes of elements named parent
    (case-insensitive)."""
    enum_index: dict[str, int] = {}
    for dt in g.datatypes:
        if dt[0] == "enum":
            for i, val in enumerate(dt[2]):
                enum_index.setdefault(str(val).lower(), i)
    out: dict[str, set[str]] = {}
    for e in root.iter():
        if parent is not None:
            if e.qname[1].lower() != parent.lower():
                continue
            items: list[tuple[str, object]] = [(q[1], v) for q, v in e.attrs]
            items += [(c.qname[1], c.value if c.value is not None else "")
                      for c in e.children if not c.children]
        else:
            items = [(q[1], v) for q, v in e.attrs]
            if e.value is not None:
                items.append((e.qname[1], e.value))
            elif not e.children:
                items.append((e.qname[1], ""))
        for name, v in items:
            vals = out.setdefault(name, set())
            s = _norm(str(v))
            vals.add(s)
            if s == "true":
                vals.add("1")
            if s == "false":
                vals.add("0")
            if s in enum_index:
                vals.add(str(enum_index[s]))
    return out


def compare(g: SchemaGrammar, root: Element, decoded: str) -> tuple[int, list[str]]:
    """(number of matched pairs, list of mismatch descriptions)."""
    ours = our_leaves(g, root)
    all_values = set().union(*ours.values()) if ours else set()
    matched = 0
    bad: list[str] = []
    names = {e.qname[1].lower() for e in root.iter()}
    for path, val in expected_leaves(decoded):
        nv = _norm(val)
        if "." in path:
            parent, key = path.split(".")[-2:]
            if parent.lower() not in names:
                continue  # optional parent absent: the tool printed its placeholder
            scoped = our_leaves(g, root, parent)
            if key not in scoped:
                continue
            if nv in scoped[key]:
                matched += 1
            else:
                bad.append(f"{path}: expected {val!r}, decoded {sorted(scoped[key])}")
            continue
        key = path
        if key in ours:
            if nv in ours[key]:
                matched += 1
            else:
                bad.append(f"{key}: expected {val!r}, decoded {sorted(ours[key])}")
        elif nv and nv in all_values:
            matched += 1
    return matched, bad

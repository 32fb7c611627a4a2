"""Generate typed message classes (frozen slotted dataclasses + enums) from a schema set.

Naming is one-to-one with the schema: a named complex type ``CurrentDemandResType``
becomes the class ``CurrentDemandResType``; an element with an anonymous type
(``V2G_Message``, ``supportedAppProtocolReq``) gives its element name to the class;
fields carry the element/attribute local names verbatim. Simple content is the field
``value``. Content models whose child order cannot be rebuilt from named fields
(wildcards, repeated choice groups, as in parts of xmldsig) keep their children in
``content: list[exi.Element]`` (raw element trees).
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass

from exi._gen.grammar import datatype_descriptor
from exi._gen.xsd import ComplexType, ElementDecl, Particle, SchemaError, SchemaSet, SimpleType


@dataclass
class _Field:
    name: str
    kind: str  # attr | elem | subst | value
    decls: list[ElementDecl]
    simple: SimpleType | None
    complex_: ComplexType | None
    optional: bool
    repeated: bool
    uri: str
    max_occurs: int | None
    min_occurs: int = 1


class _Gen:
    def __init__(self, schema: SchemaSet) -> None:
        self.schema = schema
        self.class_names: dict[int, str] = {}
        self.enum_names: dict[str, str] = {}  # repr(enum values+name) -> class name
        self.enums: list[tuple[str, list[str]]] = []
        self.order: list[ComplexType] = []
        self.used_names: set[str] = set()

    def class_for(self, ct: ComplexType, hint: str) -> str:
        if id(ct) in self.class_names:
            return self.class_names[id(ct)]
        name = _ident(ct.qname[1] if ct.qname else hint)
        base = name
        i = 2
        while name in self.used_names:
            name = f"{base}{i}"
            i += 1
        self.used_names.add(name)
        self.class_names[id(ct)] = name
        self.order.append(ct)
        if ct.particle is not None:
            self.schema.fix_refs(ct.particle)
            for f in self.fields_of(ct) or []:
                for d in f.decls:
                    if isinstance(d.resolved, ComplexType):
                        self.class_for(d.resolved, d.qname[1])
        return name

    def enum_for(self, st: SimpleType) -> str:
        assert st.enumeration is not None
        key = repr((st.name, st.enumeration))
        if key in self.enum_names:
            return self.enum_names[key]
        name = _ident(st.name)
        base = name
        i = 2
        while name in self.used_names:
            name = f"{base}{i}"
            i += 1
        self.used_names.add(name)
        self.enum_names[key] = name
        self.enums.append((name, list(st.enumeration)))
        return name

    def fields_of(self, ct: ComplexType) -> list[_Field] | None:
        """Named fields, or None when the content needs the generic ``content`` list."""
        out: list[_Field] = []
        for a in ct.attributes:
            out.append(_Field(a.qname[1], "attr", [], a.type, None, not a.required, False,
                              a.qname[0], 1))
        if ct.content == "simple":
            out.append(_Field("value", "value", [], ct.simple, None, False, False, "", 1))
            return out
        if ct.particle is None:
            return out
        flat: list[tuple[Particle, bool, bool]] = []
        if not _flatten(ct.particle, False, False, flat):
            out.append(_Field("content", "content", [], None, None, True, True, "", None))
            return out
        for p, opt, rep in flat:
            assert p.element is not None
            decl = p.element
            members = self.schema.substitution_members(decl)
            optional = opt or p.min_occurs == 0
            repeated = rep or p.max_occurs is None or p.max_occurs > 1
            kind = "subst" if len(members) > 1 else "elem"
            t = decl.resolved
            out.append(_Field(decl.qname[1], kind, members,
                              t if isinstance(t, SimpleType) else None,
                              t if isinstance(t, ComplexType) else None,
                              optional, repeated, decl.qname[0],
                              p.max_occurs if not rep else None,
                              0 if optional else p.min_occurs))
        names = [f.name for f in out]
        if len(set(names)) != len(names):
            return None
        return out


def _fragment_classes(schema: SchemaSet, g: _Gen) -> list[tuple[tuple[str, str], str]]:
    """Fragment elements with complex types, choosing the type as the grammar does."""
    by_q: dict[tuple[str, str], list[ElementDecl]] = {}
    for d in list(schema.elements.values()) + schema.local_elements:
        by_q.setdefault(d.qname, []).append(d)
    out: list[tuple[tuple[str, str], str]] = []
    seen_local: set[str] = set()
    for q in sorted(by_q, key=lambda q: (q[1], q[0])):
        complex_types = {id(d.resolved): d.resolved for d in by_q[q]
                         if isinstance(d.resolved, ComplexType)}
        types = {id(d.resolved) for d in by_q[q]}
        if len(complex_types) != 1 or q[1] in seen_local:
            continue
        if len(types) > 1 and len(complex_types) != 1:
            continue
        ct = next(iter(complex_types.values()))
        if id(ct) in g.class_names:
            seen_local.add(q[1])
            out.append((q, g.class_names[id(ct)]))
    return out


def _concrete(decls: list[ElementDecl]) -> list[ElementDecl]:
    """Members the typed API may encode: the non-abstract element declarations.

    The grammars still list abstract members, as the reference codec does. Elements
    whose *type* is abstract stay allowed: a real DIN charger sends ``<SASchedules/>``
    (type ``SASchedulesType``, abstract) and its bytes must re-encode identically.
    """
    out = [d for d in decls if not d.abstract]
    return out or decls


def _flatten(p: Particle, opt: bool, rep: bool, out: list[tuple[Particle, bool, bool]]) -> bool:
    if p.kind == "any":
        return False
    if p.kind == "element":
        out.append((p, opt, rep))
        return True
    grp_rep = p.max_occurs is None or p.max_occurs > 1
    if grp_rep and len(p.children) > 1:
        return False
    grp_opt = opt or p.min_occurs == 0
    for c in p.children:
        child_opt = grp_opt or p.kind == "choice"
        if not _flatten(c, child_opt, rep or grp_rep, out):
            return False
    return True


def _ident(s: str) -> str:
    s = re.sub(r"[^0-9A-Za-z_]", "_", s)
    if not s or s[0].isdigit():
        s = "_" + s
    if keyword.iskeyword(s):
        s += "_"  # PEP 8: trailing underscore for keyword clashes (enum value "None")
    return s


def _py_scalar(st: SimpleType) -> str:
    d = datatype_descriptor(st)
    return {"nbit": "int", "uint": "int", "int": "int", "bool": "bool", "hex": "bytes",
            "b64": "bytes", "str": "str"}[d[0]]


def render_models(name: str, schema: SchemaSet) -> str:
    return render_models_gen(name, schema)[0]


def render_models_gen(name: str, schema: SchemaSet) -> tuple[str, _Gen]:
    g = _Gen(schema)
    roots: list[tuple[ElementDecl, str]] = []
    for decl in sorted(schema.elements.values(), key=lambda d: (d.qname[1], d.qname[0])):
        if isinstance(decl.resolved, ComplexType):
            roots.append((decl, g.class_for(decl.resolved, decl.qname[1])))
    lines: list[str] = []
    cls_lines: list[str] = []
    meta: list[str] = []
    occurs: list[str] = []
    for ct in g.order:
        cname = g.class_names[id(ct)]
        fields = g.fields_of(ct)
        doc = f"{'type ' + ct.qname[1] if ct.qname else 'anonymous type of ' + cname}"
        cls_lines.append("")
        cls_lines.append("")
        cls_lines.append("@dataclass(frozen=True, slots=True, kw_only=True)")
        cls_lines.append(f"class {cname}:")
        cls_lines.append(f'    """Schema {doc}."""')
        assert fields is not None
        if not fields:
            meta.append(f"    {cname}: (),")
            continue
        cls_lines.append("")
        specs: list[str] = []
        for f in fields:
            if f.kind == "content":
                cls_lines.append("    content: list[Element] = field(default_factory=list)")
                specs.append("        ('content', 'content', '', '', None, True, True, None),")
                continue
            if f.simple is not None:
                if f.simple.enumeration is not None:
                    base = g.enum_for(f.simple)
                    target = base
                else:
                    base = _py_scalar(f.simple)
                    target = "None"
            elif f.kind == "subst":
                classes = []
                for m in _concrete(f.decls):
                    if isinstance(m.resolved, ComplexType):
                        classes.append(g.class_for(m.resolved, m.qname[1]))
                    else:
                        raise SchemaError(f"simple-typed substitution member {m.qname}")
                base = " | ".join(dict.fromkeys(classes))
                target = "None"
            else:
                assert f.complex_ is not None
                base = g.class_for(f.complex_, f.name)
                target = base
            if f.repeated:
                occurs.append(f"    ({cname}, {_ident(f.name)!r}): "
                              f"({f.min_occurs}, {f.max_occurs!r}),")
                ann = f"list[{base}]"
                default = " = field(default_factory=list)"
            elif f.optional:
                ann = f"{base} | None"
                default = " = None"
            else:
                ann = base
                default = ""
            cls_lines.append(f"    {_ident(f.name)}: {ann}{default}")
            if f.kind == "subst":
                mem = ", ".join(
                    f"({g.class_for(m.resolved, m.qname[1])}, {m.qname[0]!r}, {m.qname[1]!r})"
                    for m in _concrete(f.decls) if isinstance(m.resolved, ComplexType))
                target = f"({mem},)"
            dt = repr(datatype_descriptor(f.simple)) if f.simple is not None else "None"
            specs.append(
                f"        ({_ident(f.name)!r}, {f.kind!r}, {f.uri!r}, {f.name!r}, {target}, "
                f"{f.repeated!r}, {f.optional!r}, {dt}),")
        meta.append(f"    {cname}: (\n" + "\n".join(specs) + "\n    ),")
    lines.append(f'"""Generated by exi.generate: typed messages of schema set {name!r}.')
    lines.append("")
    lines.append("Do not edit. Field names are the schema's element/attribute local names.")
    lines.append('"""')
    lines.append("")
    lines.append("from __future__ import annotations")
    lines.append("")
    lines.append("import enum")
    lines.append("from dataclasses import dataclass, field")
    lines.append("from typing import Any")
    lines.append("")
    lines.append("from exi._codec import Element")
    for ename, values in g.enums:
        lines.append("")
        lines.append("")
        lines.append(f"class {ename}(enum.Enum):")
        lines.append(f'    """Schema enumeration {ename}."""')
        lines.append("")
        seen: set[str] = set()
        for v in values:
            member = _ident(v)
            while member in seen:
                member += "_"
            seen.add(member)
            lines.append(f"    {member} = {v!r}")
    lines.extend(cls_lines)
    lines.append("")
    lines.append("")
    lines.append("# (field, kind, uri, local, class/enum/members, repeated, optional, datatype)")
    lines.append("FIELDS: dict[type, tuple[tuple[Any, ...], ...]] = {")
    lines.extend(meta)
    lines.append("}")
    lines.append("")
    lines.append("# Repeated fields: (class, field) -> (minOccurs, maxOccurs or None)")
    lines.append("OCCURS: dict[tuple[type, str], tuple[int, int | None]] = {")
    lines.extend(occurs)
    lines.append("}")
    lines.append("")
    lines.append("# Global elements with complex types: local name -> (uri, class)")
    lines.append("ELEMENTS: dict[str, tuple[str, type]] = {")
    for decl, cname in roots:
        lines.append(f"    {decl.qname[1]!r}: ({decl.qname[0]!r}, {cname}),")
    lines.append("}")
    lines.append("")
    lines.append("# Every element a fragment may start with (global and local, EXI 1.0 §8.5.2)")
    lines.append("# that has a message class: local name -> (uri, class)")
    lines.append("FRAGMENTS: dict[str, tuple[str, type]] = {")
    for q, cname in _fragment_classes(schema, g):
        lines.append(f"    {q[1]!r}: ({q[0]!r}, {cname}),")
    lines.append("}")
    names = sorted(g.class_names.values()) + sorted(e for e, _ in g.enums)
    lines.append("")
    lines.append("__all__ = [")
    for n in names:
        lines.append(f"    {n!r},")
    lines.append("]")
    return "\n".join(lines) + "\n", g

"""Minimal XML Schema reader: just the constructs the V2G XSDs use.

Only the generator imports this module; the runtime codec never parses XSDs.
Anything outside the supported subset raises ``SchemaError`` so that a new schema
construct can never be silently mis-translated into wrong event codes.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

XS = "http://www.w3.org/2001/XMLSchema"
QName = tuple[str, str]  # (namespace uri, local name)


class SchemaError(Exception):
    """The XSD uses a construct the generator does not translate."""


@dataclass
class SimpleType:
    """Resolved simple type: the builtin it derives from plus accumulated facets."""

    name: str  # for messages / generated code
    builtin: str  # local name of the primitive-ish builtin (string, integer, ...)
    enumeration: list[str] | None = None
    min_inclusive: int | None = None
    max_inclusive: int | None = None
    min_length: int | None = None
    max_length: int | None = None
    length: int | None = None
    qname: QName | None = None


@dataclass
class AttributeUse:
    qname: QName
    type: SimpleType
    required: bool


@dataclass
class Particle:
    kind: str  # "element" | "any" | "sequence" | "choice"
    min_occurs: int = 1
    max_occurs: int | None = 1  # None = unbounded
    element: ElementDecl | None = None
    children: list[Particle] = field(default_factory=list)
    namespaces: list[str] | None = None  # for "any": None = any namespace (##any/##other)


@dataclass
class ComplexType:
    name: str
    qname: QName | None
    attributes: list[AttributeUse] = field(default_factory=list)
    content: str = "empty"  # "empty" | "simple" | "element"
    particle: Particle | None = None
    simple: SimpleType | None = None
    mixed: bool = False
    abstract: bool = False
    base: QName | None = None


@dataclass(eq=False)
class ElementDecl:
    qname: QName
    type_ref: QName | None = None
    anon_type: ComplexType | SimpleType | None = None
    abstract: bool = False
    nillable: bool = False
    subst_head: QName | None = None
    is_global: bool = False
    resolved: ComplexType | SimpleType | None = None


# Value bounds of the integer builtins (XML Schema Part 2 §3.3).
INT_BOUNDS: dict[str, tuple[int | None, int | None]] = {
    "integer": (None, None),
    "long": (-(2**63), 2**63 - 1),
    "int": (-(2**31), 2**31 - 1),
    "short": (-(2**15), 2**15 - 1),
    "byte": (-128, 127),
    "nonNegativeInteger": (0, None),
    "positiveInteger": (1, None),
    "nonPositiveInteger": (None, 0),
    "negativeInteger": (None, -1),
    "unsignedLong": (0, 2**64 - 1),
    "unsignedInt": (0, 2**32 - 1),
    "unsignedShort": (0, 2**16 - 1),
    "unsignedByte": (0, 255),
}
STRING_BUILTINS = {
    "string", "normalizedString", "token", "anyURI", "ID", "IDREF", "NCName", "Name",
    "language", "NMTOKEN", "anySimpleType",
}
OTHER_BUILTINS = {"boolean", "hexBinary", "base64Binary"}


class SchemaSet:
    """All components reachable from one root XSD file (imports followed)."""

    def __init__(self, root_path: str) -> None:
        self.elements: dict[QName, ElementDecl] = {}
        self.complex_types: dict[QName, ET.Element] = {}
        self.simple_types: dict[QName, ET.Element] = {}
        self._ctx: dict[int, tuple[dict[str, str], str, bool, bool]] = {}
        self._resolved_ct: dict[QName, ComplexType] = {}
        self._resolved_st: dict[QName, SimpleType] = {}
        self.local_elements: list[ElementDecl] = []
        self._loaded: set[str] = set()
        self._load(os.path.abspath(root_path))
        for decl in list(self.elements.values()):
            self._resolve_element(decl)

    # -- loading -------------------------------------------------------------
    def _load(self, path: str) -> None:
        if path in self._loaded:
            return
        self._loaded.add(path)
        nsmap: dict[str, str] = {}
        for _ev, item in ET.iterparse(path, events=("start-ns",)):
            prefix, uri = item
            nsmap.setdefault(prefix, uri)
        root = ET.parse(path).getroot()
        tns = root.get("targetNamespace", "")
        efq = root.get("elementFormDefault") == "qualified"
        afq = root.get("attributeFormDefault") == "qualified"
        for node in root.iter():
            self._ctx[id(node)] = (nsmap, tns, efq, afq)
        self._roots_keep = getattr(self, "_roots_keep", [])
        self._roots_keep.append(root)
        for child in root:
            tag = _local(child.tag)
            if tag in ("import", "include"):
                loc = child.get("schemaLocation")
                if loc:
                    self._load(os.path.normpath(os.path.join(os.path.dirname(path), loc)))
            elif tag == "element":
                decl = self._element_decl(child, is_global=True)
                self.elements[decl.qname] = decl
            elif tag == "complexType":
                self.complex_types[(tns, child.get("name", ""))] = child
            elif tag == "simpleType":
                self.simple_types[(tns, child.get("name", ""))] = child
            elif tag in ("annotation",):
                continue
            else:
                raise SchemaError(f"unsupported top-level {tag} in {path}")

    def _qn(self, node: ET.Element, value: str) -> QName:
        nsmap = self._ctx[id(node)][0]
        if ":" in value:
            prefix, local = value.split(":", 1)
            return (nsmap[prefix], local)
        return (nsmap.get("", ""), value)

    def _element_decl(self, node: ET.Element, *, is_global: bool) -> ElementDecl:
        _nsmap, tns, efq, _afq = self._ctx[id(node)]
        form = node.get("form")
        qualified = is_global or (form == "qualified") or (form is None and efq)
        decl = ElementDecl(
            qname=(tns if qualified else "", node.get("name", "")),
            abstract=node.get("abstract") == "true",
            nillable=node.get("nillable") == "true",
            is_global=is_global,
        )
        if node.get("type"):
            decl.type_ref = self._qn(node, node.get("type", ""))
        if node.get("substitutionGroup"):
            decl.subst_head = self._qn(node, node.get("substitutionGroup", ""))
        for child in node:
            tag = _local(child.tag)
            if tag == "complexType":
                decl.anon_type = self._complex(child, f"{decl.qname[1]}", None)
            elif tag == "simpleType":
                decl.anon_type = self._simple(child, f"{decl.qname[1]}", None)
        return decl

    # -- types ---------------------------------------------------------------
    def resolve_type(self, qn: QName) -> ComplexType | SimpleType:
        if qn[0] == XS:
            if qn[1] == "anyType":
                raise SchemaError("xs:anyType content is not supported")
            return _builtin_simple(qn[1])
        if qn in self._resolved_ct:
            return self._resolved_ct[qn]
        if qn in self._resolved_st:
            return self._resolved_st[qn]
        if qn in self.complex_types:
            ct = self._complex(self.complex_types[qn], qn[1], qn)
            self._resolved_ct[qn] = ct
            return ct
        if qn in self.simple_types:
            st = self._simple(self.simple_types[qn], qn[1], qn)
            self._resolved_st[qn] = st
            return st
        raise SchemaError(f"unknown type {qn}")

    def _simple(self, node: ET.Element, name: str, qn: QName | None) -> SimpleType:
        for child in node:
            tag = _local(child.tag)
            if tag == "annotation":
                continue
            if tag != "restriction":
                raise SchemaError(f"unsupported simpleType {tag} in {name}")
            return self._restriction(child, name, qn)
        raise SchemaError(f"empty simpleType {name}")

    def _restriction(self, node: ET.Element, name: str, qn: QName | None) -> SimpleType:
        base_q = self._qn(node, node.get("base", ""))
        base = self.resolve_type(base_q)
        if not isinstance(base, SimpleType):
            raise SchemaError(f"simple restriction of complex type in {name}")
        st = SimpleType(
            name=name, builtin=base.builtin, enumeration=base.enumeration,
            min_inclusive=base.min_inclusive, max_inclusive=base.max_inclusive,
            min_length=base.min_length, max_length=base.max_length, length=base.length, qname=qn,
        )
        enums: list[str] = []
        for f in node:
            tag = _local(f.tag)
            val = f.get("value", "")
            if tag == "enumeration":
                enums.append(val)
            elif tag == "minInclusive":
                st.min_inclusive = _max_opt(st.min_inclusive, int(val))
            elif tag == "maxInclusive":
                st.max_inclusive = _min_opt(st.max_inclusive, int(val))
            elif tag == "minExclusive":
                st.min_inclusive = _max_opt(st.min_inclusive, int(val) + 1)
            elif tag == "maxExclusive":
                st.max_inclusive = _min_opt(st.max_inclusive, int(val) - 1)
            elif tag == "minLength":
                st.min_length = int(val)
            elif tag == "maxLength":
                st.max_length = int(val)
            elif tag == "length":
                st.length = int(val)
            elif tag in ("annotation", "whiteSpace"):
                continue
            elif tag == "pattern":
                raise SchemaError(f"pattern facet (restricted character set) in {name}")
            else:
                raise SchemaError(f"unsupported facet {tag} in {name}")
        if enums:
            st.enumeration = enums
        return st

    def _complex(self, node: ET.Element, name: str, qn: QName | None) -> ComplexType:
        ct = ComplexType(name=name, qname=qn, mixed=node.get("mixed") == "true",
                         abstract=node.get("abstract") == "true")
        for child in node:
            tag = _local(child.tag)
            if tag == "annotation":
                continue
            if tag in ("sequence", "choice"):
                ct.particle = self._particle(child)
                ct.content = "element"
            elif tag == "attribute":
                ct.attributes.append(self._attribute(child))
            elif tag == "complexContent":
                if child.get("mixed") == "true":
                    ct.mixed = True
                self._complex_content(child, ct)
            elif tag == "simpleContent":
                self._simple_content(child, ct)
            else:
                raise SchemaError(f"unsupported {tag} in complexType {name}")
        if ct.content == "element" and ct.particle is not None and _is_empty_particle(ct.particle):
            ct.content = "empty"
            ct.particle = None
        return ct

    def _complex_content(self, node: ET.Element, ct: ComplexType) -> None:
        for der in node:
            tag = _local(der.tag)
            if tag == "annotation":
                continue
            base_q = self._qn(der, der.get("base", ""))
            ct.base = base_q
            own: Particle | None = None
            own_attrs: list[AttributeUse] = []
            for c in der:
                ctag = _local(c.tag)
                if ctag in ("sequence", "choice"):
                    own = self._particle(c)
                elif ctag == "attribute":
                    own_attrs.append(self._attribute(c))
                elif ctag == "annotation":
                    continue
                else:
                    raise SchemaError(f"unsupported {ctag} in derivation of {ct.name}")
            if tag == "extension":
                base = self.resolve_type(base_q)
                if not isinstance(base, ComplexType):
                    raise SchemaError(f"complexContent extension of simple type in {ct.name}")
                ct.attributes = list(base.attributes) + own_attrs
                parts = [p for p in (base.particle, own) if p is not None]
                if not parts:
                    ct.content = "empty"
                elif len(parts) == 1:
                    ct.particle = parts[0]
                    ct.content = "element"
                else:
                    ct.particle = Particle(kind="sequence", children=parts)
                    ct.content = "element"
                ct.mixed = ct.mixed or base.mixed
            elif tag == "restriction":
                ct.attributes = own_attrs
                ct.particle = own
                ct.content = "element" if own is not None else "empty"
            else:
                raise SchemaError(f"unsupported complexContent {tag} in {ct.name}")

    def _simple_content(self, node: ET.Element, ct: ComplexType) -> None:
        for der in node:
            tag = _local(der.tag)
            if tag == "annotation":
                continue
            if tag != "extension":
                raise SchemaError(f"unsupported simpleContent {tag} in {ct.name}")
            base_q = self._qn(der, der.get("base", ""))
            base = self.resolve_type(base_q)
            if isinstance(base, ComplexType):
                if base.content != "simple" or base.simple is None:
                    raise SchemaError(f"simpleContent base without simple content in {ct.name}")
                ct.simple = base.simple
                ct.attributes = list(base.attributes)
            else:
                ct.simple = base
            ct.content = "simple"
            ct.base = base_q
            for c in der:
                if _local(c.tag) == "attribute":
                    ct.attributes.append(self._attribute(c))
                elif _local(c.tag) != "annotation":
                    raise SchemaError(f"unsupported {c.tag} in simpleContent of {ct.name}")

    def _attribute(self, node: ET.Element) -> AttributeUse:
        _nsmap, tns, _efq, afq = self._ctx[id(node)]
        if node.get("ref"):
            raise SchemaError("attribute refs are not supported")
        form = node.get("form")
        qualified = form == "qualified" or (form is None and afq)
        qn = (tns if qualified else "", node.get("name", ""))
        st: SimpleType | None = None
        if node.get("type"):
            t = self.resolve_type(self._qn(node, node.get("type", "")))
            if not isinstance(t, SimpleType):
                raise SchemaError("complex attribute type")
            st = t
        for c in node:
            if _local(c.tag) == "simpleType":
                st = self._simple(c, qn[1], None)
        if st is None:
            st = _builtin_simple("anySimpleType")
        return AttributeUse(qname=qn, type=st, required=node.get("use") == "required")

    def _particle(self, node: ET.Element) -> Particle:
        tag = _local(node.tag)
        mn = int(node.get("minOccurs", "1"))
        mx_s = node.get("maxOccurs", "1")
        mx = None if mx_s == "unbounded" else int(mx_s)
        if tag == "element":
            if node.get("ref"):
                ref = self._qn(node, node.get("ref", ""))
                return Particle(kind="element", min_occurs=mn, max_occurs=mx,
                                element=_RefPlaceholder(ref))  # type: ignore[arg-type]
            decl = self._element_decl(node, is_global=False)
            self.local_elements.append(decl)
            return Particle(kind="element", min_occurs=mn, max_occurs=mx, element=decl)
        if tag == "any":
            ns = node.get("namespace", "##any")
            if ns in ("##any", "##other"):
                nss = None
            else:
                tns = self._ctx[id(node)][1]
                nss = sorted({tns if n == "##targetNamespace" else ("" if n == "##local" else n)
                              for n in ns.split()})
            return Particle(kind="any", min_occurs=mn, max_occurs=mx, namespaces=nss)
        if tag in ("sequence", "choice"):
            kids = [self._particle(c) for c in node if _local(c.tag) != "annotation"]
            return Particle(kind=tag, min_occurs=mn, max_occurs=mx, children=kids)
        raise SchemaError(f"unsupported particle {tag}")

    # -- resolution ----------------------------------------------------------
    def _resolve_element(self, decl: ElementDecl) -> None:
        if decl.resolved is not None:
            return
        if decl.anon_type is not None:
            decl.resolved = decl.anon_type
        elif decl.type_ref is not None:
            decl.resolved = self.resolve_type(decl.type_ref)
        elif decl.subst_head is not None:
            head = self.elements[decl.subst_head]
            self._resolve_element(head)
            decl.resolved = head.resolved
        else:
            raise SchemaError(f"element {decl.qname} without type (anyType) is not supported")

    def fix_refs(self, p: Particle) -> None:
        """Replace element refs by the global declarations (after all files are loaded)."""
        elem: object = p.element
        if p.kind == "element" and isinstance(elem, _RefPlaceholder):
            p.element = self.elements[elem.ref]
        if p.kind == "element" and p.element is not None:
            self._resolve_element(p.element)
        for c in p.children:
            self.fix_refs(c)

    def substitution_members(self, head: ElementDecl) -> list[ElementDecl]:
        """Members of head's substitution group (transitively), head included.

        Abstract declarations are kept: the reference codec's grammars list them (the
        abstract ISO-2 ``BodyElement`` takes an event code in ``Body``), and the
        vectors are only byte-exact that way.
        """
        out: list[ElementDecl] = []
        todo = [head]
        seen: set[QName] = set()
        while todo:
            d = todo.pop()
            if d.qname in seen:
                continue
            seen.add(d.qname)
            out.append(d)
            for other in self.elements.values():
                if other.subst_head == d.qname:
                    todo.append(other)
        out.sort(key=lambda d: (d.qname[1], d.qname[0]))
        return out


class _RefPlaceholder:
    def __init__(self, ref: QName) -> None:
        self.ref = ref


_BUILTINS: dict[str, SimpleType] = {}


def _builtin_simple(local: str) -> SimpleType:
    """One shared object per builtin, so elements of the same builtin type share a
    grammar (and count as "the same type" for the fragment grammar, EXI 1.0 §8.5.2)."""
    if local not in _BUILTINS:
        _BUILTINS[local] = _make_builtin(local)
    return _BUILTINS[local]


def _make_builtin(local: str) -> SimpleType:
    if local in INT_BOUNDS:
        lo, hi = INT_BOUNDS[local]
        return SimpleType(name=local, builtin="integer", min_inclusive=lo, max_inclusive=hi,
                          qname=(XS, local))
    if local in STRING_BUILTINS:
        return SimpleType(name=local, builtin="string", qname=(XS, local))
    if local in OTHER_BUILTINS:
        return SimpleType(name=local, builtin=local, qname=(XS, local))
    raise SchemaError(f"unsupported builtin type xs:{local}")


def _is_empty_particle(p: Particle) -> bool:
    return p.kind in ("sequence", "choice") and all(_is_empty_particle(c) for c in p.children)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _max_opt(a: int | None, b: int) -> int:
    return b if a is None else max(a, b)


def _min_opt(a: int | None, b: int) -> int:
    return b if a is None else min(a, b)

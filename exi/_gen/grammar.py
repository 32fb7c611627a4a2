"""EXI 1.0 schema-informed grammar construction (EXI 1.0 §8.5).

Builds, for every element declaration of a schema set, the normalized element
grammar with event codes, plus the non-strict second-level productions
(§8.5.4.4.1), the Document grammar (§8.5.1) and the Fragment grammar (§8.5.2).

Construction: each type grammar is built as an epsilon-NFA (attribute uses sorted by
qname, then the content particle, Thompson style with explicit copies for bounded
maxOccurs), then normalized by subset construction (which is what §8.5.4.2
"eliminating epsilon productions" + "eliminating duplicate terminal symbols" amount to).
Productions in each state are ordered per §8.5.4.3: AT(qname) by local name then uri,
AT wildcards, SE(qname) in schema order, SE(uri:*), SE(*), EE, CH.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from exi._gen.xsd import (
    ComplexType,
    ElementDecl,
    Particle,
    QName,
    SchemaError,
    SchemaSet,
    SimpleType,
)

XSI = "http://www.w3.org/2001/XMLSchema-instance"

# Events as tuples: ("AT", qname, dt) ("SE", decl) ("SEW", uri|None) ("EE",) ("CH", dt) ("CHU",)


@dataclass
class _Node:
    prods: list[tuple[Any, int]] = field(default_factory=list)  # (event or None=eps, target)
    attr_chain: bool = False


class _NFA:
    def __init__(self) -> None:
        self.nodes: list[_Node] = []

    def new(self, attr_chain: bool = False) -> int:
        self.nodes.append(_Node(attr_chain=attr_chain))
        return len(self.nodes) - 1

    def add(self, n: int, ev: Any, target: int) -> None:
        self.nodes[n].prods.append((ev, target))


def bits_for(n: int) -> int:
    """Number of bits for an n-way choice (EXI ceil(log2 n), 0 for n <= 1)."""
    return 0 if n <= 1 else math.ceil(math.log2(n))


# exi_notes.md §2: the ISO-2 grammars precompiled into the reference codec keep the
# repeat production of lists whose maxOccurs is 16 or more once the list is full.
REFERENCE_UNBOUNDED_FROM = 16


class GrammarBuilder:
    def __init__(self, schema: SchemaSet, *, reference_lists: bool = False) -> None:
        """``reference_lists``: build the reference codec's variant of maxOccurs >= 16
        lists (used only as a lenient second try when decoding)."""
        self.schema = schema
        self.reference_lists = reference_lists
        self.qnames: list[QName] = []
        self._qidx: dict[QName, int] = {}
        self.datatypes: list[list[Any]] = []
        self._dtidx: dict[str, int] = {}
        self.states: list[dict[str, Any]] = []
        self._type_start: dict[int, int] = {}  # id(type object) -> start state
        self._pending: list[tuple[ComplexType | SimpleType, int, str]] = []
        self.types_by_start: dict[int, ComplexType | SimpleType] = {}

    # -- tables --------------------------------------------------------------
    def qname(self, q: QName) -> int:
        if q not in self._qidx:
            self._qidx[q] = len(self.qnames)
            self.qnames.append(q)
        return self._qidx[q]

    def datatype(self, st: SimpleType) -> int:
        desc = datatype_descriptor(st)
        key = repr(desc)
        if key not in self._dtidx:
            self._dtidx[key] = len(self.datatypes)
            self.datatypes.append(desc)
        return self._dtidx[key]

    # -- element grammars ----------------------------------------------------
    def grammar_for(self, decl: ElementDecl) -> int:
        """Start state of the element grammar of decl (built lazily, shared per type)."""
        t = decl.resolved
        if t is None:
            raise SchemaError(f"unresolved element {decl.qname}")
        key = id(t)
        if key in self._type_start:
            return self._type_start[key]
        start = len(self.states)
        self._type_start[key] = start
        self.states.append({})  # placeholder, filled by _build
        self.types_by_start[start] = t
        self._pending.append((t, start, t.name))
        return start

    def run(self) -> None:
        while self._pending:
            t, start, name = self._pending.pop(0)
            self._build(t, start, name)

    def _build(self, t: ComplexType | SimpleType, start: int, name: str) -> None:
        nfa = _NFA()
        if isinstance(t, SimpleType):
            attrs: list[Any] = []
            content = "simple"
            simple: SimpleType | None = t
            particle = None
            mixed = False
        else:
            attrs = sorted(t.attributes, key=lambda a: (a.qname[1], a.qname[0]))
            content = t.content
            simple = t.simple
            particle = t.particle
            mixed = t.mixed
            if particle is not None:
                self.schema.fix_refs(particle)
        chain = [nfa.new(attr_chain=True) for _ in range(len(attrs) + 1)]
        end = nfa.new()
        nfa.add(end, ("EE",), -1)
        content_nodes_from = len(nfa.nodes)
        if content == "simple":
            assert simple is not None
            c0 = nfa.new()
            nfa.add(c0, ("CH", self.datatype(simple)), end)
            cstart = c0
        elif content == "empty":
            cstart = end
        else:
            assert particle is not None
            cstart = self._particle(nfa, particle, end)
        for i, a in enumerate(attrs):
            nfa.add(chain[i], ("AT", self.qname(a.qname), self.datatype(a.type)), chain[i + 1])
            if not a.required:
                nfa.add(chain[i], None, chain[i + 1])
        nfa.add(chain[-1], None, cstart)
        if mixed:
            for n in [end, *range(content_nodes_from, len(nfa.nodes))]:
                nfa.add(n, ("CHU",), n)
        self._determinize(nfa, chain[0], start, name, n_attrs=len(attrs))

    def _particle(self, nfa: _NFA, p: Particle, nxt: int) -> int:
        if p.max_occurs == 0:
            return nxt
        unbounded = p.max_occurs is None or (
            self.reference_lists and p.max_occurs >= REFERENCE_UNBOUNDED_FROM)
        if unbounded:
            loop = nfa.new()
            body = self._term(nfa, p, loop)
            nfa.add(loop, None, body)
            nfa.add(loop, None, nxt)
            tail = loop
        else:
            assert p.max_occurs is not None
            tail = nxt
            for _ in range(p.max_occurs - p.min_occurs):
                n = nfa.new()
                body = self._term(nfa, p, tail)
                nfa.add(n, None, body)
                nfa.add(n, None, nxt)
                tail = n
        for _ in range(p.min_occurs):
            tail = self._term(nfa, p, tail)
        return tail

    def _term(self, nfa: _NFA, p: Particle, nxt: int) -> int:
        if p.kind == "element":
            assert p.element is not None
            n = nfa.new()
            for member in self.schema.substitution_members(p.element):
                nfa.add(n, ("SE", member), nxt)
            return n
        if p.kind == "any":
            n = nfa.new()
            if p.namespaces is None:
                nfa.add(n, ("SEW", None), nxt)
            else:
                for uri in p.namespaces:
                    nfa.add(n, ("SEW", uri), nxt)
            return n
        if p.kind == "sequence":
            cur = nxt
            for c in reversed(p.children):
                cur = self._particle(nfa, c, cur)
            return cur
        if p.kind == "choice":
            n = nfa.new()
            for c in p.children:
                nfa.add(n, None, self._particle(nfa, c, nxt))
            return n
        raise SchemaError(f"unsupported particle kind {p.kind}")

    def _closure(self, nfa: _NFA, seeds: list[int]) -> list[int]:
        out: list[int] = []
        seen: set[int] = set()

        def visit(n: int) -> None:
            if n in seen:
                return
            seen.add(n)
            out.append(n)
            for ev, tgt in nfa.nodes[n].prods:
                if ev is None:
                    visit(tgt)

        for s in seeds:
            visit(s)
        return out

    def _determinize(self, nfa: _NFA, first: int, start_id: int, name: str,
                     n_attrs: int) -> None:
        dfa_ids: dict[frozenset[int], int] = {}
        work: list[tuple[list[int], int]] = []

        def state_for(nodes: list[int], fixed: int | None = None) -> int:
            key = frozenset(nodes)
            if key in dfa_ids:
                return dfa_ids[key]
            if fixed is None:
                sid = len(self.states)
                self.states.append({})
            else:
                sid = fixed
            dfa_ids[key] = sid
            work.append((nodes, sid))
            return sid

        state_for(self._closure(nfa, [first]), fixed=start_id)
        local_index = 0
        while work:
            nodes, sid = work.pop(0)
            groups: dict[Any, list[int]] = {}
            order: list[Any] = []
            for n in nodes:
                for ev, tgt in nfa.nodes[n].prods:
                    if ev is None:
                        continue
                    k = _event_key(ev)
                    if k not in groups:
                        groups[k] = []
                        order.append((k, ev))
                    if tgt >= 0 and tgt not in groups[k]:
                        groups[k].append(tgt)
            prods: list[tuple[tuple[Any, ...], list[Any]]] = []
            for pos, (k, ev) in enumerate(order):
                tgts = groups[k]
                nxt = state_for(self._closure(nfa, tgts)) if tgts else -1
                prods.append((_sort_key(ev, pos), self._encode_prod(ev, nxt)))
            prods.sort(key=lambda x: x[0])
            first_level = [p for _, p in prods]
            in_attr = any(nfa.nodes[n].attr_chain for n in nodes)
            is_first = sid == start_id
            has_ee = any(p[0] == "EE" for p in first_level)
            second: list[str] = []
            if not has_ee:
                second.append("EE")
            if is_first:
                second += ["XSI_TYPE", "XSI_NIL"]
            if in_attr:
                second += ["AT_ANY", "AT_INVALID"]
            second += ["SE_ANY", "CH_UNTYPED"]
            self.states[sid] = {
                "n": f"{name}#{local_index if sid != start_id else 0}",
                "p": first_level,
                "w": bits_for(len(first_level) + 1),
                "s": second,
                "w2": bits_for(len(second)),
                "nattr": n_attrs if in_attr else 0,
            }
            local_index += 1

    def _encode_prod(self, ev: Any, nxt: int) -> list[Any]:
        kind = ev[0]
        if kind == "AT":
            return ["AT", ev[1], ev[2], nxt]
        if kind == "SE":
            decl: ElementDecl = ev[1]
            return ["SE", self.qname(decl.qname), self.grammar_for(decl), nxt]
        if kind == "SEW":
            return ["SEW", ev[1], 0, nxt]
        if kind == "EE":
            return ["EE", 0, 0, -1]
        if kind == "CH":
            return ["CH", 0, ev[1], nxt]
        if kind == "CHU":
            return ["CHU", 0, 0, nxt]
        raise SchemaError(f"bad event {ev}")


def _event_key(ev: Any) -> Any:
    if ev[0] == "SE":
        return ("SE", ev[1].qname)
    return ev


def _sort_key(ev: Any, pos: int) -> tuple[Any, ...]:
    kind = ev[0]
    if kind == "AT":
        return (0, "", "", pos)  # attribute productions are created in qname order already
    if kind == "SE":
        return (3, "", "", pos)
    if kind == "SEW":
        return (4 if ev[1] is not None else 5, "", "", pos)
    if kind == "EE":
        return (6, "", "", pos)
    return (7, "", "", pos)


def datatype_descriptor(st: SimpleType) -> list[Any]:
    """EXI datatype representation for a simple type (EXI 1.0 §7.1, Table 7-1)."""
    if st.enumeration is not None:
        return ["enum", st.builtin, list(st.enumeration)]
    if st.builtin == "boolean":
        return ["bool"]
    if st.builtin == "integer":
        lo, hi = st.min_inclusive, st.max_inclusive
        if lo is not None and hi is not None and hi - lo < 4096:
            return ["nbit", lo, hi, bits_for(hi - lo + 1)]
        if lo is not None and lo >= 0:
            return ["uint", lo, hi]
        return ["int", lo, hi]
    if st.builtin in ("hexBinary", "base64Binary"):
        mn = st.length if st.length is not None else (st.min_length or 0)
        mx = st.length if st.length is not None else st.max_length
        return ["hex" if st.builtin == "hexBinary" else "b64", mn, mx]
    if st.builtin == "string":
        mn = st.length if st.length is not None else (st.min_length or 0)
        mx = st.length if st.length is not None else st.max_length
        return ["str", mn, mx]
    raise SchemaError(f"no EXI datatype for {st.builtin}")


def build_schema_tables(schema: SchemaSet) -> dict[str, Any]:
    """All tables for one schema set: document + fragment grammars and element grammars."""
    return build(schema)[0]


def build(schema: SchemaSet, *,
          reference_lists: bool = False) -> tuple[dict[str, Any], GrammarBuilder]:
    """The tables plus the builder (which maps grammar start states to schema types)."""
    gb = GrammarBuilder(schema, reference_lists=reference_lists)
    globals_sorted = sorted(schema.elements.values(), key=lambda d: (d.qname[1], d.qname[0]))
    doc = [[gb.qname(d.qname), gb.grammar_for(d)] for d in globals_sorted]
    gb.run()
    # Fragment grammar: every element qname (global and local), once (EXI §8.5.2).
    by_q: dict[QName, list[ElementDecl]] = {}
    for d in list(schema.elements.values()) + schema.local_elements:
        by_q.setdefault(d.qname, []).append(d)
    frag: list[list[Any]] = []
    for q in sorted(by_q, key=lambda q: (q[1], q[0])):
        decls = by_q[q]
        types = {id(d.resolved) for d in decls if d.resolved is not None}
        if len(types) == 1:
            start = gb.grammar_for(decls[0])
        else:
            # Same qname, different types (ISO-2 eMAID: eMAIDType string in
            # PaymentDetailsReq, EMAIDType with Id in the certificate responses). The
            # V2G codecs (OpenV2G/cbexigen fragment tables) use the complex type, the
            # one that carries the Id a signature references, instead of EXI 1.0
            # §8.5.3's relaxed element fragment grammar.
            complex_decls = {id(d.resolved): d for d in decls
                             if isinstance(d.resolved, ComplexType)}
            start = (gb.grammar_for(next(iter(complex_decls.values())))
                     if len(complex_decls) == 1 else -1)
        frag.append([gb.qname(q), start])
    gb.run()
    return {
        "qnames": [list(q) for q in gb.qnames],
        "datatypes": gb.datatypes,
        "states": gb.states,
        "doc": doc,
        "doc_w": bits_for(len(doc) + 1),
        "frag": frag,
        "frag_w": bits_for(len(frag) + 2),
    }, gb

"""Generate straight-line Python codecs (typed objects <-> bits) per element grammar.

One decode function ``d<start>`` and one encode function ``e<start>`` per complex type
grammar, with the grammar states unrolled into ``if s == k`` blocks, event-code widths
and codes as literals and values read/written inline. Simple-typed child elements get
small helpers ``v<start>`` / ``x<start>``. Types that do not fit (wildcards, generic
content, grammars with very many states such as 1024-entry lists) are delegated to the
table interpreter in ``exi._codec`` through ``Decoder.slow`` / ``Encoder.slow``.
"""

from __future__ import annotations

from typing import Any

from exi._gen.grammar import GrammarBuilder
from exi._gen.models import _concrete, _Gen, _ident
from exi._gen.xsd import ComplexType, SimpleType

# Grammars with more states than this go through the table interpreter: the
# unrolled code would be long (a 1024-entry list has 1024 states) for rare messages.
MAX_FAST_STATES = 64


class _FastGen:
    def __init__(self, name: str, tables: dict[str, Any], gb: GrammarBuilder,
                 models: _Gen) -> None:
        self.name = name
        self.t = tables
        self.gb = gb
        self.m = models
        self.states: list[dict[str, Any]] = tables["states"]
        self.dts: list[list[Any]] = tables["datatypes"]
        self.qnames: list[list[str]] = tables["qnames"]
        self.lines: list[str] = []
        self.consts: list[str] = []
        self.fast: dict[int, bool] = {}
        self._const_ids: dict[str, str] = {}

    # -- helpers ---------------------------------------------------------------
    def const(self, expr: str) -> str:
        if expr not in self._const_ids:
            cid = f"_K{len(self._const_ids)}"
            self._const_ids[expr] = cid
            self.consts.append(f"{cid} = {expr}")
        return self._const_ids[expr]

    def own_states(self, start: int) -> list[int]:
        """States of one element grammar (reachable without entering a child)."""
        seen = [start]
        todo = [start]
        while todo:
            s = todo.pop()
            for _k, _a, _b, nxt in self.states[s]["p"]:
                if nxt >= 0 and nxt not in seen:
                    seen.append(nxt)
                    todo.append(nxt)
        return sorted(seen)

    def type_of(self, start: int) -> ComplexType | SimpleType:
        return self.gb.types_by_start[start]

    def is_fast(self, start: int, stack: tuple[int, ...] = ()) -> bool:
        if start in self.fast:
            return self.fast[start]
        t = self.type_of(start)
        if isinstance(t, SimpleType):
            self.fast[start] = True
            return True
        ok = True
        states = self.own_states(start)
        fields = self.m.fields_of(t)
        if id(t) not in self.m.class_names:
            ok = False  # only reachable inside generic content: no message class
        elif (len(states) > MAX_FAST_STATES or t.mixed or fields is None or start in stack
              or any(f.kind == "content" for f in fields)):
            ok = False
        else:
            for s in states:
                for kind, _a, b, _n in self.states[s]["p"]:
                    if kind in ("SEW", "CHU"):
                        ok = False
                    elif kind == "SE" and not self.is_fast(b, (*stack, start)):
                        pass  # a slow child is fine: it is delegated
        self.fast[start] = ok
        return ok

    def class_expr(self, t: ComplexType) -> str:
        return f"M.{self.m.class_names[id(t)]}"

    def enum_expr(self, st: SimpleType) -> str:
        assert st.enumeration is not None
        return f"M.{self.m.enum_names[repr((st.name, st.enumeration))]}"

    # -- value code ------------------------------------------------------------
    def read_expr(self, dt: list[Any], st: SimpleType | None, label: str) -> str:
        kind = dt[0]
        if kind == "nbit":
            lo, hi, n = dt[1], dt[2], dt[3]
            if (1 << n) - 1 <= hi - lo:
                return f"({lo} + r.read({n}))"
            return f"D.chk({lo} + r.read({n}), {lo}, {hi}, {label!r})"
        if kind == "bool":
            return "(r.read(1) == 1)"
        if kind in ("uint", "int"):
            call = "r.read_uint()" if kind == "uint" else "r.read_int()"
            if dt[1] is None and dt[2] is None:
                return call
            if kind == "uint" and dt[1] == 0 and dt[2] is None:
                return call
            return f"D.chk({call}, {dt[1]!r}, {dt[2]!r}, {label!r})"
        if kind == "enum":
            assert st is not None and st.enumeration is not None
            members = self.const(f"tuple({self.enum_expr(st)})")
            n = (len(dt[2]) - 1).bit_length()
            return f"r.enum({n}, {members})"
        if kind == "str":
            return f"read_str(r, {dt[2]!r})"
        if kind in ("hex", "b64"):
            return f"read_bin(r, {dt[2]!r})"
        raise ValueError(kind)

    def write_stmts(self, dt: list[Any], st: SimpleType | None, var: str, label: str,
                    ind: str) -> list[str]:
        kind = dt[0]
        if kind == "nbit":
            lo, hi, n = dt[1], dt[2], dt[3]
            return [f"{ind}if type({var}) is not int or not {lo} <= {var} <= {hi}:",
                    f"{ind}    raise out_of_range({var}, {lo}, {hi}, {label!r})",
                    f"{ind}w.write({var} - {lo}, {n})" if lo else f"{ind}w.write({var}, {n})"]
        if kind == "bool":
            return [f"{ind}if {var} is True:", f"{ind}    w.write(1, 1)",
                    f"{ind}elif {var} is False:", f"{ind}    w.write(0, 1)",
                    f"{ind}else:", f"{ind}    raise not_bool({var}, {label!r})"]
        if kind == "uint":
            return [f"{ind}w_uint(w, {var}, {dt[1]!r}, {dt[2]!r}, {label!r})"]
        if kind == "int":
            return [f"{ind}w_int(w, {var}, {dt[1]!r}, {dt[2]!r}, {label!r})"]
        if kind == "enum":
            assert st is not None and st.enumeration is not None
            idx = self.const(f"{{m: i for i, m in enumerate({self.enum_expr(st)})}}")
            n = (len(dt[2]) - 1).bit_length()
            return [f"{ind}i = {idx}.get({var})",
                    f"{ind}if i is None:",
                    f"{ind}    raise not_member({var}, {self.enum_expr(st)}, {label!r})",
                    f"{ind}w.write(i, {n})" if n else f"{ind}pass"]
        if kind == "str":
            return [f"{ind}w_str(w, {var}, {dt[1]!r}, {dt[2]!r}, {label!r})"]
        if kind in ("hex", "b64"):
            return [f"{ind}w_bin(w, {var}, {dt[1]!r}, {dt[2]!r}, {label!r})"]
        raise ValueError(kind)

    # -- simple element helpers -----------------------------------------------
    def simple_helpers(self, start: int) -> None:
        st = self.type_of(start)
        assert isinstance(st, SimpleType)
        s0 = self.states[start]
        (kind, _a, dti, s1id), = s0["p"]
        assert kind == "CH"
        s1 = self.states[s1id]
        (k1, _a1, _b1, _n1), = s1["p"]
        assert k1 == "EE"
        dt = self.dts[dti]
        label = st.name
        L = self.lines
        L.append("")
        L.append("")
        L.append(f"def v{start}(D: Decoder, r: BitReader) -> Any:")
        L.append(f"    if r.read({s0['w']}):")
        L.append(f"        return D.escape_simple({start})")
        L.append(f"    v = {self.read_expr(dt, st, label)}")
        L.append(f"    if r.read({s1['w']}):")
        L.append(f"        D.escape({s1id})")
        L.append("    return v")
        L.append("")
        L.append("")
        L.append(f"def x{start}(w: BitWriter, v: Any) -> None:")
        L.append(f"    w.write(0, {s0['w']})")
        L.extend(self.write_stmts(dt, st, "v", "", "    "))
        L.append(f"    w.write(0, {s1['w']})")

    # -- complex types ---------------------------------------------------------
    def child_decode(self, start: int, qidx: int, member_cls: str | None) -> str:
        t = self.type_of(start)
        if isinstance(t, SimpleType):
            return f"v{start}(D, r)"
        if self.is_fast(start):
            return f"d{start}(D, r)"
        return f"D.slow({qidx}, {start}, {self.class_expr(t)})"

    def child_encode(self, start: int, qidx: int, var: str) -> str:
        t = self.type_of(start)
        if isinstance(t, SimpleType):
            return f"x{start}(w, {var})"
        if self.is_fast(start):
            return f"e{start}(E, w, {var})"
        return f"E.slow({var}, {qidx}, {start})"

    def complex_codec(self, start: int) -> None:
        t = self.type_of(start)
        assert isinstance(t, ComplexType)
        fields = self.m.fields_of(t)
        assert fields is not None
        states = self.own_states(start)
        cls = self.class_expr(t)
        # map qname local -> field index (element fields; subst members too)
        fidx: dict[tuple[str, str], int] = {}
        for i, f in enumerate(fields):
            if f.kind == "elem":
                fidx[(f.uri, f.name)] = i
            elif f.kind == "subst":
                for d in f.decls:
                    fidx[d.qname] = i
            elif f.kind == "attr":
                fidx[("@" + f.uri, f.name)] = i
        value_idx = next((i for i, f in enumerate(fields) if f.kind == "value"), None)
        L = self.lines
        # ---------------- decoder
        L.append("")
        L.append("")
        L.append(f"def d{start}(D: Decoder, r: BitReader) -> Any:")
        for i, f in enumerate(fields):
            L.append(f"    f{i}: Any = {'[]' if f.repeated else 'None'}")
        L.append(f"    s = {start}")
        body_from = len(L)
        order = self.topo_order(start, states)
        acyclic = order is not None
        base = "    " if acyclic else "        "
        if acyclic:
            assert order is not None
            emit_order = order
            pass
        else:
            emit_order = states
            L.append("    while True:")
        for n, sid in enumerate(emit_order):
            st = self.states[sid]
            if acyclic:
                if n == 0:
                    ind0 = base
                else:
                    L.append(f"{base}if s == {sid}:")
                    ind0 = base + "    "
            else:
                L.append(f"{base}{'if' if n == 0 else 'elif'} s == {sid}:")
                ind0 = base + "    "
            prods = st["p"]
            if len(prods) == 1 and prods[0][0] == "EE":
                L.append(f"{ind0}if r.read({st['w']}):")
                L.append(f"{ind0}    D.escape({sid})")
                L.append(f"{ind0}{'s = -1' if acyclic else 'break'}")
                continue
            if len(prods) == 1 and prods[0][0] == "SE" and self.fixed(prods[0][2]):
                kind, a, b, nxt = prods[0]
                i = fidx[(self.qnames[a][0], self.qnames[a][1])]
                self.fused_simple(b, f"f{i}", fields[i].repeated, ind0, st["w"], sid)
                if len(emit_order) > 1 or not acyclic:
                    L.append(f"{ind0}s = {nxt}")
                continue
            L.append(f"{ind0}c = r.read({st['w']})")
            for code, (kind, a, b, nxt) in enumerate(prods):
                kw = "if" if code == 0 else "elif"
                L.append(f"{ind0}{kw} c == {code}:")
                ind = ind0 + "    "
                if kind == "EE":
                    L.append(f"{ind}{'s = -1' if acyclic else 'break'}")
                    continue
                if kind == "AT":
                    q = self.qnames[a]
                    i = fidx[("@" + q[0], q[1])]
                    f = fields[i]
                    L.append(f"{ind}f{i} = {self.read_expr(self.dts[b], f.simple, f.name)}")
                elif kind == "CH":
                    assert value_idx is not None
                    f = fields[value_idx]
                    L.append(f"{ind}f{value_idx} = "
                             f"{self.read_expr(self.dts[b], f.simple, t.name)}")
                elif kind == "SE":
                    q = self.qnames[a]
                    i = fidx[(q[0], q[1])]
                    f = fields[i]
                    if self.fixed(b):
                        self.fused_simple(b, f"f{i}", f.repeated, ind, 0, sid)
                    else:
                        expr = self.child_decode(b, a, None)
                        if f.repeated:
                            L.append(f"{ind}f{i}.append({expr})")
                        else:
                            L.append(f"{ind}f{i} = {expr}")
                else:
                    raise ValueError(kind)
                L.append(f"{ind}s = {nxt}")
            L.append(f"{ind0}else:")
            L.append(f"{ind0}    D.escape({sid})")
        if not acyclic:
            L.append("        else:")
            L.append("            raise D.r.fail('bad state')")
        for k in range(body_from, len(L)):
            L[k] = "    " + L[k]
        L.insert(body_from, "    try:")
        L.append("    except DecodeError as exc:")
        L.append("        raise D.locate(exc, s) from None")
        args = ", ".join(f"{_ident(f.name)}=f{i}" for i, f in enumerate(fields))
        L.append(f"    return {cls}({args})")
        # ---------------- encoder
        L.append("")
        L.append("")
        L.append(f"def e{start}(E: Encoder, w: BitWriter, o: Any) -> None:")
        L.append(f"    s = {start}")

        def dispatch(pred: Any, ind: str, what: str, label: str,
                     fused: tuple[str, int] | None = None) -> None:
            """Emit `if s == k: write code; s = next` over states having a production.

            ``fused`` = (bits expression, bit count) written together with the code."""
            opts = []
            for sid in states:
                st = self.states[sid]
                for code, p in enumerate(st["p"]):
                    if pred(p):
                        opts.append((sid, code, st["w"], p))
            for n, (sid, code, width, _p) in enumerate(opts):
                L.append(f"{ind}{'if' if n == 0 else 'elif'} s == {sid}:")
                if fused is None:
                    L.append(f"{ind}    w.write({code}, {width})")
                else:
                    head = f"{code << fused[1]} | " if code else ""
                    L.append(f"{ind}    w.write({head}{fused[0]}, {width + fused[1]})")
                if what == "EE":
                    L.append(f"{ind}    return")
                else:
                    L.append(f"{ind}    s = {_p[3]}")
            if opts:
                L.append(f"{ind}else:")
            L.append(f"{ind}{'    ' if opts else ''}raise misplaced({what!r}, {label!r})")

        attr_fields = sorted((i for i, f in enumerate(fields) if f.kind == "attr"),
                             key=lambda i: (fields[i].name, fields[i].uri))
        for i in attr_fields:
            f = fields[i]
            qi = self.gb.qname((f.uri, f.name))
            L.append(f"    v = o.{_ident(f.name)}")
            L.append("    if v is not None:")
            dispatch(lambda p, qi=qi: p[0] == "AT" and p[1] == qi, "        ", "attribute",
                     "@" + f.name)
            dti = self._attr_dt(states, qi)
            assert f.simple is not None
            L.extend(self.write_stmts(self.dts[dti], f.simple, "v", "@" + f.name, "        "))
            if not f.optional:
                L.append("    else:")
                L.append(f"        raise missing({'@' + f.name!r})")
        if value_idx is not None:
            f = fields[value_idx]
            dti = next(p[2] for sid in states for p in self.states[sid]["p"] if p[0] == "CH")
            L.append("    v = o.value")
            dispatch(lambda p: p[0] == "CH", "    ", "value", "value")
            assert f.simple is not None
            L.extend(self.write_stmts(self.dts[dti], f.simple, "v", t.name, "    "))
        for f in fields:
            if f.kind not in ("elem", "subst"):
                continue
            L.append(f"    v = o.{_ident(f.name)}")
            body_ind = "        "
            if f.repeated:
                L.append("    if type(v) is not list:")
                L.append(f"        raise not_list({f.name!r})")
                L.append("    for x in v:")
                var = "x"
            else:
                L.append("    if v is not None:")
                var = "v"
            L.append(f"{body_ind}try:")
            ind = body_ind + "    "
            if f.kind == "elem":
                qi = self.gb.qname((f.uri, f.name))
                start_child = next(p[2] for sid in states for p in self.states[sid]["p"]
                                   if p[0] == "SE" and p[1] == qi)
                fused = self.fused_encode(start_child, var, ind) if self.fixed(
                    start_child) else None
                dispatch(lambda p, qi=qi: p[0] == "SE" and p[1] == qi, ind, "element", f.name,
                         fused)
                if fused is None:
                    L.append(f"{ind}{self.child_encode(start_child, qi, var)}")
            else:
                # substitution group: member by class
                first = True
                for d in _concrete(f.decls):
                    qi = self.gb.qname(d.qname)
                    prods = [p for sid in states for p in self.states[sid]["p"]
                             if p[0] == "SE" and p[1] == qi]
                    if not prods or not isinstance(d.resolved, ComplexType):
                        continue
                    mcls = self.class_expr(d.resolved)
                    L.append(f"{ind}{'if' if first else 'elif'} type({var}) is {mcls}:")
                    first = False
                    dispatch(lambda p, qi=qi: p[0] == "SE" and p[1] == qi, ind + "    ",
                             "element", d.qname[1])
                    L.append(f"{ind}    try:")
                    L.append(f"{ind}        {self.child_encode(prods[0][2], qi, var)}")
                    L.append(f"{ind}    except EncodeError as exc:")
                    L.append(f"{ind}        raise exc.within({d.qname[1]!r}) from None")
                L.append(f"{ind}else:")
                L.append(f"{ind}    raise not_member({var}, None, {f.name!r})")
            L.append(f"{body_ind}except EncodeError as exc:")
            if f.kind == "subst":
                L.append(f"{body_ind}    raise exc.within('') from None")
            else:
                L.append(f"{body_ind}    raise exc.within({f.name!r}) from None")
            if not f.optional and not f.repeated:
                L.append("    else:")
                L.append(f"        raise missing({f.name!r})")
        dispatch(lambda p: p[0] == "EE", "    ", "EE", "end")

    def topo_order(self, start: int, states: list[int]) -> list[int] | None:
        """States in topological order, or None if the grammar has a loop."""
        order: list[int] = []
        mark: dict[int, int] = {}

        def visit(sid: int) -> bool:
            if mark.get(sid) == 1:
                return False
            if mark.get(sid) == 2:
                return True
            mark[sid] = 1
            for _k, _a, _b, nxt in self.states[sid]["p"]:
                if nxt >= 0 and not visit(nxt):
                    return False
            mark[sid] = 2
            order.append(sid)
            return True

        if not visit(start):
            return None
        order.reverse()
        return order

    def fixed(self, start: int) -> bool:
        """Simple-typed child whose whole element is a fixed number of bits."""
        t = self.type_of(start)
        if not isinstance(t, SimpleType):
            return False
        s0 = self.states[start]
        dt = self.dts[s0["p"][0][2]]
        return dt[0] in ("nbit", "bool", "enum")

    def fused_simple(self, start: int, var: str, repeated: bool, ind: str, wstate: int,
                     sid: int) -> None:
        """Read [state code][CH code][value][EE code] in one go; rewind on anything odd."""
        t = self.type_of(start)
        assert isinstance(t, SimpleType)
        s0 = self.states[start]
        dti, s1id = s0["p"][0][2], s0["p"][0][3]
        dt = self.dts[dti]
        w0, w1 = s0["w"], self.states[s1id]["w"]
        kind = dt[0]
        n = dt[3] if kind == "nbit" else 1 if kind == "bool" else (len(dt[2]) - 1).bit_length()
        total = wstate + w0 + n + w1
        vmask = (1 << n) - 1
        code_mask = (((1 << wstate) - 1) << (w0 + n + w1)) | (((1 << w0) - 1) << (n + w1)) | (
            (1 << w1) - 1)
        raw = f"((x >> {w1}) & {vmask})" if w1 else f"(x & {vmask})"
        cond = f"x & {code_mask}"
        if kind == "enum":
            members = self.const(f"tuple({self.enum_expr(t)})")
            cond += f" or {raw} >= {len(dt[2])}"
            expr = f"{members}[{raw}]"
        elif kind == "bool":
            expr = f"{raw} == 1"
        else:
            lo, hi = dt[1], dt[2]
            expr = f"{lo} + {raw}" if lo else raw
            if vmask > hi - lo:
                expr = f"D.chk({expr}, {lo}, {hi}, {t.name!r})"
        L = self.lines
        def assign(e: str) -> str:
            return f"{var}.append({e})" if repeated else f"{var} = {e}"

        L.append(f"{ind}x = r.read({total})")
        L.append(f"{ind}if {cond}:")
        L.append(f"{ind}    r.pos -= {total}")
        if wstate:
            L.append(f"{ind}    if r.read({wstate}):")
            L.append(f"{ind}        D.escape({sid})")
        L.append(f"{ind}    {assign(f'v{start}(D, r)')}")
        L.append(f"{ind}else:")
        L.append(f"{ind}    {assign(expr)}")

    def fused_encode(self, start: int, var: str, ind: str) -> tuple[str, int]:
        """Checks for a fixed-width simple child (emitted now) and the expression of
        its [CH code][value][EE code] bits, to be written with the SE code in one go."""
        t = self.type_of(start)
        assert isinstance(t, SimpleType)
        s0 = self.states[start]
        dti, s1id = s0["p"][0][2], s0["p"][0][3]
        dt = self.dts[dti]
        w0, w1 = s0["w"], self.states[s1id]["w"]
        kind = dt[0]
        L = self.lines
        label = t.name
        if kind == "nbit":
            lo, hi, n = dt[1], dt[2], dt[3]
            L.append(f"{ind}if type({var}) is not int or not {lo} <= {var} <= {hi}:")
            L.append(f"{ind}    raise out_of_range({var}, {lo}, {hi}, '')")
            raw = f"({var} - {lo})" if lo else var
        elif kind == "bool":
            n = 1
            L.append(f"{ind}if {var} is not True and {var} is not False:")
            L.append(f"{ind}    raise not_bool({var}, '')")
            raw = f"(1 if {var} else 0)"
        else:
            assert t.enumeration is not None
            n = (len(dt[2]) - 1).bit_length()
            idx = self.const(f"{{m: i for i, m in enumerate({self.enum_expr(t)})}}")
            L.append(f"{ind}i = {idx}.get({var})")
            L.append(f"{ind}if i is None:")
            L.append(f"{ind}    raise not_member({var}, {self.enum_expr(t)}, '')")
            raw = "i"
        del label
        bits = w0 + n + w1
        expr = f"({raw} << {w1})" if w1 and n else (raw if n else "0")
        return expr, bits

    def _attr_dt(self, states: list[int], qi: int) -> int:
        for sid in states:
            for p in self.states[sid]["p"]:
                if p[0] == "AT" and p[1] == qi:
                    return int(p[2])
        raise ValueError(qi)

    def render(self) -> str:
        starts = sorted(self.gb.types_by_start)
        for s in starts:
            t = self.type_of(s)
            if isinstance(t, SimpleType):
                self.simple_helpers(s)
            elif self.is_fast(s):
                self.complex_codec(s)
        dec = [s for s in starts if isinstance(self.type_of(s), ComplexType) and self.fast[s]]
        head = [
            f'"""Generated by exi.generate: straight-line codec for schema set {self.name!r}.',
            "",
            "Do not edit. d<N>/e<N> decode/encode the element grammar starting at state N.",
            '"""',
            "",
            "from __future__ import annotations",
            "",
            "from collections.abc import Callable",
            "from typing import Any",
            "",
            "from exi._codec import (",
            "    BitReader,",
            "    BitWriter,",
            "    Decoder,",
            "    Encoder,",
            "    misplaced,",
            "    missing,",
            "    not_bool,",
            "    not_list,",
            "    not_member,",
            "    out_of_range,",
            "    read_bin,",
            "    read_str,",
            "    w_bin,",
            "    w_int,",
            "    w_str,",
            "    w_uint,",
            ")",
            f"from exi._generated import {self.name}_messages as M",
            "from exi.errors import DecodeError, EncodeError",
            "",
        ]
        tail = ["", "", "DECODERS: dict[int, Callable[[Decoder, BitReader], Any]] = {"]
        tail += [f"    {s}: d{s}," for s in dec]
        tail += ["}", "ENCODERS: dict[int, Callable[[Encoder, BitWriter, Any], None]] = {"]
        tail += [f"    {s}: e{s}," for s in dec]
        tail += ["}"]
        return "\n".join(head + self.consts + self.lines + tail) + "\n"


def render_fast(name: str, tables: dict[str, Any], gb: GrammarBuilder, models: _Gen) -> str:
    return _FastGen(name, tables, gb, models).render()

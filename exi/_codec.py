"""Grammar-table EXI codec: bit-packed streams <-> element trees.

The generated modules under ``exi/_generated`` hold, per schema set, the normalized
EXI grammars (states, event codes, datatypes). This module walks them. It implements
exactly the option set of the V2G profile (vectors/README.md): header byte 0x80,
bit-packed, non-strict schema-informed grammars, no value string table (every string
is a miss: length + 2), no built-in element grammars.
"""

from __future__ import annotations

import base64
import binascii
import importlib
import json
from typing import Any, NoReturn

# The tree types live in exi/_tree.py so that exi/_typed.py (tree <-> message classes) needs
# no import of this module; generated code and the XML bridge import them from here.
from exi._tree import Element as Element, QName as QName, Value as Value
from exi._typed import from_tree, to_tree
from exi.errors import DecodeError, EncodeError

# The V2G EXI header: distinguishing bits "10", no options, version 1 (EXI 1.0 §5).
EXI_HEADER = 0x80
# Upper bound for strings/binaries whose XSD type has no maxLength facet (a few xmldsig
# fields). The largest V2G messages (certificate installation with a chain) are a few
# KiB, so a longer length prefix is hostile; the bound caps memory per value. The
# decoder also refuses any length longer than the bits left in the stream.
UNBOUNDED_LENGTH_CAP = 65536
# xs:integer is unbounded; X509SerialNumber is at most 20 octets (RFC 5280 §4.1.2.2).
# 64 octets of 7-bit groups (448 bits) bounds the work per integer.
MAX_UINT_OCTETS = 64
# Element nesting bound: V2G schemas nest < 15 levels; protects the recursion.
MAX_DEPTH = 64

# Datatypes whose empty value EXIficient writes as a second-level EE (exi_notes.md §1).
_EMPTYABLE = ("str", "hex", "b64")
# Production kinds (first-level) as small ints for fast dispatch.
K_AT, K_SE, K_EE, K_CH, K_CHU, K_SEW = range(6)
_KIND = {"AT": K_AT, "SE": K_SE, "EE": K_EE, "CH": K_CH, "CHU": K_CHU, "SEW": K_SEW}


class State:
    """One normalized grammar state with its encode lookups (qname -> code, next)."""

    __slots__ = ("name", "w", "prods", "second", "w2", "nprods", "at", "se", "ee", "ch",
                 "chu", "ee2")

    def __init__(self, raw: dict[str, Any], qnames: list[QName]) -> None:
        self.name: str = raw["n"]
        self.w: int = raw["w"]
        self.prods: list[tuple[int, Any, int, int]] = []
        self.second: list[str] = raw["s"]
        self.w2: int = raw["w2"]
        self.at: dict[QName, tuple[int, int, int]] = {}
        self.se: dict[QName, tuple[int, int, int]] = {}
        self.ee: int = -1
        self.ch: tuple[int, int, int] | None = None
        self.chu: tuple[int, int] | None = None
        self.ee2: int = raw["s"].index("EE") if "EE" in raw["s"] else -1
        for code, (kind_s, a, b, nxt) in enumerate(raw["p"]):
            kind = _KIND[kind_s]
            if kind in (K_AT, K_SE):
                q = qnames[a]
                self.prods.append((kind, q, b, nxt))
                (self.at if kind == K_AT else self.se)[q] = (code, b, nxt)
            else:
                self.prods.append((kind, a, b, nxt))
                if kind == K_EE:
                    self.ee = code
                elif kind == K_CH:
                    self.ch = (code, b, nxt)
                elif kind == K_CHU:
                    self.chu = (code, nxt)
        self.nprods = len(self.prods)


class SchemaGrammar:
    """Runtime view of one generated schema-set table."""

    def __init__(self, name: str, data: str) -> None:
        raw = json.loads(data)
        self.name = name
        self.qnames: list[QName] = [(u, n) for u, n in raw["qnames"]]
        self.datatypes: list[list[Any]] = raw["datatypes"]
        self.states = [State(s, self.qnames) for s in raw["states"]]
        self.doc: list[tuple[QName, int]] = [(self.qnames[q], s) for q, s in raw["doc"]]
        self.doc_w: int = raw["doc_w"]
        self.doc_index = {q: (i, s) for i, (q, s) in enumerate(self.doc)}
        self.frag: list[tuple[QName, int]] = [(self.qnames[q], s) for q, s in raw["frag"]]
        self.frag_w: int = raw["frag_w"]
        self.frag_index = {q: (i, s) for i, (q, s) in enumerate(self.frag)}


# ---------------------------------------------------------------------------- bits
class BitReader:
    __slots__ = ("data", "pos", "end", "state")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0
        self.end = len(data) * 8
        self.state = "header"

    def fail(self, msg: str) -> DecodeError:
        return DecodeError(msg, bit_position=self.pos, state=self.state)

    def read(self, n: int) -> int:
        pos = self.pos
        if pos + n > self.end:
            raise self.fail(f"truncated stream: need {n} bits")
        data = self.data
        byte_i = pos >> 3
        off = pos & 7
        if off + n <= 8:
            self.pos = pos + n
            return (data[byte_i] >> (8 - off - n)) & ((1 << n) - 1)
        # general case: gather enough bytes
        nbytes = (off + n + 7) >> 3
        chunk = int.from_bytes(data[byte_i:byte_i + nbytes], "big")
        self.pos = pos + n
        return (chunk >> (nbytes * 8 - off - n)) & ((1 << n) - 1)

    def read_int(self) -> int:
        neg = self.read(1)
        mag = self.read_uint()
        return -mag - 1 if neg else mag

    def enum(self, n: int, members: tuple[Any, ...]) -> Any:
        idx = self.read(n)
        if idx >= len(members):
            raise self.fail(f"enumeration index {idx} out of range")
        return members[idx]

    def read_uint(self) -> int:
        result = 0
        shift = 0
        for _ in range(MAX_UINT_OCTETS):
            b = self.read(8)
            result |= (b & 0x7F) << shift
            if b < 0x80:
                return result
            shift += 7
        raise self.fail("unsigned integer longer than the codec bound")


class SmallBitReader(BitReader):
    """Reader for short streams: the whole stream as one int, one shift per read.

    Shifting an int costs time proportional to its size, so this only pays off for
    short messages (CurrentDemand, PreCharge, ... are 20-60 bytes).
    """

    __slots__ = ("val",)

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.val = int.from_bytes(data, "big")

    def read(self, n: int) -> int:
        pos = self.pos + n
        if pos > self.end:
            raise self.fail(f"truncated stream: need {n} bits")
        self.pos = pos
        return (self.val >> (self.end - pos)) & ((1 << n) - 1)


# Streams up to this size use SmallBitReader (measured: faster below ~0.5 KiB).
SMALL_STREAM_BYTES = 512
# Window of WindowBitReader: small enough that a shift stays cheap.
WINDOW_BYTES = 128


class WindowBitReader(BitReader):
    """Reader for long streams: SmallBitReader's one-shift reads over a sliding window."""

    __slots__ = ("win", "win_end")

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.win = 0
        self.win_end = 0  # absolute bit index where the window ends

    def read(self, n: int) -> int:
        pos = self.pos + n
        if pos > self.win_end:
            if pos > self.end:
                raise self.fail(f"truncated stream: need {n} bits")
            if n > (WINDOW_BYTES - 1) * 8:
                return BitReader.read(self, n)
            start = self.pos >> 3
            stop = min(start + WINDOW_BYTES, len(self.data))
            self.win = int.from_bytes(self.data[start:stop], "big")
            self.win_end = stop * 8
        self.pos = pos
        return (self.win >> (self.win_end - pos)) & ((1 << n) - 1)


def make_reader(data: bytes) -> BitReader:
    return SmallBitReader(data) if len(data) <= SMALL_STREAM_BYTES else WindowBitReader(data)


class BitWriter:
    __slots__ = ("buf", "acc", "nacc")

    def __init__(self) -> None:
        self.buf = bytearray()
        self.acc = 0
        self.nacc = 0

    def write(self, value: int, n: int) -> None:
        if n == 0:
            return
        acc = (self.acc << n) | value
        nacc = self.nacc + n
        if nacc > 64:
            # long runs (binary values): one conversion instead of a shift per byte
            rem = nacc & 7
            self.buf += (acc >> rem).to_bytes(nacc >> 3, "big")
            self.acc = acc & ((1 << rem) - 1)
            self.nacc = rem
            return
        while nacc >= 8:
            nacc -= 8
            self.buf.append((acc >> nacc) & 0xFF)
        self.acc = acc & ((1 << nacc) - 1)
        self.nacc = nacc

    def write_uint(self, value: int) -> None:
        while value >= 0x80:
            self.write((value & 0x7F) | 0x80, 8)
            value >>= 7
        self.write(value, 8)

    def getvalue(self) -> bytes:
        if self.nacc:
            return bytes(self.buf) + bytes([(self.acc << (8 - self.nacc)) & 0xFF])
        return bytes(self.buf)


# ---------------------------------------------------------------------------- values
def read_value(r: BitReader, dt: list[Any]) -> Value:
    kind = dt[0]
    if kind == "nbit":
        return int(dt[1] + r.read(dt[3]))
    if kind == "bool":
        return r.read(1) == 1
    if kind == "uint":
        return r.read_uint()
    if kind == "int":
        neg = r.read(1)
        mag = r.read_uint()
        return -mag - 1 if neg else mag
    if kind == "enum":
        idx = r.read(_enum_bits(len(dt[2])))
        if idx >= len(dt[2]):
            raise r.fail(f"enumeration index {idx} out of range")
        return str(dt[2][idx])
    if kind == "str":
        n = r.read_uint()
        if n < 2:
            raise r.fail("string table hit, but the V2G profile has no value string table")
        length = n - 2
        cap = dt[2] if dt[2] is not None else UNBOUNDED_LENGTH_CAP
        if length > cap:
            raise r.fail(f"string length {length} exceeds maxLength {cap}")
        if length * 8 > r.end - r.pos:
            raise r.fail("truncated stream inside string")
        chars = []
        read = r.read
        for _ in range(length):
            cp = read(8)
            if cp >= 0x80:  # multi-octet code point: continue as an unsigned integer
                r.pos -= 8
                cp = r.read_uint()
                if cp > 0x10FFFF:
                    raise r.fail(f"code point {cp:#x} out of Unicode range")
            chars.append(chr(cp))
        return "".join(chars)
    if kind in ("hex", "b64"):
        length = r.read_uint()
        cap = dt[2] if dt[2] is not None else UNBOUNDED_LENGTH_CAP
        if length > cap:
            raise r.fail(f"binary length {length} exceeds maxLength {cap}")
        if length * 8 > r.end - r.pos:
            raise r.fail("truncated stream inside binary value")
        if r.pos & 7 == 0:
            start = r.pos >> 3
            r.pos += length * 8
            return bytes(r.data[start:start + length])
        if length == 0:
            return b""
        return r.read(8 * length).to_bytes(length, "big")
    raise r.fail(f"unknown datatype {kind}")


def _enum_bits(n: int) -> int:
    return 0 if n <= 1 else (n - 1).bit_length()


def parse_lexical(dt: list[Any], text: str, path: str) -> Value:
    """XML lexical form -> typed value (for the XML bridge)."""
    kind = dt[0]
    s = text.strip() if kind not in ("str", "enum") else text
    try:
        if kind in ("nbit", "uint", "int"):
            return int(s)
        if kind == "bool":
            if s in ("true", "1"):
                return True
            if s in ("false", "0"):
                return False
            raise ValueError(s)
        if kind == "hex":
            return bytes.fromhex(s)
        if kind == "b64":
            return base64.b64decode("".join(s.split()), validate=True)
    except (ValueError, binascii.Error) as exc:
        raise EncodeError(f"invalid lexical value {text!r} for {kind}", field=path) from exc
    return text


def to_lexical(dt: list[Any], value: Value) -> str:
    kind = dt[0]
    if kind == "bool":
        return "true" if value else "false"
    if kind == "hex":
        assert isinstance(value, bytes)
        return value.hex().upper()
    if kind == "b64":
        assert isinstance(value, bytes)
        return base64.b64encode(value).decode("ascii")
    return str(value)


def write_value(w: BitWriter, dt: list[Any], value: Value, path: str) -> None:
    kind = dt[0]
    if isinstance(value, str) and kind not in ("str", "enum"):
        value = parse_lexical(dt, value, path)
    if kind in ("nbit", "uint", "int"):
        if not isinstance(value, int) or isinstance(value, bool):
            raise EncodeError(f"expected an integer, got {value!r}", field=path)
        lo, hi = dt[1], dt[2]
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise EncodeError(f"value {value} outside [{lo}, {hi}]", field=path)
        if kind == "nbit":
            w.write(value - lo, dt[3])
        elif kind == "uint":
            w.write_uint(value)
        elif value < 0:
            w.write(1, 1)
            w.write_uint(-value - 1)
        else:
            w.write(0, 1)
            w.write_uint(value)
        return
    if kind == "bool":
        if not isinstance(value, bool):
            raise EncodeError(f"expected a boolean, got {value!r}", field=path)
        w.write(1 if value else 0, 1)
        return
    if kind == "enum":
        try:
            idx = dt[2].index(value)
        except ValueError:
            raise EncodeError(f"{value!r} is not one of {dt[2]}", field=path) from None
        w.write(idx, _enum_bits(len(dt[2])))
        return
    if kind == "str":
        if not isinstance(value, str):
            raise EncodeError(f"expected a string, got {value!r}", field=path)
        _check_len(len(value), dt, path)
        w.write_uint(len(value) + 2)
        if value.isascii():
            if value:
                w.write(int.from_bytes(value.encode("ascii"), "big"), 8 * len(value))
            return
        for c in value:
            w.write_uint(ord(c))
        return
    if kind in ("hex", "b64"):
        if not isinstance(value, bytes | bytearray):
            raise EncodeError(f"expected bytes, got {value!r}", field=path)
        _check_len(len(value), dt, path)
        w.write_uint(len(value))
        if value:
            w.write(int.from_bytes(value, "big"), 8 * len(value))
        return
    raise EncodeError(f"unsupported datatype {kind}", field=path)


def _check_len(n: int, dt: list[Any], path: str) -> None:
    mn, mx = dt[1], dt[2]
    if mx is not None and n > mx:
        raise EncodeError(f"length {n} exceeds maxLength {mx}", field=path)
    if n < mn and n != 0:
        # zero-length values are the car-style empty form (exi_notes.md §1)
        raise EncodeError(f"length {n} below minLength {mn}", field=path)


def read_str(r: BitReader, cap: int | None) -> str:
    return str(read_value(r, ["str", 0, cap]))


def read_bin(r: BitReader, cap: int | None) -> bytes:
    v = read_value(r, ["hex", 0, cap])
    assert isinstance(v, bytes)
    return v


def w_uint(w: BitWriter, v: Any, lo: int | None, hi: int | None, label: str) -> None:
    write_value(w, ["uint", lo, hi], v, label)


def w_int(w: BitWriter, v: Any, lo: int | None, hi: int | None, label: str) -> None:
    write_value(w, ["int", lo, hi], v, label)


def w_str(w: BitWriter, v: Any, mn: int, mx: int | None, label: str) -> None:
    if type(v) is not str:
        raise EncodeError(f"expected a string, got {v!r}", field=label)
    n = len(v)
    if (mx is not None and n > mx) or (n < mn and n != 0):
        _check_len(n, ["str", mn, mx], label)
    if v.isascii():
        # ASCII code points are single-octet unsigned integers: the bytes themselves
        w.write_uint(n + 2)
        if n:
            w.write(int.from_bytes(v.encode("ascii"), "big"), 8 * n)
        return
    write_value(w, ["str", mn, mx], v, label)


def w_bin(w: BitWriter, v: Any, mn: int, mx: int | None, label: str) -> None:
    if not isinstance(v, bytes | bytearray):
        raise EncodeError(f"expected bytes, got {v!r}", field=label)
    _check_len(len(v), ["hex", mn, mx], label)
    w.write_uint(len(v))
    if v:
        w.write(int.from_bytes(v, "big"), 8 * len(v))


def out_of_range(v: Any, lo: int, hi: int, label: str) -> EncodeError:
    if type(v) is not int:
        return EncodeError(f"expected an integer, got {v!r}", field=label)
    return EncodeError(f"value {v} outside [{lo}, {hi}]", field=label)


def not_bool(v: Any, label: str) -> EncodeError:
    return EncodeError(f"expected a boolean, got {v!r}", field=label)


def not_list(label: str) -> EncodeError:
    return EncodeError("expected a list", field=label)


def not_member(v: Any, enum_cls: Any, label: str) -> EncodeError:
    if enum_cls is None:
        return EncodeError(f"{type(v).__name__} is not allowed here", field=label)
    return EncodeError(f"{v!r} is not a {enum_cls.__name__}", field=label)


def misplaced(what: str, label: str) -> EncodeError:
    if what == "EE":
        return EncodeError("content incomplete: a required element is missing", field=label)
    return EncodeError(f"{what} not allowed at this point (order or choice)", field=label)


def missing(label: str) -> EncodeError:
    return EncodeError("required field is None", field=label)


# ---------------------------------------------------------------------------- decode
def _value_warning(dt: list[Any], value: Value) -> str | None:
    kind = dt[0]
    if kind in ("nbit", "uint", "int") and isinstance(value, int):
        lo, hi = dt[1], dt[2]
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            return f"value {value} outside [{lo}, {hi}]"
    return None


class Decoder:
    def __init__(self, g: SchemaGrammar, data: bytes, *, lexical: bool = False) -> None:
        self.g = g
        self.r = make_reader(data)
        self.warnings: list[str] = []
        self.lexical = lexical

    def locate(self, exc: DecodeError, sid: int) -> DecodeError:
        """Name the innermost grammar state of an error raised on the generated path."""
        if exc.state:
            return exc
        return DecodeError(exc.reason, bit_position=exc.bit_position,
                           state=self.g.states[sid].name)

    def chk(self, v: int, lo: int | None, hi: int | None, label: str) -> int:
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            self.warnings.append(f"{label}: value {v} outside [{lo}, {hi}]")
        return v

    def escape(self, sid: int) -> NoReturn:
        """Second-level event in a state where only the empty-value EE is tolerated."""
        st = self.g.states[sid]
        self.r.state = st.name
        code2 = self.r.read(st.w2) if st.w2 else 0
        ev = st.second[code2] if code2 < len(st.second) else f"invalid code {code2}"
        if ev == "EE":
            raise self.r.fail("premature end of element (second-level EE)")
        raise self.r.fail(f"deviation {ev} (not produced by V2G peers) is not supported")

    def escape_simple(self, sid: int) -> Value:
        """Escape in a simple-typed element's first state: the empty value (notes §1)."""
        st = self.g.states[sid]
        self.r.state = st.name
        code2 = self.r.read(st.w2) if st.w2 else 0
        if code2 < len(st.second) and st.second[code2] == "EE" and st.ch is not None:
            kind = self.g.datatypes[st.ch[1]][0]
            if kind == "str":
                return ""
            if kind in ("hex", "b64"):
                return b""
        ev = st.second[code2] if code2 < len(st.second) else f"invalid code {code2}"
        raise self.r.fail(f"deviation {ev} (not produced by V2G peers) is not supported")

    def slow(self, qidx: int | QName, sid: int, cls: type) -> Any:
        """Table-interpreter path for grammars the generated code leaves out."""
        q = self.g.qnames[qidx] if isinstance(qidx, int) else qidx
        node = self.element(q, sid, 1)
        fields = importlib.import_module(f"exi._generated.{self.g.name}_messages").FIELDS
        return from_tree(fields, cls, node)

    def header(self) -> None:
        b = self.r.read(8)
        if b != EXI_HEADER:
            raise self.r.fail(f"EXI header byte {b:#04x}, expected 0x80")

    def document(self) -> Element:
        self.header()
        r = self.r
        r.state = "DocContent"
        code = r.read(self.g.doc_w)
        if code >= len(self.g.doc):
            raise r.fail(f"event code {code} in DocContent is SE(*) or invalid: unsupported")
        q, start = self.g.doc[code]
        root = self.element(q, start, 0)
        return root

    def fragment(self) -> list[Element]:
        self.header()
        r = self.r
        out: list[Element] = []
        n = len(self.g.frag)
        while True:
            r.state = "FragmentContent"
            code = r.read(self.g.frag_w)
            if code == n + 1:
                return out
            if code >= n:
                raise r.fail(f"event code {code} in FragmentContent is SE(*) or invalid")
            q, start = self.g.frag[code]
            if start < 0:
                raise r.fail(f"fragment element {q} needs the relaxed fragment grammar")
            out.append(self.element(q, start, 0))
            if len(out) > 64:
                raise r.fail("too many fragment elements")

    def element(self, qname: QName, sid: int, depth: int) -> Element:
        if depth > MAX_DEPTH:
            raise self.r.fail("element nesting too deep")
        r = self.r
        states = self.g.states
        node = Element(qname)
        while True:
            st = states[sid]
            r.state = st.name
            code = r.read(st.w) if st.w else 0
            if code < st.nprods:
                kind, a, b, nxt = st.prods[code]
                if kind == K_SE:
                    node.children.append(self.element(a, b, depth + 1))
                elif kind == K_EE:
                    return node
                elif kind == K_CH:
                    dt = self.g.datatypes[b]
                    node.value = read_value(r, dt)
                    warn = _value_warning(dt, node.value)
                    if warn is not None:
                        self.warnings.append(f"{qname[1]}: {warn}")
                    if self.lexical:
                        node.value = to_lexical(dt, node.value)
                elif kind == K_AT:
                    dt = self.g.datatypes[b]
                    v = read_value(r, dt)
                    warn = _value_warning(dt, v)
                    node.attrs.append((a, to_lexical(dt, v) if self.lexical else v))
                    if warn is not None:
                        self.warnings.append(f"{qname[1]}@{a[1]}: {warn}")
                elif kind == K_CHU:
                    n = r.read_uint()
                    if n < 2:
                        raise r.fail("string table hit in untyped characters")
                    if n - 2 > UNBOUNDED_LENGTH_CAP:
                        raise r.fail("untyped character run too long")
                    text = "".join(chr(min(r.read_uint(), 0x10FFFF)) for _ in range(n - 2))
                    node.value = (node.value if isinstance(node.value, str) else "") + text
                else:
                    raise r.fail("wildcard element (SE(*)) content is not supported")
                sid = nxt
            elif code == st.nprods and st.second:
                code2 = r.read(st.w2) if st.w2 else 0
                if code2 >= len(st.second):
                    raise r.fail(f"invalid second-level event code {code2}")
                ev = st.second[code2]
                if ev == "EE":
                    # Only the empty-value form of exi_notes.md §1: an element whose
                    # string/binary content is empty. Anywhere else it would cut off
                    # required content (valid non-strict EXI, but no schema-valid message).
                    if st.ch is not None and self.g.datatypes[st.ch[1]][0] in _EMPTYABLE:
                        return node
                    raise r.fail("premature end of element (second-level EE)")
                if ev == "XSI_NIL":
                    nil = r.read(1)
                    if nil:
                        # TypeEmpty grammar: only EE remains (EXI 1.0 §8.5.4.4.2)
                        raise r.fail("xsi:nil=true is not allowed by the V2G schemas")
                    continue
                raise r.fail(f"deviation {ev} (not produced by V2G peers) is not supported")
            else:
                raise r.fail(f"invalid event code {code}")


# ---------------------------------------------------------------------------- encode
class Encoder:
    def __init__(self, g: SchemaGrammar) -> None:
        self.g = g
        self.w = BitWriter()
        self.w.write(EXI_HEADER, 8)

    def slow(self, obj: Any, qidx: int | QName, sid: int) -> None:
        """Table-interpreter path for grammars the generated code leaves out."""
        q = self.g.qnames[qidx] if isinstance(qidx, int) else qidx
        fields = importlib.import_module(f"exi._generated.{self.g.name}_messages").FIELDS
        self.element(to_tree(fields, obj, q, ""), sid, "")

    def document(self, root: Element) -> bytes:
        ent = self.g.doc_index.get(root.qname)
        if ent is None:
            raise EncodeError("not a global element of this schema", field=_qn(root.qname))
        self.w.write(ent[0], self.g.doc_w)
        self.element(root, ent[1], _qn(root.qname))
        return self.w.getvalue()

    def fragment(self, roots: list[Element]) -> bytes:
        for root in roots:
            ent = self.g.frag_index.get(root.qname)
            if ent is None or ent[1] < 0:
                raise EncodeError("not a fragment element of this schema",
                                  field=_qn(root.qname))
            self.w.write(ent[0], self.g.frag_w)
            self.element(root, ent[1], _qn(root.qname))
        self.w.write(len(self.g.frag) + 1, self.g.frag_w)
        return self.w.getvalue()

    def element(self, node: Element, sid: int, path: str) -> None:
        w = self.w
        states = self.g.states
        dts = self.g.datatypes
        st = states[sid]
        if node.attrs:
            for q, v in sorted(node.attrs, key=lambda a: (a[0][1], a[0][0])):
                ent = st.at.get(q)
                if ent is None:
                    raise EncodeError(f"attribute {_qn(q)} not allowed here ({st.name})",
                                      field=path)
                w.write(ent[0], st.w)
                write_value(w, dts[ent[1]], v, f"{path}/@{q[1]}")
                st = states[ent[2]]
        if node.value is not None and st.ch is not None:
            code, dti, nxt = st.ch
            w.write(code, st.w)
            write_value(w, dts[dti], node.value, path)
            st = states[nxt]
        elif node.value is not None and st.chu is not None and node.value != "":
            assert isinstance(node.value, str)
            w.write(st.chu[0], st.w)
            w.write_uint(len(node.value) + 2)
            for c in node.value:
                w.write_uint(ord(c))
            st = states[st.chu[1]]
        elif st.ch is not None:
            # empty simple content: zero-length CH, as car-style encoders write it
            # (exi_notes.md §1); only strings and binaries can be empty
            code, dti, nxt = st.ch
            w.write(code, st.w)
            write_value(w, dts[dti], _empty_value(dts[dti], path), path)
            st = states[nxt]
        for child in node.children:
            ent = st.se.get(child.qname)
            if ent is None:
                expected = [q[1] for q in st.se] + (["end"] if st.ee >= 0 else [])
                raise EncodeError(
                    f"element {child.qname[1]} not allowed here; expected one of {expected}",
                    field=f"{path}/{child.qname[1]}")
            w.write(ent[0], st.w)
            self.element(child, ent[1], f"{path}/{child.qname[1]}")
            st = states[ent[2]]
        if st.ee < 0:
            expected = [q[1] for q in st.se] + [q[1] for q in st.at]
            raise EncodeError(f"content incomplete; expected one of {expected}", field=path)
        w.write(st.ee, st.w)


def _empty_value(dt: list[Any], path: str) -> Value:
    if dt[0] == "str":
        return ""
    if dt[0] in ("hex", "b64"):
        return b""
    raise EncodeError("empty value for a non-string type", field=path)


def _qn(q: QName) -> str:
    return q[1]

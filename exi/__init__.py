"""Pure-Python, schema-informed EXI codec for supportedAppProtocol, DIN SPEC 70121 and
ISO 15118-2 (EXI 1.0, the V2G option set: header 0x80, bit-packed, non-strict
schema-informed grammars, no value string table).

Schemas: ``"app"`` (urn:iso:15118:2:2010:AppProtocol), ``"din"``
(urn:din:70121:2012:MsgDef), ``"iso2"`` (urn:iso:15118:2:2013:MsgDef) and ``"xmldsig"``
(the W3C XML-Signature schema alone, for ``SignedInfo`` fragments).

Typed messages (what the SECC and the EV simulator use)::

    import exi
    from exi import din

    def pv(value: int, unit: din.unitSymbolType) -> din.PhysicalValueType:
        return din.PhysicalValueType(Multiplier=0, Unit=unit, Value=value)

    res = din.V2G_Message(
        Header=din.MessageHeaderType(SessionID=bytes.fromhex("0102030405060708")),
        Body=din.BodyType(BodyElement=din.CurrentDemandResType(
            ResponseCode=din.responseCodeType.OK,
            DC_EVSEStatus=din.DC_EVSEStatusType(
                EVSEIsolationStatus=din.isolationLevelType.Valid,
                EVSEStatusCode=din.DC_EVSEStatusCodeType.EVSE_Ready,
                NotificationMaxDelay=0,
                EVSENotification=din.EVSENotificationType.None_),
            EVSEPresentVoltage=pv(400, din.unitSymbolType.V),
            EVSEPresentCurrent=pv(100, din.unitSymbolType.A),
            EVSECurrentLimitAchieved=False,
            EVSEVoltageLimitAchieved=False,
            EVSEPowerLimitAchieved=False)))
    data = exi.encode("din", res)          # bytes: EXI stream (no V2GTP header)
    msg = exi.decode("din", data)          # din.V2G_Message, == res
    msg, warnings = exi.decode_with_warnings("din", data)  # + facet violations seen
    frag = exi.encode_fragment("iso2", auth_req)   # iso2.AuthorizationReqType -> bytes
    obj = exi.decode_fragment("iso2", frag)        # (xmldsig digests sign these bytes)

Function signatures::

    exi.encode(schema: str, msg: object) -> bytes
    exi.decode(schema: str, data: bytes) -> object
    exi.decode_with_warnings(schema: str, data: bytes) -> tuple[object, list[str]]
    exi.encode_fragment(schema: str, msg: object, *, element: str | None = None) -> bytes
    exi.decode_fragment(schema: str, data: bytes) -> object
    exi.encode_xml(schema: str, xml: str, *, fragment: bool = False) -> bytes
    exi.decode_to_xml(schema: str, data: bytes, *, fragment: bool = False) -> str

Classes are generated frozen slotted dataclasses (keyword-only) named exactly like the
schema types (``CurrentDemandResType``; anonymous types take the element name, e.g.
``V2G_Message``), fields exactly like the element/attribute local names, enums for
enumerations, ``None`` for absent optional elements, lists for repeated ones. A field
whose element heads a substitution group (``Body.BodyElement``, ``DC_EVStatus`` ...)
takes an object of any member's type; the member element is chosen by the class.

The XML bridge (``encode_xml``/``decode_to_xml``) is for tools and interop checks:
any prefixes in, the XSDs' customary prefixes out; elements out of schema order are an
``EncodeError`` naming the element (never a deviation code). ``exi.cli.main`` is the
``evse exi`` command line.

Errors: ``exi.DecodeError`` (remote fault; ``bit_position`` and grammar ``state``) and
``exi.EncodeError`` (local fault; ``field`` path). ``exi.decode_with_warnings`` also
returns the facet violations that real peers send (exi_notes.md §7).
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

from exi._codec import Decoder, Element, Encoder, SchemaGrammar
from exi.errors import DecodeError, EncodeError, ExiError

SCHEMAS = ("app", "din", "iso2", "xmldsig")
# Root elements a typed message document may have (other global elements are valid EXI
# documents too, but no peer sends them as a message; the XML bridge accepts them).
MESSAGE_ROOTS = {
    "app": ("supportedAppProtocolReq", "supportedAppProtocolRes"),
    "din": ("V2G_Message",),
    "iso2": ("V2G_Message",),
}
_grammars: dict[str, SchemaGrammar] = {}
_models: dict[str, ModuleType] = {}

__all__ = [
    "SCHEMAS", "DecodeError", "EncodeError", "Element", "ExiError", "decode",
    "decode_fragment", "decode_to_xml", "decode_tree", "decode_with_warnings", "encode",
    "encode_fragment", "encode_tree", "encode_xml", "fast_codec", "grammar", "messages",
    "warm_schemas",
]


def grammar(schema: str) -> SchemaGrammar:
    """The runtime grammar tables of a schema set (loaded on first use)."""
    g = _grammars.get(schema)
    if g is None:
        if schema not in SCHEMAS:
            raise ValueError(f"unknown schema {schema!r}; expected one of {SCHEMAS}")
        mod = importlib.import_module(f"exi._generated.{schema}_grammar")
        g = SchemaGrammar(schema, mod.DATA)
        _grammars[schema] = g
    return g


def messages(schema: str) -> ModuleType:
    """The generated message-class module of a schema set."""
    m = _models.get(schema)
    if m is None:
        if schema not in SCHEMAS:
            raise ValueError(f"unknown schema {schema!r}; expected one of {SCHEMAS}")
        m = importlib.import_module(f"exi._generated.{schema}_messages")
        _models[schema] = m
    return m


# ----------------------------------------------------------------------------- trees
def decode_tree(schema: str, data: bytes, *, fragment: bool = False,
                lexical: bool = False) -> list[Element]:
    """Decode to element trees (one for a document, one per fragment element)."""
    dec = Decoder(grammar(schema), bytes(data), lexical=lexical)
    return dec.fragment() if fragment else [dec.document()]


def encode_tree(schema: str, roots: list[Element], *, fragment: bool = False) -> bytes:
    enc = Encoder(grammar(schema))
    if fragment:
        return enc.fragment(roots)
    if len(roots) != 1:
        raise EncodeError("a document has exactly one root element", field="/")
    return enc.document(roots[0])


# ----------------------------------------------------------------------------- XML
def encode_xml(schema: str, xml: str, *, fragment: bool = False) -> bytes:
    """Encode an XML document (or a fragment's root element) to EXI."""
    from exi.xmlbridge import parse_xml

    return encode_tree(schema, [parse_xml(xml)], fragment=fragment)


def decode_to_xml(schema: str, data: bytes, *, fragment: bool = False) -> str:
    """Decode EXI to XML text (prefixes as in the XSDs; compare as infoset)."""
    from exi.xmlbridge import to_xml

    roots = decode_tree(schema, data, fragment=fragment, lexical=True)
    return to_xml(schema, grammar(schema), roots if fragment else roots[0])


# ----------------------------------------------------------------------------- typed
_fast_mods: dict[str, ModuleType] = {}


def _fast(schema: str) -> ModuleType:
    m = _fast_mods.get(schema)
    if m is None:
        messages(schema)
        m = importlib.import_module(f"exi._generated.{schema}_codec")
        _fast_mods[schema] = m
    return m


def fast_codec(schema: str) -> ModuleType:
    """The generated fast encoder/decoder module of a schema (imported on first use; a
    real-time caller imports it before its first message, see evse/runtime/warmup.py)."""
    if schema not in SCHEMAS:
        raise ValueError(f"unknown schema {schema!r}; expected one of {SCHEMAS}")
    return _fast(schema)


def warm_schemas() -> frozenset[str]:
    """Schemas whose grammar, message classes and fast codec are all loaded."""
    return frozenset(s for s in SCHEMAS if s in _grammars and s in _models and s in _fast_mods)


def _root_qname(schema: str, msg: object, element: str | None,
                fragment: bool = False) -> tuple[str, str]:
    mod = messages(schema)
    elements: dict[str, tuple[str, type]] = mod.FRAGMENTS if fragment else mod.ELEMENTS
    if element is not None:
        ent = elements.get(element)
        if ent is None:
            raise EncodeError(f"{element} is not a global element of {schema}", field=element)
        return (ent[0], element)
    matches = [(uri, local) for local, (uri, cls) in elements.items() if type(msg) is cls]
    if len(matches) != 1:
        raise EncodeError(
            f"cannot tell the element of a {type(msg).__name__}; pass element=",
            field=type(msg).__name__)
    return matches[0]


def _encode_obj(schema: str, enc: Encoder, msg: object, q: tuple[str, str], start: int) -> None:
    fn = _fast(schema).ENCODERS.get(start)
    if fn is None:
        enc.slow(msg, q, start)
        return
    try:
        fn(enc, enc.w, msg)
    except EncodeError as exc:
        raise exc.within(q[1]) from None
    except AttributeError as exc:
        raise EncodeError(f"wrong message class: {exc}", field=q[1]) from None


def _decode_obj(schema: str, dec: Decoder, q: tuple[str, str], start: int,
                fragment: bool = False) -> Any:
    mod = messages(schema)
    ent = (mod.FRAGMENTS if fragment else mod.ELEMENTS).get(q[1])
    if ent is None:
        # simple-typed element (fragments only): its value is the object
        return dec.element(q, start, 1).value
    fn = _fast(schema).DECODERS.get(start)
    if fn is None:
        return dec.slow(q, start, ent[1])
    return fn(dec, dec.r)


def encode(schema: str, msg: object) -> bytes:
    """Encode a typed message document (``V2G_Message`` or ``supportedAppProtocolReq/Res``)."""
    g = grammar(schema)
    q = _root_qname(schema, msg, None)
    roots = MESSAGE_ROOTS.get(schema)
    if roots is not None and q[1] not in roots:
        raise EncodeError(f"not a {schema} message root ({', '.join(roots)})", field=q[1])
    ent = g.doc_index.get(q)
    if ent is None:
        raise EncodeError("not a global element", field=q[1])
    enc = Encoder(g)
    enc.w.write(ent[0], g.doc_w)
    _encode_obj(schema, enc, msg, q, ent[1])
    return enc.w.getvalue()


def decode(schema: str, data: bytes) -> Any:
    """Decode an EXI document to its typed message object."""
    return decode_with_warnings(schema, data)[0]


def decode_with_warnings(schema: str, data: bytes) -> tuple[Any, list[str]]:
    """Like ``decode``, plus the value-facet violations seen (the peer's problem).

    ISO-2 streams that fail are retried with the reference codec's list grammar
    (exi_notes.md §2: a list filled exactly to a maxOccurs >= 16), maxOccurs still
    enforced.
    """
    try:
        return _decode_doc(schema, data)
    except DecodeError as exc:
        if schema != "iso2":
            raise
        try:
            return _decode_reference_lists(data)
        except DecodeError:
            raise exc from None


def _decode_reference_lists(data: bytes) -> tuple[Any, list[str]]:
    from exi._typed import from_tree

    g = _grammars.get("iso2ref")
    if g is None:
        mod = importlib.import_module("exi._generated.iso2ref_grammar")
        g = SchemaGrammar("iso2", mod.DATA)
        _grammars["iso2ref"] = g
    dec = Decoder(g, bytes(data))
    root = dec.document()
    msgs = messages("iso2")
    ent = msgs.ELEMENTS.get(root.qname[1])
    if ent is None:
        raise DecodeError(f"{root.qname[1]} has no message class", bit_position=-1,
                          state="DocContent")
    return from_tree(msgs.FIELDS, ent[1], root, msgs.OCCURS), dec.warnings


def _decode_doc(schema: str, data: bytes) -> tuple[Any, list[str]]:
    g = grammar(schema)
    dec = Decoder(g, bytes(data))
    dec.header()
    r = dec.r
    r.state = "DocContent"
    code = r.read(g.doc_w)
    if code >= len(g.doc):
        raise r.fail(f"event code {code} in DocContent is SE(*) or invalid: unsupported")
    q, start = g.doc[code]
    roots = MESSAGE_ROOTS.get(schema)
    if roots is not None and q[1] not in roots:
        raise r.fail(f"document root {q[1]} is not a {schema} message ({', '.join(roots)})")
    r.state = ""  # the generated decoders name the state on error (Decoder.locate)
    return _decode_obj(schema, dec, q, start), dec.warnings


def encode_fragment(schema: str, msg: object, *, element: str | None = None) -> bytes:
    """EXI fragment of one element (what ISO 15118-2 digests and signs).

    ``element`` names the global element when the class alone does not tell it.
    """
    g = grammar(schema)
    q = _root_qname(schema, msg, element, fragment=True)
    ent = g.frag_index.get(q)
    if ent is None or ent[1] < 0:
        raise EncodeError("not a fragment element of this schema", field=q[1])
    enc = Encoder(g)
    enc.w.write(ent[0], g.frag_w)
    _encode_obj(schema, enc, msg, q, ent[1])
    enc.w.write(len(g.frag) + 1, g.frag_w)
    return enc.w.getvalue()


def decode_fragment(schema: str, data: bytes) -> Any:
    """Decode an EXI fragment holding one element to its typed object."""
    g = grammar(schema)
    dec = Decoder(g, bytes(data))
    dec.header()
    r = dec.r
    r.state = "FragmentContent"
    code = r.read(g.frag_w)
    if code >= len(g.frag):
        raise r.fail(f"event code {code} in FragmentContent: expected one element")
    q, start = g.frag[code]
    if start < 0:
        raise r.fail(f"fragment element {q[1]} needs the relaxed fragment grammar")
    r.state = ""
    obj = _decode_obj(schema, dec, q, start, fragment=True)
    r.state = "FragmentContent"
    if r.read(g.frag_w) != len(g.frag) + 1:
        raise r.fail("fragment holds more than one element")
    return obj

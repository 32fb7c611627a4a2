"""XML text <-> element trees, for tools and interop checks.

Values stay lexical (str) on the way in; the encoder converts them with the datatype of
the grammar production. On the way out, typed values get the canonical lexical forms the
reference decoder prints (vectors/README.md "Lexical forms").
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from exi._codec import Element, SchemaGrammar, to_lexical
from exi.errors import EncodeError

# Prefixes as the XSDs use them (vectors/README.md "XML namespace prefixes").
PREFIXES: dict[str, dict[str, str]] = {
    "app": {"app": "urn:iso:15118:2:2010:AppProtocol"},
    "din": {
        "v2gci_d": "urn:din:70121:2012:MsgDef",
        "v2gci_h": "urn:din:70121:2012:MsgHeader",
        "v2gci_b": "urn:din:70121:2012:MsgBody",
        "v2gci_t": "urn:din:70121:2012:MsgDataTypes",
        "xmlsig": "http://www.w3.org/2000/09/xmldsig#",
    },
    "iso2": {
        "v2gci_d": "urn:iso:15118:2:2013:MsgDef",
        "v2gci_h": "urn:iso:15118:2:2013:MsgHeader",
        "v2gci_b": "urn:iso:15118:2:2013:MsgBody",
        "v2gci_t": "urn:iso:15118:2:2013:MsgDataTypes",
        "xmlsig": "http://www.w3.org/2000/09/xmldsig#",
    },
    "xmldsig": {"xmlsig": "http://www.w3.org/2000/09/xmldsig#"},
}


def _split(tag: str) -> tuple[str, str]:
    if tag.startswith("{"):
        uri, local = tag[1:].split("}", 1)
        return (uri, local)
    return ("", tag)


def parse_xml(xml: str) -> Element:
    """Parse an XML document into an element tree with lexical (str) values."""
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as exc:
        raise EncodeError(f"XML is not well-formed: {exc}", field="/") from exc
    return _from_et(root)


def _from_et(e: ET.Element) -> Element:
    node = Element(_split(e.tag))
    for k, v in e.attrib.items():
        q = _split(k)
        if q[0] == "http://www.w3.org/2001/XMLSchema-instance":
            raise EncodeError("xsi attributes are not supported", field=q[1])
        node.attrs.append((q, v))
    kids = list(e)
    if kids:
        node.children = [_from_et(c) for c in kids]
        text = (e.text or "") + "".join(c.tail or "" for c in kids)
        if text.strip():
            node.value = text
    else:
        node.value = e.text if e.text is not None else ""
    return node


def to_xml(schema: str, g: SchemaGrammar, root: Element | list[Element]) -> str:
    """Serialize a decoded tree with the schema's customary prefixes."""
    prefixes = PREFIXES[schema]
    by_uri = {uri: p for p, uri in prefixes.items()}
    del g  # values are already lexical (decoded with lexical=True)
    out: list[str] = []
    roots = root if isinstance(root, list) else [root]
    for r in roots:
        _emit(r, out, by_uri, prefixes, top=True)
    return "".join(out)


def _name(q: tuple[str, str], by_uri: dict[str, str], extra: dict[str, str]) -> str:
    if not q[0]:
        return q[1]
    p = by_uri.get(q[0])
    if p is None:
        p = extra.setdefault(q[0], f"ns{len(extra)}")
    return f"{p}:{q[1]}"


def _esc(s: str, attr: bool = False) -> str:
    """Escape so that an XML parser gives back exactly s (no newline normalisation).

    Characters XML 1.0 cannot carry at all (U+0000, most C0 controls; real cars send
    U+0000, exi_notes.md §7) come out as character references: readable, but such a
    document is only XML 1.1-parseable.
    """
    s = s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace(
        "\r", "&#13;")
    if attr:
        s = s.replace('"', "&quot;").replace("\n", "&#10;").replace("\t", "&#9;")
    if any(ord(c) < 0x20 and c not in "\t\n" for c in s):
        s = "".join(f"&#{ord(c)};" if ord(c) < 0x20 and c not in "\t\n" else c for c in s)
    return s


def _emit(node: Element, out: list[str], by_uri: dict[str, str], prefixes: dict[str, str],
          top: bool) -> None:
    extra: dict[str, str] = {}
    name = _name(node.qname, by_uri, extra)
    parts = [f"<{name}"]
    if top:
        for p, uri in prefixes.items():
            parts.append(f' xmlns:{p}="{uri}"')
    for q, v in node.attrs:
        parts.append(f' {_name(q, by_uri, extra)}="{_esc(_lex(v), attr=True)}"')
    for uri, p in extra.items():
        parts.append(f' xmlns:{p}="{uri}"')
    has_text = node.value is not None and node.value != ""
    if not node.children and not has_text:
        parts.append("/>")
        out.append("".join(parts))
        return
    parts.append(">")
    out.append("".join(parts))
    if has_text:
        assert node.value is not None
        out.append(_esc(_lex(node.value)))
    for c in node.children:
        _emit(c, out, by_uri, prefixes, top=False)
    out.append(f"</{name}>")


def _lex(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


__all__ = ["parse_xml", "to_xml", "to_lexical"]

"""``evse exi`` command line: decode/encode single messages.

    decode [--schema S] HEX      print the XML (schema auto-detected when omitted)
    encode --schema S < XML      print the EXI stream as hex

Captures (`evse exi decode --pcap FILE [--keylog F]`) are read by evse/replay/pcap.py, the
one capture reader (TCP reassembly, V2GTP framing, TLS 1.2 decryption); this module only
turns the payloads it finds into XML (`decode_messages`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TextIO

import exi
from exi.errors import ExiError

# V2GTP header (ISO 15118-2 §7.8.3): version 0x01, inverse 0xFE, payload type, length. A
# pasted hex message may carry it; it is skipped before decoding.
V2GTP_HEADER_LEN = 8
V2GTP_VERSION = 0x01
V2GTP_INV_VERSION = 0xFE
AUTODETECT_ORDER = ("din", "iso2", "app")
ROOT_ELEMENTS = {"V2G_Message", "supportedAppProtocolReq", "supportedAppProtocolRes"}


def detect_schema(data: bytes) -> str:
    """The schema set a document decodes under (the root element tells DIN from ISO-2)."""
    errors = []
    for schema in AUTODETECT_ORDER:
        try:
            roots = exi.decode_tree(schema, data)
        except ExiError as exc:
            errors.append(f"{schema}: {exc}")
            continue
        if roots[0].qname[1] in ROOT_ELEMENTS:
            return schema
        errors.append(f"{schema}: root {roots[0].qname[1]}")
    raise exi.DecodeError("no schema decodes this stream: " + "; ".join(errors),
                          bit_position=0, state="DocContent")


@dataclass(frozen=True, slots=True)
class CapturedMessage:
    """One EXI payload found in a capture (evse/replay/pcap.py `messages`)."""

    time_s: float
    src: str
    dst: str
    payload: bytes


def _direction(xml_root: str) -> str:
    if xml_root.endswith("Req"):
        return "EV->EVSE"
    if xml_root.endswith("Res"):
        return "EVSE->EV"
    return "?"


def decode_messages(messages: Iterable[CapturedMessage], out: TextIO) -> int:
    """Each captured EXI payload as a comment line (time, direction, addresses) and its
    XML; 1 when there was none."""
    n = 0
    for msg in messages:
        n += 1
        try:
            schema = detect_schema(msg.payload)
            roots = exi.decode_tree(schema, msg.payload)
            body = roots[0].child("Body")
            name = body.children[0].qname[1] if body and body.children else roots[0].qname[1]
            xml = exi.decode_to_xml(schema, msg.payload)
            out.write(f"<!-- t={msg.time_s:.6f} {_direction(name)} {msg.src} -> {msg.dst} "
                      f"schema={schema} {name} -->\n{xml}\n")
        except ExiError as exc:
            out.write(f"<!-- t={msg.time_s:.6f} {msg.src} -> {msg.dst} "
                      f"undecodable {msg.payload.hex()}: {exc} -->\n")
    return 0 if n else 1


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="evse exi", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    dec = sub.add_parser("decode", help="EXI -> XML")
    dec.add_argument("--schema", choices=exi.SCHEMAS)
    dec.add_argument("--fragment", action="store_true")
    dec.add_argument("hex", nargs="?")
    enc = sub.add_parser("encode", help="XML (stdin) -> EXI hex")
    enc.add_argument("--schema", choices=exi.SCHEMAS, required=True)
    enc.add_argument("--fragment", action="store_true")
    args = parser.parse_args(argv)
    try:
        if args.cmd == "encode":
            data = exi.encode_xml(args.schema, sys.stdin.read(), fragment=args.fragment)
            print(data.hex())
            return 0
        if not args.hex:
            parser.error("decode needs HEX (a capture: evse exi decode --pcap FILE)")
        raw = bytes.fromhex(args.hex.strip())
        if raw[:2] == bytes([V2GTP_VERSION, V2GTP_INV_VERSION]):
            raw = raw[V2GTP_HEADER_LEN:]
        schema = args.schema or detect_schema(raw)
        print(exi.decode_to_xml(schema, raw, fragment=args.fragment))
        return 0
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ExiError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

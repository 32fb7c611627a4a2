"""``evse exi`` command line: decode/encode single messages, decode V2G captures.

    decode [--schema S] HEX      print the XML (schema auto-detected when omitted)
    encode --schema S < XML      print the EXI stream as hex
    decode --pcap FILE           every V2GTP/EXI message of a pcap/pcapng capture
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TextIO

import exi
from exi.errors import ExiError

# V2GTP header (ISO 15118-2 §7.8.3): version 0x01, inverse 0xFE, payload type, length.
V2GTP_HEADER_LEN = 8
V2GTP_VERSION = 0x01
V2GTP_INV_VERSION = 0xFE
V2GTP_PAYLOAD_EXI = 0x8001  # ISO 15118-2 Table 10: EXI encoded V2G message
# Largest V2GTP payload we accept from a capture (a CertificateInstallationRes with a
# full chain is a few KiB); larger lengths are a corrupt stream, not a message.
V2GTP_MAX_PAYLOAD = 65536
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
    time_s: float
    src: str
    dst: str
    payload: bytes


def iter_v2gtp(path: str) -> Iterator[CapturedMessage]:
    """V2GTP EXI payloads of every TCP stream in a capture, in capture order."""
    from scapy.layers.inet import TCP  # lazy: scapy is slow to import
    from scapy.layers.inet6 import IPv6
    from scapy.utils import rdpcap

    buffers: dict[tuple[str, int, str, int], bytearray] = {}
    seen_seq: dict[tuple[str, int, str, int], set[int]] = {}
    for pkt in rdpcap(path):
        if TCP not in pkt:
            continue
        tcp = pkt[TCP]
        payload = bytes(tcp.payload)
        if not payload:
            continue
        ip = pkt[IPv6] if IPv6 in pkt else pkt.getlayer(1)
        src, dst = str(getattr(ip, "src", "?")), str(getattr(ip, "dst", "?"))
        key = (src, int(tcp.sport), dst, int(tcp.dport))
        seqs = seen_seq.setdefault(key, set())
        if int(tcp.seq) in seqs:
            continue  # retransmission
        seqs.add(int(tcp.seq))
        buf = buffers.setdefault(key, bytearray())
        buf += payload
        while len(buf) >= V2GTP_HEADER_LEN:
            if buf[0] != V2GTP_VERSION or buf[1] != V2GTP_INV_VERSION:
                buf.clear()  # not V2GTP (or lost sync): drop this segment's bytes
                break
            ptype = int.from_bytes(buf[2:4], "big")
            length = int.from_bytes(buf[4:8], "big")
            if length > V2GTP_MAX_PAYLOAD:
                buf.clear()
                break
            if len(buf) < V2GTP_HEADER_LEN + length:
                break
            body = bytes(buf[V2GTP_HEADER_LEN:V2GTP_HEADER_LEN + length])
            del buf[:V2GTP_HEADER_LEN + length]
            if ptype == V2GTP_PAYLOAD_EXI:
                yield CapturedMessage(float(pkt.time), f"[{src}]:{tcp.sport}",
                                      f"[{dst}]:{tcp.dport}", body)


def _direction(xml_root: str) -> str:
    if xml_root.endswith("Req"):
        return "EV->EVSE"
    if xml_root.endswith("Res"):
        return "EVSE->EV"
    return "?"


def decode_pcap(path: str, out: TextIO) -> int:
    return decode_messages(iter_v2gtp(path), out)


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
    dec.add_argument("--pcap")
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
        if args.pcap:
            return decode_pcap(args.pcap, sys.stdout)
        if not args.hex:
            parser.error("decode needs HEX or --pcap")
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

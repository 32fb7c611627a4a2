"""Car-side V2G sessions out of a pcap/pcapng (a tool, not a core: it reads files).

Groups IPv6 TCP segments by connection, reassembles each direction by sequence number
(retransmissions dropped), cuts V2GTP frames, decodes the client's first frame as
supportedAppProtocolReq and the rest with the negotiated schema. Everything it reports is
derived from the capture's content, never from its file name: the protocol from the
supportedAppProtocol exchange, DC or AC from the ChargeParameterDiscoveryReq (DIN SPEC
70121 is DC only), the car from the EVCCID of its SessionSetupReq.

Each TCP connection is classified (`ConnectionKind`): DC sessions are kept for replay,
with the CurrentDemand loop shortened to its first KEEP_HEAD and last KEEP_TAIL requests;
the others (AC, TLS-encrypted, another protocol, nothing negotiated) are reported with the
reason they cannot be replayed. An unreadable file is a `CaptureError`.
"""

from __future__ import annotations

import enum
import io
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scapy.error import Scapy_Exception
from scapy.layers.inet import TCP
from scapy.layers.inet6 import IPv6
from scapy.utils import rdpcap

import exi
from evse.capture.pcapng import BLOCK_SHB, BYTE_ORDER_MAGIC, PcapngError, key_log_of
from evse.replay.tls12 import Plaintext, TlsDecryptError, decrypt_connection, parse_key_log
from evse.v2gtp.header import PayloadType
from evse.v2gtp.stream import FrameReceived, StreamBroken, V2gtpStreamDecoder
from exi.cli import CapturedMessage

NS = {"urn:din:70121:2012:MsgDef": "din", "urn:iso:15118:2:2013:MsgDef": "iso2"}
KEEP_HEAD, KEEP_TAIL = 20, 5
#: V2GTP header: version 0x01, inverted version 0xFE (ISO 15118-2 7.8.3).
V2GTP_VERSION = b"\x01\xfe"
#: A TLS record starting a handshake (content type 22, major version 3).
TLS_HANDSHAKE = b"\x16\x03"


class CaptureError(Exception):
    """The file is not a readable pcap/pcapng capture."""


class ConnectionKind(enum.Enum):
    DC = "DC session"
    AC = "AC session (this SECC is DC only)"
    TLS = "TLS-encrypted V2G (EXI not visible: no key log, or it did not decrypt)"
    OTHER_PROTOCOL = "protocol other than DIN 70121 / ISO 15118-2 (e.g. ISO 15118-20)"
    NOT_NEGOTIATED = "supportedAppProtocol not concluded"
    UNDECODABLE = "supportedAppProtocol undecodable"
    UNKNOWN_MODE = ("ISO 15118-2 session that ended before ChargeParameterDiscovery "
                    "(AC or DC unknown)")


@dataclass
class Connection:
    kind: ConnectionKind
    detail: str = ""
    record: dict[str, Any] | None = None  # DC sessions: what replay_session needs


@dataclass
class Capture:
    connections: list[Connection] = field(default_factory=list)
    #: Car frames that did not decode (they are left out of the session).
    warnings: list[str] = field(default_factory=list)

    @property
    def dc_sessions(self) -> list[dict[str, Any]]:
        return [c.record for c in self.connections
                if c.kind is ConnectionKind.DC and c.record is not None]

    @property
    def replayable(self) -> list[Connection]:
        return [c for c in self.connections if c.record is not None]


Segments = list[tuple[float, int, bytes]]
StreamKey = tuple[object, ...]


@dataclass(frozen=True, slots=True)
class Stream:
    """One direction of a TCP connection, reassembled once: its bytes, and (offset, time)
    of each segment that brought them (a frame is timed by the segment completing it)."""

    data: bytes
    starts: list[tuple[int, float]]


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise CaptureError(f"{path}: not a readable pcap/pcapng capture ({exc})") from exc


def streams(path: Path, data: bytes) -> dict[StreamKey, Stream]:
    """Each IPv6 TCP stream of the capture `data` (read from `path`), reassembled."""
    out: dict[StreamKey, Segments] = {}
    try:
        packets = rdpcap(io.BytesIO(data))
    except (Scapy_Exception, EOFError, struct.error) as exc:
        raise CaptureError(f"{path}: not a readable pcap/pcapng capture ({exc})") from exc
    for pkt in packets:
        if IPv6 not in pkt or TCP not in pkt:
            continue
        data = bytes(pkt[TCP].payload)
        if not data:
            continue
        key = (pkt[IPv6].src, pkt[TCP].sport, pkt[IPv6].dst, pkt[TCP].dport)
        out.setdefault(key, []).append((float(pkt.time), int(pkt[TCP].seq), data))
    return {key: _reassemble(segs) for key, segs in out.items()}


def _reassemble(segs: Segments) -> Stream:
    """In sequence order, a retransmitted segment (same sequence number) once."""
    seen: set[int] = set()
    parts: list[bytes] = []
    starts: list[tuple[int, float]] = []
    size = 0
    for t, seq, data in sorted(segs, key=lambda s: (s[1], s[0])):
        if seq in seen:
            continue
        seen.add(seq)
        starts.append((size, t))
        parts.append(data)
        size += len(data)
    return Stream(b"".join(parts), starts)


_EMPTY = Stream(b"", [])


#: Largest V2GTP payload the reader frames. Wider than the SECC's own receive limit
#: (evse/v2gtp/header.py DEFAULT_MAX_PAYLOAD_LENGTH, 16 KiB): a capture holds both
#: directions, and a charger's CertificateInstallationRes with whole chains may be larger.
CAPTURE_MAX_PAYLOAD = 65_536


def frames(stream: Stream) -> list[tuple[float, bytes]]:
    """(time, payload) of every V2GTP frame of one direction, framed by the station's own
    decoder (evse/v2gtp/stream.py: its header checks and resynchronisation); a frame's
    time is that of the segment that completed it, when the SECC would have had it."""
    buf, times = stream.data, stream.starts
    decoder = V2gtpStreamDecoder(max_payload_length=CAPTURE_MAX_PAYLOAD,
                                 allowed_types=frozenset(PayloadType))
    res: list[tuple[float, bytes]] = []
    bounds = [off for off, _ in times[1:]] + [len(buf)]
    for (start, t), end in zip(times, bounds, strict=True):
        for event in decoder.feed(buf[start:end], round(t * 1e9)):
            if isinstance(event, StreamBroken):
                return res
            if isinstance(event, FrameReceived):
                res.append((event.received_ns / 1e9, event.payload))
    return res


def read_capture(path: Path, key_log: bytes = b"") -> Capture:
    """Every V2G connection of a capture, classified; DC sessions ready for replay. TLS
    connections are decrypted with the capture's own key log (a pcapng Decryption
    Secrets Block, as `capture: {tls_keys: true}` writes) plus `key_log`."""
    cap = Capture()
    st = plain_streams(path, key_log, cap)
    for key, stream in st.items():
        if not stream.data.startswith(V2GTP_VERSION):
            continue  # not a V2G client stream (a server's answers, or other TCP)
        conn = _classify(key, stream, st, cap.warnings)
        if conn is not None:
            cap.connections.append(conn)
    return cap


def plain_streams(path: Path, key_log: bytes, cap: Capture) -> dict[StreamKey, Stream]:
    """The capture's TCP streams with each TLS connection replaced by its decrypted
    application data where a key decrypts it; the others are reported in `cap` as
    ConnectionKind.TLS with the reason."""
    data = _read(path)
    st = streams(path, data)
    keys = parse_key_log(file_key_log(data, cap.warnings) + key_log)
    for key, stream in list(st.items()):
        buf = stream.data
        if not (buf.startswith(TLS_HANDSHAKE) and buf[5:6] == b"\x01"):  # ClientHello
            continue
        back = (key[2], key[3], key[0], key[1])
        server_stream = st.get(back, _EMPTY)
        del st[key]
        st.pop(back, None)
        if not keys:
            cap.connections.append(Connection(ConnectionKind.TLS))
            continue
        try:
            client, server = decrypt_connection(buf, server_stream.data, keys)
        except TlsDecryptError as exc:
            cap.connections.append(Connection(ConnectionKind.TLS, str(exc)))
            continue
        st[key] = _plain_stream(client, stream.starts)
        st[back] = _plain_stream(server, server_stream.starts)
    return st


def _plain_stream(plain: Plaintext, times: list[tuple[int, float]]) -> Stream:
    """Decrypted records as a stream: each record's plaintext at the time of the TCP
    segment its record started in."""
    parts: list[bytes] = []
    starts: list[tuple[int, float]] = []
    pos = 0
    for offset, data in plain.chunks:
        t = max((tt for off, tt in times if off <= offset), default=0.0)
        starts.append((pos, t))
        parts.append(data)
        pos += len(data)
    return Stream(b"".join(parts), starts)


def file_key_log(data: bytes, warnings: list[str]) -> bytes:
    """The key log lines a pcapng file carries (none for pcap files or other writers' byte
    order: those take `--keylog`)."""
    if data[:4] != struct.pack("<I", BLOCK_SHB) or data[8:12] != struct.pack(
            "<I", BYTE_ORDER_MAGIC):
        return b""
    try:
        return key_log_of(data)
    except PcapngError as exc:
        warnings.append(f"key log not read: {exc}")
        return b""


def messages(path: Path, key_log: bytes = b"") -> list[CapturedMessage]:
    """Every V2GTP payload of a capture in time order, TLS decrypted where a key is known
    (`evse exi decode --pcap`)."""
    cap = Capture()
    out = []
    for key, stream in plain_streams(path, key_log, cap).items():
        src, dst = f"[{key[0]}]:{key[1]}", f"[{key[2]}]:{key[3]}"
        out += [CapturedMessage(t, src, dst, payload) for t, payload in frames(stream)]
    return sorted(out, key=lambda m: m.time_s)


def _classify(key: StreamKey, stream: Stream, st: dict[StreamKey, Stream],
              warnings: list[str]) -> Connection | None:
    fr = frames(stream)
    if not fr:
        return None
    try:
        sap = exi.decode("app", fr[0][1])
    except exi.ExiError:
        return None  # the server side of a connection (its first frame is a response)
    if type(sap).__name__ != "supportedAppProtocolReq":
        return None
    back = (key[2], key[3], key[0], key[1])
    rfr = frames(st.get(back, _EMPTY))
    if not rfr:
        return Connection(ConnectionKind.NOT_NEGOTIATED, "no answer from the charger")
    try:
        sap_res = exi.decode("app", rfr[0][1])
    except exi.ExiError as exc:
        return Connection(ConnectionKind.UNDECODABLE, str(exc))
    ns = next((e.ProtocolNamespace for e in sap.AppProtocol
               if e.SchemaID == getattr(sap_res, "SchemaID", None)), None)
    if ns is None:
        return Connection(ConnectionKind.NOT_NEGOTIATED,
                          f"ResponseCode {getattr(sap_res, 'ResponseCode', '?')}")
    schema = NS.get(ns)
    if schema is None:
        return Connection(ConnectionKind.OTHER_PROTOCOL, ns)
    msgs: list[dict[str, Any]] = []
    mode: str | None = "DC" if schema == "din" else None  # DIN SPEC 70121 is DC only
    evccid = ""
    for t, payload in fr[1:]:
        try:
            body = exi.decode(schema, payload).Body.BodyElement
        except exi.ExiError as exc:
            warnings.append(f"undecodable car frame: {exc}")
            continue
        name = type(body).__name__
        if name == "SessionSetupReqType":
            evccid = bytes(body.EVCCID).hex().upper()
        if name == "ChargeParameterDiscoveryReqType":
            mode = _mode(body)
        msgs.append({"t_ms": round((t - fr[0][0]) * 1000), "type": name,
                     "exi": payload.hex()})
    if mode == "AC":
        return Connection(ConnectionKind.AC)
    evse = []
    processing = []
    for _t, payload in rfr[1:]:
        try:
            b = exi.decode(schema, payload).Body.BodyElement
            evse.append(f"{type(b).__name__}:{b.ResponseCode.value}")
            proc = getattr(b, "EVSEProcessing", None)
            processing.append("" if proc is None else str(proc.value))
        except (exi.ExiError, AttributeError):
            evse.append("undecodable")
            processing.append("")
    # The recorded charger's answer to each request (requests and responses alternate on
    # one V2G connection; "" where it never answered).
    for i, m in enumerate(msgs):
        m["recorded"] = evse[i].split(":", 1)[1] if i < len(evse) and ":" in evse[i] else ""
        m["recorded_processing"] = processing[i] if i < len(processing) else ""
    cd = [i for i, m in enumerate(msgs) if m["type"] == "CurrentDemandReqType"]
    if len(cd) > KEEP_HEAD + KEEP_TAIL:
        drop = set(cd[KEEP_HEAD:len(cd) - KEEP_TAIL])
        msgs = [m for i, m in enumerate(msgs) if i not in drop]
    if mode is None:
        # ended before ChargeParameterDiscovery: AC or DC cannot be told (not replayed)
        return Connection(ConnectionKind.UNKNOWN_MODE, f"{len(msgs)} requests")
    return Connection(ConnectionKind.DC, record={
        "sap": fr[0][1].hex(), "schema": schema, "evccid": evccid, "car_messages": msgs,
        "evse_first_codes": evse[:12], "current_demands_total": len(cd)})


def _mode(body: Any) -> str:
    if not hasattr(body.EVChargeParameter, "EVMaximumVoltageLimit"):
        return "AC"
    mode = getattr(body, "RequestedEnergyTransferMode", None) or getattr(
        body, "EVRequestedEnergyTransferType", None)
    return "DC" if mode is None or str(mode.value).startswith("DC") else "AC"


def sessions(path: Path) -> list[dict[str, Any]]:
    """Every DC V2G session (car side + the charger's first response codes) of a capture."""
    return read_capture(path).dc_sessions

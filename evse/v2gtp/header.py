"""V2GTP header: 8 bytes in front of every SDP datagram and every EXI message on TCP/TLS.

Layout (ISO 15118-2:2014 7.8.3 / DIN SPEC 70121 8.7.3), big-endian:
version (1) | inverse version (1) | payload type (2) | payload length (4).
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Collection
from dataclasses import dataclass

from evse.v2gtp.errors import (
    DatagramLengthError,
    IncorrectVersionError,
    PayloadTooLargeError,
    UnknownPayloadTypeError,
    V2gtpLocalError,
)

HEADER_LENGTH = 8
PROTOCOL_VERSION = 0x01  # ISO 15118-2 7.8.3: V2GTP version 1
INVERSE_PROTOCOL_VERSION = 0xFE  # bitwise inverse of the version, a cheap framing check
MAX_WIRE_PAYLOAD_LENGTH = 0xFFFF_FFFF  # 4-byte length field

# Our own bound, not the standard's: the largest ISO 15118-2 message (CertificateInstallationRes
# with two certificate chains and an encrypted key) stays well below 8 KiB; the largest
# plaintext frame in tests/data/v2g/v2gtp_real_frames.jsonl is 205 bytes. Configurable.
DEFAULT_MAX_PAYLOAD_LENGTH = 16 * 1024

_HEADER = struct.Struct(">BBHI")


class PayloadType(enum.IntEnum):
    """Payload types this SECC understands (ISO 15118-2 7.8.3 / DIN SPEC 70121 8.7.3)."""

    EXI = 0x8001  # SAP, DIN 70121 and ISO 15118-2 EXI messages share one type
    SDP_REQUEST = 0x9000
    SDP_RESPONSE = 0x9001


STREAM_PAYLOAD_TYPES: frozenset[PayloadType] = frozenset({PayloadType.EXI})
"""What a TCP/TLS V2G connection may carry."""


@dataclass(frozen=True, slots=True)
class V2gtpHeader:
    payload_type: PayloadType
    payload_length: int


def _payload_type_name(value: int) -> str:
    if 0x8002 <= value <= 0x8006:
        return f"0x{value:04x} (ISO 15118-20, not supported)"
    return f"0x{value:04x}"


def parse_header(
    data: bytes | bytearray,
    *,
    allowed_types: Collection[PayloadType],
    max_payload_length: int = DEFAULT_MAX_PAYLOAD_LENGTH,
) -> V2gtpHeader:
    """Check the first 8 bytes of ``data``; raise the typed error for the first failed check.

    Order matters and follows the standard's processing order: version first (if it is wrong
    nothing else is trustworthy), then payload type, then length.
    """
    if len(data) < HEADER_LENGTH:
        raise V2gtpLocalError(f"parse_header needs {HEADER_LENGTH} bytes, got {len(data)}")
    raw = bytes(data[:HEADER_LENGTH])
    version, inverse, ptype, length = _HEADER.unpack(raw)
    if version != PROTOCOL_VERSION or inverse != INVERSE_PROTOCOL_VERSION:
        raise IncorrectVersionError(
            f"V2GTP version 0x{version:02x}/0x{inverse:02x}, expected 0x01/0xfe", raw
        )
    if ptype not in {int(t) for t in allowed_types}:
        raise UnknownPayloadTypeError(
            f"V2GTP payload type {_payload_type_name(ptype)} not accepted here",
            raw,
            payload_type=ptype,
            payload_length=length,
        )
    if length > max_payload_length:
        raise PayloadTooLargeError(
            f"V2GTP payload length {length} exceeds maximum {max_payload_length}",
            raw,
            payload_length=length,
            max_length=max_payload_length,
        )
    return V2gtpHeader(PayloadType(ptype), length)


def encode_frame(payload_type: PayloadType, payload: bytes) -> bytes:
    """Header + payload, ready for a socket."""
    if len(payload) > MAX_WIRE_PAYLOAD_LENGTH:
        raise V2gtpLocalError(f"payload of {len(payload)} bytes does not fit a V2GTP frame")
    return (
        _HEADER.pack(PROTOCOL_VERSION, INVERSE_PROTOCOL_VERSION, int(payload_type), len(payload))
        + payload
    )


def decode_datagram(
    datagram: bytes,
    *,
    allowed_types: Collection[PayloadType],
    max_payload_length: int = DEFAULT_MAX_PAYLOAD_LENGTH,
) -> tuple[PayloadType, bytes]:
    """One UDP datagram = exactly one frame; any disagreement is a DatagramLengthError."""
    if len(datagram) < HEADER_LENGTH:
        raise DatagramLengthError(
            f"datagram of {len(datagram)} bytes is shorter than a V2GTP header", datagram
        )
    header = parse_header(
        datagram, allowed_types=allowed_types, max_payload_length=max_payload_length
    )
    if len(datagram) != HEADER_LENGTH + header.payload_length:
        raise DatagramLengthError(
            f"datagram carries {len(datagram) - HEADER_LENGTH} payload bytes, "
            f"header says {header.payload_length}",
            datagram[:HEADER_LENGTH],
        )
    return header.payload_type, bytes(datagram[HEADER_LENGTH:])

"""pcapng blocks as bytes: the session captures Wireshark opens (sans-IO: no file, no clock).

The format is the IETF draft "PCAP Next Generation (pcapng) Capture File Format"
(draft-ietf-opsawg-pcapng): a file is a Section Header Block (SHB), then Interface
Description Blocks (IDB), then Enhanced Packet Blocks (EPB) and, for TLS, a Decryption
Secrets Block (DSB) holding the NSS key log lines of the section's TLS sessions, so
Wireshark (and the dsV2Gshark dissector behind it) decrypts V2G over TLS from the capture
file alone. Every block is `type, total length, body padded to 32 bits, total length`;
we write little-endian, which the byte-order magic tells readers.

Why our own encoder rather than scapy's `RawPcapNgWriter`: scapy's writer has no DSB
(the key log would have to travel as a second file), writes microsecond timestamps only
(we keep the kernel's nanoseconds: `if_tsresol` 9) and owns its file. Reading uses
scapy's `rdpcap` (`evse replay`, `evse exi decode --pcap`), an independent implementation,
and the tests check our files with it (and with tshark where installed).
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Iterator
from dataclasses import dataclass

BLOCK_SHB = 0x0A0D0D0A
BLOCK_IDB = 0x00000001
BLOCK_EPB = 0x00000006
BLOCK_DSB = 0x0000000A
BYTE_ORDER_MAGIC = 0x1A2B3C4D
#: DSB secrets type "TLSK": NSS key log lines (draft-ietf-opsawg-pcapng §4.7).
SECRETS_TLS_KEY_LOG = 0x544C534B
#: LINKTYPE_ETHERNET: HomePlug AV (SLAC) and IPv6 frames as the interface carries them.
LINKTYPE_ETHERNET = 1
SNAPLEN = 262144

_OPT_END = 0
_OPT_COMMENT = 1
_SHB_OS = 3
_SHB_USERAPPL = 4
_IF_NAME = 2
_IF_TSRESOL = 9
_EPB_FLAGS = 2
#: Smallest block: type, total length, total length.
_BLOCK_OVERHEAD = 12


class Direction(enum.IntEnum):
    """epb_flags bits 0-1: which way the frame went on the interface."""

    UNKNOWN = 0
    INBOUND = 1
    OUTBOUND = 2


class PcapngError(Exception):
    """Bytes that are not a well-formed pcapng block stream."""


def _pad(data: bytes) -> bytes:
    return data + b"\x00" * (-len(data) % 4)


def _option(code: int, value: bytes) -> bytes:
    return struct.pack("<HH", code, len(value)) + _pad(value)


def _options(*opts: bytes) -> bytes:
    return b"".join(opts) + struct.pack("<HH", _OPT_END, 0) if opts else b""


def _block(block_type: int, body: bytes) -> bytes:
    body = _pad(body)
    total = _BLOCK_OVERHEAD + len(body)
    return struct.pack("<II", block_type, total) + body + struct.pack("<I", total)


def section_header(*, application: str, os_name: str | None = None) -> bytes:
    """SHB, section length unknown (-1: the file grows while the session runs)."""
    opts = [_option(_SHB_USERAPPL, application.encode())]
    if os_name:
        opts.append(_option(_SHB_OS, os_name.encode()))
    body = struct.pack("<IHHq", BYTE_ORDER_MAGIC, 1, 0, -1) + _options(*opts)
    return _block(BLOCK_SHB, body)


def interface_description(if_name: str, *, linktype: int = LINKTYPE_ETHERNET) -> bytes:
    """IDB of interface 0 with nanosecond timestamps (if_tsresol 9 = 10^-9 s)."""
    body = struct.pack("<HHI", linktype, 0, SNAPLEN) + _options(
        _option(_IF_NAME, if_name.encode()), _option(_IF_TSRESOL, bytes([9])))
    return _block(BLOCK_IDB, body)


def enhanced_packet(frame: bytes, timestamp_ns: int, direction: Direction, *,
                    interface_id: int = 0, comment: str | None = None) -> bytes:
    """EPB: one frame, its Unix time in ns, and its direction."""
    data = frame[:SNAPLEN]
    opts = [_option(_EPB_FLAGS, struct.pack("<I", int(direction)))]
    if comment:
        opts.append(_option(_OPT_COMMENT, comment.encode()))
    body = struct.pack("<IIIII", interface_id, (timestamp_ns >> 32) & 0xFFFFFFFF,
                       timestamp_ns & 0xFFFFFFFF, len(data), len(frame))
    return _block(BLOCK_EPB, body + _pad(data) + _options(*opts))


def decryption_secrets(key_log: bytes) -> bytes:
    """DSB with NSS key log lines (`CLIENT_RANDOM <random> <master secret>`). Wireshark
    applies it to the packets after it, so it goes before the section's first packet."""
    return _block(BLOCK_DSB, struct.pack("<II", SECRETS_TLS_KEY_LOG, len(key_log))
                  + _pad(key_log))


@dataclass(frozen=True, slots=True)
class Block:
    block_type: int
    body: bytes
    offset: int


def blocks(data: bytes) -> Iterator[Block]:
    """The blocks of a little-endian pcapng stream, in order; a truncated or inconsistent
    block raises `PcapngError` naming its offset."""
    pos = 0
    while pos < len(data):
        if len(data) - pos < _BLOCK_OVERHEAD:
            raise PcapngError(f"truncated block header at offset {pos}")
        block_type, total = struct.unpack_from("<II", data, pos)
        if total < _BLOCK_OVERHEAD or total % 4 or pos + total > len(data):
            raise PcapngError(f"block at offset {pos}: bad total length {total}")
        (trailer,) = struct.unpack_from("<I", data, pos + total - 4)
        if trailer != total:
            raise PcapngError(f"block at offset {pos}: trailing length {trailer} != {total}")
        yield Block(block_type, data[pos + 8:pos + total - 4], pos)
        pos += total


def complete_prefix(data: bytes) -> int:
    """Length of the longest prefix made of whole blocks (a file cut by a crash or a power
    loss mid-write keeps every block before the cut)."""
    end = 0
    try:
        for block in blocks(data):
            end = block.offset + _BLOCK_OVERHEAD + len(block.body)
    except PcapngError:
        pass  # the cut: everything up to `end` is whole
    return end


def key_log_of(data: bytes) -> bytes:
    """The TLS key log lines of every DSB in a capture (for tools and tests)."""
    out = b""
    for block in blocks(data):
        if block.block_type == BLOCK_DSB:
            secrets_type, length = struct.unpack_from("<II", block.body)
            if secrets_type == SECRETS_TLS_KEY_LOG:
                out += block.body[8:8 + length]
    return out

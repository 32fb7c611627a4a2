"""Byte framing of the contract link: magic, length, CBOR payload, CRC32.

    +-------+-----------------+----------------+----------------+------------------+
    | EC 5C | length (u32 BE) | hcrc (u16 BE)  | payload (CBOR) | CRC32 (u32 BE)   |
    +-------+-----------------+----------------+----------------+------------------+
    hcrc = low 16 bits of CRC32(magic + length); CRC32 covers every byte before it.

Why a magic and a header check: on a UART a flipped length byte would otherwise make
the decoder wait for (and then discard) up to 64 KiB of good frames. The header check
rejects a bad length at once; on any mismatch the decoder drops one byte and hunts for
the next magic, so one bad byte costs at most the frames it overlaps, never the link.
"""

from __future__ import annotations

import enum
import struct
import zlib
from dataclasses import dataclass

MAGIC = b"\xec\x5c"
HEADER = struct.Struct(">2sIH")
_HEAD_CHECKED = 6  # magic + length, covered by hcrc
CRC = struct.Struct(">I")
OVERHEAD_BYTES = HEADER.size + CRC.size
# Largest payload: a PnC certificate chain (5 x 4 KiB) or EXI blob (16 KiB) plus the
# envelope fits with room to spare; anything longer is a corrupt length field.
MAX_PAYLOAD_BYTES = 65536


class FrameFaultKind(enum.Enum):
    BAD_MAGIC = "bad_magic"  # bytes skipped while hunting for a frame start
    BAD_LENGTH = "bad_length"  # header check failed, or length 0 / above MAX_PAYLOAD_BYTES
    BAD_CRC = "bad_crc"


@dataclass(frozen=True, slots=True)
class FrameFault:
    kind: FrameFaultKind
    skipped_bytes: int


def encode_frame(payload: bytes) -> bytes:
    if not 0 < len(payload) <= MAX_PAYLOAD_BYTES:
        raise ValueError(f"payload of {len(payload)} bytes cannot be framed")
    prefix = MAGIC + len(payload).to_bytes(4, "big")
    head = prefix + (zlib.crc32(prefix) & 0xFFFF).to_bytes(2, "big") + payload
    return head + CRC.pack(zlib.crc32(head))


class FrameDecoder:
    """Reassembles frames from arbitrary byte chunks; reports what it had to skip."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[bytes | FrameFault]:
        self._buf += data
        out: list[bytes | FrameFault] = []
        buf = self._buf
        pos = 0
        while True:
            start = buf.find(MAGIC, pos)
            if start < 0:
                # keep a trailing first magic byte: it may be the start of the next frame
                keep = len(buf) - 1 if buf[-1:] == MAGIC[:1] else len(buf)
                keep = max(keep, pos)  # never re-read bytes of a frame already returned
                if keep > pos:
                    out.append(FrameFault(FrameFaultKind.BAD_MAGIC, keep - pos))
                pos = keep
                break
            if start > pos:
                out.append(FrameFault(FrameFaultKind.BAD_MAGIC, start - pos))
                pos = start
            if len(buf) - pos < HEADER.size:
                break
            _, length, hcrc = HEADER.unpack_from(buf, pos)
            head_ok = zlib.crc32(memoryview(buf)[pos:pos + _HEAD_CHECKED]) & 0xFFFF == hcrc
            if not head_ok or not 0 < length <= MAX_PAYLOAD_BYTES:
                out.append(FrameFault(FrameFaultKind.BAD_LENGTH, 1))
                pos += 1
                continue
            end = pos + HEADER.size + length
            if len(buf) < end + CRC.size:
                break
            (crc,) = CRC.unpack_from(buf, end)
            if zlib.crc32(memoryview(buf)[pos:end]) != crc:
                out.append(FrameFault(FrameFaultKind.BAD_CRC, 1))
                pos += 1
                continue
            out.append(bytes(buf[pos + HEADER.size:end]))
            pos = end + CRC.size
        del buf[:pos]
        return out

    def reset(self) -> None:
        """Forget partial input (new connection)."""
        self._buf.clear()

    @property
    def buffered_bytes(self) -> int:
        return len(self._buf)

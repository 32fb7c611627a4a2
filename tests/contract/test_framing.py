"""Frame format: any chunking, any garbage; never an exception, never a wrong payload."""

from __future__ import annotations

import zlib

from hypothesis import given, settings, strategies as st

from evse.contract.framing import MAGIC, FrameDecoder, FrameFault, FrameFaultKind, encode_frame


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(min_size=1, max_size=80), max_size=10), st.integers(1, 40),
       st.binary(max_size=30))
def test_frames_survive_any_chunking_and_leading_garbage(
    payloads: list[bytes], chunk: int, garbage: bytes
) -> None:
    stream = garbage + b"".join(encode_frame(p) for p in payloads)
    dec = FrameDecoder()
    out: list[bytes | FrameFault] = []
    for i in range(0, len(stream), chunk):
        out += dec.feed(stream[i:i + chunk])
    got = [o for o in out if isinstance(o, bytes)]
    # garbage may itself contain a valid frame only by a CRC32 collision
    assert got[-len(payloads):] == payloads if payloads else True
    assert got == payloads or garbage


def test_a_frame_whose_crc_ends_in_a_magic_byte_leaves_nothing_behind() -> None:
    payload = next(bytes([i]) for i in range(256)
                   if (zlib.crc32(encode_frame(bytes([i]))[:-4]) & 0xFF) == MAGIC[0])
    dec = FrameDecoder()
    assert dec.feed(encode_frame(payload)) == [payload]
    assert dec.buffered_bytes == 0
    assert dec.feed(encode_frame(b"next")) == [b"next"]


def test_a_corrupt_length_is_rejected_at_once_instead_of_stalling_the_stream() -> None:
    frame = bytearray(encode_frame(b"hello"))
    frame[3] ^= 0x01  # length field now claims 16 MiB + 5
    out = FrameDecoder().feed(bytes(frame) + encode_frame(b"after"))
    assert out[-1] == b"after"
    assert FrameFault(FrameFaultKind.BAD_LENGTH, 1) in out

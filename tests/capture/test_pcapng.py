"""pcapng blocks: what we write is what an independent reader (scapy's) reads back, frame
for frame, with the kernel's nanoseconds and the direction; a file cut mid-block keeps
its whole blocks; the TLS key log travels in a Decryption Secrets Block."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from hypothesis import given, strategies as st
from scapy.utils import RawPcapNgReader

from evse.capture.pcapng import (
    BLOCK_DSB,
    BLOCK_EPB,
    BLOCK_IDB,
    BLOCK_SHB,
    Direction,
    PcapngError,
    blocks,
    complete_prefix,
    decryption_secrets,
    enhanced_packet,
    interface_description,
    key_log_of,
    section_header,
)

HEAD = section_header(application="evse test", os_name="Linux") + interface_description("eth1")
frames_st = st.lists(st.tuples(st.binary(min_size=14, max_size=1514),
                               st.integers(min_value=1, max_value=2**63 - 1),
                               st.sampled_from([Direction.INBOUND, Direction.OUTBOUND])),
                     max_size=12)


def _write(tmp: Path, data: bytes) -> Path:
    path = tmp / "c.pcapng"
    path.write_bytes(data)
    return path


@given(frames=frames_st)
def test_scapy_reads_back_every_frame_its_nanoseconds_and_direction(
        frames: list[tuple[bytes, int, Direction]], tmp_path_factory: pytest.TempPathFactory
) -> None:
    data = HEAD + b"".join(enhanced_packet(f, ts, d) for f, ts, d in frames)
    path = _write(tmp_path_factory.mktemp("p"), data)
    with RawPcapNgReader(str(path)) as reader:
        got = list(reader)
    assert [bytes(g[0]) for g in got] == [f for f, _, _ in frames]
    for (_, meta), (_, ts, d) in zip(got, frames):
        # if_tsresol 9: the reader's tsresol is 10^9 per second, tshigh/tslow our ns
        assert meta.tsresol == 10**9 and (meta.tshigh << 32 | meta.tslow) == ts
        assert meta.direction == d and meta.ifname == b"eth1"
    assert [b.block_type for b in blocks(data)] == [BLOCK_SHB, BLOCK_IDB] + [BLOCK_EPB] * len(
        frames)


@given(frames=frames_st, cut=st.integers(min_value=0, max_value=4000))
def test_a_file_cut_anywhere_keeps_exactly_its_whole_blocks(
        frames: list[tuple[bytes, int, Direction]], cut: int) -> None:
    data = HEAD + b"".join(enhanced_packet(f, ts, d) for f, ts, d in frames)
    cut_at = min(cut, len(data))
    keep = complete_prefix(data[:cut_at])
    assert keep <= cut_at
    kept = list(blocks(data[:keep]))
    assert kept == list(blocks(data))[:len(kept)]
    # nothing whole was thrown away: the next block would not have fitted
    ends = [b.offset + 12 + len(b.body) for b in blocks(data)]
    assert keep == max((e for e in ends if e <= cut_at), default=0)


def test_a_truncated_block_is_a_typed_error_naming_its_offset() -> None:
    data = HEAD + enhanced_packet(b"\x00" * 60, 1, Direction.INBOUND)
    with pytest.raises(PcapngError, match=f"offset {len(HEAD)}"):
        list(blocks(data[:-3]))
    bad = bytearray(data)
    struct.pack_into("<I", bad, len(bad) - 4, 999)  # trailing length disagrees
    with pytest.raises(PcapngError, match="trailing length"):
        list(blocks(bytes(bad)))


def test_the_key_log_travels_in_a_decryption_secrets_block() -> None:
    keys = b"CLIENT_RANDOM " + b"ab" * 32 + b" " + b"cd" * 48 + b"\n"
    data = HEAD + decryption_secrets(keys) + enhanced_packet(b"\x00" * 60, 5, Direction.INBOUND)
    assert [b.block_type for b in blocks(data)][2] == BLOCK_DSB
    assert key_log_of(data) == keys
    assert key_log_of(HEAD) == b""

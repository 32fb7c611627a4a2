"""Session capture files (`capture:`): one file per plug-in, the session's TLS key log
inside it before the first packet, rotation by count and size, a crash leaves a readable
file, numbering goes on across restarts."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

from scapy.utils import rdpcap

from evse.capture.pcapng import BLOCK_DSB, BLOCK_EPB, Direction, blocks, key_log_of
from evse.io.capture import (
    PREROLL_MAX_FRAMES,
    PREROLL_NS,
    CaptureConfig,
    SessionCaptures,
    TappedFrame,
)

T0_NS = 1_796_000_000_000_000_000  # 2026-11-30, any Unix time


def frame(n: int, ethertype: bytes = b"\x86\xdd") -> TappedFrame:
    return TappedFrame(b"\x02" * 6 + b"\x04" * 6 + ethertype + n.to_bytes(2, "big") * 25,
                       T0_NS + n * 1000, Direction.INBOUND)


def _id(packet: object) -> int:
    return int.from_bytes(bytes(packet)[14:16], "big")  # type: ignore[call-overload]


def captures(tmp: Path, **kw: object) -> SessionCaptures:
    return SessionCaptures(CaptureConfig(tmp, **kw), "eth1", lambda: T0_NS)  # type: ignore[arg-type]


def test_one_file_per_session_and_nothing_between_sessions(tmp_path: Path) -> None:
    now = [T0_NS + 10 * PREROLL_NS]
    cap = SessionCaptures(CaptureConfig(tmp_path), "eth1", lambda: now[0])
    cap.write([frame(0)])  # long before the first plug-in: no session's traffic
    cap.session_started()
    cap.write([frame(1), frame(2)])
    first = cap.session_ended()
    cap.write([frame(3)])  # between sessions, long before the next one
    now[0] += 100 * PREROLL_NS
    cap.session_started()
    cap.write([frame(4)])
    second = cap.session_ended()
    assert first is not None and second is not None
    assert first.name.startswith("session-000001-20261130T") and first.suffix == ".pcapng"
    assert second.name.startswith("session-000002-")
    assert [_id(p) for p in rdpcap(str(first))] == [1, 2]
    assert [_id(p) for p in rdpcap(str(second))] == [4]
    assert not list(tmp_path.glob("*.part"))


def test_what_came_just_before_the_plug_in_was_reported_opens_the_sessions_file(
        tmp_path: Path) -> None:
    """The pilot reports a plug-in after its debounce and a scheduler turn; a car without a
    pilot wire (the bench) may have started SDP and TLS by then."""
    now = [T0_NS + PREROLL_NS + 50_000]  # frame(n) is at T0 + n µs: from frame(50) on
    cap = SessionCaptures(CaptureConfig(tmp_path), "eth1", lambda: now[0])
    cap.write([frame(0)])  # older than PREROLL_NS
    cap.write([frame(n) for n in range(100, 100 + PREROLL_MAX_FRAMES + 5)])  # bounded
    cap.session_started()
    cap.write([frame(999)])
    path = cap.session_ended()
    assert path is not None
    got = [_id(p) for p in rdpcap(str(path))]
    assert got == list(range(105, 100 + PREROLL_MAX_FRAMES + 5)) + [999]


def test_numbering_goes_on_after_a_restart(tmp_path: Path) -> None:
    cap = captures(tmp_path)
    cap.session_started()
    cap.session_ended()
    cap2 = captures(tmp_path)
    cap2.session_started()
    path = cap2.session_ended()
    assert path is not None and path.name.startswith("session-000002-")


def client_hello(random: bytes) -> TappedFrame:
    """Ethernet + IPv6 (next header TCP) + TCP (20 B) + a ClientHello record's start."""
    ipv6 = b"\x60\x00\x00\x00\x00\x00\x06\x40" + b"\xfe\x80" + b"\x00" * 30
    tcp = b"\x00" * 12 + b"\x50" + b"\x00" * 7
    hello = b"\x16\x03\x01\x00\x40" + b"\x01\x00\x00\x3c\x03\x03" + random + b"\x00" * 20
    return TappedFrame(b"\x02" * 6 + b"\x04" * 6 + b"\x86\xdd" + ipv6 + tcp + hello,
                       T0_NS, Direction.INBOUND)


def key_line(random: bytes) -> str:
    return f"CLIENT_RANDOM {random.hex()} {'bb' * 48}\n"


def test_the_sessions_tls_keys_go_into_its_file_before_the_first_packet(tmp_path: Path) -> None:
    cap = captures(tmp_path, tls_keys=True)
    key_log = tmp_path / "tls-keys.log"
    assert stat.S_IMODE(key_log.stat().st_mode) == 0o600  # secrets: owner only
    mine, earlier = b"\xaa" * 32, b"\x00" * 32
    with key_log.open("a") as fh:  # an earlier session's key is not this one's
        fh.write("# TLS secrets log file\n" + key_line(earlier))
    cap.session_started()
    cap.write([frame(1), client_hello(mine)])
    with key_log.open("a") as fh:
        fh.write(key_line(mine) + "CLIENT_RANDOM half-writ")  # the TLS stack mid-line
    cap.write([frame(2)])
    path = cap.session_ended()
    assert path is not None
    data = path.read_bytes()
    kinds = [b.block_type for b in blocks(data)]
    assert kinds.index(BLOCK_DSB) < kinds.index(BLOCK_EPB)
    assert key_log_of(data) == key_line(mine).encode()
    assert len(rdpcap(str(path))) == 3


def test_a_handshake_before_the_plug_in_was_reported_still_gets_its_key(
        tmp_path: Path) -> None:
    """The bench's car may finish its TLS handshake before the pilot reports the plug-in:
    the frames come with the pre-roll, and so does the key."""
    cap = SessionCaptures(CaptureConfig(tmp_path, tls_keys=True), "eth1", lambda: T0_NS)
    random = b"\x5a" * 32
    cap.write([client_hello(random)])  # no session open yet
    with (tmp_path / "tls-keys.log").open("a") as fh:
        fh.write(key_line(random))
    cap.session_started()
    path = cap.session_ended()
    assert path is not None and key_log_of(path.read_bytes()) == key_line(random).encode()


def test_without_tls_keys_no_key_log_is_written_or_embedded(tmp_path: Path) -> None:
    cap = captures(tmp_path)
    assert cap.config.key_log_path is None
    cap.session_started()
    cap.write([frame(1)])
    path = cap.session_ended()
    assert path is not None and key_log_of(path.read_bytes()) == b""
    assert not (tmp_path / "tls-keys.log").exists()


def test_only_max_files_captures_are_kept_oldest_removed_first(tmp_path: Path) -> None:
    cap = captures(tmp_path, max_files=2)
    made = []
    for n in range(4):
        cap.session_started()
        cap.write([frame(n)])
        made.append(cap.session_ended())
    assert sorted(tmp_path.glob("session-*.pcapng")) == made[2:]


def test_a_session_file_stops_growing_at_max_session_bytes(tmp_path: Path) -> None:
    cap = captures(tmp_path, max_session_bytes=600)
    cap.session_started()
    cap.write([frame(n) for n in range(20)])
    path = cap.session_ended()
    assert path is not None
    assert path.stat().st_size <= 600
    kept = rdpcap(str(path))
    assert 0 < len(kept) < 20
    assert [_id(p) for p in kept] == list(range(len(kept)))  # the first ones, in order


def test_a_crash_mid_session_leaves_a_readable_interrupted_capture(tmp_path: Path) -> None:
    cap = captures(tmp_path)
    cap.session_started()
    cap.write([frame(1), frame(2)])
    part = next(tmp_path.glob("*.pcapng.part"))
    with part.open("ab") as fh:  # power lost in the middle of the next block
        fh.write(b"\x06\x00\x00\x00\x60\x00\x00\x00\x00")
    os.sync()
    captures(tmp_path)  # the next start
    saved = list(tmp_path.glob("session-000001-*-interrupted.pcapng"))
    assert len(saved) == 1 and not list(tmp_path.glob("*.part"))
    assert [_id(p) for p in rdpcap(str(saved[0]))] == [1, 2]


def test_a_failing_disk_gives_the_capture_up_and_never_raises_into_the_station(
        tmp_path: Path) -> None:
    """The capture is a witness: the pilot's chart calls these on plug-in and unplug."""
    cap = captures(tmp_path / "caps")
    cap.session_started()
    cap.write([frame(1)])
    shutil.rmtree(tmp_path / "caps")  # the card went away
    assert cap.session_ended() is None
    cap.session_started()  # cannot open a file now: logged, not raised
    cap.write([frame(2)])
    assert cap.session_ended() is None
    assert cap.errors == 2

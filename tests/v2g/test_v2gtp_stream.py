"""Stream reassembly: split and coalesced TCP segments give back exactly the frames sent."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings, strategies as st

from evse.v2gtp import (
    FrameDiscarded,
    FrameReceived,
    IncorrectVersionError,
    PayloadTooLargeError,
    PayloadType,
    StreamBroken,
    TruncatedStreamError,
    UnknownPayloadTypeError,
    V2gtpStreamDecoder,
    encode_frame,
)

from .data import real_v2gtp_frames

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _chunks(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in zip(points, points[1:], strict=False)]


def _real_exi_session() -> list[bytes]:
    rows = [r for r in real_v2gtp_frames() if r["kind"] == "exi"]
    return [bytes.fromhex(r["v2gtp_hex"])[8:] for r in rows[:60]]


@SETTINGS
@given(
    payloads=st.lists(st.binary(max_size=300), min_size=1, max_size=8),
    cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=20),
)
def test_any_split_of_valid_frames_reassembles_exactly(
    payloads: list[bytes], cuts: list[int]
) -> None:
    stream = b"".join(encode_frame(PayloadType.EXI, p) for p in payloads)
    decoder = V2gtpStreamDecoder()
    out: list[bytes] = []
    for i, chunk in enumerate(_chunks(stream, cuts)):
        for event in decoder.feed(chunk, now_ns=i):
            assert isinstance(event, FrameReceived)
            out.append(event.payload)
    assert out == payloads
    assert decoder.buffered_bytes == 0


def test_real_session_fed_one_byte_at_a_time_and_all_at_once_agree() -> None:
    payloads = _real_exi_session()
    stream = b"".join(encode_frame(PayloadType.EXI, p) for p in payloads)
    coalesced = V2gtpStreamDecoder().feed(stream, now_ns=0)
    trickle = V2gtpStreamDecoder()
    trickled = [e for i in range(len(stream)) for e in trickle.feed(stream[i : i + 1], now_ns=i)]
    assert [e.payload for e in coalesced if isinstance(e, FrameReceived)] == payloads
    assert [e.payload for e in trickled if isinstance(e, FrameReceived)] == payloads


def test_frame_is_stamped_with_the_time_its_last_byte_arrived() -> None:
    frame = encode_frame(PayloadType.EXI, b"\x80\x98\x02")
    decoder = V2gtpStreamDecoder()
    assert decoder.feed(frame[:5], now_ns=100) == []
    (event,) = decoder.feed(frame[5:], now_ns=250)
    assert isinstance(event, FrameReceived) and event.received_ns == 250


@SETTINGS
@given(data=st.binary(max_size=600), cuts=st.lists(st.integers(0, 1000), max_size=12))
def test_any_bytes_either_frame_discard_or_break_and_feed_always_returns(
    data: bytes, cuts: list[int]
) -> None:
    """Invariant: any input either frames, is discarded, or breaks the stream; never hangs,
    never buffers more than header + max payload."""
    decoder = V2gtpStreamDecoder(max_payload_length=256)
    for chunk in _chunks(data, cuts):
        events = decoder.feed(chunk, now_ns=0)
        for event in events:
            assert isinstance(event, FrameReceived | FrameDiscarded | StreamBroken)
        assert decoder.buffered_bytes <= 8 + 256 + len(chunk)
        if decoder.broken:
            assert isinstance(events[-1], StreamBroken)
            break


def test_unknown_payload_type_is_skipped_and_the_next_frame_still_arrives() -> None:
    alien = bytes.fromhex("01fe8002") + (5).to_bytes(4, "big") + b"12345"  # ISO 15118-20 type
    good = encode_frame(PayloadType.EXI, b"\x80\x00")
    decoder = V2gtpStreamDecoder()
    events = [e for b in alien[:10] + alien[10:] + good for e in decoder.feed(bytes([b]), 0)]
    assert isinstance(events[0], FrameDiscarded)
    assert isinstance(events[0].error, UnknownPayloadTypeError)
    assert isinstance(events[1], FrameReceived) and events[1].payload == b"\x80\x00"
    assert not decoder.broken


def test_wrong_version_breaks_the_stream() -> None:
    decoder = V2gtpStreamDecoder()
    (event,) = decoder.feed(bytes.fromhex("02fd800100000000"), now_ns=7)
    assert isinstance(event, StreamBroken) and isinstance(event.error, IncorrectVersionError)
    assert decoder.broken


def test_oversize_length_breaks_the_stream_before_buffering_the_payload() -> None:
    decoder = V2gtpStreamDecoder(max_payload_length=100)
    (event,) = decoder.feed(bytes.fromhex("01fe8001") + (101).to_bytes(4, "big"), now_ns=0)
    assert isinstance(event, StreamBroken) and isinstance(event.error, PayloadTooLargeError)
    assert decoder.buffered_bytes == 0


def test_peer_closing_inside_a_frame_is_a_truncated_stream() -> None:
    decoder = V2gtpStreamDecoder()
    decoder.feed(encode_frame(PayloadType.EXI, b"abcdef")[:10], now_ns=0)
    (event,) = decoder.feed_eof(now_ns=1)
    assert isinstance(event, StreamBroken) and isinstance(event.error, TruncatedStreamError)


def test_peer_closing_between_frames_is_clean() -> None:
    decoder = V2gtpStreamDecoder()
    decoder.feed(encode_frame(PayloadType.EXI, b"abc"), now_ns=0)
    assert decoder.feed_eof(now_ns=1) == []

"""Stream reassembly: split and coalesced TCP segments give back exactly the frames sent."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from evse.v2gtp import (
    EmptyPayloadError,
    FrameDiscarded,
    FrameReceived,
    HeaderErrorAction,
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
    payloads=st.lists(st.binary(min_size=1, max_size=300), min_size=1, max_size=8),
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


@pytest.mark.req("ISO15118-4:TC_SECC_CMN_VTB_V2GTPSessionSetup_004")
@pytest.mark.req("ISO15118-4:TC_SECC_CMN_VTB_V2GTPSessionSetup_005")
@pytest.mark.parametrize("version", ["ff fe", "01 ff", "02 fd"])
def test_wrong_version_is_ignored_with_its_body_and_the_next_message_is_framed(
        version: str) -> None:
    """The ISO 15118-4 cases send the doctored header and the body in one segment: both are
    dropped, nothing is answered, and the car's next (valid) message is read normally."""
    body = b"\x80\x9a\x02\x00\x00"
    decoder = V2gtpStreamDecoder()
    bad = bytes.fromhex(version.replace(" ", "") + "8001") + len(body).to_bytes(4, "big") + body
    (event,) = decoder.feed(bad, now_ns=7)
    assert isinstance(event, FrameDiscarded) and isinstance(event.error, IncorrectVersionError)
    assert event.error.action is HeaderErrorAction.DISCARD_RECEIVED
    assert not decoder.broken and decoder.buffered_bytes == 0
    (good,) = decoder.feed(encode_frame(PayloadType.EXI, body), now_ns=9)
    assert isinstance(good, FrameReceived) and good.payload == body


@pytest.mark.req("ISO15118-4:TC_SECC_CMN_VTB_V2GTPSessionSetup_002")
def test_payload_length_zero_is_ignored_and_the_body_that_follows_too() -> None:
    body = b"\x80\x9a\x02\x00\x00"
    decoder = V2gtpStreamDecoder()
    events = decoder.feed(bytes.fromhex("01fe800100000000") + body, now_ns=0)
    assert [type(e) for e in events] == [FrameDiscarded]  # the 5-byte body waits: no header yet
    assert isinstance(events[0].error, EmptyPayloadError)
    assert not decoder.broken
    *ignored, good = decoder.feed(encode_frame(PayloadType.EXI, body), now_ns=1)
    assert [type(e) for e in ignored] == [FrameDiscarded]  # the stale body, resynchronised
    assert isinstance(good, FrameReceived) and good.payload == body


@pytest.mark.req("ISO15118-4:TC_SECC_CMN_VTB_V2GTPSessionSetup_003")
def test_unknown_payload_type_with_length_zero_and_a_body_is_ignored() -> None:
    body = b"\x80\x9a\x02\x00\x00"
    decoder = V2gtpStreamDecoder()
    events = decoder.feed(bytes.fromhex("01fe700100000000") + body, now_ns=0)
    assert events and all(isinstance(e, FrameDiscarded) for e in events)
    assert isinstance(events[0].error, UnknownPayloadTypeError)
    *_, good = decoder.feed(encode_frame(PayloadType.EXI, body), now_ns=1)
    assert isinstance(good, FrameReceived) and good.payload == body
    assert not decoder.broken


@SETTINGS
@given(junk=st.binary(max_size=80), cuts=st.lists(st.integers(0, 200), max_size=6))
def test_after_any_ignored_garbage_a_valid_message_in_a_later_segment_is_read(
        junk: bytes, cuts: list[int]) -> None:
    """Resynchronisation: whatever the car sent before (a doctored header, half a body), once
    it falls silent and sends a valid message, that message comes out, unless the garbage
    itself ends in what still reads as an unfinished valid header."""
    body = b"\x80\x9a\x02\x00\x00\x00\x00\x00\x00\x10"
    decoder = V2gtpStreamDecoder(max_payload_length=256)
    for chunk in _chunks(b"\xff" + junk, cuts):
        decoder.feed(chunk, now_ns=0)
        if decoder.broken:
            return  # oversize / truncated: closing is the defined answer
    if decoder.buffered_bytes:
        return  # a plausible header start is pending: the next bytes belong to it
    events = decoder.feed(encode_frame(PayloadType.EXI, body), now_ns=1)
    assert isinstance(events[-1], FrameReceived) and events[-1].payload == body


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

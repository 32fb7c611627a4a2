"""V2GTP header checks: every bad header gets its typed error and its defined action."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from evse.sdp import SdpRemoteError, decode_request_datagram, encode_request_datagram
from evse.v2gtp import (
    DatagramLengthError,
    HeaderErrorAction,
    IncorrectVersionError,
    PayloadTooLargeError,
    PayloadType,
    UnknownPayloadTypeError,
    V2gtpLocalError,
    V2gtpRemoteError,
    decode_datagram,
    encode_frame,
    parse_header,
)

from .data import real_v2gtp_frames

STREAM = (PayloadType.EXI,)


def test_every_real_frame_parses_with_its_length_and_type() -> None:
    frames = real_v2gtp_frames()
    assert len(frames) > 1000
    for row in frames:
        frame = bytes.fromhex(row["v2gtp_hex"])
        ptype, payload = decode_datagram(frame, allowed_types=tuple(PayloadType))
        expected = (
            PayloadType.EXI if row["kind"] == "exi" else PayloadType(int(frame[2:4].hex(), 16))
        )
        assert ptype is expected
        assert encode_frame(ptype, payload) == frame


def test_encoded_header_is_version_1_inverse_fe_big_endian_length() -> None:
    assert encode_frame(PayloadType.EXI, b"\xaa" * 0x0102)[:8] == bytes.fromhex("01fe800100000102")


@pytest.mark.parametrize(
    "header",
    [
        "02fd800100000002",  # version 2 with a consistent inverse: still not ours
        "01ff800100000002",  # inverse byte wrong
        "00ff800100000002",
        "fe01800100000002",  # bytes swapped
        "1603030000000000",  # a TLS record arriving on the plain TCP port
    ],
)
def test_wrong_version_drops_what_was_received_and_keeps_the_connection(header: str) -> None:
    with pytest.raises(IncorrectVersionError) as info:
        parse_header(bytes.fromhex(header), allowed_types=STREAM)
    assert info.value.action is HeaderErrorAction.DISCARD_RECEIVED  # ignored (README table)


@pytest.mark.parametrize("ptype", [0x8002, 0x8003, 0x8004, 0x0000, 0x9000, 0x9001, 0xFFFF])
def test_unknown_or_misplaced_payload_type_is_discarded_not_fatal(ptype: int) -> None:
    header = bytes.fromhex("01fe") + ptype.to_bytes(2, "big") + (7).to_bytes(4, "big")
    with pytest.raises(UnknownPayloadTypeError) as info:
        parse_header(header, allowed_types=STREAM)
    assert info.value.action is HeaderErrorAction.DISCARD_MESSAGE
    assert info.value.payload_length == 7
    assert info.value.payload_type == ptype


def test_payload_longer_than_configured_maximum_closes_the_connection() -> None:
    header = bytes.fromhex("01fe8001") + (1025).to_bytes(4, "big")
    with pytest.raises(PayloadTooLargeError) as info:
        parse_header(header, allowed_types=STREAM, max_payload_length=1024)
    assert info.value.action is HeaderErrorAction.CLOSE_CONNECTION
    assert (
        parse_header(
            header[:4] + (1024).to_bytes(4, "big"), allowed_types=STREAM, max_payload_length=1024
        ).payload_length
        == 1024
    )


def test_version_is_checked_before_type_and_length() -> None:
    with pytest.raises(IncorrectVersionError):
        parse_header(bytes.fromhex("0201ffffffffffff"), allowed_types=STREAM, max_payload_length=1)


@pytest.mark.parametrize("datagram", ["01fe9000000000021000ff", "01fe9000000000031000", "01fe90"])
def test_datagram_whose_size_disagrees_with_its_header_is_ignored(datagram: str) -> None:
    with pytest.raises(DatagramLengthError) as info:
        decode_datagram(bytes.fromhex(datagram), allowed_types=(PayloadType.SDP_REQUEST,))
    assert info.value.action is HeaderErrorAction.IGNORE_DATAGRAM


def test_parse_header_on_fewer_than_8_bytes_is_our_bug() -> None:
    with pytest.raises(V2gtpLocalError):
        parse_header(b"\x01\xfe", allowed_types=STREAM)


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=8, max_size=64), st.integers(min_value=0, max_value=1 << 20))
def test_any_header_bytes_either_parse_or_raise_the_typed_remote_error(
    data: bytes, max_payload_length: int
) -> None:
    """Invariant: any 8+ bytes parse into a header or raise a V2gtpRemoteError with an action."""
    try:
        header = parse_header(data, allowed_types=STREAM, max_payload_length=max_payload_length)
    except V2gtpRemoteError as exc:
        assert isinstance(exc.action, HeaderErrorAction)
    else:
        assert data[:2] == b"\x01\xfe"
        assert header.payload_length <= max_payload_length


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=40))
def test_any_datagram_is_an_sdp_request_or_an_ignorable_error(datagram: bytes) -> None:
    """Invariant: the SDP server never raises on what arrives; it answers or ignores."""
    try:
        request = decode_request_datagram(datagram)
    except SdpRemoteError as exc:
        assert exc.action is HeaderErrorAction.IGNORE_DATAGRAM
    else:
        assert len(datagram) == 10 and encode_request_datagram(request) == datagram

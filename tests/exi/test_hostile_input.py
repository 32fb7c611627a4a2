"""Hostile or broken input: only exi.DecodeError, with position and state, bounded work."""

from __future__ import annotations

import time

import pytest
from exi_vectors import load
from hypothesis import HealthCheck, given, settings, strategies as st

import exi

REAL = load("real_world_exi.jsonl")
SEEDS = [(v["schema"], bytes.fromhex(v["hex"])) for v in REAL[::7]]
# Generous per-input bound: typical decodes take tens of microseconds.
MAX_DECODE_S = 0.5


def _decode_all_ways(schema: str, data: bytes) -> None:
    for fn in (exi.decode, exi.decode_to_xml, exi.decode_fragment):
        start = time.perf_counter()
        try:
            fn(schema, data)
        except exi.DecodeError as exc:
            assert exc.state
            assert exc.bit_position >= -1
        assert time.perf_counter() - start < MAX_DECODE_S


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(SEEDS), st.data())
def test_mutated_real_messages_raise_only_decode_error(seed: tuple[str, bytes],
                                                       data: st.DataObject) -> None:
    schema, raw = seed
    buf = bytearray(raw)
    for _ in range(data.draw(st.integers(1, 4))):
        op = data.draw(st.integers(0, 2))
        if op == 0:
            bit = data.draw(st.integers(0, len(buf) * 8 - 1))
            buf[bit >> 3] ^= 0x80 >> (bit & 7)
        elif op == 1:
            del buf[data.draw(st.integers(1, len(buf))):]
        else:
            at = data.draw(st.integers(0, len(buf)))
            buf[at:at] = data.draw(st.binary(min_size=1, max_size=6))
    _decode_all_ways(schema, bytes(buf))


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["app", "din", "iso2", "xmldsig"]), st.binary(max_size=80))
def test_random_bytes_raise_only_decode_error(schema: str, tail: bytes) -> None:
    _decode_all_ways(schema, b"\x80" + tail)
    _decode_all_ways(schema, tail)


def test_truncated_stream_reports_bit_position_and_state() -> None:
    data = bytes.fromhex(next(v["hex"] for v in REAL if v["message"] == "CurrentDemandReq"))
    with pytest.raises(exi.DecodeError) as err:
        exi.decode("din", data[:12])
    assert 0 < err.value.bit_position <= 96
    assert "Type#" in err.value.state or "Type" in err.value.state


def test_wrong_header_byte_is_rejected() -> None:
    with pytest.raises(exi.DecodeError) as err:
        exi.decode("din", b"$EXI\x80\x9a")
    assert err.value.bit_position == 8
    assert err.value.state == "header"


def test_hostile_string_length_is_rejected_before_allocating() -> None:
    # DIN SessionSetupReq: SessionID (hexBinary, maxLength 8) claims 2**28 bytes.
    data = bytes.fromhex("809a02") + bytes([0xFF, 0xFF, 0xFF, 0x7F]) + bytes(8)
    with pytest.raises(exi.DecodeError) as err:
        exi.decode("din", data)
    assert "length" in err.value.reason


def test_unknown_schema_name_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        exi.decode("iso20", b"\x80")


def test_out_of_facet_value_from_a_real_car_decodes_with_a_warning() -> None:
    vec = next(v for v in REAL if v["name"] == "rw1003-iso2-PowerDeliveryReq")
    msg, warnings = exi.decode_with_warnings("iso2", bytes.fromhex(vec["hex"]))
    assert any("outside [1, 3]" in w for w in warnings)
    entries = msg.Body.BodyElement.ChargingProfile.ProfileEntry
    assert 4 in [e.ChargingProfileEntryMaxNumberOfPhasesInUse for e in entries]


def test_control_characters_in_strings_round_trip() -> None:
    # exi_notes.md §7: two real messages carry U+0000 inside strings.
    from exi import din

    msg = din.V2G_Message(
        Header=din.MessageHeaderType(SessionID=b"\x01"),
        Body=din.BodyType(BodyElement=din.SessionSetupResType(
            ResponseCode=din.responseCodeType.OK, EVSEID=b"\x00", DateTimeNow=0)))
    res = exi.decode("din", exi.encode("din", msg))
    assert res == msg


def test_xml_with_elements_out_of_order_is_rejected_naming_the_element() -> None:
    xml = ('<d:V2G_Message xmlns:d="urn:din:70121:2012:MsgDef" '
           'xmlns:h="urn:din:70121:2012:MsgHeader" xmlns:b="urn:din:70121:2012:MsgBody">'
           '<d:Body><b:SessionStopReq/></d:Body><d:Header><h:SessionID>01</h:SessionID>'
           '</d:Header></d:V2G_Message>')
    with pytest.raises(exi.EncodeError) as err:
        exi.encode_xml("din", xml)
    assert err.value.field.endswith("Body")


def test_typed_decode_refuses_documents_that_are_not_messages() -> None:
    # A valid EXI document whose root is another global element (DIN SessionSetupReq).
    data = exi.encode_xml("din", '<b:SessionSetupReq xmlns:b="urn:din:70121:2012:MsgBody">'
                                 "<b:EVCCID>01</b:EVCCID></b:SessionSetupReq>")
    with pytest.raises(exi.DecodeError) as err:
        exi.decode("din", data)
    assert "not a din message" in err.value.reason

"""Golden frames of the iso165C CAN protocol (§2.3) and the isoCHA425HV RTU frames (§2.2)."""

from __future__ import annotations

import pytest
from pymodbus.framer import FramerRTU
from pymodbus.pdu import DecodePDU
from pymodbus.pdu.register_message import (
    ReadHoldingRegistersRequest,
    ReadHoldingRegistersResponse,
    WriteSingleRegisterRequest,
)

from drivers.imd import iso165c, isocha425
from evse.ports.imd import ImdRemoteError, ImdUsageError
from tests.power.golden import by_name, vectors


def crc16_modbus(data: bytes) -> bytes:
    """Independent CRC-16/MODBUS (poly 0xA001 reflected, init 0xFFFF), low byte first."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc.to_bytes(2, "little")


def test_imd_info_decodes_little_endian_words() -> None:
    v = by_name("iso165c", "IMD_Info 5000 kOhm, insulation fault, measurement active")
    info = iso165c.decode_info(bytes.fromhex(v["data"]))
    assert info.resistance_kohm == v["resistance_kohm"]
    assert info.imc_status == iso165c.ImcStatus.INSULATION_FAULT
    assert info.vifc_status == iso165c.VifcStatus.MEASUREMENT_ACTIVE
    assert iso165c.encode_info(info).hex().upper() == v["data"]


def test_requests_are_command_byte_plus_two_words() -> None:
    st = iso165c.request(iso165c.CommandFrame(iso165c.Command.SELF_TEST, 1))
    on = iso165c.request(iso165c.CommandFrame(iso165c.Command.MEASUREMENT, 1))
    for msg, name in ((st, "self-test overall request"), (on, "measurement on request")):
        v = by_name("iso165c", name)
        assert (f"{msg.arbitration_id:03X}", bytes(msg.data).hex().upper()) == (v["id"], v["data"])
        assert not msg.is_extended_id


def test_response_echoes_command() -> None:
    v = by_name("iso165c", "GET_HV1 response 400 V")
    resp = iso165c.decode_command(bytes.fromhex(v["data"]))
    assert resp.command == iso165c.Command.GET_HV1 and resp.word1 == v["word1"]


def test_short_info_and_out_of_range_words_are_typed_errors() -> None:
    with pytest.raises(ImdRemoteError):
        iso165c.decode_info(b"\x00\x01")
    with pytest.raises(ImdUsageError):
        iso165c.encode_command(iso165c.CommandFrame(0x28, 0x10000))


def test_golden_rtu_frames_carry_a_valid_crc() -> None:
    for v in vectors("isocha425_rtu"):
        if "frame" in v:
            raw = bytes.fromhex(v["frame"])
            assert crc16_modbus(raw[:-2]) == raw[-2:], v["name"]


def test_driver_frames_match_golden_rtu_bytes() -> None:
    framer = FramerRTU(DecodePDU(False))
    read = framer.buildFrame(ReadHoldingRegistersRequest(dev_id=3, address=1000, count=4))
    write = framer.buildFrame(WriteSingleRegisterRequest(dev_id=3, address=8005,
                                                         registers=[0x5445]))
    assert read.hex().upper() == by_name("isocha425_rtu",
                                         "read R_F channel: 4 registers at 1000, device 3")["frame"]
    assert write.hex().upper() == by_name("isocha425_rtu",
                                          "start self-test: write 0x5445 to 8005")["frame"]


def test_resistance_channel_reply_decodes_float_high_word_first() -> None:
    v = by_name("isocha425_rtu", "R_F channel reply 250 kOhm, unit ohm")
    body = bytes.fromhex(v["frame_without_crc"])
    raw = body + crc16_modbus(body)
    used, pdu = FramerRTU(DecodePDU(False)).handleFrame(raw, 3, 0)
    assert used == len(raw) and isinstance(pdu, ReadHoldingRegistersResponse)
    ch = isocha425.decode_channel(list(pdu.registers))
    assert ch.value == v["resistance_ohm"] and ch.valid
    assert isocha425.encode_channel(ch) == v["registers"]

"""The one Modbus RTU client codec (drivers/modbus/rtu.py) against pymodbus' framer, an
independent implementation: every request we build is what pymodbus' server decodes, every
reply pymodbus builds is what we parse, whole or cut anywhere; a damaged, foreign or
exception reply is its typed error."""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st
from pymodbus.framer import FramerRTU
from pymodbus.pdu import DecodePDU, ExceptionResponse
from pymodbus.pdu.register_message import (
    ReadHoldingRegistersRequest,
    ReadHoldingRegistersResponse,
    ReadInputRegistersRequest,
    ReadInputRegistersResponse,
    WriteSingleRegisterRequest,
    WriteSingleRegisterResponse,
)

from drivers.modbus.rtu import (
    FC_READ_HOLDING,
    FC_READ_INPUT,
    RtuBadReply,
    RtuCrcError,
    RtuExceptionReply,
    parse_read_reply,
    parse_write_reply,
    read_request,
    write_single_request,
)

devices = st.integers(min_value=1, max_value=247)
addresses = st.integers(min_value=0, max_value=0xFFFF)
registers = st.lists(st.integers(min_value=0, max_value=0xFFFF), min_size=1, max_size=40)
SERVER = FramerRTU(DecodePDU(True))
_READS = {FC_READ_HOLDING: (ReadHoldingRegistersRequest, ReadHoldingRegistersResponse),
          FC_READ_INPUT: (ReadInputRegistersRequest, ReadInputRegistersResponse)}


@given(device=devices, fc=st.sampled_from(sorted(_READS)), address=addresses, regs=registers)
def test_reads_round_trip_through_pymodbus(device: int, fc: int, address: int,
                                           regs: list[int]) -> None:
    used, pdu = SERVER.handleFrame(read_request(device, fc, address, len(regs)), 0, 0)
    request_type, response_type = _READS[fc]
    assert isinstance(pdu, request_type)
    assert (pdu.dev_id, pdu.address, pdu.count) == (device, address, len(regs))
    reply = bytes(SERVER.buildFrame(response_type(dev_id=device, registers=regs)))
    for cut in range(len(reply)):  # incomplete: not yet an answer, never an error
        assert parse_read_reply(reply[:cut], device, fc, address, len(regs)) is None
    assert parse_read_reply(reply, device, fc, address, len(regs)) == regs


@given(device=devices, address=addresses, value=st.integers(min_value=0, max_value=0xFFFF))
def test_writes_round_trip_through_pymodbus(device: int, address: int, value: int) -> None:
    _, pdu = SERVER.handleFrame(write_single_request(device, address, value), 0, 0)
    assert isinstance(pdu, WriteSingleRegisterRequest)
    assert (pdu.dev_id, pdu.address, pdu.registers) == (device, address, [value])
    echo = bytes(SERVER.buildFrame(WriteSingleRegisterResponse(
        dev_id=device, address=address, registers=[value])))
    assert not parse_write_reply(echo[:-1], device, address, value)
    assert parse_write_reply(echo, device, address, value)
    with pytest.raises(RtuBadReply, match="write echo"):
        parse_write_reply(echo, device, address, value ^ 1)


def test_defective_replies_are_typed_errors() -> None:
    good = bytes(SERVER.buildFrame(ReadInputRegistersResponse(dev_id=1, registers=[1, 2])))
    with pytest.raises(RtuCrcError):
        parse_read_reply(good[:-1] + bytes([good[-1] ^ 0xFF]), 1, FC_READ_INPUT, 0, 2)
    with pytest.raises(RtuBadReply, match="address 1"):
        parse_read_reply(good, 2, FC_READ_INPUT, 0, 2)
    with pytest.raises(RtuBadReply, match="byte count"):
        parse_read_reply(good, 1, FC_READ_INPUT, 0, 3)
    exc = bytes(SERVER.buildFrame(ExceptionResponse(FC_READ_INPUT, 2, device_id=1)))
    with pytest.raises(RtuExceptionReply) as err:
        parse_read_reply(exc, 1, FC_READ_INPUT, 0x48, 2)
    assert err.value.code == 2 and err.value.address == 0x48
    wexc = bytes(SERVER.buildFrame(ExceptionResponse(0x06, 3, device_id=5)))
    with pytest.raises(RtuExceptionReply):
        parse_write_reply(wexc, 5, 10, 1)

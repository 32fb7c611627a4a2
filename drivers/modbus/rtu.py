"""Modbus RTU, the client side: request frames and typed reply parsing (sans-IO).

One codec for every RTU driver of the station (drivers/imd/isocha425.py, the Bender IMD;
drivers/meter/modbus_sdm.py, the DC meter). Our own rather than pymodbus' client framer so
that every defect of a reply is a typed error the driver maps to its port's fault (a CRC
error is line noise, a wrong length or address a bad reply, an exception reply the
device's own answer), and so that the simulated slaves, built on pymodbus' server framer
(drivers/modbus/sim.py), are an independent implementation on the other end of the line.

Frames (Modbus over Serial Line V1.02 §2.5.1, Modbus Application Protocol V1.1b3 §6):
address, function, data, CRC-16/MODBUS (poly 0xA001 reflected, init 0xFFFF, low byte
first). Functions used: 0x03 read holding registers, 0x04 read input registers, 0x06
write single register; an exception reply is function | 0x80 and one exception code.
"""

from __future__ import annotations

import struct

FC_READ_HOLDING = 0x03
FC_READ_INPUT = 0x04
FC_WRITE_SINGLE = 0x06
_EXCEPTION_BIT = 0x80


class RtuError(Exception):
    """A reply that is not a good answer to the request (the subclass says how)."""


class RtuCrcError(RtuError):
    """The reply's CRC-16/MODBUS does not match (line noise)."""


class RtuExceptionReply(RtuError):
    """The device answered with a Modbus exception (function | 0x80, code)."""

    def __init__(self, code: int, address: int) -> None:
        super().__init__(f"Modbus exception {code} for register {address:#06x}")
        self.code = code
        self.address = address


class RtuBadReply(RtuError):
    """A reply of the wrong address, function, length or echo."""


def crc16_modbus(data: bytes) -> int:
    """CRC-16/MODBUS: check(b"123456789") == 0x4B37."""
    crc = 0xFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def _seal(body: bytes) -> bytes:
    return body + crc16_modbus(body).to_bytes(2, "little")


def read_request(device: int, function: int, address: int, count: int) -> bytes:
    """Read `count` holding (0x03) or input (0x04) registers from `address`."""
    return _seal(struct.pack(">BBHH", device, function, address, count))


def write_single_request(device: int, address: int, value: int) -> bytes:
    """Write one holding register (0x06); the device echoes the request."""
    return _seal(struct.pack(">BBHH", device, FC_WRITE_SINGLE, address, value))


def _exception(frame: bytes, device: int, function: int, address: int) -> None:
    """Raise the typed error of an exception reply (complete: 5 bytes)."""
    if crc16_modbus(frame[:3]) != int.from_bytes(frame[3:5], "little"):
        raise RtuCrcError("CRC mismatch in an exception reply")
    if frame[0] != device:
        raise RtuBadReply(f"exception reply from address {frame[0]}, want {device}")
    raise RtuExceptionReply(frame[2], address)


def _check(frame: bytes, need: int, device: int, function: int) -> bytes:
    body, crc = frame[:need - 2], int.from_bytes(frame[need - 2:need], "little")
    if crc16_modbus(body) != crc:
        raise RtuCrcError(f"CRC {crc:#06x} != {crc16_modbus(body):#06x}")
    if frame[0] != device or frame[1] != function:
        raise RtuBadReply(f"reply from address {frame[0]} function {frame[1]:#04x}, want "
                          f"{device} {function:#04x}")
    return body


def parse_read_reply(frame: bytes, device: int, function: int, address: int,
                     count: int) -> list[int] | None:
    """Registers of a complete reply to a read (function, address, count); None while it
    is incomplete. Raises the typed error of a defective reply."""
    if len(frame) < 5:
        return None
    if frame[1] == function | _EXCEPTION_BIT:
        _exception(frame, device, function, address)
    if frame[1] == function and frame[2] != 2 * count:
        raise RtuBadReply(f"byte count {frame[2]}, want {2 * count}")
    need = 3 + 2 * count + 2
    if len(frame) < need:
        return None
    body = _check(frame, need, device, function)
    return list(struct.unpack(f">{count}H", body[3:]))


def parse_write_reply(frame: bytes, device: int, address: int, value: int) -> bool:
    """True once the echo of a write single register is complete and matches; False while
    it is incomplete. Raises the typed error of a defective reply."""
    if len(frame) < 5:
        return False
    if frame[1] == FC_WRITE_SINGLE | _EXCEPTION_BIT:
        _exception(frame, device, FC_WRITE_SINGLE, address)
    if len(frame) < 8:
        return False
    body = _check(frame, 8, device, FC_WRITE_SINGLE)
    if struct.unpack(">HH", body[2:6]) != (address, value):
        raise RtuBadReply(f"write echo {body[2:6].hex()} for register {address:#06x}")
    return True

"""PROTNO 0x060 register protocol (Winline V1.50, SCU DPM1000-30) with per-vendor tables.

One codec, two register tables: ID layout, request/response payloads and the register maps
are in hardware.md §1.3 (read from EVerest's Winline and DPM1000 drivers; where the Winline
README contradicts its code, the code was followed).
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass, field

import can

from drivers.power.dbc import NormalisedDbc
from drivers.power.protocol import (
    FRAME_DLC,
    ModuleProtocol,
    ModuleReply,
    ReplyAck,
    ReplyCapabilities,
    ReplyStatus,
    ReplyVoltageCurrent,
)
from evse.ports.power import ModuleAlarm, PowerRemoteError, PowerUsageError

#: PROTNO in ID bits 28-20 (hardware.md §1.3).
PROTNO = 0x060
#: Controller ("monitor") source address (§1.3).
CONTROLLER_ADDRESS = 0xF0
#: Broadcast destination (§1.3, Winline).
BROADCAST_ADDRESS = 0xFF
#: DPM1000 and the 250 ms cycle: re-send setpoints and read V/I/alarms (§1.3 Timing).
POLL_PERIOD_NS = 250_000_000
#: Module-side comm timeout is not documented; treat as Infy's 10 s (§1.3 [unverified]).
MODULE_COMM_TIMEOUT_NS = 10_000_000_000
#: Error byte value meaning "no error" (§1.3 response byte 1).
ERROR_NONE = 0xF0
#: On/off register values (§1.3 register 0x0030).
POWER_ON_VALUE = 0x0000_0000
POWER_OFF_VALUE = 0x0001_0000
#: Winline "set current" integer scale: A x 1024 (§1.3 register 0x001B).
WINLINE_CURRENT_SCALE = 1024

_PROTNO_SHIFT, _PTP_SHIFT, _DST_SHIFT, _SRC_SHIFT = 20, 19, 11, 3
#: Only the PROTNO bits name the DBC message.
DBC_ID_MASK = 0x1FF << _PROTNO_SHIFT
#: Response data-type top bit marks an error (§1.3, DPM).
_TYPE_ERROR_FLAG = 0x80


class ValueKind(enum.Enum):
    FLOAT = "float"
    INTEGER = "integer"


@dataclass(frozen=True, slots=True)
class Reg060Id:
    ptp: bool
    destination: int
    source: int
    low_bits: int  # Winline: group number; DPM1000: CNT bit + fixed 0b11


def encode_id(frame_id: Reg060Id) -> int:
    return (
        PROTNO << _PROTNO_SHIFT
        | int(frame_id.ptp) << _PTP_SHIFT
        | (frame_id.destination & 0xFF) << _DST_SHIFT
        | (frame_id.source & 0xFF) << _SRC_SHIFT
        | (frame_id.low_bits & 0x7)
    )


def decode_id(arbitration_id: int) -> Reg060Id:
    if (arbitration_id >> _PROTNO_SHIFT) & 0x1FF != PROTNO:
        raise PowerRemoteError(f"not a PROTNO 0x060 ID: 0x{arbitration_id:08X}")
    return Reg060Id(
        ptp=bool((arbitration_id >> _PTP_SHIFT) & 1),
        destination=(arbitration_id >> _DST_SHIFT) & 0xFF,
        source=(arbitration_id >> _SRC_SHIFT) & 0xFF,
        low_bits=arbitration_id & 0x7,
    )


@dataclass(frozen=True, slots=True)
class RegisterTable:
    """Everything vendor-specific about a 0x060 module (hardware.md §1.3 tables)."""

    name: str
    read_function: int
    set_function: int
    reserved_byte: int
    low_id_bits: int
    reg_voltage: int
    reg_current: int
    reg_status: int
    reg_set_voltage: int
    reg_set_current: int
    set_current_kind: ValueKind
    reg_on_off: int
    status_alarms: dict[int, ModuleAlarm]
    status_dcdc_off_bit: int
    status_power_limit_bit: int
    #: Capabilities the protocol cannot read (per-vendor defaults; datasheet values).
    max_voltage_v: float
    min_voltage_v: float
    max_current_a: float
    rated_power_w: float
    reg_rated_power: int | None = None
    reg_rated_current: int | None = None
    #: DPM1000 takes the current limit per-unit of this (EVerest sends A/100, §1.3 0x0022).
    per_unit_current_a: float = 1.0
    float_registers: frozenset[int] = field(default_factory=frozenset)

    def encode_current(self, current_a: float) -> int:
        if self.set_current_kind is ValueKind.INTEGER:
            return int(round(current_a * WINLINE_CURRENT_SCALE))
        return float_to_u32(current_a / self.per_unit_current_a)


_COMMON_ALARMS = {
    7: ModuleAlarm.OUTPUT_OVER_VOLTAGE,
    9: ModuleAlarm.INPUT_OVER_VOLTAGE,
    14: ModuleAlarm.INPUT_UNDER_VOLTAGE,
    16: ModuleAlarm.COMM_INTERRUPT,
    17: ModuleAlarm.CURRENT_SHARING,
    27: ModuleAlarm.FAN_FAULT,
    28: ModuleAlarm.OUTPUT_SHORT,
    30: ModuleAlarm.OVER_TEMPERATURE,
    31: ModuleAlarm.OUTPUT_OVER_VOLTAGE,
}

#: Winline V1.50 (hardware.md §1.3 register map and status bits, Winline column).
#: Capability defaults are those of a 1000 V / 30 kW class module [unverified datasheet values].
WINLINE = RegisterTable(
    name="winline",
    read_function=0x10,
    set_function=0x03,
    reserved_byte=0x00,
    low_id_bits=0,
    reg_voltage=0x0001,
    reg_current=0x0002,
    reg_status=0x0040,
    reg_set_voltage=0x0021,
    reg_set_current=0x001B,
    set_current_kind=ValueKind.INTEGER,
    reg_on_off=0x0030,
    status_alarms={0: ModuleAlarm.MODULE_FAULT, 1: ModuleAlarm.PROTECTION, **_COMMON_ALARMS},
    status_dcdc_off_bit=22,
    status_power_limit_bit=23,
    max_voltage_v=1000.0,
    min_voltage_v=50.0,
    max_current_a=100.0,
    rated_power_w=30_000.0,
    reg_rated_power=0x0011,
    reg_rated_current=0x0012,
    float_registers=frozenset({0x0001, 0x0002, 0x0003, 0x0004, 0x0011, 0x0012, 0x0021, 0x0022,
                               0x0023}),
)

#: SCU DPM1000-30 (hardware.md §1.3, DPM1000 column): no capability registers, parallel mode
#: 50-500 V, per-unit current limit of a 100 A module (EVerest sends A/100).
DPM1000 = RegisterTable(
    name="dpm1000",
    read_function=0x01,
    set_function=0x03,
    reserved_byte=ERROR_NONE,
    low_id_bits=0b011,
    reg_voltage=0x0001,
    reg_current=0x0007,
    reg_status=0x0040,
    reg_set_voltage=0x0021,
    reg_set_current=0x0022,
    set_current_kind=ValueKind.FLOAT,
    reg_on_off=0x0030,
    status_alarms={
        2: ModuleAlarm.MODULE_FAULT,  # fuse burnt
        10: ModuleAlarm.ID_REPEAT,
        12: ModuleAlarm.INPUT_PHASE_LOSS,
        **_COMMON_ALARMS,
    },
    status_dcdc_off_bit=22,
    status_power_limit_bit=23,
    max_voltage_v=500.0,
    min_voltage_v=50.0,
    max_current_a=100.0,
    rated_power_w=30_000.0,
    per_unit_current_a=100.0,
    float_registers=frozenset({0x0001, 0x0002, 0x0003, 0x0004, 0x0007, 0x0020, 0x0021, 0x0022,
                               0x0023}),
)

VENDOR_TABLES = {t.name: t for t in (WINLINE, DPM1000)}

_DBC = NormalisedDbc("reg060.dbc", DBC_ID_MASK)


def float_to_u32(value: float) -> int:
    return int(struct.unpack(">I", struct.pack(">f", value))[0])


def u32_to_float(raw: int) -> float:
    return float(struct.unpack(">f", struct.pack(">I", raw & 0xFFFF_FFFF))[0])


def encode_payload(function: int, error: int, register: int, value: int) -> bytes:
    return _DBC.encode(
        "REG060_FRAME",
        {"FunctionOrType": function, "ErrorCode": error, "Register": register, "Value": value},
    )


@dataclass(frozen=True, slots=True)
class Reg060Payload:
    function: int
    error: int
    register: int
    value: int


def decode_payload(data: bytes) -> Reg060Payload:
    if len(data) != FRAME_DLC:
        raise PowerRemoteError(f"0x060 frame DLC {len(data)} != 8")
    s = _DBC.decode(PROTNO << _PROTNO_SHIFT, data)
    return Reg060Payload(int(s["FunctionOrType"]), int(s["ErrorCode"]), int(s["Register"]),
                         int(s["Value"]))


class Reg060Protocol(ModuleProtocol):
    def __init__(
        self,
        table: RegisterTable,
        controller_address: int = CONTROLLER_ADDRESS,
        poll_period_ns: int = POLL_PERIOD_NS,
    ) -> None:
        self.table = table
        self.controller_address = controller_address
        self.poll_period_ns = poll_period_ns

    def _frame(self, address: int, function: int, register: int, value: int) -> can.Message:
        if not 0 <= address < BROADCAST_ADDRESS - 1:
            raise PowerUsageError(f"0x060 module address {address} out of range")
        frame_id = Reg060Id(True, address, self.controller_address, self.table.low_id_bits)
        data = encode_payload(function, self.table.reserved_byte, register, value)
        return can.Message(arbitration_id=encode_id(frame_id), data=data, is_extended_id=True)

    def read(self, address: int, register: int) -> can.Message:
        return self._frame(address, self.table.read_function, register, 0)

    def write(self, address: int, register: int, value: int) -> can.Message:
        return self._frame(address, self.table.set_function, register, value)

    def poll_requests(self, address: int, capabilities_known: bool) -> list[can.Message]:
        t = self.table
        frames = [self.read(address, t.reg_voltage), self.read(address, t.reg_current),
                  self.read(address, t.reg_status)]
        if not capabilities_known:
            for reg in (t.reg_rated_power, t.reg_rated_current):
                if reg is not None:
                    frames.append(self.read(address, reg))
        return frames

    def set_output_requests(self, address: int, voltage_v: float, current_a: float) -> list[
        can.Message
    ]:
        if voltage_v < 0 or current_a < 0:
            raise PowerUsageError(f"negative setpoint {voltage_v} V / {current_a} A")
        t = self.table
        return [
            self.write(address, t.reg_set_voltage, float_to_u32(voltage_v)),
            self.write(address, t.reg_set_current, t.encode_current(current_a)),
        ]

    def on_off_requests(self, address: int, on: bool) -> list[can.Message]:
        return [self.write(address, self.table.reg_on_off,
                           POWER_ON_VALUE if on else POWER_OFF_VALUE)]

    def default_capabilities(self, address: int) -> ReplyCapabilities:
        t = self.table
        return ReplyCapabilities(address, t.max_voltage_v, t.min_voltage_v, t.max_current_a,
                                 t.rated_power_w)

    def parse_reply(self, msg: can.Message) -> ModuleReply | None:
        if not msg.is_extended_id:
            return None
        frame_id = decode_id(msg.arbitration_id)
        if frame_id.destination != self.controller_address:
            return None
        payload = decode_payload(bytes(msg.data))
        address = frame_id.source
        if payload.error != ERROR_NONE or payload.function & _TYPE_ERROR_FLAG:
            raise PowerRemoteError(
                f"0x060 module {address} error 0x{payload.error:02X} "
                f"(type 0x{payload.function:02X}) on register 0x{payload.register:04X}"
            )
        t = self.table
        reg = payload.register
        if reg == t.reg_voltage:
            return ReplyVoltageCurrent(address, u32_to_float(payload.value), None)
        if reg == t.reg_current:
            return ReplyVoltageCurrent(address, None, u32_to_float(payload.value))
        if reg == t.reg_status:
            bits = payload.value
            return ReplyStatus(
                address,
                alarms=frozenset(a for bit, a in t.status_alarms.items() if bits >> bit & 1),
                output_off=bool(bits >> t.status_dcdc_off_bit & 1),
                power_limited=bool(bits >> t.status_power_limit_bit & 1),
            )
        if t.reg_rated_power is not None and reg == t.reg_rated_power:
            return ReplyCapabilities(address, t.max_voltage_v, t.min_voltage_v,
                                     rated_power_w=u32_to_float(payload.value))
        if t.reg_rated_current is not None and reg == t.reg_rated_current:
            return ReplyCapabilities(address, t.max_voltage_v, t.min_voltage_v,
                                     max_current_a=u32_to_float(payload.value))
        return ReplyAck(address)

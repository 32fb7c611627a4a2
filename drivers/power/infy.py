"""InfyPower REG/CEG/LRG CAN protocol V1.13: ID codec, payload codec (via DBC) and protocol.

Frame layouts: hardware.md §1.2 (from EVerest's InfyPower driver and README, which cite the
vendor document "REG/CEG/LRG series Charger Module CAN Communication Protocol V1.13").
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import can

from drivers.power.dbc import NormalisedDbc
from drivers.power.protocol import (
    FRAME_DLC,
    ModuleProtocol,
    ModuleReply,
    ReplyAck,
    ReplyCapabilities,
    ReplyModuleCount,
    ReplyStatus,
    ReplyVoltageCurrent,
)
from evse.ports.power import ModuleAlarm, PowerRemoteError, PowerUsageError

#: Controller source address default (hardware.md §1.2 "default 0xF0").
CONTROLLER_ADDRESS = 0xF0
#: Highest single-module address (hardware.md §1.2 "module address 0..0x3E").
MAX_MODULE_ADDRESS = 0x3E
#: Poll period per module; the polls are the heartbeat (hardware.md §1.2, EVerest 1 s).
POLL_PERIOD_NS = 1_000_000_000
#: The module's own comm timeout: it switches off after this much silence (hardware.md §1.2).
MODULE_COMM_TIMEOUT_NS = 10_000_000_000
#: Smallest settable current: "the device will not allow setting the current to 0" (§1.2).
MIN_MODULE_CURRENT_A = 1.0

_ERROR_SHIFT, _DEVICE_SHIFT, _COMMAND_SHIFT, _DST_SHIFT = 26, 22, 16, 8
#: Keep only the command bits 21-16 for DBC lookup (error, device and addresses masked).
DBC_ID_MASK = 0x3F << _COMMAND_SHIFT


class InfyDevice(enum.IntEnum):
    SINGLE = 0x0A
    GROUP = 0x0B


class InfyCommand(enum.IntEnum):
    MODULE_COUNT = 0x02
    READ_VOLTAGE_CURRENT = 0x03
    STATUS = 0x04
    CAPABILITIES = 0x0A
    BARCODE = 0x0B
    VOLTAGE_CURRENT_AFTER_DIODE = 0x0C
    ON_OFF = 0x1A
    SET_VOLTAGE_CURRENT = 0x1C


class InfyErrorCode(enum.IntEnum):
    """ID bits 28-26 in replies (hardware.md §1.2; codes from the BEG driver comments)."""

    NORMAL = 0x00
    COMMAND_INVALID = 0x02
    DATA_INVALID = 0x03
    START_PROCESSING = 0x07


@dataclass(frozen=True, slots=True)
class InfyId:
    error: int
    device: InfyDevice
    command: InfyCommand
    destination: int
    source: int


def encode_id(frame_id: InfyId) -> int:
    return (
        (frame_id.error & 0x7) << _ERROR_SHIFT
        | (int(frame_id.device) & 0xF) << _DEVICE_SHIFT
        | (int(frame_id.command) & 0x3F) << _COMMAND_SHIFT
        | (frame_id.destination & 0xFF) << _DST_SHIFT
        | (frame_id.source & 0xFF)
    )


def decode_id(arbitration_id: int) -> InfyId:
    try:
        device = InfyDevice((arbitration_id >> _DEVICE_SHIFT) & 0xF)
        command = InfyCommand((arbitration_id >> _COMMAND_SHIFT) & 0x3F)
    except ValueError as exc:
        raise PowerRemoteError(f"not an Infy V1.13 ID: 0x{arbitration_id:08X}") from exc
    return InfyId(
        error=(arbitration_id >> _ERROR_SHIFT) & 0x7,
        device=device,
        command=command,
        destination=(arbitration_id >> _DST_SHIFT) & 0xFF,
        source=arbitration_id & 0xFF,
    )


_DBC = NormalisedDbc("infy_v113.dbc", DBC_ID_MASK)

#: Status bit -> alarm (hardware.md §1.2 status table). Bits not listed are informational.
_ALARM_SIGNALS: dict[str, ModuleAlarm] = {
    "Status0OutputShort": ModuleAlarm.OUTPUT_SHORT,
    "Status1FaultAlarm": ModuleAlarm.MODULE_FAULT,
    "Status1ProtectionAlarm": ModuleAlarm.PROTECTION,
    "Status1FanFault": ModuleAlarm.FAN_FAULT,
    "Status1OverTemperature": ModuleAlarm.OVER_TEMPERATURE,
    "Status1OutputOverVoltage": ModuleAlarm.OUTPUT_OVER_VOLTAGE,
    "Status1CommInterrupt": ModuleAlarm.COMM_INTERRUPT,
    "Status2IdRepeat": ModuleAlarm.ID_REPEAT,
    "Status2LoadSharingAlarm": ModuleAlarm.CURRENT_SHARING,
    "Status2InputPhaseLost": ModuleAlarm.INPUT_PHASE_LOSS,
    "Status2InputUnderVoltage": ModuleAlarm.INPUT_UNDER_VOLTAGE,
    "Status2InputOverVoltage": ModuleAlarm.INPUT_OVER_VOLTAGE,
}
STATUS_SIGNALS = tuple(s.name for s in _DBC.message("INFY_STATUS").signals)


def _frame(arbitration_id: int, data: bytes) -> can.Message:
    return can.Message(arbitration_id=arbitration_id, data=data, is_extended_id=True)


def request(
    command: InfyCommand,
    destination: int,
    data: bytes = bytes(FRAME_DLC),
    *,
    device: InfyDevice = InfyDevice.SINGLE,
    source: int = CONTROLLER_ADDRESS,
) -> can.Message:
    """A controller->module frame; read requests carry 8 zero bytes (§1.2)."""
    return _frame(encode_id(InfyId(0, device, command, destination, source)), data)


def encode_set_voltage_current(voltage_v: float, current_a: float) -> bytes:
    if voltage_v < 0 or current_a < 0:
        raise PowerUsageError(f"negative setpoint {voltage_v} V / {current_a} A")
    return _DBC.encode("INFY_SET_VI", {"SetVoltage": voltage_v, "SetCurrent": current_a})


def encode_on_off(on: bool) -> bytes:
    return _DBC.encode("INFY_ON_OFF", {"OnOff": 0 if on else 1})


# --- replies (the simulator encodes them, the driver decodes them) ---------------------------


def encode_voltage_current(voltage_v: float, current_a: float) -> bytes:
    return _DBC.encode("INFY_READ_VI", {"OutputVoltage": voltage_v, "OutputCurrent": current_a})


def encode_status(flags: frozenset[str]) -> bytes:
    unknown = flags - set(STATUS_SIGNALS)
    if unknown:
        raise PowerUsageError(f"unknown status flags {sorted(unknown)}")
    return _DBC.encode("INFY_STATUS", {name: int(name in flags) for name in STATUS_SIGNALS})


def encode_capabilities(
    max_voltage_v: float, min_voltage_v: float, max_current_a: float, rated_power_w: float
) -> bytes:
    return _DBC.encode(
        "INFY_CAPABILITIES",
        {
            "MaxVoltage": max_voltage_v,
            "MinVoltage": min_voltage_v,
            "MaxCurrent": max_current_a,
            "RatedPower": rated_power_w,
        },
    )


def encode_module_count(count: int) -> bytes:
    return _DBC.encode("INFY_MODULE_COUNT", {"ModuleCount": count})


def encode_after_diode(external_voltage_v: float, available_current_a: float) -> bytes:
    return _DBC.encode(
        "INFY_VI_AFTER_DIODE",
        {"ExternalVoltage": external_voltage_v, "AvailableCurrent": available_current_a},
    )


def reply_id(request_id: InfyId, error: int = 0) -> int:
    """Replies swap source and destination (§1.2)."""
    return encode_id(
        InfyId(error, request_id.device, request_id.command, request_id.source,
               request_id.destination)
    )


def _status_from_signals(address: int, signals: dict[str, float]) -> ReplyStatus:
    alarms = frozenset(alarm for name, alarm in _ALARM_SIGNALS.items() if signals[name])
    return ReplyStatus(
        address=address,
        alarms=alarms,
        output_off=bool(signals["Status1DcOff"]),
        power_limited=bool(signals["Status2PowerLimited"]),
    )


class InfyProtocol(ModuleProtocol):
    """Infy V1.13 as the group manager uses it: fixed addresses, per-module set V/I."""

    def __init__(
        self,
        controller_address: int = CONTROLLER_ADDRESS,
        poll_period_ns: int = POLL_PERIOD_NS,
    ) -> None:
        self.controller_address = controller_address
        self.poll_period_ns = poll_period_ns

    def _req(self, command: InfyCommand, address: int, data: bytes = bytes(FRAME_DLC)) -> (
        can.Message
    ):
        if not 0 <= address <= MAX_MODULE_ADDRESS:
            raise PowerUsageError(f"Infy module address {address} out of 0..{MAX_MODULE_ADDRESS}")
        return request(command, address, data, source=self.controller_address)

    def poll_requests(self, address: int, capabilities_known: bool) -> list[can.Message]:
        frames = [
            self._req(InfyCommand.READ_VOLTAGE_CURRENT, address),
            self._req(InfyCommand.STATUS, address),
        ]
        if not capabilities_known:
            frames.append(self._req(InfyCommand.CAPABILITIES, address))
        return frames

    def set_output_requests(self, address: int, voltage_v: float, current_a: float) -> list[
        can.Message
    ]:
        current_a = max(current_a, MIN_MODULE_CURRENT_A)
        return [
            self._req(
                InfyCommand.SET_VOLTAGE_CURRENT, address,
                encode_set_voltage_current(voltage_v, current_a),
            )
        ]

    def on_off_requests(self, address: int, on: bool) -> list[can.Message]:
        return [self._req(InfyCommand.ON_OFF, address, encode_on_off(on))]

    def group_count_request(self, group: int) -> can.Message | None:
        """Group mode (§1.2): cmd 0x02 to device 0x0B with dst = the group's dial setting."""
        return request(InfyCommand.MODULE_COUNT, group, device=InfyDevice.GROUP,
                       source=self.controller_address)

    def default_capabilities(self, address: int) -> ReplyCapabilities:
        return ReplyCapabilities(address)

    def parse_reply(self, msg: can.Message) -> ModuleReply | None:
        if not msg.is_extended_id:
            return None  # the EVerest driver drops standard frames too (§1.2)
        frame_id = decode_id(msg.arbitration_id)
        if frame_id.destination != self.controller_address:
            return None
        if len(msg.data) != FRAME_DLC:
            raise PowerRemoteError(f"Infy reply DLC {len(msg.data)} != 8 from {frame_id.source}")
        if frame_id.error != InfyErrorCode.NORMAL:
            raise PowerRemoteError(
                f"Infy module {frame_id.source} error code {frame_id.error} "
                f"for command 0x{int(frame_id.command):02X}"
            )
        address = frame_id.source
        command = frame_id.command
        if command in (InfyCommand.BARCODE,):
            return ReplyAck(address)
        signals = _DBC.decode(msg.arbitration_id, bytes(msg.data))
        if command is InfyCommand.READ_VOLTAGE_CURRENT:
            return ReplyVoltageCurrent(address, signals["OutputVoltage"], signals["OutputCurrent"])
        if command is InfyCommand.STATUS:
            return _status_from_signals(address, signals)
        if command is InfyCommand.CAPABILITIES:
            return ReplyCapabilities(
                address,
                max_voltage_v=signals["MaxVoltage"],
                min_voltage_v=signals["MinVoltage"],
                max_current_a=signals["MaxCurrent"],
                rated_power_w=signals["RatedPower"],
            )
        if command is InfyCommand.MODULE_COUNT:
            return ReplyModuleCount(group=address, count=int(signals["ModuleCount"]))
        if command is InfyCommand.VOLTAGE_CURRENT_AFTER_DIODE:
            return ReplyAck(address)
        return ReplyAck(address)  # ON_OFF / SET_VOLTAGE_CURRENT echoes

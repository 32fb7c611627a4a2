"""Bender isoCHA425HV over Modbus RTU, polled, on the station's RTU codec (drivers/modbus/rtu.py).

Register use follows EVerest's driver (hardware.md §2.2). Each measurement channel is four
registers: float32 (high word first), then alarm/test (high byte) and unit/valid (low byte).
"""

from __future__ import annotations

import enum
import struct
from collections import deque
from dataclasses import dataclass

from drivers.modbus.link import ByteLink
from drivers.modbus.rtu import (
    FC_READ_HOLDING,
    RtuCrcError,
    RtuError,
    RtuExceptionReply,
    parse_read_reply,
    parse_write_reply,
    read_request,
    write_single_request,
)
from evse.ports.imd import (
    ImdDeviceFault,
    ImdEvent,
    ImdRemoteError,
    IsolationMeasurement,
    IsolationMonitor,
    SelfTestResult,
)

#: Factory bus address (§2.1).
DEVICE_ADDRESS = 3
#: Registers (§2.2).
REG_RESISTANCE = 1000
REG_VOLTAGE = 1008
REG_VOLTAGE_L1E = 1016  # read as 8 consecutive registers with U_L2E at 1020
REG_DEVICE_ENABLE = 3026
REG_SELF_TEST = 8005
SELF_TEST_MAGIC = 0x5445
CHANNEL_REGISTERS = 4
#: Measurements are published every 1 s (§2.1).
MEASUREMENT_PERIOD_NS = 1_000_000_000
#: Self-test verdict within 30 s (§2.2 "self-test 30 s timeout").
SELF_TEST_TIMEOUT_NS = 30_000_000_000
#: A reply at 19200 baud takes ~12 ms on the wire; allow device processing on top [assumed].
RESPONSE_TIMEOUT_NS = 200_000_000
#: Consecutive unanswered requests before the device counts as lost [assumed].
MAX_MISSED_RESPONSES = 3


class AlarmBits(enum.IntFlag):
    """High byte of a channel's third register [unverified bit assignment; §2.2 only says
    "alarm/test"; check the isoCHA425HV manual before hardware bring-up]."""

    PRE_ALARM = 0x01
    ALARM = 0x02
    DEVICE_ERROR = 0x04
    SELF_TEST_RUNNING = 0x08


#: Low byte: 0 means the value is not valid [unverified, as above].
UNIT_INVALID = 0x00
UNIT_OHM = 0x01
UNIT_VOLT = 0x02


@dataclass(frozen=True, slots=True)
class Channel:
    value: float
    alarm: AlarmBits
    unit: int

    @property
    def valid(self) -> bool:
        return self.unit != UNIT_INVALID


def encode_channel(channel: Channel) -> list[int]:
    hi, lo = struct.unpack(">HH", struct.pack(">f", channel.value))
    return [hi, lo, (int(channel.alarm) & 0xFF) << 8 | (channel.unit & 0xFF), 0]


def decode_channel(registers: list[int]) -> Channel:
    if len(registers) < CHANNEL_REGISTERS - 1:
        raise ImdRemoteError(f"isoCHA channel needs 3 registers, got {len(registers)}")
    value = float(struct.unpack(">f", struct.pack(">HH", registers[0], registers[1]))[0])
    return Channel(value, AlarmBits(registers[2] >> 8 & 0x0F), registers[2] & 0xFF)


class _Op(enum.Enum):
    READ_RESISTANCE = "r"
    READ_VOLTAGE = "u"
    READ_EARTH = "ue"
    WRITE = "w"


@dataclass(frozen=True, slots=True)
class _Request:
    op: _Op
    address: int
    count_or_value: int


class IsoCha425Imd(IsolationMonitor):
    def __init__(self, link: ByteLink, device_address: int = DEVICE_ADDRESS) -> None:
        self._link = link
        self._device = device_address
        self._rx = b""
        self._queue: deque[_Request] = deque()
        self._in_flight: tuple[_Request, int] | None = None
        self._running = False
        self._next_read_ns: int | None = None
        self._self_test_since_ns: int | None = None
        self._self_test_seen_running = False
        self._missed = 0
        self._voltage_v: float | None = None
        self._earth: tuple[float, float] | None = None

    # --- port ---
    def start(self, now_ns: int) -> None:
        self._queue.append(_Request(_Op.WRITE, REG_DEVICE_ENABLE, 1))
        self._running = True
        self._next_read_ns = now_ns

    def stop(self, now_ns: int) -> None:
        self._queue.append(_Request(_Op.WRITE, REG_DEVICE_ENABLE, 0))
        self._running = False
        self._next_read_ns = None if self._self_test_since_ns is None else now_ns

    def start_self_test(self, test_voltage_v: float, now_ns: int) -> None:
        self._queue.append(_Request(_Op.WRITE, REG_SELF_TEST, SELF_TEST_MAGIC))
        self._self_test_since_ns = now_ns
        self._self_test_seen_running = False
        self._next_read_ns = now_ns

    def next_deadline_ns(self) -> int | None:
        candidates = [c for c in (self._next_read_ns,) if c is not None]
        if self._in_flight is not None:
            candidates.append(self._in_flight[1] + RESPONSE_TIMEOUT_NS)
        elif self._queue:
            return 0
        if self._self_test_since_ns is not None:
            candidates.append(self._self_test_since_ns + SELF_TEST_TIMEOUT_NS)
        return min(candidates) if candidates else None

    def poll(self, now_ns: int) -> list[ImdEvent]:
        events: list[ImdEvent] = []
        self._receive(now_ns, events)
        if self._in_flight is not None and now_ns - self._in_flight[1] >= RESPONSE_TIMEOUT_NS:
            self._in_flight = None
            self._rx = b""
            self._missed += 1
            if self._missed == MAX_MISSED_RESPONSES:
                events.append(ImdDeviceFault("no Modbus response", now_ns))
        if self._next_read_ns is not None and now_ns >= self._next_read_ns:
            if self._running:  # voltages first, so the R_F event carries this round's values
                self._queue.append(_Request(_Op.READ_VOLTAGE, REG_VOLTAGE, CHANNEL_REGISTERS))
                self._queue.append(_Request(_Op.READ_EARTH, REG_VOLTAGE_L1E,
                                            2 * CHANNEL_REGISTERS))
            self._queue.append(_Request(_Op.READ_RESISTANCE, REG_RESISTANCE, CHANNEL_REGISTERS))
            self._next_read_ns = now_ns + MEASUREMENT_PERIOD_NS
        if (self._self_test_since_ns is not None
                and now_ns - self._self_test_since_ns >= SELF_TEST_TIMEOUT_NS):
            self._self_test_since_ns = None
            events.append(SelfTestResult(False, now_ns))
            events.append(ImdDeviceFault("self-test timed out", now_ns))
        if self._in_flight is None and self._queue:
            req = self._queue.popleft()
            self._link.write(self._frame(req))
            self._in_flight = (req, now_ns)
        return events

    # --- internals ---
    def _frame(self, req: _Request) -> bytes:
        if req.op is _Op.WRITE:
            return write_single_request(self._device, req.address, req.count_or_value)
        return read_request(self._device, FC_READ_HOLDING, req.address, req.count_or_value)

    def _receive(self, now_ns: int, events: list[ImdEvent]) -> None:
        self._rx += self._link.read()
        if self._in_flight is None:
            self._rx = b""
            return
        req, _ = self._in_flight
        registers: list[int] | None = None
        try:
            if req.op is _Op.WRITE:
                if not parse_write_reply(self._rx, self._device, req.address,
                                         req.count_or_value):
                    return
            else:
                registers = parse_read_reply(self._rx, self._device, FC_READ_HOLDING,
                                             req.address, req.count_or_value)
                if registers is None:
                    return
        except RtuCrcError:
            return  # line noise: as no reply, the response timeout counts it as missed
        except RtuExceptionReply as exc:
            self._settle()
            events.append(ImdDeviceFault(
                f"Modbus exception {exc.code} for register {req.address}", now_ns))
            return
        except RtuError as exc:
            self._settle()
            events.append(ImdDeviceFault(f"unexpected reply: {exc}", now_ns))
            return
        self._settle()
        if registers is None:
            return  # a write, echoed
        try:
            self._on_registers(req, registers, now_ns, events)
        except ImdRemoteError as exc:
            events.append(ImdDeviceFault(str(exc), now_ns))

    def _settle(self) -> None:
        """The in-flight request got its answer."""
        self._rx = b""
        self._in_flight = None
        self._missed = 0

    def _on_registers(self, req: _Request, registers: list[int], now_ns: int,
                      events: list[ImdEvent]) -> None:
        if req.op is _Op.READ_VOLTAGE:
            ch = decode_channel(registers)
            self._voltage_v = ch.value if ch.valid else None
            return
        if req.op is _Op.READ_EARTH:
            l1, l2 = decode_channel(registers[:4]), decode_channel(registers[4:8])
            self._earth = (l1.value, l2.value) if l1.valid and l2.valid else None
            return
        ch = decode_channel(registers)
        if self._self_test_since_ns is not None:
            if ch.alarm & AlarmBits.SELF_TEST_RUNNING:
                self._self_test_seen_running = True
            elif self._self_test_seen_running:
                self._self_test_since_ns = None
                events.append(SelfTestResult(not ch.alarm & AlarmBits.DEVICE_ERROR, now_ns))
                if not self._running:
                    self._next_read_ns = None
            return
        if ch.alarm & AlarmBits.DEVICE_ERROR:
            events.append(ImdDeviceFault("isoCHA device error", now_ns))
            return
        if self._running and ch.valid:
            earth = self._earth
            events.append(IsolationMeasurement(
                resistance_f_ohm=ch.value,
                timestamp_ns=now_ns,
                voltage_v=self._voltage_v,
                voltage_to_earth_l1e_v=None if earth is None else earth[0],
                voltage_to_earth_l2e_v=None if earth is None else earth[1],
            ))

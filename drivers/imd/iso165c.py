"""Bender iso165C on CAN (11-bit IDs): codec and polled `IsolationMonitor` backend.

Frame layouts and command codes: hardware.md §2.3 (from foxBMS's iso165C driver). The
datasheet bitrate is 250 kbps, one user reports 500 kbps: check per unit (§2.1, §6.3).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import can

from evse.ports.imd import (
    ImdDeviceFault,
    ImdEvent,
    ImdRemoteError,
    ImdUsageError,
    IsolationMeasurement,
    IsolationMonitor,
    SelfTestResult,
)

#: IDs (hardware.md §2.3).
ID_IMD_INFO = 0x37
ID_IMD_REQUEST = 0x22
ID_IMD_RESPONSE = 0x23
#: IMD_Info is cyclic at 1 s (§2.3).
INFO_PERIOD_NS = 1_000_000_000
#: IMD_Info DLC (§2.3); requests and responses use 5 bytes: command + 2 LE words.
INFO_DLC = 6
REQUEST_DLC = 5
#: Declare the device lost after three missed IMD_Info cycles [assumed: 3 x the 1 s period].
INFO_TIMEOUT_NS = 3 * INFO_PERIOD_NS
#: Self-test verdict must arrive within 30 s (EVerest CABLECHECK_SELFTEST_TIMEOUT, §2.2/§2.5).
SELF_TEST_TIMEOUT_NS = 30_000_000_000
#: Bus voltage (HV1) is requested with the same 1 s cadence as IMD_Info.
VOLTAGE_POLL_PERIOD_NS = INFO_PERIOD_NS
#: Resistance is reported in kOhm (§2.3 "R_iso [kOhm]").
OHM_PER_KOHM = 1000.0
#: HV1 voltage scaling: 1 V per bit [unverified: not in the §2.3 table; check the datasheet].
VOLT_PER_BIT = 1.0


class Command(enum.IntEnum):
    SELF_TEST = 0x21
    RESET = 0xC8
    LOCK = 0xCA
    MEASUREMENT = 0xCB
    SET_ERROR_THRESHOLD = 0x28
    SET_WARNING_THRESHOLD = 0x29
    SET_MEAN_FACTOR = 0x2B
    SET_HV_RELAY = 0xD2
    GET_RESISTANCE = 0x35
    GET_STATUS = 0x37
    GET_HV1 = 0x36
    GET_HV2 = 0x3A
    GET_THRESHOLDS_ERROR = 0x32
    GET_THRESHOLDS_WARNING = 0x39
    GET_VIFC_STATUS = 0xDC
    GET_HV_RELAY = 0xDD
    GET_ALIVE = 0xE2


class ImcStatus(enum.IntFlag):
    """D_IMC_STATUS bits (§2.3)."""

    INSULATION_FAULT = 1 << 0
    CHASSIS_FAULT = 1 << 1
    SYSTEM_FAILURE = 1 << 2
    CALIBRATION_RUNNING = 1 << 3
    SELF_TEST_RUNNING = 1 << 4
    INSULATION_WARNING = 1 << 5


class VifcStatus(enum.IntFlag):
    """D_VIFC_STATUS bits (§2.3)."""

    MEASUREMENT_ACTIVE = 1 << 0
    IMC_CONNECTIVITY = 1 << 1
    IMC_ALIVE = 1 << 2
    VIFC_COMMAND = 1 << 4
    RESISTANCE_OUTDATED = 1 << 8
    OVERALL_SELF_TEST_NOT_EXECUTED = 1 << 12
    PARAMETER_SELF_TEST_NOT_EXECUTED = 1 << 13


#: Self-test kinds (§2.3: DW1 1 = overall, 2 = parameter config).
SELF_TEST_OVERALL = 1


@dataclass(frozen=True, slots=True)
class Info:
    resistance_kohm: int
    imc_status: ImcStatus
    vifc_status: VifcStatus


@dataclass(frozen=True, slots=True)
class CommandFrame:
    command: int
    word1: int = 0
    word2: int = 0


def encode_info(info: Info) -> bytes:
    return (info.resistance_kohm.to_bytes(2, "little") + int(info.imc_status).to_bytes(2, "little")
            + int(info.vifc_status).to_bytes(2, "little"))


def decode_info(data: bytes) -> Info:
    if len(data) != INFO_DLC:
        raise ImdRemoteError(f"IMD_Info DLC {len(data)} != {INFO_DLC}")
    return Info(
        int.from_bytes(data[0:2], "little"),
        ImcStatus(int.from_bytes(data[2:4], "little")),
        VifcStatus(int.from_bytes(data[4:6], "little")),
    )


def encode_command(frame: CommandFrame) -> bytes:
    for word in (frame.word1, frame.word2):
        if not 0 <= word <= 0xFFFF:
            raise ImdUsageError(f"iso165C data word {word} out of 16 bits")
    return (bytes([frame.command & 0xFF]) + frame.word1.to_bytes(2, "little")
            + frame.word2.to_bytes(2, "little"))


def decode_command(data: bytes) -> CommandFrame:
    if len(data) < REQUEST_DLC:
        raise ImdRemoteError(f"iso165C request/response DLC {len(data)} < {REQUEST_DLC}")
    return CommandFrame(data[0], int.from_bytes(data[1:3], "little"),
                        int.from_bytes(data[3:5], "little"))


def request(frame: CommandFrame) -> can.Message:
    return can.Message(arbitration_id=ID_IMD_REQUEST, data=encode_command(frame),
                       is_extended_id=False)


class Iso165cImd(IsolationMonitor):
    """Polled backend: measurements from IMD_Info, bus voltage from GET_HV1."""

    def __init__(self, bus: can.BusABC) -> None:
        self._bus = bus
        self._running = False
        self._last_info_ns: int | None = None
        self._started_ns = 0
        self._self_test_since_ns: int | None = None
        self._self_test_seen_running = False
        self._next_voltage_poll_ns: int | None = None
        self._voltage_v: float | None = None
        self._lost_reported = False

    def _send(self, frame: CommandFrame, now_ns: int) -> None:
        msg = request(frame)
        msg.timestamp = now_ns / 1e9
        self._bus.send(msg)

    def start(self, now_ns: int) -> None:
        self._send(CommandFrame(Command.MEASUREMENT, 1), now_ns)
        self._running = True
        self._started_ns = now_ns
        self._lost_reported = False
        self._next_voltage_poll_ns = now_ns

    def stop(self, now_ns: int) -> None:
        self._send(CommandFrame(Command.MEASUREMENT, 0), now_ns)
        self._running = False
        self._next_voltage_poll_ns = None

    def start_self_test(self, test_voltage_v: float, now_ns: int) -> None:
        # The iso165C tests itself; the test voltage is the PSU's business (§2.5 step 6-7).
        self._send(CommandFrame(Command.SELF_TEST, SELF_TEST_OVERALL), now_ns)
        self._self_test_since_ns = now_ns
        self._self_test_seen_running = False

    def next_deadline_ns(self) -> int | None:
        candidates: list[int] = []
        if self._next_voltage_poll_ns is not None:
            candidates.append(self._next_voltage_poll_ns)
        if self._self_test_since_ns is not None:
            candidates.append(self._self_test_since_ns + SELF_TEST_TIMEOUT_NS)
        if self._running:
            candidates.append(max(self._last_info_ns or 0, self._started_ns) + INFO_TIMEOUT_NS)
        return min(candidates) if candidates else None

    def poll(self, now_ns: int) -> list[ImdEvent]:
        events: list[ImdEvent] = []
        while True:
            msg = self._bus.recv(timeout=0)
            if msg is None:
                break
            if msg.is_extended_id:
                continue
            try:
                if msg.arbitration_id == ID_IMD_INFO:
                    self._on_info(decode_info(bytes(msg.data)), now_ns, events)
                elif msg.arbitration_id == ID_IMD_RESPONSE:
                    self._on_response(decode_command(bytes(msg.data)))
            except ImdRemoteError as exc:
                events.append(ImdDeviceFault(f"malformed frame: {exc}", now_ns))
        if self._next_voltage_poll_ns is not None and now_ns >= self._next_voltage_poll_ns:
            self._send(CommandFrame(Command.GET_HV1), now_ns)
            self._next_voltage_poll_ns = now_ns + VOLTAGE_POLL_PERIOD_NS
        if (self._self_test_since_ns is not None
                and now_ns - self._self_test_since_ns >= SELF_TEST_TIMEOUT_NS):
            self._self_test_since_ns = None
            events.append(SelfTestResult(False, now_ns))
            events.append(ImdDeviceFault("self-test timed out", now_ns))
        last = max(self._last_info_ns or 0, self._started_ns)
        if self._running and not self._lost_reported and now_ns - last >= INFO_TIMEOUT_NS:
            self._lost_reported = True
            events.append(ImdDeviceFault("no IMD_Info within timeout", now_ns))
        return events

    def _on_info(self, info: Info, now_ns: int, events: list[ImdEvent]) -> None:
        self._last_info_ns = now_ns
        self._lost_reported = False
        if self._self_test_since_ns is not None:
            if info.imc_status & ImcStatus.SELF_TEST_RUNNING:
                self._self_test_seen_running = True
            elif self._self_test_seen_running:
                self._self_test_since_ns = None
                passed = not info.imc_status & ImcStatus.SYSTEM_FAILURE
                events.append(SelfTestResult(passed, now_ns))
            return
        if info.imc_status & ImcStatus.SYSTEM_FAILURE:
            events.append(ImdDeviceFault("IMC system failure", now_ns))
            return
        valid = (info.vifc_status & VifcStatus.MEASUREMENT_ACTIVE
                 and not info.vifc_status & VifcStatus.RESISTANCE_OUTDATED)
        if self._running and valid:
            v = self._voltage_v
            events.append(IsolationMeasurement(
                resistance_f_ohm=info.resistance_kohm * OHM_PER_KOHM,
                timestamp_ns=now_ns,
                voltage_v=v,  # the iso165C reports no voltages to earth
            ))

    def _on_response(self, frame: CommandFrame) -> None:
        if frame.command == Command.GET_HV1:
            self._voltage_v = frame.word1 * VOLT_PER_BIT

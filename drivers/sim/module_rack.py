"""Power modules on the CAN bus: protocol front-ends over `ModuleStage` physics.

Replies only to frames addressed to a present module, swaps addresses, flags errors the way
the protocol does, answers after a jittered latency and drops some replies on purpose
(hardware.md §6.2 "Protocol fidelity", "Reply latency").
"""

from __future__ import annotations

import abc
import collections
import heapq
import itertools
import random
from collections.abc import Callable, Mapping

import can

from drivers.power import infy, reg060
from drivers.power.protocol import FRAME_DLC, ModuleProtocol
from drivers.sim.module_stage import ModuleStage
from evse.ports.power import ModuleAlarm

#: Reply latency window (hardware.md §6.2 "5-30 ms configurable jitter").
REPLY_LATENCY_MIN_NS = 5_000_000
REPLY_LATENCY_MAX_NS = 30_000_000
#: Fraction of replies dropped; 0 by default, tests raise it.
DROP_PROBABILITY = 0.0

_Reply = Callable[[], can.Message]


class ModuleRackSim(abc.ABC):
    """All simulated modules of one protocol family behind one virtual-bus handle."""

    def __init__(
        self,
        bus: can.BusABC,
        stages: Mapping[int, ModuleStage],
        rng: random.Random,
        voltage_source: Callable[[], float],
        *,
        latency_min_ns: int = REPLY_LATENCY_MIN_NS,
        latency_max_ns: int = REPLY_LATENCY_MAX_NS,
        drop_probability: float = DROP_PROBABILITY,
    ) -> None:
        self.bus = bus
        self.stages = dict(stages)
        self.rng = rng
        #: where the modules measure their output voltage (the plant's module-side node)
        self.voltage_source = voltage_source
        self.latency_min_ns = latency_min_ns
        self.latency_max_ns = latency_max_ns
        self.drop_probability = drop_probability
        self.mute: set[int] = set()  # addresses whose replies are lost on the wire
        self._queue: list[tuple[int, int, _Reply]] = []
        self._seq = itertools.count()
        #: the latest frames received, for tests that look at the wire
        self.received: collections.deque[can.Message] = collections.deque(maxlen=1000)

    def step(self, now_ns: int) -> None:
        while True:
            msg = self.bus.recv(timeout=0)
            if msg is None:
                break
            self.received.append(msg)
            for address, reply in self.handle(msg, now_ns):
                if address in self.mute or self.rng.random() < self.drop_probability:
                    continue
                due = now_ns + self.rng.randint(self.latency_min_ns, self.latency_max_ns)
                heapq.heappush(self._queue, (due, next(self._seq), reply))
        while self._queue and self._queue[0][0] <= now_ns:
            due, _, reply = heapq.heappop(self._queue)
            frame = reply()
            frame.timestamp = due / 1e9
            self.bus.send(frame)

    def next_deadline_ns(self) -> int | None:
        return self._queue[0][0] if self._queue else None

    @abc.abstractmethod
    def handle(self, msg: can.Message, now_ns: int) -> list[tuple[int, _Reply]]:
        """Apply a request to the physics and return deferred replies (address, factory)."""


# --- InfyPower V1.13 --------------------------------------------------------------------------

_INFY_ALARM_FLAGS = {
    ModuleAlarm.OUTPUT_SHORT: "Status0OutputShort",
    ModuleAlarm.MODULE_FAULT: "Status1FaultAlarm",
    ModuleAlarm.PROTECTION: "Status1ProtectionAlarm",
    ModuleAlarm.FAN_FAULT: "Status1FanFault",
    ModuleAlarm.OVER_TEMPERATURE: "Status1OverTemperature",
    ModuleAlarm.OUTPUT_OVER_VOLTAGE: "Status1OutputOverVoltage",
    ModuleAlarm.COMM_INTERRUPT: "Status1CommInterrupt",
    ModuleAlarm.ID_REPEAT: "Status2IdRepeat",
    ModuleAlarm.CURRENT_SHARING: "Status2LoadSharingAlarm",
    ModuleAlarm.INPUT_PHASE_LOSS: "Status2InputPhaseLost",
    ModuleAlarm.INPUT_UNDER_VOLTAGE: "Status2InputUnderVoltage",
    ModuleAlarm.INPUT_OVER_VOLTAGE: "Status2InputOverVoltage",
}
_INFY_READS = {
    infy.InfyCommand.READ_VOLTAGE_CURRENT,
    infy.InfyCommand.STATUS,
    infy.InfyCommand.CAPABILITIES,
    infy.InfyCommand.BARCODE,
    infy.InfyCommand.VOLTAGE_CURRENT_AFTER_DIODE,
    infy.InfyCommand.MODULE_COUNT,
}


def infy_status_flags(stage: ModuleStage) -> frozenset[str]:
    flags = {_INFY_ALARM_FLAGS[a] for a in stage.alarms if a in _INFY_ALARM_FLAGS}
    if not stage.output_on:
        flags.add("Status1DcOff")
    if stage.power_limited:
        flags.add("Status2PowerLimited")
    return frozenset(flags)


class InfyRackSim(ModuleRackSim):
    def handle(self, msg: can.Message, now_ns: int) -> list[tuple[int, _Reply]]:
        if not msg.is_extended_id:
            return []
        raw = msg.arbitration_id
        dst, src = (raw >> 8) & 0xFF, raw & 0xFF
        device, command_raw = (raw >> 22) & 0xF, (raw >> 16) & 0x3F
        if device == infy.InfyDevice.GROUP:
            return self._group(msg, dst, src, command_raw)
        stage = self.stages.get(dst)
        if stage is None or not stage.present:
            return []
        stage.touch(now_ns)

        def error(code: infy.InfyErrorCode) -> list[tuple[int, _Reply]]:
            frame_id = (int(code) << 26) | (raw & 0x03FF_0000) | (src << 8) | dst
            data = bytes(msg.data).ljust(FRAME_DLC, b"\0")[:FRAME_DLC]
            return [(dst, lambda: can.Message(arbitration_id=frame_id, data=data,
                                              is_extended_id=True))]

        try:
            command = infy.InfyCommand(command_raw)
        except ValueError:
            return error(infy.InfyErrorCode.COMMAND_INVALID)
        data = bytes(msg.data)
        if len(data) != FRAME_DLC:
            return error(infy.InfyErrorCode.DATA_INVALID)
        if command in _INFY_READS and any(data):
            return error(infy.InfyErrorCode.DATA_INVALID)  # §1.2 read payload must be zero
        request_id = infy.decode_id(raw)
        reply_id = infy.reply_id(request_id)

        def frame(payload: Callable[[], bytes]) -> _Reply:
            return lambda: can.Message(arbitration_id=reply_id, data=payload(),
                                       is_extended_id=True)

        p = stage.params
        if command is infy.InfyCommand.SET_VOLTAGE_CURRENT:
            stage.voltage_set_v = int.from_bytes(data[0:4], "big") / 1000.0
            stage.current_set_a = int.from_bytes(data[4:8], "big") / 1000.0
            return [(dst, frame(lambda: data))]
        if command is infy.InfyCommand.ON_OFF:
            if data[0] not in (0, 1):
                return error(infy.InfyErrorCode.DATA_INVALID)
            stage.commanded_on = data[0] == 0
            return [(dst, frame(lambda: data))]
        if command is infy.InfyCommand.READ_VOLTAGE_CURRENT:
            return [(dst, frame(lambda: infy.encode_voltage_current(
                self.voltage_source(), stage.current_a)))]
        if command is infy.InfyCommand.STATUS:
            return [(dst, frame(lambda: infy.encode_status(infy_status_flags(stage))))]
        if command is infy.InfyCommand.CAPABILITIES:
            return [(dst, frame(lambda: infy.encode_capabilities(
                p.max_voltage_v, p.min_voltage_v, p.max_current_a, p.rated_power_w)))]
        if command is infy.InfyCommand.VOLTAGE_CURRENT_AFTER_DIODE:
            return [(dst, frame(lambda: infy.encode_after_diode(
                self.voltage_source(), p.max_current_a)))]
        if command is infy.InfyCommand.BARCODE:
            return [(dst, frame(lambda: b"A" + bytes(7)))]
        return error(infy.InfyErrorCode.COMMAND_INVALID)

    def _group(self, msg: can.Message, group: int, src: int, command_raw: int) -> list[
        tuple[int, _Reply]
    ]:
        """Group commands: the module count comes from the group master only (§6.2)."""
        present = sorted(a for a, s in self.stages.items() if s.present)
        if command_raw != infy.InfyCommand.MODULE_COUNT or not present:
            return []
        master = present[0]
        reply_id = infy.encode_id(infy.InfyId(0, infy.InfyDevice.GROUP,
                                              infy.InfyCommand.MODULE_COUNT, src, group))
        count = len(present)
        return [(master, lambda: can.Message(arbitration_id=reply_id,
                                             data=infy.encode_module_count(count),
                                             is_extended_id=True))]


# --- PROTNO 0x060 -----------------------------------------------------------------------------

#: 0x060 response data types and error codes (hardware.md §1.3 "Response").
TYPE_FLOAT, TYPE_INTEGER, TYPE_SET_REPLY_DPM = 0x41, 0x42, 0x43
ERROR_INVALID_COMMAND, ERROR_DATA = 0xF2, 0xF3
COMM_FAILURE_BIT = 16


class Reg060RackSim(ModuleRackSim):
    def __init__(
        self,
        bus: can.BusABC,
        stages: Mapping[int, ModuleStage],
        rng: random.Random,
        voltage_source: Callable[[], float],
        *,
        table: reg060.RegisterTable,
        latency_min_ns: int = REPLY_LATENCY_MIN_NS,
        latency_max_ns: int = REPLY_LATENCY_MAX_NS,
        drop_probability: float = DROP_PROBABILITY,
    ) -> None:
        super().__init__(bus, stages, rng, voltage_source, latency_min_ns=latency_min_ns,
                         latency_max_ns=latency_max_ns, drop_probability=drop_probability)
        self.table = table

    def status_word(self, stage: ModuleStage) -> int:
        t = self.table
        bits = 0
        for alarm in stage.alarms:
            for bit, mapped in sorted(t.status_alarms.items()):
                if mapped is alarm:
                    bits |= 1 << bit
                    break
        if not stage.output_on:
            bits |= 1 << t.status_dcdc_off_bit
        if stage.power_limited:
            bits |= 1 << t.status_power_limit_bit
        return bits

    def handle(self, msg: can.Message, now_ns: int) -> list[tuple[int, _Reply]]:
        if not msg.is_extended_id or (msg.arbitration_id >> 20) & 0x1FF != reg060.PROTNO:
            return []
        frame_id = reg060.decode_id(msg.arbitration_id)
        stage = self.stages.get(frame_id.destination)
        if stage is None or not stage.present:
            return []
        stage.touch(now_ns)
        t = self.table
        reply_id = reg060.encode_id(reg060.Reg060Id(True, frame_id.source,
                                                    frame_id.destination, t.low_id_bits))
        address = frame_id.destination

        def reply(kind: int, error: int, register: int, value: Callable[[], int]) -> list[
            tuple[int, _Reply]
        ]:
            return [(address, lambda: can.Message(
                arbitration_id=reply_id,
                data=reg060.encode_payload(kind, error, register, value()),
                is_extended_id=True))]

        data = bytes(msg.data)
        if len(data) != FRAME_DLC:
            return reply(TYPE_FLOAT | 0x80, ERROR_DATA, 0, lambda: 0)
        req = reg060.decode_payload(data)
        reg = req.register
        if req.function == t.read_function:
            values: dict[int, Callable[[], float | int]] = {
                t.reg_voltage: self.voltage_source,
                t.reg_current: lambda: stage.current_a,
                t.reg_status: lambda: self.status_word(stage),
            }
            if t.reg_rated_power is not None:
                values[t.reg_rated_power] = lambda: stage.params.rated_power_w
            if t.reg_rated_current is not None:
                values[t.reg_rated_current] = lambda: stage.params.max_current_a
            getter = values.get(reg)
            if getter is None:
                return reply(TYPE_FLOAT | 0x80, ERROR_INVALID_COMMAND, reg, lambda: 0)
            is_float = reg in t.float_registers
            kind = TYPE_FLOAT if is_float else TYPE_INTEGER

            def value(g: Callable[[], float | int] = getter, f: bool = is_float) -> int:
                v = g()
                return reg060.float_to_u32(float(v)) if f else int(v)

            return reply(kind, reg060.ERROR_NONE, reg, value)
        if req.function == t.set_function:
            if reg == t.reg_set_voltage:
                stage.voltage_set_v = reg060.u32_to_float(req.value)
            elif reg == t.reg_set_current:
                if t.set_current_kind is reg060.ValueKind.INTEGER:
                    stage.current_set_a = req.value / reg060.WINLINE_CURRENT_SCALE
                else:
                    stage.current_set_a = reg060.u32_to_float(req.value) * t.per_unit_current_a
            elif reg == t.reg_on_off:
                if req.value not in (reg060.POWER_ON_VALUE, reg060.POWER_OFF_VALUE):
                    return reply(TYPE_FLOAT | 0x80, ERROR_DATA, reg, lambda: req.value)
                stage.commanded_on = req.value == reg060.POWER_ON_VALUE
            else:
                return reply(TYPE_FLOAT | 0x80, ERROR_INVALID_COMMAND, reg, lambda: 0)
            kind = TYPE_SET_REPLY_DPM if t is reg060.DPM1000 else TYPE_INTEGER
            return reply(kind, reg060.ERROR_NONE, reg, lambda: req.value)
        return reply(TYPE_FLOAT | 0x80, ERROR_INVALID_COMMAND, reg, lambda: 0)


def rack_sim_for(
    protocol: ModuleProtocol,
    bus: can.BusABC,
    stages: Mapping[int, ModuleStage],
    rng: random.Random,
    voltage_source: Callable[[], float],
) -> ModuleRackSim:
    """The rack simulator that speaks `protocol`'s frames (the registry's power rows)."""
    if isinstance(protocol, reg060.Reg060Protocol):
        return Reg060RackSim(bus, stages, rng, voltage_source, table=protocol.table)
    if isinstance(protocol, infy.InfyProtocol):
        return InfyRackSim(bus, stages, rng, voltage_source)
    raise TypeError(f"no rack simulator for {type(protocol).__name__}")

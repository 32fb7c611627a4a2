"""Insulation monitor physics and its two bus front-ends (hardware.md §6.2 "IMD simulator").

The physics averages the true insulation over `mean_factor` one-second samples, runs a slow
self-test that can be forced to fail, and reads the DC bus voltage it is connected to.
"""

from __future__ import annotations

import collections
import random
from collections.abc import Callable

import can
from pymodbus.pdu import ExceptionResponse, ModbusPDU
from pymodbus.pdu.register_message import (
    ReadHoldingRegistersRequest,
    ReadHoldingRegistersResponse,
    WriteSingleRegisterRequest,
    WriteSingleRegisterResponse,
)

from drivers.imd import iso165c, isocha425
from drivers.modbus.link import ByteLink
from drivers.modbus.sim import RtuSlave

#: A healthy cable and vehicle: several MOhm to earth [assumed].
HEALTHY_RESISTANCE_OHM = 5_000_000.0
#: One raw sample per second, as the devices publish (§2.1, §2.3).
SAMPLE_PERIOD_NS = 1_000_000_000
#: Averaging depth: iso165C mean factor recommended 10 (§2.3). Conductances are averaged, so
#: a fault shows after a few samples rather than after the whole window [model choice].
MEAN_FACTOR = 10
#: Self-test duration: EVerest's IMD simulator uses 3 s (§6.2; real devices up to 20-30 s).
SELF_TEST_DURATION_NS = 3_000_000_000
#: Modbus "illegal data address" exception code (Modbus application protocol).
MODBUS_ILLEGAL_ADDRESS = 2


class ImdPhysics:
    def __init__(
        self,
        bus_voltage: Callable[[], float],
        *,
        resistance_ohm: float = HEALTHY_RESISTANCE_OHM,
        mean_factor: int = MEAN_FACTOR,
        self_test_duration_ns: int = SELF_TEST_DURATION_NS,
        sample_period_ns: int = SAMPLE_PERIOD_NS,
        rng: random.Random | None = None,
    ) -> None:
        self.bus_voltage = bus_voltage
        self.resistance_ohm = resistance_ohm
        self.mean_factor = mean_factor
        self.self_test_duration_ns = self_test_duration_ns
        self.sample_period_ns = sample_period_ns
        self.rng = rng or random.Random(0)
        self.measuring = False
        self.fail_self_test = False
        self.device_error = False
        self.self_test_until_ns: int | None = None
        self.last_self_test_passed: bool | None = None
        self._samples: collections.deque[float] = collections.deque(maxlen=mean_factor)
        self._next_sample_ns: int | None = None
        self.new_sample = False

    def inject_insulation_fault(self, resistance_ohm: float) -> None:
        self.resistance_ohm = resistance_ohm

    @property
    def self_test_running(self) -> bool:
        return self.self_test_until_ns is not None

    def start_self_test(self, now_ns: int) -> None:
        self.self_test_until_ns = now_ns + self.self_test_duration_ns
        self._samples.clear()

    def set_measuring(self, on: bool, now_ns: int) -> None:
        if on and not self.measuring:
            self._samples.clear()
            self._next_sample_ns = now_ns + self.sample_period_ns
        self.measuring = on

    @property
    def averaged_resistance_ohm(self) -> float | None:
        if not self._samples:
            return None
        return 1.0 / (sum(self._samples) / len(self._samples))

    def step(self, now_ns: int) -> None:
        self.new_sample = False
        if self.self_test_until_ns is not None and now_ns >= self.self_test_until_ns:
            self.self_test_until_ns = None
            self.last_self_test_passed = not (self.fail_self_test or self.device_error)
        if self.measuring and not self.self_test_running and self._next_sample_ns is not None:
            while now_ns >= self._next_sample_ns:
                self._samples.append(1.0 / self.resistance_ohm)
                self._next_sample_ns += self.sample_period_ns
                self.new_sample = True


class Iso165cSim:
    """IMD_Info every second, answers 0x22 requests on 0x23 with the echoed command (§2.3)."""

    def __init__(self, bus: can.BusABC, physics: ImdPhysics) -> None:
        self.bus = bus
        self.physics = physics
        self._next_info_ns: int | None = None
        self.silent = False  # injected: the device stops talking

    def _send(self, arbitration_id: int, data: bytes, now_ns: int) -> None:
        if self.silent:
            return
        self.bus.send(can.Message(arbitration_id=arbitration_id, data=data,
                                  is_extended_id=False, timestamp=now_ns / 1e9))

    def step(self, now_ns: int) -> None:
        p = self.physics
        while True:
            msg = self.bus.recv(timeout=0)
            if msg is None:
                break
            if msg.is_extended_id or msg.arbitration_id != iso165c.ID_IMD_REQUEST:
                continue
            req = iso165c.decode_command(bytes(msg.data))
            word1 = 0
            if req.command == iso165c.Command.SELF_TEST:
                p.start_self_test(now_ns)
            elif req.command == iso165c.Command.MEASUREMENT:
                p.set_measuring(bool(req.word1), now_ns)
            elif req.command == iso165c.Command.GET_HV1:
                word1 = max(0, min(0xFFFF, round(p.bus_voltage() / iso165c.VOLT_PER_BIT)))
            elif req.command == iso165c.Command.GET_RESISTANCE:
                word1 = self._resistance_kohm()
            self._send(iso165c.ID_IMD_RESPONSE,
                       iso165c.encode_command(iso165c.CommandFrame(req.command, word1)), now_ns)
        p.step(now_ns)
        if self._next_info_ns is None:
            self._next_info_ns = now_ns
        while now_ns >= self._next_info_ns:
            self._send(iso165c.ID_IMD_INFO, iso165c.encode_info(self.info()), now_ns)
            self._next_info_ns += iso165c.INFO_PERIOD_NS

    def _resistance_kohm(self) -> int:
        r = self.physics.averaged_resistance_ohm
        return 0xFFFF if r is None else max(0, min(0xFFFF, round(r / iso165c.OHM_PER_KOHM)))

    def info(self) -> iso165c.Info:
        p = self.physics
        imc = iso165c.ImcStatus(0)
        vifc = iso165c.VifcStatus.IMC_ALIVE | iso165c.VifcStatus.IMC_CONNECTIVITY
        if p.self_test_running:
            imc |= iso165c.ImcStatus.SELF_TEST_RUNNING
        if p.device_error or p.last_self_test_passed is False:
            imc |= iso165c.ImcStatus.SYSTEM_FAILURE
        if p.last_self_test_passed is None:
            vifc |= iso165c.VifcStatus.OVERALL_SELF_TEST_NOT_EXECUTED
        if p.measuring:
            vifc |= iso165c.VifcStatus.MEASUREMENT_ACTIVE
        if p.averaged_resistance_ohm is None:
            vifc |= iso165c.VifcStatus.RESISTANCE_OUTDATED
        return iso165c.Info(self._resistance_kohm(), imc, vifc)


class IsoCha425Sim(RtuSlave):
    """Modbus RTU slave on a byte link (drivers/modbus/sim.py, pymodbus' server framer)."""

    def __init__(self, link: ByteLink, physics: ImdPhysics,
                 device_address: int = isocha425.DEVICE_ADDRESS) -> None:
        super().__init__(link, device_address, self._reply)
        self.physics = physics
        self._now_ns = 0
        self.registers: dict[int, int] = {isocha425.REG_DEVICE_ENABLE: 0}

    def _refresh(self) -> None:
        p = self.physics
        alarm = isocha425.AlarmBits(0)
        if p.self_test_running:
            alarm |= isocha425.AlarmBits.SELF_TEST_RUNNING
        if p.device_error or p.last_self_test_passed is False:
            alarm |= isocha425.AlarmBits.DEVICE_ERROR
        r = p.averaged_resistance_ohm
        r_unit = isocha425.UNIT_OHM if (r is not None and p.measuring) else isocha425.UNIT_INVALID
        channels = {
            isocha425.REG_RESISTANCE: isocha425.Channel(r or 0.0, alarm, r_unit),
            isocha425.REG_VOLTAGE: isocha425.Channel(p.bus_voltage(), alarm, isocha425.UNIT_VOLT),
            isocha425.REG_VOLTAGE_L1E: isocha425.Channel(p.bus_voltage() / 2, alarm,
                                                         isocha425.UNIT_VOLT),
            isocha425.REG_VOLTAGE_L1E + 4: isocha425.Channel(-p.bus_voltage() / 2, alarm,
                                                             isocha425.UNIT_VOLT),
        }
        for base, ch in channels.items():
            for i, value in enumerate(isocha425.encode_channel(ch)):
                self.registers[base + i] = value

    def step(self, now_ns: int) -> None:
        self.physics.step(now_ns)
        self._now_ns = now_ns
        self.pump()

    def _reply(self, pdu: ModbusPDU) -> ModbusPDU:
        self._refresh()
        return self._answer(pdu, self._now_ns)

    def _answer(self, pdu: ModbusPDU, now_ns: int) -> ModbusPDU:
        if isinstance(pdu, ReadHoldingRegistersRequest):
            regs = [self.registers.get(pdu.address + i) for i in range(pdu.count)]
            if any(r is None for r in regs):
                return self._exception(pdu.function_code)
            return ReadHoldingRegistersResponse(dev_id=self.device_address,
                                                registers=[r or 0 for r in regs])
        if isinstance(pdu, WriteSingleRegisterRequest):
            value = pdu.registers[0]
            if pdu.address == isocha425.REG_SELF_TEST and value == isocha425.SELF_TEST_MAGIC:
                self.physics.start_self_test(now_ns)
            elif pdu.address == isocha425.REG_DEVICE_ENABLE:
                self.physics.set_measuring(bool(value), now_ns)
                self.registers[pdu.address] = value
            else:
                return self._exception(pdu.function_code)
            return WriteSingleRegisterResponse(dev_id=self.device_address, address=pdu.address,
                                               registers=[value])
        return self._exception(pdu.function_code)

    def _exception(self, function_code: int) -> ExceptionResponse:
        return ExceptionResponse(function_code, MODBUS_ILLEGAL_ADDRESS,
                                 device_id=self.device_address)

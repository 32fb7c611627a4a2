"""DC energy meter over Modbus RTU, Eastron SDM register layout, sans-IO and polled.

Register layout: hardware.md lists no DC meter, so this driver uses the documented Eastron
SDM-series input-register map (SDM630 / SDM230 / SDM72D-M Modbus protocol, function code
0x04 "read input registers", every value an IEEE-754 float32 in two registers, high word
first, 9600 baud 8E1, default address 1):

| register (3X) | start address | value used here        | unit |
|---------------|---------------|------------------------|------|
| 30001         | 0x0000        | voltage (phase 1 / DC) | V    |
| 30007         | 0x0006        | current (phase 1 / DC) | A    |
| 30073         | 0x0048        | total import energy    | kWh  |

A DC meter that follows this map ("SDM630-DC style": the phase-1 channels carry the DC
bus) is read with one request per poll (0x0000 x 8 registers: voltage .. current) and, every
`ENERGY_EVERY_POLLS`-th poll and before the first reading, a second one (0x0048 x 2: the
energy register changes slowly); each answer to the first block is a reading, carrying the
latest energy value. [check per unit: the map above is the one
the Eastron SDM630/SDM72D-M manuals give; other DC meters, e.g. LEM DCBM, use their own
maps and need their own table.]

The codec is the station's one Modbus RTU client codec (drivers/modbus/rtu.py, shared with
the isoCHA425 IMD), whose typed errors become the meter port's: `MeterCrcError`,
`MeterTimeout`, `MeterExceptionResponse` (the meter's exception code), `MeterBadReply`. The
simulated peer (`SdmMeterSim`) answers through drivers/modbus/sim.py, on pymodbus' server
framer: an independent implementation on the other end of the line.

A meter that stops giving valid readings is stale after `stale_after_ms` (`stale`): the
station's power path sees no more `MeterReading`s and stops the charge on its own
meter_stale bound (evse/power/controller.py, config power.meter_stale_ms); `stale` is the
driver-side signal for logs and the controller.

Registry entry (drivers/registry.py): meter driver ``modbus_sdm``.
"""

from __future__ import annotations

import struct
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from pymodbus.pdu import ExceptionResponse, ModbusPDU
from pymodbus.pdu.register_message import ReadInputRegistersRequest, ReadInputRegistersResponse

from drivers.modbus.link import ByteLink
from drivers.modbus.rtu import (
    FC_READ_INPUT,
    RtuBadReply,
    RtuCrcError,
    RtuError,
    RtuExceptionReply,
    parse_read_reply,
    read_request,
)
from drivers.modbus.sim import RtuSlave
from evse.ports.meter import DcMeter, MeterError, MeterReading

MS = 1_000_000
#: Eastron default bus address and line speed (SDM manuals: 9600 baud, even parity, id 1).
DEVICE_ADDRESS = 1
DEFAULT_BAUD = 9_600
REG_VOLTAGE = 0x0000  # 30001
REG_CURRENT = 0x0006  # 30007
REG_IMPORT_KWH = 0x0048  # 30073
#: Block A: 30001..30008 (voltage .. current), block B: 30073..30074 (import energy).
BLOCK_A = (REG_VOLTAGE, 8)
BLOCK_B = (REG_IMPORT_KWH, 2)
#: Poll period [assumed: 10 Hz, two requests of ~9 ms each at 9600 baud fit with margin].
POLL_PERIOD_NS = 100 * MS
#: The energy register is read on every this-many polls (1 s at the default period).
ENERGY_EVERY_POLLS = 10
#: A 9-register reply takes ~25 ms at 9600 baud; the SDM answers within ~100 ms
#: [assumed, as isoCHA425 RESPONSE_TIMEOUT_NS]; past this the request counts as lost.
RESPONSE_TIMEOUT_NS = 200 * MS
#: No valid reading for this long = stale [assumed: 10 polls; below the power path's
#: meter_stale_ms default 2000 ms so the driver says it first].
STALE_AFTER_NS = 1_000 * MS


class MeterLinkError(MeterError):
    """A Modbus exchange with the meter failed (the subclass says how)."""


class MeterTimeout(MeterLinkError):
    """No complete reply within the response timeout."""


class MeterCrcError(MeterLinkError):
    """A reply whose CRC-16/MODBUS does not match (line noise)."""


class MeterExceptionResponse(MeterLinkError):
    """The meter answered with a Modbus exception (function | 0x80, code)."""

    def __init__(self, code: int, address: int) -> None:
        super().__init__(f"Modbus exception {code} for register {address:#06x}")
        self.code = code
        self.address = address


class MeterBadReply(MeterLinkError):
    """A reply of the wrong address, function or length, or a value that is no number."""


#: The codec's errors as the meter port's (a driver reports MeterError subclasses).
_METER_ERROR: dict[type[RtuError], type[MeterLinkError]] = {
    RtuCrcError: MeterCrcError, RtuBadReply: MeterBadReply}


def _meter_error(exc: RtuError) -> MeterLinkError:
    if isinstance(exc, RtuExceptionReply):
        return MeterExceptionResponse(exc.code, exc.address)
    return _METER_ERROR.get(type(exc), MeterBadReply)(str(exc))


def decode_float(registers: list[int], offset: int) -> float:
    value = float(struct.unpack(">f", struct.pack(">HH", registers[offset],
                                                  registers[offset + 1]))[0])
    if value != value or value in (float("inf"), float("-inf")):
        raise MeterBadReply(f"register value at offset {offset} is not a number")
    return value


def encode_float(value: float) -> tuple[int, int]:
    hi, lo = struct.unpack(">HH", struct.pack(">f", value))
    return hi, lo


@dataclass
class MeterStats:
    requests: int = 0
    readings: int = 0
    #: Typed errors by class name (MeterTimeout, MeterCrcError, ...).
    errors: dict[str, int] = field(default_factory=dict)


class ModbusSdmMeter(DcMeter):
    """The `DcMeter` port on an Eastron-SDM-layout meter (registry name ``modbus_sdm``)."""

    def __init__(self, link: ByteLink, *, device_address: int = DEVICE_ADDRESS,
                 poll_period_ns: int = POLL_PERIOD_NS,
                 response_timeout_ns: int = RESPONSE_TIMEOUT_NS,
                 stale_after_ns: int = STALE_AFTER_NS) -> None:
        self._link = link
        self.device_address = device_address
        self.poll_period_ns = poll_period_ns
        self.response_timeout_ns = response_timeout_ns
        self.stale_after_ns = stale_after_ns
        self.stats = MeterStats()
        #: The last few typed errors, newest last.
        self.errors: deque[MeterLinkError] = deque(maxlen=16)
        self._rx = b""
        self._in_flight: tuple[tuple[int, int], int] | None = None
        self._todo: list[tuple[int, int]] = []
        self._energy_kwh: float | None = None
        self._polls = 0
        self._next_poll_ns: int | None = None
        self._started_ns: int | None = None
        self._last: MeterReading | None = None
        self._out: list[MeterReading] = []

    # --- port --------------------------------------------------------------------------
    @property
    def last(self) -> MeterReading | None:
        return self._last

    def next_deadline_ns(self) -> int | None:
        times = [t for t in (self._next_poll_ns,) if t is not None]
        if self._in_flight is not None:
            times.append(self._in_flight[1] + self.response_timeout_ns)
        return min(times) if times else None

    def poll(self, now_ns: int) -> list[MeterReading]:
        """Read what arrived, start the next request when due; the readings completed."""
        if self._started_ns is None:
            self._started_ns = now_ns
            self._next_poll_ns = now_ns
        self._receive(now_ns)
        flight = self._in_flight
        if flight is not None and now_ns - flight[1] >= self.response_timeout_ns:
            self._fail(MeterTimeout(f"no reply to register {flight[0][0]:#06x} within "
                                    f"{self.response_timeout_ns // MS} ms"))
        due = self._next_poll_ns
        if due is not None and now_ns >= due:
            self._next_poll_ns = now_ns + self.poll_period_ns
            if self._in_flight is None and not self._todo:
                energy_due = self._energy_kwh is None or self._polls % ENERGY_EVERY_POLLS == 0
                self._todo = [BLOCK_B, BLOCK_A] if energy_due else [BLOCK_A]
                self._polls += 1
        if self._in_flight is None and self._todo:
            block = self._todo.pop(0)
            self._rx = b""
            self._link.write(read_request(self.device_address, FC_READ_INPUT, *block))
            self.stats.requests += 1
            self._in_flight = (block, now_ns)
        out, self._out = self._out, []
        return out

    def sample(self, now_ns: int) -> MeterReading | None:
        """The newest reading completed by this poll (None: none new)."""
        readings = self.poll(now_ns)
        return readings[-1] if readings else None

    def stale(self, now_ns: int) -> bool:
        """No valid reading for `stale_after_ns` (since start, or since the last one)."""
        since = self._last.timestamp_ns if self._last is not None else self._started_ns
        return since is not None and now_ns - since >= self.stale_after_ns

    # --- internals ---------------------------------------------------------------------
    def _fail(self, err: MeterLinkError) -> None:
        self.errors.append(err)
        name = type(err).__name__
        self.stats.errors[name] = self.stats.errors.get(name, 0) + 1
        self._in_flight = None
        self._todo = []  # this poll's reading is lost; the next poll starts afresh
        self._rx = b""

    def _receive(self, now_ns: int) -> None:
        data = self._link.read()
        flight = self._in_flight
        if flight is None:
            return  # a late reply to a request already given up on
        self._rx += data
        (address, count), _sent = flight
        try:
            registers = parse_read_reply(self._rx, self.device_address, FC_READ_INPUT,
                                         address, count)
        except RtuError as exc:
            self._fail(_meter_error(exc))
            return
        if registers is None:
            return
        self._in_flight = None
        self._rx = b""
        try:
            if (address, count) == BLOCK_B:
                self._energy_kwh = decode_float(registers, 0)
                return
            energy_kwh = self._energy_kwh
            if energy_kwh is None:
                return
            reading = MeterReading(
                voltage_v=decode_float(registers, REG_VOLTAGE),
                current_a=decode_float(registers, REG_CURRENT),
                energy_wh=energy_kwh * 1000.0,
                timestamp_ns=now_ns,
            )
        except MeterBadReply as exc:
            self._fail(exc)
            return
        self._last = reading
        self.stats.readings += 1
        self._out.append(reading)


class SdmMeterSim(RtuSlave):
    """The simulated meter: a Modbus RTU slave on a byte link (drivers/modbus/sim.py, on
    pymodbus' server framer), measuring `truth()` = (voltage V, current A) and integrating
    the import energy. Fault injection: `silent`, `corrupt_next` (RtuSlave) and
    `exception_code` (every answer that exception)."""

    def __init__(self, link: ByteLink, truth: Callable[[], tuple[float, float]], *,
                 device_address: int = DEVICE_ADDRESS) -> None:
        super().__init__(link, device_address, self._answer)
        self.truth = truth
        self._energy_wh = 0.0
        self._last: tuple[float, float, int] | None = None
        self._now = (0.0, 0.0)
        self.exception_code: int | None = None

    def step(self, now_ns: int) -> None:
        v, i = self.truth()
        last = self._last
        if last is not None and i > 0:
            self._energy_wh += (last[0] * last[1] + v * i) / 2 * (now_ns - last[2]) / 3.6e12
        self._last = (v, i, now_ns)
        self._now = (v, i)
        self.pump()

    def _answer(self, pdu: ModbusPDU) -> ModbusPDU | None:
        if not isinstance(pdu, ReadInputRegistersRequest):
            return None
        v, i = self._now
        regs: dict[int, int] = {}
        for base, value in ((REG_VOLTAGE, v), (0x0002, 0.0), (0x0004, 0.0), (REG_CURRENT, i),
                            (REG_IMPORT_KWH, self._energy_wh / 1000.0)):
            regs[base], regs[base + 1] = encode_float(value)
        wanted = [regs.get(pdu.address + k) for k in range(pdu.count)]
        if self.exception_code is not None or any(r is None for r in wanted):
            code = self.exception_code if self.exception_code is not None else 2
            return ExceptionResponse(pdu.function_code, code, device_id=self.device_address)
        return ReadInputRegistersResponse(dev_id=self.device_address,
                                          registers=[r or 0 for r in wanted])

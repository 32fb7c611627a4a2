"""The isoCHA425HV driver on a real tty (termios, 8E1) against the simulated IMD speaking
Modbus RTU on the other end of a pty: measurements end to end, a CRC error on the wire, a
silent device; and the station config path (`imd: {driver: isocha425, device: ...}`),
where a missing device is a DeviceOpenError naming it (exit 2) and a silent one becomes
the power path's `imd_device_fault` row (evse/power/fault_table.yaml) once it matters.
Virtual time, stepped by hand; bytes really pass the kernel's pty."""

from __future__ import annotations

import random
import termios
from collections.abc import Iterator
from pathlib import Path

import pytest

from drivers.imd import isocha425
from drivers.imd.isocha425 import IsoCha425Imd
from drivers.modbus.link import PtyDeviceLink, SerialPortLink
from drivers.sim.imd import ImdPhysics, IsoCha425Sim
from evse.ev.battery import Battery
from evse.ports.imd import ImdDeviceFault, ImdEvent, IsolationMeasurement
from evse.runtime.config import ConfigError, DeviceOpenError, load_config
from evse.runtime.sim_world import SimWorld, world_config

MS = 1_000_000
BUS_V = 400.0


class Bench:
    def __init__(self, baud: int = 19_200) -> None:
        self.now = 0
        self.pty = PtyDeviceLink()
        self.physics = ImdPhysics(lambda: BUS_V)
        self.sim = IsoCha425Sim(self.pty, self.physics)
        self.link = SerialPortLink(self.pty.device, baud)
        self.imd = IsoCha425Imd(self.link)
        self.events: list[tuple[int, ImdEvent]] = []

    def run_ms(self, ms: int) -> None:
        for _ in range(ms):
            self.now += MS
            self.sim.step(self.now)
            self.events += [(self.now, e) for e in self.imd.poll(self.now)]

    def of(self, kind: type) -> list[tuple[int, ImdEvent]]:
        return [(t, e) for t, e in self.events if isinstance(e, kind)]

    def close(self) -> None:
        self.link.close()
        self.pty.close()


@pytest.fixture
def bench() -> Iterator[Bench]:
    b = Bench()
    yield b
    b.close()


def test_measurements_arrive_over_the_tty_every_second(bench: Bench) -> None:
    attrs = termios.tcgetattr(bench.link.fileno())
    # 19200 baud (the driver also asks for 8E1; a pty does not keep PARENB, a UART does)
    assert attrs[4] == termios.B19200
    bench.imd.start(bench.now)
    bench.run_ms(12_000)
    meas = bench.of(IsolationMeasurement)
    assert len(meas) >= 8, bench.events
    last = meas[-1][1]
    assert isinstance(last, IsolationMeasurement)
    assert last.resistance_f_ohm > 1e6 and last.voltage_v == pytest.approx(BUS_V)
    assert bench.of(ImdDeviceFault) == []


def test_a_crc_error_costs_one_reply_not_the_device(bench: Bench) -> None:
    bench.imd.start(bench.now)
    bench.run_ms(5_000)
    before = len(bench.of(IsolationMeasurement))
    bench.pty.corrupt_next = 1  # one reply with a wrong CRC: the driver drops it
    bench.run_ms(5_000)
    assert bench.of(ImdDeviceFault) == []
    assert len(bench.of(IsolationMeasurement)) >= before + 3


def test_repeated_crc_errors_and_a_silent_device_are_a_device_fault(bench: Bench) -> None:
    bench.imd.start(bench.now)
    bench.run_ms(3_000)
    bench.pty.corrupt_next = 10_000
    bench.run_ms(3_000)
    faults = bench.of(ImdDeviceFault)
    first = faults[0][1] if faults else None
    assert isinstance(first, ImdDeviceFault) and "no Modbus response" in first.reason
    bench.pty.corrupt_next = 0
    bench.events.clear()
    bench.run_ms(3_000)
    assert bench.of(IsolationMeasurement), "the driver did not recover after the errors"
    bench.events.clear()
    bench.sim.silent = True
    t0 = bench.now
    bench.run_ms(3_000)
    (t, _fault), *_ = bench.of(ImdDeviceFault)
    # MAX_MISSED_RESPONSES unanswered requests, each after RESPONSE_TIMEOUT_NS
    bound = isocha425.MAX_MISSED_RESPONSES * (isocha425.RESPONSE_TIMEOUT_NS + 2 * MS)
    assert t - t0 <= bound + isocha425.MEASUREMENT_PERIOD_NS, (t - t0) / MS


# ------------------------------------------------------------------ the config path

def _cfg(tmp: Path, body: str) -> Path:
    p = tmp / "imd.yaml"
    p.write_text(body, encoding="utf-8")
    return p


def test_imd_device_from_config_talks_modbus_on_that_tty(tmp_path: Path) -> None:
    """`imd: {driver: isocha425, device: PTY, baud: 38400}`: the station's world puts the
    real driver on the tty; the simulated IMD at the far end answers it."""
    pty = PtyDeviceLink()
    try:
        cfg = load_config(_cfg(tmp_path, "imd: {driver: isocha425, device: "
                                         f"{pty.device}, baud: 38400}}\n"))
        world = SimWorld(lambda: 0, random.Random(1), Battery(), world_config(cfg))
        try:
            far = IsoCha425Sim(pty, ImdPhysics(lambda: BUS_V))
            serial = world._serial
            assert serial is not None
            assert termios.tcgetattr(serial.fileno())[4] == termios.B38400
            imd = world.imd
            now = 0
            imd.start(now)
            got: list[ImdEvent] = []
            for _ in range(3_000):
                now += MS
                far.step(now)
                got += imd.poll(now)
            assert any(isinstance(e, IsolationMeasurement) for e in got), got
        finally:
            world.close()
    finally:
        pty.close()


def test_a_missing_imd_device_is_a_device_open_error_naming_it(tmp_path: Path) -> None:
    cfg = load_config(_cfg(tmp_path, "imd: {driver: isocha425, device: /dev/ttyNOIMD9}\n"))
    with pytest.raises(DeviceOpenError, match="/dev/ttyNOIMD9: cannot open the RS-485"):
        SimWorld(lambda: 0, random.Random(1), Battery(), world_config(cfg))


def test_imd_baud_must_be_a_modbus_line_speed(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="imd.baud must be one of"):
        load_config(_cfg(tmp_path, "imd: {driver: isocha425, baud: 14400}\n"))

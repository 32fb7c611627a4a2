"""One conformance suite over both isolation-monitor backends (CAN iso165C, Modbus isoCHA)."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from dataclasses import dataclass

import can
import pytest

from drivers.imd.iso165c import Iso165cImd
from drivers.imd.isocha425 import IsoCha425Imd
from drivers.modbus.link import ByteLink, SerialPortLink, pipe_pair
from drivers.sim.imd import ImdPhysics, Iso165cSim, IsoCha425Sim
from evse.ports.imd import (
    ImdDeviceFault,
    ImdEvent,
    IsolationMeasurement,
    IsolationMonitor,
    SelfTestResult,
)

TICK = 10_000_000
_n = itertools.count()


@dataclass
class ImdBench:
    imd: IsolationMonitor
    sim: Iso165cSim | IsoCha425Sim
    physics: ImdPhysics
    buses: list[can.BusABC]
    bus_v: list[float]
    now: int = 0

    def run(self, duration_ns: int) -> list[tuple[int, ImdEvent]]:
        out = []
        end = self.now + duration_ns
        while self.now < end:
            self.now += TICK
            self.sim.step(self.now)
            out += [(self.now, e) for e in self.imd.poll(self.now)]
        return out


@pytest.fixture(params=["iso165c", "isocha425"])
def bench(request: pytest.FixtureRequest) -> Iterator[ImdBench]:
    bus_v = [400.0]
    physics = ImdPhysics(lambda: bus_v[0])
    buses: list[can.BusABC] = []
    if request.param == "iso165c":
        ch = f"imd-{next(_n)}"
        buses = [can.Bus(interface="virtual", channel=ch, preserve_timestamps=True)
                 for _ in range(2)]
        b = ImdBench(Iso165cImd(buses[0]), Iso165cSim(buses[1], physics), physics, buses, bus_v)
    else:
        a, c = pipe_pair()
        b = ImdBench(IsoCha425Imd(a), IsoCha425Sim(c, physics), physics, buses, bus_v)
    yield b
    for bus in buses:
        bus.shutdown()


def measurements(events: list[tuple[int, ImdEvent]]) -> list[IsolationMeasurement]:
    return [e for _, e in events if isinstance(e, IsolationMeasurement)]


def test_measurements_arrive_about_once_a_second_after_start(bench: ImdBench) -> None:
    bench.imd.start(bench.now)
    ms = measurements(bench.run(5_500_000_000))
    assert 4 <= len(ms) <= 6
    assert ms[-1].resistance_f_ohm == pytest.approx(5e6, rel=0.01)


def test_voltage_reading_tracks_the_dc_bus(bench: ImdBench) -> None:
    bench.imd.start(bench.now)
    bench.run(3_000_000_000)
    bench.bus_v[0] = 750.0
    ms = measurements(bench.run(3_000_000_000))
    assert ms[-1].voltage_v == pytest.approx(750.0, abs=1.0)


def test_no_measurements_before_start_or_after_stop(bench: ImdBench) -> None:
    assert not measurements(bench.run(3_000_000_000))
    bench.imd.start(bench.now)
    bench.run(3_000_000_000)
    bench.imd.stop(bench.now)
    bench.run(500_000_000)
    assert not measurements(bench.run(3_000_000_000))


def test_self_test_result_arrives_later_not_at_once(bench: ImdBench) -> None:
    t0 = bench.now
    bench.imd.start_self_test(500.0, t0)
    events = bench.run(6_000_000_000)
    results = [(t, e) for t, e in events if isinstance(e, SelfTestResult)]
    assert len(results) == 1
    t, result = results[0]
    assert result.passed and t - t0 >= bench.physics.self_test_duration_ns


def test_failed_self_test_is_reported_as_failed(bench: ImdBench) -> None:
    bench.physics.fail_self_test = True
    bench.imd.start_self_test(500.0, bench.now)
    results = [e for _, e in bench.run(6_000_000_000) if isinstance(e, SelfTestResult)]
    assert results and results[0].passed is False


def test_injected_insulation_fault_shows_in_the_readings(bench: ImdBench) -> None:
    bench.physics.inject_insulation_fault(40_000.0)
    bench.imd.start(bench.now)
    ms = measurements(bench.run(4_000_000_000))
    assert ms and ms[-1].resistance_f_ohm < 100_000


def test_silent_device_raises_device_fault(bench: ImdBench) -> None:
    bench.imd.start(bench.now)
    bench.run(2_000_000_000)
    bench.sim.silent = True
    faults = [e for _, e in bench.run(6_000_000_000) if isinstance(e, ImdDeviceFault)]
    assert faults


class _FdLink(ByteLink):
    """The device end of a pty, non-blocking, for the simulator."""

    def __init__(self, fd: int) -> None:
        os.set_blocking(fd, False)
        self.fd = fd

    def write(self, data: bytes) -> None:
        os.write(self.fd, data)

    def read(self) -> bytes:
        try:
            return os.read(self.fd, 256)
        except BlockingIOError:
            return b""


def test_isocha_backend_works_through_a_real_tty_in_8e1() -> None:
    """The Modbus RTU backend over SerialPortLink (termios raw 8E1) against the simulator."""
    master, slave = os.openpty()
    link = SerialPortLink(os.ttyname(slave))
    try:
        sim = IsoCha425Sim(_FdLink(master), ImdPhysics(lambda: 600.0))
        imd = IsoCha425Imd(link)
        imd.start(0)
        events: list[ImdEvent] = []
        for k in range(1, 400):
            now = k * TICK
            sim.step(now)
            events += imd.poll(now)
        ms = measurements([(0, e) for e in events])
        assert ms and ms[-1].resistance_f_ohm == pytest.approx(5e6, rel=0.01)
        assert ms[-1].voltage_v == pytest.approx(600.0)
    finally:
        link.close()
        os.close(master)
        os.close(slave)

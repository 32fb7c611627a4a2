"""Module-group manager over simulated modules of every protocol (conformance + behaviour)."""

from __future__ import annotations

import random
from collections.abc import Iterator

import can
import pytest

from drivers.power import infy, reg060
from drivers.power.group import (
    OFF_CURRENT_THRESHOLD_A,
    OFFLINE_TIMEOUT_NS,
    ModuleGroupManager,
    measurement_fresh_ns,
)
from drivers.power.infy import InfyProtocol
from drivers.sim.contactor import ContactorSim
from drivers.sim.loads import Battery, EvInlet
from drivers.sim.module_rack import InfyRackSim, ModuleRackSim, Reg060RackSim
from drivers.sim.module_stage import COMM_TIMEOUT_NS, ModuleStage
from drivers.sim.plant import DcPlant
from evse.ports.power import (
    CapabilitiesChanged,
    GroupMeasurement,
    ModuleAlarm,
    ModuleAlarmRaised,
    ModuleFrameRejected,
    ModuleOffline,
    ModuleOnline,
    OutputOffConfirmed,
    PowerEvent,
    PowerUsageError,
)

TICK = 10_000_000
_n = iter(range(10_000))


class Bench:
    def __init__(self, protocol: str, modules: int = 3, battery: bool = True) -> None:
        ch = f"group-{protocol}-{next(_n)}"
        self.drv = can.Bus(interface="virtual", channel=ch, preserve_timestamps=True)
        self.sim = can.Bus(interface="virtual", channel=ch, preserve_timestamps=True)
        self.stages = {a: ModuleStage() for a in range(modules)}
        self.contactor = ContactorSim()
        self.load = EvInlet(Battery(soc=0.5))
        if battery:
            self.load.close_ev_contactors(0.0)
        self.plant = DcPlant(list(self.stages.values()), self.contactor, self.load)
        volts = lambda: self.plant.module_voltage_v  # noqa: E731
        self.rack: ModuleRackSim
        if protocol == "infy":
            self.rack = InfyRackSim(self.sim, self.stages, random.Random(3), volts)
            proto: infy.InfyProtocol | reg060.Reg060Protocol = InfyProtocol()
        else:
            table = reg060.VENDOR_TABLES[protocol]
            self.rack = Reg060RackSim(self.sim, self.stages, random.Random(3), volts, table=table)
            proto = reg060.Reg060Protocol(table)
        self.proto = proto
        self.group = ModuleGroupManager(self.drv, proto, list(self.stages))
        self.now = 0
        self.events: list[tuple[int, PowerEvent]] = []

    def run(self, duration_ns: int) -> None:
        end = self.now + duration_ns
        while self.now < end:
            self.now += TICK
            self.plant.step(self.now)
            self.rack.step(self.now)
            self.events += [(self.now, e) for e in self.group.poll(self.now)]

    def of(self, kind: type) -> list[tuple[int, PowerEvent]]:
        return [(t, e) for t, e in self.events if isinstance(e, kind)]

    def close(self) -> None:
        self.drv.shutdown()
        self.sim.shutdown()


PROTOCOLS = ["infy", "winline", "dpm1000"]


@pytest.fixture(params=PROTOCOLS)
def bench(request: pytest.FixtureRequest) -> Iterator[Bench]:
    b = Bench(request.param)
    yield b
    b.close()


def test_capabilities_are_sum_of_current_and_power_and_min_of_max_voltage(bench: Bench) -> None:
    bench.stages[2].params.max_voltage_v = 750.0
    bench.stages[2].params.rated_power_w = 20_000.0
    bench.run(2_000_000_000)
    caps = bench.group.capabilities
    assert caps.module_count == 3
    assert caps.max_current_a == pytest.approx(300.0)
    if bench.rack.__class__ is InfyRackSim:  # Infy reads capabilities; 0x060 uses the table
        assert caps.max_voltage_v == 750.0
        assert caps.max_power_w == pytest.approx(80_000.0)


def test_current_is_shared_equally_and_output_follows_setpoint(bench: Bench) -> None:
    bench.contactor.command(True, 0)
    bench.run(1_000_000_000)
    ocv = bench.load.battery.ocv_v()
    bench.group.set_output(ocv + 30.0, 60.0, bench.now)
    bench.group.enable(bench.now)
    bench.run(3_000_000_000)
    currents = [s.current_a for s in bench.stages.values()]
    assert sum(currents) == pytest.approx(60.0, abs=0.5)
    assert max(currents) - min(currents) < 0.5
    assert [s.current_set_a for s in bench.stages.values()] == pytest.approx([20.0] * 3, abs=0.01)


def test_polls_double_as_heartbeat_so_modules_never_time_out(bench: Bench) -> None:
    bench.run(COMM_TIMEOUT_NS + 5_000_000_000)
    assert not any(s.comm_timed_out for s in bench.stages.values())
    assert not bench.of(ModuleOffline)


def test_offline_timeout_is_longer_than_the_module_comm_timeout() -> None:
    assert OFFLINE_TIMEOUT_NS > COMM_TIMEOUT_NS  # §1.2: overestimating capability is safe


def test_a_silent_modules_last_reading_leaves_the_present_voltage(bench: Bench) -> None:
    """A module whose frames stopped keeps its capability (offline takes 15 s) but not its
    voltage: once its reading is older than one poll period + the reply timeout, the group
    voltage is the answering modules' (here: the decay after the contactor opened), not
    the silent one's frozen charging voltage (module_comm_lost@welding read as a weld)."""
    bench.contactor.command(True, 0)
    bench.group.set_output(450.0, 60.0, 0)
    bench.group.enable(0)
    bench.run(3_000_000_000)
    bench.stages[2].present = False
    silent_at = bench.now
    bench.group.disable(bench.now)
    bench.contactor.command(False, bench.now)
    fresh_ns = measurement_fresh_ns(bench.proto.poll_period_ns)
    bench.run(fresh_ns + 1_000_000_000)
    late = [e for t, e in bench.of(GroupMeasurement) if t > silent_at + fresh_ns + 100_000_000]
    assert late and all(e.voltage_v < 60.0 for e in late), late  # type: ignore[union-attr]
    assert not bench.of(ModuleOffline) and bench.group.capabilities.module_count == 3


def test_hot_unplug_drops_capability_after_timeout_and_resends_share(bench: Bench) -> None:
    bench.contactor.command(True, 0)
    bench.group.set_output(450.0, 60.0, 0)
    bench.group.enable(0)
    bench.run(2_000_000_000)
    bench.stages[2].present = False
    t_unplug = bench.now
    bench.run(OFFLINE_TIMEOUT_NS + 2_000_000_000)
    (t_off, off), = bench.of(ModuleOffline)
    assert off.address == 2  # type: ignore[union-attr]
    # measured from the last reply, which came at most one poll period before the unplug
    poll_ns = 1_000_000_000
    assert OFFLINE_TIMEOUT_NS - poll_ns <= t_off - t_unplug <= OFFLINE_TIMEOUT_NS + poll_ns
    assert bench.group.capabilities.module_count == 2
    assert bench.stages[0].current_set_a == pytest.approx(30.0, abs=0.01)
    bench.stages[2].present = True
    bench.run(3_000_000_000)
    assert bench.group.capabilities.module_count == 3
    assert [t for t, e in bench.of(ModuleOnline) if e.address == 2][-1] > t_off  # type: ignore[union-attr]
    assert bench.stages[2].current_set_a == pytest.approx(20.0, abs=0.01)


def test_a_module_back_on_the_bus_after_the_disable_is_switched_off(bench: Bench) -> None:
    """Every module left the bus while on; the group was disabled meanwhile (its OFF is
    sent once, nobody heard it). Back on the bus, a module must get the OFF, not keep
    driving its last ON with nobody asking (fault campaign seed 640: modules on while the
    path was idle after no_modules)."""
    bench.contactor.command(True, 0)
    bench.group.set_output(450.0, 60.0, 0)
    bench.group.enable(0)
    bench.run(2_000_000_000)
    assert all(s.commanded_on for s in bench.stages.values())
    for stage in bench.stages.values():
        stage.present = False
    bench.run(OFFLINE_TIMEOUT_NS + 1_000_000_000)
    bench.group.disable(bench.now)
    bench.contactor.command(False, bench.now)
    bench.run(1_000_000_000)
    for stage in bench.stages.values():
        stage.present = True
    bench.run(3_000_000_000)
    assert len(bench.of(ModuleOnline)) >= 3
    assert not any(s.commanded_on or s.output_on for s in bench.stages.values())


def test_off_is_confirmed_only_after_measured_current_falls(bench: Bench) -> None:
    bench.contactor.command(True, 0)
    bench.run(1_000_000_000)
    bench.group.set_output(bench.load.battery.ocv_v() + 30.0, 90.0, bench.now)
    bench.group.enable(bench.now)
    bench.run(3_000_000_000)
    assert sum(s.current_a for s in bench.stages.values()) > 80.0
    t_disable = bench.now
    bench.group.disable(bench.now)
    bench.run(1_000_000_000)
    (t_conf, _), = bench.of(OutputOffConfirmed)
    assert t_conf > t_disable
    assert sum(s.current_a for s in bench.stages.values()) < OFF_CURRENT_THRESHOLD_A


def test_module_alarm_is_reported_and_removes_module_from_capabilities(bench: Bench) -> None:
    bench.run(2_000_000_000)
    bench.stages[1].injected_alarms.add(ModuleAlarm.OVER_TEMPERATURE)
    bench.run(2_000_000_000)
    alarms = bench.of(ModuleAlarmRaised)
    assert alarms and ModuleAlarm.OVER_TEMPERATURE in alarms[0][1].alarms  # type: ignore[union-attr]
    assert bench.group.capabilities.module_count == 2
    assert isinstance(bench.of(CapabilitiesChanged)[-1][1], CapabilitiesChanged)


def test_dropped_replies_do_not_take_modules_offline(bench: Bench) -> None:
    bench.rack.drop_probability = 0.5
    bench.run(OFFLINE_TIMEOUT_NS + 5_000_000_000)
    assert not bench.of(ModuleOffline)
    assert bench.group.capabilities.module_count == 3


def test_module_silent_for_its_own_timeout_switches_off_and_says_why() -> None:
    b = Bench("infy", modules=1)
    try:
        b.contactor.command(True, 0)
        b.group.set_output(450.0, 20.0, 0)
        b.group.enable(0)
        b.run(2_000_000_000)
        assert b.stages[0].output_on
        b.drv.shutdown()  # controller gone: nothing reaches the module any more
        b.drv = can.Bus(interface="virtual", channel="group-isolated", preserve_timestamps=True)
        b.group = ModuleGroupManager(b.drv, InfyProtocol(), [0])
        b.run(COMM_TIMEOUT_NS)
        assert not b.stages[0].output_on
        assert ModuleAlarm.COMM_INTERRUPT in b.stages[0].alarms
    finally:
        b.close()


def test_garbage_frame_is_reported_not_swallowed() -> None:
    b = Bench("infy", modules=1)
    try:
        b.sim.send(can.Message(arbitration_id=0x0E83F000, data=bytes(8), is_extended_id=True))
        b.run(TICK)
        assert b.of(ModuleFrameRejected)
    finally:
        b.close()


def test_group_rejects_bad_configuration() -> None:
    bus = can.Bus(interface="virtual", channel="group-bad", preserve_timestamps=True)
    try:
        with pytest.raises(PowerUsageError):
            ModuleGroupManager(bus, InfyProtocol(), [])
        with pytest.raises(PowerUsageError):
            ModuleGroupManager(bus, InfyProtocol(), [1, 1])
        g = ModuleGroupManager(bus, InfyProtocol(), [1])
        with pytest.raises(PowerUsageError):
            g.set_output(-5.0, 1.0, 0)
    finally:
        bus.shutdown()


def test_setpoint_frames_are_rate_limited_to_20_hz() -> None:
    b = Bench("winline", modules=1)
    try:
        for i in range(100):  # a 1 kHz caller
            b.group.set_output(400.0 + i, 10.0, i * 1_000_000)
            b.group.poll(i * 1_000_000)
        b.rack.step(100_000_000)
        sets = [m for m in b.rack.received if bytes(m.data)[0] == 0x03
                and bytes(m.data)[2:4] == b"\x00\x21"]
        assert 2 <= len(sets) <= 3  # 100 ms at one per 50 ms
    finally:
        b.close()


def test_infy_group_mode_discovers_modules_by_count_and_drops_unplugged_at_once() -> None:
    b = Bench("infy", modules=3)
    try:
        b.group = ModuleGroupManager(b.drv, InfyProtocol(), [], discovery_group=0)
        b.run(3_000_000_000)
        assert b.group.capabilities.module_count == 3
        b.stages[2].present = False  # the count falls to 2 at the next round
        t0 = b.now
        b.run(2_000_000_000)
        (t_off, off), = b.of(ModuleOffline)
        assert off.address == 2 and t_off - t0 <= 2_000_000_000  # type: ignore[union-attr]
        assert b.group.capabilities.module_count == 2
    finally:
        b.close()


def test_group_discovery_needs_a_protocol_that_has_it() -> None:
    bus = can.Bus(interface="virtual", channel="group-nodisc", preserve_timestamps=True)
    try:
        with pytest.raises(PowerUsageError, match="discovery"):
            ModuleGroupManager(bus, reg060.Reg060Protocol(reg060.WINLINE), [], discovery_group=0)
    finally:
        bus.shutdown()

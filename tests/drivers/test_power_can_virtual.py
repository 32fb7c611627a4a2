"""The CAN power-module path on two python-can `virtual` Bus instances: our module driver
(drivers.power.group.ModuleGroupManager with the vendor codec) on one, the vendor's rack
simulator (drivers.sim.module_rack) on the other, one named virtual channel between them,
as a socketcan vcan pair would be. No SimWorld: only the two bus ends and the module
stages. Virtual time, stepped by hand (python-can's virtual bus keeps our timestamps)."""

from __future__ import annotations

import random
from collections.abc import Iterator

import can
import pytest

from drivers.power.group import OFFLINE_TIMEOUT_NS, ModuleGroupManager
from drivers.power.select import protocol_by_name
from drivers.sim.module_rack import ModuleRackSim, rack_sim_for
from drivers.sim.module_stage import ModuleStage
from evse.ports.power import GroupMeasurement, ModuleOffline, PowerEvent

MS = 1_000_000
S = 1_000_000_000
STEP_NS = 10 * MS


class TwoBuses:
    def __init__(self, vendor: str) -> None:
        channel = f"test-power-{vendor}"
        self.drv_bus = can.Bus(interface="virtual", channel=channel, preserve_timestamps=True)
        self.sim_bus = can.Bus(interface="virtual", channel=channel, preserve_timestamps=True)
        protocol = protocol_by_name(vendor).protocol
        self.stages = {0: ModuleStage(), 1: ModuleStage()}
        self.rack: ModuleRackSim = rack_sim_for(
            protocol, self.sim_bus, self.stages, random.Random(7), self.output_v)
        self.rack.drop_probability = 0.0
        self.group = ModuleGroupManager(self.drv_bus, protocol, list(self.stages))
        self.now = 0
        self.events: list[tuple[int, PowerEvent]] = []

    def output_v(self) -> float:
        """Open-circuit output: the modules' common voltage reference."""
        return max(s.voltage_ref_v for s in self.stages.values())

    def run(self, ns: int) -> None:
        end = self.now + ns
        while self.now < end:
            self.now += STEP_NS
            v = self.output_v()
            for stage in self.stages.values():
                stage.check_comm(self.now)
                stage.advance_reference(v, STEP_NS / S)
            self.rack.step(self.now)
            self.events += [(self.now, e) for e in self.group.poll(self.now)]

    def of(self, kind: type) -> list[tuple[int, PowerEvent]]:
        return [(t, e) for t, e in self.events if isinstance(e, kind)]

    def close(self) -> None:
        self.drv_bus.shutdown()
        self.sim_bus.shutdown()


@pytest.fixture(params=["infy", "winline"])
def buses(request: pytest.FixtureRequest) -> Iterator[TwoBuses]:
    b = TwoBuses(str(request.param))
    yield b
    b.close()


def test_the_driver_switches_on_and_regulates_the_simulated_modules(buses: TwoBuses) -> None:
    b = buses
    b.run(2 * S)  # capabilities learnt from the polls
    assert b.group.capabilities.max_voltage_v > 500
    b.group.enable(b.now)
    b.group.set_output(500.0, 20.0, b.now)
    b.run(5 * S)
    for stage in b.stages.values():
        assert stage.commanded_on
        assert stage.voltage_set_v == pytest.approx(500.0, abs=0.5)
        assert 0 < stage.current_set_a <= 20.0
    # The driver reads the output back over the bus: the modules' voltage, ramped to 500 V.
    meas = [e for _, e in b.of(GroupMeasurement)]
    assert meas and isinstance(meas[-1], GroupMeasurement)
    assert meas[-1].voltage_v == pytest.approx(500.0, abs=5.0)
    b.group.disable(b.now)
    b.run(1 * S)
    assert not any(s.commanded_on for s in b.stages.values())


def test_a_module_silent_on_the_bus_goes_offline_within_its_timeout(buses: TwoBuses) -> None:
    b = buses
    b.run(2 * S)
    b.rack.mute.add(1)  # module 1's replies are lost on the wire
    t_mute = b.now
    b.run(OFFLINE_TIMEOUT_NS + 3 * S)
    offline = b.of(ModuleOffline)
    assert [e.address for _, e in offline] == [1]  # type: ignore[attr-defined]
    took = offline[0][0] - t_mute
    assert OFFLINE_TIMEOUT_NS - 2 * S <= took <= OFFLINE_TIMEOUT_NS + 2 * S, took / S

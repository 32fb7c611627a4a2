"""Closed-loop rig: simulators + real drivers + the PowerPath core on one virtual clock.

Drivers and simulators share a python-can `virtual` channel; every tick steps the physics,
the simulated devices, the drivers (poll) and the core, then applies the core's commands.
Used by the session and fault tests and by bench/power_bench.py.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass, field

import can

from drivers.imd.iso165c import Iso165cImd
from drivers.imd.isocha425 import IsoCha425Imd
from drivers.meter.integrator import VoltageCurrentIntegrator
from drivers.meter.sim_meter import SimDcMeter
from drivers.modbus.link import pipe_pair
from drivers.power import reg060
from drivers.power.group import ModuleGroupManager
from drivers.power.infy import InfyProtocol
from drivers.power.protocol import ModuleProtocol
from drivers.sim.contactor import ContactorSim
from drivers.sim.imd import ImdPhysics, Iso165cSim, IsoCha425Sim
from drivers.sim.loads import Battery, EvInlet, Load
from drivers.sim.module_rack import InfyRackSim, ModuleRackSim, Reg060RackSim
from drivers.sim.module_stage import ModuleStage
from drivers.sim.plant import DcPlant
from evse.ports.board import ContactorFeedback
from evse.ports.imd import IsolationMonitor
from evse.ports.power import GroupMeasurement
from evse.power.controller import PowerPath, PowerPathConfig
from evse.power.types import (
    EmergencyStop,
    EvRequest,
    Phase,
    PowerCommand,
)
from evse.runtime.power_wiring import apply_power_command

TICK_NS = 10_000_000
_channels = itertools.count()


@dataclass
class Trace:
    """What the tests check afterwards: every response value next to the physics."""

    responses: list[tuple[int, float, float, float, float]] = field(default_factory=list)
    commands: list[tuple[int, PowerCommand]] = field(default_factory=list)


class Rig:
    def __init__(
        self,
        protocol: str = "infy",
        modules: int = 2,
        load: Load | None = None,
        imd: str = "iso165c",
        seed: int = 1,
        config: PowerPathConfig | None = None,
        plant_step_ns: int = 1_000_000,
        meter: str = "sim",
    ) -> None:
        rng = random.Random(seed)
        channel = f"power-rig-{next(_channels)}"
        self.buses = [can.Bus(interface="virtual", channel=channel, preserve_timestamps=True)
                      for _ in range(4)]
        drv_bus, sim_bus, imd_drv_bus, imd_sim_bus = self.buses
        self.stages = {a: ModuleStage() for a in range(modules)}
        self.contactor = ContactorSim()
        self.load = load if load is not None else EvInlet(Battery())
        self.plant = DcPlant(list(self.stages.values()), self.contactor, self.load,
                             max_step_ns=plant_step_ns)
        volts = lambda: self.plant.module_voltage_v  # noqa: E731
        self.rack: ModuleRackSim
        proto: ModuleProtocol
        if protocol == "infy":
            self.rack = InfyRackSim(sim_bus, self.stages, rng, volts)
            proto = InfyProtocol()
        else:
            table = reg060.VENDOR_TABLES[protocol]
            self.rack = Reg060RackSim(sim_bus, self.stages, rng, volts, table=table)
            proto = reg060.Reg060Protocol(table)
        self.group = ModuleGroupManager(drv_bus, proto, list(self.stages))
        self.imd_physics = ImdPhysics(lambda: self.plant.connector_voltage_v)
        self.imd: IsolationMonitor
        self.imd_sim: Iso165cSim | IsoCha425Sim
        if imd == "iso165c":
            self.imd_sim = Iso165cSim(imd_sim_bus, self.imd_physics)
            self.imd = Iso165cImd(imd_drv_bus)
        else:
            a, b = pipe_pair()
            self.imd_sim = IsoCha425Sim(b, self.imd_physics)
            self.imd = IsoCha425Imd(a)
        self.meter = SimDcMeter(
            lambda: (self.plant.connector_voltage_v, self.plant.connector_current_a),
            random.Random(seed + 1))
        #: fallback meter fed from the modules' own read-back (GroupMeasurement)
        self.integrator = VoltageCurrentIntegrator() if meter == "integrator" else None
        self.core = PowerPath(config or PowerPathConfig())
        self.now_ns = 0
        self._feedback = False
        self.trace = Trace()
        self.estop = False

    def close(self) -> None:
        for bus in self.buses:
            bus.shutdown()

    # --- one tick -------------------------------------------------------------------------

    def tick(self) -> None:
        self.now_ns += TICK_NS
        now = self.now_ns
        self.plant.step(now)
        self.rack.step(now)
        self.imd_sim.step(now)
        core = self.core
        for ev in self.group.poll(now):
            core.handle(ev, now)
            if self.integrator is not None and isinstance(ev, GroupMeasurement):
                self.integrator.feed(ev.voltage_v, ev.current_a, now)
        for iev in self.imd.poll(now):
            core.handle(iev, now)
        if self.contactor.feedback_closed != self._feedback:
            self._feedback = self.contactor.feedback_closed
            core.handle(ContactorFeedback(self._feedback, now), now)
        sim_reading = self.meter.read(now)  # keeps the sim meter's energy register running
        if self.integrator is None:
            core.handle(sim_reading, now)
        else:
            for reading in self.integrator.poll(now):
                core.handle(reading, now)
        core.handle_timer(now)
        self.apply(core.take_commands())

    def apply(self, commands: list[PowerCommand]) -> None:
        now = self.now_ns
        for cmd in commands:
            self.trace.commands.append((now, cmd))
            apply_power_command(cmd, now, group=self.group, imd=self.imd,
                                contactors=lambda closed: self.contactor.command(closed, now))

    def emergency_stop(self, detail: str = "e-stop pressed") -> None:
        self.core.handle(EmergencyStop(detail), self.now_ns)
        self.apply(self.core.take_commands())

    def modules_delivering_a(self) -> float:
        return sum(s.current_a for s in self.stages.values())

    def run_for(self, duration_ns: int) -> None:
        end = self.now_ns + duration_ns
        while self.now_ns < end:
            self.tick()

    def run_until(self, predicate: Callable[[], bool], timeout_ns: int) -> bool:
        end = self.now_ns + timeout_ns
        while self.now_ns < end:
            self.tick()
            if predicate():
                return True
        return False

    # --- a scripted EV ----------------------------------------------------------------------

    @property
    def ev(self) -> EvInlet:
        assert isinstance(self.load, EvInlet)
        return self.load

    def cable_check(self, ev_max_voltage_v: float = 500.0, timeout_ns: int = 40_000_000_000
                    ) -> bool:
        """CableCheckReq rounds until Finished (the EV's 40 s budget, timing.md §4)."""
        self.core.start_cable_check(ev_max_voltage_v, self.now_ns)
        return self.run_until(lambda: self.core.phase is not Phase.CABLE_CHECK, timeout_ns)

    def precharge(self, current_a: float = 2.0, timeout_ns: int = 7_000_000_000) -> int | None:
        """PreChargeReq every 100 ms to the battery voltage; returns the time it took."""
        start = self.now_ns
        target = self.ev.battery.ocv_v()
        while self.now_ns - start < timeout_ns:
            self.core.precharge(EvRequest(target, current_a), self.now_ns)
            self.run_for(100_000_000)
            if self.core.phase is not Phase.PRECHARGE:
                return None
            if self.core.status.precharge_reached:
                return self.now_ns - start
        return None

    def power_delivery_start(self) -> None:
        self.ev.close_ev_contactors(self.plant.connector_voltage_v)
        self.core.start_charging(self.now_ns)

    def charge(self, target_current_a: float, duration_ns: int, period_ns: int = 100_000_000,
               target_voltage_v: float | None = None) -> None:
        """CurrentDemandReq every `period_ns`; records reported vs physical V/I."""
        end = self.now_ns + duration_ns
        while self.now_ns < end and self.core.phase is Phase.CHARGING:
            v_target = target_voltage_v or self.ev.battery.ocv_v() + 40.0
            self.core.current_demand(EvRequest(v_target, target_current_a), self.now_ns)
            snap = self.core.snapshot  # the sample that clamp used: what the car is told
            if snap is not None:
                self.trace.responses.append((
                    self.now_ns, snap.voltage_v, snap.current_a,
                    self.plant.connector_voltage_v, self.plant.connector_current_a))
            self.run_for(period_ns)

    def full_session_to_charging(self, ev_max_voltage_v: float = 500.0) -> None:
        assert self.cable_check(ev_max_voltage_v), self.core.status
        assert self.core.phase is Phase.CABLE_CHECK_DONE, self.core.status
        assert self.precharge() is not None, self.core.status
        self.power_delivery_start()

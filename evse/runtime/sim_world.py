"""The simulated world around one DC charging point: what the station does not own.

One set of physics, shared by every driver that looks at it, so that what the car measures,
what the meter reads, what the IMD sees and what the modules regulate are the same numbers:

- the DC plant (drivers/sim/plant.py): module output node, the DC contactor, the cable and
  the EV inlet; the contactor model is the one the board's coil drives;
- power modules on a python-can `virtual` bus (InfyPower V1.13 rack simulator), an IMD on
  its own virtual bus (iso165C), a DC meter reading the connector node;
- the EV's traction battery: the EV simulator's own `Battery` (SOC, OCV, R_int) is the
  battery the plant charges, through `EvBatteryAdapter`;
- the board: the virtual EV's pilot resistor/diode and the safety MCU;
- the powerline: both modems on a shared simulated medium with an attenuation between them.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass

import can

from drivers.board.sim import SimBoard, SimBoardParams
from drivers.homeplug.sim import PowerlineMedium, SimStation
from drivers.imd.iso165c import Iso165cImd
from drivers.meter.sim_meter import SimDcMeter
from drivers.power.group import ModuleGroupManager
from drivers.power.infy import InfyProtocol
from drivers.sim.contactor import ContactorSim
from drivers.sim.imd import ImdPhysics, Iso165cSim
from drivers.sim.loads import Battery as PlantBattery, EvInlet
from drivers.sim.module_rack import InfyRackSim
from drivers.sim.module_stage import ModuleStage
from drivers.sim.plant import DcPlant
from evse.ev.battery import Battery as EvBattery

_channels = itertools.count()

#: Host MACs of the station's and the car's PLC interfaces (locally administered).
EVSE_MAC = bytes.fromhex("02a0b0000001")
EV_MAC = bytes.fromhex("02c0ffee0001")
#: Attenuation between the two modems on the charging cable (a good link; ISO 15118-3
#: cars match well below 30 dB, reference/timing.md §2 thresholds 10..80 dB).
CABLE_ATTENUATION_DB = 18.0


class EvBatteryAdapter(PlantBattery):
    """The plant's battery interface over the EV simulator's battery (one SOC for both)."""

    def __init__(self, ev_battery: EvBattery) -> None:
        super().__init__(soc=ev_battery.soc_pct / 100.0)
        self.ev = ev_battery
        self.internal_resistance_ohm = ev_battery.r_internal_ohm

    def ocv_v(self) -> float:
        return self.ev.ocv_v()

    def charge(self, current_a: float, dt_s: float) -> None:
        # The EV simulator integrates its SOC itself from the inlet current it measures (the
        # plant's connector current), as a car's BMS does; counting it here too would
        # charge the battery twice.
        self.soc = self.ev.soc_pct / 100.0


@dataclass
class WorldConfig:
    modules: int = 2
    seed: int = 1
    board: SimBoardParams | None = None
    cable_attenuation_db: float = CABLE_ATTENUATION_DB


class SimWorld:
    """Physics and simulated devices, stepped by the station's power tick."""

    def __init__(
        self, clock: Callable[[], int], rng: random.Random, ev_battery: EvBattery,
        config: WorldConfig | None = None,
    ) -> None:
        cfg = config or WorldConfig()
        self.clock = clock
        channel = f"station-power-{next(_channels)}"
        imd_channel = f"station-imd-{next(_channels)}"
        self._buses = [
            can.Bus(interface="virtual", channel=channel, preserve_timestamps=True),
            can.Bus(interface="virtual", channel=channel, preserve_timestamps=True),
            can.Bus(interface="virtual", channel=imd_channel, preserve_timestamps=True),
            can.Bus(interface="virtual", channel=imd_channel, preserve_timestamps=True),
        ]
        drv_bus, sim_bus, imd_drv_bus, imd_sim_bus = self._buses
        self.stages = {a: ModuleStage() for a in range(cfg.modules)}
        self.contactor = ContactorSim()
        self.ev_inlet = EvInlet(EvBatteryAdapter(ev_battery))
        self.plant = DcPlant(list(self.stages.values()), self.contactor, self.ev_inlet)
        self.rack = InfyRackSim(
            sim_bus, self.stages, random.Random(rng.random()), lambda: self.plant.module_voltage_v
        )
        self.imd_physics = ImdPhysics(lambda: self.plant.connector_voltage_v)
        self.imd_sim = Iso165cSim(imd_sim_bus, self.imd_physics)
        self.meter = SimDcMeter(
            lambda: (self.plant.connector_voltage_v, self.plant.connector_current_a),
            random.Random(rng.random()),
        )
        self.board = SimBoard(clock, rng, cfg.board, contactor=self.contactor)
        self.medium = PowerlineMedium(random.Random(rng.random()))
        self.evse_plc: SimStation = self.medium.attach(
            "evse", EVSE_MAC, b"\x00\xb0\x52" + EVSE_MAC[3:]
        )
        self.ev_plc: SimStation = self.medium.attach("ev", EV_MAC, b"\x00\xb0\x52" + EV_MAC[3:])
        self._attenuation_db = cfg.cable_attenuation_db
        self._cable_in_car = False
        # Drivers the station owns (real code over the simulated buses).
        self.group = ModuleGroupManager(drv_bus, InfyProtocol(), list(self.stages))
        self.imd = Iso165cImd(imd_drv_bus)

    def cable_connected(self, connected: bool) -> None:
        """The charging cable is in a car's inlet (or not): the car's modem shares the
        powerline with the station's only while it is. A car that leaves takes its modem's
        network key and its inlet capacitance with it, so the next car starts unkeyed and
        its cable check does not see the old car's voltage."""
        self._cable_in_car = connected
        if connected:
            self.medium.connect("evse", "ev", self._attenuation_db)
            return
        self.medium.disconnect("evse", "ev")
        ev = self.ev_plc
        ev.nmk = ev.nid = None
        ev.key_set_at_ns = None
        self.ev_inlet.open_ev_contactors()
        self.plant.connector_voltage_v = 0.0

    def step(self, now_ns: int) -> None:
        """Advance the physics and the simulated devices to `now_ns`."""
        self.plant.step(now_ns)
        if not self._cable_in_car and not self.contactor.closed:
            # A cable in no car: nothing behind its pins holds a charge (the cable's own
            # capacitance is negligible next to an inlet's).
            self.plant.connector_voltage_v = 0.0
        self.rack.step(now_ns)
        self.imd_sim.step(now_ns)

    def deliver(self, now_ns: int) -> None:
        """Frames the station's drivers just sent reach the simulated devices now (the
        physics first advanced to `now_ns`, so a setpoint takes effect from this instant)."""
        self.plant.step(now_ns)
        self.rack.step(now_ns)
        self.imd_sim.step(now_ns)

    def close(self) -> None:
        for bus in self._buses:
            bus.shutdown()

"""The simulated world around one DC charging point: what the station does not own.

One set of physics, shared by every driver that looks at it, so that what the car measures,
what the meter reads, what the IMD sees and what the modules regulate are the same numbers:

- the DC plant (drivers/sim/plant.py): module output node, the DC contactor, the cable and
  the EV inlet; the contactor model is the one the board's coil drives;
- power modules on a CAN bus (python-can `virtual` by default) with the simulator of the
  vendor `power:` names (Infy V1.13, or a PROTNO 0x060 vendor), an IMD (`imd:` iso165C on its
  own bus, or isoCHA425HV over Modbus RTU on an in-memory byte link), a DC meter (`meter:`)
  reading the connector node; which driver and simulator come from the registry
  (drivers/registry.py) row the station config names;
- the EV's traction battery: the EV simulator's own `Battery` (SOC, OCV, R_int) is the
  battery the plant charges, through `EvBatteryAdapter`;
- the board: the virtual EV's pilot resistor/diode and the safety MCU;
- the powerline: both modems on a shared simulated medium with an attenuation between them.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass, field

import can

from drivers.board.sim import SimBoard, SimBoardParams
from drivers.homeplug.sim import PowerlineMedium, SimStation
from drivers.imd.iso165c import Iso165cImd
from drivers.imd.isocha425 import IsoCha425Imd
from drivers.meter.modbus_sdm import ModbusSdmMeter, SdmMeterSim
from drivers.meter.sim_meter import Accuracy, SimDcMeter
from drivers.modbus.link import SerialLinkError, SerialPortLink, pipe_pair
from drivers.power.group import ModuleGroupManager
from drivers.power.select import protocol_by_name
from drivers.registry import PortKind, driver
from drivers.sim.contactor import ContactorSim, contactor_from_feedback_times
from drivers.sim.imd import ImdPhysics, Iso165cSim, IsoCha425Sim
from drivers.sim.loads import Battery as PlantBattery, EvInlet
from drivers.sim.module_rack import ModuleRackSim, rack_sim_for
from drivers.sim.module_stage import ModuleStage
from drivers.sim.plant import DcPlant
from evse.ev.battery import Battery as EvBattery
from evse.ports.imd import IsolationMonitor
from evse.ports.meter import DcMeter
from evse.runtime.clock import ms_to_ns
from evse.runtime.config import (
    DEFAULT_IMD_DRIVER,
    DEFAULT_METER_DRIVER,
    DEFAULT_POWER_DRIVER,
    DeviceOpenError,
    DriverSection,
    StationConfig,
)

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


def _default(kind: PortKind, name: str) -> DriverSection:
    return DriverSection(name, driver(kind, name).defaults())


@dataclass
class WorldConfig:
    """What the simulated world is built from: the station config's `board:`, `power:`,
    `imd:` and `meter:` sections (`world_config`), defaults = the embedded config."""

    seed: int = 1
    board: SimBoardParams | None = None
    #: coil-to-feedback times of the DC contactor (board.contactor_close_ms / _open_ms)
    contactor_close_ns: int = 30 * 1_000_000
    contactor_open_ns: int = 30 * 1_000_000
    cable_attenuation_db: float = CABLE_ATTENUATION_DB
    power: DriverSection = field(
        default_factory=lambda: _default(PortKind.POWER, DEFAULT_POWER_DRIVER))
    imd: DriverSection = field(
        default_factory=lambda: _default(PortKind.IMD, DEFAULT_IMD_DRIVER))
    meter: DriverSection = field(
        default_factory=lambda: _default(PortKind.METER, DEFAULT_METER_DRIVER))


def world_config(config: StationConfig) -> WorldConfig:
    """The simulated world a station config describes (every board/power/imd/meter key)."""
    b = config.board
    return WorldConfig(
        seed=config.seed,
        board=SimBoardParams(
            noise_v=b.noise_v,
            contactor_close_ns=ms_to_ns(b.contactor_close_ms),
            contactor_open_ns=ms_to_ns(b.contactor_open_ms),
            keepalive_timeout_ns=ms_to_ns(b.keepalive_timeout_ms),
        ),
        contactor_close_ns=ms_to_ns(b.contactor_close_ms),
        contactor_open_ns=ms_to_ns(b.contactor_open_ms),
        power=config.power, imd=config.imd, meter=config.meter,
    )


def open_can_bus(section: DriverSection, private_channel: str, what: str) -> can.BusABC:
    """A python-can bus as `interface`/`channel`/`bitrate` of a power or IMD section say; a
    null channel on the virtual interface is a private one (stations in one process do not
    share their buses). The bitrate is handed to python-can (backends with a bitrate
    setting use it; a socketcan netdev gets its bitrate from `ip link`)."""
    interface = section.text("interface")
    channel = section.text("channel") or private_channel
    bitrate = section.integer("bitrate")
    try:
        if interface == "virtual":
            return can.Bus(interface="virtual", channel=channel, preserve_timestamps=True,
                           bitrate=bitrate)
        return can.Bus(interface=interface, channel=channel, bitrate=bitrate)
    except (OSError, can.CanError) as exc:
        raise DeviceOpenError(f"{what}: cannot open {interface} channel {channel!r} "
                              f"({section.driver}): {exc}") from exc


class SimWorld:
    """Physics and simulated devices, stepped by the station's power tick."""

    def __init__(
        self, clock: Callable[[], int], rng: random.Random, ev_battery: EvBattery,
        config: WorldConfig | None = None,
    ) -> None:
        cfg = config or WorldConfig()
        self.clock = clock
        self.config = cfg
        channel = f"station-power-{next(_channels)}"
        imd_channel = f"station-imd-{next(_channels)}"
        # ------------------------------------------------------------ power modules
        power = cfg.power
        self._buses: list[can.BusABC] = [open_can_bus(power, channel, "power"),
                                         open_can_bus(power, channel, "power")]
        drv_bus, sim_bus = self._buses
        self.stages = {a: ModuleStage() for a in range(power.integer("modules"))}
        self.contactor: ContactorSim = contactor_from_feedback_times(
            cfg.contactor_close_ns, cfg.contactor_open_ns)
        self.ev_inlet = EvInlet(EvBatteryAdapter(ev_battery))
        self.plant = DcPlant(list(self.stages.values()), self.contactor, self.ev_inlet)
        protocol = protocol_by_name(
            power.driver, poll_period_ns=ms_to_ns(power.number("poll_period_ms"))).protocol
        self.rack: ModuleRackSim = rack_sim_for(
            protocol, sim_bus, self.stages, random.Random(rng.random()),
            lambda: self.plant.module_voltage_v)
        # ------------------------------------------------------------ IMD
        self.imd_physics = ImdPhysics(lambda: self.plant.connector_voltage_v)
        self.imd: IsolationMonitor
        self._serial: SerialPortLink | None = None
        self._meter_serial: SerialPortLink | None = None
        self.imd_sim: Iso165cSim | IsoCha425Sim
        if cfg.imd.driver == "isocha425":  # Modbus RTU on a byte link (in memory here)
            address = cfg.imd.integer("device_address")
            drv_link, sim_link = pipe_pair()
            device = cfg.imd.params.get("device")
            if isinstance(device, str):
                # The real IMD on its RS-485 tty: the driver talks to it, the simulator is
                # left on an unconnected link (it hears nothing, answers nothing).
                try:
                    self._serial = SerialPortLink(device, cfg.imd.integer("baud"))
                except SerialLinkError as exc:
                    raise DeviceOpenError(f"imd (isocha425): {exc}") from None
                drv_link = self._serial
            self.imd_sim = IsoCha425Sim(sim_link, self.imd_physics, device_address=address)
            self.imd = IsoCha425Imd(drv_link, device_address=address)
        else:  # iso165c: CAN
            imd_buses = [open_can_bus(cfg.imd, imd_channel, "imd"),
                         open_can_bus(cfg.imd, imd_channel, "imd")]
            self._buses += imd_buses
            self.imd_sim = Iso165cSim(imd_buses[1], self.imd_physics)
            self.imd = Iso165cImd(imd_buses[0])
        # ------------------------------------------------------------ meter
        m = cfg.meter
        self.meter: DcMeter
        self.meter_sim: SdmMeterSim | None = None
        def truth() -> tuple[float, float]:
            return self.plant.connector_voltage_v, self.plant.connector_current_a

        if m.driver == "modbus_sdm":  # Modbus RTU on a byte link (in memory here)
            address = m.integer("device_address")
            meter_link, meter_sim_link = pipe_pair()
            meter_device = m.text("device")
            if meter_device is not None:
                # The real meter on its RS-485 tty; the simulated one hears nothing.
                try:
                    self._meter_serial = SerialPortLink(meter_device, m.integer("baud"))
                except SerialLinkError as exc:
                    raise DeviceOpenError(f"meter (modbus_sdm): {exc}") from None
                meter_link = self._meter_serial
            self.meter_sim = SdmMeterSim(meter_sim_link, truth, device_address=address)
            self.meter = ModbusSdmMeter(
                meter_link, device_address=address,
                poll_period_ns=ms_to_ns(m.number("poll_period_ms")),
                response_timeout_ns=ms_to_ns(m.number("response_timeout_ms")),
                stale_after_ns=ms_to_ns(m.number("stale_after_ms")))
        else:
            self.meter = SimDcMeter(
                truth, random.Random(rng.random()),
                Accuracy(m.number("voltage_gain_error"), m.number("voltage_offset_v"),
                         m.number("current_gain_error"), m.number("current_offset_a")),
            )
        # ------------------------------------------------------------ board, powerline
        self.board = SimBoard(clock, rng, cfg.board, contactor=self.contactor)
        self.medium = PowerlineMedium(random.Random(rng.random()))
        self.evse_plc: SimStation = self.medium.attach(
            "evse", EVSE_MAC, b"\x00\xb0\x52" + EVSE_MAC[3:]
        )
        self.ev_plc: SimStation = self.medium.attach("ev", EV_MAC, b"\x00\xb0\x52" + EV_MAC[3:])
        self._attenuation_db = cfg.cable_attenuation_db
        self._cable_in_car = False
        # Drivers the station owns (real code over the simulated buses).
        self.group = ModuleGroupManager(drv_bus, protocol, list(self.stages))

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
        if self.meter_sim is not None:
            self.meter_sim.step(now_ns)

    def deliver(self, now_ns: int) -> None:
        """Frames the station's drivers just sent reach the simulated devices now (the
        physics first advanced to `now_ns`, so a setpoint takes effect from this instant)."""
        self.plant.step(now_ns)
        self.rack.step(now_ns)
        self.imd_sim.step(now_ns)

    def close(self) -> None:
        for bus in self._buses:
            bus.shutdown()
        if self._serial is not None:
            self._serial.close()
        if self._meter_serial is not None:
            self._meter_serial.close()
            self._serial = None

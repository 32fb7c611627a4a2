"""Drivers by name: the one table a station config is checked against and built from.

Modelled on python-can's interface table (`can.interfaces.BACKENDS`: a name maps to a
"module:Class" string that is imported only when chosen), one table per port kind. Each
entry declares the parameters its driver takes (name, type, unit, default, range, doc), so
a config is validated against the chosen driver before anything is built: an unknown
driver, an unknown or misspelled parameter, a parameter that this driver does not take, a
wrong type or a value out of range is a `DriverParamError` naming the key, which the
config loader reports as `file:line: message` (evse/runtime/config.py).

The simulator is one backend among them: `board: sim` and `meter: sim` are simulated
devices; a power-module or IMD entry names both its real driver (the codec a station runs
against the hardware) and the simulator that speaks the same frames, which the simulated
world (evse/runtime/sim_world.py) puts on the other end of the bus.

Adding a vendor is one entry here plus its codec (and simulator) in its own folder; see
docs/architecture.md "Change map".

This module imports nothing of the station: targets are strings (layering: drivers see only
evse.ports).
"""

from __future__ import annotations

import enum
import importlib
from collections.abc import Mapping
from dataclasses import dataclass


class PortKind(enum.Enum):
    """The ports a station config names a driver for (one config section each)."""

    BOARD = "board"
    POWER = "power"
    IMD = "imd"
    METER = "meter"
    PLC = "plc"
    CONTRACT = "contract"


class DriverParamError(ValueError):
    """A driver name or parameter a config gives is not what the registry declares.

    `key` is the offending key inside the section (None: the section itself), so the config
    loader can point at its line."""

    def __init__(self, key: str | None, message: str) -> None:
        super().__init__(message)
        self.key = key
        self.message = message


@dataclass(frozen=True, slots=True)
class Param:
    """One parameter a driver takes. `default` None with `nullable`: "absent" is meaningful
    (e.g. a private virtual CAN channel). Numbers are checked against `low`..`high`."""

    name: str
    type: type
    default: object
    unit: str = ""
    doc: str = ""
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()
    nullable: bool = False

    def check(self, value: object, where: str) -> object:
        """The value as the driver gets it (an int is a float where a float is wanted);
        DriverParamError when it is not of this parameter's type, range or choices."""
        if value is None:
            if self.nullable:
                return None
            raise DriverParamError(self.name, f"{where}.{self.name} must not be null")
        want = self.type
        if isinstance(value, bool) and want is not bool:
            raise DriverParamError(self.name, f"{where}.{self.name} must be {want.__name__}, "
                                              f"got {value!r}")
        if want is float and isinstance(value, int):
            value = float(value)
        if not isinstance(value, want):
            raise DriverParamError(self.name, f"{where}.{self.name} must be {want.__name__}"
                                              f"{' or null' if self.nullable else ''}, "
                                              f"got {value!r}")
        if self.choices and value not in self.choices:
            raise DriverParamError(self.name, f"{where}.{self.name} must be one of "
                                              f"{list(self.choices)}, got {value!r}")
        if isinstance(value, int | float) and (
                (self.low is not None and value < self.low)
                or (self.high is not None and value > self.high)):
            low = "" if self.low is None else f"{self.low:g}"
            high = "" if self.high is None else f"{self.high:g}"
            unit = f" {self.unit}" if self.unit else ""
            raise DriverParamError(self.name, f"{where}.{self.name} must be {low}..{high}"
                                              f"{unit}, got {value!r}")
        return value


@dataclass(frozen=True, slots=True)
class DriverInfo:
    """One registry row: what `kind: {driver: name}` in a config builds."""

    kind: PortKind
    name: str
    #: "module:attribute" of the driver (imported only when chosen, as python-can does);
    #: the 0x060 vendors share one class, their register table is picked by name
    #: (drivers/power/select.py)
    target: str
    doc: str
    params: tuple[Param, ...] = ()
    #: "module:attribute" of the simulator that speaks the same frames (None: none, or the
    #: driver is itself the simulator)
    simulator: str | None = None
    #: where the protocol comes from (reference shelf section)
    source: str = ""

    def param(self, name: str) -> Param | None:
        return next((p for p in self.params if p.name == name), None)

    def defaults(self) -> dict[str, object]:
        return {p.name: p.default for p in self.params}

    def load(self) -> object:
        return _resolve(self.target)

    def load_simulator(self) -> object:
        if self.simulator is None:
            raise DriverParamError(None, f"{self.kind.value} driver {self.name!r} has no "
                                         "simulator")
        return _resolve(self.simulator)

    def check(self, values: Mapping[str, object]) -> dict[str, object]:
        """Every parameter of this driver, the given ones checked, the rest defaulted."""
        where = self.kind.value
        out = self.defaults()
        for key, value in values.items():
            p = self.param(key)
            if p is None:
                takes = sorted(q.name for q in self.params)
                others = sorted(d.name for d in REGISTRY[self.kind].values()
                                if d.param(key) is not None)
                if not others:
                    raise DriverParamError(key, f"unknown key {where}.{key} ({where} driver "
                                                f"{self.name!r} takes: {takes})")
                raise DriverParamError(key, f"{where} driver {self.name!r} does not take "
                                            f"{where}.{key} (it takes: {takes}); "
                                            f"{', '.join(others)} take it")
            out[key] = p.check(value, where)
        return out


def _resolve(target: str) -> object:
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


# ---------------------------------------------------------------------------- parameters

def _can_params(bitrate: int, bitrate_doc: str) -> tuple[Param, ...]:
    return (
        Param("interface", str, "virtual", doc="python-can interface: virtual (in-process "
              "bus, the simulated world) or socketcan (Linux can0/vcan0)",
              choices=("virtual", "socketcan")),
        Param("channel", str, None, nullable=True,
              doc="python-can channel (can0, vcan0, a virtual bus name); null: a private "
                  "virtual channel per station (only with interface virtual)"),
        Param("bitrate", int, bitrate, unit="bit/s", low=10_000, high=1_000_000,
              doc=bitrate_doc),
    )


_MODULE_PARAMS = (
    Param("modules", int, 2, unit="modules", low=1, high=62,
          doc="power modules in the rack, at CAN addresses 0..modules-1 (Infy addresses "
              "0..0x3E, hardware.md §1.2)"),
)


def _poll(default_ms: float, doc: str) -> Param:
    return Param("poll_period_ms", float, default_ms, unit="ms", low=50, high=5_000,
                 doc=f"how often every module is polled (the polls are the heartbeat); {doc}")


_BOARD_SIM_PARAMS = (
    Param("noise_v", float, 0.3, unit="V", low=0.0, high=2.0,
          doc="CP measurement noise, uniform +/- (hardware.md §6.2)"),
    Param("contactor_close_ms", float, 30.0, unit="ms", low=10.0, high=1_000.0,
          doc="coil on to feedback closed (20-50 ms, hardware.md §6.2); the main contacts "
              "close 10 ms before the feedback"),
    Param("contactor_open_ms", float, 30.0, unit="ms", low=10.0, high=1_000.0,
          doc="coil off to feedback open; the main contacts open 10 ms before the feedback"),
    Param("keepalive_timeout_ms", float, 3_000.0, unit="ms", low=100.0, high=60_000.0,
          doc="the MCU opens the contactors when the Linux keep-alive is silent this long"),
)

#: `board: {driver: mcu_uart}`: the safety MCU on a UART (drivers/board/mcu.py; protocol
#: drivers/board/mcu_protocol.py, docs/mcu_protocol.md). Defaults are the protocol's timing
#: parameters (ACK_TIMEOUT 50 ms, MAX_RESENDS 3, LINK_TIMEOUT 200 ms, HANDSHAKE_TIMEOUT
#: 1000 ms, MCU_WATCHDOG_TIMEOUT 3000 ms); the keep-alive itself is the pilot's 1 Hz
#: (KEEPALIVE_PERIOD, evse/cp/pilot.py), not a board parameter.
_BOARD_MCU_PARAMS = (
    Param("device", str, None, nullable=True,
          doc="UART device of the safety MCU (CM4: /dev/ttyAMA0 = UART0 on GPIO14/15, or "
              "/dev/serial0); required"),
    Param("baud", int, 115_200, unit="bit/s", low=9_600, high=4_000_000,
          doc="line speed, 8N1 (protocol DEFAULT_BAUD 115200, hardware.md §4.5)"),
    Param("ack_timeout_ms", float, 50.0, unit="ms", low=5.0, high=1_000.0,
          doc="resend an unacknowledged command after this (ACK_TIMEOUT)"),
    Param("max_resends", int, 3, low=0, high=20,
          doc="resends before the link counts as lost (MAX_RESENDS)"),
    Param("link_timeout_ms", float, 200.0, unit="ms", low=40.0, high=2_000.0,
          doc="no valid frame from the MCU for this long = link lost, the pilot goes to F "
              "(LINK_TIMEOUT; must stay well inside the MCU watchdog)"),
    Param("handshake_timeout_ms", float, 1_000.0, unit="ms", low=50.0, high=30_000.0,
          doc="at start the MCU must answer HELLO within this, else `evse run` exits 2 "
              "naming the device (HANDSHAKE_TIMEOUT)"),
    Param("max_watchdog_timeout_ms", float, 3_000.0, unit="ms", low=100.0, high=10_000.0,
          doc="the longest MCU watchdog accepted: an MCU whose VERSION reports a longer "
              "watchdog_timeout_ms (contactors stay closed that long after Linux hangs) is "
              "refused at start (exit 2); MCU_WATCHDOG_TIMEOUT 3000 ms"),
)

_METER_SIM_PARAMS = (
    Param("voltage_gain_error", float, 0.005, unit="1", low=0.0, high=0.1,
          doc="gain error of the voltage reading (fraction of the true value)"),
    Param("voltage_offset_v", float, 0.5, unit="V", low=0.0, high=20.0,
          doc="offset error of the voltage reading"),
    Param("current_gain_error", float, 0.005, unit="1", low=0.0, high=0.1,
          doc="gain error of the current reading"),
    Param("current_offset_a", float, 0.2, unit="A", low=0.0, high=10.0,
          doc="offset error of the current reading"),
)

#: `meter: {driver: modbus_sdm}`: a DC meter on Modbus RTU with the Eastron SDM input-register
#: layout (drivers/meter/modbus_sdm.py; hardware.md lists no DC meter).
_METER_SDM_PARAMS = (
    Param("device", str, None, nullable=True,
          doc="RS-485 tty of the meter (CM4: a UART or USB RS-485 adapter, e.g. /dev/ttyAMA4 "
              "or /dev/ttyUSB1); null: an in-memory link to the simulated meter (the "
              "simulated world)"),
    Param("baud", int, 9_600, unit="bit/s", low=9_600, high=115_200,
          doc="line speed, 8E1 (Eastron default 9600); one of 9600, 19200, "
                "38400, 57600, 115200"),
    Param("device_address", int, 1, low=1, high=247,
          doc="Modbus address of the meter (Eastron default 1)"),
    Param("poll_period_ms", float, 100.0, unit="ms", low=20.0, high=5_000.0,
          doc="one reading (two READ INPUT REGISTERS requests) per period [assumed 10 Hz]"),
    Param("response_timeout_ms", float, 200.0, unit="ms", low=10.0, high=2_000.0,
          doc="a request without a complete reply this long is a MeterTimeout"),
    Param("stale_after_ms", float, 1_000.0, unit="ms", low=50.0, high=60_000.0,
          doc="no valid reading this long = the meter is stale (driver signal); the power "
              "path stops the charge on its own power.meter_stale_ms"),
)

_PLC_PARAMS = (
    Param("iface", str, None, nullable=True, doc="network interface of the modem (qcaspi "
          "netdev on a CM4, e.g. eth1); --iface overrides it"),
    Param("local_modem_mac", str, "00:b0:52:00:00:01",
          doc="MAC of the station's own modem (CM_SET_KEY.REQ goes there)"),
)

_POWER_DOC_125K = "module bus bitrate; 125 kbit/s (hardware.md §1.1 table)"


def _entries() -> tuple[DriverInfo, ...]:
    k = PortKind
    return (
        # --------------------------------------------------------------- board
        DriverInfo(k.BOARD, "sim", "drivers.board.sim:SimBoard",
                   "simulated board: a virtual EV on the pilot, the safety MCU interlock "
                   "and the contactor coil of the simulated DC plant",
                   _BOARD_SIM_PARAMS, source="hardware.md §4.6, §6.2"),
        DriverInfo(k.BOARD, "mcu_uart", "drivers.board.mcu:McuBoard",
                   "the safety MCU on a UART (COBS + CRC16 frames, CBOR payloads; CP PWM and "
                   "sampling, PP, contactors, e-stop, hardware watchdog on the MCU)",
                   _BOARD_MCU_PARAMS, simulator="drivers.board.mcu_sim:PtyMcu",
                   source="hardware.md §4.5; docs/mcu_protocol.md"),
        # --------------------------------------------------------------- power modules
        DriverInfo(k.POWER, "infy", "drivers.power.infy:InfyProtocol",
                   "InfyPower REG/CEG/LRG modules, CAN protocol V1.13 (29-bit)",
                   _MODULE_PARAMS + _can_params(125_000, _POWER_DOC_125K)
                   + (_poll(1_000.0, "Infy: 1 s"),),
                   simulator="drivers.sim.module_rack:InfyRackSim",
                   source="hardware.md §1.2"),
        DriverInfo(k.POWER, "winline", "drivers.power.reg060:Reg060Protocol",
                   "Winline modules, protocol V1.50 (PROTNO 0x060 register protocol)",
                   _MODULE_PARAMS + _can_params(125_000, _POWER_DOC_125K)
                   + (_poll(250.0, "0x060: 250 ms"),),
                   simulator="drivers.sim.module_rack:Reg060RackSim",
                   source="hardware.md §1.3"),
        DriverInfo(k.POWER, "dpm1000", "drivers.power.reg060:Reg060Protocol",
                   "DPM1000-family modules on the PROTNO 0x060 register protocol",
                   _MODULE_PARAMS + _can_params(
                       125_000, "module bus bitrate; 125 kbit/s assumed (hardware.md §1.1: "
                                "not in the source code) [unverified]")
                   + (_poll(250.0, "0x060: 250 ms"),),
                   simulator="drivers.sim.module_rack:Reg060RackSim",
                   source="hardware.md §1.3"),
        # --------------------------------------------------------------- IMD
        DriverInfo(k.IMD, "iso165c", "drivers.imd.iso165c:Iso165cImd",
                   "Bender iso165C on CAN (11-bit IDs, IMD_Info every second)",
                   _can_params(500_000, "IMD bus bitrate; datasheet 250 kbit/s, users report "
                                        "500 kbit/s (hardware.md §2) [check per unit]"),
                   simulator="drivers.sim.imd:Iso165cSim", source="hardware.md §2.3"),
        DriverInfo(k.IMD, "isocha425", "drivers.imd.isocha425:IsoCha425Imd",
                   "Bender isoCHA425HV on Modbus RTU (RS-485, 19200 8E1); in the simulated "
                   "world over an in-memory byte link",
                   (Param("device_address", int, 3, low=1, high=247,
                          doc="Modbus device address (factory 3, hardware.md §2.1)"),
                    Param("device", str, None, nullable=True,
                          doc="RS-485 tty of the IMD (CM4: a USB or UART RS-485 adapter, "
                              "e.g. /dev/ttyAMA3 or /dev/ttyUSB0); null: an in-memory link "
                              "to the simulated isoCHA425HV (the simulated world)"),
                    Param("baud", int, 19_200, unit="bit/s",
                          low=9_600, high=115_200,
                          doc="line speed, 8E1 (factory 19200, hardware.md §2.1); one of "
                              "9600, 19200, 38400, 57600, 115200")),
                   simulator="drivers.sim.imd:IsoCha425Sim", source="hardware.md §2.1"),
        # --------------------------------------------------------------- meter
        DriverInfo(k.METER, "sim", "drivers.meter.sim_meter:SimDcMeter",
                   "simulated DC meter at the connector, errors inside its accuracy band",
                   _METER_SIM_PARAMS, source="hardware.md §6.2"),
        DriverInfo(k.METER, "modbus_sdm", "drivers.meter.modbus_sdm:ModbusSdmMeter",
                   "DC energy meter on Modbus RTU (RS-485, 8E1), Eastron SDM input-register "
                   "layout (30001 V, 30007 A, 30073 import kWh; float32); in the simulated "
                   "world over an in-memory byte link",
                   _METER_SDM_PARAMS, simulator="drivers.meter.modbus_sdm:SdmMeterSim",
                   source="Eastron SDM630/SDM72D-M Modbus protocol (no DC meter in "
                          "hardware.md)"),
        # --------------------------------------------------------------- PLC / HomePlug
        DriverInfo(k.PLC, "none", "drivers.homeplug.port:HomePlugPort",
                   "no modem: the link is assumed up (evse run on an Ethernet bench)",
                   _PLC_PARAMS),
        DriverInfo(k.PLC, "raw", "drivers.homeplug.port:RawHomePlugSocket",
                   "the modem's Linux netdev on an AF_PACKET socket (EtherType 0x88E1)",
                   _PLC_PARAMS, simulator="drivers.homeplug.port:SimHomePlugPort"),
        # --------------------------------------------------------------- contract link
        # Chosen by the two-process roles' endpoint (`evse run --role ... --link`), not by a
        # config section: unix:PATH, tcp:HOST:PORT, serial:DEV[@BAUD].
        DriverInfo(k.CONTRACT, "in_process",
                   "evse.io.contract_link:ContractLinkAdapter",
                   "both ends in one process (evse sim, evse run without --role)"),
        DriverInfo(k.CONTRACT, "unix", "evse.io.contract_link:ContractLinkAdapter",
                   "a Unix stream socket between the PLC and controller processes"),
        DriverInfo(k.CONTRACT, "tcp", "evse.io.contract_link:ContractLinkAdapter",
                   "a TCP connection between the PLC and controller processes"),
        DriverInfo(k.CONTRACT, "serial", "evse.io.contract_link:ContractLinkAdapter",
                   "a UART between the PLC and controller boards"),
    )


REGISTRY: dict[PortKind, dict[str, DriverInfo]] = {kind: {} for kind in PortKind}
for _info in _entries():
    REGISTRY[_info.kind][_info.name] = _info


def driver(kind: PortKind, name: object) -> DriverInfo:
    """The registry row for `name`; DriverParamError(key="driver") listing the known ones."""
    table = REGISTRY[kind]
    info = table.get(name) if isinstance(name, str) else None
    if info is None:
        raise DriverParamError("driver", f"{kind.value}.driver: unknown {kind.value} driver "
                                         f"{name!r} (known: {sorted(table)})")
    return info


def known(kind: PortKind) -> tuple[str, ...]:
    return tuple(sorted(REGISTRY[kind]))

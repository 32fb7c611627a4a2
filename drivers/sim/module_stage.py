"""Output stage of one power module: a slew-limited CC/CV source with current and power
limits, its own comm timeout and alarm bits (hardware.md §6.2 "Power-module simulator")."""

from __future__ import annotations

from dataclasses import dataclass, field

from evse.ports.power import TRIPPING_ALARMS, ModuleAlarm

#: Voltage ramp ("walk-in"); vendor figures are 50-500 V/s (hardware.md §6.2 [unverified]).
SLEW_V_PER_S = 500.0
#: A 30 kW / 1000 V class module, the size Infy REG and Winline modules come in [assumed].
MAX_VOLTAGE_V = 1000.0
MIN_VOLTAGE_V = 150.0
MAX_CURRENT_A = 100.0
RATED_POWER_W = 30_000.0
#: Module switches its output off after this much controller silence (hardware.md §1.2).
COMM_TIMEOUT_NS = 10_000_000_000
#: Output discharge path while off [assumed; gives tau = 0.5 s on 2 mF].
DISCHARGE_RESISTANCE_OHM = 250.0
#: Output capacitance per module [assumed].
OUTPUT_CAPACITANCE_F = 1e-3


@dataclass(slots=True)
class ModuleParams:
    max_voltage_v: float = MAX_VOLTAGE_V
    min_voltage_v: float = MIN_VOLTAGE_V
    max_current_a: float = MAX_CURRENT_A
    rated_power_w: float = RATED_POWER_W
    slew_v_per_s: float = SLEW_V_PER_S
    comm_timeout_ns: int = COMM_TIMEOUT_NS
    discharge_resistance_ohm: float = DISCHARGE_RESISTANCE_OHM
    output_capacitance_f: float = OUTPUT_CAPACITANCE_F


@dataclass(slots=True)
class ModuleStage:
    params: ModuleParams = field(default_factory=ModuleParams)
    present: bool = True
    commanded_on: bool = False
    voltage_set_v: float = 0.0
    current_set_a: float = 0.0
    voltage_ref_v: float = 0.0
    current_a: float = 0.0
    power_limited: bool = False
    comm_timed_out: bool = False
    injected_alarms: set[ModuleAlarm] = field(default_factory=set)
    last_rx_ns: int | None = None
    #: Injected regulation fault: the stage drives this voltage whatever it is told.
    forced_voltage_v: float | None = None
    #: Injected regulation fault: the stage's current limit is this, whatever it is told
    #: (a current loop that lost its reference; fault campaigns: over-current).
    forced_current_a: float | None = None
    #: Injected fault: the output stays on whatever it is told (a stuck gate driver; fault
    #: campaigns: an error shutdown whose output-off is never confirmed).
    stuck_on: bool = False

    @property
    def alarms(self) -> frozenset[ModuleAlarm]:
        alarms = set(self.injected_alarms)
        if self.comm_timed_out:
            alarms.add(ModuleAlarm.COMM_INTERRUPT)
        return frozenset(alarms)

    @property
    def output_on(self) -> bool:
        if self.stuck_on and self.present:
            return True
        return (self.present and self.commanded_on and not self.comm_timed_out
                and not (self.injected_alarms & TRIPPING_ALARMS))

    def touch(self, now_ns: int) -> None:
        """A frame addressed to this module arrived: the comm watchdog restarts."""
        self.last_rx_ns = now_ns
        self.comm_timed_out = False

    def check_comm(self, now_ns: int) -> None:
        if self.last_rx_ns is None:
            self.last_rx_ns = now_ns
        if now_ns - self.last_rx_ns >= self.params.comm_timeout_ns:
            self.comm_timed_out = True

    def advance_reference(self, bus_voltage_v: float, dt_s: float) -> None:
        """Walk the internal reference toward the setpoint; off, it tracks the bus."""
        if not self.output_on:
            self.voltage_ref_v = bus_voltage_v
            return
        p = self.params
        target = self.reference_target_v()
        step = p.slew_v_per_s * dt_s
        delta = target - self.voltage_ref_v
        self.voltage_ref_v += max(-step, min(step, delta))

    def reference_target_v(self) -> float:
        """Where the reference walks to: the setpoint within the module's range, or an
        injected forced voltage."""
        if self.forced_voltage_v is not None:
            return self.forced_voltage_v
        p = self.params
        return min(max(self.voltage_set_v, p.min_voltage_v), p.max_voltage_v)

    def current_limit_a(self, bus_voltage_v: float) -> tuple[float, bool]:
        """min(I_set, I_rated, P_rated / V); the flag says power was the binding limit."""
        p = self.params
        power_limit_a = p.rated_power_w / max(bus_voltage_v, 1.0)
        if self.forced_current_a is not None:
            return self.forced_current_a, False
        other = min(self.current_set_a, p.max_current_a)
        return min(other, power_limit_a), power_limit_a < other

"""PowerPath: the PLC-side power control core (sans-IO).

The SECC calls the session methods (`start_cable_check`, `precharge`, `start_charging`,
`current_demand`, `stop`), the runtime feeds device events through `handle` and time through
`handle_timer`, and both read `status`. Commands for the modules, contactors and IMD are
collected and drained with `take_commands`. Nothing here waits on the controller: limits are
last-known values with an expiry (ccs2_dc_reference.md P0 items 1, 2, 5, 6; C9-C13; B4).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from evse.ports.board import BoardFault, ContactorFeedback, EStopChanged
from evse.ports.imd import ImdDeviceFault, IsolationMeasurement, SelfTestResult
from evse.ports.meter import MeterReading
from evse.ports.power import (
    TRIPPING_ALARMS,
    CapabilitiesChanged,
    GroupCapabilities,
    GroupMeasurement,
    ModuleAlarmCleared,
    ModuleAlarmRaised,
    ModuleFrameRejected,
    ModuleOffline,
    ModuleOnline,
    OutputOffConfirmed,
)
from evse.ports.temperature import TemperatureReading
from evse.power import cable_check as cc
from evse.power.current_loop import clamp_request, ramp
from evse.power.fault_table import ClearCondition, make_fault, row
from evse.power.faults import Clearing, EvseStatusCode, FaultReason, PowerFault, Severity
from evse.power.shutdown import (
    ERROR_CURRENT_OFF_BOUND_NS,
    ERROR_RAMP_DOWN_NS,
    INTERNAL_OVER_VOLTAGE_DURATION_NS,
    SAFE_OPEN_CURRENT_A,
    emergency_over_voltage_v,
)
from evse.power.types import (
    DisableModules,
    EmergencyStop,
    EnableModules,
    EvRequest,
    EvseLimits,
    EvseMaxima,
    ImdStart,
    ImdStop,
    IsolationLevel,
    MeasurementSnapshot,
    Phase,
    PowerCommand,
    PowerPathRemoteError,
    PowerPathUsageError,
    PowerStatus,
    Processing,
    SetContactors,
    SetModuleOutput,
    WeldingResult,
)
from evse.power.welding import WeldingCheck

#: Control tick while regulating: 100 Hz, the top of plc.power_setpoint's 20-100 Hz
#: (ccs2_dc_reference.md B4 item 11).
CONTROL_PERIOD_NS = 10_000_000
#: Precharge current limit (DIN 70121 / ISO 15118-2 precharge <= 2 A, hardware.md §6.2
#: [unverified there]).
PRECHARGE_MAX_CURRENT_A = 2.0
#: Precharge target reached within max(5 V, 2 %) [assumed regulation accuracy; EVs compare
#: the inlet voltage with their battery, interop_failures.md row 23].
PRECHARGE_TOLERANCE_FRACTION = 0.02
PRECHARGE_TOLERANCE_MIN_V = 5.0
#: The car gives up PreCharge after 7 s (V2G_EVCC_PreCharge_Timeout, timing.md §4/§5); the
#: bus itself should be precharged within 3 s (ccs2_dc_reference.md C10, P0 item 5).
PRECHARGE_TARGET_TIME_NS = 3_000_000_000
PRECHARGE_TIMEOUT_NS = 7_000_000_000
#: Software over-voltage threshold above the car's maximum [assumed: 2 % regulation margin].
INTERNAL_OVER_VOLTAGE_MARGIN = 0.02
#: Over-current: the measured current may exceed the commanded setpoint by
#: max(OVER_CURRENT_MARGIN_A, OVER_CURRENT_MARGIN_FRACTION * setpoint) [assumed: twice the
#: output current accuracy of IEC 61851-23:2014 101.2.1.2 as recalled, ±2.5 A below 50 A and
#: ±5 % above; not on the reference shelf], for OVER_CURRENT_DURATION_NS [assumed: the 400 ms
#: of EVerest internal_over_voltage_duration_ms, timing.md §7] before an error shutdown.
OVER_CURRENT_MARGIN_A = 5.0
OVER_CURRENT_MARGIN_FRACTION = 0.10
OVER_CURRENT_DURATION_NS = 400_000_000
#: Connector/cable temperature: derate linearly from TEMPERATURE_DERATE_C to zero current at
#: TEMPERATURE_TRIP_C, and stop at TEMPERATURE_TRIP_C [assumed: IEC 62196-3 allows a 50 K
#: contact temperature rise, 40 °C ambient + 50 K = 90 °C].
TEMPERATURE_DERATE_C = 80.0
TEMPERATURE_TRIP_C = 90.0
#: No MeterReading for this long while precharging/charging stops the charge: the car must
#: not be told a stale sample (P0 item 2) [assumed; below EVerest's 5 s
#: initial_meter_value_timeout_ms, timing.md §7].
METER_STALE_NS = 2_000_000_000

_ENERGISED = (Phase.CABLE_CHECK, Phase.PRECHARGE, Phase.CHARGING, Phase.CABLE_CHECK_DONE)


@dataclass(frozen=True, slots=True)
class PowerPathConfig:
    """Hardware rating of the station (fallback maxima when no controller limits exist)."""

    max_voltage_v: float = 1000.0
    max_current_a: float = 200.0
    max_power_w: float = 60_000.0
    cable_check: cc.CableCheckConfig = field(default_factory=cc.CableCheckConfig)
    precharge_max_current_a: float = PRECHARGE_MAX_CURRENT_A
    #: Some DC/DC stages deliver no current while the IMD injects its measuring signal
    #: (EVerest hack_pause_imd_during_precharge, interop_failures.md row 123). Off by default.
    pause_imd_during_precharge: bool = False
    #: Current rating of the charging cable (A); caps `maxima()` and trips `over_current`.
    #: None = the station rating (max_current_a) is the cable's.
    cable_rating_a: float | None = None
    over_current_margin_a: float = OVER_CURRENT_MARGIN_A
    over_current_margin_fraction: float = OVER_CURRENT_MARGIN_FRACTION
    over_current_duration_ns: int = OVER_CURRENT_DURATION_NS
    temperature_derate_c: float = TEMPERATURE_DERATE_C
    temperature_trip_c: float = TEMPERATURE_TRIP_C
    meter_stale_ns: int = METER_STALE_NS

    def __post_init__(self) -> None:
        if not self.temperature_derate_c < self.temperature_trip_c:
            raise PowerPathUsageError("temperature_derate_c must be below temperature_trip_c")
        if self.cable_rating_a is not None and not self.cable_rating_a > 0:
            raise PowerPathUsageError("cable_rating_a must be positive")
        if self.meter_stale_ns <= 0 or self.over_current_duration_ns <= 0:
            raise PowerPathUsageError("durations must be positive")


@dataclass(frozen=True, slots=True)
class ResetResult:
    """Answer to the operator's RESET_FAULT (ctrl.session_command)."""

    accepted: bool
    reason: str


def _check_request(request: EvRequest) -> None:
    for name, value in (("target voltage", request.target_voltage_v),
                        ("target current", request.target_current_a)):
        if not math.isfinite(value) or value < 0:
            raise PowerPathRemoteError(f"EV {name} {value!r} is not a usable value")


def _check_limits(limits: EvseLimits) -> None:
    for value in (limits.max_voltage_v, limits.max_current_a, limits.max_power_w):
        if not math.isfinite(value) or value < 0:
            raise PowerPathUsageError(f"EVSE limits {limits} contain an unusable value")


def precharge_tolerance_v(target_v: float) -> float:
    return max(PRECHARGE_TOLERANCE_MIN_V, PRECHARGE_TOLERANCE_FRACTION * target_v)


PowerInput = (
    MeterReading | GroupMeasurement | OutputOffConfirmed | CapabilitiesChanged | ModuleOffline
    | ModuleOnline | ModuleAlarmRaised | ModuleAlarmCleared | ModuleFrameRejected
    | IsolationMeasurement | SelfTestResult | ImdDeviceFault | ContactorFeedback | EStopChanged
    | BoardFault | EmergencyStop | EvseLimits | TemperatureReading
)

#: Stricter clearing wins when several faults are active (the one `fault` reports).
_CLEARING_RANK = {Clearing.SELF_CLEARING: 0, Clearing.LATCHED: 1, Clearing.PERMANENT: 2}
_SEVERITY_RANK = {Severity.ERROR: 0, Severity.EMERGENCY: 1}


class PowerPath:
    def __init__(self, config: PowerPathConfig = PowerPathConfig()) -> None:
        self.config = config
        self._commands: list[PowerCommand] = []
        self.phase = Phase.IDLE
        self._snapshot: MeasurementSnapshot | None = None
        self._module_voltage_v: float | None = None
        self._caps: GroupCapabilities | None = None
        self._limits: EvseLimits | None = None
        self._contactors_commanded = False
        self._feedback_closed = False
        self._modules_enabled = False
        self._sent_setpoint: tuple[float, float] | None = None
        self._isolation_ohm: float | None = None
        self._isolation_level = IsolationLevel.INVALID
        self._cable_check: cc.CableCheck | None = None
        self._ev_max_voltage_v: float | None = None
        self._request: EvRequest | None = None
        self._precharge_target_v: float | None = None
        self._precharge_since_ns: int | None = None
        self._current_cmd_a = 0.0
        self._loop_flags = (False, False, False)
        self._last_tick_ns: int | None = None
        self._shutdown_since_ns: int | None = None
        self._shutdown_from_a = 0.0
        self._shutdown_energised = False
        self._off_confirmed = False
        self._welding: WeldingCheck | None = None
        self._welding_reported = False
        #: Every fault raised and not yet cleared; `fault` reports the strictest.
        self._faults: dict[FaultReason, PowerFault] = {}
        #: A car is connected: from start_cable_check until end_session (unplug).
        self._car_present = False
        #: end_session arrived while the path was live: finish it when the shutdown is done.
        self._end_pending = False
        #: A weld was seen and no welding check has since found the contactors open.
        self._welded_unresolved = False
        self._estop_active = False
        self._offline_modules: set[int] = set()
        self._alarmed_modules: set[int] = set()
        self._temperatures: dict[str, float] = {}
        self._last_meter_ns: int | None = None
        self._over_current_since_ns: int | None = None
        self._meter_watch_from_ns = 0
        self._over_voltage_since_ns: int | None = None
        self._imd_running = False
        self.rejected_frames = 0

    # --- outputs ------------------------------------------------------------------------

    def take_commands(self) -> list[PowerCommand]:
        out, self._commands = self._commands, []
        return out

    @property
    def fault(self) -> PowerFault | None:
        """The strictest active fault (clearing class first, then shutdown kind; the
        earliest among equals)."""
        return self._fault

    @property
    def _fault(self) -> PowerFault | None:
        best: PowerFault | None = None
        for f in self._faults.values():
            if best is None or (_CLEARING_RANK[f.clearing], _SEVERITY_RANK[f.severity]) > (
                    _CLEARING_RANK[best.clearing], _SEVERITY_RANK[best.severity]):
                best = f
        return best

    @property
    def faults(self) -> tuple[PowerFault, ...]:
        """Every active fault, in the order raised."""
        return tuple(self._faults.values())

    @property
    def available(self) -> bool:
        """A new session may start: no active fault and the path idle (cable check allowed)."""
        welding = self._welding
        return (not self._faults and self.phase in (Phase.IDLE, Phase.STOPPED)
                and not self._contactors_commanded and not self._end_pending
                and not (welding is not None and welding.result is WeldingResult.CHECKING))

    @property
    def snapshot(self) -> MeasurementSnapshot | None:
        """The sample the last regulation step used; the SECC reports exactly this."""
        return self._snapshot

    def maxima(self, now_ns: int | None = None) -> EvseMaxima:
        c = self.config
        v, i, p = c.max_voltage_v, c.max_current_a, c.max_power_w
        caps = self._caps
        if caps is not None and caps.module_count > 0:
            v, i, p = min(v, caps.max_voltage_v), min(i, caps.max_current_a), min(
                p, caps.max_power_w)
        if c.cable_rating_a is not None:
            i = min(i, c.cable_rating_a)
        i = min(i, c.max_current_a * self._temperature_factor())
        lim = self._limits
        if lim is not None and (now_ns is None or lim.valid_until_ns is None
                                or now_ns < lim.valid_until_ns):
            v, i, p = min(v, lim.max_voltage_v), min(i, lim.max_current_a), min(
                p, lim.max_power_w)
        return EvseMaxima(v, i, p)

    @property
    def status(self) -> PowerStatus:
        processing = (Processing.ONGOING if self.phase is Phase.CABLE_CHECK
                      else Processing.FINISHED)
        target = self._precharge_target_v
        snap = self._snapshot
        reached = (self.phase is Phase.PRECHARGE and target is not None and snap is not None
                   and abs(snap.voltage_v - target) <= precharge_tolerance_v(target))
        if self._fault is not None:
            code = self._fault.evse_status_code
        elif self.phase is Phase.CABLE_CHECK:
            code = EvseStatusCode.EVSE_ISOLATION_MONITORING_ACTIVE
        else:
            code = EvseStatusCode.EVSE_READY
        c_lim, v_lim, p_lim = self._loop_flags
        return PowerStatus(
            phase=self.phase,
            isolation_level=self._isolation_level,
            cable_check_processing=processing,
            precharge_reached=reached,
            present=snap,
            maxima=self.maxima(snap.timestamp_ns if snap else None),
            current_limit_achieved=c_lim,
            voltage_limit_achieved=v_lim,
            power_limit_achieved=p_lim,
            welding=self._welding.result if self._welding else WeldingResult.NOT_CHECKED,
            fault=self._fault,
            evse_status_code=code,
        )

    def next_deadline_ns(self) -> int | None:
        candidates = [
            self._cable_check.next_deadline_ns() if self._cable_check is not None else None,
            self._welding.next_deadline_ns() if self._welding is not None else None,
        ]
        if self._last_tick_ns is not None and self.phase in (
                Phase.PRECHARGE, Phase.CHARGING, Phase.STOPPING):
            candidates.append(self._last_tick_ns + CONTROL_PERIOD_NS)
        if self._limits is not None and self.phase in (Phase.PRECHARGE, Phase.CHARGING):
            candidates.append(self._limits.valid_until_ns)  # expiry stops the charge (P0 6)
        candidates.append(self._meter_stale_due_ns())
        present = [c for c in candidates if c is not None]
        return min(present) if present else None

    # --- session API (SECC) -------------------------------------------------------------

    def start_cable_check(self, ev_max_voltage_v: float, now_ns: int) -> None:
        """CableCheckReq #1 (C9). Later CableCheckReqs just read `status`."""
        if not self.available:
            raise PowerPathUsageError(f"cable check not allowed in {self.phase.value}")
        self._reset_session()
        self._car_present = True
        self._end_pending = False
        self._ev_max_voltage_v = ev_max_voltage_v
        self.phase = Phase.CABLE_CHECK
        self._cable_check = cc.CableCheck(ev_max_voltage_v, self.maxima(now_ns).voltage_v,
                                          self._emit, now_ns, self.config.cable_check)
        self._advance_cable_check(now_ns)

    def precharge(self, request: EvRequest, now_ns: int) -> None:
        """Every PreChargeReq (C10): ramp to the car's voltage with at most 2 A."""
        if self.phase not in (Phase.CABLE_CHECK_DONE, Phase.PRECHARGE):
            raise PowerPathUsageError(f"precharge not allowed in {self.phase.value}")
        _check_request(request)
        if self.phase is Phase.CABLE_CHECK_DONE:
            self.phase = Phase.PRECHARGE
            self._precharge_since_ns = now_ns
            self._meter_watch_from_ns = now_ns
            self._last_tick_ns = now_ns
            if self.config.pause_imd_during_precharge:
                self._stop_imd()
        target_v = min(request.target_voltage_v, self.maxima(now_ns).voltage_v)
        self._precharge_target_v = target_v
        current_a = min(max(request.target_current_a, 0.0), self.config.precharge_max_current_a)
        self._set_output(target_v, current_a)
        if not self._modules_enabled:
            self._emit(EnableModules())
            self._modules_enabled = True

    def start_charging(self, now_ns: int) -> None:
        """PowerDeliveryReq(Start) (C11): the contactors are closed since the cable check."""
        if self.phase is not Phase.PRECHARGE:
            raise PowerPathUsageError(f"power delivery not allowed in {self.phase.value}")
        self.phase = Phase.CHARGING
        self._current_cmd_a = 0.0
        self._last_tick_ns = now_ns
        if not self._imd_running:
            self._emit(ImdStart())  # isolation is monitored for the whole energy transfer

    def current_demand(self, request: EvRequest, now_ns: int) -> MeasurementSnapshot | None:
        """Every CurrentDemandReq (C12); returns the snapshot to report in the response."""
        if self.phase is not Phase.CHARGING:
            raise PowerPathUsageError(f"current demand not allowed in {self.phase.value}")
        _check_request(request)
        self._request = request
        self._regulate(now_ns)
        return self._snapshot

    def stop(self, now_ns: int) -> None:
        """PowerDeliveryReq(Stop) or session end: ramp down, off, open, then welding check."""
        if self.phase in (Phase.STOPPING, Phase.STOPPED, Phase.FAULTED, Phase.IDLE):
            return
        self._begin_shutdown(now_ns)

    def end_session(self, now_ns: int) -> None:
        """The car was unplugged (CP A). Never raises because of a fault state.

        Still live (energised, or contactors not reported open): starts the shutdown and
        finishes the end of session when it is done. Then self-clearing faults whose
        `clear_when` holds clear and the path is available again; latched and permanent
        faults stay (fault_table.yaml)."""
        self._car_present = False
        if self.phase in _ENERGISED:
            self._begin_shutdown(now_ns)
        self._end_pending = True
        self._progress(now_ns)

    def reset_fault(self, now_ns: int) -> ResetResult:
        """The operator's RESET_FAULT (ctrl.session_command). All or nothing: every latched
        fault is cleared if each one's `clear_when` holds and the path is dead; refused with
        a reason otherwise. Self-clearing faults are left to their own rule (unplug)."""
        if not self._faults:
            return ResetResult(False, "no active fault")
        for f in self._faults.values():
            if f.clearing is Clearing.PERMANENT:
                return ResetResult(False, f"{f.reason.value}: service required")
        if self._live():
            return ResetResult(False, "power path still live (contactors not reported open)")
        latched = [f for f in self._faults.values() if f.clearing is Clearing.LATCHED]
        if not latched:
            f = next(iter(self._faults.values()))
            return ResetResult(False, f"{f.reason.value} clears by itself when "
                                      f"{row(f.reason).clear_when.value} (and unplugged)")
        for f in latched:
            cond = row(f.reason).clear_when
            if not self._condition(cond):
                return ResetResult(False, f"{f.reason.value}: cause still present "
                                          f"({cond.value} does not hold)")
        for f in latched:
            del self._faults[f.reason]
        self._clear_self_clearing()
        self._settle_idle()
        cleared = ", ".join(f.reason.value for f in latched)
        return ResetResult(True, f"cleared {cleared}")

    def emergency_stop(self, detail: str, now_ns: int) -> None:
        """Controller STOP_EMERGENCY: modules off and contactors open in this call
        (EVSE_EmergencyShutdown; fault row controller_emergency_stop)."""
        self._raise(FaultReason.CONTROLLER_EMERGENCY_STOP, detail, now_ns)
        self._progress(now_ns)

    # --- events -------------------------------------------------------------------------

    def handle(self, event: PowerInput, now_ns: int) -> None:
        if isinstance(event, MeterReading):
            self._on_meter(event, now_ns)
        elif isinstance(event, GroupMeasurement):
            self._module_voltage_v = event.voltage_v
        elif isinstance(event, OutputOffConfirmed):
            self._off_confirmed = True
        elif isinstance(event, CapabilitiesChanged):
            self._caps = event.capabilities
            if event.capabilities.module_count == 0 and self.phase in _ENERGISED:
                self._raise(FaultReason.NO_MODULES, "no usable module", now_ns)
        elif isinstance(event, ModuleOffline):
            self._offline_modules.add(event.address)
            if self.phase in _ENERGISED:
                self._raise(FaultReason.MODULE_COMM_LOST, f"module {event.address} silent", now_ns)
        elif isinstance(event, ModuleAlarmRaised):
            tripping = event.alarms & TRIPPING_ALARMS
            if tripping:
                self._alarmed_modules.add(event.address)
            else:
                self._alarmed_modules.discard(event.address)
            if tripping and self.phase in _ENERGISED:
                names = ", ".join(sorted(a.value for a in tripping))
                self._raise(FaultReason.MODULE_ALARM, f"module {event.address}: {names}", now_ns)
        elif isinstance(event, ModuleFrameRejected):
            self.rejected_frames += 1
        elif isinstance(event, ModuleOnline):
            self._offline_modules.discard(event.address)
        elif isinstance(event, ModuleAlarmCleared):
            self._alarmed_modules.discard(event.address)
        elif isinstance(event, TemperatureReading):
            self._on_temperature(event, now_ns)
        elif isinstance(event, (IsolationMeasurement, SelfTestResult, ImdDeviceFault)):
            self._on_imd(event, now_ns)
        elif isinstance(event, ContactorFeedback):
            self._on_feedback(event.closed, now_ns)
        elif isinstance(event, EmergencyStop):
            self._raise(FaultReason.CONTROLLER_EMERGENCY_STOP, event.detail, now_ns)
        elif isinstance(event, EStopChanged):
            self._estop_active = event.active
            if event.active:  # releasing the button only allows the operator's reset
                self._raise(FaultReason.EMERGENCY_STOP, "e-stop input", now_ns)
        elif isinstance(event, BoardFault):
            if self.phase in _ENERGISED:
                self._raise(FaultReason.BOARD_FAULT, event.kind.value,
                            now_ns)
        else:
            _check_limits(event)
            self._limits = event
        self._progress(now_ns)

    def handle_timer(self, now_ns: int) -> None:
        due = self._meter_stale_due_ns()
        if due is not None and now_ns >= due:
            self._raise(FaultReason.METER_STALE,
                        f"no meter reading for {self.config.meter_stale_ns / 1e6:.0f} ms",
                        now_ns)
        lim = self._limits
        if (lim is not None and lim.valid_until_ns is not None and now_ns >= lim.valid_until_ns
                and self.phase in (Phase.PRECHARGE, Phase.CHARGING)):
            self._raise(FaultReason.LIMITS_EXPIRED, "controller limits not refreshed", now_ns)
        self._progress(now_ns)

    # --- internals ----------------------------------------------------------------------

    def _emit(self, command: PowerCommand) -> None:
        if isinstance(command, SetModuleOutput):
            self._sent_setpoint = (command.voltage_v, command.current_a)
        elif isinstance(command, SetContactors):
            self._contactors_commanded = command.closed
        elif isinstance(command, EnableModules):
            self._modules_enabled = True
        elif isinstance(command, DisableModules):
            self._modules_enabled = False
            self._sent_setpoint = None
        elif isinstance(command, ImdStart):
            self._imd_running = True
        elif isinstance(command, ImdStop):
            self._imd_running = False
        self._commands.append(command)

    def _set_output(self, voltage_v: float, current_a: float) -> None:
        if self._sent_setpoint is not None and current_a < self._sent_setpoint[1]:
            # The output follows a lower setpoint with a lag: over-current is timed from here.
            self._over_current_since_ns = None
        if self._sent_setpoint != (voltage_v, current_a):
            self._sent_setpoint = (voltage_v, current_a)
            self._commands.append(SetModuleOutput(voltage_v, current_a))

    def _meter_stale_due_ns(self) -> int | None:
        if self.phase not in (Phase.PRECHARGE, Phase.CHARGING):
            return None
        last = max(self._last_meter_ns or 0, self._meter_watch_from_ns)
        return last + self.config.meter_stale_ns

    def _live(self) -> bool:
        """The path may carry energy: energised or shutting down, or contactors not
        reported open."""
        return (self.phase in _ENERGISED or self.phase is Phase.STOPPING
                or self._contactors_commanded or self._feedback_closed)

    def _temperature_normal(self) -> bool:
        return all(c < self.config.temperature_derate_c for c in self._temperatures.values())

    def _temperature_factor(self) -> float:
        """1 below the derating threshold, falling linearly to 0 at the trip limit."""
        hottest = max(self._temperatures.values(), default=-math.inf)
        c = self.config
        if hottest <= c.temperature_derate_c:
            return 1.0
        return max(0.0, (c.temperature_trip_c - hottest)
                   / (c.temperature_trip_c - c.temperature_derate_c))

    def _condition(self, cond: ClearCondition) -> bool:
        """The machine check behind fault_table.yaml's `clear_when`."""
        checks: dict[ClearCondition, Callable[[], bool]] = {
            ClearCondition.UNPLUGGED: lambda: not self._car_present,
            ClearCondition.ESTOP_RELEASED: lambda: not self._estop_active,
            ClearCondition.TEMPERATURE_NORMAL: self._temperature_normal,
            ClearCondition.MODULES_ONLINE: lambda: not self._offline_modules and (
                self._caps is None or self._caps.module_count > 0),
            ClearCondition.ALARMS_CLEARED: lambda: not self._alarmed_modules,
            ClearCondition.CONTACTORS_OPEN: lambda: not (
                self._feedback_closed or self._contactors_commanded),
            ClearCondition.SERVICE: lambda: False,
        }
        return checks[cond]()

    def _clear_self_clearing(self) -> None:
        """Unplugged and dead: self-clearing faults whose condition holds clear."""
        if self._car_present or self._live():
            return
        for reason, f in list(self._faults.items()):
            if f.clearing is Clearing.SELF_CLEARING and self._condition(
                    row(reason).clear_when):
                del self._faults[reason]

    def _settle_idle(self) -> None:
        """After faults cleared: back to IDLE (if the car left) so the next car may start."""
        if self._faults or self._live():
            return
        if self.phase is Phase.FAULTED or (self.phase is Phase.STOPPED
                                           and not self._car_present):
            self._reset_session()
            self.phase = Phase.IDLE

    def _finish_end_session(self) -> None:
        """end_session, once the shutdown and the welding check are over."""
        welding = self._welding
        if self._live() or (welding is not None and welding.result is WeldingResult.CHECKING):
            return
        self._end_pending = False
        self._stop_imd()
        self._request = None
        self._precharge_target_v = None
        self._cable_check = None
        self._clear_self_clearing()
        if self._faults:
            self.phase = Phase.FAULTED
        else:
            self._reset_session()
            self.phase = Phase.IDLE

    def _on_temperature(self, reading: TemperatureReading, now_ns: int) -> None:
        self._temperatures[reading.sensor] = reading.celsius
        if reading.celsius >= self.config.temperature_trip_c and self.phase in _ENERGISED:
            self._raise(FaultReason.OVER_TEMPERATURE,
                        f"{reading.sensor} at {reading.celsius:.1f} °C", now_ns)

    def _check_over_current(self, current_a: float, now_ns: int) -> None:
        c = self.config
        if self.phase not in (Phase.PRECHARGE, Phase.CHARGING):
            self._over_current_since_ns = None
            return
        setpoint_a = self._sent_setpoint[1] if self._sent_setpoint else 0.0
        # Against the largest setpoint of the current control step: the ramp only rises.
        allowed_a = setpoint_a + max(c.over_current_margin_a,
                                     c.over_current_margin_fraction * setpoint_a)
        if c.cable_rating_a is not None:
            allowed_a = min(allowed_a, c.cable_rating_a)
        if abs(current_a) <= allowed_a:
            self._over_current_since_ns = None
            return
        if self._over_current_since_ns is None:
            self._over_current_since_ns = now_ns
        elif now_ns - self._over_current_since_ns >= c.over_current_duration_ns:
            self._raise(FaultReason.OVER_CURRENT,
                        f"{current_a:.1f} A against {allowed_a:.1f} A allowed for "
                        f"{c.over_current_duration_ns / 1e6:.0f} ms", now_ns)

    def _reset_session(self) -> None:
        self._cable_check = None
        self._over_current_since_ns = None
        self._welding = None
        self._welding_reported = False
        self._request = None
        self._precharge_target_v = None
        self._isolation_level = IsolationLevel.INVALID
        self._shutdown_since_ns = None
        self._over_voltage_since_ns = None

    def _on_meter(self, reading: MeterReading, now_ns: int) -> None:
        self._snapshot = MeasurementSnapshot(
            timestamp_ns=reading.timestamp_ns,
            voltage_v=reading.voltage_v,
            current_a=reading.current_a,
            isolation_resistance_ohm=self._isolation_ohm,
            isolation_level=self._isolation_level,
        )
        self._last_meter_ns = now_ns
        self._check_over_voltage(reading.voltage_v, now_ns)
        self._check_over_current(reading.current_a, now_ns)

    def _check_over_voltage(self, voltage_v: float, now_ns: int) -> None:
        ev_max = self._ev_max_voltage_v
        if ev_max is None or self.phase not in _ENERGISED:
            return
        if voltage_v >= emergency_over_voltage_v(ev_max):
            self._raise(FaultReason.EMERGENCY_OVER_VOLTAGE,
                        f"{voltage_v:.1f} V >= {emergency_over_voltage_v(ev_max):.0f} V "
                        "(IEC 61851-23 Table 103)", now_ns)
            return
        if self.phase not in (Phase.PRECHARGE, Phase.CHARGING):
            return  # the cable-check test voltage may exceed the car's maximum (CC.4.1.2)
        if voltage_v > ev_max * (1 + INTERNAL_OVER_VOLTAGE_MARGIN):
            if self._over_voltage_since_ns is None:
                self._over_voltage_since_ns = now_ns
            elif now_ns - self._over_voltage_since_ns >= INTERNAL_OVER_VOLTAGE_DURATION_NS:
                self._raise(FaultReason.OVER_VOLTAGE,
                            f"{voltage_v:.1f} V above the car's {ev_max:.0f} V for 400 ms",
                            now_ns)
        else:
            self._over_voltage_since_ns = None

    def _on_imd(self, event: IsolationMeasurement | SelfTestResult | ImdDeviceFault,
                now_ns: int) -> None:
        check = self._cable_check
        if self.phase is Phase.CABLE_CHECK and check is not None:
            check.on_imd(event, now_ns)
        if isinstance(event, IsolationMeasurement):
            self._isolation_ohm = event.resistance_f_ohm
            if self.phase in (Phase.PRECHARGE, Phase.CHARGING, Phase.CABLE_CHECK_DONE):
                level = cc.classify(event.resistance_f_ohm,
                                    event.voltage_v or (self._snapshot.voltage_v
                                                        if self._snapshot else 0.0),
                                    self.config.cable_check)
                self._isolation_level = level
                if level is IsolationLevel.FAULT:
                    self._raise(FaultReason.INSULATION_FAULT,
                                f"R_F {event.resistance_f_ohm / 1000:.1f} kOhm while energised",
                                now_ns)
        elif isinstance(event, ImdDeviceFault) and self.phase in (
                Phase.PRECHARGE, Phase.CHARGING):
            self._isolation_level = IsolationLevel.INVALID
            self._raise(FaultReason.IMD_DEVICE_FAULT, event.reason, now_ns)

    def _on_feedback(self, closed: bool, now_ns: int) -> None:
        was = self._feedback_closed
        self._feedback_closed = closed
        if (was and not closed and self._contactors_commanded
                and self.phase in (Phase.PRECHARGE, Phase.CHARGING)):
            self._raise(FaultReason.CONTACTOR_OPENED_UNEXPECTEDLY,
                        "feedback opened while commanded closed", now_ns)

    def _advance_cable_check(self, now_ns: int) -> None:
        check = self._cable_check
        if check is None or self.phase is not Phase.CABLE_CHECK:
            return
        snap = self._snapshot
        check.update(snap.voltage_v if snap else None, self._feedback_closed, now_ns)
        if check.step is cc.Step.DONE:
            self._isolation_level = check.level
            self.phase = Phase.CABLE_CHECK_DONE
        elif check.step is cc.Step.FAILED:
            self._isolation_level = check.level
            assert check.failure is not None
            reason, detail = check.failure
            self._raise(reason, detail, now_ns)

    def _regulate(self, now_ns: int) -> None:
        request, snap = self._request, self._snapshot
        if request is None or snap is None:
            return
        out = clamp_request(request, self.maxima(now_ns), snap.voltage_v)
        last = self._last_tick_ns if self._last_tick_ns is not None else now_ns
        self._current_cmd_a = ramp(self._current_cmd_a, out.current_a, max(0, now_ns - last))
        self._last_tick_ns = now_ns
        self._loop_flags = (out.current_limit_achieved, out.voltage_limit_achieved,
                            out.power_limit_achieved)
        self._set_output(out.voltage_v, self._current_cmd_a)
        if not self._modules_enabled:
            self._emit(EnableModules())

    def _progress(self, now_ns: int) -> None:
        if self.phase is Phase.CABLE_CHECK:
            self._advance_cable_check(now_ns)
        elif self.phase is Phase.PRECHARGE:
            self._last_tick_ns = now_ns
            since = self._precharge_since_ns
            if since is not None and now_ns - since >= PRECHARGE_TIMEOUT_NS:
                self._raise(FaultReason.PRECHARGE_TIMEOUT,
                            "target not reached within the car's 7 s", now_ns)
        elif self.phase is Phase.CHARGING and (
                self._last_tick_ns is None or now_ns >= self._last_tick_ns + CONTROL_PERIOD_NS):
            self._regulate(now_ns)
        if self.phase is Phase.STOPPING:
            self._advance_shutdown(now_ns)
        if self._welding is not None:
            snap = self._snapshot
            self._welding.update(self._feedback_closed, self._module_voltage_v,
                                 snap.voltage_v if snap else None, now_ns)
            result = self._welding.result
            if result is WeldingResult.OPEN and not self._welding_reported:
                self._welding_reported = True
                self._welded_unresolved = False  # a clean opening since the last weld
            elif result is WeldingResult.WELDED and not self._welding_reported:
                self._welding_reported = True
                reason = (FaultReason.CONTACTOR_WELDED_REPEATED if self._welded_unresolved
                          else FaultReason.CONTACTOR_WELDED)
                self._welded_unresolved = True
                self._add_fault(reason, self._welding.detail, now_ns)
                self.phase = Phase.FAULTED
                self._emit(DisableModules())
        if self._end_pending:
            self._finish_end_session()
        elif not self._car_present and self._faults:
            self._clear_self_clearing()  # a condition came true after the unplug
            self._settle_idle()

    def _add_fault(self, reason: FaultReason, detail: str, now_ns: int) -> PowerFault:
        """Record a fault from its table row; a reason already active keeps its first record."""
        if reason not in self._faults:
            self._faults[reason] = make_fault(reason, detail, now_ns)
        return self._faults[reason]

    def _raise(self, reason: FaultReason, detail: str, now_ns: int) -> None:
        """Record the fault and take the shutdown path its row names."""
        severity = self._add_fault(reason, detail, now_ns).severity
        if severity is Severity.EMERGENCY:
            self._emergency_open(now_ns)
        elif self.phase not in (Phase.STOPPING, Phase.FAULTED, Phase.STOPPED):
            self._begin_shutdown(now_ns)

    def _emergency_open(self, now_ns: int) -> None:
        """Open at once: modules off and contactors open in the same call."""
        self._emit(DisableModules())
        was_closed = self._contactors_commanded or self._feedback_closed
        self._emit(SetContactors(False))
        self.phase = Phase.FAULTED
        self._shutdown_since_ns = None
        if self._welding is None and was_closed:
            self._welding = WeldingCheck(now_ns)
        self._stop_imd()

    def _begin_shutdown(self, now_ns: int) -> None:
        self.phase = Phase.STOPPING
        self._shutdown_since_ns = now_ns
        self._shutdown_from_a = self._sent_setpoint[1] if self._sent_setpoint else 0.0
        self._off_confirmed = False
        self._last_tick_ns = now_ns
        # Modules never switched on in this session step: no current can flow, open at once.
        self._shutdown_energised = self._modules_enabled
        if not self._modules_enabled:
            self._shutdown_from_a = 0.0
        self._advance_shutdown(now_ns)

    def _advance_shutdown(self, now_ns: int) -> None:
        since = self._shutdown_since_ns
        if since is None:
            return
        self._last_tick_ns = now_ns
        elapsed = now_ns - since
        if self._modules_enabled:
            if elapsed >= ERROR_RAMP_DOWN_NS or self._shutdown_from_a <= 0.0:
                self._emit(DisableModules())
            else:
                voltage_v = self._sent_setpoint[0] if self._sent_setpoint else 0.0
                fraction = 1.0 - elapsed / ERROR_RAMP_DOWN_NS
                self._set_output(voltage_v, round(self._shutdown_from_a * fraction, 1))
                return
        if self._contactors_commanded:
            snap = self._snapshot
            current_low = snap is not None and snap.timestamp_ns >= since and abs(
                snap.current_a) < SAFE_OPEN_CURRENT_A
            if self._shutdown_energised and not (current_low or self._off_confirmed):
                if elapsed < ERROR_CURRENT_OFF_BOUND_NS:
                    return
                self._add_fault(FaultReason.OFF_NOT_CONFIRMED,
                                "current not confirmed below 5 A within 1 s", now_ns)
            self._emit(SetContactors(False))
        self._shutdown_since_ns = None
        self.phase = Phase.FAULTED if self._fault is not None else Phase.STOPPED
        if self._welding is None and self._feedback_closed:
            self._welding = WeldingCheck(now_ns)
        self._stop_imd()

    def _stop_imd(self) -> None:
        if self._imd_running:
            self._emit(ImdStop())

"""PowerPath: the PLC-side power control core (sans-IO), run by fsm_specs/power_path.yaml.

The SECC calls the session methods (`start_cable_check`, `precharge`, `start_charging`,
`current_demand`, `stop`), the runtime feeds device events through `handle` and time through
`handle_timer`, and both read `status`. Commands for the modules, contactors and IMD are
collected and drained with `take_commands`. Nothing here waits on the controller: limits are
last-known values with an expiry (ccs2_dc_reference.md P0 items 1, 2, 5, 6; C9-C13; B4).

Theory of operation
-------------------
The sequencing (cable-check steps, precharge, charging, error and emergency shutdown,
welding check, faulted, recovery) and every timer are the chart `power_path`; this module
holds its named callbacks (`PowerPathHandler`: guards over the latest measurement and
actions that emit commands) and the numeric work (regulation, clamps, derating, detection
thresholds). Inputs become chart events on an internal queue that is drained one event at
a time (an action posts, never dispatches); after the queue is empty the chart is offered
`update` until it settles, so guards over fresh values (below 60 V, feedback closed, current
off) move it within the same call. Faults come from fault_table.yaml rows (`make_fault`).
Timers: by default an internal queue fired by `handle_timer` / any input at or after its
deadline and reported by `next_deadline_ns`; a scheduler may be passed as `timers=`.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evse.contract.limits import DemandClamp, EvseLimits, LimitsSource
from evse.contract.values import IsolationStatus
from evse.fsm import Event, Machine, MachineSpec, TimerService, load_spec
from evse.fsm.engine import TraceSink
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
from evse.power.faults import Clearing, FaultReason, PowerFault, Severity
from evse.power.shutdown import (
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
    ImdSelfTest,
    ImdStart,
    ImdStop,
    MeasurementSnapshot,
    Phase,
    PowerCommand,
    PowerPathRemoteError,
    PowerPathUsageError,
    PowerRefused,
    PowerStatus,
    PowerWithdrawn,
    Processing,
    SetContactors,
    SetModuleOutput,
    WeldingResult,
)
from evse.power.welding import MODULE_VOLTAGE_FRESH_NS, WeldingCheck

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
#: No MeterReading for this long while energised stops the session: the car must not be
#: told a stale sample (P0 item 2), and the cable check's 60 V gates read the meter too
#: [assumed; below EVerest's 5 s initial_meter_value_timeout_ms, timing.md §7].
METER_STALE_NS = 2_000_000_000

#: Output collapse (a short across the pins while charging): the meter voltage below this
#: fraction of the precharge voltage for t_output_collapse (fsm_specs/power_path.yaml)
#: [assumed: a charging battery stays at or above its open-circuit voltage, above ~70 % of
#: its maximum over the SOC range; fault_table.yaml output_collapse].
OUTPUT_COLLAPSE_FRACTION = 0.5


@dataclass(frozen=True, slots=True)
class PowerPathConfig:
    """Hardware rating of the station (the limits in force when no envelope was fed)."""

    max_voltage_v: float = 1000.0
    max_current_a: float = 200.0
    max_power_w: float = 60_000.0
    cable_check: cc.CableCheckConfig = field(default_factory=cc.CableCheckConfig)
    precharge_max_current_a: float = PRECHARGE_MAX_CURRENT_A
    #: Some DC/DC stages deliver no current while the IMD injects its measuring signal
    #: (EVerest hack_pause_imd_during_precharge, interop_failures.md row 123). Off by default.
    pause_imd_during_precharge: bool = False
    #: Current rating of the charging cable (A); caps `limits()` and trips `over_current`.
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
    #: Refused only because every active fault clears by itself (its clear_when, with the
    #: unplug): nothing of the power path's to reset. A latch the pilot holds for a cause of
    #: its own (F for an external fault) may still be reset: in F the pilot cannot see the
    #: unplug these faults wait for (fault campaign cp_f@cpd).
    self_clearing_only: bool = False
    #: Refused only because the car was not seen to leave (every unmet clear_when is
    #: `unplugged`): in F the pilot drives -12 V and cannot see it, so the pilot's latch is
    #: reset first and the path's reset is asked again at the unplug that follows.
    unplug_pending: bool = False


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
    | BoardFault | EmergencyStop | PowerWithdrawn | PowerRefused | EvseLimits | TemperatureReading
)

#: The chart this module is the handler of.
SPEC_FILE = Path(__file__).resolve().parents[2] / "fsm_specs" / "power_path.yaml"
_SPEC: MachineSpec | None = None


def power_path_spec() -> MachineSpec:
    """fsm_specs/power_path.yaml, loaded and validated once per process."""
    global _SPEC
    if _SPEC is None:
        _SPEC = load_spec(SPEC_FILE)
    return _SPEC


#: Stricter clearing wins when several faults are active (the one `fault` reports).
_CLEARING_RANK = {Clearing.SELF_CLEARING: 0, Clearing.LATCHED: 1, Clearing.PERMANENT: 2}
_SEVERITY_RANK = {Severity.ERROR: 0, Severity.EMERGENCY: 1}
#: `update` passes after one input before the chart must have settled (a loop is a bug).
_MAX_SETTLE_PASSES = 32


class _TimerQueue:
    """Default TimerService: one-shot timers fired by PowerPath at or after their deadline."""

    def __init__(self) -> None:
        self._heap: list[tuple[int, int, Callable[[int], None]]] = []
        self._cancelled: set[int] = set()
        self._seq = itertools.count()
        self.now_ns = 0

    def start_timer(self, delay_ns: int, callback: Callable[[int], None], label: str) -> object:
        handle = next(self._seq)
        heapq.heappush(self._heap, (self.now_ns + delay_ns, handle, callback))
        return handle

    def cancel_timer(self, handle: object) -> None:
        assert isinstance(handle, int)
        self._cancelled.add(handle)

    def _drop_cancelled(self) -> None:
        while self._heap and self._heap[0][1] in self._cancelled:
            self._cancelled.discard(heapq.heappop(self._heap)[1])

    def next_deadline_ns(self) -> int | None:
        self._drop_cancelled()
        return self._heap[0][0] if self._heap else None

    def pop_due(self, now_ns: int) -> Callable[[int], None] | None:
        self._drop_cancelled()
        if self._heap and self._heap[0][0] <= now_ns:
            return heapq.heappop(self._heap)[2]
        return None


class _PumpingTimers:
    """An external TimerService (the scheduler): after a chart timer fires, drain what its
    actions posted."""

    def __init__(self, inner: TimerService, pump: Callable[[int], None]) -> None:
        self._inner = inner
        self._pump = pump

    def start_timer(self, delay_ns: int, callback: Callable[[int], None], label: str) -> object:
        def fire(now_ns: int) -> None:
            callback(now_ns)
            self._pump(now_ns)

        return self._inner.start_timer(delay_ns, fire, label)

    def cancel_timer(self, handle: object) -> None:
        self._inner.cancel_timer(handle)


class PowerPathHandler:
    """State and named callbacks of fsm_specs/power_path.yaml. Public methods are exactly
    the chart's actions and guards (tests/test_evse_cli.py checks the set)."""

    def __init__(self, config: PowerPathConfig) -> None:
        self.config = config
        self._commands: list[PowerCommand] = []
        self._queue: deque[Event] = deque()
        self._now_ns = 0
        self._snapshot: MeasurementSnapshot | None = None
        self._module_voltage_v: float | None = None
        self._module_voltage_ns: int | None = None
        self._caps: GroupCapabilities | None = None
        self._limits: EvseLimits | None = None
        self._contactors_commanded = False
        self._feedback_closed = False
        self._modules_enabled = False
        self._sent_setpoint: tuple[float, float] | None = None
        self._isolation_ohm: float | None = None
        self._isolation_level = IsolationStatus.INVALID
        self._ev_max_voltage_v: float | None = None
        self._test_voltage_v = 0.0
        self._cc_rated_voltage_v = config.max_voltage_v
        self._samples: list[IsolationMeasurement] = []
        #: Why the pilot ended this session's cable check (it refused the contactors).
        self._check_withdrawn: str | None = None
        self._request: EvRequest | None = None
        self._precharge_target_v: float | None = None
        self._current_cmd_a = 0.0
        #: The charge loop's last clamp (setpoint before the ramp, flags, limits used).
        self._demand: DemandClamp | None = None
        self._last_tick_ns: int | None = None
        self._ticking = False
        #: The current the last `regulate` ramped towards (None: no regulation yet).
        self._ramp_target_a: float | None = None
        self._delivering = False
        #: The meter watch runs (the path is energised: the cable check reads it too).
        self._meter_watched = False
        self._shutdown_since_ns = 0
        self._shutdown_from_a = 0.0
        self._shutdown_energised = False
        self._off_confirmed = False
        self._weld_check_due = False
        self._welding: WeldingCheck | None = None
        #: A start_cable_check that came during a welding check (defer_cable_check).
        self._deferred_check: Event | None = None
        self._welding_reported = False
        #: Every fault raised and not yet cleared; `fault` reports the strictest.
        self._faults: dict[FaultReason, PowerFault] = {}
        #: A car is connected: from start_cable_check until end_session (unplug).
        self._car_present = False
        #: A weld was seen and no welding check has since found the contactors open.
        self._welded_unresolved = False
        self._estop_active = False
        self._offline_modules: set[int] = set()
        self._alarmed_modules: set[int] = set()
        self._temperatures: dict[str, float] = {}
        self._last_meter_ns: int | None = None
        self._meter_watch_from_ns = 0
        self._over_current_since_ns: int | None = None
        self._over_voltage_since_ns: int | None = None
        #: The output has been above OUTPUT_COLLAPSE_FRACTION of the precharge target since
        #: the precharge began: a collapse is a fall from there, not a voltage never reached.
        self._output_up = False
        self._imd_running = False
        self.rejected_frames = 0
        #: Something `update`'s guards read may have changed since the chart last settled.
        self._dirty = True

    # ================================================================ guards (pure)
    def may_start(self, ev: Event) -> bool:
        return not self._faults and not self._contactors_commanded

    def below_safe_voltage(self, ev: Event) -> bool:
        snap = self._snapshot
        return snap is not None and snap.voltage_v < cc.SAFE_VOLTAGE_V

    def feedback_closed(self, ev: Event) -> bool:
        return self._feedback_closed

    def test_voltage_reached(self, ev: Event) -> bool:
        snap = self._snapshot
        tolerance = max(cc.TEST_VOLTAGE_TOLERANCE_MIN_V,
                        cc.TEST_VOLTAGE_TOLERANCE_FRACTION * self._test_voltage_v)
        return snap is not None and abs(snap.voltage_v - self._test_voltage_v) <= tolerance

    def self_test_configured(self, ev: Event) -> bool:
        return self.config.cable_check.run_self_test

    def discharge_configured(self, ev: Event) -> bool:
        return self.config.cable_check.discharge_before_finish

    def last_sample(self, ev: Event) -> bool:
        return len(self._samples) + 1 >= self.config.cable_check.samples

    def sample_insulation_fault(self, ev: Event) -> bool:
        return self._classify(ev.data) is IsolationStatus.FAULT

    def sample_earth_fault(self, ev: Event) -> bool:
        m: IsolationMeasurement = ev.data
        return not cc.voltage_to_earth_ok(m, self._rated_voltage_v())

    def control_tick_due(self, ev: Event) -> bool:
        last = self._last_tick_ns
        return last is None or ev.at_ns >= last + CONTROL_PERIOD_NS

    def output_collapsed(self, ev: Event) -> bool:
        """The output fell below OUTPUT_COLLAPSE_FRACTION of the precharge voltage (the
        car's battery): nothing but a short pulls a charging battery's terminals there."""
        snap, ref = self._snapshot, self._precharge_target_v
        return (self._output_up and snap is not None and ref is not None
                and snap.voltage_v < OUTPUT_COLLAPSE_FRACTION * ref)

    def output_already_off(self, ev: Event) -> bool:
        return not self._modules_enabled or self._shutdown_from_a <= 0.0

    def current_off(self, ev: Event) -> bool:
        """Nothing to open, nothing was flowing, the meter shows < 5 A since the shutdown
        began, or the modules confirm off."""
        snap = self._snapshot
        current_low = snap is not None and snap.timestamp_ns >= self._shutdown_since_ns and abs(
            snap.current_a) < SAFE_OPEN_CURRENT_A
        return (not self._contactors_commanded or not self._shutdown_energised
                or current_low or self._off_confirmed)

    def output_on(self, ev: Event) -> bool:
        """Current may flow: the modules are on and the contactors held closed. (With the
        modules off a pilot cut needs nothing at once: the chart's own steps and bounds go
        on, e.g. cable check step 3 records a contactor that did not close.)"""
        return self._modules_enabled and self._contactors_commanded

    def has_fault(self, ev: Event) -> bool:
        return bool(self._faults)

    def no_fault(self, ev: Event) -> bool:
        return not self._faults

    def welding_welded(self, ev: Event) -> bool:
        w = self._welding
        return w is not None and w.result is WeldingResult.WELDED and not self._welding_reported

    def welding_module_live(self, ev: Event) -> bool:
        w = self._welding
        return (w is not None and w.result is WeldingResult.MODULE_LIVE
                and not self._welding_reported)

    def welding_finished(self, ev: Event) -> bool:
        w = self._welding
        return w is None or w.result is not WeldingResult.CHECKING

    def cable_check_deferred(self, ev: Event) -> bool:
        return self._deferred_check is not None

    def car_gone(self, ev: Event) -> bool:
        return not self._car_present

    def strictest_permanent(self, ev: Event) -> bool:
        f = self._strictest()
        return f is not None and f.clearing is Clearing.PERMANENT

    def strictest_latched(self, ev: Event) -> bool:
        f = self._strictest()
        return f is not None and f.clearing is Clearing.LATCHED

    # ================================================================ actions: session
    def begin_session(self, ev: Event) -> None:
        self.reset_session(ev)
        self._car_present = True
        self._ev_max_voltage_v = float(ev.data)

    def note_unplugged(self, ev: Event) -> None:
        self._car_present = False
        self._deferred_check = None  # a request of the car that left is void

    def defer_cable_check(self, ev: Event) -> None:
        """A cable check asked for while the last opening's welding check runs: kept (the
        SECC asks once per session), started when the path is open and may start."""
        self._deferred_check = ev

    def begin_deferred_session(self, ev: Event) -> None:
        deferred = self._deferred_check
        assert deferred is not None
        self._deferred_check = None
        self.begin_session(deferred)

    def note_fault(self, ev: Event) -> None:
        """An error fault while already shutting down or faulted: recorded, nothing else."""

    def note_reset(self, ev: Event) -> None:
        """The reset was accepted; `update` re-evaluates the clearing substate."""

    def note_welding_timeout(self, ev: Event) -> None:
        """The welding check's bound: the next `update` reads its (now final) result."""

    def note_check_withdrawn(self, ev: Event) -> None:
        """The pilot refused the contactors during the cable check: the check failed for
        that cause (check_withdrawn), not for a device fault."""
        self._check_withdrawn = str(ev.data)

    def reset_session(self, ev: Event) -> None:
        self._check_withdrawn = None
        self._samples = []
        self._welding = None
        self._welding_reported = False
        self._weld_check_due = False
        self._request = None
        self._demand = None
        self._precharge_target_v = None
        self._output_up = False
        self._isolation_level = IsolationStatus.INVALID
        self._over_voltage_since_ns = None
        self._over_current_since_ns = None
        self._stop_imd()

    # ================================================================ actions: cable check
    def begin_cable_check(self, ev: Event) -> None:
        ev_max = self._ev_max_voltage_v or 0.0
        self._test_voltage_v = cc.test_voltage_v(ev_max, self._maxima(ev.at_ns).max_voltage_v)
        self._cc_rated_voltage_v = self._maxima(ev.at_ns).max_voltage_v
        self._samples = []

    def close_contactors(self, ev: Event) -> None:
        self._emit(SetContactors(True))

    def apply_test_voltage(self, ev: Event) -> None:
        self._emit(SetModuleOutput(self._test_voltage_v, cc.TEST_CURRENT_LIMIT_A))
        self._emit(EnableModules())

    def start_self_test(self, ev: Event) -> None:
        self._emit(ImdSelfTest(self._test_voltage_v))

    def start_imd(self, ev: Event) -> None:
        self._emit(ImdStart())

    def record_sample(self, ev: Event) -> None:
        self._samples.append(ev.data)

    def finish_isolation(self, ev: Event) -> None:
        """The last sample decides (EVerest, hardware.md §2.5 step 9)."""
        self._isolation_level = self._classify(self._samples[-1])

    def discharge(self, ev: Event) -> None:
        # Some EVs close their relays at too high a voltage otherwise (interop row 56).
        self._emit(DisableModules())

    def fail_voltage_gate(self, ev: Event) -> None:
        v = self._snapshot.voltage_v if self._snapshot else float("inf")
        self._raise(FaultReason.VOLTAGE_NOT_BELOW_60V, f"output at {v:.1f} V", ev.at_ns)

    def fail_contactor_not_closed(self, ev: Event) -> None:
        self._raise(FaultReason.CONTACTOR_NOT_CLOSED, "no closed feedback within 5 s", ev.at_ns)

    def fail_test_voltage(self, ev: Event) -> None:
        v = self._snapshot.voltage_v if self._snapshot else float("inf")
        self._raise(FaultReason.TEST_VOLTAGE_NOT_REACHED,
                    f"{v:.1f} V of {self._test_voltage_v:.1f} V after 10 s "
                    "(short circuit or weak source)", ev.at_ns)

    def fail_self_test(self, ev: Event) -> None:
        detail = ev.data if isinstance(ev.data, str) else "IMD self-test reported failure"
        self._raise(FaultReason.SELF_TEST_FAILED, detail, ev.at_ns)

    def fail_self_test_timeout(self, ev: Event) -> None:
        self._raise(FaultReason.SELF_TEST_TIMEOUT, "no self-test result within 30 s", ev.at_ns)

    def fail_imd_no_measurement(self, ev: Event) -> None:
        detail = (ev.data if isinstance(ev.data, str)
                  else f"{len(self._samples)} of {self.config.cable_check.samples} samples")
        self._raise(FaultReason.IMD_NO_MEASUREMENT, detail, ev.at_ns)

    def fail_insulation(self, ev: Event) -> None:
        self._isolation_level = IsolationStatus.FAULT
        last = self._samples[-1]
        self._raise(FaultReason.INSULATION_FAULT, f"R_F {last.resistance_f_ohm / 1000:.1f} kOhm",
                    ev.at_ns)

    def fail_voltage_to_earth(self, ev: Event) -> None:
        self._isolation_level = IsolationStatus.FAULT
        last = self._samples[-1]
        self._raise(FaultReason.VOLTAGE_TO_EARTH,
                    f"U_L1E {last.voltage_to_earth_l1e_v} V, U_L2E "
                    f"{last.voltage_to_earth_l2e_v} V", ev.at_ns)

    def fail_discharge(self, ev: Event) -> None:
        v = self._snapshot.voltage_v if self._snapshot else float("inf")
        self._raise(FaultReason.DISCHARGE_TIMEOUT, f"still {v:.1f} V after 10 s", ev.at_ns)

    # ================================================================ actions: energy
    def begin_precharge(self, ev: Event) -> None:
        self._last_tick_ns = ev.at_ns
        self._output_up = False
        if self.config.pause_imd_during_precharge:
            self._stop_imd()

    def set_precharge_output(self, ev: Event) -> None:
        request: EvRequest = ev.data
        target_v = min(request.target_voltage_v, self._maxima(ev.at_ns).max_voltage_v)
        self._precharge_target_v = target_v
        current_a = min(max(request.target_current_a, 0.0), self.config.precharge_max_current_a)
        self._set_output(target_v, current_a)
        if not self._modules_enabled:
            self._emit(EnableModules())

    def precharge_tick(self, ev: Event) -> None:
        self._last_tick_ns = ev.at_ns

    def fail_precharge_timeout(self, ev: Event) -> None:
        self._raise(FaultReason.PRECHARGE_TIMEOUT, "target not reached within the car's 7 s",
                    ev.at_ns)

    def begin_charging(self, ev: Event) -> None:
        self._current_cmd_a = 0.0
        self._ramp_target_a = None
        self._last_tick_ns = ev.at_ns
        if not self._imd_running:
            self._emit(ImdStart())  # isolation is monitored for the whole energy transfer

    def take_request(self, ev: Event) -> None:
        self._request = ev.data

    def regulate(self, ev: Event) -> None:
        request, snap = self._request, self._snapshot
        now_ns = ev.at_ns
        if request is None or snap is None:
            return
        out = clamp_request(request, self._maxima(now_ns), snap.voltage_v)
        last = self._last_tick_ns if self._last_tick_ns is not None else now_ns
        dt_ns = max(0, now_ns - last)
        if self._current_cmd_a == self._ramp_target_a:
            # The loop sat on its target, and the station may have skipped its ticks since
            # (`control_settled`): a new rise starts from here with one control period of
            # ramp, not with the whole settled time granted at once.
            dt_ns = min(dt_ns, CONTROL_PERIOD_NS)
        self._current_cmd_a = ramp(self._current_cmd_a, out.current_a, dt_ns)
        self._ramp_target_a = out.current_a
        self._last_tick_ns = now_ns
        self._demand = out
        self._set_output(out.voltage_v, self._current_cmd_a)
        if not self._modules_enabled:
            self._emit(EnableModules())

    def arm_watches(self, ev: Event) -> None:
        self._delivering = True

    def disarm_watches(self, ev: Event) -> None:
        self._delivering = False

    def arm_meter_watch(self, ev: Event) -> None:
        self._meter_watched = True
        self._meter_watch_from_ns = ev.at_ns

    def disarm_meter_watch(self, ev: Event) -> None:
        self._meter_watched = False

    def check_standing_faults(self, ev: Event) -> None:
        """Conditions that began before the path was energised are events nobody heard
        (idle ignores them); they are standing, so they stop this session before it
        closes the contactors: a tripping alarm a module still reports, a meter silent
        for meter_stale_ms (no first reading: the watch armed here decides). An IMD's
        device fault is left to the cable check's self-test, which is what clears it."""
        if self._alarmed_modules:
            modules = ", ".join(str(a) for a in sorted(self._alarmed_modules))
            self._post("module_alarm", f"module {modules}: tripping alarm before the session")
        last = self._last_meter_ns
        if last is not None and ev.at_ns - last >= self.config.meter_stale_ns:
            self._post("meter_stale")

    def start_ticking(self, ev: Event) -> None:
        self._ticking = True
        self._last_tick_ns = ev.at_ns

    def stop_ticking(self, ev: Event) -> None:
        self._ticking = False

    def update_isolation(self, ev: Event) -> None:
        self._isolation_level = self._classify(ev.data)

    # ================================================================ actions: faults
    def raise_insulation_fault(self, ev: Event) -> None:
        self._raise(FaultReason.INSULATION_FAULT,
                    f"R_F {ev.data.resistance_f_ohm / 1000:.1f} kOhm while energised", ev.at_ns)

    def raise_module_comm_lost(self, ev: Event) -> None:
        self._raise(FaultReason.MODULE_COMM_LOST, str(ev.data), ev.at_ns)

    def raise_module_alarm(self, ev: Event) -> None:
        self._raise(FaultReason.MODULE_ALARM, str(ev.data), ev.at_ns)

    def raise_no_modules(self, ev: Event) -> None:
        self._raise(FaultReason.NO_MODULES, "no usable module", ev.at_ns)

    def raise_board_fault(self, ev: Event) -> None:
        self._raise(FaultReason.BOARD_FAULT, str(ev.data), ev.at_ns)

    def raise_emergency_over_voltage(self, ev: Event) -> None:
        self._raise(FaultReason.EMERGENCY_OVER_VOLTAGE, str(ev.data), ev.at_ns)

    def raise_over_voltage(self, ev: Event) -> None:
        self._raise(FaultReason.OVER_VOLTAGE, str(ev.data), ev.at_ns)

    def raise_over_current(self, ev: Event) -> None:
        self._raise(FaultReason.OVER_CURRENT, str(ev.data), ev.at_ns)

    def raise_output_collapse(self, ev: Event) -> None:
        snap, ref = self._snapshot, self._precharge_target_v
        v = snap.voltage_v if snap is not None else float("nan")
        self._raise(FaultReason.OUTPUT_COLLAPSE,
                    f"output {v:.1f} V below {OUTPUT_COLLAPSE_FRACTION:.0%} of the "
                    f"{ref or 0.0:.0f} V precharge voltage (short across the pins)", ev.at_ns)

    def raise_over_temperature(self, ev: Event) -> None:
        self._raise(FaultReason.OVER_TEMPERATURE, str(ev.data), ev.at_ns)

    def raise_imd_device_fault(self, ev: Event) -> None:
        self._isolation_level = IsolationStatus.INVALID
        self._raise(FaultReason.IMD_DEVICE_FAULT, str(ev.data), ev.at_ns)

    def raise_limits_expired(self, ev: Event) -> None:
        self._raise(FaultReason.LIMITS_EXPIRED, "controller limits not refreshed", ev.at_ns)

    def raise_contactor_opened(self, ev: Event) -> None:
        self._raise(FaultReason.CONTACTOR_OPENED_UNEXPECTEDLY,
                    "feedback opened while commanded closed", ev.at_ns)

    def raise_meter_stale(self, ev: Event) -> None:
        self._raise(FaultReason.METER_STALE,
                    f"no meter reading for {self.config.meter_stale_ns / 1e6:.0f} ms", ev.at_ns)

    def raise_welded(self, ev: Event) -> None:
        """A weld; the second one without a clean opening in between is permanent."""
        assert self._welding is not None
        self._welding_reported = True
        reason = (FaultReason.CONTACTOR_WELDED_REPEATED if self._welded_unresolved
                  else FaultReason.CONTACTOR_WELDED)
        self._welded_unresolved = True
        self._add_fault(reason, self._welding.detail, ev.at_ns)
        self._emit(DisableModules())

    def raise_module_live(self, ev: Event) -> None:
        """The welding check found the contacts apart with the module side still live: the
        modules did not switch off (no load current showed it during the shutdown) or
        cannot discharge. Told off again; latched for the operator."""
        assert self._welding is not None
        self._welding_reported = True
        self._add_fault(FaultReason.OFF_NOT_CONFIRMED, self._welding.detail, ev.at_ns)
        self._emit(DisableModules())

    def fault_off_not_confirmed(self, ev: Event) -> None:
        self._add_fault(FaultReason.OFF_NOT_CONFIRMED,
                        "current not confirmed below 5 A within 1 s", ev.at_ns)

    # ================================================================ actions: shutdown
    def begin_shutdown(self, ev: Event) -> None:
        self._shutdown_since_ns = ev.at_ns
        self._shutdown_from_a = self._sent_setpoint[1] if self._sent_setpoint else 0.0
        self._off_confirmed = False
        # Modules never switched on in this session step: no current can flow, open at once.
        self._shutdown_energised = self._modules_enabled
        if not self._modules_enabled:
            self._shutdown_from_a = 0.0

    def ramp_output(self, ev: Event) -> None:
        elapsed = ev.at_ns - self._shutdown_since_ns
        self._last_tick_ns = ev.at_ns
        voltage_v = self._sent_setpoint[0] if self._sent_setpoint else 0.0
        fraction = max(0.0, 1.0 - elapsed / ERROR_RAMP_DOWN_NS)
        self._set_output(voltage_v, round(self._shutdown_from_a * fraction, 1))

    def modules_off(self, ev: Event) -> None:
        if self._modules_enabled:
            self._emit(DisableModules())

    def open_contactors(self, ev: Event) -> None:
        self._weld_check_due = self._feedback_closed
        if self._contactors_commanded:
            self._emit(SetContactors(False))
        self._stop_imd()

    def emergency_open(self, ev: Event) -> None:
        """Open at once: modules off and contactors open in the same call."""
        was_closed = self._contactors_commanded or self._feedback_closed
        self._emit(DisableModules())
        self._emit(SetContactors(False))
        self._weld_check_due = self._weld_check_due or was_closed
        self._stop_imd()

    def cut_output(self, ev: Event) -> None:
        """The pilot withdrew power with the modules on (unplug, C->B, E, F under load):
        the board opens the contactors now, so the modules go off in this same call, the
        emergency path of ccs2_dc_reference.md SF, not the error ramp (that would leave the
        modules driving into opening contacts for t_error_ramp_down). The welding check
        follows the opening as after any other."""
        self._weld_check_due = (self._weld_check_due or self._contactors_commanded
                                or self._feedback_closed)
        if self._modules_enabled:
            self._emit(DisableModules())
        if self._contactors_commanded:
            self._emit(SetContactors(False))
        self._stop_imd()

    def start_welding_check(self, ev: Event) -> None:
        if self._welding is None and self._weld_check_due:
            self._welding = WeldingCheck(ev.at_ns)
        self._weld_check_due = False

    # ================================================================ internals
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

    def _stop_imd(self) -> None:
        if self._imd_running:
            self._emit(ImdStop())

    def _post(self, name: str, data: Any = None) -> None:
        self._queue.append(Event(name, data, self._now_ns))
        self._dirty = True

    def _rated_voltage_v(self) -> float:
        return self._cc_rated_voltage_v

    def _classify(self, m: IsolationMeasurement) -> IsolationStatus:
        voltage_v = m.voltage_v or (self._snapshot.voltage_v if self._snapshot else 0.0)
        return cc.classify(m.resistance_f_ohm, voltage_v, self.config.cable_check)

    def _strictest(self) -> PowerFault | None:
        best: PowerFault | None = None
        for f in self._faults.values():
            if best is None or (_CLEARING_RANK[f.clearing], _SEVERITY_RANK[f.severity]) > (
                    _CLEARING_RANK[best.clearing], _SEVERITY_RANK[best.severity]):
                best = f
        return best

    def _add_fault(self, reason: FaultReason, detail: str, now_ns: int) -> PowerFault:
        """Record a fault from its table row; a reason already active keeps its first record."""
        if reason not in self._faults:
            self._faults[reason] = make_fault(reason, detail, now_ns)
        return self._faults[reason]

    def _raise(self, reason: FaultReason, detail: str, now_ns: int) -> None:
        """Record the fault and post the shutdown its row names to the chart."""
        severity = self._add_fault(reason, detail, now_ns).severity
        self._post("fault_emergency" if severity is Severity.EMERGENCY else "fault_error")

    def _live(self) -> bool:
        """The hardware may carry energy: modules on or contactors not reported open."""
        return self._modules_enabled or self._contactors_commanded or self._feedback_closed

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

    def _maxima(self, now_ns: int | None = None) -> EvseLimits:
        """The limits in force now: the fed envelope while valid (else the station rating),
        capped by the rating, the modules, the cable and the temperature derating."""
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
        if lim is None or (now_ns is not None and not lim.valid_at(now_ns)):
            return EvseLimits(v, i, p, 0.0, LimitsSource.RATED)
        return lim.capped(v, i, p)


class PowerPath(PowerPathHandler):
    """The power path of one connector: `PowerPathHandler` run by the `power_path` chart,
    plus the API the SECC and the runtime call."""

    def __init__(self, config: PowerPathConfig = PowerPathConfig(), *,
                 timers: TimerService | None = None, trace: TraceSink | None = None,
                 param_overrides: dict[str, float] | None = None) -> None:
        super().__init__(config)
        service: TimerService
        self._own_timers: _TimerQueue | None = None
        if timers is None:
            self._own_timers = service = _TimerQueue()
        else:
            service = _PumpingTimers(timers, self._timer_fired)
        self._machine = Machine(power_path_spec(), self, timers=service, trace=trace,
                                name="power_path", param_overrides=param_overrides)
        spec = self._machine.spec
        self._phase_of = {s.path: Phase(spec.tags_of(s.path)[0])
                          for s in spec.iter_states() if not s.children}
        self._pumping = False
        self._machine.start(0)

    def _timer_fired(self, now_ns: int) -> None:
        """A chart timer on the external scheduler fired: its event moved the chart."""
        self._dirty = True
        self._pump(now_ns)

    # --- outputs ------------------------------------------------------------------------
    def limits(self, now_ns: int | None = None,
               envelope: EvseLimits | None = None) -> EvseLimits:
        """The limits in force (EVSEMaximum*Limit to report): the envelope fed last, or
        `envelope` (the guard's of this instant, as `current_demand` would use it), capped
        by what the devices can do now."""
        if envelope is not None:
            _check_limits(envelope)
            held, self._limits = self._limits, envelope
            try:
                return self._maxima(now_ns)
            finally:
                self._limits = held
        return self._maxima(now_ns)

    @property
    def phase(self) -> Phase:
        """From the chart's state, via its `tags` (fsm_specs/power_path.yaml)."""
        return self._phase_of[self._machine.state]

    @property
    def state(self) -> str:
        """The chart's active leaf state (dotted path)."""
        return self._machine.state

    @property
    def output_setpoint(self) -> tuple[float, float] | None:
        """(voltage V, current A) last commanded to the modules while their output is
        enabled; None while it is disabled (contract plc.power_setpoint)."""
        if not self._modules_enabled:
            return None
        return self._sent_setpoint or (0.0, 0.0)

    def take_commands(self) -> list[PowerCommand]:
        out, self._commands = self._commands, []
        return out

    @property
    def fault(self) -> PowerFault | None:
        """The strictest active fault (clearing class first, then shutdown kind; the
        earliest among equals)."""
        return self._strictest()

    @property
    def faults(self) -> tuple[PowerFault, ...]:
        """Every active fault, in the order raised."""
        return tuple(self._faults.values())

    @property
    def check_withdrawn(self) -> str | None:
        """The pilot refused the contactors during this session's cable check (its
        cause), so the check ended without a result: the SECC answers it as failed (the
        car must not wait for a check the board cannot run). None otherwise."""
        return self._check_withdrawn

    @property
    def available(self) -> bool:
        """A new session may start now (a cable check would be accepted)."""
        m = self._machine
        return (m.in_state("idle") or m.in_state("stopped.open")) and self.may_start(
            Event("update", None, self._now_ns))

    @property
    def snapshot(self) -> MeasurementSnapshot | None:
        """The sample the last regulation step used; the SECC reports exactly this."""
        return self._snapshot

    @property
    def status(self) -> PowerStatus:
        phase = self.phase
        processing = (Processing.ONGOING if phase is Phase.CABLE_CHECK
                      else Processing.FINISHED)
        target = self._precharge_target_v
        snap = self._snapshot
        reached = (phase is Phase.PRECHARGE and target is not None and snap is not None
                   and abs(snap.voltage_v - target) <= precharge_tolerance_v(target))
        fault = self.fault
        return PowerStatus(
            phase=phase,
            isolation_level=self._isolation_level,
            cable_check_processing=processing,
            precharge_reached=reached,
            present=snap,
            limits=self.limits(snap.timestamp_ns if snap else None),
            demand=self._demand,
            welding=self._welding.result if self._welding else WeldingResult.NOT_CHECKED,
            fault=fault,
        )

    def next_deadline_ns(self) -> int | None:
        candidates: list[int | None] = [
            self._own_timers.next_deadline_ns() if self._own_timers else None,
            self._welding.next_deadline_ns() if self._welding is not None else None,
        ]
        if self._ticking and self._last_tick_ns is not None:
            candidates.append(self._last_tick_ns + CONTROL_PERIOD_NS)
        if self._delivering and self._limits is not None:
            candidates.append(self._limits.valid_until_ns)  # expiry stops the charge (P0 6)
        if self._meter_watched:
            candidates.append(self._meter_stale_due_ns())
        present = [c for c in candidates if c is not None]
        return min(present) if present else None

    def control_settled(self, now_ns: int) -> bool:
        """True while charging with the current loop on its target (no ramp in progress),
        no input waiting and no bound of the path due by `now_ns`: a control tick now would
        compute the same setpoint from the same values, so the owner may skip it and let
        the next measurement, car request or device event regulate (issue 14). Time-driven
        bounds (chart timers, limits expiry, meter stale) are not skipped: when one is due
        this is False."""
        if self.phase is not Phase.CHARGING or self._dirty or self._queue:
            return False
        target = self._ramp_target_a
        if target is None or self._current_cmd_a != target:
            return False
        due: list[int | None] = [
            self._own_timers.next_deadline_ns() if self._own_timers else None,
            self._welding.next_deadline_ns() if self._welding is not None else None,
            self._limits.valid_until_ns if self._limits is not None else None,
            self._meter_stale_due_ns() if self._meter_watched else None,
        ]
        return all(d is None or d > now_ns for d in due)

    # --- session API (SECC) -------------------------------------------------------------
    def start_cable_check(self, ev_max_voltage_v: float, now_ns: int) -> None:
        """CableCheckReq #1 (C9). Later CableCheckReqs just read `status`."""
        self._request_event("start_cable_check", ev_max_voltage_v, now_ns, "cable check")

    def precharge(self, request: EvRequest, now_ns: int) -> None:
        """Every PreChargeReq (C10): ramp to the car's voltage with at most 2 A."""
        _check_request(request)
        self._request_event("precharge_request", request, now_ns, "precharge")

    def start_charging(self, now_ns: int) -> None:
        """PowerDeliveryReq(Start) (C11): the contactors are closed since the cable check."""
        self._request_event("power_delivery_start", None, now_ns, "power delivery")

    def current_demand(self, request: EvRequest, now_ns: int,
                       envelope: EvseLimits | None = None) -> DemandClamp:
        """Every CurrentDemandReq (C12): regulate to the clamped request at once and return
        the clamp (setpoint, limit flags, limits) the SECC reports. `envelope`: the guard's
        limits of this instant, taken in before the clamp (else the last fed ones). The
        snapshot to report is `snapshot`, the sample this clamp used."""
        _check_request(request)
        if envelope is not None:
            _check_limits(envelope)
            self._limits = envelope
        self._request_event("current_demand", request, now_ns, "current demand")
        out = self._demand
        if out is None or self._snapshot is None:  # no sample yet: nothing was regulated
            return self.clamp(request, now_ns)
        return out

    def clamp(self, request: EvRequest, now_ns: int,
              envelope: EvseLimits | None = None) -> DemandClamp:
        """What `current_demand` would regulate to now, without applying anything (the
        SECC's answer to a request the power path does not take in its phase)."""
        snap = self._snapshot
        return clamp_request(request, self.limits(now_ns, envelope),
                             snap.voltage_v if snap is not None else 0.0)

    def stop(self, now_ns: int) -> None:
        """PowerDeliveryReq(Stop) or session end: ramp down, off, open, then welding check.
        Outside a session a no-op."""
        self._input(now_ns, ("stop_request", None))

    def end_session(self, now_ns: int) -> None:
        """The car was unplugged (CP A). Never raises because of a fault state.

        Still live: starts the shutdown and finishes the end of session when it is done.
        Then self-clearing faults whose `clear_when` holds clear and the path is available
        again; latched and permanent faults stay (fault_table.yaml)."""
        self._input(now_ns, ("unplugged", None))

    def reset_fault(self, now_ns: int) -> ResetResult:
        """The operator's RESET_FAULT (ctrl.session_command). All or nothing: every latched
        fault clears if each one's `clear_when` holds and the path is dead; refused with a
        reason otherwise. Self-clearing faults are left to their own rule (unplug)."""
        self._input(now_ns)
        result = self._reset_decision()
        if result.accepted:
            for reason in [r for r, f in self._faults.items() if f.clearing is Clearing.LATCHED]:
                del self._faults[reason]
            self._input(now_ns, ("reset", None))
        return result

    def held_faults(self) -> tuple[tuple[tuple[FaultReason, str], ...], bool]:
        """What a restart must not forget: the latched and permanent faults (reason, detail)
        and whether a weld is unresolved. A restart is not a reset (fault_table.yaml)."""
        held = tuple((f.reason, f.detail) for f in self._faults.values()
                     if f.clearing is not Clearing.SELF_CLEARING)
        return held, self._welded_unresolved

    def restore_faults(self, faults: Iterable[tuple[FaultReason, str]],
                       welded_unresolved: bool, now_ns: int) -> None:
        """At start, before any session: the held faults of the previous run are raised
        again (nothing is live, so the path goes to faulted at once) and the weld history
        is kept. Self-clearing reasons are ignored: they would have cleared with the car."""
        self._welded_unresolved = self._welded_unresolved or welded_unresolved
        for reason, detail in faults:
            if row(reason).clearing is not Clearing.SELF_CLEARING:
                self._raise(reason, f"before restart: {detail}", now_ns)
        self._input(now_ns)

    def emergency_stop(self, detail: str, now_ns: int) -> None:
        """Controller STOP_EMERGENCY: modules off and contactors open in this call
        (EVSE_EmergencyShutdown; fault row controller_emergency_stop)."""
        self._now_ns = now_ns
        self._raise(FaultReason.CONTROLLER_EMERGENCY_STOP, detail, now_ns)
        self._input(now_ns)

    # --- events (runtime) ---------------------------------------------------------------
    def handle(self, event: PowerInput, now_ns: int) -> None:
        self.handle_many((event,), now_ns)

    def handle_timer(self, now_ns: int) -> None:
        self.handle_many((), now_ns, timer=True)

    def handle_many(self, events: Iterable[PowerInput], now_ns: int, *,
                    timer: bool = False) -> None:
        """Every input of one instant (a tick's module, IMD and meter events, fresh limits),
        absorbed in order, then the chart run once: the posted events in order, then
        `update` until settled, so guards see all of this instant's values together.
        `timer`: also check the bounds that run on time (meter stale, limits expiry), after
        the inputs, as `handle_timer` does."""
        self._now_ns = now_ns
        self._fire_timers(now_ns)
        for event in events:
            self._absorb(event, now_ns)
            self._dirty = True
        if timer:
            self._watch(now_ns)
        self._input(now_ns)

    # --- internals ----------------------------------------------------------------------
    def _reset_decision(self) -> ResetResult:
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
            when = row(f.reason).clear_when.value
            return ResetResult(False, f"{f.reason.value} clears by itself when {when}"
                                      + ("" if when == "unplugged" else " (and unplugged)"),
                               self_clearing_only=True)
        unmet = [(f, row(f.reason).clear_when) for f in latched
                 if not self._condition(row(f.reason).clear_when)]
        if unmet:
            f, cond = unmet[0]
            return ResetResult(False, f"{f.reason.value}: cause still present "
                                      f"({cond.value} does not hold)",
                               unplug_pending=all(c is ClearCondition.UNPLUGGED
                                                  for _, c in unmet))
        return ResetResult(True, "cleared " + ", ".join(f.reason.value for f in latched))

    def _request_event(self, name: str, data: Any, now_ns: int, what: str) -> None:
        """A SECC request the current state must accept, else a usage error."""
        self._now_ns = now_ns
        self._fire_timers(now_ns)
        self._pump(now_ns)
        if not self._machine.dispatch(Event(name, data, now_ns), now_ns):
            raise PowerPathUsageError(f"{what} not allowed in {self.phase.value}")
        self._dirty = True
        self._pump(now_ns)

    def _input(self, now_ns: int, first: tuple[str, Any] | None = None) -> None:
        self._now_ns = now_ns
        self._fire_timers(now_ns)
        if first is not None:
            self._post(*first)
        self._pump(now_ns)

    def _update_due(self, now_ns: int) -> bool:
        """`update` can move the chart: an input arrived since the chart last settled, or
        a guard or action over time is due (the control tick while ticking, a running
        welding check). Otherwise every guard `update` evaluates reads the same values as
        at the last settle and would decide the same, so it is not offered."""
        if self._dirty:
            return True
        if self._ticking and (self._last_tick_ns is None
                              or now_ns >= self._last_tick_ns + CONTROL_PERIOD_NS):
            return True
        w = self._welding
        return w is not None and w.result is WeldingResult.CHECKING

    def _fire_timers(self, now_ns: int) -> None:
        timers = self._own_timers
        if timers is None or self._pumping:
            return
        timers.now_ns = now_ns
        while (cb := timers.pop_due(now_ns)) is not None:
            cb(now_ns)  # dispatches the timer's event
            self._dirty = True
            self._pump(now_ns)

    def _pump(self, now_ns: int) -> None:
        """Drain the posted events one at a time, then offer `update` until settled."""
        if self._pumping:
            return
        self._pumping = True
        if self._own_timers is not None:
            self._own_timers.now_ns = now_ns
        try:
            for _ in range(_MAX_SETTLE_PASSES):
                while self._queue:
                    self._machine.dispatch(self._queue.popleft(), now_ns)
                    self._dirty = True
                if not self._update_due(now_ns):
                    return
                self._refresh(now_ns)
                before = self._machine.state
                self._dirty = False
                self._machine.dispatch(Event("update", None, now_ns), now_ns)
                if self._machine.state != before or self._queue:
                    self._dirty = True  # a new state's guards run on the next pass
                else:
                    return
            raise PowerPathUsageError(f"power_path did not settle in {self._machine.state}")
        finally:
            self._pumping = False

    def _refresh(self, now_ns: int) -> None:
        """Numeric bookkeeping before guards run: welding check, self-clearing faults."""
        w = self._welding
        if w is not None:
            snap = self._snapshot
            w.update(self._feedback_closed, self._module_side_v(now_ns),
                     snap.voltage_v if snap else None, now_ns, self._module_voltage_ns)
            if w.result is WeldingResult.OPEN and not self._welding_reported:
                self._welding_reported = True
                self._welded_unresolved = False  # a clean opening since the last weld
        if self._faults:
            self._clear_self_clearing()

    def _module_side_v(self, now_ns: int) -> float | None:
        """The module-side voltage if a module reported it lately; None (unknown) once
        every module has been silent for MODULE_VOLTAGE_FRESH_NS (a stale 400 V is not a
        live module side, and the welding check must not read it as a weld)."""
        at = self._module_voltage_ns
        if at is None or now_ns - at > MODULE_VOLTAGE_FRESH_NS:
            return None
        return self._module_voltage_v

    def _meter_stale_due_ns(self) -> int:
        last = max(self._last_meter_ns or 0, self._meter_watch_from_ns)
        return last + self.config.meter_stale_ns

    def _watch(self, now_ns: int) -> None:
        """Bounds the chart arms: the meter while energised, the limits while delivering.
        Checked on the timer only, after the runtime has fed this tick's fresh limits."""
        if self._meter_watched and now_ns >= self._meter_stale_due_ns():
            self._post("meter_stale")
        if not self._delivering:
            return
        lim = self._limits
        if lim is not None and lim.valid_until_ns is not None and now_ns >= lim.valid_until_ns:
            self._post("limits_expired")

    def _absorb(self, event: PowerInput, now_ns: int) -> None:
        """Device input -> numbers, and the chart events it implies."""
        if isinstance(event, MeterReading):
            self._on_meter(event, now_ns)
        elif isinstance(event, GroupMeasurement):
            self._module_voltage_v = event.voltage_v
            # When the group measured it (its oldest reading), not when it was read here.
            self._module_voltage_ns = min(event.timestamp_ns, now_ns)
        elif isinstance(event, OutputOffConfirmed):
            self._off_confirmed = True
        elif isinstance(event, CapabilitiesChanged):
            self._caps = event.capabilities
            if event.capabilities.module_count == 0:
                self._post("modules_gone")
        elif isinstance(event, ModuleOffline):
            self._offline_modules.add(event.address)
            self._post("module_lost", f"module {event.address} silent")
        elif isinstance(event, ModuleAlarmRaised):
            tripping = event.alarms & TRIPPING_ALARMS
            if tripping:
                self._alarmed_modules.add(event.address)
                names = ", ".join(sorted(a.value for a in tripping))
                self._post("module_alarm", f"module {event.address}: {names}")
            else:
                self._alarmed_modules.discard(event.address)
        elif isinstance(event, ModuleFrameRejected):
            self.rejected_frames += 1
        elif isinstance(event, ModuleOnline):
            self._offline_modules.discard(event.address)
        elif isinstance(event, ModuleAlarmCleared):
            self._alarmed_modules.discard(event.address)
        elif isinstance(event, TemperatureReading):
            self._temperatures[event.sensor] = event.celsius
            if event.celsius >= self.config.temperature_trip_c:
                self._post("over_temperature", f"{event.sensor} at {event.celsius:.1f} °C")
        elif isinstance(event, IsolationMeasurement):
            self._isolation_ohm = event.resistance_f_ohm
            self._post("imd_sample", event)
        elif isinstance(event, SelfTestResult):
            self._post("self_test_passed" if event.passed else "self_test_failed")
        elif isinstance(event, ImdDeviceFault):
            self._post("imd_fault", event.reason)
        elif isinstance(event, ContactorFeedback):
            was = self._feedback_closed
            self._feedback_closed = event.closed
            if was and not event.closed and self._contactors_commanded:
                self._post("contactor_dropped")
        elif isinstance(event, EmergencyStop):
            self._raise(FaultReason.CONTROLLER_EMERGENCY_STOP, event.detail, now_ns)
        elif isinstance(event, EStopChanged):
            self._estop_active = event.active
            if event.active:  # releasing the button only allows the operator's reset
                self._raise(FaultReason.EMERGENCY_STOP, "e-stop input", now_ns)
        elif isinstance(event, BoardFault):
            self._post("board_fault", event.kind.value)
        elif isinstance(event, PowerWithdrawn):
            self._post("power_withdrawn", event.cause)
        elif isinstance(event, PowerRefused):
            self._post("power_refused", event.cause)
        else:
            _check_limits(event)
            self._limits = event

    def _on_meter(self, reading: MeterReading, now_ns: int) -> None:
        self._snapshot = MeasurementSnapshot(
            timestamp_ns=reading.timestamp_ns,
            voltage_v=reading.voltage_v,
            current_a=reading.current_a,
            isolation_resistance_ohm=self._isolation_ohm,
            isolation_level=self._isolation_level,
        )
        self._last_meter_ns = now_ns
        target = self._precharge_target_v
        if target is not None and reading.voltage_v >= OUTPUT_COLLAPSE_FRACTION * target:
            self._output_up = True
        self._check_over_voltage(reading.voltage_v, now_ns)
        self._check_over_current(reading.current_a, now_ns)

    def _check_over_voltage(self, voltage_v: float, now_ns: int) -> None:
        ev_max = self._ev_max_voltage_v
        if ev_max is None:
            return
        limit_v = emergency_over_voltage_v(ev_max)
        if voltage_v >= limit_v:
            self._post("over_voltage_emergency",
                       f"{voltage_v:.1f} V >= {limit_v:.0f} V (IEC 61851-23 Table 103)")
        # The cable-check test voltage may exceed the car's maximum (CC.4.1.2): the chart
        # acts on over_voltage only while delivering, and the timer runs only then.
        if self._delivering and voltage_v > ev_max * (1 + INTERNAL_OVER_VOLTAGE_MARGIN):
            if self._over_voltage_since_ns is None:
                self._over_voltage_since_ns = now_ns
            elif now_ns - self._over_voltage_since_ns >= INTERNAL_OVER_VOLTAGE_DURATION_NS:
                self._post("over_voltage",
                           f"{voltage_v:.1f} V above the car's {ev_max:.0f} V for 400 ms")
        else:
            self._over_voltage_since_ns = None

    def _check_over_current(self, current_a: float, now_ns: int) -> None:
        c = self.config
        setpoint_a = self._sent_setpoint[1] if self._sent_setpoint else 0.0
        allowed_a = setpoint_a + max(c.over_current_margin_a,
                                     c.over_current_margin_fraction * setpoint_a)
        if c.cable_rating_a is not None:
            allowed_a = min(allowed_a, c.cable_rating_a)
        if not self._delivering or abs(current_a) <= allowed_a:
            self._over_current_since_ns = None
            return
        if self._over_current_since_ns is None:
            self._over_current_since_ns = now_ns
        elif now_ns - self._over_current_since_ns >= c.over_current_duration_ns:
            self._post("over_current",
                       f"{current_a:.1f} A against {allowed_a:.1f} A allowed for "
                       f"{c.over_current_duration_ns / 1e6:.0f} ms")

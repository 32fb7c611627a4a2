"""A simulated station behind the `SeccEnv` protocol, for tests and `evse sim`.

Physics is deliberately small: the output voltage follows its setpoint with a first-order
lag (time constant `voltage_tau_ns`), the current follows its clamped setpoint the same way,
isolation is Valid `cable_check_delay_ns` after the test starts. Everything is computed from
`now_ns` on demand (no ticking), so virtual time can jump. Delays and faults are
configurable to provoke the behaviours the SECC must survive (late authorization, late
schedule, slow precharge, lost limits, faults).

A stand-in, not the station: the station's SECC environment is
`evse.runtime.station_env.StationEnv` over the real `PowerPath` and contract guard, and the
SECC's behavioural suites run on that. This one stays for the EV simulator's own server
(`python -m evse.ev`), the replayer, the conformance probe's in-process SECC and the SECC
unit tests that need a condition the real parts do not produce on demand (an arbitrary
`EvseFault` at an instant, a CSMS certificate answer at a chosen delay). It clamps every
CurrentDemand with the power path's own `clamp_request`, so there is one formula.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from evse.contract.limits import DemandClamp, EvseLimits, LimitsSource
from evse.contract.values import IsolationStatus
from evse.power.current_loop import clamp_request
from evse.power.types import EvRequest as PowerRequest
from evse.secc.env import (
    AuthDecision,
    AuthStatus,
    CableCheckResult,
    CableCheckStatus,
    EvInfo,
    EvRequest,
    EvseFault,
    Measurement,
    PaymentMethod,
    PncCertificateAnswer,
    PncKind,
    PncRequest,
    PowerPathStatus,
    Schedule,
    ScheduleEntry,
    SessionEndReason,
    StationRequest,
)

MS = 1_000_000
S = 1_000 * MS
#: The stand-in controller's limits validity: `limits_lost_at_ns` plus this, the limits are
#: derated to zero (the real guard's watchdog is the contract's validity_ms, C2.3).
LIMITS_VALIDITY_NS = 5 * S


@dataclass(slots=True)
class SimEnvConfig:
    max_voltage_v: float = 920.0
    max_current_a: float = 200.0
    max_power_w: float = 150_000.0
    min_current_a: float = 0.0
    min_voltage_v: float = 150.0
    auth_delay_ns: int = 0
    auth_result: AuthStatus = AuthStatus.ACCEPTED
    #: While pending, the driver presents a token this long after the request (then the
    #: controller checks it: plain Ongoing); before that (or never, None) the EIM wait is
    #: "waiting for customer interaction".
    token_after_ns: int | None = None
    schedule_delay_ns: int | None = 0  # None: the controller never provides one
    #: The controller's schedule: SAScheduleTupleID and (start s, PMax W) entries (empty:
    #: one entry of max_power_w).
    schedule_id: int = 1
    schedule_entries: tuple[tuple[int, float], ...] = ()
    cable_check_delay_ns: int = 2 * S
    voltage_tau_ns: int = 100 * MS  # output voltage first-order time constant
    current_tau_ns: int = 50 * MS
    contactor_delay_ns: int = 30 * MS
    output_enable_delay_ns: int = 20 * MS  # converter enable after PowerDelivery(Start)
    sample_period_ns: int = 1 * MS  # measurement snapshot period
    limits_lost_at_ns: int | None = None  # limits stop being refreshed at this time
    fault_at_ns: int | None = None
    fault: EvseFault = EvseFault.NONE
    station_request_at_ns: int | None = None
    station_request: StationRequest = StationRequest.NONE
    #: Plug & Charge: the CSMS's CertificateInstallation/UpdateRes (complete V2G message,
    #: EXI) after `pnc_certificate_delay_ns`; None: the CSMS never answers.
    pnc_certificate_exi: bytes | None = None
    pnc_certificate_accepted: bool = True
    pnc_certificate_delay_ns: int = 200 * MS
    #: Verdict on the contract certificate (OCPP certificateStatus) after its delay.
    pnc_contract_status: AuthStatus = AuthStatus.ACCEPTED
    #: ISO 15118-2 ResponseCode the SECC gives a refused contract (env API).
    pnc_contract_response_code: str = "FAILED"
    pnc_contract_delay_ns: int = 0
    #: The car's pilot state as the SECC reads it: C (ready) unless this says otherwise
    #: (`vehicle_ready`); a callable so a test or the probe's link can switch it.
    vehicle_ready: Callable[[int], bool] = lambda now_ns: True
    #: The simulated meter's register when the session starts (Wh; a real meter counts
    #: from its manufacture, so a receipt's MeterReading is rarely small).
    meter_start_wh: float = 12_345.0


@dataclass(slots=True)
class _Lag:
    """First-order lag: value(t) = target + (start - target) * exp(-(t - t0) / tau)."""

    tau_ns: int
    start: float = 0.0
    target: float = 0.0
    t0_ns: int = 0

    def at(self, now_ns: int) -> float:
        dt = max(0, now_ns - self.t0_ns)
        if self.tau_ns <= 0:
            return self.target
        return self.target + (self.start - self.target) * math.exp(-dt / self.tau_ns)

    def set(self, target: float, now_ns: int) -> None:
        self.start = self.at(now_ns)
        self.t0_ns = now_ns
        self.target = target


@dataclass(slots=True)
class SimEnv:
    """Simulated power path + controller. `calls` records every request (for tests)."""

    config: SimEnvConfig = field(default_factory=SimEnvConfig)
    calls: list[tuple[str, int, tuple[object, ...]]] = field(default_factory=list)
    #: Every EV request (PreChargeReq / CurrentDemandReq targets and DC_EVStatus).
    ev_requests: list[tuple[int, EvRequest]] = field(default_factory=list)
    #: (time, message, EVErrorCode) of every CableCheckReq / PowerDeliveryReq(Start).
    ev_statuses: list[tuple[int, str, str]] = field(default_factory=list)
    ev: EvInfo | None = None
    ended: SessionEndReason | None = None
    pnc: list[PncRequest] = field(default_factory=list)
    _voltage: _Lag = field(init=False)
    _current: _Lag = field(init=False)
    _auth_requested_ns: int | None = None
    _cable_check_started_ns: int | None = None
    _contactors_closed_ns: int | None = None
    _output_enabled: bool = False
    _output_enabled_ns: int = 0
    _pnc_certificate_ns: int | None = None
    _pnc_contract_ns: int | None = None
    #: The car asked for the schedule again after the renegotiation request (the request is
    #: then answered, as StationEnv does: a renegotiation is asked once per change).
    _renegotiated: bool = False
    #: The simulated meter: its register (Wh) and when it last counted.
    _meter_wh: float = 0.0
    _meter_ns: int | None = None

    def __post_init__(self) -> None:
        self._voltage = _Lag(self.config.voltage_tau_ns)
        self._current = _Lag(self.config.current_tau_ns)

    # ---------------------------------------------------------------- physics (tests)
    def physical_voltage_v(self, now_ns: int) -> float:
        """The voltage really on the inlet now (what an EV measures)."""
        return self._voltage.at(now_ns)

    def physical_current_a(self, now_ns: int) -> float:
        return self._current.at(now_ns) if self._output_enabled else 0.0

    # ---------------------------------------------------------------- reads
    def measurement(self, now_ns: int) -> Measurement:
        period = max(1, self.config.sample_period_ns)
        at = (now_ns // period) * period
        return Measurement(
            voltage_v=self.physical_voltage_v(at),
            current_a=self.physical_current_a(at),
            at_ns=at,
            isolation=self._isolation(now_ns),
        )

    def meter_energy_wh(self, now_ns: int) -> float | None:
        """The simulated meter's register: it counts the output's power (V x I at each
        reading, held since the last one), as a meter's register does."""
        if self._meter_ns is None:
            self._meter_ns, self._meter_wh = now_ns, self.config.meter_start_wh
        dt_s = max(0, now_ns - self._meter_ns) / 1e9
        self._meter_wh += (self.physical_voltage_v(now_ns) * self.physical_current_a(now_ns)
                           * dt_s / 3600.0)
        self._meter_ns = now_ns
        return self._meter_wh

    def _isolation(self, now_ns: int) -> IsolationStatus:
        st = self.cable_check(now_ns).status
        if st is CableCheckStatus.FAULT:
            return IsolationStatus.FAULT
        if st is CableCheckStatus.VALID:
            return IsolationStatus.VALID
        return IsolationStatus.INVALID

    def rated_limits(self) -> EvseLimits:
        c = self.config
        return EvseLimits(c.max_voltage_v, c.max_current_a, c.max_power_w, c.min_current_a,
                          LimitsSource.RATED, min_voltage_v=c.min_voltage_v)

    def limits(self, now_ns: int) -> EvseLimits:
        c = self.config
        lost = c.limits_lost_at_ns
        if lost is not None and now_ns - lost > LIMITS_VALIDITY_NS:
            return EvseLimits(c.max_voltage_v, 0.0, 0.0, 0.0, LimitsSource.DERATED_TO_ZERO,
                              min_voltage_v=c.min_voltage_v)
        return EvseLimits(c.max_voltage_v, c.max_current_a, c.max_power_w, c.min_current_a,
                          LimitsSource.CONTROLLER, min_voltage_v=c.min_voltage_v)

    def auth_decision(self, now_ns: int) -> AuthDecision:
        t = self._auth_requested_ns
        if t is None or now_ns - t < self.config.auth_delay_ns:
            token = self.config.token_after_ns
            waiting = t is not None and (token is None or now_ns - t < token)
            return AuthDecision(AuthStatus.PENDING, waiting_for_customer=waiting)
        return AuthDecision(self.config.auth_result)

    def schedule(self, now_ns: int) -> Schedule | None:
        if self.station_request(now_ns) is StationRequest.RENEGOTIATE:
            self._renegotiated = True
        d = self.config.schedule_delay_ns
        t = self._auth_requested_ns or 0
        if d is None or now_ns - t < d:
            return None
        c = self.config
        entries = tuple(ScheduleEntry(t, p) for t, p in c.schedule_entries) or (
            ScheduleEntry(0, c.max_power_w),)
        return Schedule(c.schedule_id, entries, 86_400)

    def cable_check(self, now_ns: int) -> CableCheckResult:
        t = self._cable_check_started_ns
        if t is None:
            return CableCheckResult(CableCheckStatus.IDLE)
        if now_ns - t < self.config.cable_check_delay_ns:
            return CableCheckResult(CableCheckStatus.ONGOING)
        return CableCheckResult(CableCheckStatus.VALID)

    def power_path(self, now_ns: int) -> PowerPathStatus:
        t = self._contactors_closed_ns
        closed = t is not None and now_ns - t >= self.config.contactor_delay_ns
        ready = (closed and self._output_enabled
                 and now_ns - self._output_enabled_ns >= self.config.output_enable_delay_ns)
        return PowerPathStatus(contactors_closed=closed, output_ready=ready)

    def fault(self, now_ns: int) -> EvseFault:
        c = self.config
        if c.fault_at_ns is not None and now_ns >= c.fault_at_ns:
            return c.fault
        return EvseFault.NONE

    def station_request(self, now_ns: int) -> StationRequest:
        c = self.config
        if c.station_request_at_ns is not None and now_ns >= c.station_request_at_ns:
            if c.station_request is StationRequest.RENEGOTIATE and self._renegotiated:
                return StationRequest.NONE
            return c.station_request
        return StationRequest.NONE

    def pnc_certificate_answer(self, now_ns: int) -> PncCertificateAnswer | None:
        c, t = self.config, self._pnc_certificate_ns
        if t is None or c.pnc_certificate_exi is None or now_ns - t < (
                c.pnc_certificate_delay_ns):
            return None
        if not c.pnc_certificate_accepted:
            return PncCertificateAnswer(False)
        return PncCertificateAnswer(True, c.pnc_certificate_exi)

    def vehicle_ready(self, now_ns: int) -> bool:
        return self.config.vehicle_ready(now_ns)

    def ev_gone(self, now_ns: int) -> bool:
        """No pilot here: the car is gone only when its connection is (the station's env
        reads PP and CP, evse/runtime/station_env.py)."""
        return False

    def pnc_contract_status(self, now_ns: int) -> AuthStatus:
        t = self._pnc_contract_ns
        if t is None or now_ns - t < self.config.pnc_contract_delay_ns:
            return AuthStatus.PENDING
        return self.config.pnc_contract_status

    def pnc_contract_response_code(self, now_ns: int) -> str:
        if self.pnc_contract_status(now_ns) is not AuthStatus.REJECTED:
            return "FAILED"
        return self.config.pnc_contract_response_code

    # ---------------------------------------------------------------- requests
    def _log(self, name: str, now_ns: int, *args: object) -> None:
        self.calls.append((name, now_ns, args))

    def call_names(self) -> list[str]:
        return [c[0] for c in self.calls]

    def ev_info(self, info: EvInfo, now_ns: int) -> None:
        self.ev = info
        self._log("ev_info", now_ns, info)

    def ev_charging_profile(self, schedule_id: int, entries: list[tuple[int, float]],
                            now_ns: int) -> None:
        self._log("ev_charging_profile", now_ns, schedule_id, entries)

    def ev_request(self, request: EvRequest, now_ns: int) -> None:
        # Kept apart from `calls`: telemetry, not a request to the power path.
        self.ev_requests.append((now_ns, request))

    def ev_status(self, message: str, ev_error_code: str, now_ns: int) -> None:
        self.ev_statuses.append((now_ns, message, ev_error_code))

    def request_authorization(self, method: PaymentMethod, now_ns: int) -> None:
        if self._auth_requested_ns is None:
            self._auth_requested_ns = now_ns
        self._log("request_authorization", now_ns, method)

    def start_cable_check(self, target_voltage_v: float, now_ns: int) -> None:
        self._cable_check_started_ns = now_ns
        self._contactors_closed_ns = now_ns
        self._voltage.set(target_voltage_v, now_ns)
        self._log("start_cable_check", now_ns, target_voltage_v)

    def precharge(self, target_voltage_v: float, target_current_a: float, now_ns: int) -> None:
        if self._voltage.target != target_voltage_v:
            self._voltage.set(target_voltage_v, now_ns)
        self._log("precharge", now_ns, target_voltage_v, target_current_a)

    def power_delivery(self, start: bool, now_ns: int) -> None:
        self._output_enabled = start
        if start:
            self._output_enabled_ns = now_ns
            if self._contactors_closed_ns is None:
                self._contactors_closed_ns = now_ns
        else:
            self._current.set(0.0, now_ns)
        self._log("power_delivery", now_ns, start)

    def current_demand(self, target_voltage_v: float, target_current_a: float,
                       now_ns: int) -> DemandClamp:
        out = clamp_request(PowerRequest(target_voltage_v, target_current_a),
                            self.limits(now_ns), self.measurement(now_ns).voltage_v)
        if self._voltage.target != out.voltage_v:
            self._voltage.set(out.voltage_v, now_ns)
        if self._current.target != out.current_a:
            self._current.set(out.current_a, now_ns)
        self._log("current_demand", now_ns, out.voltage_v, out.current_a)
        return out

    def start_welding_detection(self, now_ns: int) -> None:
        self._contactors_closed_ns = None
        self._voltage.set(0.0, now_ns)
        self._log("start_welding_detection", now_ns)

    def pnc_request(self, request: PncRequest, now_ns: int) -> None:
        self.pnc.append(request)
        if request.kind is PncKind.PAYMENT_DETAILS:
            self._pnc_contract_ns = now_ns
        elif request.kind in (PncKind.CERTIFICATE_INSTALLATION, PncKind.CERTIFICATE_UPDATE):
            self._pnc_certificate_ns = now_ns
        self._log("pnc_request", now_ns, request.kind)

    def session_ended(self, reason: SessionEndReason, now_ns: int) -> None:
        self.ended = reason
        self._output_enabled = False
        self._current.set(0.0, now_ns)
        self._log("session_ended", now_ns, reason)

"""`SeccEnv` bound to the real cores: power path, pilot, contract guard.

The SECC reads the latest published state and never waits (P0 item 1): every read here is a
lookup of what the power path, the pilot and the contract guard last computed; every write
is a call into a sans-IO core or a queued publish on the contract. What the car is told as
present voltage/current is the power path's measurement snapshot, the same sample the
regulation used (P0 item 2), never a setpoint.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from evse.contract.guard import AuthDecision as GuardAuth, PlcContractGuard, PncAnswerState
from evse.contract.limits import DemandClamp, EvseLimits
from evse.contract.values import (
    CertificateOperation,
    CertificateResponseStatus,
    ContractCertificateStatus,
    CtrlSchedule,
    EvErrorCode,
    IsolationStatus,
    MeasDcOutput,
    PaymentOption,
    PlcAuthRequest,
    PlcEvccid,
    PlcEvChargingProfile,
    PlcEvLimits,
    PlcEvRequest,
    PlcPncAuthorizationRequest,
    PlcPncCertificateRequest,
    PlcSessionEvent,
    RequestSource,
    ScheduleEntry as ContractScheduleEntry,
    SessionEventKind,
    StopReason,
    V2gProtocol,
)
from evse.power.controller import PowerPath
from evse.power.faults import FaultReason, Severity
from evse.power.types import EvRequest, Phase, PowerPathUsageError
from evse.secc.env import (
    AppProtocol,
    AuthDecision,
    AuthStatus,
    CableCheckResult,
    CableCheckStatus,
    EvInfo,
    EvRequest as CarRequest,
    EvRequestSource,
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
from evse.secc.schedule import Offered, rebase, same_in_value

#: Duration announced for a controller schedule (the contract carries entries only): 24 h,
#: the same as the SECC's own default schedule (evse/secc/config.py).
SCHEDULE_DURATION_S = 86_400

#: Controller certificate verdict (ctrl.pnc_authorization_response, OCPP 2.0.1
#: AuthorizeCertificateStatusEnumType) -> the ISO 15118-2 responseCodeType the car gets in
#: AuthorizationRes, one for one where ISO 15118-2 has the code (its FAILED_Certificate*
#: and FAILED_CertChainError/FAILED_ContractCanceled values).
CONTRACT_RESPONSE_CODE = {
    ContractCertificateStatus.CERTIFICATE_EXPIRED: "FAILED_CertificateExpired",
    ContractCertificateStatus.CERTIFICATE_REVOKED: "FAILED_CertificateRevoked",
    ContractCertificateStatus.NO_CERTIFICATE_AVAILABLE: "FAILED_NoCertificateAvailable",
    ContractCertificateStatus.CERT_CHAIN_ERROR: "FAILED_CertChainError",
    ContractCertificateStatus.SIGNATURE_ERROR: "FAILED_SignatureError",
    ContractCertificateStatus.CONTRACT_CANCELLED: "FAILED_ContractCanceled",
}

#: DC_EVErrorCodeType (EXI value, DIN SPEC 70121 and ISO 15118-2 alike) -> contract EvErrorCode.
EV_ERROR_CODES: dict[str, EvErrorCode] = {
    "NO_ERROR": EvErrorCode.NO_ERROR,
    "FAILED_RESSTemperatureInhibit": EvErrorCode.FAILED_RESS_TEMPERATURE_INHIBIT,
    "FAILED_EVShiftPosition": EvErrorCode.FAILED_EV_SHIFT_POSITION,
    "FAILED_ChargerConnectorLockFault": EvErrorCode.FAILED_CHARGER_CONNECTOR_LOCK_FAULT,
    "FAILED_EVRESSMalfunction": EvErrorCode.FAILED_EV_RESS_MALFUNCTION,
    "FAILED_ChargingCurrentdifferential": EvErrorCode.FAILED_CHARGING_CURRENT_DIFFERENTIAL,
    "FAILED_ChargingVoltageOutOfRange": EvErrorCode.FAILED_CHARGING_VOLTAGE_OUT_OF_RANGE,
    "Reserved_A": EvErrorCode.RESERVED_A,
    "Reserved_B": EvErrorCode.RESERVED_B,
    "Reserved_C": EvErrorCode.RESERVED_C,
    "FAILED_ChargingSystemIncompatibility": EvErrorCode.FAILED_CHARGING_SYSTEM_INCOMPATIBILITY,
    "NoData": EvErrorCode.NO_DATA,
}

#: DC_EVErrorCodeType values that are no error: NO_ERROR, and NoData (the car has no
#: diagnosis to give; stopping on it would stop cars that never set the field) [assumed].
_NOT_AN_ERROR = frozenset({"NO_ERROR", "NoData"})

_REQUEST_SOURCES = {
    EvRequestSource.PRE_CHARGE: RequestSource.PRE_CHARGE,
    EvRequestSource.CURRENT_DEMAND: RequestSource.CURRENT_DEMAND,
}


@dataclass
class PilotView:
    """What the env needs from the pilot core."""

    contactors_closed: Callable[[], bool]
    emergency: Callable[[], bool]
    #: The pilot holds power off for a fault: F (EVSE not available) or E (CP shorted to PE,
    #: pilot or diode fault, IEC 61851-1 Annex A); the car is told, not left to time out.
    faulted: Callable[[], bool]
    #: The car was unplugged (CP A) since the session began.
    unplugged: Callable[[], bool] = lambda: False
    #: The pilot holds the car in plugged.proximity_open (PP open with the car in).
    pp_open: Callable[[], bool] = lambda: False
    #: The debounced pilot level is C or D (the car's S2 closed).
    vehicle_ready: Callable[[], bool] = lambda: True
    #: The pilot says the car is gone with the TCP connection still up: PP open confirmed
    #: with the car on the pilot, or CP in E (SeccEnv.ev_gone).
    ev_gone: Callable[[], bool] = lambda: False


#: Why the V2G session ended, as the contract's stop reason, where nothing more specific
#: (a controller/guard stop, an e-stop, a power fault, an unplug) explains it.
_END_REASONS: dict[SessionEndReason, StopReason] = {
    SessionEndReason.EV_STOP: StopReason.EV_REQUESTED,
    SessionEndReason.EV_PAUSE: StopReason.EV_REQUESTED,
    SessionEndReason.SEQUENCE_ERROR: StopReason.V2G_PROTOCOL_ERROR,
    SessionEndReason.UNKNOWN_SESSION: StopReason.V2G_PROTOCOL_ERROR,
    SessionEndReason.MALFORMED: StopReason.V2G_PROTOCOL_ERROR,
    SessionEndReason.NO_NEGOTIATION: StopReason.V2G_PROTOCOL_ERROR,
    SessionEndReason.SEQUENCE_TIMEOUT: StopReason.V2G_TIMEOUT,
    SessionEndReason.CONNECTION_LOST: StopReason.V2G_TIMEOUT,
    SessionEndReason.EV_GONE: StopReason.FAULT,
    SessionEndReason.AUTH_REJECTED: StopReason.AUTH_REJECTED,
    SessionEndReason.AUTH_TIMEOUT: StopReason.AUTH_TIMEOUT,
    SessionEndReason.CABLE_CHECK_FAULT: StopReason.FAULT,
    SessionEndReason.CABLE_CHECK_TIMEOUT: StopReason.FAULT,
    SessionEndReason.POWER_DELIVERY_FAILED: StopReason.FAULT,
    SessionEndReason.EVSE_FAULT: StopReason.FAULT,
    SessionEndReason.EVSE_STOP_NOT_HONOURED: StopReason.CONTROLLED_STOP_TIMEOUT,
    SessionEndReason.INTERNAL_ERROR: StopReason.FAULT,
    # The car's ChargeParameterDiscovery / service selection carried values it must not.
    SessionEndReason.PARAMETER_ERROR: StopReason.EV_ERROR,
}


def _to_schedule(s: CtrlSchedule) -> Schedule | None:
    entries = tuple(
        ScheduleEntry(int(e.start_offset_s), float(e.max_power_w)) for e in s.entries
    )
    if not entries:
        return None
    return Schedule(schedule_id=max(1, min(255, int(s.schedule_id))), entries=entries,
                    duration_s=SCHEDULE_DURATION_S)


class StationEnv:
    """The `SeccEnv` of a station: one per charging point, across sessions."""

    def __init__(
        self,
        power: PowerPath,
        guard: PlcContractGuard,
        pilot: PilotView,
        publish: Callable[[object, int], None],
        *,
        on_session_end: Callable[[SessionEndReason, int], None],
        on_pnc_request: Callable[[PncRequest, int], None] | None = None,
        on_precharge: Callable[[float], None] | None = None,
        meter_energy_wh: Callable[[], float | None] = lambda: None,
    ) -> None:
        #: The station's one meter register (DcStation keeps the latest reading's
        #: energy_wh): MeterInfo.MeterReading and plc.meas_dc_output read the same value.
        self._meter_energy_wh = meter_energy_wh
        self.power = power
        self.guard = guard
        self.pilot = pilot
        self._publish = publish
        self._on_session_end = on_session_end
        self._on_pnc = on_pnc_request
        self._on_precharge = on_precharge
        self.ev: EvInfo | None = None
        #: What the car was given at its last ChargeParameterDiscovery, and the latest
        #: controller schedule (with the instant it was first seen).
        self._served: Offered | None = None
        self._served_ctrl: CtrlSchedule | None = None
        self._latest_ctrl: CtrlSchedule | None = None
        self._latest: Offered | None = None
        self._auth_option: PaymentOption | None = None
        #: The EXI payload being handled (set by the station before the SECC sees it), so a
        #: PnC request can be passed through byte for byte.
        self.last_payload = b""
        self._pnc_seq = 0
        self._pnc_certificate_rid: int | None = None
        self._pnc_authorization_rid: int | None = None
        self.requests: list[tuple[str, int]] = []
        self.usage_errors: list[str] = []
        #: The car reported an error (EVErrorCode != NO_ERROR) or not ready (EVReady=false)
        #: in PreChargeReq / CurrentDemandReq this session: what it said, when.
        self.ev_error: tuple[str, int] | None = None
        #: PowerDelivery(Start) was answered and no PowerDelivery(Stop) / session end
        #: followed: what a controller that takes over mid-charge must be retold.
        self._delivering = False

    # ---------------------------------------------------------------- reads
    def measurement(self, now_ns: int) -> Measurement:
        snap = self.power.snapshot
        if snap is None:
            return Measurement(0.0, 0.0, now_ns, IsolationStatus.INVALID)
        return Measurement(
            snap.voltage_v, snap.current_a, snap.timestamp_ns, snap.isolation_level
        )

    def limits(self, now_ns: int) -> EvseLimits:
        # The guard's envelope of this instant, never above what the modules can do now:
        # the same record `current_demand` clamps with.
        return self.power.limits(now_ns, self.guard.effective_limits(now_ns))

    def rated_limits(self) -> EvseLimits:
        return self.guard.cpd_limits().as_limits()

    def auth_decision(self, now_ns: int) -> AuthDecision:
        """The controller's decision, except while the pilot holds PP open: a plug whose
        proximity reads open is not latched (reference A1: S0 -> S1 needs PP connected), no
        5 % PWM and no power are given (iec61851.yaml plugged.proximity_open), and the
        controller will not authorize a Faulted connector, so the car would hear Ongoing
        until its own 60 s V2G_EVCC_Ongoing_Timeout (fault campaign pp_lost@authorization,
        bench seed 7). Rejected instead: the SECC answers FAILED and ends the session at
        the next AuthorizationReq (<= one Ongoing period after t_pp_open_confirm)."""
        if self.pilot.pp_open():
            return AuthDecision(AuthStatus.REJECTED, "proximity open: the plug is not latched")
        d = self.guard.auth_decision(now_ns)
        if d is GuardAuth.ACCEPTED:
            return AuthDecision(AuthStatus.ACCEPTED)
        if d is GuardAuth.REJECTED:
            return AuthDecision(AuthStatus.REJECTED, "controller rejected")
        if d is GuardAuth.TIMED_OUT:
            return AuthDecision(AuthStatus.REJECTED, "authorization timed out", timed_out=True)
        return AuthDecision(AuthStatus.PENDING,
                            waiting_for_customer=self.guard.auth_waiting_for_customer(now_ns))

    def _seen(self, now_ns: int) -> tuple[CtrlSchedule, Offered | None]:
        """The controller's schedule now, with the instant its offsets count from: when this
        env first saw it (the contract carries no publication time; the SECC looks at every
        request, so this is at most one request period late)."""
        s = self.guard.schedule(now_ns)
        if s != self._latest_ctrl:
            self._latest_ctrl = s
            conv = _to_schedule(s)
            self._latest = None if conv is None else Offered(conv, now_ns)
        return s, self._latest

    def schedule(self, now_ns: int) -> Schedule | None:
        # What the car is given (at CPD or renegotiation): a later change in value is
        # renegotiated (station_request).
        ctrl, latest = self._seen(now_ns)
        self._served_ctrl = ctrl
        if latest is None:
            self._served = None
            return None
        # the car counts the offsets from the response it gets now
        self._served = Offered(rebase(latest, now_ns), now_ns)
        return self._served.schedule

    def cable_check(self, now_ns: int) -> CableCheckResult:
        phase = self.power.phase
        if phase is Phase.CABLE_CHECK:
            return CableCheckResult(CableCheckStatus.ONGOING)
        if phase in (Phase.CABLE_CHECK_DONE, Phase.PRECHARGE, Phase.CHARGING):
            level = self.power.status.isolation_level
            if level in (IsolationStatus.VALID, IsolationStatus.WARNING):
                return CableCheckResult(CableCheckStatus.VALID)
        fault = self.power.fault
        if fault is not None or phase is Phase.FAULTED:
            return CableCheckResult(CableCheckStatus.FAULT,
                                    fault.detail if fault else "power path faulted")
        withdrawn = self.power.check_withdrawn
        if withdrawn is not None:  # the pilot refused the contactors: no check now
            return CableCheckResult(CableCheckStatus.FAULT, f"the pilot refused power: {withdrawn}")
        return CableCheckResult(CableCheckStatus.IDLE)

    def pnc_certificate_answer(self, now_ns: int) -> PncCertificateAnswer | None:
        rid = self._pnc_certificate_rid
        if rid is None:
            return None
        answer = self.guard.pnc_certificate_answer(rid, now_ns)
        if answer.state is PncAnswerState.PENDING:
            return None
        res = answer.response
        if answer.state is PncAnswerState.TIMED_OUT or res is None:
            return PncCertificateAnswer(False)
        return PncCertificateAnswer(res.status is CertificateResponseStatus.ACCEPTED,
                                    res.exi_response)

    def vehicle_ready(self, now_ns: int) -> bool:
        return self.pilot.vehicle_ready()

    def ev_gone(self, now_ns: int) -> bool:
        return self.pilot.ev_gone()

    def meter_energy_wh(self, now_ns: int) -> float | None:
        return self._meter_energy_wh()

    def pnc_contract_status(self, now_ns: int) -> AuthStatus:
        rid = self._pnc_authorization_rid
        verdict = None if rid is None else self.guard.pnc_authorization.get(rid)
        if verdict is None:
            return AuthStatus.PENDING
        if verdict.certificate_status is ContractCertificateStatus.ACCEPTED:
            return AuthStatus.ACCEPTED
        return AuthStatus.REJECTED

    def pnc_contract_response_code(self, now_ns: int) -> str:
        rid = self._pnc_authorization_rid
        verdict = None if rid is None else self.guard.pnc_authorization.get(rid)
        if verdict is None:
            return "FAILED"
        return CONTRACT_RESPONSE_CODE.get(verdict.certificate_status, "FAILED")

    def power_path(self, now_ns: int) -> PowerPathStatus:
        closed = self.pilot.contactors_closed()
        ready = closed and self.power.phase is Phase.CHARGING
        return PowerPathStatus(contactors_closed=closed, output_ready=ready)

    def fault(self, now_ns: int) -> EvseFault:
        if self.pilot.emergency():
            return EvseFault.EMERGENCY
        fault = self.power.fault
        if fault is not None:
            if fault.reason is FaultReason.INSULATION_FAULT:
                return EvseFault.ISOLATION
            if fault.severity is Severity.EMERGENCY:
                return EvseFault.EMERGENCY
            return EvseFault.MALFUNCTION
        if self.pilot.faulted():
            return EvseFault.MALFUNCTION
        return EvseFault.NONE

    def station_request(self, now_ns: int) -> StationRequest:
        if (self.guard.stop_request(now_ns) is not None or self.ev_error is not None
                or self.pilot.pp_open()):
            # PP open: the pilot has cut PWM and power already; the car is told to stop.
            return StationRequest.STOP
        # ISO 15118-2 only: the controller's schedule changed in value (a new OCPP charging
        # profile) after the car got its SAScheduleList => EVSENotification ReNegotiation
        # until the car has renegotiated (it asks for the schedule again). A republished
        # schedule with the same id, or a new id for the same power over time (the
        # controller republishes at transaction start), is not a change for the car.
        # DIN has no renegotiation.
        if (self._served_ctrl is not None and self.ev is not None
                and self.ev.protocol is AppProtocol.ISO15118_2
                and self.power.phase is Phase.CHARGING
                and self._schedule_changed(now_ns)):
            return StationRequest.RENEGOTIATE
        return StationRequest.NONE

    def _schedule_changed(self, now_ns: int) -> bool:
        ctrl, latest = self._seen(now_ns)
        served = self._served
        if ctrl == self._served_ctrl or latest is None or served is None:
            return False
        if latest.schedule.schedule_id == served.schedule.schedule_id:
            return False  # the controller mints a new id for every change in value
        return not same_in_value(served, latest, now_ns)

    # ---------------------------------------------------------------- requests
    def _note(self, name: str, now_ns: int) -> None:
        self.requests.append((name, now_ns))

    def ev_info(self, info: EvInfo, now_ns: int) -> None:
        first = self.ev is None or self.ev.evccid != info.evccid
        self.ev = info
        if first:
            protocol = (V2gProtocol.DIN70121 if info.protocol is AppProtocol.DIN70121
                        else V2gProtocol.ISO15118_2)
            self._publish(PlcEvccid(evccid=info.evccid.hex().upper(), protocol=protocol), now_ns)
            self._publish(PlcSessionEvent(event=SessionEventKind.SESSION_SETUP), now_ns)
        if info.max_voltage_v is not None and info.max_current_a is not None:
            self._publish(
                PlcEvLimits(
                    ev_max_voltage_v=info.max_voltage_v,
                    ev_max_current_a=info.max_current_a,
                    ev_max_power_w=info.max_power_w,
                    soc_pct=info.soc_pct,
                    energy_capacity_wh=info.energy_capacity_wh,
                    energy_request_wh=info.energy_request_wh,
                ),
                now_ns,
            )

    def ev_charging_profile(self, schedule_id: int, entries: list[tuple[int, float]],
                            now_ns: int) -> None:
        """plc.ev_charging_profile: the car's plan, at most the contract's 24 entries (ISO
        15118-2 allows 24 ProfileEntry), to the controller as sent."""
        self._publish(PlcEvChargingProfile(
            schedule_id=schedule_id,
            entries=tuple(ContractScheduleEntry(start_offset_s=start, max_power_w=power)
                          for start, power in entries[:24])), now_ns)

    def ev_request(self, request: CarRequest, now_ns: int) -> None:
        """plc.ev_request: every PreChargeReq / CurrentDemandReq, as the car sent it.

        A car that reports an error (DC_EVStatus.EVErrorCode other than NO_ERROR) or that it
        is not ready (EVReady=false) during PreCharge or CurrentDemand ends the energy
        transfer: DIN SPEC 70121 [V2G-DC-499..501] / ISO 15118-2 [V2G2-...] leave the
        stop to the car, and the EVSE must not keep pushing current into a vehicle that
        says it cannot take it. The station asks the SECC to stop (station_request STOP:
        0 A and EVSE_Shutdown / StopCharging in the answer, the car then sends
        PowerDelivery(Stop)), reports plc.fault EV_ERROR (self-clearing: with the car)
        and ends the session with StopReason.EV_ERROR. The first report is kept."""
        self._note_ev_error(request.source.value, request.ev_error_code, now_ns)
        if not request.ev_ready:
            self._note_ev_error(request.source.value, "EVReady=false", now_ns)
        self._publish(PlcEvRequest(
            source=_REQUEST_SOURCES[request.source],
            target_voltage_v=min(request.target_voltage_v, 1500.0),
            target_current_a=min(request.target_current_a, 1000.0),
            charge_complete=request.charge_complete,
            bulk_charge_complete=request.bulk_charge_complete,
            soc_pct=request.soc_pct,
            ev_ready=request.ev_ready,
            ev_error_code=EV_ERROR_CODES.get(request.ev_error_code, EvErrorCode.NO_DATA),
            remaining_time_to_full_soc_s=request.remaining_time_to_full_soc_s,
        ), now_ns)

    def ev_status(self, message: str, ev_error_code: str, now_ns: int) -> None:
        """CableCheckReq / PowerDeliveryReq(Start) DC_EVStatus: an EVErrorCode stops the
        session as in `ev_request` (before any energy flows: the cable check is answered
        EVSE_Shutdown, CurrentDemand gives 0 A). EVReady is not read here [assumed]: it is
        a stop condition once energy flows (PreCharge, CurrentDemand, `ev_request`); before
        that a car may still be getting ready, and stopping on it would refuse such cars."""
        self._note_ev_error(message, ev_error_code, now_ns)

    def _note_ev_error(self, where: str, code: str, now_ns: int) -> None:
        """The first error the car reports is kept (plc.fault EV_ERROR, StopReason.EV_ERROR)."""
        if self.ev_error is None and code not in _NOT_AN_ERROR:
            self.ev_error = (f"{where}: {code}", now_ns)

    def request_authorization(self, method: PaymentMethod, now_ns: int) -> None:
        option = PaymentOption.CONTRACT if method is PaymentMethod.CONTRACT else PaymentOption.EIM
        self.guard.auth_requested(option, now_ns)
        self._auth_option = option
        self._publish(PlcAuthRequest(payment_option=option), now_ns)
        self._note("request_authorization", now_ns)

    def retell(self, now_ns: int) -> None:
        """After a controller restart: the session facts it lost (EVCCID, EV limits) and the
        authorization request while the decision is still open (guard ControllerRestarted)."""
        ev = self.ev
        if ev is not None:
            self.ev = None  # ev_info publishes everything again for a "new" EV
            self.ev_info(ev, now_ns)
        if self._auth_option is not None and self.guard.auth_decision(now_ns) is GuardAuth.ONGOING:
            self._publish(PlcAuthRequest(payment_option=self._auth_option), now_ns)
        if self._delivering:
            # Energy is flowing: without this the newcomer (which starts or resumes the
            # transaction on POWER_DELIVERY_START) would only hear of the session's end.
            self._publish(PlcSessionEvent(event=SessionEventKind.POWER_DELIVERY_START), now_ns)

    def stop_reason(self, end: SessionEndReason | None, now_ns: int) -> StopReason:
        """The one decision of why a session (end given) or its energy transfer (end None)
        stopped, for plc.session_event. Most specific first: what the PLC's guard decided
        (controller command, authorization, limits, link), an e-stop, a power fault, the
        car leaving, then how the V2G session itself ended; a car's own stop otherwise."""
        guard_reason = self.guard.stop_reason
        if guard_reason is not None:
            return guard_reason
        fault = self.power.fault
        if self.pilot.emergency() or (fault is not None
                                      and fault.reason is FaultReason.EMERGENCY_STOP):
            return StopReason.EMERGENCY_STOP
        if fault is not None or self.pilot.faulted():
            return StopReason.FAULT
        if self.ev_error is not None:
            return StopReason.EV_ERROR
        # PP open with the car still on the pilot is the plug being pulled: the proximity
        # contact breaks first when a plug is withdrawn (IEC 62196 contact sequence,
        # IEC 61851-1 proximity detection), so the session ends as the car leaving, not as
        # a station fault (fault campaign pp_lost: the CSMS saw Other, not EVDisconnected).
        if self.pilot.unplugged() or self.pilot.pp_open():
            return StopReason.EV_UNPLUGGED
        if end is None:
            return StopReason.EV_REQUESTED
        return _END_REASONS[end]

    def _call(self, name: str, fn: Callable[[], object], now_ns: int) -> None:
        self._note(name, now_ns)
        try:
            fn()
        except PowerPathUsageError as exc:
            # A request the power path refuses in its phase: the SECC sees the consequence
            # through cable_check()/power_path()/fault() on the next request.
            self.usage_errors.append(f"{name}: {exc}")

    def start_cable_check(self, target_voltage_v: float, now_ns: int) -> None:
        self._call("start_cable_check",
                   lambda: self.power.start_cable_check(target_voltage_v, now_ns), now_ns)

    def precharge(self, target_voltage_v: float, target_current_a: float, now_ns: int) -> None:
        if self._on_precharge is not None:
            self._on_precharge(target_voltage_v)
        self._call("precharge", lambda: self.power.precharge(
            EvRequest(target_voltage_v, target_current_a), now_ns), now_ns)

    def power_delivery(self, start: bool, now_ns: int) -> None:
        if start:
            if self.power.phase is not Phase.CHARGING:
                self._call("power_delivery_start", lambda: self.power.start_charging(now_ns),
                           now_ns)
            self._publish(PlcSessionEvent(event=SessionEventKind.POWER_DELIVERY_START), now_ns)
            self._delivering = True
        else:
            self._delivering = False
            self._call("power_delivery_stop", lambda: self.power.stop(now_ns), now_ns)
            self._publish(PlcSessionEvent(event=SessionEventKind.POWER_DELIVERY_STOP,
                                          stop_reason=self.stop_reason(None, now_ns)), now_ns)

    def current_demand(self, target_voltage_v: float, target_current_a: float,
                       now_ns: int) -> DemandClamp:
        """The power path clamps with the guard's envelope of this instant (taken in now,
        not at the next power tick) and regulates to it; outside CHARGING nothing is
        applied and the answer is what it would regulate to."""
        request = EvRequest(target_voltage_v, target_current_a)
        envelope = self.guard.effective_limits(now_ns)
        if self.power.phase is Phase.CHARGING:
            try:
                return self.power.current_demand(request, now_ns, envelope)
            except PowerPathUsageError as exc:
                self.usage_errors.append(f"current_demand: {exc}")
        return self.power.clamp(request, now_ns, envelope)

    def start_welding_detection(self, now_ns: int) -> None:
        # The power path runs its welding check by itself after every stop (evse/power).
        self._note("start_welding_detection", now_ns)

    def pnc_request(self, request: PncRequest, now_ns: int) -> None:
        """Plug & Charge: hand the car's request to the controller through the contract
        (B2 PnC pass-through): certificate requests as the car's own EXI bytes, the contract
        authorization as eMAID + certificate chain."""
        self._note("pnc_request", now_ns)
        self._pnc_seq += 1
        rid = self._pnc_seq
        if request.kind in (PncKind.CERTIFICATE_INSTALLATION, PncKind.CERTIFICATE_UPDATE):
            op = (CertificateOperation.INSTALLATION
                  if request.kind is PncKind.CERTIFICATE_INSTALLATION
                  else CertificateOperation.UPDATE)
            self.guard.pnc_certificate_requested(rid, now_ns)
            self._pnc_certificate_rid = rid
            self._publish(PlcPncCertificateRequest(
                request_id=rid, operation=op, schema_namespace=AppProtocol.ISO15118_2.value,
                exi_request=self.last_payload), now_ns)
        elif request.kind is PncKind.PAYMENT_DETAILS:
            msg = request.message
            chain = getattr(msg, "ContractSignatureCertChain", None)
            if chain is not None:
                self._pnc_authorization_rid = rid
                subs = chain.SubCertificates.Certificate if chain.SubCertificates else []
                self._publish(PlcPncAuthorizationRequest(
                    request_id=rid, emaid=str(msg.eMAID),  # type: ignore[attr-defined]
                    certificate_chain_der=(bytes(chain.Certificate), *map(bytes, subs))),
                    now_ns)
        if self._on_pnc is not None:
            self._on_pnc(request, now_ns)

    def session_ended(self, reason: SessionEndReason, now_ns: int) -> None:
        self._note(f"session_ended:{reason.value}", now_ns)
        self._delivering = False
        self._served = None
        self._served_ctrl = None
        self._auth_option = None
        self._pnc_certificate_rid = self._pnc_authorization_rid = None
        self.power.stop(now_ns)
        self._on_session_end(reason, now_ns)

    # ---------------------------------------------------------------- telemetry
    def meas_signal(self, energy_wh: float) -> MeasDcOutput | None:
        snap = self.power.snapshot
        if snap is None:
            return None
        return MeasDcOutput(
            present_voltage_v=max(0.0, snap.voltage_v),
            present_current_a=max(0.0, snap.current_a),
            energy_wh=max(0.0, energy_wh),
            isolation_status=snap.isolation_level,
            isolation_resistance_ohm=snap.isolation_resistance_ohm,
        )

"""Binding of the controller's PLC port to the controller<->PLC contract (`evse.contract`).

Why a separate module: the core speaks `evse.controller.plc_port`, written before the
contract was on main; this thin adapter turns decoded contract values into port events and
port commands into contract values (each validates itself when built). State signals that
the PLC republishes at 1 Hz (plc.ev_present, plc.v2g_phase) become events only when they
change, so a refresh never re-triggers the chart.

Not carried by contract v1.0 (kept on our side): `ScheduleCmd.renegotiate` (the PLC is
expected to renegotiate when a new ctrl.schedule arrives during an ISO-2 session).
"""

from __future__ import annotations

from evse.contract import values as cv
from evse.controller import plc_port as pp

SUSPEND_CURRENT_A = pp.SUSPEND_CURRENT_A


def _short(text: str, n: int = 64) -> str | None:
    return text[:n] or None


class ContractBinding:
    """One per controller<->PLC link (it remembers the last presence and phase)."""

    def __init__(self) -> None:
        self._present: bool | None = None
        self._phase: cv.V2gPhase | None = None
        self._ev_request: cv.PlcEvRequest | None = None
        self._setpoint: cv.PlcPowerSetpoint | None = None
        self._flow: pp.EnergyFlow | None = None

    def link_lost(self) -> None:
        """After a reconnect the PLC re-tells its state: report it again."""
        self._present = None
        self._phase = None
        self._flow = None

    def _energy_flow(self) -> list[pp.PlcEvent]:
        """SuspendedEV vs SuspendedEVSE (OCPP 1.6 §4.9): the car asking for no current is
        the EV's suspension, whatever the setpoint; the car asking while the power stage's
        output is disabled is the EVSE's (a setpoint ramping up from 0 A is not: its output
        is enabled). The controller adds its own cause, a charging limit of 0 (core).
        Only from CurrentDemand: the small PreCharge current is not a charging request."""
        req = self._ev_request
        if req is None or req.source is not cv.RequestSource.CURRENT_DEMAND:
            return []
        sp = self._setpoint
        if req.target_current_a < SUSPEND_CURRENT_A or not req.ev_ready:
            flow = pp.EnergyFlow.SUSPENDED_EV
        elif sp is not None and not sp.enable_output:
            flow = pp.EnergyFlow.SUSPENDED_EVSE
        else:
            flow = pp.EnergyFlow.FLOWING
        if flow is self._flow:
            return []
        self._flow = flow
        return [pp.EnergyFlowChanged(flow)]

    # ------------------------------------------------------------------ PLC -> controller
    def events(self, value: object) -> list[pp.PlcEvent]:
        if isinstance(value, cv.PlcEvPresent):
            return self._presence(value.present, value.connector_id)
        if isinstance(value, cv.PlcSessionEvent):
            return self._session_event(value)
        if isinstance(value, cv.PlcV2gPhase):
            if value.phase is self._phase:
                return []
            self._phase = value.phase
            return [pp.PhaseChanged(pp.V2gPhase(value.phase.value))]
        if isinstance(value, cv.PlcEvMac):
            return [pp.SlacMatched(value.mac, value.run_id or "")]
        if isinstance(value, cv.PlcEvccid):
            return [pp.EvccidReceived(value.evccid)]
        if isinstance(value, cv.PlcAuthRequest):
            return [pp.AuthRequested(pp.PaymentOption(value.payment_option.value))]
        if isinstance(value, cv.PlcPncAuthorizationRequest):
            return [pp.PncAuthorizationRequested(value.request_id, value.emaid,
                                                 tuple(value.certificate_chain_der))]
        if isinstance(value, cv.PlcPncCertificateRequest):
            return [pp.PncCertificateRequested(value.request_id, value.operation.value,
                                               value.schema_namespace, value.exi_request)]
        if isinstance(value, cv.PlcFault):
            return [pp.PlcFault(pp.FaultCode(value.fault_code.value),
                                pp.FaultSeverity(value.severity.value), value.active,
                                value.latched, value.diagnostic_data or "")]
        if isinstance(value, cv.PlcCommandResult):
            return [pp.CommandResult(pp.SessionCommandKind(value.command.value), value.accepted,
                                     value.reason or "")]
        if isinstance(value, cv.MeasDcOutput):
            return [pp.Measurement(value.present_voltage_v, value.present_current_a,
                                   value.energy_wh)]
        if isinstance(value, cv.PlcEvRequest):
            self._ev_request = value
            return self._energy_flow()
        if isinstance(value, cv.PlcPowerSetpoint):
            self._setpoint = value
            return self._energy_flow()
        if isinstance(value, cv.PlcEvLimits):
            return [pp.EvChargingNeeds(
                value.ev_max_voltage_v, value.ev_max_current_a, value.ev_max_power_w,
                value.soc_pct, value.full_soc_pct, value.bulk_soc_pct,
                value.energy_capacity_wh, value.energy_request_wh, value.departure_time_s)]
        if isinstance(value, cv.PlcEvChargingProfile):
            return [pp.EvChargingProfile(value.schedule_id, tuple(
                (e.start_offset_s, e.max_power_w) for e in value.entries))]
        # plc.cp_state, plc.pp_state: telemetry the controller does not act on (A2:
        # milestones drive the chart).
        return []

    def _presence(self, present: bool, connector_id: int = 1) -> list[pp.PlcEvent]:
        if present == self._present:
            return []
        self._present = present
        return [pp.EvPresent(present, connector_id)]

    def _session_event(self, value: cv.PlcSessionEvent) -> list[pp.PlcEvent]:
        kind = value.event
        reason = pp.StopReason(value.stop_reason.value) if value.stop_reason is not None \
            else pp.StopReason.EV_REQUESTED
        if kind is cv.SessionEventKind.EV_PLUGGED:
            return self._presence(True)
        if kind is cv.SessionEventKind.EV_UNPLUGGED:
            return self._presence(False)
        if kind is cv.SessionEventKind.POWER_DELIVERY_START:
            self._ev_request = self._setpoint = None
            self._flow = None
            return [pp.PowerDeliveryStarted()]
        if kind is cv.SessionEventKind.POWER_DELIVERY_STOP:
            self._ev_request = self._setpoint = None
            self._flow = None
            return [pp.PowerDeliveryStopped(reason)]
        if kind is cv.SessionEventKind.SESSION_STOPPED:
            return [pp.SessionEnded(reason)]
        return []  # SLAC_MATCHED, SESSION_SETUP: plc.ev_mac / plc.evccid carry the data

    # ------------------------------------------------------------------ controller -> PLC
    @staticmethod
    def value(cmd: pp.PlcCommand) -> object:
        """The contract value for one port command (raises the contract's error if invalid)."""
        if isinstance(cmd, pp.AuthStatusCmd):
            return cv.CtrlAuthStatus(status=cv.AuthStatus(cmd.status.value),
                                     reason=_short(cmd.reason))
        if isinstance(cmd, pp.AuthContextCmd):
            return cv.CtrlAuthContext(
                method=cv.AuthMethod(cmd.method.value), id_token=cmd.id_token,
                token_type=cv.TokenType(cmd.token_type.value), offline=cmd.offline,
                parent_id=cmd.parent_id or None, expiry_unix_s=cmd.expiry_unix_s)
        if isinstance(cmd, pp.SessionCommandCmd):
            return cv.CtrlSessionCommand(command=cv.SessionCommand(cmd.command.value),
                                         reason=_short(cmd.reason))
        if isinstance(cmd, pp.EvseLimitsCmd):
            return cv.CtrlEvseLimitsDynamic(
                max_voltage_v=cmd.max_voltage_v, max_current_a=cmd.max_current_a,
                max_power_w=cmd.max_power_w, min_current_a=cmd.min_current_a,
                validity_ms=cmd.validity_ms,
                derating_reason=cv.DeratingReason(cmd.derating_reason.value))
        if isinstance(cmd, pp.ScheduleCmd):
            return cv.CtrlSchedule(schedule_id=cmd.schedule_id, entries=tuple(
                cv.ScheduleEntry(start_offset_s=e.start_offset_s, max_power_w=e.max_power_w,
                                 max_current_a=e.max_current_a) for e in cmd.entries))
        if isinstance(cmd, pp.PncAuthorizationResponseCmd):
            return cv.CtrlPncAuthorizationResponse(
                request_id=cmd.request_id,
                certificate_status=cv.ContractCertificateStatus(cmd.certificate_status.value))
        if isinstance(cmd, pp.PncCertificateResponseCmd):
            return cv.CtrlPncCertificateResponse(
                request_id=cmd.request_id,
                status=cv.CertificateResponseStatus.ACCEPTED if cmd.accepted
                else cv.CertificateResponseStatus.FAILED,
                exi_response=cmd.exi_response or None)
        return cv.CtrlOcppErrorMapping(entries=tuple(
            cv.OcppErrorMapEntry(fault_code=cv.FaultCode(e.fault_code.value),
                                 ocpp16_error_code=e.ocpp16_error_code,
                                 ocpp201_event_code=e.ocpp201_event_code,
                                 vendor_error_code=e.vendor_error_code)
            for e in cmd.entries))

"""What the controller consumes from and publishes to the PLC: a small typed port.

Why a port of our own: the controller<->PLC contract (`evse.contract`, signals.yaml
`ccs2_dc_controller_plc` v1.0) is being built in parallel. Names and enum values here mirror
that definition one-to-one (the enums are the contract's own) so that binding is a thin
adapter: `PlcEvent` objects are made from decoded `plc.*`/`meas.*` samples, and every
`PlcCommand` becomes one `ctrl.*` sample. Nothing in the controller imports the contract.

Binding (contract signal -> this port), for the adapter:

    plc.ev_present{present}                      -> EvPresent(present)
    plc.session_event EV_PLUGGED / EV_UNPLUGGED  -> EvPresent(True / False)
    plc.ev_mac{mac, run_id} (+ SLAC_MATCHED)     -> SlacMatched(ev_mac, run_id)
    plc.evccid{evccid}                           -> EvccidReceived(evccid)
    plc.v2g_phase{phase}                         -> PhaseChanged(phase)
    plc.auth_request{payment_option}             -> AuthRequested(payment_option)
    plc.pnc_authorization_request{...}           -> PncAuthorizationRequested(...)
    plc.pnc_certificate_request{...}             -> PncCertificateRequested(...)
    plc.session_event POWER_DELIVERY_START       -> PowerDeliveryStarted()
    plc.session_event POWER_DELIVERY_STOP{stop_reason} -> PowerDeliveryStopped(reason)
    plc.session_event SESSION_STOPPED{stop_reason}     -> SessionEnded(reason)
    plc.fault{fault_code, severity, active, latched, diagnostic_data} -> PlcFault(...)
    meas.dc_output{present_voltage_v, present_current_a, energy_wh} -> Measurement(...)
    plc.ev_limits{...}                           -> EvChargingNeeds(...)
    plc.ev_charging_profile{schedule_id, entries} -> EvChargingProfile(...)

    AuthStatusCmd      -> ctrl.auth_status{status, reason}
    AuthContextCmd     -> ctrl.auth_context{method, id_token, token_type, offline, ...}
    SessionCommandCmd  -> ctrl.session_command{command, reason}
    EvseLimitsCmd      -> ctrl.evse_limits_dynamic{max_voltage_v, max_current_a, max_power_w,
                          min_current_a, validity_ms, derating_reason}
    ScheduleCmd        -> ctrl.schedule{schedule_id, entries}; `renegotiate` = the schedule
                          changed during an ISO-2 session (the PLC sets EVSENotification
                          ReNegotiation; not a contract field yet)
    PncAuthorizationResponseCmd -> ctrl.pnc_authorization_response
    PncCertificateResponseCmd   -> ctrl.pnc_certificate_response{status ACCEPTED if accepted}
    OcppErrorMappingCmd         -> ctrl.ocpp_error_mapping{entries}
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from evse.contract.values import (  # the contract's enums, re-exported for the core
    AuthMethod as AuthMethod,
    AuthStatus as AuthStatus,
    ContractCertificateStatus as ContractCertificateStatus,
    DeratingReason as DeratingReason,
    FaultCode as FaultCode,
    FaultSeverity as FaultSeverity,
    PaymentOption as PaymentOption,
    SessionCommand as SessionCommand,
    StopReason as StopReason,
    TokenType as TokenType,
    V2gPhase as V2gPhase,
)

#: The controller's name for ctrl.session_command's enum.
SessionCommandKind = SessionCommand

# ---------------------------------------------------------------------- PLC -> controller


@dataclass(frozen=True, slots=True)
class EvPresent:
    """plc.ev_present (and plc.session_event EV_PLUGGED / EV_UNPLUGGED)."""

    present: bool
    connector_id: int = 1


@dataclass(frozen=True, slots=True)
class SlacMatched:
    """plc.ev_mac + plc.session_event SLAC_MATCHED. `ev_mac` upper-case, colon separated."""

    ev_mac: str
    run_id: str = ""


@dataclass(frozen=True, slots=True)
class EvccidReceived:
    """plc.evccid: upper-case hex EVCCID from SessionSetupReq."""

    evccid: str


@dataclass(frozen=True, slots=True)
class PhaseChanged:
    """plc.v2g_phase."""

    phase: V2gPhase


@dataclass(frozen=True, slots=True)
class AuthRequested:
    """plc.auth_request: the EV reached Authorization and waits (EVSEProcessing=Ongoing)."""

    payment_option: PaymentOption


@dataclass(frozen=True, slots=True)
class PncAuthorizationRequested:
    """plc.pnc_authorization_request: eMAID and contract chain (leaf first, DER)."""

    request_id: int
    emaid: str
    certificate_chain_der: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class PncCertificateRequested:
    """plc.pnc_certificate_request: EXI CertificateInstallation/UpdateReq to relay."""

    request_id: int
    operation: str  # INSTALLATION | UPDATE (signals.yaml CertificateOperation)
    schema_namespace: str
    exi_request: bytes


@dataclass(frozen=True, slots=True)
class PowerDeliveryStarted:
    """plc.session_event POWER_DELIVERY_START: the first real energy transfer."""


@dataclass(frozen=True, slots=True)
class PowerDeliveryStopped:
    """plc.session_event POWER_DELIVERY_STOP with its stop_reason."""

    reason: StopReason


@dataclass(frozen=True, slots=True)
class SessionEnded:
    """plc.session_event SESSION_STOPPED with its stop_reason."""

    reason: StopReason


@dataclass(frozen=True, slots=True)
class PlcFault:
    """plc.fault (active=False clears)."""

    code: FaultCode
    severity: FaultSeverity
    active: bool = True
    latched: bool = False
    diagnostic: str = ""


@dataclass(frozen=True, slots=True)
class CommandResult:
    """plc.command_result: the PLC carried out a session command, or refused it (reason)."""

    command: SessionCommandKind
    accepted: bool
    reason: str = ""


#: Below this a DC current request or limit counts as none: ISO 15118-2 / DIN 70121 EVs
#: pause by asking EVTargetCurrent 0 A; 0.5 A absorbs the PhysicalValue rounding (DIN's
#: unit multiplier 10^-1) without hiding a real 1 A trickle.
SUSPEND_CURRENT_A = 0.5


class EnergyFlow(enum.Enum):
    """Who holds the energy back during a transaction (OCPP 1.6 §4.9 ChargePointStatus
    SuspendedEV / SuspendedEVSE, 2.0.1 ChargingStateEnumType)."""

    FLOWING = "FLOWING"
    #: The car asks for no current (it paused, or EVReady is false).
    SUSPENDED_EV = "SUSPENDED_EV"
    #: The car asks for current and the EVSE offers none (setpoint 0 / output disabled).
    SUSPENDED_EVSE = "SUSPENDED_EVSE"


@dataclass(frozen=True, slots=True)
class EnergyFlowChanged:
    """Derived by the contract binding from plc.ev_request and plc.power_setpoint."""

    flow: EnergyFlow


@dataclass(frozen=True, slots=True)
class Measurement:
    """meas.dc_output: one synchronized sample of the DC meter."""

    voltage_v: float
    current_a: float
    energy_wh: float


@dataclass(frozen=True, slots=True)
class EvChargingNeeds:
    """plc.ev_limits: what the car said in ChargeParameterDiscoveryReq (DC_EVChargeParameter)
    and, with a new SOC, during CurrentDemand. Feeds 2.0.1 NotifyEVChargingNeeds (K15)."""

    ev_max_voltage_v: float
    ev_max_current_a: float
    ev_max_power_w: float | None = None
    soc_pct: int | None = None
    full_soc_pct: int | None = None
    bulk_soc_pct: int | None = None
    energy_capacity_wh: float | None = None
    energy_request_wh: float | None = None
    #: ISO 15118-2 DepartureTime: seconds from the request on.
    departure_time_s: int | None = None

    def needs(self) -> tuple[object, ...]:
        """Everything but the SOC: the PLC republishes plc.ev_limits at every new SOC, which
        is not a new statement of the car's needs (a new CPD, K17, is, when it differs)."""
        return (self.ev_max_voltage_v, self.ev_max_current_a, self.ev_max_power_w,
                self.full_soc_pct, self.bulk_soc_pct, self.energy_capacity_wh,
                self.energy_request_wh, self.departure_time_s)


@dataclass(frozen=True, slots=True)
class EvChargingProfile:
    """plc.ev_charging_profile: the car's ChargingProfile from ISO 15118-2
    PowerDeliveryReq, (start s, max power W) entries within SAScheduleTuple `schedule_id`.
    Feeds 2.0.1 NotifyEVChargingSchedule (K15/K17)."""

    schedule_id: int
    entries: tuple[tuple[int, float], ...]


PlcEvent = (
    EvPresent
    | SlacMatched
    | EvccidReceived
    | PhaseChanged
    | AuthRequested
    | PncAuthorizationRequested
    | PncCertificateRequested
    | PowerDeliveryStarted
    | PowerDeliveryStopped
    | SessionEnded
    | PlcFault
    | CommandResult
    | Measurement
    | EnergyFlowChanged
    | EvChargingNeeds
    | EvChargingProfile
)


# ---------------------------------------------------------------------- controller -> PLC


@dataclass(frozen=True, slots=True)
class AuthStatusCmd:
    """ctrl.auth_status."""

    status: AuthStatus
    reason: str = ""


@dataclass(frozen=True, slots=True)
class AuthContextCmd:
    """ctrl.auth_context."""

    method: AuthMethod
    id_token: str
    token_type: TokenType
    offline: bool
    parent_id: str = ""
    expiry_unix_s: int | None = None


@dataclass(frozen=True, slots=True)
class SessionCommandCmd:
    """ctrl.session_command."""

    command: SessionCommandKind
    reason: str = ""


@dataclass(frozen=True, slots=True)
class EvseLimitsCmd:
    """ctrl.evse_limits_dynamic: the envelope the PLC clamps every EV request with."""

    max_voltage_v: float
    max_current_a: float
    max_power_w: float
    min_current_a: float
    validity_ms: int
    derating_reason: DeratingReason = DeratingReason.NONE


@dataclass(frozen=True, slots=True)
class ScheduleEntry:
    """signals.yaml record ScheduleEntry."""

    start_offset_s: int
    max_power_w: float
    max_current_a: float | None = None


@dataclass(frozen=True, slots=True)
class ScheduleCmd:
    """ctrl.schedule. A new one during an ISO-2 session asks the PLC to renegotiate."""

    schedule_id: int
    entries: tuple[ScheduleEntry, ...] = field(default_factory=tuple)
    renegotiate: bool = False


@dataclass(frozen=True, slots=True)
class PncAuthorizationResponseCmd:
    """ctrl.pnc_authorization_response."""

    request_id: int
    certificate_status: ContractCertificateStatus


@dataclass(frozen=True, slots=True)
class PncCertificateResponseCmd:
    """ctrl.pnc_certificate_response (status ACCEPTED | FAILED)."""

    request_id: int
    accepted: bool
    exi_response: bytes = b""


@dataclass(frozen=True, slots=True)
class OcppErrorMapEntry:
    """signals.yaml record OcppErrorMapEntry (2.0.1 techCode = the fault code: no override)."""

    fault_code: FaultCode
    ocpp16_error_code: str
    ocpp201_event_code: str | None = None
    vendor_error_code: str | None = None


@dataclass(frozen=True, slots=True)
class OcppErrorMappingCmd:
    """ctrl.ocpp_error_mapping: our table, sent at start (the adapter resends on link up)."""

    entries: tuple[OcppErrorMapEntry, ...]


PlcCommand = (
    AuthStatusCmd
    | AuthContextCmd
    | SessionCommandCmd
    | EvseLimitsCmd
    | ScheduleCmd
    | PncAuthorizationResponseCmd
    | PncCertificateResponseCmd
    | OcppErrorMappingCmd
)

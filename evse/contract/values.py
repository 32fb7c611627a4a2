"""Typed values of the controller <-> PLC contract.

GENERATED from evse/contract/signals.yaml by `python -m evse.contract.render`;
do not edit. Every value checks itself against the definition when built.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, ClassVar, TypeAlias

from evse.contract.definition import DEFINITION_SHA256
from evse.contract.errors import ContractDefinitionError
from evse.contract.validate import check_record, check_signal, register_types

SOURCE_SHA256 = "ceb7a6041e1423d497bdcb0fb29d03f988051cadd4e73563cdc5381e60c7decd"
if SOURCE_SHA256 != DEFINITION_SHA256:
    raise ContractDefinitionError(
        "evse/contract/values.py is stale: run `python -m evse.contract.render`"
    )
CONTRACT_MAJOR = 1
CONTRACT_MINOR = 2


class Role(enum.Enum):
    """The two sides of the contract."""

    PLC = "PLC"
    CONTROLLER = "CONTROLLER"


class V2gPhase(enum.Enum):
    """PLC/SECC phase (ccs2_dc_reference.md Deliverable 1 A1, S0-S15 and SF)."""

    IDLE = "IDLE"
    SLAC = "SLAC"
    SDP = "SDP"
    SAP = "SAP"
    SESSION_SETUP = "SESSION_SETUP"
    SERVICE_DISCOVERY = "SERVICE_DISCOVERY"
    AUTH = "AUTH"
    CPD = "CPD"
    CABLECHECK = "CABLECHECK"
    PRECHARGE = "PRECHARGE"
    POWERDELIVERY = "POWERDELIVERY"
    CURRENTDEMAND = "CURRENTDEMAND"
    WELDING = "WELDING"
    SESSION_STOP = "SESSION_STOP"
    FAULT = "FAULT"


class V2gProtocol(enum.Enum):
    """Application protocol agreed in supportedAppProtocol."""

    DIN70121 = "DIN70121"
    ISO15118_2 = "ISO15118_2"
    ISO15118_20 = "ISO15118_20"


class CpState(enum.Enum):
    """IEC 61851-1 control pilot state; suffix 1 = oscillator off, 2 = PWM on."""

    A1 = "A1"
    A2 = "A2"
    B1 = "B1"
    B2 = "B2"
    C1 = "C1"
    C2 = "C2"
    D1 = "D1"
    D2 = "D2"
    E = "E"
    F = "F"


class PpState(enum.Enum):
    """Proximity/plug presence as seen by the PLC."""

    DISCONNECTED = "DISCONNECTED"
    CONNECTED = "CONNECTED"
    INVALID = "INVALID"


class SessionCommand(enum.Enum):
    """Controller orders; the PLC enforces the safe way of carrying them out."""

    ENABLE = "ENABLE"
    DISABLE = "DISABLE"
    STOP_GRACEFUL = "STOP_GRACEFUL"
    STOP_EMERGENCY = "STOP_EMERGENCY"
    RESET_FAULT = "RESET_FAULT"


class AuthMethod(enum.Enum):
    """How the controller authorized (ccs2_dc_reference.md Deliverable 2 B2)."""

    EIM = "EIM"
    AUTOCHARGE = "AUTOCHARGE"
    REMOTE_START = "REMOTE_START"
    PNC = "PNC"


class TokenType(enum.Enum):
    """OCPP 2.0.1 IdTokenEnumType."""

    CENTRAL = "CENTRAL"
    EMAID = "EMAID"
    ISO14443 = "ISO14443"
    ISO15693 = "ISO15693"
    KEY_CODE = "KEY_CODE"
    LOCAL = "LOCAL"
    MAC_ADDRESS = "MAC_ADDRESS"
    NO_AUTHORIZATION = "NO_AUTHORIZATION"


class AuthStatus(enum.Enum):
    """Controller's authorization verdict."""

    PENDING = "PENDING"
    ACCEPTED = "ACCEPTED"
    REJECTED = "REJECTED"


class PaymentOption(enum.Enum):
    """ISO 15118-2 PaymentOptionType selected by the EV."""

    EIM = "EIM"
    CONTRACT = "CONTRACT"


class DeratingReason(enum.Enum):
    """Why the controller limits are below hardware capability."""

    NONE = "NONE"
    THERMAL = "THERMAL"
    GRID = "GRID"
    OCPP_PROFILE = "OCPP_PROFILE"
    LOAD_BALANCING = "LOAD_BALANCING"
    HARDWARE_FAULT = "HARDWARE_FAULT"
    OTHER = "OTHER"


class RequestSource(enum.Enum):
    """Which EV message carried plc.ev_request."""

    PRE_CHARGE = "PRE_CHARGE"
    CURRENT_DEMAND = "CURRENT_DEMAND"


class EvErrorCode(enum.Enum):
    """ISO 15118-2 / DIN 70121 DC_EVErrorCodeType."""

    NO_ERROR = "NO_ERROR"
    FAILED_RESS_TEMPERATURE_INHIBIT = "FAILED_RESS_TEMPERATURE_INHIBIT"
    FAILED_EV_SHIFT_POSITION = "FAILED_EV_SHIFT_POSITION"
    FAILED_CHARGER_CONNECTOR_LOCK_FAULT = "FAILED_CHARGER_CONNECTOR_LOCK_FAULT"
    FAILED_EV_RESS_MALFUNCTION = "FAILED_EV_RESS_MALFUNCTION"
    FAILED_CHARGING_CURRENT_DIFFERENTIAL = "FAILED_CHARGING_CURRENT_DIFFERENTIAL"
    FAILED_CHARGING_VOLTAGE_OUT_OF_RANGE = "FAILED_CHARGING_VOLTAGE_OUT_OF_RANGE"
    RESERVED_A = "RESERVED_A"
    RESERVED_B = "RESERVED_B"
    RESERVED_C = "RESERVED_C"
    FAILED_CHARGING_SYSTEM_INCOMPATIBILITY = "FAILED_CHARGING_SYSTEM_INCOMPATIBILITY"
    NO_DATA = "NO_DATA"


class IsolationStatus(enum.Enum):
    """ISO 15118-2 isolationLevelType plus NO_IMD when no monitor answers."""

    INVALID = "INVALID"
    VALID = "VALID"
    WARNING = "WARNING"
    FAULT = "FAULT"
    NO_IMD = "NO_IMD"


class FaultCode(enum.Enum):
    """PLC-side fault catalogue (mapped to OCPP by ctrl.ocpp_error_mapping)."""

    CP_STATE_E = "CP_STATE_E"
    CP_STATE_F = "CP_STATE_F"
    CP_DIODE_FAULT = "CP_DIODE_FAULT"
    PP_INVALID = "PP_INVALID"
    ISOLATION_FAULT = "ISOLATION_FAULT"
    OVER_VOLTAGE = "OVER_VOLTAGE"
    OVER_CURRENT = "OVER_CURRENT"
    OVER_TEMPERATURE = "OVER_TEMPERATURE"
    CONTACTOR_WELDED = "CONTACTOR_WELDED"
    CONTACTOR_FAILED = "CONTACTOR_FAILED"
    POWER_MODULE_FAULT = "POWER_MODULE_FAULT"
    IMD_FAULT = "IMD_FAULT"
    CONNECTOR_LOCK_FAULT = "CONNECTOR_LOCK_FAULT"
    SLAC_FAILED = "SLAC_FAILED"
    V2G_TIMEOUT = "V2G_TIMEOUT"
    V2G_PROTOCOL_ERROR = "V2G_PROTOCOL_ERROR"
    EV_ERROR = "EV_ERROR"
    PRECHARGE_FAILED = "PRECHARGE_FAILED"
    CABLE_CHECK_FAILED = "CABLE_CHECK_FAILED"
    EMERGENCY_STOP = "EMERGENCY_STOP"
    CONTROLLER_LINK_LOST = "CONTROLLER_LINK_LOST"
    LIMITS_EXPIRED = "LIMITS_EXPIRED"
    INTERNAL_ERROR = "INTERNAL_ERROR"


class FaultSeverity(enum.Enum):
    """Severity of plc.fault."""

    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"
    CRITICAL = "CRITICAL"


class SessionEventKind(enum.Enum):
    """Session milestones the controller maps to OCPP status and transactions."""

    EV_PLUGGED = "EV_PLUGGED"
    SLAC_MATCHED = "SLAC_MATCHED"
    SESSION_SETUP = "SESSION_SETUP"
    POWER_DELIVERY_START = "POWER_DELIVERY_START"
    POWER_DELIVERY_STOP = "POWER_DELIVERY_STOP"
    SESSION_STOPPED = "SESSION_STOPPED"
    EV_UNPLUGGED = "EV_UNPLUGGED"


class StopReason(enum.Enum):
    """Why a session stopped; recorded by the PLC and carried by plc.session_event."""

    EV_REQUESTED = "EV_REQUESTED"
    EV_UNPLUGGED = "EV_UNPLUGGED"
    EV_ERROR = "EV_ERROR"
    AUTH_REJECTED = "AUTH_REJECTED"
    AUTH_TIMEOUT = "AUTH_TIMEOUT"
    PNC_TIMEOUT = "PNC_TIMEOUT"
    CONTROLLER_STOP_GRACEFUL = "CONTROLLER_STOP_GRACEFUL"
    CONTROLLER_STOP_EMERGENCY = "CONTROLLER_STOP_EMERGENCY"
    CONTROLLER_DISABLED = "CONTROLLER_DISABLED"
    CONTROLLER_LINK_LOST = "CONTROLLER_LINK_LOST"
    LIMITS_EXPIRED = "LIMITS_EXPIRED"
    NO_CONTROLLER_LIMITS = "NO_CONTROLLER_LIMITS"
    CONTROLLED_STOP_TIMEOUT = "CONTROLLED_STOP_TIMEOUT"
    FAULT = "FAULT"
    V2G_TIMEOUT = "V2G_TIMEOUT"
    EMERGENCY_STOP = "EMERGENCY_STOP"
    SLAC_FAILED = "SLAC_FAILED"
    V2G_PROTOCOL_ERROR = "V2G_PROTOCOL_ERROR"
    POWER_LOSS = "POWER_LOSS"


class CertificateOperation(enum.Enum):
    """ISO 15118-2 PnC certificate messages relayed to the CSMS."""

    INSTALLATION = "INSTALLATION"
    UPDATE = "UPDATE"


class CertificateResponseStatus(enum.Enum):
    """Outcome of the CSMS certificate request (OCPP Get15118EVCertificate)."""

    ACCEPTED = "ACCEPTED"
    FAILED = "FAILED"


class ContractCertificateStatus(enum.Enum):
    """OCPP 2.0.1 AuthorizeCertificateStatusEnumType."""

    ACCEPTED = "ACCEPTED"
    SIGNATURE_ERROR = "SIGNATURE_ERROR"
    CERTIFICATE_EXPIRED = "CERTIFICATE_EXPIRED"
    CERTIFICATE_REVOKED = "CERTIFICATE_REVOKED"
    NO_CERTIFICATE_AVAILABLE = "NO_CERTIFICATE_AVAILABLE"
    CERT_CHAIN_ERROR = "CERT_CHAIN_ERROR"
    CONTRACT_CANCELLED = "CONTRACT_CANCELLED"


@dataclass(frozen=True, slots=True, kw_only=True)
class ScheduleEntry:
    """One PMaxSchedule entry (ISO 15118-2 PMaxScheduleEntry, DIN 70121 SAScheduleTuple)."""

    start_offset_s: int
    #: RelativeTimeInterval start from the CPD response (48 h max). [s]
    max_power_w: float
    #: PMax for this interval. [W]
    max_current_a: float | None = None
    #: Optional current cap for this interval. [A]

    def __post_init__(self) -> None:
        check_record(self)


@dataclass(frozen=True, slots=True, kw_only=True)
class OcppErrorMapEntry:
    """How one PLC fault code is reported over OCPP."""

    fault_code: FaultCode
    #: PLC fault.
    ocpp16_error_code: str
    #: OCPP 1.6 ChargePointErrorCode (e.g. GroundFailure).
    ocpp201_event_code: str | None = None
    #: OCPP 2.0.1 NotifyEvent techCode, if different.
    vendor_error_code: str | None = None
    #: Vendor detail.

    def __post_init__(self) -> None:
        check_record(self)


@dataclass(frozen=True, slots=True, kw_only=True)
class PlcV2gPhase:
    """`plc.v2g_phase` (PLC -> controller, state).

    Current PLC/SECC phase; the controller maps it to its own states and OCPP status. FAULT
    (A1 "SF") while a plc.fault of severity ERROR or CRITICAL is active, the SECC's own
    phase (its chart state's tag, fsm_specs/secc_*.yaml) otherwise.
    """

    SIGNAL: ClassVar[str] = "plc.v2g_phase"
    phase: V2gPhase
    #: Phase the SECC is in.
    protocol: V2gProtocol | None = None
    #: Agreed protocol once SAP is done.

    def __post_init__(self) -> None:
        check_signal(self)


@dataclass(frozen=True, slots=True, kw_only=True)
class PlcEvPresent:
    """`plc.ev_present` (PLC -> controller, state).

    Vehicle presence (CP B/C/D with PP connected).
    """

    SIGNAL: ClassVar[str] = "plc.ev_present"
    present: bool
    #: True while an EV is connected.
    connector_id: int
    #: EVSE connector (OCPP connectorId).

    def __post_init__(self) -> None:
        check_signal(self)


@dataclass(frozen=True, slots=True, kw_only=True)
class PlcCpState:
    """`plc.cp_state` (PLC -> controller, state).

    IEC 61851-1 control pilot state and PWM duty.
    """

    SIGNAL: ClassVar[str] = "plc.cp_state"
    state: CpState
    #: CP state.
    pwm_duty_pct: float | None = None
    #: PWM duty cycle (5 % = HLC required). [%]

    def __post_init__(self) -> None:
        check_signal(self)


@dataclass(frozen=True, slots=True, kw_only=True)
class PlcPpState:
    """`plc.pp_state` (PLC -> controller, state).

    Proximity pilot / plug detection (not published by a board that does not read PP).
    """

    SIGNAL: ClassVar[str] = "plc.pp_state"
    state: PpState
    #: Plug state.
    cable_rating_a: float | None = None
    #: Cable current rating when coded. [A]

    def __post_init__(self) -> None:
        check_signal(self)


@dataclass(frozen=True, slots=True, kw_only=True)
class PlcSessionEvent:
    """`plc.session_event` (PLC -> controller, event).

    Session milestones (plug-in, SLAC matched, session setup, power delivery start/stop,
    session stopped with reason, unplug). Kept apart from plc.v2g_phase because they are
    facts to be counted once (OCPP transaction boundaries), not a level.
    """

    SIGNAL: ClassVar[str] = "plc.session_event"
    event: SessionEventKind
    #: Milestone.
    session_id: str | None = None
    #: V2G SessionID (hex), once SessionSetup is done.
    stop_reason: StopReason | None = None
    #: Set with SESSION_STOPPED and POWER_DELIVERY_STOP.

    def __post_init__(self) -> None:
        check_signal(self)


@dataclass(frozen=True, slots=True, kw_only=True)
class CtrlSessionCommand:
    """`ctrl.session_command` (controller -> PLC, event).

    Controller orders; the PLC carries them out the safe way (ramp down before opening).
    """

    SIGNAL: ClassVar[str] = "ctrl.session_command"
    command: SessionCommand
    #: Order.
    reason: str | None = None
    #: Free text for the log.

    def __post_init__(self) -> None:
        check_signal(self)


@dataclass(frozen=True, slots=True, kw_only=True)
class PlcCommandResult:
    """`plc.command_result` (PLC -> controller, event).

    The PLC's answer to a ctrl.session_command it may refuse: RESET_FAULT clears the latched
    faults whose cause is gone, or is refused with the reason (the cause is still present,
    the fault needs service). The controller reports it to the operator (OCPP 1.6 Reset has
    no refusal after its answer; 2.0.1 NotifyEvent) instead of guessing from plc.fault.
    """

    SIGNAL: ClassVar[str] = "plc.command_result"
    command: SessionCommand
    #: The order answered.
    accepted: bool
    #: Carried out (faults cleared) or refused.
    reason: str | None = None
    #: Why it was refused, or what was cleared.

    def __post_init__(self) -> None:
        check_signal(self)


@dataclass(frozen=True, slots=True, kw_only=True)
class PlcAuthRequest:
    """`plc.auth_request` (PLC -> controller, event).

    The EV reached Authorization (AUTH_REQUEST in the B1 sequence) with the payment option
    it selected; the controller starts OCPP Authorize / uses RemoteStart / AutoCharge.
    """

    SIGNAL: ClassVar[str] = "plc.auth_request"
    payment_option: PaymentOption
    #: EV's selection.

    def __post_init__(self) -> None:
        check_signal(self)


@dataclass(frozen=True, slots=True, kw_only=True)
class CtrlAuthContext:
    """`ctrl.auth_context` (controller -> PLC, state).

    How the session was authorized, for logging and for PnC/AutoCharge correlation.
    """

    SIGNAL: ClassVar[str] = "ctrl.auth_context"
    method: AuthMethod
    #: RFID/EIM, AUTOCHARGE, REMOTE_START or PNC.
    id_token: str
    #: Token identifier.
    token_type: TokenType
    #: OCPP token type.
    expiry_unix_s: int | None = None
    #: Token expiry (UNIX time, before 2100). [s]
    parent_id: str | None = None
    #: Group id token.
    offline: bool
    #: Authorized from the local cache while the CSMS is unreachable.

    def __post_init__(self) -> None:
        check_signal(self)


@dataclass(frozen=True, slots=True, kw_only=True)
class CtrlAuthStatus:
    """`ctrl.auth_status` (controller -> PLC, state).

    The controller's verdict. PENDING keeps the PLC answering EVSEProcessing=Ongoing;
    ACCEPTED lets it answer Finished; REJECTED ends the session.
    """

    SIGNAL: ClassVar[str] = "ctrl.auth_status"
    status: AuthStatus
    #: Verdict.
    reason: str | None = None
    #: Why (logged).

    def __post_init__(self) -> None:
        check_signal(self)


@dataclass(frozen=True, slots=True, kw_only=True)
class PlcEvccid:
    """`plc.evccid` (PLC -> controller, state).

    EVCCID from SessionSetupReq, for AutoCharge and session correlation.
    """

    SIGNAL: ClassVar[str] = "plc.evccid"
    evccid: str
    #: EVCCID as upper-case hex (ISO 15118-2 evccIDType: hexBinary, at most 6 bytes; DIN
    #: 70121: up to 8 bytes).
    protocol: V2gProtocol
    #: Protocol of the session.

    def __post_init__(self) -> None:
        check_signal(self)


@dataclass(frozen=True, slots=True, kw_only=True)
class PlcEvMac:
    """`plc.ev_mac` (PLC -> controller, state).

    EV MAC and RunID learnt during SLAC (AutoCharge candidate before SessionSetup).
    """

    SIGNAL: ClassVar[str] = "plc.ev_mac"
    mac: str
    #: EV host MAC (upper-case, colon separated).
    run_id: str | None = None
    #: SLAC RunID (8 bytes hex).

    def __post_init__(self) -> None:
        check_signal(self)


@dataclass(frozen=True, slots=True, kw_only=True)
class PlcPncCertificateRequest:
    """`plc.pnc_certificate_request` (PLC -> controller, event).

    EXI body of CertificateInstallationReq / CertificateUpdateReq, relayed so the controller
    can run OCPP Get15118EVCertificate (DataTransfer in 1.6).
    """

    SIGNAL: ClassVar[str] = "plc.pnc_certificate_request"
    request_id: int
    #: Correlates the answer.
    operation: CertificateOperation
    #: Installation or update.
    schema_namespace: str
    #: EXI schema namespace (e.g. urn:iso:15118:2:2013:MsgDef).
    exi_request: bytes
    #: Raw EXI request.

    def __post_init__(self) -> None:
        check_signal(self)


@dataclass(frozen=True, slots=True, kw_only=True)
class CtrlPncCertificateResponse:
    """`ctrl.pnc_certificate_response` (controller -> PLC, event).

    The CSMS answer to plc.pnc_certificate_request.
    """

    SIGNAL: ClassVar[str] = "ctrl.pnc_certificate_response"
    request_id: int
    #: Matches the request.
    status: CertificateResponseStatus
    #: Outcome.
    exi_response: bytes | None = None
    #: Raw EXI response (present when ACCEPTED).

    def __post_init__(self) -> None:
        check_signal(self)


@dataclass(frozen=True, slots=True, kw_only=True)
class PlcPncAuthorizationRequest:
    """`plc.pnc_authorization_request` (PLC -> controller, event).

    Contract certificate chain and eMAID from a PnC AuthorizationReq/PaymentDetailsReq.
    """

    SIGNAL: ClassVar[str] = "plc.pnc_authorization_request"
    request_id: int
    #: Correlates the answer.
    emaid: str
    #: Contract ID.
    certificate_chain_der: tuple[bytes, ...]
    #: Contract leaf first, then up to 4 sub-CAs (DER). ISO 15118-2 certificateType is at
    #: most 800 bytes; 4 KiB leaves room for -20 chains.

    def __post_init__(self) -> None:
        check_signal(self)


@dataclass(frozen=True, slots=True, kw_only=True)
class CtrlPncAuthorizationResponse:
    """`ctrl.pnc_authorization_response` (controller -> PLC, event).

    Certificate verdict for plc.pnc_authorization_request (ctrl.auth_status follows).
    """

    SIGNAL: ClassVar[str] = "ctrl.pnc_authorization_response"
    request_id: int
    #: Matches the request.
    certificate_status: ContractCertificateStatus
    #: OCPP verdict (the CSMS's, or the controller's own trust-store check). The PLC answers
    #: a refused one with the matching ISO 15118-2 ResponseCode in AuthorizationRes
    #: (FAILED_CertificateExpired, FAILED_CertificateRevoked, FAILED_CertChainError,
    #: FAILED_NoCertificateAvailable, FAILED_SignatureError, FAILED_ContractCanceled).

    def __post_init__(self) -> None:
        check_signal(self)


@dataclass(frozen=True, slots=True, kw_only=True)
class CtrlEvseLimitsDynamic:
    """`ctrl.evse_limits_dynamic` (controller -> PLC, state).

    Energy-management envelope (OCPP profiles, thermal derating, load balancing). The PLC
    clamps every EV request with min(hardware rating, this) without waiting for it.
    """

    SIGNAL: ClassVar[str] = "ctrl.evse_limits_dynamic"
    max_voltage_v: float
    #: EVSE maximum voltage. [V]
    max_current_a: float
    #: EVSE maximum current. [A]
    max_power_w: float
    #: EVSE maximum power (always present: DIN 70121 EVSEMaxPowerLimit). [W]
    min_current_a: float
    #: EVSE minimum current. [A]
    ramp_rate_v_per_s: float | None = None
    #: Voltage slew limit. [V/s]
    ramp_rate_a_per_s: float | None = None
    #: Current slew limit. [A/s]
    derating_reason: DeratingReason | None = None
    #: Why below capability.
    validity_ms: int
    #: Time-to-live from receipt (limits_validity_min..limits_validity_max). [ms]

    def __post_init__(self) -> None:
        check_signal(self)


@dataclass(frozen=True, slots=True, kw_only=True)
class PlcEvLimits:
    """`plc.ev_limits` (PLC -> controller, state).

    EV limits and targets from ChargeParameterDiscoveryReq.
    """

    SIGNAL: ClassVar[str] = "plc.ev_limits"
    ev_max_voltage_v: float
    #: EVMaximumVoltageLimit. [V]
    ev_max_current_a: float
    #: EVMaximumCurrentLimit. [A]
    ev_max_power_w: float | None = None
    #: EVMaximumPowerLimit. [W]
    soc_pct: int | None = None
    #: EVRESSSOC at CPD. [%]
    full_soc_pct: int | None = None
    #: FullSOC. [%]
    bulk_soc_pct: int | None = None
    #: BulkSOC. [%]
    energy_capacity_wh: float | None = None
    #: EVEnergyCapacity. [Wh]
    energy_request_wh: float | None = None
    #: EVEnergyRequest. [Wh]
    departure_time_s: int | None = None
    #: DepartureTime. [s]

    def __post_init__(self) -> None:
        check_signal(self)


@dataclass(frozen=True, slots=True, kw_only=True)
class PlcEvChargingProfile:
    """`plc.ev_charging_profile` (PLC -> controller, event).

    The car's ChargingProfile from ISO 15118-2 PowerDeliveryReq (optional there; DIN 70121
    has none): what it plans to draw within the SAScheduleTuple it chose. Added in 1.2 for
    OCPP 2.0.1 NotifyEVChargingSchedule (K15/K17).
    """

    SIGNAL: ClassVar[str] = "plc.ev_charging_profile"
    schedule_id: int
    #: SAScheduleTupleID the car chose.
    entries: tuple[ScheduleEntry, ...]
    #: ProfileEntry list (ChargingProfileEntryStart, ChargingProfileEntryMaxPower; ISO
    #: 15118-2 allows up to 24).

    def __post_init__(self) -> None:
        check_signal(self)


@dataclass(frozen=True, slots=True, kw_only=True)
class CtrlSchedule:
    """`ctrl.schedule` (controller -> PLC, state).

    SASchedule / PMaxSchedule the PLC formats into ChargeParameterDiscoveryRes.
    """

    SIGNAL: ClassVar[str] = "ctrl.schedule"
    schedule_id: int
    #: SAScheduleTupleID.
    entries: tuple[ScheduleEntry, ...]
    #: PMaxScheduleEntry list (ISO 15118-2 allows up to 1024).
    tariff_id: str | None = None
    #: Optional tariff reference.

    def __post_init__(self) -> None:
        check_signal(self)


@dataclass(frozen=True, slots=True, kw_only=True)
class PlcEvRequest:
    """`plc.ev_request` (PLC -> controller, state).

    EV targets from PreChargeReq / CurrentDemandReq (telemetry for the controller).
    """

    SIGNAL: ClassVar[str] = "plc.ev_request"
    source: RequestSource
    #: Which EV message.
    target_voltage_v: float
    #: EVTargetVoltage. [V]
    target_current_a: float
    #: EVTargetCurrent. [A]
    charge_complete: bool
    #: ChargingComplete.
    bulk_charge_complete: bool | None = None
    #: BulkChargingComplete.
    soc_pct: int
    #: EVRESSSOC. [%]
    ev_ready: bool
    #: DC_EVStatus.EVReady.
    ev_error_code: EvErrorCode
    #: DC_EVStatus.EVErrorCode.
    remaining_time_to_full_soc_s: int | None = None
    #: RemainingTimeToFullSoC. [s]

    def __post_init__(self) -> None:
        check_signal(self)


@dataclass(frozen=True, slots=True, kw_only=True)
class PlcPowerSetpoint:
    """`plc.power_setpoint` (PLC -> controller, state).

    Setpoint the PLC commands to the power modules (the controller proxies or logs it).
    """

    SIGNAL: ClassVar[str] = "plc.power_setpoint"
    voltage_setpoint_v: float
    #: Voltage setpoint. [V]
    current_setpoint_a: float
    #: Current setpoint. [A]
    enable_output: bool
    #: Output enabled.

    def __post_init__(self) -> None:
        check_signal(self)


@dataclass(frozen=True, slots=True, kw_only=True)
class MeasDcOutput:
    """`meas.dc_output` (PLC -> controller, state).

    One synchronized snapshot of meas.dc_present_voltage, meas.dc_present_current,
    meas.energy_wh and meas.isolation_status, so the values reported to the EV and to the
    meter come from the same sample (P0 item 2).
    """

    SIGNAL: ClassVar[str] = "meas.dc_output"
    present_voltage_v: float
    #: meas.dc_present_voltage. [V]
    present_current_a: float
    #: meas.dc_present_current. [A]
    energy_wh: float
    #: meas.energy_wh (register). [Wh]
    isolation_status: IsolationStatus
    #: meas.isolation_status.
    isolation_resistance_ohm: float | None = None
    #: Last IMD reading. [Ohm]

    def __post_init__(self) -> None:
        check_signal(self)


@dataclass(frozen=True, slots=True, kw_only=True)
class PlcFault:
    """`plc.fault` (PLC -> controller, event).

    EV-side electrical and protocol faults; refreshed at 1 Hz while active, cleared with
    active=false.
    """

    SIGNAL: ClassVar[str] = "plc.fault"
    fault_code: FaultCode
    #: What.
    severity: FaultSeverity
    #: How bad.
    active: bool
    #: False clears the fault.
    latched: bool
    #: Needs RESET_FAULT to clear.
    diagnostic_data: str | None = None
    #: Free diagnostic text.

    def __post_init__(self) -> None:
        check_signal(self)


@dataclass(frozen=True, slots=True, kw_only=True)
class CtrlOcppErrorMapping:
    """`ctrl.ocpp_error_mapping` (controller -> PLC, state).

    How PLC fault codes are reported over OCPP (configuration, sent after every link up).
    """

    SIGNAL: ClassVar[str] = "ctrl.ocpp_error_mapping"
    entries: tuple[OcppErrorMapEntry, ...]
    #: Mapping table.

    def __post_init__(self) -> None:
        check_signal(self)


SignalValue: TypeAlias = (
    PlcV2gPhase
    | PlcEvPresent
    | PlcCpState
    | PlcPpState
    | PlcSessionEvent
    | CtrlSessionCommand
    | PlcCommandResult
    | PlcAuthRequest
    | CtrlAuthContext
    | CtrlAuthStatus
    | PlcEvccid
    | PlcEvMac
    | PlcPncCertificateRequest
    | CtrlPncCertificateResponse
    | PlcPncAuthorizationRequest
    | CtrlPncAuthorizationResponse
    | CtrlEvseLimitsDynamic
    | PlcEvLimits
    | PlcEvChargingProfile
    | CtrlSchedule
    | PlcEvRequest
    | PlcPowerSetpoint
    | MeasDcOutput
    | PlcFault
    | CtrlOcppErrorMapping
)
"""Any signal value of the contract."""

SIGNAL_CLASSES: dict[str, type[SignalValue]] = {
    "plc.v2g_phase": PlcV2gPhase,
    "plc.ev_present": PlcEvPresent,
    "plc.cp_state": PlcCpState,
    "plc.pp_state": PlcPpState,
    "plc.session_event": PlcSessionEvent,
    "ctrl.session_command": CtrlSessionCommand,
    "plc.command_result": PlcCommandResult,
    "plc.auth_request": PlcAuthRequest,
    "ctrl.auth_context": CtrlAuthContext,
    "ctrl.auth_status": CtrlAuthStatus,
    "plc.evccid": PlcEvccid,
    "plc.ev_mac": PlcEvMac,
    "plc.pnc_certificate_request": PlcPncCertificateRequest,
    "ctrl.pnc_certificate_response": CtrlPncCertificateResponse,
    "plc.pnc_authorization_request": PlcPncAuthorizationRequest,
    "ctrl.pnc_authorization_response": CtrlPncAuthorizationResponse,
    "ctrl.evse_limits_dynamic": CtrlEvseLimitsDynamic,
    "plc.ev_limits": PlcEvLimits,
    "plc.ev_charging_profile": PlcEvChargingProfile,
    "ctrl.schedule": CtrlSchedule,
    "plc.ev_request": PlcEvRequest,
    "plc.power_setpoint": PlcPowerSetpoint,
    "meas.dc_output": MeasDcOutput,
    "plc.fault": PlcFault,
    "ctrl.ocpp_error_mapping": CtrlOcppErrorMapping,
}
ENUM_CLASSES: dict[str, type[enum.Enum]] = {
    "Role": Role,
    "V2gPhase": V2gPhase,
    "V2gProtocol": V2gProtocol,
    "CpState": CpState,
    "PpState": PpState,
    "SessionCommand": SessionCommand,
    "AuthMethod": AuthMethod,
    "TokenType": TokenType,
    "AuthStatus": AuthStatus,
    "PaymentOption": PaymentOption,
    "DeratingReason": DeratingReason,
    "RequestSource": RequestSource,
    "EvErrorCode": EvErrorCode,
    "IsolationStatus": IsolationStatus,
    "FaultCode": FaultCode,
    "FaultSeverity": FaultSeverity,
    "SessionEventKind": SessionEventKind,
    "StopReason": StopReason,
    "CertificateOperation": CertificateOperation,
    "CertificateResponseStatus": CertificateResponseStatus,
    "ContractCertificateStatus": ContractCertificateStatus,
}
RECORD_CLASSES: dict[str, type[Any]] = {
    "ScheduleEntry": ScheduleEntry,
    "OcppErrorMapEntry": OcppErrorMapEntry,
}
register_types(ENUM_CLASSES, RECORD_CLASSES)

"""What the SECC needs from the station and what it asks of it: the `SeccEnv` protocol.

Why a protocol: the SECC must answer the car within the standards' performance times
whatever the power path or the controller are doing, so it never calls into them and waits.
It *reads* their latest published state (all reads are non-blocking and return the last
known value, timestamped) and *emits* requests (fire-and-forget). The lead binds the real
power path (evse/power) and contract (evse/contract) to this protocol
(evse/runtime/station_env.py). The limits record and the charge loop's answer are the
shared `evse.contract.limits` types: one record from the guard to the car.

Units are in every name; time is integer nanoseconds on the station's monotonic clock.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol

from evse.contract.limits import DemandClamp, EvseLimits
from evse.contract.values import IsolationStatus


class AppProtocol(enum.Enum):
    """The application protocols the SECC can speak (supportedAppProtocol result)."""

    DIN70121 = "urn:din:70121:2012:MsgDef"
    ISO15118_2 = "urn:iso:15118:2:2013:MsgDef"


class AuthStatus(enum.Enum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    REJECTED = "rejected"


class CableCheckStatus(enum.Enum):
    IDLE = "idle"  # not started
    ONGOING = "ongoing"  # IMD self-test / measurement running
    VALID = "valid"  # isolation verified, output ready for PreCharge
    FAULT = "fault"  # isolation fault or the test could not be done


class EvseFault(enum.Enum):
    """The worst condition of the power path / station right now (closed set, mapped per
    protocol to DC_EVSEStatusCode, EVSENotification and ResponseCode by the SECC)."""

    NONE = "none"
    SHUTDOWN = "shutdown"  # controlled stop requested (operator, CSMS, derating to zero)
    UTILITY_INTERRUPT = "utility_interrupt"
    ISOLATION = "isolation"  # IMD reports a fault during charging
    MALFUNCTION = "malfunction"  # power module / contactor fault
    EMERGENCY = "emergency"  # e-stop or safety chain open


class StationRequest(enum.Enum):
    """What the controller asks of the running session (charger-initiated actions)."""

    NONE = "none"
    STOP = "stop"
    RENEGOTIATE = "renegotiate"


class PaymentMethod(enum.Enum):
    EIM = "ExternalPayment"
    CONTRACT = "Contract"


class SessionEndReason(enum.Enum):
    EV_STOP = "ev_stop"  # SessionStopReq(Terminate) / DIN SessionStopReq
    EV_PAUSE = "ev_pause"  # ISO SessionStopReq(Pause): context persisted
    SEQUENCE_ERROR = "sequence_error"
    UNKNOWN_SESSION = "unknown_session"
    MALFORMED = "malformed"
    SEQUENCE_TIMEOUT = "sequence_timeout"
    AUTH_REJECTED = "auth_rejected"
    AUTH_TIMEOUT = "auth_timeout"
    CABLE_CHECK_FAULT = "cable_check_fault"
    CABLE_CHECK_TIMEOUT = "cable_check_timeout"
    POWER_DELIVERY_FAILED = "power_delivery_failed"
    EVSE_FAULT = "evse_fault"
    EVSE_STOP_NOT_HONOURED = "evse_stop_not_honoured"
    NO_NEGOTIATION = "no_negotiation"
    CONNECTION_LOST = "connection_lost"
    #: The pilot said the car is gone while the session waited (PP open confirmed with the
    #: car in, CP in E): ended at once, not at the car's next request or the sequence timeout.
    EV_GONE = "ev_gone"
    INTERNAL_ERROR = "internal_error"  # our own bug (a chart callback raised)
    #: A request whose parameters the standard tells the SECC to refuse with a specific
    #: FAILED_* code (wrong charge parameter, service/tariff selection, charging profile).
    PARAMETER_ERROR = "parameter_error"


class PncKind(enum.Enum):
    PAYMENT_DETAILS = "PaymentDetails"
    CERTIFICATE_INSTALLATION = "CertificateInstallation"
    CERTIFICATE_UPDATE = "CertificateUpdate"
    METERING_RECEIPT = "MeteringReceipt"


@dataclass(frozen=True, slots=True)
class Measurement:
    """What is physically applied at the DC output, from one sampling instant."""

    voltage_v: float
    current_a: float
    at_ns: int  # when the sample was taken
    isolation: IsolationStatus


@dataclass(frozen=True, slots=True)
class ScheduleEntry:
    start_s: int  # relative to the CPD response
    max_power_w: float


@dataclass(frozen=True, slots=True)
class Schedule:
    """The controller's power schedule (OCPP profile / energy manager) for the SAScheduleList."""

    schedule_id: int  # 1..255 (SAScheduleTupleID)
    entries: tuple[ScheduleEntry, ...]
    duration_s: int  # of the whole schedule


@dataclass(frozen=True, slots=True)
class AuthDecision:
    status: AuthStatus
    reason: str = ""
    #: PENDING in EIM and nobody has presented a token yet: ISO 15118-2 answers
    #: EVSEProcessing=Ongoing_WaitingForCustomerInteraction (DIN has only Ongoing).
    waiting_for_customer: bool = False
    #: REJECTED because the station's authorization wait ran out (not the controller's
    #: verdict): the session ends with AUTH_TIMEOUT.
    timed_out: bool = False


@dataclass(frozen=True, slots=True)
class CableCheckResult:
    status: CableCheckStatus
    reason: str = ""


@dataclass(frozen=True, slots=True)
class PowerPathStatus:
    contactors_closed: bool  # mirror contacts report closed
    output_ready: bool  # converter enabled and regulating (PowerDelivery start may be answered)


@dataclass(frozen=True, slots=True)
class EvInfo:
    """What the car told us, published to the controller as soon as we know it."""

    evccid: bytes
    protocol: AppProtocol
    max_voltage_v: float | None = None
    max_current_a: float | None = None
    max_power_w: float | None = None
    soc_pct: int | None = None
    energy_capacity_wh: float | None = None
    energy_request_wh: float | None = None


class EvRequestSource(enum.Enum):
    """Which EV message carried an `EvRequest` (contract RequestSource)."""

    PRE_CHARGE = "pre_charge"
    CURRENT_DEMAND = "current_demand"


@dataclass(frozen=True, slots=True)
class EvRequest:
    """The car's targets and DC_EVStatus from one PreChargeReq / CurrentDemandReq, as it
    sent them (before the SECC clamps anything): telemetry for the controller
    (plc.ev_request) and the input of the EV-error stop ([V2G-DC-...] / [V2G2-...] via
    `ev_error_code` and `ev_ready`). `ev_error_code` is the EXI DC_EVErrorCodeType value."""

    source: EvRequestSource
    target_voltage_v: float
    target_current_a: float
    soc_pct: int
    ev_ready: bool
    ev_error_code: str = "NO_ERROR"
    charge_complete: bool = False
    bulk_charge_complete: bool | None = None
    remaining_time_to_full_soc_s: int | None = None


@dataclass(frozen=True, slots=True)
class PncRequest:
    """A Plug & Charge request decoded by the SECC, handed to the contract as is."""

    kind: PncKind
    message: object  # the typed exi.iso2 body element


@dataclass(frozen=True, slots=True)
class PncCertificateAnswer:
    """The controller's (CSMS's) answer to the last CertificateInstallation/Update request.

    `exi_response` is the CSMS's complete V2G message (EXI) for the car, present when
    `accepted`; a rejection or the contract's own timeout is `accepted=False`.
    """

    accepted: bool
    exi_response: bytes | None = None


class SeccEnv(Protocol):
    """The station as the SECC sees it. Reads never block; writes never wait."""

    # ---- reads: the latest published value, whatever its age ----
    def measurement(self, now_ns: int) -> Measurement:
        """Latest timestamped snapshot of output voltage/current and isolation level."""
        ...

    def limits(self, now_ns: int) -> EvseLimits:
        """Limits in force now (the contract guard's envelope capped by the power path);
        `derated` once a stop is requested (the SECC then reports the last ones in force)."""
        ...

    def rated_limits(self) -> EvseLimits:
        """The hardware's nominal capability: fallback for CPD when nothing else is known."""
        ...

    def auth_decision(self, now_ns: int) -> AuthDecision:
        """Controller's authorization state for this session (pending until it decides)."""
        ...

    def schedule(self, now_ns: int) -> Schedule | None:
        """The controller's schedule, or None when it is late (the SECC then builds one)."""
        ...

    def cable_check(self, now_ns: int) -> CableCheckResult:
        """State of the isolation test started by `start_cable_check`."""
        ...

    def power_path(self, now_ns: int) -> PowerPathStatus:
        """Contactor feedback and whether the output is enabled and regulating."""
        ...

    def fault(self, now_ns: int) -> EvseFault:
        """Worst current station condition."""
        ...

    def station_request(self, now_ns: int) -> StationRequest:
        """Charger-initiated stop or renegotiation wanted by the controller."""
        ...

    def pnc_certificate_answer(self, now_ns: int) -> PncCertificateAnswer | None:
        """Answer to the last certificate request handed over, None while pending."""
        ...

    def vehicle_ready(self, now_ns: int) -> bool:
        """The pilot reads the car in state C or D (S2 closed: ready to take energy), as
        the isolation test needs (ISO 15118-4 TC_SECC_DC_VTB_CableCheck_008: CableCheckReq
        without C/D -> FAILED)."""
        ...

    def meter_energy_wh(self, now_ns: int) -> float | None:
        """The DC meter's energy register (Wh, import) as its latest reading reported it:
        the same value the controller gets as plc.meas_dc_output energy_wh (OCPP meter
        values); None before any reading. The SECC passes it on in MeterInfo.MeterReading
        (ISO 15118-2 CurrentDemandRes with ReceiptRequired), never recomputes it."""
        ...

    def ev_gone(self, now_ns: int) -> bool:
        """The pilot says the car can no longer take part in this session although the TCP
        connection is still up: PP open with the car still on the pilot (plug unlatched or
        being pulled; confirmed by the pilot) or the pilot in E (CP shorted, no EV diode).
        The pilot has withdrawn power already; the SECC ends a session that waits for the
        car at once (fsm_specs/secc_*.yaml event ev_gone) instead of answering Ongoing."""
        ...

    def pnc_contract_status(self, now_ns: int) -> AuthStatus:
        """Controller's verdict on the contract certificate of the last PaymentDetailsReq
        (OCPP certificateStatus): PENDING until it arrives, ACCEPTED only when valid."""
        ...

    def pnc_contract_response_code(self, now_ns: int) -> str:
        """ISO 15118-2 responseCodeType name for a refused contract certificate
        (FAILED_CertificateExpired, FAILED_CertificateRevoked, FAILED_CertChainError,
        FAILED_NoCertificateAvailable, ...); "FAILED" when the refusal names no
        certificate fault (e.g. the token itself was rejected)."""
        ...

    # ---- requests out: fire-and-forget ----
    def ev_info(self, info: EvInfo, now_ns: int) -> None:
        """Publish what the car told us (EVCCID at SessionSetup, limits at CPD, SOC later)."""
        ...

    def request_authorization(self, method: PaymentMethod, now_ns: int) -> None:
        """Start (or restart) the controller's authorization for this session."""
        ...

    def start_cable_check(self, target_voltage_v: float, now_ns: int) -> None:
        """Close contactors, raise the output to `target_voltage_v`, run the IMD test."""
        ...

    def ev_request(self, request: EvRequest, now_ns: int) -> None:
        """What the car asked for in a PreChargeReq / CurrentDemandReq (plc.ev_request)."""
        ...

    def ev_charging_profile(self, schedule_id: int, entries: list[tuple[int, float]],
                            now_ns: int) -> None:
        """The ChargingProfile of an accepted ISO 15118-2 PowerDeliveryReq(Start) as the
        car sent it ((start s, max power W) entries; plc.ev_charging_profile, for OCPP
        2.0.1 NotifyEVChargingSchedule K15/K17)."""
        ...

    def ev_status(self, message: str, ev_error_code: str, now_ns: int) -> None:
        """The DC_EVStatus.EVErrorCode of a CableCheckReq or PowerDeliveryReq (`message`),
        which carry no targets: an error the car reports before energy flows."""
        ...

    def precharge(self, target_voltage_v: float, target_current_a: float, now_ns: int) -> None:
        """The car's PreCharge targets as it sent them: the power path clamps them once
        (its maximum voltage; 0..2 A, evse.power.controller PRECHARGE_MAX_CURRENT_A) and
        regulates the output to the EV's battery voltage."""
        ...

    def power_delivery(self, start: bool, now_ns: int) -> None:
        """Start: close contactors and enable output. Stop: ramp down to 0 A, disable."""
        ...

    def current_demand(self, target_voltage_v: float, target_current_a: float,
                       now_ns: int) -> DemandClamp:
        """The car's targets (0 A while the SECC signals a stop): the power path clamps
        them once (evse.power.current_loop.clamp_request), regulates to the result and
        returns it; the SECC reports its limit flags and limits as they are."""
        ...

    def start_welding_detection(self, now_ns: int) -> None:
        """Contactors opened: measure the remaining output voltage."""
        ...

    def pnc_request(self, request: PncRequest, now_ns: int) -> None:
        """Hand a Plug & Charge message to the contract."""
        ...

    def session_ended(self, reason: SessionEndReason, now_ns: int) -> None:
        """The V2G session is over (or paused): make the output safe, close the transaction."""
        ...

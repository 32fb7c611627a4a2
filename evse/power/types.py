"""Inputs, commands and status of the power path. Frozen, slotted, units in names."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from evse.contract.limits import DemandClamp, EvseLimits
from evse.contract.values import IsolationStatus
from evse.power.faults import PowerFault


class PowerPathError(Exception):
    """Root of the power-path control errors."""


class PowerPathUsageError(PowerPathError):
    """The caller (SECC or runtime) asked for something the current phase does not allow,
    or passed limits that make no sense (negative, not finite)."""


class PowerPathRemoteError(PowerPathError):
    """The car's request is unusable (negative or non-finite target). Nothing was changed;
    the SECC answers with a FAILED response code."""


class Processing(enum.Enum):
    """EVSEProcessing of CableCheckRes: Ongoing keeps the car polling while the check runs
    (ccs2_dc_reference.md C9, P0 item 4)."""

    ONGOING = "Ongoing"
    FINISHED = "Finished"


class Phase(enum.Enum):
    IDLE = "idle"
    CABLE_CHECK = "cable_check"
    CABLE_CHECK_DONE = "cable_check_done"
    PRECHARGE = "precharge"
    CHARGING = "charging"
    STOPPING = "stopping"
    STOPPED = "stopped"
    FAULTED = "faulted"


class WeldingResult(enum.Enum):
    NOT_CHECKED = "not_checked"
    CHECKING = "checking"
    OPEN = "open"
    WELDED = "welded"
    #: The contacts are apart (the cable side fell below 60 V) but the module side stayed
    #: live past the decay bound: the modules did not switch off, or their discharge path
    #: is lost. Not a weld: fault_table.yaml output_off_not_confirmed.
    MODULE_LIVE = "module_live"


# --- inputs ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EvRequest:
    """From PreChargeReq / CurrentDemandReq (ccs2_dc_reference.md B4 item 10)."""

    target_voltage_v: float
    target_current_a: float


@dataclass(frozen=True, slots=True)
class EmergencyStop:
    """Any caller-detected condition that must open the contactors at once (the board's own
    e-stop input arrives as `evse.ports.board.EStopChanged`)."""

    detail: str = "emergency stop"


@dataclass(frozen=True, slots=True)
class PowerWithdrawn:
    """The pilot withdrew allow_power_on (CP left C2/D2: unplug, C->B, E, F, PWM stop): the
    board opens the contactors now, whatever the power path holds (IEC 61851-1 Table A.6
    seq. 8.1, 100 ms). `cause`: the pilot chart event that withdrew it."""

    cause: str = "pilot"


@dataclass(frozen=True, slots=True)
class PowerRefused:
    """The pilot cannot grant allow_power_on in its state (F, E, emergency, A, PP open, D
    without ventilation; fsm_specs/iec61851.yaml power_refused): the board will not close
    the contactors for this request. `cause`: the pilot's reason and state."""

    cause: str = "pilot"


# --- outputs --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SetModuleOutput:
    voltage_v: float
    current_a: float


@dataclass(frozen=True, slots=True)
class EnableModules:
    pass


@dataclass(frozen=True, slots=True)
class DisableModules:
    pass


@dataclass(frozen=True, slots=True)
class SetContactors:
    closed: bool


@dataclass(frozen=True, slots=True)
class ImdStart:
    pass


@dataclass(frozen=True, slots=True)
class ImdStop:
    pass


@dataclass(frozen=True, slots=True)
class ImdSelfTest:
    test_voltage_v: float


PowerCommand = (
    SetModuleOutput | EnableModules | DisableModules | SetContactors | ImdStart | ImdStop
    | ImdSelfTest
)


@dataclass(frozen=True, slots=True)
class MeasurementSnapshot:
    """One timestamped sample that feeds regulation *and* the response to the car, so what
    the car is told is what was regulated on (P0 item 2, B4 "Consistency constraint")."""

    timestamp_ns: int
    voltage_v: float
    current_a: float
    isolation_resistance_ohm: float | None
    isolation_level: IsolationStatus


@dataclass(frozen=True, slots=True)
class PowerStatus:
    phase: Phase
    isolation_level: IsolationStatus
    cable_check_processing: Processing
    precharge_reached: bool
    present: MeasurementSnapshot | None
    #: The limits in force (EVSEMaximum*Limit), the same record the charge loop clamps with.
    limits: EvseLimits
    #: The charge loop's last clamp (None before the first CurrentDemandReq of a session).
    demand: DemandClamp | None
    welding: WeldingResult
    fault: PowerFault | None

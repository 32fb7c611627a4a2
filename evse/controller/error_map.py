"""One table from every PLC fault and stop reason to what OCPP 1.6 and 2.0.1 say about it.

Why one table: the same fault must read the same on the connector status, the transaction
stop and the 2.0.1 event report (ccs2_dc_reference.md P1 item 9), and a reviewer must be
able to check it row by row; tests/controller/test_error_map.py has one test per row.

1.6 codes are ChargePointErrorCode / Reason of OCPP 1.6 edition 2 §7.6, §7.42; 2.0.1 ones
are ReasonEnumType / TriggerReasonEnumType (part 2 §3.67, §3.81). 2.0.1 has no error code
on StatusNotification: the fault goes to NotifyEvent (component, techCode = fault code).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from evse.controller.plc_port import (
    FaultCode,
    OcppErrorMapEntry,
    OcppErrorMappingCmd,
    StopReason,
)


class Ocpp16Error(enum.Enum):
    """OCPP 1.6 ChargePointErrorCode."""

    CONNECTOR_LOCK_FAILURE = "ConnectorLockFailure"
    EV_COMMUNICATION_ERROR = "EVCommunicationError"
    GROUND_FAILURE = "GroundFailure"
    HIGH_TEMPERATURE = "HighTemperature"
    INTERNAL_ERROR = "InternalError"
    NO_ERROR = "NoError"
    OTHER_ERROR = "OtherError"
    OVER_CURRENT_FAILURE = "OverCurrentFailure"
    OVER_VOLTAGE = "OverVoltage"
    POWER_METER_FAILURE = "PowerMeterFailure"
    POWER_SWITCH_FAILURE = "PowerSwitchFailure"


class Ocpp16Reason(enum.Enum):
    """OCPP 1.6 StopTransaction Reason."""

    DE_AUTHORIZED = "DeAuthorized"
    EMERGENCY_STOP = "EmergencyStop"
    EV_DISCONNECTED = "EVDisconnected"
    HARD_RESET = "HardReset"
    LOCAL = "Local"
    OTHER = "Other"
    POWER_LOSS = "PowerLoss"
    REBOOT = "Reboot"
    REMOTE = "Remote"
    SOFT_RESET = "SoftReset"
    UNLOCK_COMMAND = "UnlockCommand"


class Ocpp201Reason(enum.Enum):
    """OCPP 2.0.1 ReasonEnumType (TransactionEvent transactionInfo.stoppedReason)."""

    DE_AUTHORIZED = "DeAuthorized"
    EMERGENCY_STOP = "EmergencyStop"
    EV_DISCONNECTED = "EVDisconnected"
    GROUND_FAULT = "GroundFault"
    IMMEDIATE_RESET = "ImmediateReset"
    LOCAL = "Local"
    #: 2.0.1 C16: stopped by a token of the MasterPassGroupId.
    MASTER_PASS = "MasterPass"
    OTHER = "Other"
    OVERCURRENT_FAULT = "OvercurrentFault"
    POWER_LOSS = "PowerLoss"
    POWER_QUALITY = "PowerQuality"
    REBOOT = "Reboot"
    REMOTE = "Remote"
    STOPPED_BY_EV = "StoppedByEV"
    TIMEOUT = "Timeout"


class Ocpp201Trigger(enum.Enum):
    """OCPP 2.0.1 TriggerReasonEnumType used on the Ended event."""

    ABNORMAL_CONDITION = "AbnormalCondition"
    CHARGING_STATE_CHANGED = "ChargingStateChanged"
    DEAUTHORIZED = "Deauthorized"
    EV_COMMUNICATION_LOST = "EVCommunicationLost"
    EV_DEPARTED = "EVDeparted"
    REMOTE_STOP = "RemoteStop"
    STOP_AUTHORIZED = "StopAuthorized"
    RESET_COMMAND = "ResetCommand"


@dataclass(frozen=True, slots=True)
class FaultMapping:
    error_16: Ocpp16Error
    reason_16: Ocpp16Reason
    reason_201: Ocpp201Reason
    trigger_201: Ocpp201Trigger
    component_201: str  # NotifyEvent component (OCPP 2.0.1 part 2 appendix 3)


@dataclass(frozen=True, slots=True)
class StopMapping:
    reason_16: Ocpp16Reason
    reason_201: Ocpp201Reason
    trigger_201: Ocpp201Trigger


_E, _R, _R2, _T = Ocpp16Error, Ocpp16Reason, Ocpp201Reason, Ocpp201Trigger

#: Every contract FaultCode. Electrical faults that open the contactors under load end a
#: transaction as EmergencyStop (1.6 has no GroundFault reason); protocol faults as Other.
FAULT_MAP: dict[FaultCode, FaultMapping] = {
    FaultCode.CP_STATE_E: FaultMapping(
        _E.EV_COMMUNICATION_ERROR, _R.OTHER, _R2.OTHER, _T.ABNORMAL_CONDITION, "ControlPilot"),
    FaultCode.CP_STATE_F: FaultMapping(
        _E.INTERNAL_ERROR, _R.OTHER, _R2.OTHER, _T.ABNORMAL_CONDITION, "ControlPilot"),
    FaultCode.CP_DIODE_FAULT: FaultMapping(
        _E.EV_COMMUNICATION_ERROR, _R.OTHER, _R2.OTHER, _T.ABNORMAL_CONDITION, "ControlPilot"),
    # PP open with the car still on the pilot is a plug being pulled (PP breaks first,
    # IEC 62196 contact sequence, IEC 61851-1 proximity detection): the connector reports
    # the fault, but a transaction it ends ends as the car leaving, EVDisconnected (1.6
    # Reason, 2.0.1 ReasonEnumType; TriggerReason EVDeparted), as StopReason.EV_UNPLUGGED
    # does in STOP_MAP, whichever of the two reaches the controller first.
    FaultCode.PP_INVALID: FaultMapping(
        _E.OTHER_ERROR, _R.EV_DISCONNECTED, _R2.EV_DISCONNECTED, _T.EV_DEPARTED,
        "ConnectorPlugRetentionLock"),
    FaultCode.ISOLATION_FAULT: FaultMapping(
        _E.GROUND_FAILURE, _R.EMERGENCY_STOP, _R2.GROUND_FAULT, _T.ABNORMAL_CONDITION,
        "ElectricalFeed"),
    FaultCode.OVER_VOLTAGE: FaultMapping(
        _E.OVER_VOLTAGE, _R.EMERGENCY_STOP, _R2.POWER_QUALITY, _T.ABNORMAL_CONDITION,
        "ElectricalFeed"),
    FaultCode.OVER_CURRENT: FaultMapping(
        _E.OVER_CURRENT_FAILURE, _R.EMERGENCY_STOP, _R2.OVERCURRENT_FAULT,
        _T.ABNORMAL_CONDITION, "ElectricalFeed"),
    FaultCode.OVER_TEMPERATURE: FaultMapping(
        _E.HIGH_TEMPERATURE, _R.OTHER, _R2.OTHER, _T.ABNORMAL_CONDITION, "TemperatureSensor"),
    FaultCode.CONTACTOR_WELDED: FaultMapping(
        _E.POWER_SWITCH_FAILURE, _R.EMERGENCY_STOP, _R2.EMERGENCY_STOP, _T.ABNORMAL_CONDITION,
        "PowerContactor"),
    FaultCode.CONTACTOR_FAILED: FaultMapping(
        _E.POWER_SWITCH_FAILURE, _R.EMERGENCY_STOP, _R2.EMERGENCY_STOP, _T.ABNORMAL_CONDITION,
        "PowerContactor"),
    FaultCode.POWER_MODULE_FAULT: FaultMapping(
        _E.INTERNAL_ERROR, _R.OTHER, _R2.OTHER, _T.ABNORMAL_CONDITION, "PowerModule"),
    FaultCode.IMD_FAULT: FaultMapping(
        _E.GROUND_FAILURE, _R.EMERGENCY_STOP, _R2.GROUND_FAULT, _T.ABNORMAL_CONDITION,
        "InsulationMonitor"),
    FaultCode.CONNECTOR_LOCK_FAULT: FaultMapping(
        _E.CONNECTOR_LOCK_FAILURE, _R.OTHER, _R2.OTHER, _T.ABNORMAL_CONDITION,
        "ConnectorPlugRetentionLock"),
    FaultCode.SLAC_FAILED: FaultMapping(
        _E.EV_COMMUNICATION_ERROR, _R.OTHER, _R2.OTHER, _T.EV_COMMUNICATION_LOST, "ISO15118Ctrlr"),
    FaultCode.V2G_TIMEOUT: FaultMapping(
        _E.EV_COMMUNICATION_ERROR, _R.OTHER, _R2.TIMEOUT, _T.EV_COMMUNICATION_LOST,
        "ISO15118Ctrlr"),
    FaultCode.V2G_PROTOCOL_ERROR: FaultMapping(
        _E.EV_COMMUNICATION_ERROR, _R.OTHER, _R2.OTHER, _T.EV_COMMUNICATION_LOST, "ISO15118Ctrlr"),
    FaultCode.EV_ERROR: FaultMapping(
        _E.OTHER_ERROR, _R.OTHER, _R2.STOPPED_BY_EV, _T.ABNORMAL_CONDITION, "ISO15118Ctrlr"),
    FaultCode.PRECHARGE_FAILED: FaultMapping(
        _E.OTHER_ERROR, _R.OTHER, _R2.OTHER, _T.ABNORMAL_CONDITION, "PowerModule"),
    FaultCode.CABLE_CHECK_FAILED: FaultMapping(
        _E.GROUND_FAILURE, _R.OTHER, _R2.GROUND_FAULT, _T.ABNORMAL_CONDITION, "InsulationMonitor"),
    FaultCode.EMERGENCY_STOP: FaultMapping(
        _E.OTHER_ERROR, _R.EMERGENCY_STOP, _R2.EMERGENCY_STOP, _T.ABNORMAL_CONDITION,
        "EmergencyStopSensor"),
    FaultCode.CONTROLLER_LINK_LOST: FaultMapping(
        _E.INTERNAL_ERROR, _R.OTHER, _R2.OTHER, _T.ABNORMAL_CONDITION, "ChargingStation"),
    FaultCode.LIMITS_EXPIRED: FaultMapping(
        _E.INTERNAL_ERROR, _R.OTHER, _R2.OTHER, _T.ABNORMAL_CONDITION, "SmartChargingCtrlr"),
    FaultCode.INTERNAL_ERROR: FaultMapping(
        _E.INTERNAL_ERROR, _R.OTHER, _R2.OTHER, _T.ABNORMAL_CONDITION, "ChargingStation"),
}

#: Every contract StopReason, as the transaction's stop reason and 2.0.1 trigger.
STOP_MAP: dict[StopReason, StopMapping] = {
    StopReason.EV_REQUESTED: StopMapping(_R.LOCAL, _R2.STOPPED_BY_EV, _T.CHARGING_STATE_CHANGED),
    StopReason.EV_UNPLUGGED: StopMapping(_R.EV_DISCONNECTED, _R2.EV_DISCONNECTED, _T.EV_DEPARTED),
    StopReason.EV_ERROR: StopMapping(_R.OTHER, _R2.STOPPED_BY_EV, _T.ABNORMAL_CONDITION),
    StopReason.AUTH_REJECTED: StopMapping(_R.DE_AUTHORIZED, _R2.DE_AUTHORIZED, _T.DEAUTHORIZED),
    StopReason.AUTH_TIMEOUT: StopMapping(_R.DE_AUTHORIZED, _R2.TIMEOUT, _T.DEAUTHORIZED),
    StopReason.PNC_TIMEOUT: StopMapping(_R.DE_AUTHORIZED, _R2.TIMEOUT, _T.DEAUTHORIZED),
    # A graceful controller stop is Remote or Local depending on who asked: the core
    # replaces this default with the origin it recorded (RemoteStop vs token presented).
    StopReason.CONTROLLER_STOP_GRACEFUL: StopMapping(_R.REMOTE, _R2.REMOTE, _T.REMOTE_STOP),
    StopReason.CONTROLLER_STOP_EMERGENCY: StopMapping(
        _R.EMERGENCY_STOP, _R2.EMERGENCY_STOP, _T.ABNORMAL_CONDITION),
    StopReason.CONTROLLER_DISABLED: StopMapping(_R.OTHER, _R2.OTHER, _T.ABNORMAL_CONDITION),
    StopReason.CONTROLLER_LINK_LOST: StopMapping(_R.OTHER, _R2.OTHER, _T.ABNORMAL_CONDITION),
    StopReason.LIMITS_EXPIRED: StopMapping(_R.OTHER, _R2.OTHER, _T.ABNORMAL_CONDITION),
    StopReason.NO_CONTROLLER_LIMITS: StopMapping(_R.OTHER, _R2.OTHER, _T.ABNORMAL_CONDITION),
    StopReason.CONTROLLED_STOP_TIMEOUT: StopMapping(
        _R.EMERGENCY_STOP, _R2.EMERGENCY_STOP, _T.ABNORMAL_CONDITION),
    StopReason.FAULT: StopMapping(_R.OTHER, _R2.OTHER, _T.ABNORMAL_CONDITION),
    StopReason.V2G_TIMEOUT: StopMapping(_R.OTHER, _R2.TIMEOUT, _T.EV_COMMUNICATION_LOST),
    # The station's own e-stop button (1.6 §7.42 EmergencyStop "emergency stop button was
    # used"); a controller STOP_EMERGENCY is CONTROLLER_STOP_EMERGENCY above.
    StopReason.EMERGENCY_STOP: StopMapping(
        _R.EMERGENCY_STOP, _R2.EMERGENCY_STOP, _T.ABNORMAL_CONDITION),
    StopReason.SLAC_FAILED: StopMapping(_R.OTHER, _R2.OTHER, _T.EV_COMMUNICATION_LOST),
    StopReason.V2G_PROTOCOL_ERROR: StopMapping(_R.OTHER, _R2.OTHER, _T.EV_COMMUNICATION_LOST),
    # The station lost its supply mid-session and restarted (1.6 PowerLoss, 2.0.1 PowerLoss).
    StopReason.POWER_LOSS: StopMapping(_R.POWER_LOSS, _R2.POWER_LOSS, _T.ABNORMAL_CONDITION),
}


def fault_mapping(code: FaultCode) -> FaultMapping:
    return FAULT_MAP[code]


def stop_mapping(reason: StopReason) -> StopMapping:
    return STOP_MAP[reason]


def error_mapping_command() -> OcppErrorMappingCmd:
    """The table as ctrl.ocpp_error_mapping. 2.0.1 NotifyEvent uses the fault code itself
    as techCode, so no `ocpp201_event_code` override is sent."""
    return OcppErrorMappingCmd(tuple(
        OcppErrorMapEntry(code, m.error_16.value) for code, m in FAULT_MAP.items()))

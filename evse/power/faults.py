"""Fault reasons and how they reach the SECC (EVSEStatusCode) and the controller (B5 plc.fault)."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from evse.contract.values import FaultCode


class Severity(enum.Enum):
    """Which shutdown path a fault takes."""

    ERROR = "error"  # ramp down, switch off, then open (error shutdown)
    EMERGENCY = "emergency"  # open at once (emergency shutdown)


class Clearing(enum.Enum):
    """How a fault clears (the `clearing` column of fault_table.yaml, issue 11)."""

    SELF_CLEARING = "self_clearing"  # when the car is unplugged and the cause is gone
    LATCHED = "latched"  # until the operator's RESET_FAULT, once the cause is gone
    PERMANENT = "permanent"  # until service: RESET_FAULT is refused


class FaultReason(enum.Enum):
    # cable check (hardware.md §2.5 steps)
    VOLTAGE_NOT_BELOW_60V = "voltage_not_below_60v"
    CONTACTOR_NOT_CLOSED = "contactor_not_closed"
    TEST_VOLTAGE_NOT_REACHED = "test_voltage_not_reached"
    SELF_TEST_FAILED = "imd_self_test_failed"
    SELF_TEST_TIMEOUT = "imd_self_test_timeout"
    IMD_NO_MEASUREMENT = "imd_no_measurement"
    INSULATION_FAULT = "insulation_fault"
    VOLTAGE_TO_EARTH = "voltage_to_earth"
    DISCHARGE_TIMEOUT = "discharge_timeout"
    # precharge / charging
    PRECHARGE_TIMEOUT = "precharge_timeout"
    OVER_VOLTAGE = "over_voltage"
    EMERGENCY_OVER_VOLTAGE = "emergency_over_voltage"
    MODULE_COMM_LOST = "module_comm_lost"
    MODULE_ALARM = "module_alarm"
    NO_MODULES = "no_modules"
    IMD_DEVICE_FAULT = "imd_device_fault"
    LIMITS_EXPIRED = "limits_expired"
    CONTACTOR_OPENED_UNEXPECTEDLY = "contactor_opened_unexpectedly"
    CONTACTOR_WELDED = "contactor_welded"
    OFF_NOT_CONFIRMED = "output_off_not_confirmed"
    CONTACTOR_WELDED_REPEATED = "contactor_welded_repeated"
    EMERGENCY_STOP = "emergency_stop"
    CONTROLLER_EMERGENCY_STOP = "controller_emergency_stop"
    BOARD_FAULT = "board_fault"
    # detections of issue 11
    OVER_CURRENT = "over_current"
    OVER_TEMPERATURE = "over_temperature"
    METER_STALE = "meter_stale"
    OUTPUT_COLLAPSE = "output_collapse"


@dataclass(frozen=True, slots=True)
class PowerFault:
    """One raised fault. Built by `evse.power.fault_table.make_fault` from its table row, so
    `severity`, `clearing` and `fault_code` are the row's. The controller sees it as the
    contract's PlcFault under `fault_code` (the one mapping: the table's fault_code column,
    published by the station)."""

    reason: FaultReason
    severity: Severity
    detail: str
    timestamp_ns: int
    clearing: Clearing
    fault_code: FaultCode

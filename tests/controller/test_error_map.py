"""One test per row of the error-mapping table (reference P1 item 9): a PLC fault or stop
reason during a transaction, and what the CSMS sees in 1.6 and 2.0.1."""

from __future__ import annotations

import pytest

from evse.controller.error_map import FAULT_MAP, STOP_MAP
from evse.controller.plc_port import FaultCode, FaultSeverity, PlcFault, StopReason
from tests.controller.harness import Rig

# fault -> (1.6 errorCode, 1.6 stop reason, 2.0.1 stoppedReason, 2.0.1 triggerReason)
FAULT_ROWS = {
    "CP_STATE_E": ("EVCommunicationError", "Other", "Other", "AbnormalCondition"),
    "CP_STATE_F": ("InternalError", "Other", "Other", "AbnormalCondition"),
    "CP_DIODE_FAULT": ("EVCommunicationError", "Other", "Other", "AbnormalCondition"),
    "PP_INVALID": ("OtherError", "EVDisconnected", "EVDisconnected", "EVDeparted"),
    "ISOLATION_FAULT": ("GroundFailure", "EmergencyStop", "GroundFault", "AbnormalCondition"),
    "OVER_VOLTAGE": ("OverVoltage", "EmergencyStop", "PowerQuality", "AbnormalCondition"),
    "OVER_CURRENT": ("OverCurrentFailure", "EmergencyStop", "OvercurrentFault",
                     "AbnormalCondition"),
    "OVER_TEMPERATURE": ("HighTemperature", "Other", "Other", "AbnormalCondition"),
    "CONTACTOR_WELDED": ("PowerSwitchFailure", "EmergencyStop", "EmergencyStop",
                         "AbnormalCondition"),
    "CONTACTOR_FAILED": ("PowerSwitchFailure", "EmergencyStop", "EmergencyStop",
                         "AbnormalCondition"),
    "POWER_MODULE_FAULT": ("InternalError", "Other", "Other", "AbnormalCondition"),
    "IMD_FAULT": ("GroundFailure", "EmergencyStop", "GroundFault", "AbnormalCondition"),
    "CONNECTOR_LOCK_FAULT": ("ConnectorLockFailure", "Other", "Other", "AbnormalCondition"),
    "SLAC_FAILED": ("EVCommunicationError", "Other", "Other", "EVCommunicationLost"),
    "V2G_TIMEOUT": ("EVCommunicationError", "Other", "Timeout", "EVCommunicationLost"),
    "V2G_PROTOCOL_ERROR": ("EVCommunicationError", "Other", "Other", "EVCommunicationLost"),
    "EV_ERROR": ("OtherError", "Other", "StoppedByEV", "AbnormalCondition"),
    "PRECHARGE_FAILED": ("OtherError", "Other", "Other", "AbnormalCondition"),
    "CABLE_CHECK_FAILED": ("GroundFailure", "Other", "GroundFault", "AbnormalCondition"),
    "EMERGENCY_STOP": ("OtherError", "EmergencyStop", "EmergencyStop", "AbnormalCondition"),
    "CONTROLLER_LINK_LOST": ("InternalError", "Other", "Other", "AbnormalCondition"),
    "LIMITS_EXPIRED": ("InternalError", "Other", "Other", "AbnormalCondition"),
    "INTERNAL_ERROR": ("InternalError", "Other", "Other", "AbnormalCondition"),
}

# stop reason -> (1.6 reason, 2.0.1 stoppedReason, 2.0.1 triggerReason)
STOP_ROWS = {
    "EV_REQUESTED": ("Local", "StoppedByEV", "ChargingStateChanged"),
    "EV_UNPLUGGED": ("EVDisconnected", "EVDisconnected", "EVDeparted"),
    "EV_ERROR": ("Other", "StoppedByEV", "AbnormalCondition"),
    "AUTH_REJECTED": ("DeAuthorized", "DeAuthorized", "Deauthorized"),
    "AUTH_TIMEOUT": ("DeAuthorized", "Timeout", "Deauthorized"),
    "PNC_TIMEOUT": ("DeAuthorized", "Timeout", "Deauthorized"),
    "CONTROLLER_STOP_GRACEFUL": ("Remote", "Remote", "RemoteStop"),
    "CONTROLLER_STOP_EMERGENCY": ("EmergencyStop", "EmergencyStop", "AbnormalCondition"),
    "CONTROLLER_DISABLED": ("Other", "Other", "AbnormalCondition"),
    "CONTROLLER_LINK_LOST": ("Other", "Other", "AbnormalCondition"),
    "LIMITS_EXPIRED": ("Other", "Other", "AbnormalCondition"),
    "NO_CONTROLLER_LIMITS": ("Other", "Other", "AbnormalCondition"),
    "CONTROLLED_STOP_TIMEOUT": ("EmergencyStop", "EmergencyStop", "AbnormalCondition"),
    "FAULT": ("Other", "Other", "AbnormalCondition"),
    "V2G_TIMEOUT": ("Other", "Timeout", "EVCommunicationLost"),
    "EMERGENCY_STOP": ("EmergencyStop", "EmergencyStop", "AbnormalCondition"),
    "SLAC_FAILED": ("Other", "Other", "EVCommunicationLost"),
    "V2G_PROTOCOL_ERROR": ("Other", "Other", "EVCommunicationLost"),
    "POWER_LOSS": ("PowerLoss", "PowerLoss", "AbnormalCondition"),
}


@pytest.mark.req("P1-9")
def test_every_contract_fault_and_stop_reason_has_a_row() -> None:
    assert set(FAULT_ROWS) == {c.value for c in FaultCode} == {c.value for c in FAULT_MAP}
    assert set(STOP_ROWS) == {r.value for r in StopReason} == {r.value for r in STOP_MAP}


def _charging(version: str) -> Rig:
    rig = Rig(version)
    rig.plug()
    rig.ev_waits_for_auth()
    rig.token("TAG-OK")
    rig.power_on()
    rig.charge(2)
    return rig


@pytest.mark.parametrize("code", sorted(FAULT_ROWS))
@pytest.mark.req("P1-9")
def test_fault_row(code: str) -> None:
    error16, reason16, reason201, trigger201 = FAULT_ROWS[code]
    rig = _charging("1.6")
    rig.plc(PlcFault(FaultCode(code), FaultSeverity.ERROR))
    assert rig.state == "faulted"
    last = rig.csms.of("StatusNotification")[-1]
    assert (last["status"], last["errorCode"]) == ("Faulted", error16)
    (tx,) = rig.csms.transactions.values()
    assert tx.stop_reason == reason16
    rig.plc(PlcFault(FaultCode(code), FaultSeverity.ERROR, active=False))
    assert rig.state == "finishing"
    assert rig.csms.of("StatusNotification")[-1]["errorCode"] == "NoError"

    rig = _charging("2.0.1")
    rig.plc(PlcFault(FaultCode(code), FaultSeverity.CRITICAL))
    (tx,) = rig.csms.transactions.values()
    assert tx.stop_reason == reason201
    assert tx.events[-1].split(":")[:2] == ["Ended", trigger201]
    assert rig.csms.of("StatusNotification")[-1]["connectorStatus"] == "Faulted"
    assert rig.csms.violations == []


@pytest.mark.parametrize("reason", sorted(STOP_ROWS))
@pytest.mark.req("P1-9")
def test_stop_reason_row(reason: str) -> None:
    reason16, reason201, trigger201 = STOP_ROWS[reason]
    for version, expected in (("1.6", reason16), ("2.0.1", reason201)):
        rig = _charging(version)
        if reason == "CONTROLLER_STOP_GRACEFUL":
            # Graceful controller stop: the origin (here RemoteStop) names the reason.
            tx_id = next(iter(rig.csms.transactions))
            if version == "1.6":
                rig.csms.call("RemoteStopTransaction", {"transactionId": int(tx_id)})
            else:
                rig.csms.call("RequestStopTransaction", {"transactionId": tx_id})
            rig.link.pump()
        rig.power_off(StopReason(reason))
        (tx,) = rig.csms.transactions.values()
        assert tx.stop_reason == expected
        if version == "2.0.1":
            assert tx.events[-1].split(":")[:2] == ["Ended", trigger201]


def test_warning_fault_keeps_charging_and_shows_as_error_code() -> None:
    rig = _charging("1.6")
    rig.plc(PlcFault(FaultCode.OVER_TEMPERATURE, FaultSeverity.WARNING))
    rig.plc(PlcFault(FaultCode.OVER_TEMPERATURE, FaultSeverity.WARNING))  # 1 Hz refresh
    assert rig.state == "charging"
    rig.plc(PlcFault(FaultCode.OVER_TEMPERATURE, FaultSeverity.WARNING, active=False))
    tail = [(p["status"], p["errorCode"]) for p in rig.csms.of("StatusNotification")][-3:]
    assert tail == [("Charging", "NoError"), ("Charging", "HighTemperature"),
                    ("Charging", "NoError")]


def test_severe_fault_wins_over_a_warning_and_clearing_it_leaves_the_warning() -> None:
    rig = _charging("1.6")
    rig.plc(PlcFault(FaultCode.OVER_TEMPERATURE, FaultSeverity.WARNING))
    rig.plc(PlcFault(FaultCode.CONTACTOR_WELDED, FaultSeverity.CRITICAL, latched=True))
    assert rig.csms.of("StatusNotification")[-1]["errorCode"] == "PowerSwitchFailure"
    rig.plc(PlcFault(FaultCode.CONTACTOR_WELDED, FaultSeverity.CRITICAL, active=False))
    last = rig.csms.of("StatusNotification")[-1]
    assert (last["status"], last["errorCode"]) == ("Finishing", "HighTemperature")


def test_the_table_is_published_to_the_plc_at_start() -> None:
    from evse.controller.plc_port import OcppErrorMappingCmd

    rig = Rig("1.6")
    (cmd,) = [c for c in rig.commands if isinstance(c, OcppErrorMappingCmd)]
    table = {e.fault_code.value: e.ocpp16_error_code for e in cmd.entries}
    assert table == {code: row[0] for code, row in FAULT_ROWS.items()}

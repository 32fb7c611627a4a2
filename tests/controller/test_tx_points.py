"""2.0.1 TxStartPoint / TxStopPoint (E01 Start Transaction options, E06 Stop Transaction
options): the moments that open and close the transaction, set in the config or by the
CSMS (SetVariables), as the CSMS simulator sees them (every frame schema-validated)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from evse.controller.config import ControllerConfig, config_from_mapping
from evse.controller.core import Controller
from evse.controller.errors import ControllerUsageError
from evse.controller.plc_port import (
    FaultCode,
    FaultSeverity,
    PhaseChanged,
    PlcFault,
    V2gPhase,
)
from evse.controller.store import Store
from tests.controller.harness import Rig, ask


def events(rig: Rig) -> list[tuple[str, str, str]]:
    """(eventType, triggerReason, chargingState) of every TransactionEvent but meter
    samples."""
    return [(p["eventType"], p["triggerReason"], p["transactionInfo"].get("chargingState", ""))
            for p in rig.csms.of("TransactionEvent")
            if p["triggerReason"] not in ("MeterValuePeriodic", "MeterValueClock")]


def ended(rig: Rig) -> list[dict[str, Any]]:
    return [p for p in rig.csms.of("TransactionEvent") if p["eventType"] == "Ended"]


def set_points(rig: Rig, start: str, stop: str) -> None:
    res = ask(rig, "SetVariables", {"setVariableData": [
        {"component": {"name": "TxCtrlr"}, "variable": {"name": "TxStartPoint"},
         "attributeValue": start},
        {"component": {"name": "TxCtrlr"}, "variable": {"name": "TxStopPoint"},
         "attributeValue": stop}]})["setVariableResult"]
    assert [r["attributeStatus"] for r in res] == ["Accepted", "Accepted"]


def test_ev_connected_start_and_stop_points_span_the_plug_in() -> None:
    """E02 with TxStartPoint EVConnected: Started at the plug-in without a token
    (CablePluggedIn), the token later in an Updated event (Authorized, answered with
    idTokenInfo), the energy transfer as ChargingStateChanged; TxStopPoint EVConnected
    keeps the transaction open after the energy transfer until the car leaves."""
    rig = Rig("2.0.1", tx_start_points="EVConnected", tx_stop_points="EVConnected")
    rig.plug()
    (started,) = rig.csms.of("TransactionEvent")
    assert "idToken" not in started and started["triggerReason"] == "CablePluggedIn"
    rig.ev_waits_for_auth()
    rig.token("TAG-OK")
    rig.power_on()
    rig.charge(3)
    rig.power_off()
    rig.session_end()
    rig.run(5)
    assert ended(rig) == []  # the energy transfer is over, the car is still there
    rig.unplug()
    assert events(rig) == [("Started", "CablePluggedIn", "EVConnected"),
                           ("Updated", "Authorized", "EVConnected"),
                           ("Updated", "ChargingStateChanged", "Charging"),
                           ("Ended", "EVDeparted", "Idle")]
    (end,) = ended(rig)
    assert end["transactionInfo"]["stoppedReason"] == "EVDisconnected"
    authorized = rig.csms.of("TransactionEvent")[1]
    assert authorized["idToken"] == {"idToken": "TAG-OK", "type": "ISO14443"}
    (tx,) = rig.csms.transactions.values()
    assert tx.id_tag == "TAG-OK" and tx.meter_stop_wh is not None
    assert rig.csms.violations == []


def test_authorized_start_and_stop_points_from_set_variables() -> None:
    """E03 (IdToken first) with TxStartPoint Authorized, set by the CSMS: Started when the
    card is accepted before the plug-in (Idle, with the idToken), CablePluggedIn when the
    car arrives; TxStopPoint Authorized ends it when the driver stops with the card (the
    authorization ends), stoppedReason Local."""
    rig = Rig("2.0.1")
    set_points(rig, "Authorized", "Authorized")
    rig.token("TAG-OK")
    (started,) = rig.csms.of("TransactionEvent")
    assert started["idToken"]["idToken"] == "TAG-OK"
    rig.plug()
    rig.ev_waits_for_auth()
    rig.power_on()
    rig.charge(3)
    rig.token("TAG-OK")  # the same card again: stop
    assert events(rig) == [("Started", "Authorized", "Idle"),
                           ("Updated", "CablePluggedIn", "EVConnected"),
                           ("Updated", "ChargingStateChanged", "Charging"),
                           ("Ended", "StopAuthorized", "EVConnected")]
    assert ended(rig)[0]["transactionInfo"]["stoppedReason"] == "Local"
    rig.power_off()
    rig.session_end()
    rig.unplug()
    assert len(ended(rig)) == 1 and rig.csms.violations == []


def test_power_path_closed_start_and_stop_points() -> None:
    """TxStartPoint PowerPathClosed: nothing at plug-in or authorization; Started when the
    cable check closes the DC output (plc.v2g_phase CABLECHECK), with the idToken;
    TxStopPoint PowerPathClosed ends it with the energy transfer."""
    rig = Rig("2.0.1", tx_start_points="PowerPathClosed", tx_stop_points="PowerPathClosed")
    rig.plug()
    rig.ev_waits_for_auth()
    rig.token("TAG-OK")
    assert rig.csms.of("TransactionEvent") == []
    rig.plc(PhaseChanged(V2gPhase.CABLECHECK))
    (started,) = rig.csms.of("TransactionEvent")
    assert started["idToken"]["idToken"] == "TAG-OK"
    rig.power_on()
    rig.charge(3)
    rig.power_off()
    assert events(rig) == [("Started", "ChargingStateChanged", "EVConnected"),
                           ("Updated", "ChargingStateChanged", "Charging"),
                           ("Ended", "ChargingStateChanged", "EVConnected")]
    assert ended(rig)[0]["transactionInfo"]["stoppedReason"] == "StoppedByEV"
    rig.session_end()
    rig.unplug()
    assert len(ended(rig)) == 1 and rig.csms.violations == []


def test_default_energy_transfer_points_and_a_session_that_never_charges() -> None:
    """The default (EnergyTransfer / EnergyTransfer): no transaction for a session that
    ends before the energy flows; EVConnected start with the EnergyTransfer stop point
    ends at the energy transfer's end; an unplug ends any open transaction
    (StopTxOnEVSideDisconnect)."""
    rig = Rig("2.0.1")
    rig.plug()
    rig.ev_waits_for_auth()
    rig.token("TAG-OK")
    rig.plc(PhaseChanged(V2gPhase.CABLECHECK))
    rig.session_end()
    rig.unplug()
    assert rig.csms.of("TransactionEvent") == []
    rig = Rig("2.0.1", tx_start_points="EVConnected", tx_stop_points="EnergyTransfer")
    rig.plug()
    rig.unplug()  # the car left before any energy: the transaction ends anyway
    assert [e[0] for e in events(rig)] == ["Started", "Ended"]
    assert rig.csms.violations == []


def test_tx_points_config_and_unsupported_values() -> None:
    assert config_from_mapping({"tx_start_points": "EVConnected,Authorized"}) \
        .tx_start_points == "EVConnected,Authorized"
    for bad in ("ParkingBayOccupancy", "DataSigned", "", "EVConnected,Nope"):
        with pytest.raises(ControllerUsageError, match="controller.tx_start_points"):
            config_from_mapping({"tx_start_points": bad})
    with pytest.raises(ControllerUsageError, match="controller.tx_stop_points"):
        Controller(ControllerConfig(tx_stop_points="Sometimes"), Store(":memory:"))
    rig = Rig("2.0.1")
    res = ask(rig, "SetVariables", {"setVariableData": [
        {"component": {"name": "TxCtrlr"}, "variable": {"name": "TxStopPoint"},
         "attributeValue": "DataSigned"}]})["setVariableResult"]
    assert res[0]["attributeStatus"] == "Rejected"
    assert rig.ctrl.settings.get("TxStopPoint") == "EnergyTransfer"
    # 1.6 has no TxStartPoint: its transaction starts at the energy transfer regardless
    rig16 = Rig("1.6", tx_start_points="EVConnected")
    rig16.plug()
    assert "StartTransaction" not in rig16.csms.actions()


def test_E01_G03_no_transaction_starts_while_the_connector_is_unavailable() -> None:
    """TxStartPoint EVConnected, G03: a car plugged into an Inoperative connector starts
    no transaction (nor charges: the PLC stays disabled); made Operative with the car
    still there, the plug-in counts from then on: Preparing and Started
    (CablePluggedIn)."""
    rig = Rig("2.0.1", tx_start_points="EVConnected", tx_stop_points="EVConnected")
    assert ask(rig, "ChangeAvailability", {"operationalStatus": "Inoperative",
                                           "evse": {"id": 1}}) == {"status": "Accepted"}
    rig.plug()
    rig.run(5)
    assert rig.state == "unavailable" and rig.csms.of("TransactionEvent") == []
    assert ask(rig, "ChangeAvailability", {"operationalStatus": "Operative"}) == {
        "status": "Accepted"}
    assert rig.state.startswith("preparing")
    (started,) = rig.csms.of("TransactionEvent")
    assert (started["eventType"], started["triggerReason"]) == ("Started", "CablePluggedIn")
    assert rig.csms.of("StatusNotification")[-1]["connectorStatus"] == "Occupied"
    rig.unplug()
    assert [e[0] for e in events(rig)] == ["Started", "Ended"]
    assert rig.csms.violations == []


def test_E01_G04_no_transaction_starts_while_the_connector_is_faulted() -> None:
    """TxStartPoint EVConnected: a car plugged into a Faulted connector starts no
    transaction; the fault clearing leaves the connector Finishing (the car must be
    plugged in again), still without a transaction."""
    rig = Rig("2.0.1", tx_start_points="EVConnected", tx_stop_points="EVConnected")
    fault = PlcFault(FaultCode.IMD_FAULT, FaultSeverity.ERROR, diagnostic="R_iso 80 kOhm")
    rig.plc(fault)
    assert rig.state == "faulted"
    rig.plug()
    rig.run(5)
    rig.plc(replace(fault, active=False))
    assert rig.state == "finishing"
    rig.unplug()
    assert rig.csms.of("TransactionEvent") == []
    rig.plug()  # a plug-in on the operative connector starts one
    assert [e[0] for e in events(rig)] == ["Started"]
    assert rig.csms.violations == []


def periodic(rig: Rig) -> list[dict[str, Any]]:
    return [p for p in rig.csms.of("TransactionEvent")
            if p["triggerReason"] == "MeterValuePeriodic"]


def seconds(ts: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()


def test_J02_E01_periodic_samples_run_from_the_transaction_start_not_the_energy() -> None:
    """J02: SampledDataCtrlr.TxUpdatedInterval samples are due from the transaction's
    start. With TxStartPoint EVConnected the car waits 12 s for its driver before the
    energy flows: two samples already (chargingState EVConnected, each 5 s after the
    last, from the Started event), then Charging ones; after the energy transfer, with
    TxStopPoint EVConnected, they go on (EVConnected) until the unplug ends it."""
    rig = Rig("2.0.1", tx_start_points="EVConnected", tx_stop_points="EVConnected")
    assert ask(rig, "SetVariables", {"setVariableData": [
        {"component": {"name": "SampledDataCtrlr"}, "variable": {"name": "TxUpdatedInterval"},
         "attributeValue": "5"}]})["setVariableResult"][0]["attributeStatus"] == "Accepted"
    rig.run(2.5)  # off the 5 s grid of the boot: the samples count from the plug-in
    rig.meas(0.0)
    rig.plug()
    rig.ev_waits_for_auth()
    rig.run(12)
    started = rig.csms.of("TransactionEvent")[0]
    before = periodic(rig)
    assert [p["transactionInfo"]["chargingState"] for p in before] == ["EVConnected"] * 2
    t0 = seconds(started["timestamp"])
    assert [seconds(p["timestamp"]) - t0 for p in before] == [5.0, 10.0]
    assert before[0]["meterValue"][0]["sampledValue"][0]["context"] == "Sample.Periodic"
    rig.token("TAG-OK")
    rig.power_on()
    rig.charge(6)
    assert periodic(rig)[2]["transactionInfo"]["chargingState"] == "Charging"
    rig.power_off()
    rig.session_end()
    rig.run(6)
    assert periodic(rig)[-1]["transactionInfo"]["chargingState"] == "EVConnected"
    rig.unplug()
    n = len(periodic(rig))
    rig.run(20)
    assert len(periodic(rig)) == n  # the transaction ended: no more samples
    assert rig.csms.violations == []


def test_J02_authorized_start_point_samples_before_the_car_charges() -> None:
    """TxStartPoint Authorized (remote start first, E03/F02): the transaction is open
    from the authorization; once the car's meter reads (plug-in), samples follow every
    TxUpdatedInterval from the transaction's start, before the energy transfer. Without
    a meter reading none is invented."""
    rig = Rig("2.0.1", tx_start_points="Authorized", tx_stop_points="EVConnected")
    ask(rig, "SetVariables", {"setVariableData": [
        {"component": {"name": "SampledDataCtrlr"}, "variable": {"name": "TxUpdatedInterval"},
         "attributeValue": "4"}]})
    rig.token("TAG-OK")
    (started,) = rig.csms.of("TransactionEvent")
    assert started["eventType"] == "Started"
    rig.run(5)
    assert periodic(rig) == []  # no meter reading yet: nothing invented
    rig.meas(0.0)
    rig.plug()
    rig.run(4)
    (sample,) = periodic(rig)
    assert seconds(sample["timestamp"]) - seconds(started["timestamp"]) == 8.0
    assert sample["transactionInfo"]["chargingState"] == "EVConnected"
    rig.unplug()
    assert rig.csms.violations == []


def test_J02_16_meter_values_follow_the_sample_interval_from_start_transaction() -> None:
    """1.6 §4.7 / §9.1 MeterValueSampleInterval: MeterValues of the transaction every
    interval from StartTransaction, while it runs, none after StopTransaction."""
    rig = Rig("1.6", meter_sample_interval_s=10.0)
    rig.plug()
    rig.ev_waits_for_auth()
    rig.token("TAG-OK")
    rig.run(3)
    rig.power_on()
    start = rig.link.now_ns
    rig.charge(25)
    rig.power_off()
    assert len(rig.csms.of("MeterValues")) == 2
    rig.session_end()
    rig.unplug()
    rig.run(30)
    assert len(rig.csms.of("MeterValues")) == 2
    assert start > 0 and rig.csms.violations == []


def test_J02_a_new_tx_updated_interval_applies_to_the_running_transaction() -> None:
    """SetVariables TxUpdatedInterval during a transaction: the next sample comes one new
    interval after the change (not at the old interval, nor only in the next
    transaction); 0 stops the periodic samples."""
    rig = Rig("2.0.1", tx_start_points="EVConnected", meter_sample_interval_s=60.0)
    rig.meas(0.0)
    rig.plug()
    rig.run(10)
    assert periodic(rig) == []
    ask(rig, "SetVariables", {"setVariableData": [
        {"component": {"name": "SampledDataCtrlr"}, "variable": {"name": "TxUpdatedInterval"},
         "attributeValue": "3"}]})
    rig.run(7)
    t0 = seconds(rig.csms.of("TransactionEvent")[0]["timestamp"])
    assert [seconds(p["timestamp"]) - t0 for p in periodic(rig)] == [13.0, 16.0]
    ask(rig, "SetVariables", {"setVariableData": [
        {"component": {"name": "SampledDataCtrlr"}, "variable": {"name": "TxUpdatedInterval"},
         "attributeValue": "0"}]})
    rig.run(10)
    assert len(periodic(rig)) == 2
    assert rig.csms.violations == []

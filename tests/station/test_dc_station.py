"""Whole-station sessions in virtual time: car, pilot, SLAC, SDP, SECC, power path on CAN,
contract, OCPP controller and CSMS simulator, with faults injected where the P0 list says
real chargers fail."""

from __future__ import annotations

import json

import pytest

from evse.contract.events import PeerRestarted
from evse.contract.guard import CONTROLLED_STOP_TIMEOUT_NS
from evse.controller.auth import IdInfo, IdStatus
from evse.power.shutdown import EMERGENCY_OPEN_BOUND_NS, ERROR_SHUTDOWN_OPEN_BOUND_NS
from evse.runtime.config import StationConfig
from evse.runtime.dc_station import DcStation, SessionConfig
from evse.runtime.ocpp_side import OcppSide

S = 1_000_000_000
MS = 1_000_000


def station(**session: object) -> DcStation:
    st = DcStation(StationConfig(), SessionConfig(**session))  # type: ignore[arg-type]
    st.start()
    st.sched.run_until(1 * S)
    st.plug_in()
    return st


def run_until(st: DcStation, pred: object, limit_s: float) -> None:
    assert callable(pred)
    ok = st.sched.run_until_true(pred, limit_ns=round(limit_s * S))
    assert ok, f"condition not reached within {limit_s} s; milestones {st.log.milestones}"


def charging(st: DcStation) -> None:
    run_until(st, lambda: st.secc is not None and st.secc.state == "charging"
              and st.world.plant.connector_current_a > 50, 60)


@pytest.mark.parametrize(("protocol", "ocpp"), [("din", "1.6"), ("iso2", "2.0.1"),
                                                ("iso2", "1.6"), ("din", "2.0.1")])
def test_complete_session_charges_the_car_and_bills_it(protocol: str, ocpp: str) -> None:
    st = station(protocol=protocol, ocpp=ocpp, charge_s=30)
    soc0 = st.ev_profile.battery.soc_pct
    run_until(st, lambda: st.log.ev_result is not None, 120)
    assert st.log.ev_result == "OK: charge time over"
    assert st.ev_profile.battery.soc_pct > soc0 + 0.2  # ~60 kW for 30 s into 77 kWh
    st.sched.run_for(2 * S)
    assert not st.world.board.contact_closed
    st.unplug()
    st.sched.run_for(1 * S)
    assert st.cp.state == "A"
    csms = st.controller.csms  # type: ignore[union-attr]
    assert csms.violations == []
    actions = csms.actions()
    start = "StartTransaction" if ocpp == "1.6" else "TransactionEvent"
    assert start in actions and "Authorize" in actions
    # The transaction starts at the first energy transfer, not at plug-in (P1 item 10).
    tx = next(iter(csms.transactions.values()))
    assert tx.meter_stop_wh is not None and tx.meter_stop_wh > 100.0
    st.close()


@pytest.mark.req("P1-10")
def test_transaction_starts_at_power_delivery_not_at_plug_in() -> None:
    st = station(protocol="din", ocpp="1.6", charge_s=10)
    run_until(st, lambda: st.secc is not None
              and st.secc.state.split(".")[0] == "cable_check", 30)
    assert "StartTransaction" not in st.controller.csms.actions()  # type: ignore[union-attr]
    charging(st)
    st.sched.run_for(1 * S)
    assert "StartTransaction" in st.controller.csms.actions()  # type: ignore[union-attr]
    st.close()


@pytest.mark.req("P0-6", "PLC-6.5")
def test_silent_controller_during_charging_derates_and_stops_within_the_bound() -> None:
    """P0 item 6: limits expire => 0 A and a controlled stop, bounded."""
    st = station(protocol="din", ocpp="none", charge_s=300)
    charging(st)
    st.controller.silent = True
    silent_at = st.sched.now_ns()
    validity_ns = st.controller.limits.validity_ms * MS  # type: ignore[union-attr]
    bound_ns = validity_ns + CONTROLLED_STOP_TIMEOUT_NS + ERROR_SHUTDOWN_OPEN_BOUND_NS
    run_until(st, lambda: not st.world.board.contact_closed, bound_ns / S + 1)
    assert st.sched.now_ns() - silent_at <= bound_ns
    assert st.world.plant.connector_current_a < 1.0
    run_until(st, lambda: st.log.ev_result is not None, 30)
    assert st.log.ev_result is not None and "EVSE" in st.log.ev_result
    st.close()


@pytest.mark.req("PLC-6.2", "PLC-6.6")
def test_isolation_fault_while_charging_ramps_down_then_opens_within_the_bound() -> None:
    """An insulation fault takes the error shutdown: current ramped to (almost) zero, modules
    off, then contactors open, all within ERROR_SHUTDOWN_OPEN_BOUND_NS; never opened under
    load because the V2G session ended first."""
    st = station(protocol="iso2", ocpp="none", charge_s=300)
    charging(st)
    st.world.imd_physics.inject_insulation_fault(20_000.0)
    t0 = st.sched.now_ns()
    # The IMD averages (iso165C mean factor) and reports at 1 Hz: detection takes samples.
    run_until(st, lambda: st.power.fault is not None, 15)
    detected = st.sched.now_ns()
    assert detected - t0 < 15 * S
    run_until(st, lambda: not st.world.board.contact_closed, 2)
    assert st.sched.now_ns() - detected <= ERROR_SHUTDOWN_OPEN_BOUND_NS + 20 * MS
    opened_at = st.world.contactor.history[-1]
    assert opened_at[1] is False
    disabled = [line for line in st.sched.trace.lines if '"DisableModules()"' in line]
    assert disabled, "modules were never switched off"
    disable_ns = json.loads(disabled[-1])["t"]
    assert disable_ns <= opened_at[0]  # modules off first, then the contactors open
    run_until(st, lambda: st.log.ev_result is not None, 30)
    assert st.log.ev_result is not None and not st.log.ev_result.startswith("OK")
    st.close()


@pytest.mark.req("PLC-6.1")
def test_emergency_stop_while_charging_cuts_at_once_and_tells_the_car() -> None:
    st = station(protocol="din", ocpp="1.6", charge_s=300)
    charging(st)
    st.world.board.press_estop()
    pressed = st.sched.now_ns()
    run_until(st, lambda: not st.world.contactor.closed, 1)
    assert st.sched.now_ns() - pressed <= EMERGENCY_OPEN_BOUND_NS
    assert st.cp.state == "emergency"
    run_until(st, lambda: st.log.ev_result is not None, 30)
    st.close()


def test_rejected_token_ends_the_session_before_any_energy() -> None:
    st = station(protocol="iso2", ocpp="1.6", charge_s=30)
    st.controller.token = "UNKNOWN-CARD"  # type: ignore[union-attr]
    run_until(st, lambda: st.log.ev_result is not None, 120)
    assert st.log.ev_result is not None and not st.log.ev_result.startswith("OK")
    assert st.world.plant.connector_current_a == 0.0
    csms = st.controller.csms  # type: ignore[union-attr]
    assert "StartTransaction" not in csms.actions()
    st.close()


def test_csms_offline_for_the_whole_session_delivers_everything_afterwards() -> None:
    st = station(protocol="din", ocpp="1.6", charge_s=20)
    side = st.controller
    assert isinstance(side, OcppSide)
    # The card is on the local authorization list (sent earlier by the CSMS), so the
    # offline policy (LocalAuthorizeOffline) accepts it while the CSMS is unreachable.
    side.ctrl.auth.update_list(1, True, {side.token: IdInfo(IdStatus.ACCEPTED)})
    side.set_online(False, st.sched.now_ns())
    run_until(st, lambda: st.log.ev_result is not None, 120)
    st.unplug()
    st.sched.run_for(2 * S)
    side.set_online(True, st.sched.now_ns())  # type: ignore[union-attr]
    st.sched.run_for(30 * S)
    csms = side.csms  # type: ignore[union-attr]
    actions = csms.actions()
    assert actions.count("StartTransaction") == 1 and actions.count("StopTransaction") == 1
    assert actions.index("StartTransaction") < actions.index("StopTransaction")
    assert csms.violations == []
    st.close()


@pytest.mark.req("P1-9")
def test_isolation_fault_reaches_the_csms_as_ground_failure() -> None:
    """The fault travels power path -> plc.fault -> controller -> OCPP (P1 item 9)."""
    st = station(protocol="din", ocpp="1.6", charge_s=300)
    charging(st)
    st.world.imd_physics.inject_insulation_fault(20_000.0)
    run_until(st, lambda: st.power.fault is not None, 15)
    st.sched.run_for(2 * S)
    csms = st.controller.csms  # type: ignore[union-attr]
    codes = [p["errorCode"] for p in csms.of("StatusNotification")]
    assert "GroundFailure" in codes
    assert csms.violations == []
    st.close()


@pytest.mark.req("P2-11")
def test_new_charging_profile_during_iso2_charging_is_renegotiated_and_applied() -> None:
    """OCPP SetChargingProfile while charging -> ctrl.schedule + limits -> the SECC sends
    EVSENotification ReNegotiation, the car asks for the schedule again, the power drops."""
    st = station(protocol="iso2", ocpp="1.6", charge_s=120)
    charging(st)
    st.sched.run_for(3 * S)
    side = st.controller
    assert isinstance(side, OcppSide)
    (tx_id,) = side.csms.transactions
    side.csms.call("SetChargingProfile", {"connectorId": 1, "csChargingProfiles": {
        "chargingProfileId": 7, "transactionId": int(tx_id), "stackLevel": 1,
        "chargingProfilePurpose": "TxProfile", "chargingProfileKind": "Relative",
        "chargingSchedule": {"chargingRateUnit": "W",
                             "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 20000}]}}},
        st.sched.now_ns())
    before = sum(1 for line in st.sched.trace.lines if '"charge_parameter_req"' in line)
    st.sched.run_for(10 * S)
    after = sum(1 for line in st.sched.trace.lines if '"charge_parameter_req"' in line)
    assert after > before, "the car never renegotiated"
    plant = st.world.plant
    assert plant.connector_voltage_v * plant.connector_current_a < 20_000 * 1.05
    assert side.csms.violations == []
    st.close()


def test_a_restarted_controller_is_told_the_running_session_again() -> None:
    """Guard ControllerRestarted: the PLC republishes the once-per-session facts (EV MAC,
    EVCCID, EV limits) that a new controller process cannot know."""
    st = station(protocol="din", ocpp="1.6", charge_s=60)
    charging(st)
    side = st.controller
    assert isinstance(side, OcppSide)
    before = [type(e).__name__ for e in side.binding_log]
    now = st.sched.now_ns()
    st._on_decisions(st.guard.on_event(PeerRestarted(old_instance=1, new_instance=2), now),
                     now)
    st.sched.run_for(100 * MS)
    after = [type(e).__name__ for e in side.binding_log][len(before):]
    assert "EvccidReceived" in after and "SlacMatched" in after
    assert any("ControllerRestarted" in line for line in st.sched.trace.lines)
    st.close()

"""Reservations (OCPP 2.0.1 H01-H04, 1.6 Reservation profile) through the real controller
core and the CSMS simulator, which scripts the use case's message order (`expect`) and
validates every frame against the OCPP schemas. Virtual time: the expiry comes from the
controller's timer service."""

from __future__ import annotations

from typing import Any

import pytest

from evse.controller.plc_port import AuthStatus, FaultCode, FaultSeverity, PlcFault
from evse.csms_sim.core import Expect
from tests.controller.harness import Rig, S, ask

VERSIONS = ["1.6", "2.0.1"]
#: The simulator's clock starts at 2026-01-01T00:00:00Z.
IN_10_MIN = "2026-01-01T00:10:00Z"



def reserve(rig: Rig, token: str = "TAG-OK", rid: int = 7, expiry: str = IN_10_MIN
            ) -> str:
    if rig.config.ocpp_version == "1.6":
        p: dict[str, Any] = {"connectorId": 1, "expiryDate": expiry, "idTag": token,
                             "reservationId": rid}
    else:
        p = {"id": rid, "expiryDateTime": expiry, "evseId": 1,
             "idToken": {"idToken": token, "type": "ISO14443"}}
    status: str = ask(rig, "ReserveNow", p)["status"]
    return status


def status_step(rig: Rig, value: str) -> Expect:
    if rig.config.ocpp_version == "1.6":
        return Expect("StatusNotification", {"status": value})
    return Expect("StatusNotification", {"connectorStatus": value})


def statuses(rig: Rig) -> list[str]:
    key = "status" if rig.config.ocpp_version == "1.6" else "connectorStatus"
    return [p[key] for p in rig.csms.of("StatusNotification")]


@pytest.mark.parametrize("version", VERSIONS)
def test_h01_reserve_now_reserves_the_evse_and_refuses_other_tokens(version: str) -> None:
    rig = Rig(version)
    rig.csms.tokens["OTHER"] = "Accepted"
    rig.csms.expect(status_step(rig, "Reserved"))
    assert reserve(rig) == "Accepted"
    assert rig.state == "reserved.idle"
    rig.csms.assert_script_done()
    n_auth = len(rig.csms.of("Authorize"))
    rig.token("OTHER")  # another driver's card: refused locally, the CSMS is not asked
    assert rig.state == "reserved.idle" and len(rig.csms.of("Authorize")) == n_auth
    # a remote start for another token is refused too
    if version == "1.6":
        answer = ask(rig, "RemoteStartTransaction", {"connectorId": 1, "idTag": "OTHER"})
    else:
        answer = ask(rig, "RequestStartTransaction", {
            "evseId": 1, "remoteStartId": 3, "idToken": {"idToken": "OTHER",
                                                         "type": "Central"}})
    assert answer == {"status": "Rejected"} and rig.state == "reserved.idle"
    assert rig.csms.violations == []


@pytest.mark.parametrize("version", VERSIONS)
def test_h01_reserve_now_refused_while_occupied_faulted_or_unavailable(version: str) -> None:
    rig = Rig(version)
    rig.plug()
    assert reserve(rig) == "Occupied"
    rig.unplug()
    assert reserve(rig, expiry="2025-12-31T23:00:00Z") == "Rejected"  # already expired
    if version == "1.6":
        assert ask(rig, "ReserveNow", {"connectorId": 0, "expiryDate": IN_10_MIN,
                                       "idTag": "X", "reservationId": 1}) == {
            "status": "Rejected"}  # ReserveConnectorZeroSupported = false
        ask(rig, "ChangeAvailability", {"connectorId": 1, "type": "Inoperative"})
    else:
        ask(rig, "ChangeAvailability", {"operationalStatus": "Inoperative"})
    assert reserve(rig) == "Unavailable"
    if version == "1.6":
        ask(rig, "ChangeAvailability", {"connectorId": 1, "type": "Operative"})
    else:
        ask(rig, "ChangeAvailability", {"operationalStatus": "Operative"})
    rig.plc(_fault())
    assert reserve(rig) == "Faulted"
    assert rig.csms.violations == []


def _fault() -> PlcFault:
    return PlcFault(FaultCode.CP_DIODE_FAULT, FaultSeverity.ERROR, True)


@pytest.mark.parametrize("version", VERSIONS)
def test_h02_cancel_reservation_makes_the_evse_available(version: str) -> None:
    rig = Rig(version)
    rig.csms.expect(status_step(rig, "Reserved"), status_step(rig, "Available"))
    assert reserve(rig) == "Accepted"
    assert ask(rig, "CancelReservation", {"reservationId": 8}) == {"status": "Rejected"}
    assert ask(rig, "CancelReservation", {"reservationId": 7}) == {"status": "Accepted"}
    assert rig.state == "available"
    rig.csms.assert_script_done()
    rig.run(900)  # the cancelled reservation's expiry does nothing
    assert rig.csms.of("ReservationStatusUpdate") == []
    assert ask(rig, "CancelReservation", {"reservationId": 7}) == {"status": "Rejected"}


@pytest.mark.parametrize("version", VERSIONS)
def test_h03_the_reserved_token_charges_with_the_reservation_id(version: str) -> None:
    rig = Rig(version)
    assert reserve(rig) == "Accepted"
    rig.run(30)
    rig.plug()
    rig.ev_waits_for_auth()
    assert rig.state == "reserved.ev_connected"
    assert rig.auth_statuses() == [AuthStatus.PENDING]
    rig.token("TAG-OK")
    assert rig.auth_statuses()[-1] is AuthStatus.ACCEPTED
    rig.power_on()
    rig.charge(2)
    if version == "1.6":
        assert rig.csms.of("StartTransaction")[0]["reservationId"] == 7
        assert statuses(rig) == ["Available", "Reserved", "Preparing", "Charging"]
    else:
        assert rig.csms.of("TransactionEvent")[0]["reservationId"] == 7
        assert statuses(rig) == ["Available", "Reserved", "Occupied"]
    rig.run(900)  # used up: its expiry sends nothing
    assert rig.csms.of("ReservationStatusUpdate") == []
    assert rig.csms.violations == []


@pytest.mark.parametrize("version", VERSIONS)
def test_h03_another_driver_plugging_in_is_refused(version: str) -> None:
    rig = Rig(version)
    rig.csms.tokens["OTHER"] = "Accepted"
    assert reserve(rig) == "Accepted"
    rig.plug()
    rig.ev_waits_for_auth()
    rig.token("OTHER")
    assert rig.state == "reserved.ev_connected"
    assert AuthStatus.ACCEPTED not in rig.auth_statuses()
    assert rig.csms.of("Authorize") == []
    # 1.6 keeps Reserved; 2.0.1 says Occupied (a car is there), never Available
    assert statuses(rig)[-1] == ("Reserved" if version == "1.6" else "Occupied")
    rig.unplug()
    assert rig.state == "reserved.idle" and statuses(rig)[-1] == "Reserved"


@pytest.mark.parametrize("version", VERSIONS)
def test_h04_expiry_ends_the_reservation_with_reservation_status_update(version: str) -> None:
    rig = Rig(version)
    steps = [status_step(rig, "Reserved")]
    if version == "2.0.1":
        steps.append(Expect("ReservationStatusUpdate",
                            {"reservationId": 7, "reservationUpdateStatus": "Expired"}))
    steps.append(status_step(rig, "Available"))
    rig.csms.expect(*steps)
    assert reserve(rig) == "Accepted"
    rig.run(599)
    assert rig.state == "reserved.idle"
    rig.run(2)
    assert rig.state == "available"
    expired_at = [s.at_ns // S for s in rig.csms.seen if s.action == "StatusNotification"][-1]
    assert expired_at == 600
    rig.csms.assert_script_done()
    rig.token("TAG-OK")  # anyone may charge again
    assert rig.state.startswith(("authoriz", "available"))
    assert rig.csms.violations == []


@pytest.mark.parametrize("version", VERSIONS)
def test_g02_h04_a_clock_step_moves_the_reservation_expiry(version: str) -> None:
    """The expiry is a wall-clock moment: when a HeartbeatResponse (G02) steps the
    controller's clock five minutes ahead, a reservation until 00:10 ends five minutes
    later, not ten (H04 on the CSMS's clock)."""
    rig = Rig(version)
    assert reserve(rig) == "Accepted"  # at 00:00, until 00:10
    rig.run(60)
    rig.csms.epoch_unix_s += 300
    assert ask(rig, "TriggerMessage", {"requestedMessage": "Heartbeat"}) == {
        "status": "Accepted"}
    rig.run(60 * 4 - 1)  # 00:09:59 on the CSMS's clock
    assert rig.state == "reserved.idle"
    rig.run(2)
    assert rig.state == "available"
    expired_at = [s.at_ns // S for s in rig.csms.seen if s.action == "StatusNotification"][-1]
    assert expired_at == 300
    assert rig.csms.violations == []


def test_h01_a_fault_removes_the_reservation_201() -> None:
    rig = Rig("2.0.1")
    assert reserve(rig) == "Accepted"
    rig.plc(_fault())
    assert rig.state == "faulted"
    assert rig.csms.of("ReservationStatusUpdate") == [
        {"reservationId": 7, "reservationUpdateStatus": "Removed"}]


@pytest.mark.parametrize("version", VERSIONS)
def test_h01_change_availability_inoperative_ends_the_reservation(version: str) -> None:
    rig = Rig(version)
    assert reserve(rig) == "Accepted"
    if version == "1.6":
        answer = ask(rig, "ChangeAvailability", {"connectorId": 1, "type": "Inoperative"})
    else:
        answer = ask(rig, "ChangeAvailability", {"operationalStatus": "Inoperative"})
    assert answer == {"status": "Accepted"} and rig.state == "unavailable"
    assert statuses(rig)[-2:] == ["Reserved", "Unavailable"]
    if version == "2.0.1":
        assert rig.csms.of("ReservationStatusUpdate") == [
            {"reservationId": 7, "reservationUpdateStatus": "Removed"}]
    assert ask(rig, "CancelReservation", {"reservationId": 7}) == {"status": "Rejected"}


@pytest.mark.parametrize("version", VERSIONS)
def test_h03_remote_start_for_the_reserved_token_uses_the_reservation(version: str) -> None:
    rig = Rig(version)
    assert reserve(rig, token="REMOTE-1") == "Accepted"
    if version == "1.6":
        answer = ask(rig, "RemoteStartTransaction", {"connectorId": 1, "idTag": "REMOTE-1"})
    else:
        answer = ask(rig, "RequestStartTransaction", {
            "evseId": 1, "remoteStartId": 3, "idToken": {"idToken": "REMOTE-1",
                                                         "type": "Central"}})
    assert answer == {"status": "Accepted"} and rig.state == "authorized.waiting_ev"
    rig.plug()
    rig.ev_waits_for_auth()
    rig.power_on()
    first = rig.csms.of("StartTransaction" if version == "1.6" else "TransactionEvent")[0]
    assert first["reservationId"] == 7


@pytest.mark.parametrize("version", VERSIONS)
def test_h01_a_reservation_survives_a_restart(version: str, tmp_path: Any) -> None:
    """The reservation is in the store: the restarted station holds the EVSE again (status
    Reserved, another token refused, the reserved one charges with the reservation id);
    used up, it is gone from the store too."""
    db = str(tmp_path / "ctrl.db")
    rig = Rig(version, db=db)
    assert reserve(rig) == "Accepted"
    rig.store.close()
    again = Rig(version, db=db)  # the process after a power cut, 10 min not yet over
    assert again.state.startswith("reserved")
    assert statuses(again)[-1] == "Reserved"
    again.plug()
    again.ev_waits_for_auth()
    again.token("TAG-BAD")
    assert again.auth_statuses()[-1] is not AuthStatus.ACCEPTED
    again.token("TAG-OK")
    assert again.auth_statuses()[-1] is AuthStatus.ACCEPTED
    again.power_on()
    again.charge(2)
    first = again.csms.of("StartTransaction" if version == "1.6" else "TransactionEvent")[0]
    assert first["reservationId"] == 7
    again.store.close()
    third = Rig(version, db=db)
    assert not third.state.startswith("reserved")
    assert third.csms.violations == [] and again.csms.violations == []


def test_h01_a_reservation_that_expired_while_the_station_was_down_is_dropped(
        tmp_path: Any) -> None:
    from evse.csms_sim.core import EPOCH_UNIX_S

    db = str(tmp_path / "ctrl.db")
    rig = Rig("2.0.1", db=db)
    assert reserve(rig) == "Accepted"
    rig.store.close()
    later = Rig("2.0.1", db=db, epoch_unix_s=EPOCH_UNIX_S + 3600)  # down for an hour
    assert later.state == "available"
    assert statuses(later) == ["Available"]

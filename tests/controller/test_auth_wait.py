"""Authorization coordinated with the EV's authorization wait (reference P1 item 8, C7)."""

from __future__ import annotations

import pytest

from evse.controller.plc_port import AuthStatus, PaymentOption, StopReason
from tests.controller.harness import Rig

P, A, R = AuthStatus.PENDING, AuthStatus.ACCEPTED, AuthStatus.REJECTED


@pytest.fixture(params=["1.6", "2.0.1"])
def rig(request: pytest.FixtureRequest) -> Rig:
    return Rig(request.param)


@pytest.mark.req("P1-8")
def test_token_before_plug_in_is_accepted_as_soon_as_the_ev_asks(rig: Rig) -> None:
    rig.token("TAG-OK")
    assert rig.state == "authorized.waiting_ev"
    assert rig.auth_statuses() == []  # no EV yet: nothing to tell the PLC
    rig.plug()
    assert rig.state == "authorized.ev_connected"
    rig.ev_waits_for_auth()
    assert rig.auth_statuses() == [A]
    assert "StartTransaction" not in rig.csms.actions()  # plug-in never starts a transaction


@pytest.mark.req("P1-8")
def test_token_during_ongoing_turns_pending_into_accepted(rig: Rig) -> None:
    rig.plug()
    rig.ev_waits_for_auth()
    rig.run(10)
    rig.ev_waits_for_auth()  # the EV repeats AuthorizationReq
    assert rig.auth_statuses() == [P, P]
    rig.token("TAG-OK")
    assert rig.auth_statuses() == [P, P, A]
    assert rig.state == "authorized.ev_connected"


def test_token_too_late_after_the_auth_wait_expired_starts_nothing(rig: Rig) -> None:
    rig.plug()
    rig.ev_waits_for_auth()
    rig.run(299.9)
    assert rig.auth_statuses() == [P]
    rig.run(0.2)  # t_auth_eim = 300 s (contract bound auth_timeout_eim)
    assert rig.auth_statuses() == [P, R]
    assert rig.state == "finishing"
    rig.session_end(StopReason.AUTH_TIMEOUT)
    rig.token("TAG-OK")
    assert rig.state == "finishing"
    assert rig.auth_statuses() == [P, R]
    assert rig.csms.of("Authorize") == []
    rig.unplug()
    assert rig.state == "available"


def test_rejected_token_tells_the_waiting_ev_rejected(rig: Rig) -> None:
    rig.plug()
    rig.ev_waits_for_auth()
    rig.token("TAG-BAD")
    assert rig.auth_statuses() == [P, R]
    assert rig.state.startswith("preparing")
    rig.session_end(StopReason.AUTH_REJECTED)
    assert rig.state == "finishing"
    assert not any(a in ("StartTransaction", "TransactionEvent") for a in rig.csms.actions())


def test_rejected_token_before_the_ev_asks_leaves_it_waiting_for_another(rig: Rig) -> None:
    rig.plug()
    rig.token("TAG-BAD")
    assert rig.state == "preparing.idle"
    rig.ev_waits_for_auth()
    rig.token("TAG-OK")
    assert rig.auth_statuses() == [P, A]


@pytest.mark.req("P1-8")
def test_same_token_again_before_power_delivery_withdraws_authorization(rig: Rig) -> None:
    rig.plug()
    rig.ev_waits_for_auth()
    rig.token("TAG-OK")
    rig.token("TAG-OK")  # the user cancels before the car starts power delivery
    assert rig.auth_statuses() == [P, A, R]
    assert rig.session_commands() == ["STOP_GRACEFUL"]
    assert rig.state == "finishing"
    from evse.controller.plc_port import PowerDeliveryStarted

    rig.plc(PowerDeliveryStarted())  # too late for the car: no transaction
    assert not any(a in ("StartTransaction", "TransactionEvent") for a in rig.csms.actions())


@pytest.mark.req("P1-8")
def test_change_availability_withdraws_an_authorization_before_power_delivery(rig: Rig) -> None:
    rig.plug()
    rig.ev_waits_for_auth()
    rig.token("TAG-OK")
    if rig.config.ocpp_version == "1.6":
        rig.csms.call("ChangeAvailability", {"connectorId": 1, "type": "Inoperative"})
    else:
        rig.csms.call("ChangeAvailability", {"operationalStatus": "Inoperative"})
    rig.link.pump()
    assert rig.auth_statuses()[-1] is R
    rig.unplug()
    assert rig.state == "unavailable"


def test_authorization_before_plug_in_lapses_after_connection_timeout(rig: Rig) -> None:
    rig.token("TAG-OK")
    rig.run(59.9)
    assert rig.state == "authorized.waiting_ev"
    rig.run(0.2)
    assert rig.state == "available"
    rig.plug()
    rig.ev_waits_for_auth()
    assert rig.auth_statuses() == [P]


def test_csms_silent_on_authorize_falls_back_to_offline_policy() -> None:
    # The CSMS swallows every frame: after the call timeouts the cache decides, within the
    # EV's wait (a StatusNotification in flight delays Authorize by one call timeout).
    rig = Rig(call_timeout_s=10.0)
    rig.plug()
    rig.ev_waits_for_auth()
    rig.token("TAG-OK")  # cached as Accepted
    rig.unplug()
    rig.link.online = False  # frames now vanish but the socket looks up
    rig.plug()
    rig.ev_waits_for_auth()
    rig.token("TAG-OK")
    rig.run(21)  # status lost at 10 s, Authorize lost at 20 s
    assert rig.auth_statuses()[-1] is A
    assert rig.ctrl.auth_offline


def test_pnc_contract_waits_with_pending_then_accepts(rig: Rig) -> None:
    from evse.controller.plc_port import PncAuthorizationRequested, PncAuthorizationResponseCmd
    from tests.controller.certs import contract_chain

    rig.plug()
    rig.ev_waits_for_auth(PaymentOption.CONTRACT)
    rig.plc(PncAuthorizationRequested(7, "EMAID-OK", contract_chain()))
    assert rig.auth_statuses() == [P, A]
    verdicts = [c for c in rig.commands if isinstance(c, PncAuthorizationResponseCmd)]
    assert [(v.request_id, v.certificate_status.value) for v in verdicts] == [(7, "ACCEPTED")]


def test_connection_lost_before_authorize_was_sent_decides_offline_at_once() -> None:
    rig = Rig("1.6")
    rig.plug()
    rig.ev_waits_for_auth()
    rig.token("TAG-OK")  # now cached as Accepted
    rig.unplug()
    rig.link.online = False  # frames vanish: a StatusNotification stays in flight
    rig.plug()
    rig.ev_waits_for_auth()
    rig.token("TAG-OK")  # Authorize waits behind the in-flight call
    assert rig.auth_statuses()[-1] is P
    rig.link.online = True
    rig.link.set_online(False)
    assert rig.auth_statuses()[-1] is A and rig.ctrl.auth_offline


def test_car_that_gave_up_waiting_keeps_the_plug_in_open_for_a_late_token(rig: Rig) -> None:
    """A DIN car ends its session after its own 60 s Ongoing timeout; the driver taps at
    90 s: the controller still accepts and tells the PLC (which wakes the car), and the
    car's next session is answered ACCEPTED at once."""
    rig.plug()
    rig.ev_waits_for_auth()
    rig.run(60)
    rig.session_end(StopReason.EV_REQUESTED)  # no stop reason from the PLC: the car left
    assert rig.state == "preparing.ev_waiting"
    rig.run(30)
    rig.token("TAG-OK")
    assert rig.auth_statuses() == [P, A]
    assert rig.state == "authorized.ev_connected"
    rig.ev_waits_for_auth()  # the woken car's new session
    assert rig.auth_statuses() == [P, A, A]
    assert rig.csms.of("Authorize") and len(rig.csms.of("Authorize")) == 1


@pytest.mark.parametrize("reason", [StopReason.AUTH_TIMEOUT, StopReason.AUTH_REJECTED,
                                    StopReason.CONTROLLER_STOP_GRACEFUL, StopReason.FAULT])
def test_session_refused_or_stopped_by_the_station_ends_the_plug_in(
        rig: Rig, reason: StopReason) -> None:
    rig.plug()
    rig.ev_waits_for_auth()
    rig.session_end(reason)
    assert rig.state == "finishing"


def test_the_token_is_told_to_the_plc_as_soon_as_it_is_presented(rig: Rig) -> None:
    """ctrl.auth_context "when the controller learns the token": the PLC stops answering
    Ongoing_WaitingForCustomerInteraction while the CSMS checks the token."""
    from evse.controller.plc_port import AuthContextCmd, AuthStatusCmd

    rig.plug()
    rig.ev_waits_for_auth()
    rig.token("TAG-OK")
    kinds = [("ctx", c.id_token) if isinstance(c, AuthContextCmd) else ("status", c.status)
             for c in rig.commands if isinstance(c, AuthContextCmd | AuthStatusCmd)]
    # told at presentation (before the CSMS's answer), again with the verdict
    assert kinds == [("status", P), ("ctx", "TAG-OK"), ("ctx", "TAG-OK"), ("status", A)]

"""Whole sessions in virtual time, per authorization method and OCPP version, as the CSMS
simulator sees them: message order, contents, transaction boundaries, schema validity."""

from __future__ import annotations

from typing import Any

import pytest

from evse.controller.plc_port import (
    EvccidReceived,
    PaymentOption,
    PncAuthorizationRequested,
    SlacMatched,
)
from tests.controller.certs import contract_chain
from tests.controller.harness import Rig, S

VERSIONS = ["1.6", "2.0.1"]


def statuses(rig: Rig) -> list[str]:
    key = "status" if rig.config.ocpp_version == "1.6" else "connectorStatus"
    return [p[key] for p in rig.csms.of("StatusNotification")]


def tx_actions(rig: Rig) -> list[str]:
    if rig.config.ocpp_version == "1.6":
        return [a for a in rig.csms.actions()
                if a in ("StartTransaction", "MeterValues", "StopTransaction")]
    return [f"TransactionEvent:{p['eventType']}" for p in rig.csms.of("TransactionEvent")]


def charge_and_leave(rig: Rig, seconds: int = 125) -> int:
    """PowerDelivery start, charge, EV stops, session ends, unplug. Returns start time."""
    rig.run(3)  # cable check / pre-charge: no transaction yet
    assert tx_actions(rig) == []
    t_start = rig.link.now_ns
    rig.power_on()
    rig.charge(seconds)
    rig.power_off()
    rig.session_end()
    rig.unplug()
    return t_start


def check_transaction(rig: Rig, t_start_ns: int, id_tag: str) -> None:
    assert rig.csms.violations == []
    assert rig.csms.duplicates == []
    assert len(rig.csms.transactions) == 1
    (tx,) = rig.csms.transactions.values()
    assert tx.id_tag == id_tag
    assert tx.meter_start_wh == 10_000
    assert tx.meter_stop_wh == pytest.approx(rig.energy_wh, abs=0.6)
    ts_start = f"2026-01-01T00:00:{t_start_ns // S:02d}"
    if rig.config.ocpp_version == "1.6":
        assert rig.csms.of("StartTransaction")[0]["timestamp"].startswith(ts_start)
        assert tx.stop_reason == "Local"
        assert tx_actions(rig) == ["StartTransaction", "MeterValues", "MeterValues",
                                   "StopTransaction"]
        assert statuses(rig) == ["Available", "Preparing", "Charging", "Finishing",
                                 "Available"]
    else:
        assert rig.csms.of("TransactionEvent")[0]["timestamp"].startswith(ts_start)
        assert tx.stop_reason == "StoppedByEV"
        assert tx_actions(rig) == ["TransactionEvent:Started", "TransactionEvent:Updated",
                                   "TransactionEvent:Updated", "TransactionEvent:Ended"]
        assert [e.split(":")[2] for e in tx.events] == ["0", "1", "2", "3"]
        assert statuses(rig) == ["Available", "Occupied", "Available"]
    assert rig.state == "available"


@pytest.mark.parametrize("version", VERSIONS)
def test_rfid_session_online(version: str) -> None:
    rig = Rig(version)
    rig.plug()
    rig.ev_waits_for_auth()
    rig.token("TAG-OK")
    t0 = charge_and_leave(rig)
    assert "Authorize" in rig.csms.actions()
    check_transaction(rig, t0, "TAG-OK")


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.req("P1-8")
def test_autocharge_by_evccid(version: str) -> None:
    rig = Rig(version, autocharge_tokens={"0A1B2C3D4E5F": "AC-TOKEN"})
    rig.plug()
    rig.plc(EvccidReceived("0A1B2C3D4E5F"))
    rig.ev_waits_for_auth()
    assert rig.auth_statuses()[-1].value == "ACCEPTED"
    t0 = charge_and_leave(rig)
    check_transaction(rig, t0, "AC-TOKEN")
    if version == "2.0.1":
        assert rig.csms.of("Authorize")[0]["idToken"]["type"] == "MacAddress"


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.req("P1-8")
def test_autocharge_by_slac_mac(version: str) -> None:
    rig = Rig(version, autocharge_tokens={"0A:1B:2C:3D:4E:5F": "AC-TOKEN"})
    rig.plug()
    rig.plc(SlacMatched("0a:1b:2c:3d:4e:5f", "0102030405060708"))
    rig.ev_waits_for_auth()
    t0 = charge_and_leave(rig)
    check_transaction(rig, t0, "AC-TOKEN")


def _remote_start(rig: Rig, token: str) -> str:
    if rig.config.ocpp_version == "1.6":
        uid = rig.csms.call("RemoteStartTransaction", {"connectorId": 1, "idTag": token})
    else:
        uid = rig.csms.call("RequestStartTransaction", {
            "idToken": {"idToken": token, "type": "Central"}, "remoteStartId": 42,
            "evseId": 1})
    rig.link.pump()
    rig.collect()
    payload = rig.csms.answers[uid].payload
    assert payload is not None
    return str(payload["status"])


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.req("P1-8")
def test_remote_start_before_plug_in(version: str) -> None:
    rig = Rig(version)
    assert _remote_start(rig, "REMOTE-1") == "Accepted"
    assert rig.state == "authorized.waiting_ev"
    rig.plug()
    rig.ev_waits_for_auth()
    assert rig.auth_statuses() == [rig.auth_statuses()[0]]
    assert rig.auth_statuses()[0].value == "ACCEPTED"
    t0 = charge_and_leave(rig)
    check_transaction(rig, t0, "REMOTE-1")
    assert "Authorize" not in rig.csms.actions()  # AuthorizeRemoteTxRequests = false
    if version == "2.0.1":
        started = rig.csms.of("TransactionEvent")[0]
        assert started["transactionInfo"]["remoteStartId"] == 42


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.req("P1-8")
def test_remote_start_after_plug_in_while_the_ev_waits(version: str) -> None:
    rig = Rig(version)
    rig.plug()
    rig.ev_waits_for_auth()
    assert _remote_start(rig, "REMOTE-1") == "Accepted"
    assert [s.value for s in rig.auth_statuses()] == ["PENDING", "ACCEPTED"]
    t0 = charge_and_leave(rig)
    check_transaction(rig, t0, "REMOTE-1")


@pytest.mark.parametrize("version", VERSIONS)
def test_remote_start_with_authorize_remote_tx_requests_asks_the_csms(version: str) -> None:
    rig = Rig(version, authorize_remote_tx_requests=True)
    rig.plug()
    rig.ev_waits_for_auth()
    assert _remote_start(rig, "REMOTE-1") == "Accepted"
    assert "Authorize" in rig.csms.actions()
    assert rig.auth_statuses()[-1].value == "ACCEPTED"


@pytest.mark.parametrize("version", VERSIONS)
def test_plug_and_charge_session(version: str) -> None:
    rig = Rig(version)
    rig.plug()
    rig.plc(PncAuthorizationRequested(3, "EMAID-OK", contract_chain()))
    rig.ev_waits_for_auth(PaymentOption.CONTRACT)
    assert rig.auth_statuses()[-1].value == "ACCEPTED"
    t0 = charge_and_leave(rig)
    check_transaction(rig, t0, "EMAID-OK")
    if version == "1.6":
        (dt,) = rig.csms.of("DataTransfer")
        assert dt["vendorId"] == "org.openchargealliance.iso15118pnc"
        assert dt["messageId"] == "Authorize"
        assert "iso15118CertificateHashData" in dt["data"]
    else:
        (auth,) = rig.csms.of("Authorize")
        assert auth["idToken"]["type"] == "eMAID"
        hashes: list[dict[str, Any]] = auth["iso15118CertificateHashData"]
        assert [h["responderURL"] for h in hashes] == ["http://ocsp.example.test"] * 2


@pytest.mark.parametrize("version", VERSIONS)
def test_plug_and_charge_rejected_by_the_csms(version: str) -> None:
    rig = Rig(version)
    rig.csms.pnc_status = "CertificateRevoked"
    rig.plug()
    rig.ev_waits_for_auth(PaymentOption.CONTRACT)
    rig.plc(PncAuthorizationRequested(3, "EMAID-OK", contract_chain()))
    assert rig.auth_statuses()[-1].value == "REJECTED"
    from evse.controller.plc_port import PncAuthorizationResponseCmd

    verdicts = [c.certificate_status.value for c in rig.commands
                if isinstance(c, PncAuthorizationResponseCmd)]
    assert verdicts == ["CERTIFICATE_REVOKED"]


@pytest.mark.parametrize("version", VERSIONS)
def test_expired_contract_is_refused_without_asking_the_csms(version: str) -> None:
    from tests.controller.certs import pem

    rig = Rig(version)
    assert rig.root_call("InstallCertificate", {
        "certificateType": "MORootCertificate", "certificate": pem(contract_chain()[2])}) \
        == {"status": "Accepted"}
    rig.run(5)  # the leaf expired at 2026-01-01T00:00:00Z
    rig.plug()
    rig.ev_waits_for_auth(PaymentOption.CONTRACT)
    rig.plc(PncAuthorizationRequested(3, "EMAID-OK", contract_chain(days=1)[:2]))
    assert rig.auth_statuses()[-1].value == "REJECTED"
    assert "Authorize" not in rig.csms.actions()
    assert [p["messageId"] for p in rig.csms.of("DataTransfer")] == []


@pytest.mark.parametrize("version", VERSIONS)
def test_local_list_authorizes_offline(version: str) -> None:
    rig = Rig(version)
    if version == "1.6":
        rig.csms.call("SendLocalList", {"listVersion": 1, "updateType": "Full",
                                        "localAuthorizationList": [
                                            {"idTag": "LIST-1", "idTagInfo":
                                             {"status": "Accepted"}}]})
    else:
        rig.csms.call("SendLocalList", {"versionNumber": 1, "updateType": "Full",
                                        "localAuthorizationList": [
                                            {"idToken": {"idToken": "LIST-1",
                                                         "type": "ISO14443"},
                                             "idTokenInfo": {"status": "Accepted"}}]})
    rig.link.pump()
    rig.link.set_online(False)
    rig.plug()
    rig.ev_waits_for_auth()
    rig.token("LIST-1")
    assert rig.auth_statuses()[-1].value == "ACCEPTED"
    assert rig.ctrl.auth_offline


@pytest.mark.parametrize("version", VERSIONS)
def test_unknown_token_offline_follows_allow_offline_tx_for_unknown_id(version: str) -> None:
    strict = Rig(version, online=False)
    strict.plug()
    strict.ev_waits_for_auth()
    strict.token("WHO-1")
    assert strict.auth_statuses()[-1].value == "REJECTED"
    lenient = Rig(version, online=False, allow_offline_tx_for_unknown_id=True)
    lenient.plug()
    lenient.ev_waits_for_auth()
    lenient.token("WHO-1")
    assert lenient.auth_statuses()[-1].value == "ACCEPTED"


@pytest.mark.parametrize("version", VERSIONS)
def test_cached_token_authorizes_offline_and_cache_can_be_cleared(version: str) -> None:
    rig = Rig(version)
    rig.plug()
    rig.ev_waits_for_auth()
    rig.token("TAG-OK")
    rig.unplug()
    rig.csms.call("ClearCache", {})
    rig.link.pump()
    rig.link.set_online(False)
    rig.plug()
    rig.ev_waits_for_auth()
    rig.token("TAG-OK")
    assert rig.auth_statuses()[-1].value == "REJECTED"


@pytest.mark.parametrize("version", VERSIONS)
def test_remote_stop_ends_the_transaction_with_reason_remote(version: str) -> None:
    rig = Rig(version)
    rig.plug()
    rig.ev_waits_for_auth()
    rig.token("TAG-OK")
    rig.power_on()
    rig.charge(5)
    (tx_id,) = rig.csms.transactions
    if version == "1.6":
        uid = rig.csms.call("RemoteStopTransaction", {"transactionId": int(tx_id)})
    else:
        uid = rig.csms.call("RequestStopTransaction", {"transactionId": tx_id})
    rig.link.pump()
    assert rig.csms.answers[uid].payload == {"status": "Accepted"}
    assert rig.session_commands() == ["STOP_GRACEFUL"]
    from evse.controller.plc_port import StopReason

    rig.power_off(StopReason.CONTROLLER_STOP_GRACEFUL)
    assert rig.csms.transactions[tx_id].stop_reason == "Remote"
    if version == "2.0.1":
        assert rig.csms.transactions[tx_id].events[-1].startswith("Ended:RemoteStop")


@pytest.mark.parametrize("version", VERSIONS)
def test_same_token_during_charging_stops_with_reason_local(version: str) -> None:
    rig = Rig(version)
    rig.plug()
    rig.ev_waits_for_auth()
    rig.token("TAG-OK")
    rig.power_on()
    rig.charge(3)
    rig.token("TAG-OK")
    assert rig.session_commands() == ["STOP_GRACEFUL"]
    from evse.controller.plc_port import StopReason

    rig.power_off(StopReason.CONTROLLER_STOP_GRACEFUL)
    (tx,) = rig.csms.transactions.values()
    assert tx.stop_reason == "Local"


@pytest.mark.parametrize("version", VERSIONS)
def test_unplug_during_charging_ends_with_ev_disconnected(version: str) -> None:
    rig = Rig(version)
    rig.plug()
    rig.ev_waits_for_auth()
    rig.token("TAG-OK")
    rig.power_on()
    rig.charge(3)
    rig.unplug()
    (tx,) = rig.csms.transactions.values()
    assert tx.stop_reason == "EVDisconnected"


def test_csms_rejecting_the_token_at_start_transaction_deauthorizes() -> None:
    rig = Rig("1.6", allow_offline_tx_for_unknown_id=True, online=False)
    rig.plug()
    rig.ev_waits_for_auth()
    rig.token("TAG-BAD")  # unknown offline: allowed by policy
    rig.power_on()
    rig.charge(2)
    rig.link.set_online(True)  # StartTransaction.conf says Invalid
    assert rig.session_commands() == ["STOP_GRACEFUL"]
    rig.power_off()
    (tx,) = rig.csms.transactions.values()
    assert tx.stop_reason == "DeAuthorized"


def test_201_events_while_online_are_not_flagged_offline() -> None:
    rig = Rig("2.0.1")
    rig.plug()
    rig.ev_waits_for_auth()
    rig.token("TAG-OK")
    charge_and_leave(rig, 61)
    assert not any("offline" in p for p in rig.csms.of("TransactionEvent"))


def _contract_verdicts(rig: Rig) -> list[tuple[int, str]]:
    from evse.controller.plc_port import PncAuthorizationResponseCmd

    rig.collect()
    return [(c.request_id, c.certificate_status.value) for c in rig.commands
            if isinstance(c, PncAuthorizationResponseCmd)]


@pytest.mark.parametrize("version", VERSIONS)
def test_a_contract_in_a_session_authorized_by_eim_is_answered_accepted(version: str) -> None:
    """Found by the SECC side: a session authorized by EIM (a card tapped before the car
    got to PaymentDetails) and then the car's contract (PnC): the PLC waits for
    ctrl.pnc_authorization_response, which never came, until auth_timeout_pnc ended the
    session. The controller answers ACCEPTED (the session is authorized), asks the CSMS
    nothing more, and the transaction stays the card's."""
    rig = Rig(version)
    rig.plug()
    rig.token("TAG-OK")
    assert rig.state == "authorized.ev_connected"
    authorizes = len([a for a in rig.csms.actions() if a in ("Authorize", "DataTransfer")])
    rig.plc(PncAuthorizationRequested(9, "EMAID-OK", contract_chain()))
    assert _contract_verdicts(rig) == [(9, "ACCEPTED")]
    assert len([a for a in rig.csms.actions() if a in ("Authorize", "DataTransfer")]) \
        == authorizes
    rig.ev_waits_for_auth(PaymentOption.CONTRACT)
    assert rig.auth_statuses()[-1].value == "ACCEPTED"
    t0 = charge_and_leave(rig)
    check_transaction(rig, t0, "TAG-OK")


@pytest.mark.parametrize("version", VERSIONS)
def test_a_contract_while_the_card_is_checked_gets_the_cards_verdict_or_its_own(
        version: str) -> None:
    """The contract arrives while the card's Authorize is in flight: held, then answered
    ACCEPTED with the card's acceptance; after a refused card it is checked itself (its
    own Authorize) instead of being dropped."""
    rig = Rig(version)
    rig.plug()
    rig.ctrl.present_token("TAG-OK", rig.link.now_ns)  # the Authorize is not answered yet
    rig.ctrl.plc_event(PncAuthorizationRequested(4, "EMAID-OK", contract_chain()),
                       rig.link.now_ns)
    assert _contract_verdicts(rig) == []
    rig.link.pump()
    assert _contract_verdicts(rig) == [(4, "ACCEPTED")]
    assert rig.state == "authorized.ev_connected" and rig.ctrl.token is not None
    assert rig.ctrl.token.id_token == "TAG-OK"

    rig = Rig(version)
    rig.plug()
    rig.ctrl.present_token("TAG-BAD", rig.link.now_ns)
    rig.ctrl.plc_event(PncAuthorizationRequested(5, "EMAID-OK", contract_chain()),
                       rig.link.now_ns)
    rig.link.pump()
    assert _contract_verdicts(rig) == [(5, "ACCEPTED")]
    assert rig.state == "authorized.ev_connected" and rig.ctrl.token is not None
    assert rig.ctrl.token.id_token == "EMAID-OK"
    assert "REJECTED" not in [s.value for s in rig.auth_statuses()]
    assert rig.csms.violations == []

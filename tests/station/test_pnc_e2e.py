"""Plug & Charge end to end in the integrated station: an ISO 15118-2 car with a contract
certificate pays with it, the SECC checks its signature, the controller sends the contract
to the CSMS (2.0.1 Authorize with iso15118CertificateHashData, 1.6 DataTransfer per the OCA
whitepaper), and the transaction runs under the eMAID.

TLS is a transport detail the virtual station does not model (the car and the SECC talk
through in-memory V2GTP frames). ISO 15118-2 offers Contract only on TLS ([V2G2-634/635]),
so these tests run the station with `SessionConfig(tls=True)`: the in-memory link counts as
TLS and the SECC offers Contract.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

import exi
from evse.csms_sim.core import CsmsSim
from evse.runtime.config import StationConfig
from evse.runtime.dc_station import DcStation, SessionConfig
from evse.runtime.ocpp_side import OcppSide
from evse.security.testpki import DEFAULT_EMAID
from exi import iso2

S = 1_000_000_000


def pnc_station(ocpp: str, ev_profile: str = "pnc") -> tuple[DcStation, CsmsSim]:
    st = DcStation(StationConfig(), SessionConfig(protocol="iso2", ev_profile=ev_profile,
                                                  ocpp=ocpp, charge_s=10, tls=True))
    side = st.controller
    assert isinstance(side, OcppSide)
    side.csms.tokens[DEFAULT_EMAID] = "Accepted"
    st.start()
    st.sched.run_until(1 * S)
    return st, side.csms


def run_to_end(st: DcStation) -> None:
    st.plug_in()
    done = st.sched.run_until_true(lambda: st.log.ev_result is not None, limit_ns=120 * S)
    assert done, f"no result; milestones {st.log.milestones}"
    st.sched.run_for(2 * S)


def car_requests(st: DcStation) -> list[str]:
    return [type(b).__name__ for _, kind, b in st.ev.transcript if kind == "req"
            and not isinstance(b, str)]


def authorize_payloads(csms: CsmsSim, ocpp: str) -> list[dict[str, Any]]:
    if ocpp == "2.0.1":
        return csms.of("Authorize")
    return [json.loads(p["data"]) for p in csms.of("DataTransfer")
            if p.get("messageId") == "Authorize"]


@pytest.mark.parametrize("ocpp", ["2.0.1", "1.6"])
@pytest.mark.req("P1-7")
def test_pnc_session_authorizes_the_contract_at_the_csms_and_bills_the_emaid(
        ocpp: str) -> None:
    st, csms = pnc_station(ocpp)
    run_to_end(st)
    assert st.log.ev_result == "OK: charge time over"
    reqs = car_requests(st)
    assert "PaymentDetailsReqType" in reqs and "AuthorizationReqType" in reqs
    auth = authorize_payloads(csms, ocpp)
    assert len(auth) == 1
    assert auth[0]["idToken"] == {"idToken": DEFAULT_EMAID, "type": "eMAID"}
    if ocpp == "2.0.1":
        hashes = auth[0]["iso15118CertificateHashData"]
        assert hashes and all(h["hashAlgorithm"] == "SHA256" for h in hashes)
    tx = next(iter(csms.transactions.values()))
    assert tx.id_tag == DEFAULT_EMAID
    assert tx.meter_stop_wh is not None and tx.meter_stop_wh > 10.0
    assert csms.violations == []
    st.close()


@pytest.mark.parametrize("ocpp", ["2.0.1", "1.6"])
@pytest.mark.req("P1-7")
def test_revoked_contract_ends_the_session_before_any_energy(ocpp: str) -> None:
    st, csms = pnc_station(ocpp)
    csms.pnc_status = "CertificateRevoked"
    run_to_end(st)
    assert st.log.ev_result is not None and st.log.ev_result.startswith("FAILED")
    assert "AuthorizationResType FAILED" in st.log.ev_result
    assert csms.transactions == {}
    assert not st.world.board.contact_closed
    st.close()


@pytest.mark.parametrize("ocpp", ["2.0.1", "1.6"])
@pytest.mark.req("P1-7")
def test_certificate_installation_delivers_the_csms_answer_to_the_car(ocpp: str) -> None:
    st, csms = pnc_station(ocpp, ev_profile="pnc_install")
    sid = b"\x21\x43\x65\x87\xa9\xcb\xed\x0f"
    st._session_id = lambda: sid  # the CSMS builds its answer for this session
    body = iso2.CertificateInstallationResType(
        ResponseCode=iso2.responseCodeType.OK,
        SAProvisioningCertificateChain=iso2.CertificateChainType(Certificate=b"\x30\x01sa"),
        ContractSignatureCertChain=iso2.CertificateChainType(Id="id1",
                                                             Certificate=b"\x30\x01ct"),
        ContractSignatureEncryptedPrivateKey=iso2.ContractSignatureEncryptedPrivateKeyType(
            Id="id2", value=b"\x11" * 48),
        DHpublickey=iso2.DiffieHellmanPublickeyType(Id="id3", value=b"\x04" + b"\x22" * 64),
        eMAID=iso2.EMAIDType(Id="id4", value=DEFAULT_EMAID))
    answer = exi.encode("iso2", iso2.V2G_Message(
        Header=iso2.MessageHeaderType(SessionID=sid), Body=iso2.BodyType(BodyElement=body)))
    csms.pnc_certificate_exi = answer
    run_to_end(st)
    assert st.log.ev_result == "OK: charge time over"
    got = [b for _, kind, b in st.ev.transcript
           if kind == "res" and isinstance(b, iso2.CertificateInstallationResType)]
    assert got == [body]  # the car decoded exactly what the CSMS sent
    if ocpp == "2.0.1":
        assert csms.of("Get15118EVCertificate")
    else:
        assert [p for p in csms.of("DataTransfer")
                if p.get("messageId") == "Get15118EVCertificate"]
    assert len(authorize_payloads(csms, ocpp)) == 1
    st.close()

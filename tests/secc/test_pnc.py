"""Plug & Charge on the SECC: the CSMS's certificate answer reaches the car byte for byte
(or FAILED in time), and contract authorization needs the GenChallenge echoed, a valid
signature by the contract key and the controller's certificate verdict."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import exi
from evse.ev.loopback import run
from evse.ev.profiles import profile
from evse.ev.sim import EvSim
from evse.ev.sim_env import SimEnv, SimEnvConfig
from evse.secc.config import SeccConfig
from evse.secc.core import SeccCore, SendPayload
from evse.secc.env import AppProtocol, AuthStatus, PaymentMethod, PncKind, SessionEndReason
from evse.secc.timing import CERTIFICATE_ANSWER_TIMEOUT_NS
from evse.security.testpki import ContractChain, generate_contract_chain
from evse.security.xmldsig import sign_body
from exi import iso2
from tests.secc.helpers import MS, S, ScriptedCar, session

PNC = SeccConfig(tls=True, payment_options=(PaymentMethod.CONTRACT, PaymentMethod.EIM))
#: V2G_EVCC_Msg_Timeout of CertificateInstallationReq (timing.md §4): the car's budget.
EV_CERTIFICATE_TIMEOUT_NS = 5 * S


@pytest.fixture(scope="module")
def contract() -> ContractChain:
    return generate_contract_chain(
        not_before=datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC),
        validity=datetime.timedelta(days=20 * 365))


def contract_car(env_config: SimEnvConfig | None = None) -> ScriptedCar:
    car = ScriptedCar(AppProtocol.ISO15118_2, env_config=env_config, config=PNC)
    car.setup()
    car.discovery()
    res = car.send(iso2.PaymentServiceSelectionReqType(
        SelectedPaymentOption=iso2.paymentOptionType.Contract,
        SelectedServiceList=iso2.SelectedServiceListType(
            SelectedService=[iso2.SelectedServiceType(ServiceID=1)])))
    assert res.ResponseCode.value == "OK"
    return car


def payment_details(car: ScriptedCar, c: ContractChain) -> bytes:
    res = car.send(iso2.PaymentDetailsReqType(
        eMAID=c.emaid, ContractSignatureCertChain=iso2.CertificateChainType(
            Certificate=c.leaf_der,
            SubCertificates=iso2.SubCertificatesType(Certificate=list(c.sub_cas_der)))))
    assert res.ResponseCode.value == "OK"
    return bytes(res.GenChallenge)


def signed_auth(car: ScriptedCar, challenge: bytes, signature: Any) -> Any:
    body = iso2.AuthorizationReqType(Id="ID1", GenChallenge=challenge)
    msg = iso2.V2G_Message(
        Header=iso2.MessageHeaderType(SessionID=car.session_id, Signature=signature),
        Body=iso2.BodyType(BodyElement=body))
    out = car.send_raw(exi.encode("iso2", msg))
    sent = [o for o in out if isinstance(o, SendPayload)]
    assert len(sent) == 1
    return exi.decode("iso2", sent[0].payload).Body.BodyElement


def sign(challenge: bytes, c: ContractChain) -> Any:
    return sign_body(iso2.AuthorizationReqType(Id="ID1", GenChallenge=challenge), c.leaf_key)


# ---------------------------------------------------------------- contract authorization


def test_signed_authorization_with_the_challenge_is_accepted(contract: ContractChain) -> None:
    car = contract_car()
    challenge = payment_details(car, contract)
    res = signed_auth(car, challenge, sign(challenge, contract))
    assert res.ResponseCode.value == "OK"
    assert res.EVSEProcessing.value == "Finished"
    assert car.core.state == "charge_parameters"


@pytest.mark.req("P1-7", "PLC-5.2")
def test_authorization_stays_ongoing_until_the_contract_certificate_is_accepted(
        contract: ContractChain) -> None:
    car = contract_car(SimEnvConfig(pnc_contract_delay_ns=3 * S))
    challenge = payment_details(car, contract)
    sig = sign(challenge, contract)
    assert signed_auth(car, challenge, sig).EVSEProcessing.value == "Ongoing"
    car.advance(3 * S)
    assert signed_auth(car, challenge, sig).EVSEProcessing.value == "Finished"


def test_revoked_contract_certificate_ends_the_session_with_failed(
        contract: ContractChain) -> None:
    car = contract_car(SimEnvConfig(pnc_contract_status=AuthStatus.REJECTED))
    challenge = payment_details(car, contract)
    res = signed_auth(car, challenge, sign(challenge, contract))
    assert res.ResponseCode.value == "FAILED"
    assert car.env.ended is SessionEndReason.AUTH_REJECTED


def test_tampered_signature_is_refused_with_signature_error(contract: ContractChain) -> None:
    car = contract_car()
    challenge = payment_details(car, contract)
    good = sign(challenge, contract)
    value = bytearray(good.SignatureValue.value)
    value[5] ^= 0x01
    bad = iso2.SignatureType(SignedInfo=good.SignedInfo,
                             SignatureValue=iso2.SignatureValueType(value=bytes(value)))
    res = signed_auth(car, challenge, bad)
    assert res.ResponseCode.value == "FAILED_SignatureError"
    assert car.closed is not None and car.env.ended is SessionEndReason.AUTH_REJECTED


def test_signature_by_another_key_is_refused_with_signature_error(
        contract: ContractChain) -> None:
    other = generate_contract_chain(
        not_before=datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC))
    car = contract_car()
    challenge = payment_details(car, contract)
    res = signed_auth(car, challenge, sign(challenge, other))
    assert res.ResponseCode.value == "FAILED_SignatureError"


def test_unsigned_contract_authorization_is_refused_with_signature_error(
        contract: ContractChain) -> None:
    car = contract_car()
    challenge = payment_details(car, contract)
    res = signed_auth(car, challenge, None)
    assert res.ResponseCode.value == "FAILED_SignatureError"


def test_wrong_challenge_is_refused_with_challenge_invalid(contract: ContractChain) -> None:
    car = contract_car()
    challenge = payment_details(car, contract)
    stale = bytes(b ^ 0xFF for b in challenge)
    # Correctly signed, but over a challenge the SECC never sent (a replayed request).
    res = signed_auth(car, stale, sign(stale, contract))
    assert res.ResponseCode.value == "FAILED_ChallengeInvalid"
    assert car.closed is not None


def test_ev_simulator_runs_a_complete_pnc_session() -> None:
    _, env, core, ev = session("pnc", config=PNC)
    assert ev.result is not None and ev.result.ok, ev.result
    # The contract, then the signed receipt the first CurrentDemandRes asked for.
    assert [p.kind for p in env.pnc] == [PncKind.PAYMENT_DETAILS, PncKind.METERING_RECEIPT]
    assert ("request_authorization", PaymentMethod.CONTRACT) in [
        (c[0], c[2][0]) for c in env.calls if c[0] == "request_authorization"]


def test_ev_simulator_uses_eim_when_contract_is_not_offered_without_tls() -> None:
    _, env, core, ev = session("pnc", config=SeccConfig(tls=False,
                                                        payment_options=PNC.payment_options))
    assert ev.result is not None and ev.result.ok
    assert env.pnc == []


# ---------------------------------------------------------------- certificate installation


def cert_install_req() -> Any:
    return iso2.CertificateInstallationReqType(
        Id="ID2", OEMProvisioningCert=b"\x30\x82\x01\x00",
        ListOfRootCertificateIDs=iso2.ListOfRootCertificateIDsType(RootCertificateID=[
            iso2.X509IssuerSerialType(X509IssuerName="CN=V2G Root", X509SerialNumber=1)]))


def csms_answer(session_id: bytes, code: str = "OK") -> bytes:
    """What a CSMS (via OCPP Get15118EVCertificate) returns: a complete V2G message."""
    body = iso2.CertificateInstallationResType(
        ResponseCode=iso2.responseCodeType[code],
        SAProvisioningCertificateChain=iso2.CertificateChainType(Certificate=b"\x30\x01sa"),
        ContractSignatureCertChain=iso2.CertificateChainType(Id="id1",
                                                             Certificate=b"\x30\x01ct"),
        ContractSignatureEncryptedPrivateKey=iso2.ContractSignatureEncryptedPrivateKeyType(
            Id="id2", value=b"\x11" * 48),
        DHpublickey=iso2.DiffieHellmanPublickeyType(Id="id3", value=b"\x04" + b"\x22" * 64),
        eMAID=iso2.EMAIDType(Id="id4", value="DEEVSC0000001A"))
    return exi.encode("iso2", iso2.V2G_Message(
        Header=iso2.MessageHeaderType(SessionID=session_id), Body=iso2.BodyType(
            BodyElement=body)))


def send_cert_req(car: ScriptedCar) -> tuple[list[SendPayload], int]:
    t0 = car.now_ns
    msg = iso2.V2G_Message(Header=iso2.MessageHeaderType(SessionID=car.session_id),
                           Body=iso2.BodyType(BodyElement=cert_install_req()))
    out = car.send_raw(exi.encode("iso2", msg))
    for _ in range(2000):
        if any(isinstance(o, SendPayload) for o in out):
            break
        out = car.advance(5 * MS)
    return [o for o in out if isinstance(o, SendPayload)], t0


@pytest.mark.req("P1-7")
def test_certificate_installation_forwards_the_csms_bytes_unchanged() -> None:
    car = contract_car(SimEnvConfig(pnc_certificate_delay_ns=1200 * MS))
    answer = csms_answer(car.session_id)
    car.env.config.pnc_certificate_exi = answer
    sent, t0 = send_cert_req(car)
    assert [p.kind for p in car.env.pnc] == [PncKind.CERTIFICATE_INSTALLATION]
    assert len(sent) == 1 and sent[0].payload == answer
    assert sent[0].message == "CertificateInstallationRes"
    assert 1200 * MS <= sent[0].answered_ns - t0 < EV_CERTIFICATE_TIMEOUT_NS
    assert car.closed is None and car.core.state == "wait_payment_details"


@pytest.mark.req("P1-7")
def test_silent_csms_gets_the_car_failed_before_its_timeout() -> None:
    car = contract_car()  # pnc_certificate_exi None: the CSMS never answers
    sent, t0 = send_cert_req(car)
    assert len(sent) == 1
    res = exi.decode("iso2", sent[0].payload).Body.BodyElement
    assert res.ResponseCode.value == "FAILED"
    elapsed = sent[0].answered_ns - t0
    assert CERTIFICATE_ANSWER_TIMEOUT_NS <= elapsed < EV_CERTIFICATE_TIMEOUT_NS
    assert car.core.state == "wait_payment_details"  # the car may still pay otherwise


def test_rejected_certificate_request_is_answered_no_certificate_available() -> None:
    car = contract_car(SimEnvConfig(pnc_certificate_accepted=False))
    car.env.config.pnc_certificate_exi = b"\x80"
    sent, _ = send_cert_req(car)
    res = exi.decode("iso2", sent[0].payload).Body.BodyElement
    assert res.ResponseCode.value == "FAILED_NoCertificateAvailable"


@pytest.mark.parametrize("answer", [b"\x80\x98\x02\x00garbage", None])
def test_csms_answer_for_another_session_or_undecodable_is_not_forwarded(
        answer: bytes | None) -> None:
    car = contract_car()
    car.env.config.pnc_certificate_exi = answer or csms_answer(b"\x01" * 8)
    sent, _ = send_cert_req(car)
    res = exi.decode("iso2", sent[0].payload)
    assert res.Body.BodyElement.ResponseCode.value == "FAILED"
    assert bytes(res.Header.SessionID) == car.session_id


def test_ev_simulator_installs_a_certificate_then_pays_with_its_contract() -> None:
    env = SimEnv(SimEnvConfig())
    sid = b"\x5a" * 8
    env.config.pnc_certificate_exi = csms_answer(sid)
    ev = EvSim(profile("pnc_install"), inlet_voltage_v=env.physical_voltage_v,
               inlet_current_a=env.physical_current_a)
    core = SeccCore(env, PNC, new_session_id=lambda: sid)
    run(ev, core)
    assert ev.result is not None and ev.result.ok, ev.result
    assert [p.kind for p in env.pnc] == [PncKind.CERTIFICATE_INSTALLATION,
                                         PncKind.PAYMENT_DETAILS, PncKind.METERING_RECEIPT]


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(index=st.integers(min_value=0, max_value=63), bit=st.integers(min_value=0, max_value=7))
def test_any_flipped_signature_bit_is_refused_with_signature_error(
        contract: ContractChain, index: int, bit: int) -> None:
    car = contract_car()
    challenge = payment_details(car, contract)
    good = sign(challenge, contract)
    value = bytearray(good.SignatureValue.value)
    value[index] ^= 1 << bit
    bad = iso2.SignatureType(SignedInfo=good.SignedInfo,
                             SignatureValue=iso2.SignatureValueType(value=bytes(value)))
    assert signed_auth(car, challenge, bad).ResponseCode.value == "FAILED_SignatureError"

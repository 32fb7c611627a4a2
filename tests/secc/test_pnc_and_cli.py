"""Plug & Charge messages are decoded and handed to the contract; the EV CLI runs a session."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from evse.ev.__main__ import main as ev_main
from evse.ev.profiles import profile
from evse.secc.config import SeccConfig
from evse.secc.env import AppProtocol, PaymentMethod, PncKind
from evse.security.testpki import ContractChain, reissue_contract_leaf
from exi import iso2
from tests.secc.helpers import ScriptedCar

PNC = SeccConfig(tls=True, payment_options=(PaymentMethod.CONTRACT, PaymentMethod.EIM))


def contract_car() -> ScriptedCar:
    car = ScriptedCar(AppProtocol.ISO15118_2, config=PNC)
    car.setup()
    offered = car.discovery().PaymentOptionList.PaymentOption
    assert iso2.paymentOptionType.Contract in offered
    res = car.send(iso2.PaymentServiceSelectionReqType(
        SelectedPaymentOption=iso2.paymentOptionType.Contract,
        SelectedServiceList=iso2.SelectedServiceListType(
            SelectedService=[iso2.SelectedServiceType(ServiceID=1)])))
    assert res.ResponseCode.value == "OK"
    return car


@pytest.mark.req("PLC-3")
def test_contract_is_not_offered_without_tls() -> None:
    car = ScriptedCar(AppProtocol.ISO15118_2,
                      config=SeccConfig(tls=False, payment_options=PNC.payment_options))
    car.setup()
    offered = car.discovery().PaymentOptionList.PaymentOption
    assert offered == [iso2.paymentOptionType.ExternalPayment]


def _payment_details(chain: ContractChain) -> Any:
    return iso2.PaymentDetailsReqType(
        eMAID=chain.emaid, ContractSignatureCertChain=iso2.CertificateChainType(
            Certificate=chain.leaf_der, SubCertificates=iso2.SubCertificatesType(
                Certificate=list(chain.sub_cas_der))))


def test_payment_details_are_handed_over_and_answered_with_a_challenge() -> None:
    car = contract_car()
    res = car.send(_payment_details(profile("pnc").contract))  # type: ignore[arg-type]
    assert res.ResponseCode.value == "OK" and len(res.GenChallenge) == 16
    assert car.env.pnc[-1].kind is PncKind.PAYMENT_DETAILS


@pytest.mark.req("ISO15118-4:TC_SECC_CMN_VTB_PaymentDetails")
def test_payment_details_with_an_expired_leaf_or_a_broken_chain_end_the_session() -> None:
    """What PaymentDetailsRes itself must name (T4 VTB_PaymentDetails_007): an expired
    contract leaf, a certificate that is not one or a leaf its Sub-CA did not sign; the
    contract is never handed over and the connection closes."""
    good = profile("pnc").contract
    assert good is not None
    old = datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC)
    expired = reissue_contract_leaf(good, not_before=old,
                                    validity=datetime.timedelta(days=365))
    foreign = reissue_contract_leaf(good, not_before=old,
                                    validity=datetime.timedelta(days=20 * 365),
                                    issuer_key=ec.generate_private_key(ec.SECP256R1()))
    garbage = iso2.PaymentDetailsReqType(
        eMAID="DEPNXC12345678", ContractSignatureCertChain=iso2.CertificateChainType(
            Certificate=b"\x30\x82\x01\x00"))
    for req, code in ((_payment_details(expired), "FAILED_CertificateExpired"),
                      (_payment_details(foreign), "FAILED_CertChainError"),
                      (garbage, "FAILED_CertChainError")):
        car = contract_car()
        res = car.send(req)
        assert res.ResponseCode.value == code
        assert car.closed is not None
        assert car.env.pnc == []


@pytest.mark.parametrize("name", ["din_only", "iso_only"])
def test_ev_cli_runs_a_complete_session(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert ev_main(["--profile", name, "--charge-s", "1", "--quiet"]) == 0
    assert capsys.readouterr().out.startswith("OK:")

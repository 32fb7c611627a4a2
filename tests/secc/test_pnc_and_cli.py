"""Plug & Charge messages are decoded and handed to the contract; the EV CLI runs a session."""

from __future__ import annotations

import pytest

from evse.ev.__main__ import main as ev_main
from evse.secc.config import SeccConfig
from evse.secc.env import AppProtocol, PaymentMethod, PncKind
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


def test_payment_details_are_handed_over_and_answered_with_a_challenge() -> None:
    car = contract_car()
    req = iso2.PaymentDetailsReqType(
        eMAID="DEPNXC12345678", ContractSignatureCertChain=iso2.CertificateChainType(
            Certificate=b"\x30\x82\x01\x00"))
    res = car.send(req)
    assert res.ResponseCode.value == "OK" and len(res.GenChallenge) == 16
    assert car.env.pnc[-1].kind is PncKind.PAYMENT_DETAILS


@pytest.mark.parametrize("name", ["din_only", "iso_only"])
def test_ev_cli_runs_a_complete_session(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert ev_main(["--profile", name, "--charge-s", "1", "--quiet"]) == 0
    assert capsys.readouterr().out.startswith("OK:")

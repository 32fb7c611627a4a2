"""Plug & Charge requests decoded by the SECC travel through the contract to the OCPP
controller and the CSMS, and the CSMS's answer comes back to the PLC (B2 PnC pass-through)."""

from __future__ import annotations

import base64
import json

import pytest

from evse.contract.guard import PncAnswerState
from evse.controller.plc_port import PncAuthorizationRequested
from evse.runtime.config import StationConfig
from evse.runtime.dc_station import DcStation, SessionConfig
from evse.runtime.ocpp_side import OcppSide
from evse.secc.env import PncKind, PncRequest
from exi import iso2

S = 1_000_000_000


@pytest.mark.parametrize("ocpp", ["1.6", "2.0.1"])
@pytest.mark.req("P1-7")
def test_certificate_installation_request_reaches_the_csms_byte_for_byte(ocpp: str) -> None:
    st = DcStation(StationConfig(), SessionConfig(ocpp=ocpp))
    st.start()
    st.sched.run_until(1 * S)
    side = st.controller
    assert isinstance(side, OcppSide)
    side.csms.pnc_certificate_exi = b"\x80\x98\x02\x00answer"
    car_bytes = b"\x80\x98\x02\x10\x50\x90\x8c\x0c\x0c\x0c\x0c\x0c\x0d\x40certinstall"
    st.env.last_payload = car_bytes
    st.env.pnc_request(PncRequest(PncKind.CERTIFICATE_INSTALLATION, object()),
                       st.sched.now_ns())
    st.sched.run_for(1 * S)
    if ocpp == "1.6":
        calls = [json.loads(p["data"]) for p in side.csms.of("DataTransfer")
                 if p.get("messageId") == "Get15118EVCertificate"]
    else:
        calls = side.csms.of("Get15118EVCertificate")
    assert calls and base64.b64decode(calls[0]["exiRequest"]) == car_bytes
    answer = st.guard.pnc_certificate_answer(1, st.sched.now_ns())
    assert answer.state is PncAnswerState.ANSWERED
    assert answer.response is not None
    assert answer.response.exi_response == b"\x80\x98\x02\x00answer"
    st.close()


@pytest.mark.req("P1-7")
def test_payment_details_reach_the_controller_as_a_contract_authorization() -> None:
    st = DcStation(StationConfig(), SessionConfig(ocpp="2.0.1"))
    st.start()
    st.sched.run_until(1 * S)
    leaf, sub = b"\x30\x82leaf-der", b"\x30\x82sub-der"
    msg = iso2.PaymentDetailsReqType(
        eMAID="DE8AAA1B2C3D4E5", ContractSignatureCertChain=iso2.CertificateChainType(
            Certificate=leaf, SubCertificates=iso2.SubCertificatesType(Certificate=[sub])))
    st.env.pnc_request(PncRequest(PncKind.PAYMENT_DETAILS, msg), st.sched.now_ns())
    st.sched.run_for(1 * S)
    side = st.controller
    assert isinstance(side, OcppSide)
    seen = [v for v in side.binding_log if isinstance(v, PncAuthorizationRequested)]
    assert seen and seen[0].emaid == "DE8AAA1B2C3D4E5"
    assert seen[0].certificate_chain_der == (leaf, sub)
    st.close()

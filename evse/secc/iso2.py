"""ISO 15118-2 DC callbacks (fsm_specs/secc_iso2.yaml): the shared ones (handler.py) plus
ServiceDetail, Plug & Charge, renegotiation and MeteringReceipt.

Plug & Charge on the SECC side:

- CertificateInstallation/UpdateReq: handed to the contract (the car's EXI bytes go to
  the CSMS); the answer waits in `certificate_pending` for the CSMS's complete V2G message,
  which is sent to the car byte for byte. ISO 15118-2 has no EVSEProcessing for these, so
  past `CERTIFICATE_ANSWER_TIMEOUT_NS` (inside the EV's 5 s) the SECC answers FAILED itself.
  The CSMS built the message from the car's request (header included); it is checked, not
  rewritten: it must decode, be the response type asked for and carry our SessionID,
  otherwise the car gets FAILED (a foreign SessionID would make it abort anyway).
- PaymentDetailsReq: eMAID + contract chain handed to the contract, GenChallenge (16
  random bytes) sent; AuthorizationReq must echo the challenge (else
  FAILED_ChallengeInvalid) and carry a header Signature over its EXI fragment by the
  contract leaf's key (else FAILED_SignatureError); ISO 15118-2 responseCodeType defines
  both codes for AuthorizationRes. It stays Ongoing until the controller's certificate
  verdict is ACCEPTED and the usual authorization is.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from typing import Any

import exi
from evse.fsm import Event
from evse.secc.contract_chain import ChainFault, check_contract_chain
from evse.secc.env import AuthStatus, PaymentMethod, PncKind, PncRequest, SessionEndReason
from evse.secc.handler import RawResponse, SeccHandlerBase
from evse.secc.messages import CHARGE_SERVICE_ID
from evse.secc.schedule import profile_entries, profile_fits
from evse.security.xmldsig import SignatureCheck, check_body_signature
from exi import iso2

log = logging.getLogger(__name__)

#: GenChallenge length: ISO 15118-2 genChallengeType is base64Binary of exactly 16 bytes.
GEN_CHALLENGE_BYTES = 16

_CERT_RES = {
    PncKind.CERTIFICATE_INSTALLATION: iso2.CertificateInstallationResType,
    PncKind.CERTIFICATE_UPDATE: iso2.CertificateUpdateResType,
}


class Iso2Handler(SeccHandlerBase):
    """Named callbacks of fsm_specs/secc_iso2.yaml."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._challenge: bytes | None = None
        self._contract_leaf_der: bytes | None = None
        self._cert_kind = PncKind.CERTIFICATE_INSTALLATION
        #: The MeterInfo of the CurrentDemandRes that asked for a receipt (PnC), which the
        #: signed MeteringReceiptReq must carry back unchanged.
        self._receipt_meter: Any = None

    def service_id_invalid(self, ev: Event) -> bool:
        """ServiceDetailReq for a service not in ServiceDiscoveryRes: we offer only the
        charge service, so any other ID is FAILED_ServiceIDInvalid."""
        return int(self._req().ServiceID) != CHARGE_SERVICE_ID

    def answer_service_detail(self, ev: Event) -> None:
        self._set_now(ev)
        sid = int(self._req().ServiceID)
        code = "OK" if sid == CHARGE_SERVICE_ID else "FAILED_ServiceIDInvalid"
        self._emit(self._b.service_detail(code, sid))

    def contract_selected(self, ev: Event) -> bool:
        return self._req().SelectedPaymentOption is iso2.paymentOptionType.Contract

    def _hand_over(self, kind: PncKind) -> None:
        self._env.pnc_request(PncRequest(kind, self._req()), self._now_ns)

    # ------------------------------------------------------------------ certificates
    def request_certificate(self, ev: Event) -> None:
        self._set_now(ev)
        self._cert_kind = (PncKind.CERTIFICATE_UPDATE
                           if isinstance(self._req(), iso2.CertificateUpdateReqType)
                           else PncKind.CERTIFICATE_INSTALLATION)
        self._hand_over(self._cert_kind)

    def certificate_answered(self, ev: Event) -> bool:
        self._set_now(ev)
        return self._env.pnc_certificate_answer(self._now_ns) is not None

    def _cert_failed(self, code: str) -> None:
        if self._cert_kind is PncKind.CERTIFICATE_UPDATE:
            self._emit(self._b.certificate_update(code))
        else:
            self._emit(self._b.certificate_installation(code))

    def answer_certificate(self, ev: Event) -> None:
        self._set_now(ev)
        answer = self._env.pnc_certificate_answer(self._now_ns)
        if answer is None or not answer.accepted or answer.exi_response is None:
            self._cert_failed("FAILED_NoCertificateAvailable")
            return
        problem = self._foreign_certificate_response(answer.exi_response)
        if problem:
            log.warning("CSMS certificate response not forwarded: %s", problem)
            self._cert_failed("FAILED")
            return
        name = _CERT_RES[self._cert_kind].__name__.removesuffix("Type")
        self._emit(RawResponse(answer.exi_response, name))

    def _foreign_certificate_response(self, payload: bytes) -> str:
        """Why the CSMS's bytes cannot go to the car as they are ("" when they can)."""
        try:
            msg = exi.decode("iso2", payload)
        except exi.DecodeError as exc:
            return f"undecodable EXI ({exc})"
        body = msg.Body.BodyElement
        expected = _CERT_RES[self._cert_kind]
        if not isinstance(body, expected):
            return f"{type(body).__name__} instead of {expected.__name__}"
        if bytes(msg.Header.SessionID) != self.session_id:
            return "SessionID is not this session's"
        return ""

    def answer_certificate_timeout(self, ev: Event) -> None:
        self._set_now(ev)
        self._cert_failed("FAILED")

    # ------------------------------------------------------------------ contract auth
    def _chain_fault(self) -> ChainFault:
        chain = self._req().ContractSignatureCertChain
        subs = chain.SubCertificates.Certificate if chain.SubCertificates else []
        return check_contract_chain([bytes(chain.Certificate), *map(bytes, subs)],
                                    self._unix_s())

    def contract_chain_refused(self, ev: Event) -> bool:
        """An expired contract leaf or a broken chain (evse/secc/contract_chain.py): the
        faults PaymentDetailsRes itself must name (ISO 15118-4 VTB_PaymentDetails_007)."""
        self._set_now(ev)
        return self._chain_fault() is not ChainFault.NONE

    def answer_payment_details_refused(self, ev: Event) -> None:
        self._set_now(ev)
        fault = self._chain_fault()
        log.warning("PaymentDetailsReq contract chain refused: %s", fault.response_code)
        self._emit(self._b.payment_details(fault.response_code, b"\x00" * GEN_CHALLENGE_BYTES,
                                           self._unix_s()))
        self._end(SessionEndReason.AUTH_REJECTED)

    def answer_payment_details(self, ev: Event) -> None:
        self._set_now(ev)
        body = self._req()
        self._hand_over(PncKind.PAYMENT_DETAILS)
        self._payment = PaymentMethod.CONTRACT
        self._contract_leaf_der = bytes(body.ContractSignatureCertChain.Certificate)
        challenge = self._new_session_id() + self._new_session_id()  # 16 random bytes
        self._challenge = challenge[:GEN_CHALLENGE_BYTES]
        self._emit(self._b.payment_details("OK", self._challenge, self._unix_s()))

    def _contract(self) -> bool:
        return self._payment is PaymentMethod.CONTRACT and not self._authorized

    def challenge_invalid(self, ev: Event) -> bool:
        if not self._contract():
            return False
        got = self._req().GenChallenge
        return got is None or bytes(got) != self._challenge

    def signature_invalid(self, ev: Event) -> bool:
        if not self._contract():
            return False
        assert self.request is not None
        leaf = self._contract_leaf_der
        if leaf is None:
            return True
        check = check_body_signature(self._req(), self.request.signature, leaf)
        if check is not SignatureCheck.VALID:
            log.warning("AuthorizationReq signature refused: %s", check.value)
        return check is not SignatureCheck.VALID

    def answer_challenge_invalid(self, ev: Event) -> None:
        self._set_now(ev)
        self._refuse_authorization("FAILED_ChallengeInvalid", SessionEndReason.AUTH_REJECTED)

    def answer_signature_error(self, ev: Event) -> None:
        self._set_now(ev)
        self._refuse_authorization("FAILED_SignatureError", SessionEndReason.AUTH_REJECTED)

    def auth_accepted(self, ev: Event) -> bool:
        if not super().auth_accepted(ev):
            return False
        return not self._contract() or (
            self._env.pnc_contract_status(self._now_ns) is AuthStatus.ACCEPTED)

    def auth_rejected(self, ev: Event) -> bool:
        if super().auth_rejected(ev):
            return True
        return self._contract() and (
            self._env.pnc_contract_status(self._now_ns) is AuthStatus.REJECTED)

    def answer_auth_failed(self, ev: Event) -> None:
        """A refused contract certificate gets its own ISO 15118-2 ResponseCode
        (FAILED_CertificateExpired / _CertificateRevoked / _CertChainError /
        _NoCertificateAvailable ...) so the car knows why (and, e.g., that a new contract
        is needed); every other refusal stays FAILED."""
        if not self._contract() or self._ongoing_expired:
            super().answer_auth_failed(ev)
            return
        self._set_now(ev)
        self._refuse_authorization(self._env.pnc_contract_response_code(self._now_ns),
                                   SessionEndReason.AUTH_REJECTED)

    # ------------------------------------------------------------------ charging
    def paying_by_contract(self, ev: Event) -> bool:
        """Plug & Charge: the PnC wait (t_auth_pnc) applies, not the EIM one."""
        return self._payment is PaymentMethod.CONTRACT

    def waiting_for_customer(self, ev: Event) -> bool:
        """EIM and nobody has presented a token yet (the contract's controller tells the
        token with ctrl.auth_context as soon as it learns it)."""
        self._set_now(ev)
        return (self._payment is PaymentMethod.EIM
                and self._env.auth_decision(self._now_ns).waiting_for_customer)

    def answer_auth_waiting_for_customer(self, ev: Event) -> None:
        self._set_now(ev)
        self._emit(self._b.authorization("OK", finished=False, waiting_for_customer=True))

    def answer_power_delivery_renegotiate(self, ev: Event) -> None:
        self._set_now(ev)
        self._emit(self._b.power_delivery("OK", self._status()))

    def tariff_selection_invalid(self, ev: Event) -> bool:
        """[V2G2-479]: the SAScheduleTupleID of PowerDeliveryReq must be one offered in the
        last ChargeParameterDiscoveryRes."""
        offered = self._offered
        return offered is None or int(self._req().SAScheduleTupleID) != offered.schedule_id

    def charging_profile_invalid(self, ev: Event) -> bool:
        """[V2G2-224/225]: a ChargingProfile above the PMax of the chosen tuple is refused.
        DC cars mostly send none (optional in PowerDeliveryReq): nothing to check then."""
        profile = self._req().ChargingProfile
        offered = self._offered
        if profile is None or offered is None:
            return False
        entries = profile_entries(profile)
        if profile_fits(offered, entries):
            return False
        log.warning("ChargingProfile %s exceeds the offered PMaxSchedule %s", entries,
                    offered.entries)
        return True

    def answer_tariff_selection_invalid(self, ev: Event) -> None:
        self._set_now(ev)
        self._emit(self._b.power_delivery("FAILED_TariffSelectionInvalid", self._status()))
        self._end(SessionEndReason.PARAMETER_ERROR)

    def answer_charging_profile_invalid(self, ev: Event) -> None:
        self._set_now(ev)
        self._emit(self._b.power_delivery("FAILED_ChargingProfileInvalid", self._status()))
        self._end(SessionEndReason.PARAMETER_ERROR)

    def answer_precharge_while_charging(self, ev: Event) -> None:
        """PreCharge after a renegotiation: the output is on and connected, so the target
        becomes a CurrentDemand setpoint of at most 2 A instead of a new precharge."""
        self._set_now(ev)
        self._precharge(self._env.current_demand)

    # ------------------------------------------------------------------ metering receipt
    def receipt_due(self, ev: Event) -> bool:
        """Plug & Charge, authorized with a contract leaf of this connection (a resumed
        session has none to check a signature with), no receipt asked for yet."""
        return (self._payment is PaymentMethod.CONTRACT and self._authorized
                and self._contract_leaf_der is not None and self._receipt_meter is None)

    def answer_current_demand_receipt(self, ev: Event) -> None:
        self.answer_current_demand(ev)
        self._receipt_meter = self._b.meter_info(self._unix_s(), self._meter_reading_wh())
        res = self.responses.pop()
        self._emit(dataclasses.replace(res, ReceiptRequired=True,
                                       MeterInfo=self._receipt_meter))

    def _meter_reading_wh(self) -> int | None:
        """The meter's register as MeterReading: ISO 15118-2 MeterInfoType.MeterReading is
        an unsignedLong in Wh, so the whole Wh the register has counted (no other
        arithmetic: the value is the meter's, evse/secc/env.py meter_energy_wh)."""
        energy = self._env.meter_energy_wh(self._now_ns)
        return None if energy is None else math.floor(max(0.0, energy))

    def receipt_not_valid(self, ev: Event) -> bool:
        """A MeteringReceiptReq in a PnC session that is not the receipt we asked for: its
        body's SessionID is not ours, its MeterInfo is not the one sent, or its signature
        does not verify with the contract leaf (the Reference names the body's Id)."""
        if self._payment is not PaymentMethod.CONTRACT:
            return False
        body = self._req()
        if self._receipt_meter is None or body.MeterInfo != self._receipt_meter:
            return True
        if bytes(body.SessionID) != self.session_id:
            return True
        assert self.request is not None
        leaf = self._contract_leaf_der
        if leaf is None:
            return True
        check = check_body_signature(body, self.request.signature, leaf)
        if check is not SignatureCheck.VALID:
            log.warning("MeteringReceiptReq signature refused: %s", check.value)
        return check is not SignatureCheck.VALID

    def answer_metering_signature_not_valid(self, ev: Event) -> None:
        self._set_now(ev)
        self._emit(self._b.metering_receipt("FAILED_MeteringSignatureNotValid", self._status()))
        self._end(SessionEndReason.PARAMETER_ERROR)

    def answer_metering_receipt(self, ev: Event) -> None:
        self._set_now(ev)
        self._hand_over(PncKind.METERING_RECEIPT)
        self._emit(self._b.metering_receipt("OK", self._status()))

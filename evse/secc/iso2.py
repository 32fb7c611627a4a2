"""ISO 15118-2 DC callbacks (fsm_specs/secc_iso2.yaml): the shared ones (handler.py) plus
ServiceDetail, Plug & Charge hand-over, renegotiation and MeteringReceipt."""

from __future__ import annotations

from evse.fsm import Event
from evse.secc.env import PaymentMethod, PncKind, PncRequest
from evse.secc.handler import SeccHandlerBase
from evse.secc.messages import CHARGE_SERVICE_ID
from exi import iso2


class Iso2Handler(SeccHandlerBase):
    """Named callbacks of fsm_specs/secc_iso2.yaml."""

    def answer_service_detail(self, ev: Event) -> None:
        self._set_now(ev)
        sid = int(self._req().ServiceID)
        code = "OK" if sid == CHARGE_SERVICE_ID else "FAILED_ServiceIDInvalid"
        self._emit(self._b.service_detail(code, sid))

    def contract_selected(self, ev: Event) -> bool:
        return self._req().SelectedPaymentOption is iso2.paymentOptionType.Contract

    def _hand_over(self, kind: PncKind) -> None:
        self._env.pnc_request(PncRequest(kind, self._req()), self._now_ns)

    def answer_certificate_installation(self, ev: Event) -> None:
        # The contract answers with the CSMS's chain in the controller issue; until it is
        # bound, the car is told no certificate is available and may go on with EIM.
        self._set_now(ev)
        self._hand_over(PncKind.CERTIFICATE_INSTALLATION)
        self._emit(self._b.certificate_installation("FAILED_NoCertificateAvailable"))

    def answer_certificate_update(self, ev: Event) -> None:
        self._set_now(ev)
        self._hand_over(PncKind.CERTIFICATE_UPDATE)
        self._emit(self._b.certificate_update("FAILED_NoCertificateAvailable"))

    def answer_payment_details(self, ev: Event) -> None:
        self._set_now(ev)
        self._hand_over(PncKind.PAYMENT_DETAILS)
        self._payment = PaymentMethod.CONTRACT
        challenge = self._new_session_id() + self._new_session_id()  # 16 random bytes
        self._emit(self._b.payment_details("OK", challenge, self._unix_s()))

    def answer_power_delivery_renegotiate(self, ev: Event) -> None:
        self._set_now(ev)
        self._emit(self._b.power_delivery("OK", self._status()))

    def answer_metering_receipt(self, ev: Event) -> None:
        self._set_now(ev)
        self._hand_over(PncKind.METERING_RECEIPT)
        self._emit(self._b.metering_receipt("OK", self._status()))

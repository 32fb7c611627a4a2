"""A scriptable CSMS (OCPP 1.6J and 2.0.1) without I/O, for tests and `evse sim`.

Why its own core: tests must check what a CSMS *sees* (order, contents, duplicates) in
virtual time, and the same behaviour must be reachable over a real websocket
(`evse.io.ocpp_ws.CsmsServer`). Every frame the charger sends is validated against the OCPP
schemas (the same `ocpp` library validation the controller uses, strict); a violation is
recorded in `violations` and answered with the CallError, so a test can assert there were
none.

Script knobs: `tokens` (id -> status), `boot_status`, `heartbeat_interval_s`, `pnc_status`
(contract certificate verdict), and the calls a test makes: `call(action, payload)` for
RemoteStart/Stop, Reset, ChangeAvailability, SetChargingProfile, and so on.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from evse.controller.errors import CsmsProtocolError
from evse.controller.rpc import IncomingCall, IncomingError, IncomingResult, OcppRpc
from evse.csms_sim.ocsp import OcspResponder
from evse.csms_sim.signer import SimCa

#: Default wall clock of the simulator: 2026-01-01T00:00:00Z + virtual time.
EPOCH_UNIX_S = 1_767_225_600


@dataclass(frozen=True, slots=True)
class Seen:
    """One Call the CSMS received, as it received it."""

    at_ns: int
    unique_id: str
    action: str
    payload: dict[str, Any]


@dataclass(slots=True)
class Answer:
    action: str
    payload: dict[str, Any] | None = None
    error: str | None = None


@dataclass(slots=True)
class TxView:
    """A transaction as the CSMS reconstructs it from the messages."""

    tx_id: str
    id_tag: str
    meter_start_wh: float
    meter_values: list[dict[str, Any]] = field(default_factory=list)
    stop_reason: str | None = None
    meter_stop_wh: float | None = None
    events: list[str] = field(default_factory=list)


class CsmsSim:
    def __init__(self, version: str = "1.6", *, epoch_unix_s: int = EPOCH_UNIX_S) -> None:
        self.version = version
        self.rpc = OcppRpc(version, id_prefix="csms-")
        self.epoch_unix_s = epoch_unix_s
        self.tokens: dict[str, str] = {}
        #: Token -> its group (2.0.1 groupIdToken, 1.6 parentIdTag) in Authorize answers (C09).
        self.groups: dict[str, str] = {}
        self.boot_status = "Accepted"
        self.heartbeat_interval_s = 300
        #: currentTime of BootNotification / Heartbeat answers as is (None: the simulator's
        #: clock); a test of a CSMS with a malformed clock sets it.
        self.current_time_text: str | None = None
        self.pnc_status = "Accepted"
        #: NotifyEVChargingNeeds answer (K15: Accepted | Rejected | Processing).
        self.charging_needs_status = "Accepted"
        self.pnc_certificate_exi = b"\x80\x98\x02"  # placeholder EXI answer
        #: Vendor DataTransfer answers (P02): (vendorId, messageId) -> the answer payload;
        #: a vendorId not named here is UnknownVendorId, a messageId UnknownMessageId.
        self.data_transfer_answers: dict[tuple[str, str], dict[str, Any]] = {}
        #: Answers GetCertificateStatus (2.0.1 M06 / 1.6 DataTransfer); None = Failed.
        self.ocsp: OcspResponder | None = None
        #: Certificate authorities that sign the station's CSRs (A02/A03): the CSMS CA for
        #: ChargingStationCertificate, a V2G CA for V2GCertificate. None: not signed.
        self.ca: SimCa | None = None
        self.v2g_ca: SimCa | None = None
        #: SignCertificate answer; with a CA, an Accepted request is followed by the
        #: CertificateSigned call (after the answer) when `auto_sign` is on.
        self.sign_status = "Accepted"
        self.auto_sign = True
        self.signed_validity_s = 365 * 86_400
        #: CSRs received: (certificate use, PEM).
        self.csrs: list[tuple[str, str]] = []
        self._after_answer: list[tuple[str, dict[str, Any]]] = []
        self.seen: list[Seen] = []
        self.violations: list[tuple[str, str]] = []
        self.answers: dict[str, Answer] = {}
        self.transactions: dict[str, TxView] = {}
        self.duplicates: list[str] = []
        self._next_tx = 1000
        self._out: list[str] = []
        self._seen_ids: set[str] = set()
        #: Use-case script (`expect`): the charger's calls in the use case's order.
        self.script: list[Expect] = []
        self.script_ignore: frozenset[str] = frozenset({"Heartbeat"})
        self.deviations: list[str] = []
        #: Management use cases: what the charger reported (L01/N01/H04).
        self.firmware_statuses: list[str] = []
        self.log_statuses: list[str] = []

    # ------------------------------------------------------------------ I/O surface
    def data_to_send(self) -> list[str]:
        out, self._out = self._out, []
        return out

    def next_deadline_ns(self) -> int | None:
        return None

    def timestamp(self, now_ns: int) -> str:
        t = datetime.fromtimestamp(self.epoch_unix_s + now_ns // 1_000_000_000, UTC)
        return t.strftime("%Y-%m-%dT%H:%M:%SZ")

    def call(self, action: str, payload: dict[str, Any], now_ns: int = 0) -> str:
        uid, text = self.rpc.make_call(action, payload, now_ns)
        self._out.append(text)
        self.answers[uid] = Answer(action)
        return uid

    def send_raw(self, text: str) -> None:
        """Send a frame as is (tests of the charger's schema validation)."""
        self._out.append(text)

    def receive(self, text: str, now_ns: int) -> None:
        try:
            msg = self.rpc.receive(text, now_ns)
        except CsmsProtocolError as exc:
            self.violations.append((exc.code, exc.description))
            if exc.unique_id is not None:
                self._out.append(self.rpc.make_error(exc.unique_id, exc.code, exc.description))
            return
        if isinstance(msg, IncomingCall):
            self._on_call(msg, now_ns)
        elif isinstance(msg, IncomingResult):
            self.answers.setdefault(msg.unique_id, Answer(msg.action)).payload = msg.payload
        elif isinstance(msg, IncomingError):
            self.answers.setdefault(msg.unique_id, Answer(msg.action)).error = msg.code
        else:  # a CSMS call timed out; nothing to record
            pass

    def connection_lost(self) -> None:
        self.rpc.forget_pending()

    # ------------------------------------------------------------------ views
    def actions(self, *, exclude: tuple[str, ...] = ("Heartbeat", "SecurityEventNotification")
                ) -> list[str]:
        return [s.action for s in self.seen if s.action not in exclude]

    def of(self, action: str) -> list[dict[str, Any]]:
        return [s.payload for s in self.seen if s.action == action]

    # ------------------------------------------------------------------ handling
    def _on_call(self, call: IncomingCall, now_ns: int) -> None:
        if call.unique_id in self._seen_ids:
            self.duplicates.append(call.unique_id)
        self._seen_ids.add(call.unique_id)
        self.seen.append(Seen(now_ns, call.unique_id, call.action, call.payload))
        self._follow_script(call.action, call.payload)
        handler = getattr(self, f"_on_{call.action}", None)
        if handler is None:
            self._out.append(self.rpc.make_error(call.unique_id, "NotImplemented",
                                                 f"{call.action} not scripted"))
            return
        payload: dict[str, Any] = handler(call.payload, now_ns)
        self._out.append(self.rpc.make_result(call.unique_id, call.action, payload))
        after, self._after_answer = self._after_answer, []
        for action, p in after:
            self.call(action, p, now_ns)

    def _token_status(self, id_tag: str) -> str:
        return self.tokens.get(id_tag, "Invalid")

    def _on_BootNotification(self, p: dict[str, Any], now: int) -> dict[str, Any]:  # noqa: N802
        return {"status": self.boot_status, "currentTime": self._current_time(now),
                "interval": self.heartbeat_interval_s}

    def _on_Heartbeat(self, p: dict[str, Any], now: int) -> dict[str, Any]:  # noqa: N802
        return {"currentTime": self._current_time(now)}

    def _current_time(self, now_ns: int) -> str:
        return self.timestamp(now_ns) if self.current_time_text is None \
            else self.current_time_text

    def _on_StatusNotification(self, p: dict[str, Any], now: int) -> dict[str, Any]:  # noqa: N802
        return {}

    def _on_Authorize(self, p: dict[str, Any], now: int) -> dict[str, Any]:  # noqa: N802
        if self.version == "1.6":
            info16: dict[str, Any] = {"status": self._token_status(p["idTag"])}
            if p["idTag"] in self.groups:
                info16["parentIdTag"] = self.groups[p["idTag"]]
            return {"idTagInfo": info16}
        token = p["idToken"]["idToken"]
        out: dict[str, Any] = {"idTokenInfo": {"status": self._token_status(token)}}
        if token in self.groups:
            out["idTokenInfo"]["groupIdToken"] = {"idToken": self.groups[token],
                                                  "type": "Central"}
        if "iso15118CertificateHashData" in p or p["idToken"]["type"] == "eMAID":
            out["certificateStatus"] = self.pnc_status
        return out

    def _on_StartTransaction(self, p: dict[str, Any], now: int) -> dict[str, Any]:  # noqa: N802
        self._next_tx += 1
        tx_id = str(self._next_tx)
        self.transactions[tx_id] = TxView(tx_id, p["idTag"], float(p["meterStart"]))
        return {"transactionId": self._next_tx,
                "idTagInfo": {"status": self._token_status(p["idTag"])}}

    def _on_MeterValues(self, p: dict[str, Any], now: int) -> dict[str, Any]:  # noqa: N802
        tx = self.transactions.get(str(p.get("transactionId")))
        if tx is not None:
            tx.meter_values.extend(p["meterValue"])
        return {}

    def _on_StopTransaction(self, p: dict[str, Any], now: int) -> dict[str, Any]:  # noqa: N802
        tx = self.transactions.get(str(p["transactionId"]))
        if tx is not None:
            tx.stop_reason = p.get("reason", "Local")
            tx.meter_stop_wh = float(p["meterStop"])
        return {}

    def _on_DataTransfer(self, p: dict[str, Any], now: int) -> dict[str, Any]:  # noqa: N802
        if p["vendorId"] != "org.openchargealliance.iso15118pnc":
            answer = self.data_transfer_answers.get((p["vendorId"], p.get("messageId", "")))
            if answer is not None:
                return answer
            vendors = {v for v, _ in self.data_transfer_answers}
            return {"status": "UnknownMessageId" if p["vendorId"] in vendors
                    else "UnknownVendorId"}
        data = json.loads(p.get("data", "{}"))
        if p.get("messageId") == "Authorize":
            token = data["idToken"]["idToken"]
            return {"status": "Accepted", "data": json.dumps({
                "idTokenInfo": {"status": self._token_status(token)},
                "certificateStatus": self.pnc_status})}
        if p.get("messageId") == "GetCertificateStatus":
            return {"status": "Accepted", "data": json.dumps(self._ocsp_answer(data, now))}
        if p.get("messageId") == "SignCertificate":
            return {"status": "Accepted", "data": json.dumps(self._sign(
                data.get("certificateType", "V2GCertificate"), data.get("csr", ""), now))}
        if p.get("messageId") == "Get15118EVCertificate":
            return {"status": "Accepted", "data": json.dumps({
                "status": "Accepted",
                "exiResponse": base64.b64encode(self.pnc_certificate_exi).decode()})}
        return {"status": "UnknownMessageId"}

    def _on_SecurityEventNotification(self, p: dict[str, Any], now: int) -> dict[str, Any]:  # noqa: N802
        return {}

    def _on_SignCertificate(self, p: dict[str, Any], now: int) -> dict[str, Any]:  # noqa: N802
        return self._sign(p.get("certificateType", "ChargingStationCertificate"), p["csr"], now)

    def _sign(self, use: str, csr: str, now_ns: int) -> dict[str, Any]:
        """A02/A03 from the CSMS side: answer, then (auto_sign) send CertificateSigned."""
        self.csrs.append((use, csr))
        ca = self.v2g_ca if use == "V2GCertificate" else self.ca
        if self.sign_status != "Accepted" or ca is None:
            return {"status": "Rejected" if ca is None else self.sign_status}
        if self.auto_sign:
            chain = ca.sign_csr(csr, self.epoch_unix_s + now_ns // 1_000_000_000,
                                self.signed_validity_s, server=use == "V2GCertificate")
            if chain is None:
                return {"status": "Rejected"}
            self._after_answer.append(self.certificate_signed_call(use, chain.pem))
        return {"status": "Accepted"}

    def certificate_signed_call(self, use: str, chain_pem: str) -> tuple[str, dict[str, Any]]:
        """The CertificateSigned call for this version (1.6 V2G: PnC DataTransfer)."""
        if self.version == "2.0.1":
            return "CertificateSigned", {"certificateChain": chain_pem, "certificateType": use}
        if use == "V2GCertificate":
            return "DataTransfer", {"vendorId": "org.openchargealliance.iso15118pnc",
                                    "messageId": "CertificateSigned",
                                    "data": json.dumps({"certificateChain": chain_pem,
                                                        "certificateType": use})}
        return "CertificateSigned", {"certificateChain": chain_pem}

    # 2.0.1 ---------------------------------------------------------------------------
    def _on_TransactionEvent(self, p: dict[str, Any], now: int) -> dict[str, Any]:  # noqa: N802
        info = p["transactionInfo"]
        tx_id = info["transactionId"]
        out: dict[str, Any] = {}
        if p["eventType"] == "Started":
            token = p.get("idToken", {}).get("idToken", "")
            meter = _energy(p.get("meterValue", []))
            self.transactions[tx_id] = TxView(tx_id, token, meter or 0.0)
            if token:
                out["idTokenInfo"] = {"status": self._token_status(token)}
        tx = self.transactions.setdefault(tx_id, TxView(tx_id, "", 0.0))
        late = p.get("idToken", {}).get("idToken", "")
        if p["eventType"] != "Started" and late and not tx.id_tag:
            # a transaction started before its authorization (TxStartPoint EVConnected):
            # the token comes with the Updated event (E02) and is answered like a Started
            tx.id_tag = late
            out["idTokenInfo"] = {"status": self._token_status(late)}
        tx.events.append(f"{p['eventType']}:{p['triggerReason']}:{p['seqNo']}")
        tx.meter_values.extend(p.get("meterValue", []))
        if p["eventType"] == "Ended":
            tx.stop_reason = info.get("stoppedReason", "Local")
            tx.meter_stop_wh = _energy(p.get("meterValue", []))
        return out

    def _on_Get15118EVCertificate(self, p: dict[str, Any], now: int) -> dict[str, Any]:  # noqa: N802
        return {"status": "Accepted",
                "exiResponse": base64.b64encode(self.pnc_certificate_exi).decode()}

    def _on_GetCertificateStatus(self, p: dict[str, Any], now: int) -> dict[str, Any]:  # noqa: N802
        return self._ocsp_answer(p, now)

    def _ocsp_answer(self, p: dict[str, Any], now_ns: int) -> dict[str, Any]:
        """GetCertificateStatusResponse: the responder's DER OCSPResponse, base64."""
        der = None if self.ocsp is None else self.ocsp.answer(
            p.get("ocspRequestData", {}), self.epoch_unix_s + now_ns // 1_000_000_000)
        if der is None:
            return {"status": "Failed"}
        return {"status": "Accepted", "ocspResult": base64.b64encode(der).decode()}

    def _on_NotifyReport(self, p: dict[str, Any], now: int) -> dict[str, Any]:  # noqa: N802
        return {}

    def _on_NotifyEvent(self, p: dict[str, Any], now: int) -> dict[str, Any]:  # noqa: N802
        return {}

    # ------------------------------------------------------------------ use-case scripts
    def expect(self, *steps: Expect, ignore: tuple[str, ...] = ("Heartbeat",)) -> None:
        """Script the charger's side of a use case: its calls must arrive in this order
        with these fields (calls named in `ignore` may come in between); anything else is a
        deviation (`deviations`), which `assert_script_done` turns into a test failure.
        SecurityEventNotification may come at any moment (A04: a station sends its security
        events as they happen, StartupOfTheDevice right after boot), so it is ignored too
        unless the script itself expects one."""
        self.script = list(steps)
        scripted = {s.action for s in steps}
        self.script_ignore = frozenset(ignore) | ({"SecurityEventNotification"} - scripted)
        self.deviations = []

    def _follow_script(self, action: str, payload: dict[str, Any]) -> None:
        if not self.script or action in self.script_ignore:
            return
        step = self.script.pop(0)
        if step.action != action or not _subset(step.fields, payload):
            self.deviations.append(f"expected {step.action} {step.fields}, got {action} "
                                   f"{payload}")

    def assert_script_done(self) -> None:
        missing = [f"{s.action} {s.fields}" for s in self.script]
        if self.deviations or missing:
            raise AssertionError(f"use-case script: deviations {self.deviations}, "
                                 f"still expected {missing}")

    # ---- smart charging (2.0.1 K09, K11-K13, K15-K17): recorded; see `of(action)`
    def _on_ReportChargingProfiles(self, p: dict[str, Any], now: int) -> dict[str, Any]:  # noqa: N802
        return {}

    def _on_NotifyChargingLimit(self, p: dict[str, Any], now: int) -> dict[str, Any]:  # noqa: N802
        return {}

    def _on_ClearedChargingLimit(self, p: dict[str, Any], now: int) -> dict[str, Any]:  # noqa: N802
        return {}

    def _on_NotifyEVChargingNeeds(self, p: dict[str, Any], now: int) -> dict[str, Any]:  # noqa: N802
        return {"status": self.charging_needs_status}

    def _on_NotifyEVChargingSchedule(self, p: dict[str, Any], now: int) -> dict[str, Any]:  # noqa: N802
        return {"status": "Accepted"}

    def _on_ReservationStatusUpdate(self, p: dict[str, Any], now: int) -> dict[str, Any]:  # noqa: N802
        return {}

    def _on_FirmwareStatusNotification(self, p: dict[str, Any], now: int) -> dict[str, Any]:  # noqa: N802
        self.firmware_statuses.append(p["status"])
        return {}

    def _on_LogStatusNotification(self, p: dict[str, Any], now: int) -> dict[str, Any]:  # noqa: N802
        self.log_statuses.append(p["status"])
        return {}

    def _on_DiagnosticsStatusNotification(self, p: dict[str, Any], now: int) -> dict[str, Any]:  # noqa: N802
        self.log_statuses.append(p["status"])
        return {}


@dataclass(frozen=True, slots=True)
class Expect:
    """One step of a use-case script: a call the charger must make, with these fields
    (nested dicts compare as subsets)."""

    action: str
    fields: dict[str, Any] = field(default_factory=dict)


def _subset(want: dict[str, Any], got: dict[str, Any]) -> bool:
    for k, v in want.items():
        if k not in got:
            return False
        if isinstance(v, dict):
            if not isinstance(got[k], dict) or not _subset(v, got[k]):
                return False
        elif got[k] != v:
            return False
    return True


def _energy(meter_values: list[dict[str, Any]]) -> float | None:
    for mv in meter_values:
        for sv in mv.get("sampledValue", []):
            if sv.get("measurand", "Energy.Active.Import.Register") == \
                    "Energy.Active.Import.Register":
                return float(sv["value"])
    return None

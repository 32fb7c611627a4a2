"""The sans-IO SECC core: V2GTP payloads in, V2GTP payloads out, one per TCP connection.

Theory of operation
-------------------
The first payload must be a supportedAppProtocolReq; its negotiation (`sap.py`) picks the
chart (`fsm_specs/secc_din.yaml` or `secc_iso2.yaml`) and its handler. From then on each
payload is decoded with the codec's typed messages, checked (SessionID, units) and offered
to the chart as one event. What the chart does not accept is answered here, generically:

- undecodable EXI: no response is possible (the message type is unknown), the session
  ends with reason MALFORMED and the connection is closed;
- decodable but invalid content (a PhysicalValue in the wrong unit): the matching response
  with ResponseCode FAILED, then the end;
- a SessionID other than ours after SessionSetup: FAILED_UnknownSession, then the end;
- a request no transition accepts in the current state: FAILED_SequenceError, then the end.

Answers are never delayed artificially; the only deferred ones (PowerDelivery start/stop,
and CertificateInstallation/Update, which wait for the CSMS's answer) are released by
`env_tick` events the core generates every `ENV_POLL_PERIOD_NS` while the chart is in a
deferred state. Every answer's latency (virtual: receive -> answer) is
checked against the message's performance time and reported as `ResponseOverrun`; the
runtime can check real latency with `check_response_time()`.

Timers (chart timeouts, sequence timeout, env ticks) run on the injected `TimerService`
(the station scheduler) or, by default, on an internal one exposed as
`next_deadline_ns()` / `handle_timer(now_ns)`.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import exi
from evse.fsm import CallbackError, Event, Machine, MachineSpec, TimerService, load_spec
from evse.fsm.engine import TraceSink
from evse.fsm.timers import LocalTimers
from evse.secc.config import SeccConfig
from evse.secc.din import DinHandler
from evse.secc.env import AppProtocol, SeccEnv, SessionEndReason
from evse.secc.errors import SeccLocalError
from evse.secc.handler import RawResponse, Request, SeccHandlerBase
from evse.secc.iso2 import Iso2Handler
from evse.secc.quirks import QUIRKS, Quirk
from evse.secc.sap import negotiate
from evse.secc.session import MemorySessionStore, SessionStore
from evse.secc.timing import (
    COMMUNICATION_SETUP_TIMEOUT_NS,
    ENV_POLL_PERIOD_NS,
    SEQUENCE_TIMEOUT_NS,
    performance_time_ns,
)
from exi import app

log = logging.getLogger(__name__)

SPEC_DIR = Path(__file__).resolve().parents[2] / "fsm_specs"
_SPECS: dict[AppProtocol, MachineSpec] = {}

#: Chart states whose answer is deferred until the power path reports (env ticks run).
DEFERRED_STATES = frozenset({"power_delivery_pending", "stopping", "certificate_pending",
                             "cable_check.vehicle_wait"})

#: Request body class name -> chart event (both schemas; PowerDelivery is split below).
REQUEST_EVENTS: dict[str, str] = {
    "SessionSetupReqType": "session_setup_req",
    "ServiceDiscoveryReqType": "service_discovery_req",
    "ServiceDetailReqType": "service_detail_req",
    "ServicePaymentSelectionReqType": "payment_selection_req",
    "PaymentServiceSelectionReqType": "payment_selection_req",
    "PaymentDetailsReqType": "payment_details_req",
    "CertificateInstallationReqType": "certificate_installation_req",
    "CertificateUpdateReqType": "certificate_update_req",
    "ContractAuthenticationReqType": "authorization_req",
    "AuthorizationReqType": "authorization_req",
    "ChargeParameterDiscoveryReqType": "charge_parameter_req",
    "CableCheckReqType": "cable_check_req",
    "PreChargeReqType": "precharge_req",
    "CurrentDemandReqType": "current_demand_req",
    "MeteringReceiptReqType": "metering_receipt_req",
    "WeldingDetectionReqType": "welding_req",
    "SessionStopType": "session_stop_req",
    "SessionStopReqType": "session_stop_req",
}

#: Unit each PhysicalValue field of a request must carry (checked before dispatch).
_UNITS = {
    "EVTargetVoltage": "V", "EVTargetCurrent": "A", "EVMaximumVoltageLimit": "V",
    "EVMaximumCurrentLimit": "A", "EVMaximumPowerLimit": "W",
}


def spec_for(protocol: AppProtocol) -> MachineSpec:
    spec = _SPECS.get(protocol)
    if spec is None:
        name = "secc_din" if protocol is AppProtocol.DIN70121 else "secc_iso2"
        spec = load_spec(SPEC_DIR / f"{name}.yaml")
        _SPECS[protocol] = spec
    return spec


@dataclass(frozen=True, slots=True)
class SendPayload:
    """An EXI payload to send in one V2GTP frame (payload type 0x8001)."""

    payload: bytes
    message: str  # e.g. "CurrentDemandRes"
    received_ns: int  # when the request it answers arrived
    answered_ns: int


@dataclass(frozen=True, slots=True)
class CloseConnection:
    reason: SessionEndReason


@dataclass(frozen=True, slots=True)
class ResponseOverrun:
    message: str
    elapsed_ns: int
    budget_ns: int


@dataclass(frozen=True, slots=True)
class QuirkApplied:
    quirk: Quirk


SeccOutput = SendPayload | CloseConnection | ResponseOverrun | QuirkApplied


class _CollectingTimers:
    """Wraps the TimerService so that the core looks at the chart after every timer."""

    def __init__(self, inner: TimerService, after: Callable[[int], None]) -> None:
        self._inner = inner
        self._after = after

    def start_timer(self, delay_ns: int, callback: Callable[[int], None], label: str) -> object:
        def run(now_ns: int) -> None:
            callback(now_ns)
            self._after(now_ns)

        return self._inner.start_timer(delay_ns, run, label)

    def cancel_timer(self, handle: object) -> None:
        self._inner.cancel_timer(handle)


def check_response_time(message: str, received_ns: int, sent_ns: int,
                        protocol: AppProtocol | None) -> ResponseOverrun | None:
    """For the runtime: real receive->send latency against the performance time."""
    budget = performance_time_ns(message, protocol is AppProtocol.DIN70121)
    elapsed = sent_ns - received_ns
    return ResponseOverrun(message, elapsed, budget) if elapsed > budget else None


def random_session_id(rng: random.Random) -> Callable[[], bytes]:
    """8-byte SessionIDs, never all zero (zero means "no session" in SessionSetupReq)."""

    def make() -> bytes:
        while True:
            sid = rng.getrandbits(64).to_bytes(8, "big")
            if any(sid):
                return sid

    return make


class SeccCore:
    """One V2G communication session (one TCP/TLS connection)."""

    def __init__(
        self,
        env: SeccEnv,
        config: SeccConfig | None = None,
        *,
        store: SessionStore | None = None,
        new_session_id: Callable[[], bytes] | None = None,
        timers: TimerService | None = None,
        trace: TraceSink | None = None,
        quirks: tuple[Quirk, ...] = QUIRKS,
    ) -> None:
        self.env = env
        self.config = config or SeccConfig()
        self.store: SessionStore = store if store is not None else MemorySessionStore()
        self._new_session_id = new_session_id or random_session_id(random.Random())
        self._local = timers is None
        self._timers_local = LocalTimers()
        self._timers: TimerService = _CollectingTimers(
            timers if timers is not None else self._timers_local, self._after_timer)
        self._trace = trace
        self._quirks = quirks
        self.protocol: AppProtocol | None = None
        self.handler: SeccHandlerBase | None = None
        self.machine: Machine | None = None
        self.closed = False
        self.end_reason: SessionEndReason | None = None
        self._out: list[SeccOutput] = []
        self._seq_timer: object | None = None
        self._tick_timer: object | None = None
        self._quirks_seen = 0

    # ------------------------------------------------------------------ public API
    @property
    def state(self) -> str:
        return self.machine.state if self.machine is not None else "wait_sap"

    def connection_opened(self, now_ns: int) -> list[SeccOutput]:
        self._at(now_ns)
        self._arm_sequence(COMMUNICATION_SETUP_TIMEOUT_NS)
        return self.take_outputs()

    def receive(self, payload: bytes, now_ns: int) -> list[SeccOutput]:
        """One V2GTP EXI payload from the car."""
        if self.closed:
            raise SeccLocalError("receive() on a closed SECC session")
        self._at(now_ns)
        self._cancel_sequence()
        if self.machine is None:
            self._on_sap(payload, now_ns)
        else:
            self._on_request(payload, now_ns)
        if not self.closed:
            self._arm_sequence(SEQUENCE_TIMEOUT_NS)
        return self.take_outputs()

    def connection_lost(self, now_ns: int) -> list[SeccOutput]:
        if not self.closed:
            self._finish(SessionEndReason.CONNECTION_LOST, now_ns, notify=True, close=False)
        return self.take_outputs()

    def pilot_changed(self, now_ns: int) -> list[SeccOutput]:
        """The station's pilot/PP changed state. If the env now says the car is gone
        (`SeccEnv.ev_gone`: PP open confirmed, CP in E) the chart gets `ev_gone`: a session
        that waits for the car's next request ends now, not at that request or at
        V2G_SECC_Sequence_Timeout (the chart ignores it while energy flows)."""
        if self.closed or self.machine is None or not self.env.ev_gone(now_ns):
            return self.take_outputs()
        self._at(now_ns)
        if self.handler is not None:
            self.handler._now_ns = now_ns
        self._dispatch(Event("ev_gone"), now_ns, None)
        return self.take_outputs()

    def next_deadline_ns(self) -> int | None:
        return self._timers_local.next_deadline_ns() if self._local else None

    def handle_timer(self, now_ns: int) -> list[SeccOutput]:
        if self._local:
            self._timers_local.fire_due(now_ns)
        return self.take_outputs()

    def take_outputs(self) -> list[SeccOutput]:
        out, self._out = self._out, []
        return out

    # ------------------------------------------------------------------ internals
    def _at(self, now_ns: int) -> None:
        if self._local:
            self._timers_local.now_ns = now_ns

    def _arm_sequence(self, delay_ns: int) -> None:
        self._cancel_sequence()
        self._seq_timer = self._timers.start_timer(delay_ns, self._sequence_expired,
                                                   "secc:sequence_timeout")

    def _cancel_sequence(self) -> None:
        if self._seq_timer is not None:
            self._timers.cancel_timer(self._seq_timer)
            self._seq_timer = None

    def _sequence_expired(self, now_ns: int) -> None:
        self._seq_timer = None
        if self.closed:
            return
        if self.machine is None:
            self._finish(SessionEndReason.SEQUENCE_TIMEOUT, now_ns, notify=True)
            return
        self._dispatch(Event("sequence_timeout"), now_ns, None)

    def _on_sap(self, payload: bytes, now_ns: int) -> None:
        try:
            req = exi.decode("app", payload)
        except exi.DecodeError as exc:
            log.warning("undecodable supportedAppProtocolReq: %s", exc)
            self._finish(SessionEndReason.MALFORMED, now_ns, notify=True)
            return
        if not isinstance(req, app.supportedAppProtocolReq):
            self._finish(SessionEndReason.SEQUENCE_ERROR, now_ns, notify=True)
            return
        res = negotiate(req, self.config.protocols)
        self._send(exi.encode("app", res.response), "supportedAppProtocolRes", now_ns, now_ns)
        if res.protocol is None:
            self._finish(SessionEndReason.NO_NEGOTIATION, now_ns, notify=True)
            return
        self.protocol = res.protocol
        cls = DinHandler if res.protocol is AppProtocol.DIN70121 else Iso2Handler
        self.handler = cls(protocol=res.protocol, env=self.env, config=self.config,
                           store=self.store, new_session_id=self._new_session_id,
                           state_of=lambda: self.state, quirks=self._quirks)
        spec = spec_for(res.protocol)
        params = {k: v for k, v in self.config.chart_params().items() if k in spec.params}
        self.machine = Machine(spec, self.handler, timers=self._timers,
                               trace=self._trace, name="secc", param_overrides=params)
        self.machine.start(now_ns)

    def _schema(self) -> str:
        return "din" if self.protocol is AppProtocol.DIN70121 else "iso2"

    def _on_request(self, payload: bytes, now_ns: int) -> None:
        h = self.handler
        assert h is not None and self.machine is not None
        try:
            msg = exi.decode(self._schema(), payload)
            body = msg.Body.BodyElement
            sid = bytes(msg.Header.SessionID)
            signature = getattr(msg.Header, "Signature", None)
        except (exi.DecodeError, AttributeError) as exc:
            log.warning("undecodable V2G message in %s: %s", self.state, exc)
            self._finish(SessionEndReason.MALFORMED, now_ns, notify=True)
            return
        event = self._event_of(body)
        if event is None or event not in self.machine.spec.events:
            log.warning("request %s not part of this protocol", type(body).__name__)
            self._finish(SessionEndReason.SEQUENCE_ERROR, now_ns, notify=True)
            return
        h.request = Request(body, sid, now_ns, signature)
        h._now_ns = now_ns
        if event != "session_setup_req" and sid != h.session_id:
            self._fail(event, "FAILED_UnknownSession", SessionEndReason.UNKNOWN_SESSION,
                       now_ns)
            return
        if not self._units_ok(body):
            self._fail(event, "FAILED", SessionEndReason.MALFORMED, now_ns)
            return
        self._dispatch(Event(event, body), now_ns, now_ns)

    def _event_of(self, body: Any) -> str | None:
        name = type(body).__name__
        if name == "PowerDeliveryReqType":
            if self.protocol is AppProtocol.DIN70121:
                return ("power_delivery_start_req" if body.ReadyToChargeState
                        else "power_delivery_stop_req")
            return {"Start": "power_delivery_start_req", "Stop": "power_delivery_stop_req",
                    "Renegotiate": "power_delivery_renegotiate_req"}[body.ChargeProgress.value]
        return REQUEST_EVENTS.get(name)

    @staticmethod
    def _units_ok(body: Any) -> bool:
        holders = [body, getattr(body, "EVChargeParameter", None)]
        for holder in holders:
            if holder is None:
                continue
            for field, unit in _UNITS.items():
                pv = getattr(holder, field, None)
                if pv is None or not hasattr(pv, "Unit"):
                    continue
                if pv.Unit is not None and pv.Unit.value != unit:
                    return False
        return True

    def _fail(self, event: str, code: str, reason: SessionEndReason, now_ns: int) -> None:
        h = self.handler
        assert h is not None
        self._respond(h._failed_response(event, code), now_ns)
        self._finish(reason, now_ns, notify=True)

    def _after_timer(self, now_ns: int) -> None:
        """A chart timeout may have answered (deferred PowerDelivery) or ended the session."""
        if not self.closed and self.machine is not None:
            self._collect(Event("timer"), now_ns, None)

    def _dispatch(self, ev: Event, now_ns: int, received_ns: int | None) -> None:
        h, m = self.handler, self.machine
        assert h is not None and m is not None
        try:
            taken = m.dispatch(ev, now_ns)
        except CallbackError as exc:
            # Our bug, not the car's: answer FAILED if we can, end cleanly, never hang.
            log.error("SECC chart callback failed: %s", exc)
            h.responses.clear()
            if received_ns is not None:
                self._fail(ev.name, "FAILED", SessionEndReason.INTERNAL_ERROR, now_ns)
            else:
                self._finish(SessionEndReason.INTERNAL_ERROR, now_ns, notify=True)
            return
        if not taken and received_ns is not None:
            # a request the current state does not accept: out of order
            self._fail(ev.name, "FAILED_SequenceError", SessionEndReason.SEQUENCE_ERROR,
                       now_ns)
            return
        self._collect(ev, now_ns, received_ns)

    def _collect(self, ev: Event, now_ns: int, received_ns: int | None) -> None:
        h, m = self.handler, self.machine
        assert h is not None and m is not None
        for q in h.quirks_applied[self._quirks_seen:]:
            self._out.append(QuirkApplied(q))
        self._quirks_seen = len(h.quirks_applied)
        for body in h.responses:
            if isinstance(body, RawResponse):
                received = h.request.received_ns if h.request is not None else now_ns
                self._send(body.payload, body.message, received, now_ns)
            else:
                self._respond(body, now_ns)
        h.responses.clear()
        if m.state == "ended":
            self._finish(h.end_reason or SessionEndReason.EV_STOP, now_ns, notify=False)
            return
        if m.state in DEFERRED_STATES:
            if received_ns is not None or ev.name != "env_tick":
                # look at once: the output may already be ready (renegotiation)
                self._dispatch(Event("env_tick"), now_ns, None)
            elif self._tick_timer is None:
                self._tick_timer = self._timers.start_timer(ENV_POLL_PERIOD_NS, self._tick,
                                                            "secc:env_tick")

    def _tick(self, now_ns: int) -> None:
        self._tick_timer = None
        if not self.closed and self.machine is not None and self.machine.state in (
                DEFERRED_STATES):
            self._dispatch(Event("env_tick"), now_ns, None)

    def _respond(self, body: Any, now_ns: int) -> None:
        h = self.handler
        assert h is not None
        msg = h._b.message(h.session_id or b"\x00", body)
        try:
            data = exi.encode(self._schema(), msg)
        except exi.EncodeError as exc:
            raise SeccLocalError(f"cannot encode our own {type(body).__name__}: {exc}") from exc
        name = type(body).__name__.removesuffix("Type")
        received = h.request.received_ns if h.request is not None else now_ns
        self._send(data, name, received, now_ns)

    def _send(self, data: bytes, name: str, received_ns: int, now_ns: int) -> None:
        self._out.append(SendPayload(data, name, received_ns, now_ns))
        over = check_response_time(name, received_ns, now_ns, self.protocol)
        if over is not None:
            log.warning("%s answered after %.1f ms (budget %.1f ms)", name,
                        over.elapsed_ns / 1e6, over.budget_ns / 1e6)
            self._out.append(over)

    def _finish(self, reason: SessionEndReason, now_ns: int, *, notify: bool,
                close: bool = True) -> None:
        if self.closed:
            return
        self.closed = True
        self.end_reason = reason
        self._cancel_sequence()
        if self._tick_timer is not None:
            self._timers.cancel_timer(self._tick_timer)
            self._tick_timer = None
        if notify:
            if self.handler is not None:
                self.handler._end(reason)
            self.env.session_ended(reason, now_ns)
        if close:
            self._out.append(CloseConnection(reason))

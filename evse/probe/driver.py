"""The probe's car: the EV simulator driven over a `ProbeLink`, stoppable at any step.

`Driver.advance(stop)` runs the ordinary EV session (`evse.ev.sim.EvSim`) until `stop(ev)`
holds when the car is about to send a request: that request is kept in `held`, unsent, so
a case can send it as it is, mutated (another SessionID, a broken header) or something else
instead. Every answer is recorded with its round-trip time from the request's last byte.
The probe's battery is the simulator's; its inlet "measures" what the charger last reported
(a bench has no voltmeter on the probe's side), so consistency checks compare the charger's
reports with the battery model, not with themselves.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import exi
from evse.ev.profiles import profile
from evse.ev.sim import EvSim, Phase
from evse.probe.link import Closed, Frame, ProbeLink, Silence
from evse.probe.model import ProbeOptions
from evse.secc.units import to_float
from evse.v2gtp import PayloadType, encode_frame


class Stop(enum.Enum):
    HELD = "held"  # stop(ev) held: the request of that step is in `held`
    DONE = "done"  # the EV's session ended (ev.result is set)
    CLOSED = "closed"  # the SECC closed the connection
    LIMIT = "limit"  # the wall/virtual time limit passed


@dataclass(frozen=True, slots=True)
class Answer:
    """One message from the SECC: its name, decoded body (None if undecodable)."""

    name: str
    body: Any
    at_ns: int
    rtt_ns: int | None
    error: str = ""
    payload: bytes = b""

    @property
    def code(self) -> str:
        rc = getattr(self.body, "ResponseCode", None)
        return "" if rc is None else str(rc.value)


@dataclass(slots=True)
class Driver:
    link: ProbeLink
    options: ProbeOptions
    tls: bool = False
    #: Plug & Charge: the car selects Contract (offered on TLS only) and signs with the
    #: contract of `options.contract` (or a fresh test contract).
    pnc: bool = False
    ev: EvSim = field(init=False)
    held: list[bytes] = field(default_factory=list)
    answers: list[Answer] = field(default_factory=list)
    closed: Closed | None = None
    _sent_ns: int | None = None
    _sent_name: str = ""

    def __post_init__(self) -> None:
        if self.pnc:
            p = profile("pnc")
            if self.options.contract is not None:
                p.contract = self.options.contract
        else:
            p = profile("din_only" if self.options.protocol == "din"
                        else "iso_waits_for_customer")
        p.charge_for_ns = self.options.charge_ns
        p.present_voltage_tolerance_v = None  # checked by the cases against the battery
        p.present_current_tolerance_a = None
        self.ev = EvSim(p, inlet_voltage_v=self._inlet_v, inlet_current_a=self._inlet_a)

    # ------------------------------------------------------------------ the battery's view
    def _last_present(self, name: str) -> float:
        for a in reversed(self.answers):
            value = getattr(a.body, name, None)
            if value is not None:
                try:
                    return to_float(value)
                except (TypeError, ValueError, AttributeError):
                    return 0.0
        return 0.0

    def _inlet_v(self, now_ns: int) -> float:
        return self._last_present("EVSEPresentVoltage")

    def _inlet_a(self, now_ns: int) -> float:
        return self._last_present("EVSEPresentCurrent")

    # ------------------------------------------------------------------ schema helpers
    @property
    def schema(self) -> str:
        if self.ev.phase is Phase.SAP:
            return "app"
        return "din" if self.options.protocol == "din" else "iso2"

    @property
    def m(self) -> Any:
        return exi.din if self.options.protocol == "din" else exi.iso2

    def message(self, body: Any, session_id: bytes | None = None) -> bytes:
        """A V2G message with the session's (or the given) SessionID, EXI-encoded."""
        m = self.m
        sid = self.ev.session_id if session_id is None else session_id
        msg = m.V2G_Message(Header=m.MessageHeaderType(SessionID=sid),
                            Body=m.BodyType(BodyElement=body))
        return bytes(exi.encode(self.schema, msg))

    def with_session_id(self, payload: bytes, session_id: bytes) -> bytes:
        msg = exi.decode(self.schema, payload)
        header = dataclasses.replace(msg.Header, SessionID=session_id)
        return bytes(exi.encode(self.schema, dataclasses.replace(msg, Header=header)))

    def decode_request(self, payload: bytes) -> Any:
        return exi.decode(self.schema, payload).Body.BodyElement

    def reencode(self, payload: bytes, change: Callable[[Any], Any]) -> bytes:
        """The held request with its body changed by `change(body) -> body`."""
        msg = exi.decode(self.schema, payload)
        body = dataclasses.replace(msg.Body, BodyElement=change(msg.Body.BodyElement))
        return bytes(exi.encode(self.schema, dataclasses.replace(msg, Body=body)))

    # ------------------------------------------------------------------ I/O
    def open(self) -> None:
        self.link.connect(self.tls)
        self.held = self.ev.start(self.link.now_ns())

    def send_raw(self, raw: bytes, name: str) -> None:
        self.link.send(raw)
        self._sent_ns = self.link.now_ns()
        self._sent_name = name

    def send_payload(self, payload: bytes) -> None:
        name = "request"
        if self.schema != "app":
            try:
                name = type(self.decode_request(payload)).__name__
            except exi.DecodeError:
                name = "undecodable"
        self.send_raw(encode_frame(PayloadType.EXI, payload), name)

    def release(self) -> None:
        """Send the held request(s) as the car meant them."""
        held, self.held = self.held, []
        for p in held:
            self.send_payload(p)

    def _decode(self, frame: Frame) -> Answer:
        rtt = None if self._sent_ns is None else frame.at_ns - self._sent_ns
        schema = "app" if self.ev.phase is Phase.SAP and self.ev.protocol is None else (
            "din" if self.options.protocol == "din" else "iso2")
        try:
            msg = exi.decode(schema, frame.payload)
        except exi.DecodeError as exc:
            return Answer("undecodable", None, frame.at_ns, rtt, str(exc), frame.payload)
        body = msg if schema == "app" else msg.Body.BodyElement
        return Answer(type(body).__name__, body, frame.at_ns, rtt, "", frame.payload)

    def answer(self, wait_ns: int) -> Answer | Closed | Silence:
        """The next message from the SECC within `wait_ns` (not given to the EV)."""
        e = self.link.recv(wait_ns)
        if isinstance(e, Frame):
            a = self._decode(e)
            self.answers.append(a)
            return a
        if isinstance(e, Closed):
            self.closed = e
        return e

    def wait_close(self, wait_ns: int) -> Closed | None:
        """Until the SECC closes (anything it still sends is recorded), at most `wait_ns`."""
        if self.closed is not None:
            return self.closed
        end = self.link.now_ns() + wait_ns
        while self.link.now_ns() < end:
            e = self.answer(end - self.link.now_ns())
            if isinstance(e, Closed):
                return e
            if isinstance(e, Silence):
                return None
        return None

    def advance(self, stop: Callable[[EvSim], bool] | None, limit_ns: int) -> Stop:
        give_up = self.link.now_ns() + limit_ns
        while True:
            if self.ev.result is not None:
                return Stop.DONE
            if self.held:
                if stop is not None and stop(self.ev):
                    return Stop.HELD
                self.release()
            now = self.link.now_ns()
            if now >= give_up:
                return Stop.LIMIT
            deadline = self.ev.next_deadline_ns()
            wait = give_up - now if deadline is None else max(0, min(deadline, give_up) - now)
            e = self.answer(wait)
            if isinstance(e, Answer):
                at = e.at_ns
                try:
                    self.held = self.ev.receive(e.payload, at)
                except (exi.DecodeError, AttributeError, TypeError, ValueError,
                        KeyError, IndexError) as exc:
                    # A bad answer is the SECC's failure, not the probe's crash.
                    self.ev.connection_closed(at)
                    self._note_error(f"{e.name}: {exc}")
                    return Stop.DONE
            elif isinstance(e, Closed):
                self.ev.connection_closed(e.at_ns)
                return Stop.CLOSED
            else:
                self.held = self.ev.handle_timer(self.link.now_ns())

    def _note_error(self, what: str) -> None:
        self.answers.append(Answer("error", None, self.link.now_ns(), None, what))

"""Sans-IO core of the CBOR stream link between the PLC and controller processes.

Theory of operation
-------------------
The core owns no socket and reads no clock: the adapter (evse/io/contract_link.py)
feeds it bytes and `now_ns`, writes out `data_to_send()`, and wakes it at
`next_deadline_ns()`. One instance lives for the whole life of a process and survives
any number of connections; that is what makes reconnect lossless.

Frames (CBOR arrays inside evse.contract.framing frames):
    [0, seq, signal_name, {field: value}]   DATA: one sample
    [1, rx_next]                            ACK: cumulative, "next seq I expect"
    [2, rx_next]                            HEARTBEAT (also acks)
    [3, {hello map}]                        HELLO: version, role, instance, resume point
    [4, seq, reason]                        REJECT: a DATA frame was well-formed but invalid
    [5, rx_next]                            NACK: gap seen, resend from rx_next

Delivery rules
--------------
* Every sample gets a sequence number when it is first transmitted; it stays in the
  unacked window until the peer acknowledges it, and is resent (go-back-N) after a NACK,
  after link_retransmit_timeout, and after a reconnect, so nothing accepted by
  `publish` is lost while this process lives.
* Samples published while the link is down wait unnumbered; a newer sample of the same
  STATE signal replaces the waiting one (only the latest state matters, and this keeps
  the queue bounded through a long outage). EVENT samples are never coalesced.
* The receiver delivers each sequence number once, in order. A frame that is corrupt
  (CRC, CBOR, envelope) is dropped unseen and recovered by retransmission; a frame that
  is intact but breaks the contract (unknown signal, wrong type, out of range, missing
  field, wrong direction) is consumed, counted, logged, reported with REJECT and never
  delivered.
* HELLO carries each side's random instance id. A changed peer instance means the peer
  restarted: sequence tracking restarts from the hello's tx_base, a PeerRestarted event
  is raised and our latest TTL/field/until-replaced state samples are republished.
"""

from __future__ import annotations

import enum
import logging
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import cbor2

from evse.contract.codec import from_wire, to_wire
from evse.contract.definition import DEFINITION, Direction, SignalKind, ValidityMode
from evse.contract.errors import (
    ContractUsageError,
    LinkBackpressureError,
    SampleDecodeError,
    Violation,
    ViolationKind,
)
from evse.contract.events import (
    ContractPort,
    FrameDropped,
    LinkDown,
    LinkDownReason,
    LinkUp,
    PeerRestarted,
    PortEvent,
    RejectedByPeer,
    SampleRejected,
    SignalReceived,
)
from evse.contract.framing import FrameDecoder, FrameFault, encode_frame
from evse.contract.values import CONTRACT_MAJOR, CONTRACT_MINOR, Role, SignalValue

log = logging.getLogger(__name__)

HEARTBEAT_INTERVAL_NS = DEFINITION.bound_ns("link_heartbeat_interval")
DEAD_TIMEOUT_NS = DEFINITION.bound_ns("link_dead_timeout")
HELLO_TIMEOUT_NS = DEFINITION.bound_ns("link_hello_timeout")
RETRANSMIT_TIMEOUT_NS = DEFINITION.bound_ns("link_retransmit_timeout")
# Window of numbered, unacknowledged frames; beyond it samples wait (and coalesce).
MAX_UNACKED_FRAMES = 1024
# Waiting EVENT samples while the link is down; beyond it publish() raises (no silent loss).
MAX_PENDING_EVENTS = 1024

_DATA, _ACK, _HEARTBEAT, _HELLO, _REJECT, _NACK = range(6)
_SEQ_MAX = 2**63 - 1

_ALLOWED_OUT = {Role.PLC: Direction.PLC_TO_CTRL, Role.CONTROLLER: Direction.CTRL_TO_PLC}
_RESYNC_MODES = {ValidityMode.TTL, ValidityMode.FIELD, ValidityMode.UNTIL_REPLACED}


class LinkState(enum.Enum):
    DISCONNECTED = "disconnected"
    AWAIT_HELLO = "await_hello"
    ESTABLISHED = "established"
    INCOMPATIBLE = "incompatible"


@dataclass
class LinkCounters:
    """Everything the link counted; exposed for logs, the bench and tests."""

    frames_rx: int = 0
    frames_tx: int = 0
    signals_rx: int = 0
    signals_tx: int = 0
    retransmits: int = 0
    duplicates: int = 0
    out_of_order: int = 0
    coalesced: int = 0
    ignored_fields: int = 0
    rejected_by_peer: int = 0
    link_ups: int = 0
    link_downs: int = 0
    peer_restarts: int = 0
    bytes_skipped: int = 0
    invalid: dict[str, int] = field(default_factory=dict)

    def count_invalid(self, kind: str) -> None:
        self.invalid[kind] = self.invalid.get(kind, 0) + 1

    @property
    def invalid_total(self) -> int:
        return sum(self.invalid.values())


@dataclass(slots=True)
class _Outgoing:
    seq: int
    name: str
    frame: bytes
    last_sent_ns: int


@dataclass(frozen=True, slots=True)
class _Hello:
    contract: str
    major: int
    minor: int
    role: Role
    instance: int
    peer_instance: int | None
    rx_next: int
    tx_base: int
    seen: bool  # the sender has our hello of this connection (then never answer it)


class StreamLink:
    """One side of the contract over any reliable-or-not byte stream (sans-IO).

    Port API (same as the in-process link): `publish`, `poll`, `next_deadline_ns`,
    `handle_timer`. Byte API for the adapter: `connection_made`, `receive_bytes`,
    `data_to_send`, `connection_lost`.
    """

    def __init__(self, role: Role, instance_id: int, *, minor: int = CONTRACT_MINOR) -> None:
        if not 0 < instance_id <= _SEQ_MAX:
            raise ContractUsageError("instance_id must be a positive 63-bit integer")
        self._role = role
        self._instance = instance_id
        self._minor = minor
        self.state = LinkState.DISCONNECTED
        self.counters = LinkCounters()
        self._decoder = FrameDecoder()
        self._tx = bytearray()
        self._events: list[PortEvent] = []
        # sending side
        self._next_seq = 0
        self._unacked: deque[_Outgoing] = deque()
        self._pending: deque[SignalValue] = deque()
        self._pending_events = 0
        self._latest_state: dict[str, SignalValue] = {}
        # receiving side
        self._peer_instance: int | None = None
        self._peer_minor = minor
        self._rx_next = 0
        self._ack_due = False
        self._nack_sent_for: int | None = None
        # timers
        self._connected_ns = 0
        self._last_rx_ns = 0
        self._last_tx_ns = 0
        self._last_hello_ns = 0

    # ------------------------------------------------------------------ port API

    @property
    def role(self) -> Role:
        return self._role

    @property
    def instance_id(self) -> int:
        return self._instance

    @property
    def peer_instance(self) -> int | None:
        return self._peer_instance

    @property
    def unacked_count(self) -> int:
        return len(self._unacked)

    @property
    def pending_count(self) -> int:
        return len(self._pending)

    def publish(self, value: SignalValue, now_ns: int) -> None:
        """Accept a sample for delivery; never blocks. Raises on wrong direction/overflow."""
        sdef = DEFINITION.signals[value.SIGNAL]
        if sdef.direction is not _ALLOWED_OUT[self._role]:
            raise ContractUsageError(f"{self._role.value} may not publish {sdef.name}")
        if sdef.kind is SignalKind.STATE:
            self._latest_state[sdef.name] = value
            for i, waiting in enumerate(self._pending):
                if sdef.name == waiting.SIGNAL:
                    del self._pending[i]
                    self.counters.coalesced += 1
                    break
        else:
            if self._pending_events >= MAX_PENDING_EVENTS:
                raise LinkBackpressureError(
                    f"{MAX_PENDING_EVENTS} event samples waiting for the link; {sdef.name} refused"
                )
            self._pending_events += 1
        self._pending.append(value)
        self._flush_pending(now_ns)

    def poll(self, now_ns: int) -> list[PortEvent]:
        self.handle_timer(now_ns)
        events, self._events = self._events, []
        return events

    def next_deadline_ns(self) -> int | None:
        if self.state in (LinkState.DISCONNECTED, LinkState.INCOMPATIBLE):
            return None
        deadlines = [self._last_rx_ns + DEAD_TIMEOUT_NS]
        if self.state is LinkState.AWAIT_HELLO:
            deadlines.append(self._connected_ns + HELLO_TIMEOUT_NS)
            deadlines.append(self._last_hello_ns + RETRANSMIT_TIMEOUT_NS)
        else:
            deadlines.append(self._last_tx_ns + HEARTBEAT_INTERVAL_NS)
            if self._unacked:
                deadlines.append(self._unacked[0].last_sent_ns + RETRANSMIT_TIMEOUT_NS)
        return min(deadlines)

    def handle_timer(self, now_ns: int) -> None:
        if self.state in (LinkState.DISCONNECTED, LinkState.INCOMPATIBLE):
            return
        if self.state is LinkState.AWAIT_HELLO and now_ns >= self._connected_ns + HELLO_TIMEOUT_NS:
            self._down(LinkDownReason.HELLO_TIMEOUT, now_ns)
            return
        if now_ns >= self._last_rx_ns + DEAD_TIMEOUT_NS:
            self._down(LinkDownReason.PEER_SILENT, now_ns)
            return
        if self.state is LinkState.AWAIT_HELLO:
            if now_ns >= self._last_hello_ns + RETRANSMIT_TIMEOUT_NS:
                self._send_hello(now_ns)  # ours may have been corrupted: the hello is our keepalive
            return
        if self._unacked and now_ns >= self._unacked[0].last_sent_ns + RETRANSMIT_TIMEOUT_NS:
            self._retransmit_from(self._unacked[0].seq, now_ns)
        if now_ns >= self._last_tx_ns + HEARTBEAT_INTERVAL_NS:
            self._send_control([_HEARTBEAT, self._rx_next], now_ns)

    # ------------------------------------------------------------------ byte API

    def connection_made(self, now_ns: int) -> None:
        """A fresh transport is up: start the hello exchange."""
        if self.state is LinkState.ESTABLISHED or self.state is LinkState.AWAIT_HELLO:
            self._down(LinkDownReason.TRANSPORT_CLOSED, now_ns)
        self._decoder.reset()
        self._tx.clear()
        self.state = LinkState.AWAIT_HELLO
        self._connected_ns = now_ns
        self._last_rx_ns = now_ns
        self._send_hello(now_ns)

    def connection_lost(self, now_ns: int) -> None:
        if self.state in (LinkState.ESTABLISHED, LinkState.AWAIT_HELLO):
            self._down(LinkDownReason.TRANSPORT_CLOSED, now_ns)
        self.state = LinkState.DISCONNECTED

    def close(self, now_ns: int) -> None:
        """Local decision to drop the connection (the adapter closes the socket)."""
        if self.state in (LinkState.ESTABLISHED, LinkState.AWAIT_HELLO):
            self._down(LinkDownReason.LOCAL_CLOSE, now_ns)

    def data_to_send(self) -> bytes:
        out = bytes(self._tx)
        self._tx.clear()
        return out

    def receive_bytes(self, data: bytes, now_ns: int) -> None:
        if self.state in (LinkState.DISCONNECTED, LinkState.INCOMPATIBLE):
            return
        for item in self._decoder.feed(data):
            if isinstance(item, FrameFault):
                self.counters.bytes_skipped += item.skipped_bytes
                self.counters.count_invalid(item.kind.value)
                self._events.append(FrameDropped(item.kind, f"{item.skipped_bytes} bytes"))
                continue
            self._last_rx_ns = now_ns
            self.counters.frames_rx += 1
            self._on_payload(item, now_ns)
            if not self._is_open():
                return
        if self._ack_due and self.state is LinkState.ESTABLISHED:
            self._send_control([_ACK, self._rx_next], now_ns)

    # ------------------------------------------------------------------ internals

    def _is_open(self) -> bool:
        return self.state in (LinkState.ESTABLISHED, LinkState.AWAIT_HELLO)

    def _down(self, reason: LinkDownReason, now_ns: int) -> None:
        was_up = self.state is LinkState.ESTABLISHED
        self.state = (
            LinkState.INCOMPATIBLE if reason is LinkDownReason.VERSION_MISMATCH
            else LinkState.DISCONNECTED
        )
        self.counters.link_downs += 1
        log.warning("contract link down (%s, was %s)", reason.value,
                    "up" if was_up else "connecting")
        self._events.append(LinkDown(reason, now_ns))

    def _emit(self, frame: bytes, now_ns: int) -> None:
        self._tx += frame
        self._last_tx_ns = now_ns
        self.counters.frames_tx += 1

    def _send_control(self, body: list[Any], now_ns: int) -> None:
        self._emit(encode_frame(cbor2.dumps(body)), now_ns)
        if body[0] in (_ACK, _HEARTBEAT):
            self._ack_due = False

    def _send_hello(self, now_ns: int) -> None:
        tx_base = self._unacked[0].seq if self._unacked else self._next_seq
        hello = {
            "contract": DEFINITION.contract,
            "major": CONTRACT_MAJOR,
            "minor": self._minor,
            "role": self._role.value,
            "instance": self._instance,
            "peer_instance": self._peer_instance,
            "rx_next": self._rx_next,
            "tx_base": tx_base,
            "seen": self.state is LinkState.ESTABLISHED,
        }
        self._last_hello_ns = now_ns
        self._send_control([_HELLO, hello], now_ns)

    def _flush_pending(self, now_ns: int) -> None:
        if self.state is not LinkState.ESTABLISHED:
            return
        while self._pending and len(self._unacked) < MAX_UNACKED_FRAMES:
            value = self._pending.popleft()
            if DEFINITION.signals[value.SIGNAL].kind is SignalKind.EVENT:
                self._pending_events -= 1
            seq = self._next_seq
            self._next_seq += 1
            frame = encode_frame(cbor2.dumps([_DATA, seq, value.SIGNAL, to_wire(value)]))
            self._unacked.append(_Outgoing(seq, value.SIGNAL, frame, now_ns))
            self.counters.signals_tx += 1
            self._emit(frame, now_ns)

    def _retransmit_from(self, seq: int, now_ns: int) -> None:
        for out in self._unacked:
            if out.seq >= seq:
                out.last_sent_ns = now_ns
                self.counters.retransmits += 1
                self._emit(out.frame, now_ns)

    def _acked_up_to(self, rx_next: int) -> None:
        while self._unacked and self._unacked[0].seq < rx_next:
            self._unacked.popleft()

    def _invalid_frame(self, kind: str, detail: str) -> None:
        self.counters.count_invalid(kind)
        log.warning("contract link dropped a frame: %s (%s)", kind, detail)
        self._events.append(FrameDropped(kind, detail))

    def _on_payload(self, payload: bytes, now_ns: int) -> None:
        try:
            body = cbor2.loads(payload)
        except (cbor2.CBORError, ValueError, TypeError, OverflowError, RecursionError) as exc:
            self._invalid_frame("bad_cbor", type(exc).__name__)
            return
        if not isinstance(body, list) or not body or not _is_int(body[0]):
            self._invalid_frame("bad_envelope", "not a typed array")
            return
        kind = body[0]
        if kind == _HELLO and len(body) == 2:
            self._on_hello(body[1], now_ns)
        elif self.state is not LinkState.ESTABLISHED:
            self._invalid_frame("bad_envelope", "frame before hello")
        elif kind == _DATA and len(body) == 4 and _is_seq(body[1]) and isinstance(body[2], str):
            self._on_data(body[1], body[2], body[3], now_ns)
        elif kind in (_ACK, _HEARTBEAT) and len(body) == 2 and _is_seq(body[1]):
            self._on_ack(body[1], now_ns)
        elif kind == _NACK and len(body) == 2 and _is_seq(body[1]):
            self._on_ack(body[1], now_ns)
            self._retransmit_from(body[1], now_ns)
        elif kind == _REJECT and len(body) == 3 and _is_seq(body[1]) and isinstance(body[2], str):
            self.counters.rejected_by_peer += 1
            log.warning("peer rejected our sample %d: %s", body[1], body[2][:200])
            self._events.append(RejectedByPeer(body[1], body[2][:200]))
        else:
            self._invalid_frame("bad_envelope", f"unknown frame type {kind!r:.20}")

    def _on_ack(self, rx_next: int, now_ns: int) -> None:
        if rx_next > self._next_seq:
            self._invalid_frame("bad_envelope", "ack beyond what was sent")
            return
        self._acked_up_to(rx_next)
        self._flush_pending(now_ns)

    def _on_data(self, seq: int, name: str, payload: object, now_ns: int) -> None:
        if seq < self._rx_next:
            self.counters.duplicates += 1
            self._ack_due = True
            return
        if seq > self._rx_next:
            self.counters.out_of_order += 1
            if self._nack_sent_for != self._rx_next:
                self._nack_sent_for = self._rx_next
                self._send_control([_NACK, self._rx_next], now_ns)
            return
        self._rx_next += 1
        self._nack_sent_for = None
        self._ack_due = True
        try:
            value, ignored = from_wire(
                name, payload, tolerate_unknown_fields=self._peer_minor > self._minor
            )
            sdef = DEFINITION.signals[name]
            if sdef.direction is _ALLOWED_OUT[self._role]:
                raise SampleDecodeError(Violation(
                    ViolationKind.WRONG_DIRECTION, name, "",
                    f"{self._role.value} does not receive {sdef.direction.value} signals",
                ))
        except SampleDecodeError as exc:
            kind = exc.violation.kind.value
            self.counters.count_invalid(kind)
            log.warning("contract sample %d rejected: %s", seq, exc.violation)
            self._events.append(SampleRejected(exc.violation, seq))
            self._send_control([_REJECT, seq, str(exc.violation)[:200]], now_ns)
            return
        self.counters.ignored_fields += ignored
        self.counters.signals_rx += 1
        self._events.append(SignalReceived(value, now_ns))

    def _parse_hello(self, raw: object) -> _Hello | None:
        if not isinstance(raw, dict):
            return None
        try:
            peer_instance = raw["peer_instance"]
            hello = _Hello(
                contract=raw["contract"], major=raw["major"], minor=raw["minor"],
                role=Role(raw["role"]), instance=raw["instance"],
                peer_instance=peer_instance, rx_next=raw["rx_next"], tx_base=raw["tx_base"],
                seen=raw.get("seen", False) is True,
            )
        except (KeyError, ValueError, TypeError):
            return None
        ints_ok = all(_is_seq(x) for x in (hello.major, hello.minor, hello.rx_next,
                                           hello.tx_base, hello.instance))
        if not ints_ok or not isinstance(hello.contract, str):
            return None
        if peer_instance is not None and not _is_seq(peer_instance):
            return None
        return hello

    def _on_hello(self, raw: object, now_ns: int) -> None:
        hello = self._parse_hello(raw)
        if hello is None:
            self._invalid_frame("bad_envelope", "malformed hello")
            return
        if (hello.contract != DEFINITION.contract or hello.major != CONTRACT_MAJOR
                or hello.role is self._role):
            log.error("incompatible contract peer: %s v%d.%d role %s", hello.contract,
                      hello.major, hello.minor, hello.role.value)
            self._down(LinkDownReason.VERSION_MISMATCH, now_ns)
            return
        old_instance = self._peer_instance
        restarted = old_instance is not None and hello.instance != old_instance
        if hello.instance != old_instance:
            if old_instance is not None:
                self.counters.peer_restarts += 1
                self._events.append(PeerRestarted(old_instance, hello.instance))
            self._peer_instance = hello.instance
            self._rx_next = hello.tx_base
        elif self._rx_next < hello.tx_base:
            self.counters.count_invalid("resume_gap")  # peer dropped frames it never had acked
            self._rx_next = hello.tx_base
        self._nack_sent_for = None
        self._peer_minor = hello.minor
        if hello.peer_instance == self._instance:
            if hello.rx_next > self._next_seq:
                self._invalid_frame("bad_envelope", "hello acks beyond what was sent")
                self._down(LinkDownReason.PROTOCOL_ERROR, now_ns)
                return
            self._acked_up_to(hello.rx_next)
        # else: the peer has never seen this process: everything unacked is resent to it
        if self.state is LinkState.ESTABLISHED:
            if not hello.seen:
                self._send_hello(now_ns)  # it resent its hello because ours was lost
            return  # a repeated hello changes nothing else (answering a "seen" one would loop)
        self.state = LinkState.ESTABLISHED
        self.counters.link_ups += 1
        self._events.append(LinkUp(hello.instance, hello.minor, resumed=not restarted
                                   and hello.peer_instance == self._instance))
        if restarted:
            self._republish_state()
        if self._unacked:
            self._retransmit_from(self._unacked[0].seq, now_ns)
        self._flush_pending(now_ns)

    def _republish_state(self) -> None:
        for name, value in self._latest_state.items():
            if DEFINITION.signals[name].validity.mode not in _RESYNC_MODES:
                continue
            if any(name == waiting.SIGNAL for waiting in self._pending):
                continue
            self._pending.append(value)


def _is_int(x: object) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _is_seq(x: object) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and 0 <= x <= _SEQ_MAX


def _is_a_contract_port(port: StreamLink) -> ContractPort:
    """Static proof (mypy) that StreamLink implements ContractPort."""
    return port

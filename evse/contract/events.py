"""What a contract port hands its owner, identical for every transport.

The in-process link and the CBOR stream link both return these from `poll(now_ns)`, so
the SECC, the guard and the controller never know which one they run on. The
diagnostic events exist only on the stream link (in-process values cannot be corrupt).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol

from evse.contract.errors import Violation
from evse.contract.framing import FrameFaultKind
from evse.contract.values import Role, SignalValue


class LinkDownReason(enum.Enum):
    PEER_SILENT = "peer_silent"  # nothing received for link_dead_timeout
    HELLO_TIMEOUT = "hello_timeout"  # no hello within link_hello_timeout
    TRANSPORT_CLOSED = "transport_closed"  # socket/UART closed or failed
    VERSION_MISMATCH = "version_mismatch"  # incompatible major version or same role
    PROTOCOL_ERROR = "protocol_error"  # the peer's resume point is impossible
    LOCAL_CLOSE = "local_close"


@dataclass(frozen=True, slots=True)
class SignalReceived:
    """A valid sample from the peer, stamped with our own receive time."""

    value: SignalValue
    rx_ns: int


@dataclass(frozen=True, slots=True)
class LinkUp:
    peer_instance: int
    peer_minor: int
    resumed: bool  # same peer instance as before: nothing was lost, nothing repeated


@dataclass(frozen=True, slots=True)
class LinkDown:
    reason: LinkDownReason
    at_ns: int


@dataclass(frozen=True, slots=True)
class PeerRestarted:
    """The peer is a new process: it lost every state it had received from us."""

    old_instance: int
    new_instance: int


@dataclass(frozen=True, slots=True)
class SampleRejected:
    """The peer sent a well-framed sample that breaks the contract; it was dropped."""

    violation: Violation
    seq: int


@dataclass(frozen=True, slots=True)
class RejectedByPeer:
    """The peer dropped one of our samples (it speaks another minor version, or we have a bug)."""

    seq: int
    detail: str


@dataclass(frozen=True, slots=True)
class FrameDropped:
    """Corrupt bytes (framing, CRC, CBOR, envelope) were skipped; the link stays up."""

    kind: FrameFaultKind | str
    detail: str


PortEvent = (
    SignalReceived | LinkUp | LinkDown | PeerRestarted | SampleRejected | RejectedByPeer
    | FrameDropped
)


class ContractPort(Protocol):
    """One side's view of the contract, whatever carries it.

    `publish` never blocks and never waits for the peer; `poll` returns what arrived.
    """

    @property
    def role(self) -> Role: ...

    def publish(self, value: SignalValue, now_ns: int) -> None: ...

    def poll(self, now_ns: int) -> list[PortEvent]: ...

    def next_deadline_ns(self) -> int | None: ...

    def handle_timer(self, now_ns: int) -> None: ...

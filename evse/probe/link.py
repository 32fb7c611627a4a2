"""The probe's view of a SECC: one port the case logic talks to, two adapters behind it.

`ProbeLink` is deliberately small: a case needs SDP datagrams, a fresh V2G connection, raw
bytes on that connection (so it can send broken V2GTP headers) and "what came back within
this long" (a frame, the SECC closing TCP, or nothing). `evse.probe.net.SocketLink` does it
with real sockets and the monotonic clock; `evse.probe.inproc.InProcessLink` with a SECC
core in virtual time, so every case is unit-testable without a network.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable


@dataclass(frozen=True, slots=True)
class Frame:
    """A whole V2GTP frame from the SECC (header checked by the link's decoder)."""

    payload_type: int
    payload: bytes
    at_ns: int


@dataclass(frozen=True, slots=True)
class Closed:
    """The SECC closed the connection (or its byte stream could no longer be framed)."""

    at_ns: int
    detail: str


@dataclass(frozen=True, slots=True)
class Silence:
    """Nothing arrived within the wait."""

    at_ns: int


LinkEvent = Frame | Closed | Silence


class ProbeLinkError(Exception):
    """The probe could not reach the SECC at all (no SDP answer, connect refused)."""


class ProbeLink(Protocol):
    def now_ns(self) -> int: ...

    def sdp(self, datagram: bytes, wait_ns: int) -> bytes | None:
        """Send one raw SDP datagram; the first answer within `wait_ns`, or None."""
        ...

    def connect(self, tls: bool) -> None:
        """Discover the SECC by SDP (as a car does, with repetitions) and open TCP or TLS.
        Raises ProbeLinkError if it cannot."""
        ...

    def send(self, raw: bytes) -> None:
        """Raw bytes on the open connection (V2GTP header included)."""
        ...

    def recv(self, wait_ns: int) -> LinkEvent: ...

    def disconnect(self) -> None:
        """Close our end (idempotent)."""
        ...


@runtime_checkable
class PilotControl(Protocol):
    """A link that also holds the car's side of the control pilot (an in-process station,
    a bench with a CP board): the CableCheck CP-state family needs it; over a bare
    network link the probe cannot leave the pilot in B."""

    def set_vehicle_ready(self, ready: bool) -> None:
        """S2 closed (state C) when True, open (state B) when False."""
        ...

"""`ProbeLink` against a SECC core in virtual time: the probe's cases without a network.

The SECC side does what `evse.io.v2g_net.V2gNetServer` does with a byte stream (the
same `V2gtpStreamDecoder`: whole frames to the core, a discarded frame is skipped, a broken
stream closes the connection) and answers SDP with the real `SdpServer` core. Time only
moves when the probe waits: `recv(wait)` jumps to the earliest of the SECC's next output and
its next timer, so a 60 s sequence timeout costs nothing.
"""

from __future__ import annotations

import heapq
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field

from evse.probe.link import Closed, Frame, LinkEvent, ProbeLinkError, Silence
from evse.sdp import Endpoint, SdpServer, SdpServerConfig, TlsPolicy
from evse.secc.core import CloseConnection, SeccCore, SeccOutput, SendPayload
from evse.secc.timing import COMMUNICATION_SETUP_TIMEOUT_NS
from evse.v2gtp import (
    FrameDiscarded,
    FrameReceived,
    PayloadType,
    V2gtpStreamDecoder,
    encode_frame,
)
from evse.v2gtp.header import HEADER_LENGTH

MS = 1_000_000
SECC_ADDRESS = ipaddress.IPv6Address("fe80::1")
EV_ENDPOINT = Endpoint(ipaddress.IPv6Address("fe80::2"), 50000)
TCP_PORT = 61000


@dataclass(slots=True)
class InProcessLink:
    """`make_core()` builds the SECC for each new connection (a fresh session)."""

    make_core: Callable[[], SeccCore]
    #: Builds the SECC of a TLS connection (Contract offered, [V2G2-634/635]); None: the
    #: link has no TLS and a TLS connect raises. The bytes are not encrypted: the SECC
    #: core sees what it would see behind the TLS socket.
    make_tls_core: Callable[[], SeccCore] | None = None
    link_delay_ns: int = 1 * MS
    #: The server's communication setup timer (`evse.secc.admission`, [V2G2-714/716]): no
    #: SessionSetupRes this long after the connection opened -> the connection is closed.
    setup_timeout_ns: int = COMMUNICATION_SETUP_TIMEOUT_NS
    _setup_deadline_ns: int | None = None
    now: int = 0
    core: SeccCore | None = None
    _decoder: V2gtpStreamDecoder = field(default_factory=V2gtpStreamDecoder)
    _queue: list[tuple[int, int, LinkEvent]] = field(default_factory=list)
    _seq: int = 0
    _open: bool = False
    sdp_server: SdpServer = field(default_factory=lambda: SdpServer(SdpServerConfig(
        SECC_ADDRESS, TCP_PORT, None, TlsPolicy.ALLOW)))
    #: The car's S2 as the SECC's env reads it (`make_core` wires it in, e.g. SimEnvConfig
    #: vehicle_ready): True = state C, False = B.
    vehicle_ready: bool = True

    def set_vehicle_ready(self, ready: bool) -> None:
        self.vehicle_ready = ready

    def now_ns(self) -> int:
        return self.now

    def sdp(self, datagram: bytes, wait_ns: int) -> bytes | None:
        result = self.sdp_server.handle_datagram(datagram, EV_ENDPOINT, self.now)
        self.now += min(wait_ns, 2 * self.link_delay_ns) if result.reply else wait_ns
        return None if result.reply is None else result.reply.datagram

    def connect(self, tls: bool) -> None:
        if tls and self.make_tls_core is None:
            raise ProbeLinkError("the in-process link has no TLS")
        self.disconnect()
        self.now += 10 * MS  # SDP + TCP handshake
        self.core = self.make_tls_core() if tls and self.make_tls_core else self.make_core()
        self._decoder = V2gtpStreamDecoder()
        self._queue = []
        self._open = True
        self._setup_deadline_ns = self.now + self.setup_timeout_ns
        self._emit(self.core.connection_opened(self.now))

    def send(self, raw: bytes) -> None:
        core = self.core
        if core is None or not self._open:
            raise ProbeLinkError("send on a closed connection")
        at = self.now + self.link_delay_ns
        for event in self._decoder.feed(raw, at):
            if isinstance(event, FrameReceived):
                if not core.closed:
                    self._emit(core.receive(event.payload, at), at)
            elif isinstance(event, FrameDiscarded):
                continue
            else:
                self._push(at, Closed(at, f"SECC: {event.error}"))
                self._open = False
                return

    def recv(self, wait_ns: int) -> LinkEvent:
        target = self.now + wait_ns
        while True:
            core = self.core
            head = self._queue[0][0] if self._queue else None
            timer = core.next_deadline_ns() if core is not None and not core.closed else None
            setup = self._setup_deadline_ns if self._open else None
            times = [t for t in (head, timer, setup) if t is not None and t <= target]
            if not times:
                self.now = target
                return Silence(target)
            at = min(times)
            self.now = max(self.now, at)
            if head is not None and head <= at:
                _, _, event = heapq.heappop(self._queue)
                if isinstance(event, Closed):
                    self._open = False
                return event
            assert core is not None
            if setup is not None and setup <= at:
                self._setup_deadline_ns = None
                core.connection_lost(self.now)
                self._push(self.now, Closed(self.now, "SECC: communication setup time over"))
                continue
            self._emit(core.handle_timer(self.now))

    def disconnect(self) -> None:
        if self.core is not None and not self.core.closed:
            self.core.connection_lost(self.now)
        self.core = None
        self._open = False
        self._queue = []

    def _push(self, at: int, event: LinkEvent) -> None:
        self._seq += 1
        heapq.heappush(self._queue, (at, self._seq, event))

    def _emit(self, outs: list[SeccOutput], at: int | None = None) -> None:
        base = self.now if at is None else at
        for o in outs:
            when = base + self.link_delay_ns
            if isinstance(o, SendPayload):
                if o.message == "SessionSetupRes":
                    self._setup_deadline_ns = None  # [V2G2-714]: setup done
                frame = encode_frame(PayloadType.EXI, o.payload)
                self._push(when, Frame(PayloadType.EXI, frame[HEADER_LENGTH:], when))
            elif isinstance(o, CloseConnection):
                self._push(when, Closed(when, f"SECC closed ({o.reason.value})"))

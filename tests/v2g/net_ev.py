"""The EV end of the V2G transport, for the EV simulator and socket tests: SDP discovery over
UDP multicast, then one TCP or TLS 1.2 connection to the SECC it announced.

Same model as ``V2gNetServer``: non-blocking sockets on one ``selectors`` loop driven by
``poll(timeout_s)``, events to ``on_event`` from inside ``poll()``, clock injected. Both ends
can therefore run in one thread, alternately polled, with no sleeps. Every socket is created
in ``start()``, so a test that calls ``start()`` inside the EV's network namespace keeps the
whole client there.

Events: ``SdpDiscovered``/``SdpDiscoveryFailed``/``SdpResponseIgnored`` from the SDP core,
then the same ``ConnectionOpened``/``PayloadReceived``/``FrameRejected``/``ConnectionClosed``
as the server (``conn_id`` is always 1).
"""

from __future__ import annotations

import contextlib
import enum
import errno
import selectors
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from evse.io.v2g_net import (
    RECV_CHUNK_BYTES,
    TLS_HANDSHAKE_TIMEOUT_NS,
    CloseReason,
    ConnectionClosed,
    ConnectionOpened,
    FrameRejected,
    PayloadReceived,
    V2gNetLocalError,
    link_local_address,
    make_evcc_tls_context,
)
from evse.sdp import (
    SDP_MULTICAST_ADDRESS,
    SDP_PORT,
    Endpoint,
    SdpClient,
    SdpDiscovered,
    SdpDiscoveryFailed,
    SdpResponseIgnored,
    Security,
    SendSdpRequest,
)
from evse.v2gtp import (
    DEFAULT_MAX_PAYLOAD_LENGTH,
    FrameDiscarded,
    FrameReceived,
    PayloadType,
    StreamBroken,
    V2gtpStreamDecoder,
    encode_frame,
)

# The EVCC's own budget for SDP + TCP/TLS set-up is V2G_EVCC_CommunicationSetup_Timeout
# (20 s, timing.md §3); the TCP connect gets the TLS handshake budget as a bound of our own.
CONNECT_TIMEOUT_NS = TLS_HANDSHAKE_TIMEOUT_NS
CONN_ID = 1  # one connection per client

V2gEvNetEvent = (
    SdpDiscovered
    | SdpDiscoveryFailed
    | SdpResponseIgnored
    | ConnectionOpened
    | PayloadReceived
    | FrameRejected
    | ConnectionClosed
)


class Phase(enum.Enum):
    IDLE = "idle"
    DISCOVERING = "discovering"
    CONNECTING = "connecting"
    HANDSHAKING = "handshaking"
    OPEN = "open"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class V2gEvNetConfig:
    interface: str
    security: Security
    accept_plain_tcp: bool = True  # "asks for TLS, goes on without" (Audi Q4, VW MEB, Model X)
    v2g_root_path: Path | None = None  # trust anchor for TLS; needed if TLS may be offered
    max_payload_length: int = DEFAULT_MAX_PAYLOAD_LENGTH


class V2gNetClient:
    """Discover, connect, exchange frames. ``start()`` sends the first SECCDiscoveryReq."""

    def __init__(
        self,
        config: V2gEvNetConfig,
        on_event: Callable[[V2gEvNetEvent], None],
        clock_ns: Callable[[], int],
    ) -> None:
        self._config = config
        self._on_event = on_event
        self._clock_ns = clock_ns
        self._selector = selectors.DefaultSelector()
        self._sdp = SdpClient(config.security, accept_plain_tcp=config.accept_plain_tcp)
        self._udp: socket.socket | None = None
        self._sock: socket.socket | None = None
        self._stream: socket.socket | None = None
        self._scope_id = 0
        self._phase = Phase.IDLE
        self._deadline_ns: int | None = None
        self._decoder = V2gtpStreamDecoder(max_payload_length=config.max_payload_length)
        self._out = bytearray()
        self._peer: Endpoint | None = None
        self._tls = False

    @property
    def phase(self) -> Phase:
        return self._phase

    def start(self) -> None:
        """Open the UDP socket (in the calling thread's namespace) and send the first request."""
        self._scope_id = link_local_address(self._config.interface).scope_id
        udp = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        udp.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, self._scope_id)
        udp.bind(("::", 0, 0, self._scope_id))
        udp.setblocking(False)
        self._udp = udp
        self._selector.register(udp, selectors.EVENT_READ, "udp")
        # Created now, connected later: a socket belongs to the network namespace it was
        # created in, and start() is what callers run inside the EV's namespace.
        self._stream = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        self._phase = Phase.DISCOVERING
        self._send_sdp(self._sdp.start(self._clock_ns()))

    def fileno(self) -> int:
        """A descriptor that is readable whenever ``poll(0)`` has work: hand it to
        ``RealtimeRunner.add_reader`` with a callback that calls ``poll(0)``, and arm a
        scheduler timer at ``next_deadline_ns()``."""
        return self._selector.fileno()

    def next_deadline_ns(self) -> int | None:
        if self._phase is Phase.DISCOVERING:
            return self._sdp.next_deadline_ns()
        return self._deadline_ns if self._phase in (Phase.CONNECTING, Phase.HANDSHAKING) else None

    def poll(self, timeout_s: float | None) -> None:
        deadline = self.next_deadline_ns()
        if deadline is not None:
            until_s = max(0.0, (deadline - self._clock_ns()) / 1e9)
            timeout_s = until_s if timeout_s is None else min(timeout_s, until_s)
        if self._phase is Phase.CLOSED:
            return
        for key, mask in self._selector.select(timeout_s):
            if key.data == "udp":
                self._on_udp()
            elif key.data == "tcp":
                self._on_tcp(mask)
        self._handle_timers(self._clock_ns())

    def send(self, payload: bytes, payload_type: PayloadType = PayloadType.EXI) -> None:
        if self._phase is not Phase.OPEN or self._sock is None:
            raise V2gNetLocalError(f"cannot send in phase {self._phase.value}")
        self._out += encode_frame(payload_type, payload)
        self._flush()

    def close(self) -> None:
        if self._sock is not None and self._phase is not Phase.CLOSED:
            self._close(CloseReason.LOCAL, "closed by the EV")
        self._close_udp()
        if self._stream is not None:
            self._stream.close()
            self._stream = None
        self._phase = Phase.CLOSED
        self._selector.close()

    # -- SDP ---------------------------------------------------------------------------

    def _send_sdp(self, out: SendSdpRequest) -> None:
        if self._udp is None:
            return
        target = (str(SDP_MULTICAST_ADDRESS), SDP_PORT, 0, self._scope_id)
        self._udp.sendto(out.datagram, target)

    def _on_udp(self) -> None:
        if self._udp is None:
            return
        try:
            data = self._udp.recv(2048)
        except BlockingIOError:
            return
        for out in self._sdp.handle_datagram(data, self._clock_ns()):
            self._on_sdp_output(out)

    def _on_sdp_output(self, out: object) -> None:
        if isinstance(out, SendSdpRequest):
            self._send_sdp(out)
        elif isinstance(out, SdpDiscovered):
            self._close_udp()
            self._on_event(out)
            self._connect(out)
        elif isinstance(out, SdpDiscoveryFailed):
            self._close_udp()
            self._phase = Phase.CLOSED
            self._on_event(out)
        elif isinstance(out, SdpResponseIgnored):
            self._on_event(out)

    def _close_udp(self) -> None:
        if self._udp is not None:
            with contextlib.suppress(KeyError, ValueError):
                self._selector.unregister(self._udp)
            self._udp.close()
            self._udp = None

    # -- TCP / TLS ---------------------------------------------------------------------

    def _connect(self, found: SdpDiscovered) -> None:
        response = found.response
        self._peer = Endpoint(response.secc_address, response.secc_port)
        self._tls = response.security is Security.TLS
        sock, self._stream = self._stream, None
        if sock is None:
            raise V2gNetLocalError("discovered twice or start() was not called")
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        code = sock.connect_ex((str(response.secc_address), response.secc_port, 0, self._scope_id))
        if code not in (0, errno.EINPROGRESS):
            sock.close()
            self._phase = Phase.CLOSED
            self._emit_closed(CloseReason.IO_ERROR, f"connect: {errno.errorcode.get(code, code)}")
            return
        self._sock = sock
        self._phase = Phase.CONNECTING
        self._deadline_ns = self._clock_ns() + CONNECT_TIMEOUT_NS
        self._selector.register(sock, selectors.EVENT_WRITE, "tcp")

    def _on_tcp(self, mask: int) -> None:
        if self._phase is Phase.CONNECTING:
            self._finish_connect()
        elif self._phase is Phase.HANDSHAKING:
            self._advance_handshake()
        elif self._phase is Phase.OPEN:
            if mask & selectors.EVENT_WRITE:
                self._flush()
            if mask & selectors.EVENT_READ and self._phase is Phase.OPEN:
                self._read()

    def _finish_connect(self) -> None:
        if self._sock is None:
            return
        code = self._sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if code != 0:
            self._close(CloseReason.IO_ERROR, f"connect: {errno.errorcode.get(code, code)}")
            return
        if not self._tls:
            self._opened(None, None)
            return
        if self._config.v2g_root_path is None:
            self._close(CloseReason.TLS_HANDSHAKE_FAILED, "TLS offered but no V2G root configured")
            return
        ctx = make_evcc_tls_context(self._config.v2g_root_path)
        self._selector.unregister(self._sock)
        self._sock = ctx.wrap_socket(self._sock, do_handshake_on_connect=False)
        self._selector.register(self._sock, selectors.EVENT_READ | selectors.EVENT_WRITE, "tcp")
        self._phase = Phase.HANDSHAKING
        self._advance_handshake()

    def _advance_handshake(self) -> None:
        sock = self._sock
        if not isinstance(sock, ssl.SSLSocket):
            raise V2gNetLocalError("TLS handshake on a plain socket")
        try:
            sock.do_handshake()
        except ssl.SSLWantReadError:
            self._selector.modify(sock, selectors.EVENT_READ, "tcp")
            return
        except ssl.SSLWantWriteError:
            self._selector.modify(sock, selectors.EVENT_READ | selectors.EVENT_WRITE, "tcp")
            return
        except (ssl.SSLError, OSError) as exc:
            self._close(CloseReason.TLS_HANDSHAKE_FAILED, str(exc))
            return
        cipher = sock.cipher()
        self._opened(sock.version(), None if cipher is None else cipher[0])

    def _opened(self, tls_version: str | None, cipher: str | None) -> None:
        if self._sock is None or self._peer is None:
            return
        self._phase = Phase.OPEN
        self._deadline_ns = None
        self._selector.modify(self._sock, selectors.EVENT_READ, "tcp")
        self._on_event(
            ConnectionOpened(CONN_ID, self._peer, self._tls, tls_version, cipher, self._clock_ns())
        )
        self._flush()

    def _read(self) -> None:
        sock = self._sock
        while sock is not None and self._phase is Phase.OPEN:
            try:
                data = sock.recv(RECV_CHUNK_BYTES)
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
                return
            except (ssl.SSLError, OSError) as exc:
                self._close(CloseReason.IO_ERROR, str(exc))
                return
            now_ns = self._clock_ns()
            if not data:
                broken = [e for e in self._decoder.feed_eof(now_ns) if isinstance(e, StreamBroken)]
                detail = str(broken[0].error) if broken else "SECC closed the connection"
                self._close(CloseReason.PEER_CLOSED, detail)
                return
            for event in self._decoder.feed(data, now_ns):
                if isinstance(event, FrameReceived):
                    self._on_event(
                        PayloadReceived(CONN_ID, event.payload_type, event.payload, now_ns)
                    )
                elif isinstance(event, FrameDiscarded):
                    self._on_event(FrameRejected(CONN_ID, event.error, now_ns))
                else:
                    self._close(CloseReason.HEADER_ERROR, str(event.error))
                    return
                if not self._still_open():
                    return  # the callback closed us
            if not (isinstance(sock, ssl.SSLSocket) and sock.pending()):
                return

    def _still_open(self) -> bool:
        """Re-read the phase (a callback may have changed it; defeats mypy's narrowing)."""
        return self._phase is Phase.OPEN

    def _flush(self) -> None:
        sock = self._sock
        if sock is None or self._phase is not Phase.OPEN:
            return
        while self._out:
            try:
                sent = sock.send(self._out)
            except (ssl.SSLWantWriteError, ssl.SSLWantReadError, BlockingIOError):
                break
            except (ssl.SSLError, OSError) as exc:
                self._close(CloseReason.IO_ERROR, str(exc))
                return
            del self._out[:sent]
        events = selectors.EVENT_READ | (selectors.EVENT_WRITE if self._out else 0)
        self._selector.modify(sock, events, "tcp")

    def _handle_timers(self, now_ns: int) -> None:
        if self._phase is Phase.DISCOVERING:
            for out in self._sdp.handle_timer(now_ns):
                self._on_sdp_output(out)
        elif (
            self._phase in (Phase.CONNECTING, Phase.HANDSHAKING)
            and self._deadline_ns is not None
            and now_ns >= self._deadline_ns
        ):
            reason = (
                CloseReason.TLS_HANDSHAKE_TIMEOUT
                if self._phase is Phase.HANDSHAKING
                else CloseReason.IO_ERROR
            )
            self._close(reason, f"{self._phase.value} took too long")

    def _close(self, reason: CloseReason, detail: str) -> None:
        if self._sock is not None:
            with contextlib.suppress(KeyError, ValueError):
                self._selector.unregister(self._sock)
            self._sock.close()
            self._sock = None
        self._phase = Phase.CLOSED
        self._emit_closed(reason, detail)

    def _emit_closed(self, reason: CloseReason, detail: str) -> None:
        self._on_event(ConnectionClosed(CONN_ID, reason, detail, self._clock_ns()))

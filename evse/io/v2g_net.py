"""I/O adapters of the SECC transport: SDP over UDP/IPv6, V2GTP over TCP and TLS 1.2.

Concurrency model: one ``selectors`` loop, non-blocking sockets, no threads and no asyncio.
The station's scheduler owns the loop: it calls ``poll(timeout_s)`` with the time to its
next deadline (``next_deadline_ns()`` reports ours: pending TLS handshakes). Everything
happens on the caller's thread; events go to the ``on_event`` callback from inside
``poll()``, and the callback may call ``send()``/``close_connection()`` straight away. A
``collections.deque.append`` is a fine callback when the caller prefers a queue. Under
``evse.runtime.realtime.RealtimeRunner``: ``runner.add_reader(server.fileno(), lambda now_ns:
server.poll(0))`` (the selector's own descriptor is readable whenever a socket is ready), with
``on_event`` posting to the scheduler and a timer at ``next_deadline_ns()``.

The protocol logic lives in the sans-IO cores ``evse.sdp.SdpServer``,
``evse.v2gtp.V2gtpStreamDecoder`` and ``evse.secc.admission.ConnectionAdmission``; this
module only moves bytes and reads the clock through the injected ``clock_ns``.

Admission (``evse/secc/admission.py`` has the rules and their sources): every accepted
connection is *pending* (``ConnectionPending``) until its first complete frame; a
supportedAppProtocolReq makes it the session's owner, reported as ``ConnectionOpened``
followed by ``PayloadReceived`` of that request, so the station only ever sees the
connection that owns the session. Pending connections are bounded (the oldest idle one
is dropped), a first frame that is no supportedAppProtocolReq closes that connection alone,
and the communication setup timer [V2G2-714/716] closes what has no session yet. After it
expired, or after the session's connection closed, SDP requests go unanswered
(``SdpNotAnswered``) and connections are refused (``ConnectionRefused``) until
``link_up()`` (the next plug-in / wake-up: the station calls it). Every closure carries its
reason (``CloseReason``) and is logged.

Addresses: the SDP socket binds to the wildcard address on UDP 15118 and filters by the
receiving interface (IPV6_PKTINFO), because a socket bound to the link-local unicast address
would never see requests sent to ff02::1. Its membership of ff02::1 on the interface is
explicit. Replies go by unicast from the interface, whose link-local address is what we
announce; the TCP and TLS listeners bind to that address on ports drawn from the IANA
dynamic range 49152-65535 (ISO 15118-2 7.10.1 / DIN SPEC 70121 8.7.2: Linux's default
ephemeral range 32768-60999 would violate it).

TLS (ISO 15118-2 7.7.3): TLS 1.2 only [V2G2-067], the SECC is the server [V2G2-068],
unilateral authentication (no client certificate), cipher suites of [V2G2-602]:
TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256 and TLS_ECDH_ECDSA_WITH_AES_128_CBC_SHA256. OpenSSL
3.x (this machine: 3.0.19) has no static-ECDH suites at all (removed in 1.1.0), so only the
ECDHE suite can be offered; see ``tls_cipher_report()``.
"""

from __future__ import annotations

import contextlib
import enum
import errno
import ipaddress
import logging
import random
import selectors
import socket
import ssl
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evse.sdp import (
    SDP_MULTICAST_ADDRESS,
    SDP_PORT,
    TCP_PORT_MAX,
    TCP_PORT_MIN,
    Endpoint,
    SdpRemoteError,
    SdpRequestAnswered,
    SdpRequestIgnored,
    SdpServer,
    SdpServerConfig,
    TlsPolicy,
)
from evse.secc.admission import (
    AdmissionConfig,
    Admit,
    Close,
    CloseCause,
    ConnectionAdmission,
    Decision,
    Phase as AdmissionPhase,
)
from evse.v2gtp import (
    DEFAULT_MAX_PAYLOAD_LENGTH,
    FrameDiscarded,
    FrameReceived,
    PayloadType,
    StreamBroken,
    V2gtpRemoteError,
    V2gtpStreamDecoder,
    encode_frame,
)

# Not standardised; EVerest EvseV2G uses tls_timeout 15000 ms (timing.md §3).
TLS_HANDSHAKE_TIMEOUT_NS = 15_000_000_000
# ISO 15118-2 Table 7 ([V2G2-602]) names, as OpenSSL spells them.
ISO15118_2_CIPHERS_IANA = (
    "TLS_ECDH_ECDSA_WITH_AES_128_CBC_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
)
ISO15118_2_CIPHERS_OPENSSL = ("ECDH-ECDSA-AES128-SHA256", "ECDHE-ECDSA-AES128-SHA256")
ISO15118_2_CURVE = "prime256v1"  # secp256r1 [V2G2-006]
log = logging.getLogger(__name__)

RECV_CHUNK_BYTES = 65536
#: Kernel accept queue: a burst of connections waits here until the next poll drains it
#: (the admission core, not the backlog, bounds what we keep).
LISTEN_BACKLOG = 16
#: Connections taken from one listener per readiness (the rest on the next poll).
ACCEPT_BURST = 64
SDP_DATAGRAM_MAX_BYTES = 2048
PORT_BIND_ATTEMPTS = 32
_IFA_F_TENTATIVE = 0x40  # linux/if_addr.h: DAD not finished, the address cannot be bound yet
_IFA_F_DADFAILED = 0x08
_IPV6_SCOPE_LINK = 0x20


class V2gNetError(Exception):
    """Root of the network adapter's errors."""


class V2gNetLocalError(V2gNetError):
    """Configuration or environment problem on our side (no such interface, no address)."""


class CloseReason(enum.Enum):
    PEER_CLOSED = "peer_closed"
    HEADER_ERROR = "header_error"  # V2GTP header check said CLOSE_CONNECTION (oversize, truncated)
    LOCAL = "local"  # close_connection() or close()
    TLS_HANDSHAKE_FAILED = "tls_handshake_failed"
    TLS_HANDSHAKE_TIMEOUT = "tls_handshake_timeout"
    IO_ERROR = "io_error"
    # admission (evse/secc/admission.py CloseCause)
    COMMUNICATION_SETUP_TIMEOUT = "communication_setup_timeout"
    PENDING_LIMIT = "pending_limit"
    FIRST_FRAME_NOT_SAP = "first_frame_not_sap"
    SESSION_OWNED = "session_owned"
    NOT_ACCEPTING = "not_accepting"
    LINK_DOWN = "link_down"


_ADMISSION_REASON = {
    CloseCause.SETUP_TIMEOUT: CloseReason.COMMUNICATION_SETUP_TIMEOUT,
    CloseCause.PENDING_LIMIT: CloseReason.PENDING_LIMIT,
    CloseCause.NOT_SAP: CloseReason.FIRST_FRAME_NOT_SAP,
    CloseCause.SESSION_OWNED: CloseReason.SESSION_OWNED,
    CloseCause.NOT_ACCEPTING: CloseReason.NOT_ACCEPTING,
    CloseCause.LINK_DOWN: CloseReason.LINK_DOWN,
}


@dataclass(frozen=True, slots=True)
class ConnectionPending:
    """Accepted; not yet the session's (no supportedAppProtocolReq so far)."""

    conn_id: int
    peer: Endpoint
    tls: bool
    at_ns: int


@dataclass(frozen=True, slots=True)
class ConnectionOpened:
    """This connection owns the V2G session; its supportedAppProtocolReq follows as the
    next ``PayloadReceived``."""

    conn_id: int
    peer: Endpoint
    tls: bool
    tls_version: str | None
    cipher: str | None
    at_ns: int


@dataclass(frozen=True, slots=True)
class PayloadReceived:
    conn_id: int
    payload_type: PayloadType
    payload: bytes
    received_ns: int


@dataclass(frozen=True, slots=True)
class FrameRejected:
    """A message was ignored (header said DISCARD_MESSAGE or DISCARD_RECEIVED); the connection
    stays open (evse/v2gtp/README.md)."""

    conn_id: int
    error: V2gtpRemoteError
    received_ns: int


@dataclass(frozen=True, slots=True)
class SdpSendFailed:
    destination: Endpoint
    detail: str
    at_ns: int


@dataclass(frozen=True, slots=True)
class ConnectionRefused:
    """Accepted and closed at once: a session is owned, or the SECC is not accepting."""

    peer: Endpoint
    tls: bool
    at_ns: int
    reason: CloseReason
    detail: str


@dataclass(frozen=True, slots=True)
class SdpNotAnswered:
    """An SDP request while the SECC does not invite connections (admission phase)."""

    source: Endpoint
    phase: AdmissionPhase
    at_ns: int


@dataclass(frozen=True, slots=True)
class CommunicationSetupExpired:
    """[V2G2-716]: no SessionSetupRes within the setup time; ``closed`` connections went,
    the SECC is silent until ``link_up()``. ``had_owner``: a car had passed
    supportedAppProtocol (its ``ConnectionClosed`` follows)."""

    at_ns: int
    closed: int
    had_owner: bool


@dataclass(frozen=True, slots=True)
class ConnectionClosed:
    conn_id: int
    reason: CloseReason
    detail: str
    at_ns: int


V2gNetEvent = (
    SdpRequestAnswered
    | SdpRequestIgnored
    | SdpSendFailed
    | SdpNotAnswered
    | ConnectionPending
    | ConnectionOpened
    | ConnectionRefused
    | PayloadReceived
    | FrameRejected
    | ConnectionClosed
    | CommunicationSetupExpired
)


@dataclass(frozen=True, slots=True)
class TlsServerCredentials:
    """SECC certificate chain from config: PEM with the leaf first, then the Sub-CAs."""

    cert_chain_path: Path
    private_key_path: Path
    key_password: str | None = None
    # NSS key log for decrypting bench captures in Wireshark/dsV2Gshark; never in the field.
    keylog_path: Path | None = None


@dataclass(frozen=True, slots=True)
class V2gNetConfig:
    interface: str
    tls_policy: TlsPolicy
    tls: TlsServerCredentials | None = None
    max_payload_length: int = DEFAULT_MAX_PAYLOAD_LENGTH
    sdp_port: int = SDP_PORT
    tcp_port: int | None = None  # None: random in the dynamic range
    tls_port: int | None = None
    secc_address: ipaddress.IPv6Address | None = None  # None: the interface's link-local
    # Pending bound and communication setup time (evse/secc/admission.py).
    admission: AdmissionConfig = field(default_factory=AdmissionConfig)


@dataclass(frozen=True, slots=True)
class InterfaceAddress:
    address: ipaddress.IPv6Address
    scope_id: int


def link_local_address(interface: str) -> InterfaceAddress:
    """The interface's usable link-local address, read from the kernel's table for the
    calling thread's network namespace (so tests can switch namespaces per thread)."""
    try:
        scope_id = socket.if_nametoindex(interface)
    except OSError as exc:
        raise V2gNetLocalError(f"no network interface {interface!r}") from exc
    with open("/proc/thread-self/net/if_inet6", encoding="ascii") as table:
        for line in table:
            fields = line.split()
            if len(fields) != 6 or fields[5] != interface:
                continue
            scope, flags = int(fields[3], 16), int(fields[4], 16)
            if scope != _IPV6_SCOPE_LINK or flags & (_IFA_F_TENTATIVE | _IFA_F_DADFAILED):
                continue
            return InterfaceAddress(ipaddress.IPv6Address(bytes.fromhex(fields[0])), scope_id)
    raise V2gNetLocalError(f"interface {interface!r} has no usable IPv6 link-local address")


def make_secc_tls_context(credentials: TlsServerCredentials) -> ssl.SSLContext:
    """TLS 1.2 server context restricted to what ISO 15118-2 allows and OpenSSL still has."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2  # [V2G2-067]
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(":".join(available_iso15118_2_ciphers()))
    ctx.set_ecdh_curve(ISO15118_2_CURVE)
    ctx.verify_mode = ssl.CERT_NONE  # unilateral: the EVCC has no certificate to show in -2
    ctx.options |= ssl.OP_NO_TICKET | ssl.OP_NO_COMPRESSION
    try:
        ctx.load_cert_chain(
            str(credentials.cert_chain_path),
            str(credentials.private_key_path),
            password=credentials.key_password,
        )
    except (OSError, ssl.SSLError) as exc:
        raise V2gNetLocalError(f"cannot load the SECC certificate chain: {exc}") from exc
    if credentials.keylog_path is not None:
        ctx.keylog_filename = str(credentials.keylog_path)
    return ctx


class SeccTlsContext:
    """The SECC's TLS server context, rebuilt when its credential files change.

    Why: the SECC's V2G leaf is renewed through the CSMS (OCPP 2.0.1 A02/A03 SignCertificate
    certificateType V2GCertificate; evse.security.station_certs writes the new pair
    atomically); the next TLS connection must present it without a restart. A change is
    noticed by the files' (inode, mtime, size); a pair that does not load (e.g. between
    the key and the chain renames) keeps the previous context, and is retried at the next
    connection."""

    def __init__(self, credentials: TlsServerCredentials) -> None:
        self.credentials = credentials
        self._stamp = self._stat()
        self.context = make_secc_tls_context(credentials)

    def _stat(self) -> tuple[tuple[int, int, int], ...] | None:
        try:
            return tuple((st.st_ino, st.st_mtime_ns, st.st_size) for st in (
                self.credentials.cert_chain_path.stat(),
                self.credentials.private_key_path.stat()))
        except OSError:
            return None

    def current(self) -> ssl.SSLContext:
        stamp = self._stat()
        if stamp is not None and stamp != self._stamp:
            try:
                self.context = make_secc_tls_context(self.credentials)
                self._stamp = stamp
                log.info("SECC TLS: new certificate chain loaded")
            except V2gNetLocalError as exc:
                log.warning("SECC TLS: keeping the previous certificate: %s", exc)
        return self.context


def make_evcc_tls_context(v2g_root_path: Path) -> ssl.SSLContext:
    """The EV side (simulator/tests): trust the V2G root, no host name (SECCs have none)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(":".join(available_iso15118_2_ciphers()))
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(cafile=str(v2g_root_path))
    return ctx


def available_iso15118_2_ciphers() -> tuple[str, ...]:
    """The [V2G2-602] suites this OpenSSL build can actually negotiate (TLS 1.2 names)."""
    usable: list[str] = []
    for name in ISO15118_2_CIPHERS_OPENSSL:
        probe = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        try:
            probe.set_ciphers(name)
        except ssl.SSLError:
            continue
        if any(c["name"] == name for c in probe.get_ciphers()):
            usable.append(name)
    if not usable:
        raise V2gNetLocalError(f"{ssl.OPENSSL_VERSION} offers none of {ISO15118_2_CIPHERS_IANA}")
    return tuple(usable)


def tls_cipher_report() -> dict[str, bool]:
    """OpenSSL name -> whether this build can offer it; for logs and the bench report."""
    usable = set(available_iso15118_2_ciphers())
    return {name: name in usable for name in ISO15118_2_CIPHERS_OPENSSL}


@dataclass(eq=False)
class _Connection:
    conn_id: int
    sock: socket.socket
    peer: Endpoint
    tls: bool
    decoder: V2gtpStreamDecoder
    handshaking: bool
    handshake_deadline_ns: int | None
    out: bytearray = field(default_factory=bytearray)
    closed: bool = False
    admitted: bool = False  # owns the V2G session (admission said Admit)
    tls_version: str | None = None
    cipher: str | None = None


class _Role(enum.Enum):
    SDP = "sdp"
    TCP_LISTENER = "tcp_listener"
    TLS_LISTENER = "tls_listener"
    CONNECTION = "connection"


class V2gNetServer:
    """SDP server + V2GTP TCP/TLS servers on one interface."""

    def __init__(
        self,
        config: V2gNetConfig,
        on_event: Callable[[V2gNetEvent], None],
        clock_ns: Callable[[], int],
        *,
        rng: random.Random | None = None,
    ) -> None:
        if config.tls_policy is TlsPolicy.FORCE and config.tls is None:
            raise V2gNetLocalError("TLS policy 'force' needs TLS credentials")
        self._config = config
        self._on_event = on_event
        self._clock_ns = clock_ns
        self._rng = rng if rng is not None else random.SystemRandom()
        self._selector = selectors.DefaultSelector()
        self._connections: dict[int, _Connection] = {}
        self._next_conn_id = 1
        self._tls_ctx: SeccTlsContext | None = None
        self._sdp_sock: socket.socket | None = None
        self._tcp_sock: socket.socket | None = None
        self._tls_sock: socket.socket | None = None
        self._sdp_core: SdpServer | None = None
        self._iface: InterfaceAddress | None = None
        self._admission = ConnectionAdmission(config.admission)

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> None:
        """Open every socket (in the calling thread's network namespace). The server is
        started when the data link is up, so this is also the first ``link_up()``."""
        cfg = self._config
        iface = link_local_address(cfg.interface)
        if cfg.secc_address is not None:
            iface = InterfaceAddress(cfg.secc_address, iface.scope_id)
        self._iface = iface
        use_tls = cfg.tls is not None and cfg.tls_policy is not TlsPolicy.PROHIBIT
        if use_tls and cfg.tls is not None:
            self._tls_ctx = SeccTlsContext(cfg.tls)
        try:
            self._tcp_sock = self._listen(iface, cfg.tcp_port)
            self._selector.register(self._tcp_sock, selectors.EVENT_READ, _Role.TCP_LISTENER)
            if self._tls_ctx is not None:
                self._tls_sock = self._listen(iface, cfg.tls_port)
                self._selector.register(self._tls_sock, selectors.EVENT_READ, _Role.TLS_LISTENER)
            self._sdp_sock = self._open_sdp(iface, cfg.sdp_port)
            self._selector.register(self._sdp_sock, selectors.EVENT_READ, _Role.SDP)
        except BaseException:
            self.close()
            raise
        self._sdp_core = SdpServer(
            SdpServerConfig(
                secc_address=iface.address,
                tcp_port=self.tcp_port,
                tls_port=self.tls_port,
                policy=cfg.tls_policy,
            )
        )
        self.link_up()

    def close(self) -> None:
        for conn in list(self._connections.values()):
            self._close(conn, CloseReason.LOCAL, "server closing")
        for sock in (self._sdp_sock, self._tcp_sock, self._tls_sock):
            if sock is not None:
                with contextlib.suppress(KeyError, ValueError):  # start() failed before it
                    self._selector.unregister(sock)
                sock.close()
        self._sdp_sock = self._tcp_sock = self._tls_sock = None
        self._selector.close()

    # -- admission (evse/secc/admission.py) --------------------------------------------

    def link_up(self, *, on_first_contact: bool = False) -> None:
        """D-LINK_READY (next plug-in / wake-up): SDP answered and connections accepted
        again, the communication setup timer restarts [V2G2-714] (with `on_first_contact`:
        at the first SDP request or connection, for a bench without a modem). No effect
        while a connection owns the session."""
        self._apply(self._admission.link_up(self._clock_ns(), on_first_contact=on_first_contact))

    def link_down(self) -> None:
        """D-LINK_ERROR / unplug: every connection closed (``LINK_DOWN``), nothing accepted."""
        self._apply(self._admission.link_down(self._clock_ns()))

    def session_established(self, conn_id: int) -> None:
        """The station sent the owner's SessionSetupRes: the setup timer stops."""
        self._apply(self._admission.session_established(conn_id, self._clock_ns()))

    @property
    def admission_phase(self) -> AdmissionPhase:
        return self._admission.phase

    @property
    def pending_connections(self) -> tuple[int, ...]:
        return self._admission.pending

    @property
    def session_connection(self) -> int | None:
        return self._admission.owner

    # -- what the SDP core announces -------------------------------------------------

    @property
    def secc_address(self) -> ipaddress.IPv6Address:
        if self._iface is None:
            raise V2gNetLocalError("start() first")
        return self._iface.address

    @property
    def scope_id(self) -> int:
        if self._iface is None:
            raise V2gNetLocalError("start() first")
        return self._iface.scope_id

    @property
    def tcp_port(self) -> int:
        if self._tcp_sock is None:
            raise V2gNetLocalError("start() first")
        return int(self._tcp_sock.getsockname()[1])

    @property
    def tls_port(self) -> int | None:
        return None if self._tls_sock is None else int(self._tls_sock.getsockname()[1])

    @property
    def sdp_port(self) -> int:
        if self._sdp_sock is None:
            raise V2gNetLocalError("start() first")
        return int(self._sdp_sock.getsockname()[1])

    # -- the loop ---------------------------------------------------------------------

    def fileno(self) -> int:
        """A descriptor that is readable whenever ``poll(0)`` has work: hand it to
        ``RealtimeRunner.add_reader`` with a callback that calls ``poll(0)``, and arm a
        scheduler timer at ``next_deadline_ns()``."""
        return self._selector.fileno()

    def next_deadline_ns(self) -> int | None:
        deadlines = [
            c.handshake_deadline_ns
            for c in self._connections.values()
            if c.handshaking and c.handshake_deadline_ns is not None
        ]
        setup = self._admission.next_deadline_ns()
        if setup is not None:
            deadlines.append(setup)
        return min(deadlines) if deadlines else None

    def poll(self, timeout_s: float | None) -> None:
        """Wait at most ``timeout_s`` for I/O, handle everything ready, fire our timers."""
        deadline = self.next_deadline_ns()
        if deadline is not None:
            until_s = max(0.0, (deadline - self._clock_ns()) / 1e9)
            timeout_s = until_s if timeout_s is None else min(timeout_s, until_s)
        for key, mask in self._selector.select(timeout_s):
            role = key.data
            if role is _Role.SDP:
                self._on_sdp_readable()
            elif role is _Role.TCP_LISTENER:
                self._accept(tls=False)
            elif role is _Role.TLS_LISTENER:
                self._accept(tls=True)
            elif isinstance(role, _Connection):
                if mask & selectors.EVENT_WRITE and not role.closed:
                    self._on_writable(role)
                if mask & selectors.EVENT_READ and not role.closed:
                    self._on_readable(role)
        self._handle_timers(self._clock_ns())

    def send(
        self, conn_id: int, payload: bytes, payload_type: PayloadType = PayloadType.EXI
    ) -> None:
        """Frame and queue one payload; written now if the socket takes it."""
        conn = self._connections.get(conn_id)
        if conn is None or conn.closed:
            raise V2gNetLocalError(f"connection {conn_id} is not open")
        if not conn.admitted:
            raise V2gNetLocalError(f"connection {conn_id} does not own the V2G session")
        conn.out += encode_frame(payload_type, payload)
        self._flush(conn)

    def close_connection(self, conn_id: int) -> None:
        conn = self._connections.get(conn_id)
        if conn is not None and not conn.closed:
            self._close(conn, CloseReason.LOCAL, "closed by the SECC")

    @property
    def open_connections(self) -> tuple[int, ...]:
        return tuple(self._connections)

    # -- sockets ----------------------------------------------------------------------

    def _listen(self, iface: InterfaceAddress, port: int | None) -> socket.socket:
        attempts = 1 if port is not None else PORT_BIND_ATTEMPTS
        last_error: OSError | None = None
        for _ in range(attempts):
            candidate = port if port is not None else self._rng.randint(TCP_PORT_MIN, TCP_PORT_MAX)
            sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind((str(iface.address), candidate, 0, iface.scope_id))
                sock.listen(LISTEN_BACKLOG)
                sock.setblocking(False)
                return sock
            except OSError as exc:
                sock.close()
                last_error = exc
                if exc.errno != errno.EADDRINUSE:
                    break
        raise V2gNetLocalError(f"cannot listen on [{iface.address}]: {last_error}")

    def _open_sdp(self, iface: InterfaceAddress, port: int) -> socket.socket:
        sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        try:
            # No SO_REUSEADDR: a second station process on this port must fail loudly,
            # not silently share (and split) the cars' requests.
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVPKTINFO, 1)
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, iface.scope_id)
            membership = SDP_MULTICAST_ADDRESS.packed + struct.pack("@I", iface.scope_id)
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, membership)
            sock.bind(("::", port))
            sock.setblocking(False)
        except OSError as exc:
            sock.close()
            raise V2gNetLocalError(f"cannot open the SDP server on UDP {port}: {exc}") from exc
        return sock

    def _on_sdp_readable(self) -> None:
        if self._sdp_sock is None or self._sdp_core is None or self._iface is None:
            return
        try:
            data, ancdata, _flags, source = self._sdp_sock.recvmsg(
                SDP_DATAGRAM_MAX_BYTES, socket.CMSG_SPACE(20)
            )
        except BlockingIOError:
            return
        now_ns = self._clock_ns()
        peer = Endpoint(_host(source), int(source[1]))
        self._admission.sdp_request(now_ns)
        if not self._admission.answers_sdp:
            # [V2G2-716]/[V2G2-034]: after the setup time, or while a connection owns the
            # session, no car is invited to connect (until link_up()).
            self._on_event(SdpNotAnswered(peer, self._admission.phase, now_ns))
            return
        ifindex = _pktinfo_ifindex(ancdata)
        if ifindex not in (None, self._iface.scope_id):
            # Another link's car must not be sent to our listeners (multi-EVSE stations run
            # one server per PLC interface on the same UDP port).
            error = SdpRemoteError(
                f"SDP datagram arrived on interface index {ifindex}, "
                f"this server serves {self._config.interface} ({self._iface.scope_id})"
            )
            self._on_event(SdpRequestIgnored(peer, error, now_ns))
            return
        result = self._sdp_core.handle_datagram(data, peer, now_ns)
        if result.reply is not None:
            dest = result.reply.destination
            try:
                self._sdp_sock.sendto(
                    result.reply.datagram, (str(dest.address), dest.port, 0, self._iface.scope_id)
                )
            except OSError as exc:
                # UDP: the car retries after SDP_REQ, so this is reported, not fatal.
                self._on_event(result.event)
                self._on_event(SdpSendFailed(dest, str(exc), self._clock_ns()))
                return
        self._on_event(result.event)

    def _accept(self, *, tls: bool) -> None:
        listener = self._tls_sock if tls else self._tcp_sock
        for _ in range(ACCEPT_BURST):
            if listener is None or listener.fileno() < 0:
                return
            try:
                raw, address = listener.accept()
            except (BlockingIOError, ConnectionAbortedError):
                return  # nothing to accept (any more): the peer gave up before we got to it
            except OSError as exc:  # EMFILE and friends: report, keep serving
                log.warning("accept failed on the %s listener: %s", "TLS" if tls else "TCP", exc)
                return
            self._admit_new(raw, address, tls=tls)

    def _admit_new(self, raw: socket.socket, address: tuple[Any, ...], *, tls: bool) -> None:
        if tls and self._tls_ctx is None:
            raw.close()  # unreachable: the TLS listener only exists with a context
            return
        now_ns = self._clock_ns()
        peer = Endpoint(_host(address), int(address[1]))
        conn_id = self._next_conn_id
        self._next_conn_id += 1
        decisions = self._admission.accepted(conn_id, now_ns)
        refusal = next((d for d in decisions if isinstance(d, Close) and d.conn_id == conn_id),
                       None)
        if refusal is not None:
            raw.close()
            reason = _ADMISSION_REASON[refusal.cause]
            log.info("refused a %s connection from %s: %s (%s)", "TLS" if tls else "TCP",
                     peer, reason.value, refusal.detail)
            self._on_event(ConnectionRefused(peer, tls, now_ns, reason, refusal.detail))
            return
        raw.setblocking(False)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # small frames, 25 ms budget
        sock: socket.socket = raw
        if tls and self._tls_ctx is not None:
            sock = self._tls_ctx.current().wrap_socket(raw, server_side=True,
                                                       do_handshake_on_connect=False)
        conn = _Connection(
            conn_id=conn_id,
            sock=sock,
            peer=peer,
            tls=tls,
            decoder=V2gtpStreamDecoder(max_payload_length=self._config.max_payload_length),
            handshaking=tls,
            handshake_deadline_ns=now_ns + TLS_HANDSHAKE_TIMEOUT_NS if tls else None,
        )
        self._connections[conn.conn_id] = conn
        self._selector.register(sock, selectors.EVENT_READ, conn)
        self._on_event(ConnectionPending(conn.conn_id, conn.peer, tls, now_ns))
        self._apply(decisions)  # pending connections dropped to make room
        if tls:
            self._advance_handshake(conn)

    def _apply(self, decisions: list[Decision]) -> None:
        """Carry out the admission core's decisions (closures; Admit is handled inline)."""
        for d in decisions:
            if isinstance(d, Close):
                conn = self._connections.get(d.conn_id)
                if conn is not None:
                    self._close(conn, _ADMISSION_REASON[d.cause], d.detail)

    def _advance_handshake(self, conn: _Connection) -> None:
        if not isinstance(conn.sock, ssl.SSLSocket):
            raise V2gNetLocalError(f"connection {conn.conn_id} has no TLS layer")
        try:
            conn.sock.do_handshake()
        except ssl.SSLWantReadError:
            self._selector.modify(conn.sock, selectors.EVENT_READ, conn)
            return
        except ssl.SSLWantWriteError:
            self._selector.modify(conn.sock, selectors.EVENT_READ | selectors.EVENT_WRITE, conn)
            return
        except (ssl.SSLError, OSError) as exc:
            self._close(conn, CloseReason.TLS_HANDSHAKE_FAILED, str(exc))
            return
        conn.handshaking = False
        conn.handshake_deadline_ns = None
        self._selector.modify(conn.sock, selectors.EVENT_READ, conn)
        cipher = conn.sock.cipher()
        conn.tls_version = conn.sock.version()
        conn.cipher = None if cipher is None else cipher[0]
        self._on_readable(conn)  # the client's first record may already be buffered

    def _on_readable(self, conn: _Connection) -> None:
        if conn.handshaking:
            self._advance_handshake(conn)
            return
        while not conn.closed:
            try:
                data = conn.sock.recv(RECV_CHUNK_BYTES)
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
                return
            except (ssl.SSLError, OSError) as exc:
                self._close(conn, CloseReason.IO_ERROR, str(exc))
                return
            now_ns = self._clock_ns()
            self._admission.bytes_received(conn.conn_id, now_ns)
            if not data:
                for event in conn.decoder.feed_eof(now_ns):
                    if isinstance(event, StreamBroken):
                        self._close(conn, CloseReason.HEADER_ERROR, str(event.error))
                        return
                self._close(conn, CloseReason.PEER_CLOSED, "peer closed the connection")
                return
            for event in conn.decoder.feed(data, now_ns):
                if conn.conn_id not in self._connections:
                    return  # the callback closed it while handling an earlier frame
                if isinstance(event, FrameReceived):
                    if not conn.admitted and not self._first_frame(conn, event, now_ns):
                        return
                    self._on_event(
                        PayloadReceived(conn.conn_id, event.payload_type, event.payload, now_ns)
                    )
                elif isinstance(event, FrameDiscarded):
                    self._on_event(FrameRejected(conn.conn_id, event.error, now_ns))
                else:
                    self._close(conn, CloseReason.HEADER_ERROR, str(event.error))
                    return
            pending = conn.sock.pending() if isinstance(conn.sock, ssl.SSLSocket) else 0
            if pending == 0:
                return  # level-triggered selector brings us back for the rest

    def _first_frame(self, conn: _Connection, frame: FrameReceived, now_ns: int) -> bool:
        """Admission of a pending connection on its first frame; True: it owns the session
        (ConnectionOpened emitted; the frame follows as PayloadReceived)."""
        decisions = self._admission.first_frame(
            conn.conn_id, int(frame.payload_type), frame.payload, now_ns)
        admitted = any(isinstance(d, Admit) and d.conn_id == conn.conn_id for d in decisions)
        if admitted:
            conn.admitted = True
            log.info("connection %d from %s owns the V2G session", conn.conn_id, conn.peer)
            self._on_event(ConnectionOpened(conn.conn_id, conn.peer, conn.tls, conn.tls_version,
                                            conn.cipher, now_ns))
        self._apply(decisions)
        return admitted

    def _on_writable(self, conn: _Connection) -> None:
        if conn.handshaking:
            self._advance_handshake(conn)
        else:
            self._flush(conn)

    def _flush(self, conn: _Connection) -> None:
        while conn.out and not conn.closed:
            try:
                sent = conn.sock.send(conn.out)
            except (ssl.SSLWantWriteError, ssl.SSLWantReadError, BlockingIOError):
                break
            except (ssl.SSLError, OSError) as exc:
                self._close(conn, CloseReason.IO_ERROR, str(exc))
                return
            del conn.out[:sent]
        if conn.closed:
            return
        events = selectors.EVENT_READ | (selectors.EVENT_WRITE if conn.out else 0)
        self._selector.modify(conn.sock, events, conn)

    def _handle_timers(self, now_ns: int) -> None:
        for conn in list(self._connections.values()):
            deadline = conn.handshake_deadline_ns
            if conn.handshaking and deadline is not None and now_ns >= deadline:
                self._close(conn, CloseReason.TLS_HANDSHAKE_TIMEOUT, "TLS handshake too slow")
        setup = self._admission.next_deadline_ns()
        if setup is not None and now_ns >= setup:
            had_owner = self._admission.owner is not None
            decisions = self._admission.handle_timer(now_ns)
            log.warning("communication setup time over: %d connection(s) closed, silent "
                        "until the next plug-in", len(decisions))
            self._on_event(CommunicationSetupExpired(now_ns, len(decisions), had_owner))
            self._apply(decisions)

    def _close(self, conn: _Connection, reason: CloseReason, detail: str) -> None:
        if conn.closed:
            return
        conn.closed = True
        self._connections.pop(conn.conn_id, None)
        with contextlib.suppress(KeyError, ValueError):  # already gone with the selector
            self._selector.unregister(conn.sock)
        conn.sock.close()
        now_ns = self._clock_ns()
        self._admission.closed(conn.conn_id, now_ns)
        log.info("connection %d from %s closed: %s (%s)", conn.conn_id, conn.peer,
                 reason.value, detail)
        self._on_event(ConnectionClosed(conn.conn_id, reason, detail, now_ns))


def _host(address: tuple[object, ...]) -> ipaddress.IPv6Address:
    """The address part of a socket address, without a ``%scope`` suffix."""
    return ipaddress.IPv6Address(str(address[0]).split("%", 1)[0])


def _pktinfo_ifindex(ancdata: list[tuple[int, int, bytes]]) -> int | None:
    for level, kind, data in ancdata:
        if level == socket.IPPROTO_IPV6 and kind == socket.IPV6_PKTINFO and len(data) >= 20:
            return int(struct.unpack("@I", data[16:20])[0])
    return None

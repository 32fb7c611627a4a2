"""Real sockets in a network-namespace pair: an EV finds our SDP server on the veth
link-local address, connects over TCP or TLS 1.2, and a V2GTP frame makes the round trip
through an echo handler. Skipped (with the reason) without root or iproute2."""

from __future__ import annotations

import datetime
import socket
import ssl
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from evse.io.v2g_net import (
    TLS_HANDSHAKE_TIMEOUT_NS,
    CloseReason,
    ConnectionClosed,
    ConnectionOpened,
    ConnectionRefused,
    FrameRejected,
    PayloadReceived,
    TlsServerCredentials,
    V2gNetConfig,
    V2gNetEvent,
    V2gNetServer,
    make_evcc_tls_context,
)
from evse.sdp import (
    TCP_PORT_MAX,
    TCP_PORT_MIN,
    SdpRequestAnswered,
    SdpRequestIgnored,
    Security,
    TlsPolicy,
)
from evse.secc.admission import Phase as AdmissionPhase, is_supported_app_protocol_req
from evse.security.testpki import TestPki, generate_test_pki
from evse.v2gtp import (
    FrameReceived,
    PayloadType,
    UnknownPayloadTypeError,
    V2gtpStreamDecoder,
    encode_frame,
)

from . import evside
from .netns import (
    EV_ADDRESS,
    SECC_ADDRESS,
    VethLink,
    _configure_end,
    _ip,
    in_netns,
    unavailable_reason,
    veth_pair,
)

_REASON = unavailable_reason()
pytestmark = [pytest.mark.netns, pytest.mark.skipif(_REASON is not None, reason=_REASON or "")]

EXI_SAP_REQ = bytes.fromhex("8000dbab9371d3234b71d1b981899189d191818991d26b9b3a232b30020000040040")


class RunningSecc:
    """Our adapter polled by a background thread; events recorded; EXI payloads echoed."""

    def __init__(self, server_factory: Callable[[Callable[[V2gNetEvent], None]], V2gNetServer],
                 *, replug: bool = False):
        self.events: list[V2gNetEvent] = []
        self._cond = threading.Condition()
        self.server = server_factory(self._on_event)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._calls: deque[tuple[Callable[[], None], threading.Event]] = deque()
        #: A new "plug-in" (link_up) as soon as a session is over: many cars, one server.
        self.replug = replug

    def call(self, fn: Callable[[], None]) -> None:
        """Run `fn` on the server's thread (the adapter is single-threaded) and wait."""
        done = threading.Event()
        self._calls.append((fn, done))
        assert done.wait(5), "server thread did not run the call"

    def _on_event(self, event: V2gNetEvent) -> None:
        with self._cond:  # record before echoing: the EV may check events as soon as it reads
            self.events.append(event)
            self._cond.notify_all()
        if isinstance(event, PayloadReceived):
            self.server.send(event.conn_id, event.payload)  # echo handler

    def _run(self) -> None:
        while not self._stop.is_set():
            self.server.poll(0.02)
            while self._calls:
                fn, done = self._calls.popleft()
                fn()
                done.set()
            if self.replug and self.server.admission_phase is AdmissionPhase.ENDED:
                self.server.link_up()
            with self._cond:
                self._cond.notify_all()  # let wait_until() re-check server state

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.server.close()

    def wait_until(self, predicate: Callable[[], bool]) -> None:
        with self._cond:
            assert self._cond.wait_for(predicate, timeout=5)

    def wait_for(self, kind: type, predicate: Callable[[object], bool] = lambda e: True) -> object:
        with self._cond:
            ok = self._cond.wait_for(
                lambda: any(isinstance(e, kind) and predicate(e) for e in self.events), timeout=5
            )
            assert ok, f"no {kind.__name__} event; got {self.events}"
            return next(e for e in self.events if isinstance(e, kind) and predicate(e))


@pytest.fixture(scope="module")
def link() -> Iterator[VethLink]:
    try:
        with veth_pair() as pair:
            yield pair
    except Exception as exc:  # noqa: BLE001 - environment without netns support
        pytest.skip(f"cannot create network namespaces: {exc}")


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TestPki:
    not_before = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=5)
    return generate_test_pki(tmp_path_factory.mktemp("pki"), not_before=not_before)


@pytest.fixture
def secc_factory(link: VethLink) -> Iterator[Callable[..., RunningSecc]]:
    running: list[RunningSecc] = []

    def make(
        policy: TlsPolicy,
        tls: TlsServerCredentials | None = None,
        *,
        clock_ns: Callable[[], int] = time.monotonic_ns,
        replug: bool = False,
        **config_overrides: Any,
    ) -> RunningSecc:
        config = V2gNetConfig(
            interface=link.secc_if, tls_policy=policy, tls=tls, **config_overrides
        )

        def factory(on_event: Callable[[V2gNetEvent], None]) -> V2gNetServer:
            return V2gNetServer(config, on_event, clock_ns)

        secc = RunningSecc(factory, replug=replug)
        with in_netns(link.secc_ns):
            secc.server.start()
        secc.start()
        running.append(secc)
        return secc

    yield make
    for secc in running:
        secc.stop()


def _credentials(pki: TestPki) -> TlsServerCredentials:
    return TlsServerCredentials(pki.secc_chain, pki.secc_leaf_key)


@pytest.mark.req("PLC-3")
def test_ev_discovers_secc_on_its_link_local_address_and_echoes_over_tcp(
    link: VethLink, secc_factory: Callable[..., RunningSecc]
) -> None:
    secc = secc_factory(TlsPolicy.PROHIBIT)
    with in_netns(link.ev_ns):
        response = evside.discover(link.ev_if, Security.NO_TLS)
        assert response.secc_address == link.secc_address
        assert response.security is Security.NO_TLS
        assert TCP_PORT_MIN <= response.secc_port <= TCP_PORT_MAX
        assert response.secc_port == secc.server.tcp_port
        with evside.connect(response, link.ev_if, None) as sock:
            assert evside.round_trip(sock, EXI_SAP_REQ) == EXI_SAP_REQ
    answered = secc.wait_for(SdpRequestAnswered)
    assert isinstance(answered, SdpRequestAnswered) and answered.source.address == link.ev_address
    opened = secc.wait_for(ConnectionOpened)
    assert isinstance(opened, ConnectionOpened) and not opened.tls
    received = secc.wait_for(PayloadReceived)
    assert isinstance(received, PayloadReceived) and received.payload_type is PayloadType.EXI
    secc.wait_for(ConnectionClosed, lambda e: e.reason is CloseReason.PEER_CLOSED)  # type: ignore[attr-defined]


@pytest.mark.req("PLC-3")
def test_ev_asking_for_tls_gets_tls_1_2_with_the_iso_cipher_and_our_chain(
    link: VethLink, secc_factory: Callable[..., RunningSecc], pki: TestPki
) -> None:
    secc = secc_factory(TlsPolicy.ALLOW, _credentials(pki))
    with in_netns(link.ev_ns):
        response = evside.discover(link.ev_if, Security.TLS)
        assert response.security is Security.TLS
        assert response.secc_port == secc.server.tls_port
        ctx = make_evcc_tls_context(pki.v2g_root_cert)
        with evside.connect(response, link.ev_if, ctx) as sock:
            assert isinstance(sock, ssl.SSLSocket)
            assert sock.version() == "TLSv1.2"
            cipher = sock.cipher()
            assert cipher is not None and cipher[0] == "ECDHE-ECDSA-AES128-SHA256"
            peer = sock.getpeercert()
            assert peer and ("commonName", "DE*TST*E1234") in [x[0] for x in peer["subject"]]
            assert evside.round_trip(sock, EXI_SAP_REQ) == EXI_SAP_REQ
    opened = secc.wait_for(ConnectionOpened)
    assert isinstance(opened, ConnectionOpened)
    assert opened.tls and opened.tls_version == "TLSv1.2"
    assert opened.cipher == "ECDHE-ECDSA-AES128-SHA256"


def test_car_asking_tls_is_offered_tcp_under_allow_without_credentials_and_carries_on(
    link: VethLink, secc_factory: Callable[..., RunningSecc]
) -> None:
    """Audi Q4 / VW ID.4 / ID.Buzz / Tesla Model X behaviour (interop_failures.md §4)."""
    secc = secc_factory(TlsPolicy.ALLOW)
    with in_netns(link.ev_ns):
        response = evside.discover(link.ev_if, Security.TLS, accept_plain_tcp=True)
        assert response.security is Security.NO_TLS
        assert response.secc_port == secc.server.tcp_port
        with evside.connect(response, link.ev_if, None) as sock:
            assert evside.round_trip(sock, EXI_SAP_REQ) == EXI_SAP_REQ
    answered = secc.wait_for(SdpRequestAnswered)
    assert isinstance(answered, SdpRequestAnswered)
    assert answered.request.security is Security.TLS
    assert answered.response.security is Security.NO_TLS


def test_force_offers_tls_even_to_a_car_asking_for_tcp(
    link: VethLink, secc_factory: Callable[..., RunningSecc], pki: TestPki
) -> None:
    secc = secc_factory(TlsPolicy.FORCE, _credentials(pki))
    with in_netns(link.ev_ns):
        response = evside.discover(link.ev_if, Security.NO_TLS)
        assert response.security is Security.TLS
        assert response.secc_port == secc.server.tls_port
        ctx = make_evcc_tls_context(pki.v2g_root_cert)
        with evside.connect(response, link.ev_if, ctx) as sock:
            assert evside.round_trip(sock, EXI_SAP_REQ) == EXI_SAP_REQ


def test_tls_client_without_the_iso_cipher_is_refused(
    link: VethLink, secc_factory: Callable[..., RunningSecc], pki: TestPki
) -> None:
    secc = secc_factory(TlsPolicy.FORCE, _credentials(pki))
    ctx = make_evcc_tls_context(pki.v2g_root_cert)
    ctx.set_ciphers("ECDHE-ECDSA-AES256-GCM-SHA384")
    with in_netns(link.ev_ns):
        response = evside.discover(link.ev_if, Security.TLS)
        with pytest.raises(ssl.SSLError):
            evside.connect(response, link.ev_if, ctx)
    secc.wait_for(ConnectionClosed, lambda e: e.reason is CloseReason.TLS_HANDSHAKE_FAILED)  # type: ignore[attr-defined]


@pytest.mark.req("ISO15118-4:TC_SECC_CMN_VTB_V2GTPSessionSetup_004")
def test_wrong_v2gtp_version_on_the_socket_is_ignored_and_the_session_goes_on(
    link: VethLink, secc_factory: Callable[..., RunningSecc]
) -> None:
    secc = secc_factory(TlsPolicy.PROHIBIT)
    with in_netns(link.ev_ns):
        response = evside.discover(link.ev_if, Security.NO_TLS)
        with evside.connect(response, link.ev_if, None) as sock:
            sock.sendall(bytes.fromhex("02fd800100000002") + b"\x80\x00")
            secc.wait_for(FrameRejected, lambda e: True)  # type: ignore[attr-defined]
            assert evside.round_trip(sock, EXI_SAP_REQ) == EXI_SAP_REQ  # still open
    assert not [e for e in secc.events
                if isinstance(e, ConnectionClosed) and e.reason is CloseReason.HEADER_ERROR]


def test_unknown_payload_type_on_the_socket_is_skipped_and_the_session_goes_on(
    link: VethLink, secc_factory: Callable[..., RunningSecc]
) -> None:
    secc = secc_factory(TlsPolicy.PROHIBIT)
    with in_netns(link.ev_ns):
        response = evside.discover(link.ev_if, Security.NO_TLS)
        with evside.connect(response, link.ev_if, None) as sock:
            sock.sendall(bytes.fromhex("01fe800200000003") + b"abc")  # ISO 15118-20 type
            assert evside.round_trip(sock, EXI_SAP_REQ) == EXI_SAP_REQ
    rejected = secc.wait_for(FrameRejected)
    assert isinstance(rejected, FrameRejected)
    assert isinstance(rejected.error, UnknownPayloadTypeError)


def test_sdp_garbage_gets_no_answer_but_the_next_good_request_does(
    link: VethLink, secc_factory: Callable[..., RunningSecc]
) -> None:
    secc = secc_factory(TlsPolicy.PROHIBIT)
    with in_netns(link.ev_ns):
        scope = socket.if_nametoindex(link.ev_if)
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sock:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, scope)
            sock.sendto(bytes.fromhex("01fe9000000000021020"), ("ff02::1", 15118, 0, scope))
        secc.wait_for(SdpRequestIgnored)
        assert evside.discover(link.ev_if, Security.NO_TLS).secc_port == secc.server.tcp_port


def test_cert_chain_path_that_does_not_exist_fails_at_start(link: VethLink, tmp_path: Path) -> None:
    from evse.io.v2g_net import V2gNetLocalError

    config = V2gNetConfig(
        interface=link.secc_if,
        tls_policy=TlsPolicy.ALLOW,
        tls=TlsServerCredentials(tmp_path / "missing.pem", tmp_path / "missing.key"),
    )
    server = V2gNetServer(config, lambda e: None, time.monotonic_ns)
    with in_netns(link.secc_ns), pytest.raises(V2gNetLocalError):
        server.start()
    server.close()


def test_two_frames_in_one_segment_and_one_frame_in_many_segments_both_echo(
    link: VethLink, secc_factory: Callable[..., RunningSecc]
) -> None:
    secc = secc_factory(TlsPolicy.PROHIBIT)
    first, second = EXI_SAP_REQ, bytes(range(200))
    with in_netns(link.ev_ns):
        response = evside.discover(link.ev_if, Security.NO_TLS)
        with evside.connect(response, link.ev_if, None) as sock:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.sendall(
                encode_frame(PayloadType.EXI, first) + encode_frame(PayloadType.EXI, second)
            )
            assert evside.receive_frames(sock, 2) == [first, second]
            frame = encode_frame(PayloadType.EXI, second)
            for i in range(0, len(frame), 7):
                sock.sendall(frame[i : i + 7])
            assert evside.receive_frames(sock, 1) == [second]
    received = [e for e in secc.events if isinstance(e, PayloadReceived)]
    assert [e.payload for e in received] == [first, second, second]


def test_payload_above_the_configured_maximum_closes_the_connection(
    link: VethLink, secc_factory: Callable[..., RunningSecc]
) -> None:
    secc = secc_factory(TlsPolicy.PROHIBIT, max_payload_length=64)
    with in_netns(link.ev_ns):
        response = evside.discover(link.ev_if, Security.NO_TLS)
        with evside.connect(response, link.ev_if, None) as sock:
            assert evside.round_trip(sock, EXI_SAP_REQ) == EXI_SAP_REQ
            assert evside.round_trip(sock, bytes(64)) == bytes(64)
            sock.sendall(encode_frame(PayloadType.EXI, bytes(65)))
            assert sock.recv(100) == b""
    closed = secc.wait_for(ConnectionClosed, lambda e: e.reason is CloseReason.HEADER_ERROR)  # type: ignore[attr-defined]
    assert isinstance(closed, ConnectionClosed) and "65" in closed.detail


def test_tls_handshake_that_never_starts_is_closed_after_the_handshake_timeout(
    link: VethLink, secc_factory: Callable[..., RunningSecc], pki: TestPki
) -> None:
    fake_now = [1_000]
    secc = secc_factory(TlsPolicy.FORCE, _credentials(pki), clock_ns=lambda: fake_now[0])
    with in_netns(link.ev_ns):
        response = evside.discover(link.ev_if, Security.TLS)
        with evside.connect(response, link.ev_if, None) as sock:  # TCP only, no ClientHello
            secc.wait_until(lambda: len(secc.server.open_connections) == 1)
            assert secc.server.next_deadline_ns() == 1_000 + TLS_HANDSHAKE_TIMEOUT_NS
            fake_now[0] += TLS_HANDSHAKE_TIMEOUT_NS
            assert sock.recv(100) == b""
    secc.wait_for(ConnectionClosed, lambda e: e.reason is CloseReason.TLS_HANDSHAKE_TIMEOUT)  # type: ignore[attr-defined]


def test_once_a_connection_owns_the_session_further_connections_are_refused_with_the_reason(
    link: VethLink, secc_factory: Callable[..., RunningSecc]
) -> None:
    """One V2G session per EVSE: after a supportedAppProtocolReq claimed it, a second
    connection is accepted and closed at once (SESSION_OWNED), the first carries on."""
    secc = secc_factory(TlsPolicy.PROHIBIT)
    with in_netns(link.ev_ns):
        response = evside.discover(link.ev_if, Security.NO_TLS)
        with evside.connect(response, link.ev_if, None) as first:
            assert evside.round_trip(first, EXI_SAP_REQ) == EXI_SAP_REQ
            with evside.connect(response, link.ev_if, None) as second:
                assert second.recv(100) == b""
            assert evside.round_trip(first, bytes(10)) == bytes(10)
    refused = secc.wait_for(ConnectionRefused)
    assert isinstance(refused, ConnectionRefused)
    assert refused.reason is CloseReason.SESSION_OWNED and "owns the V2G session" in refused.detail


def test_sdp_request_arriving_on_another_interface_is_ignored_and_reported(
    link: VethLink, secc_factory: Callable[..., RunningSecc]
) -> None:
    """A second link into the SECC's namespace (another EVSE's PLC port) gets no answer."""
    other_secc_if, other_ev_if = f"{link.secc_if}x", f"{link.ev_if}x"
    _ip("link", "add", other_secc_if, "type", "veth", "peer", "name", other_ev_if)
    try:
        _ip("link", "set", other_secc_if, "netns", link.secc_ns)
        _ip("link", "set", other_ev_if, "netns", link.ev_ns)
        _configure_end(link.secc_ns, other_secc_if, SECC_ADDRESS)
        _configure_end(link.ev_ns, other_ev_if, EV_ADDRESS)
        secc = secc_factory(TlsPolicy.PROHIBIT)
        with in_netns(link.ev_ns):
            scope = socket.if_nametoindex(other_ev_if)
            with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sock:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, scope)
                sock.sendto(bytes.fromhex("01fe9000000000021000"), ("ff02::1", 15118, 0, scope))
        ignored = secc.wait_for(SdpRequestIgnored)
        assert isinstance(ignored, SdpRequestIgnored) and "interface" in str(ignored.error)
        assert not any(isinstance(e, SdpRequestAnswered) for e in secc.events)
    finally:
        subprocess.run(["ip", "-n", link.secc_ns, "link", "del", other_secc_if], check=False)


def test_sdp_reply_comes_unicast_from_port_15118_like_real_chargers(
    link: VethLink, secc_factory: Callable[..., RunningSecc]
) -> None:
    secc_factory(TlsPolicy.PROHIBIT)
    with in_netns(link.ev_ns):
        scope = socket.if_nametoindex(link.ev_if)
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sock:
            sock.settimeout(evside.IO_TIMEOUT_S)
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, scope)
            sock.bind(("::", 0, 0, scope))
            sock.sendto(bytes.fromhex("01fe9000000000021000"), ("ff02::1", 15118, 0, scope))
            data, sender = sock.recvfrom(100)
    assert str(sender[0]).split("%")[0] == str(link.secc_address) and sender[1] == 15118
    assert data[:8] == bytes.fromhex("01fe900100000014") and len(data) == 28
    assert data[8:24] == link.secc_address.packed and data[26:] == b"\x10\x00"


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(garbage=st.binary(min_size=1, max_size=300), sap_first=st.booleans())
def test_any_bytes_on_the_socket_end_in_echoes_or_a_close_never_a_hang(
    link: VethLink, secc_factory: Callable[..., RunningSecc], garbage: bytes, sap_first: bool
) -> None:
    """Invariant: whatever a car sends, once it stops sending the SECC has answered what
    framed and closed the connection (or still waits for a declared payload); the server
    thread keeps running. Frames are answered only after a supportedAppProtocolReq opened
    the session; a connection whose first frame is anything else is closed unanswered."""
    secc = _shared_secc(secc_factory)
    if sap_first:
        garbage = encode_frame(PayloadType.EXI, EXI_SAP_REQ) + garbage
    with in_netns(link.ev_ns):
        scope = socket.if_nametoindex(link.ev_if)
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
            sock.settimeout(evside.IO_TIMEOUT_S)  # a hang fails the test instead of blocking
            sock.connect((str(link.secc_address), secc.server.tcp_port, 0, scope))
            received, reset = b"", False
            try:
                sock.sendall(garbage)
                sock.shutdown(socket.SHUT_WR)
                while chunk := sock.recv(4096):
                    received += chunk
            except ConnectionResetError:
                reset = True  # closed with our bytes unread: the kernel sends RST, not FIN
    assert secc._thread.is_alive()
    frames = [e for e in V2gtpStreamDecoder().feed(garbage, 0) if isinstance(e, FrameReceived)]
    admitted = bool(frames) and is_supported_app_protocol_req(
        int(frames[0].payload_type), frames[0].payload) is None
    answered = frames if admitted else []
    expected = b"".join(encode_frame(PayloadType.EXI, e.payload) for e in answered)
    assert received == expected or (reset and expected.startswith(received))


_SHARED: dict[str, RunningSecc] = {}


def _shared_secc(factory: Callable[..., RunningSecc]) -> RunningSecc:
    """One server for all hypothesis examples (function fixtures are not reset per example)."""
    if "secc" not in _SHARED or not _SHARED["secc"]._thread.is_alive():
        _SHARED["secc"] = factory(TlsPolicy.PROHIBIT, replug=True)
    return _SHARED["secc"]

"""The real adapter (`V2gNetServer`) on real sockets in a namespace pair, on a virtual clock:
idle connections cannot starve the car, they are closed at the communication setup time,
and afterwards the SECC answers no SDP and accepts no connection until the next link-up.
The SECC side answers supportedAppProtocolReq with our real negotiation (evse/secc/sap.py).
Skipped (with the reason) without root or iproute2."""

from __future__ import annotations

import socket
import threading
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import ExitStack

import pytest

import exi
from evse.io.v2g_net import (
    CloseReason,
    CommunicationSetupExpired,
    ConnectionClosed,
    ConnectionOpened,
    ConnectionPending,
    ConnectionRefused,
    PayloadReceived,
    SdpNotAnswered,
    V2gNetConfig,
    V2gNetEvent,
    V2gNetServer,
)
from evse.sdp import SdpRequestAnswered, Security, TlsPolicy
from evse.secc.admission import Phase as AdmissionPhase
from evse.secc.env import AppProtocol
from evse.secc.sap import negotiate
from evse.secc.timing import COMMUNICATION_SETUP_TIMEOUT_NS
from evse.v2gtp import PayloadType, encode_frame
from exi import app

from . import evside
from .data import real_sap_requests
from .netns import VethLink, in_netns, unavailable_reason, veth_pair

_REASON = unavailable_reason()
pytestmark = [pytest.mark.netns, pytest.mark.skipif(_REASON is not None, reason=_REASON or "")]

SAP_REQ = real_sap_requests()[0]
IDLE = 50
T0 = 1_000_000_000_000


class SapSecc:
    """The adapter polled by a thread on a virtual clock; supportedAppProtocolReq answered
    by the real negotiation, later payloads echoed; every event recorded."""

    def __init__(self, link: VethLink, **config: object) -> None:
        self.now_ns = T0
        self.events: list[V2gNetEvent] = []
        self._cond = threading.Condition()
        self._calls: deque[tuple[Callable[[], None], threading.Event]] = deque()
        self.server = V2gNetServer(V2gNetConfig(link.secc_if, TlsPolicy.PROHIBIT, **config),  # type: ignore[arg-type]
                                   self._on_event, lambda: self.now_ns)
        with in_netns(link.secc_ns):
            self.server.start()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _on_event(self, ev: V2gNetEvent) -> None:
        with self._cond:
            self.events.append(ev)
            self._cond.notify_all()
        if isinstance(ev, PayloadReceived):
            msg = exi.decode("app", ev.payload) if ev.payload == SAP_REQ else None
            if isinstance(msg, app.supportedAppProtocolReq):
                res = negotiate(msg, (AppProtocol.DIN70121, AppProtocol.ISO15118_2)).response
                self.server.send(ev.conn_id, exi.encode("app", res))
            else:
                self.server.send(ev.conn_id, ev.payload)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.server.poll(0.01)
            while self._calls:
                fn, done = self._calls.popleft()
                fn()
                done.set()
            with self._cond:
                self._cond.notify_all()

    def call(self, fn: Callable[[], None]) -> None:
        """Run `fn` on the adapter's own thread (it is single-threaded) and wait for it."""
        done = threading.Event()
        self._calls.append((fn, done))
        assert done.wait(5)

    def advance(self, dt_ns: int) -> None:
        self.call(lambda: setattr(self, "now_ns", self.now_ns + dt_ns))
        self.call(lambda: None)  # one more poll: the timers ran at the new time

    def count(self, kind: type, pred: Callable[[object], bool] = lambda e: True) -> int:
        with self._cond:
            return sum(1 for e in self.events if isinstance(e, kind) and pred(e))

    def wait_count(self, kind: type, n: int, pred: Callable[[object], bool] = lambda e: True,
                   timeout_s: float = 10.0) -> None:
        with self._cond:
            ok = self._cond.wait_for(
                lambda: sum(1 for e in self.events if isinstance(e, kind) and pred(e)) >= n,
                timeout=timeout_s)
        assert ok, f"fewer than {n} {kind.__name__}: {self.events[-5:]}"

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.server.close()


def closed_with(reason: CloseReason) -> Callable[[object], bool]:
    return lambda e: isinstance(e, ConnectionClosed) and e.reason is reason


@pytest.fixture(scope="module")
def link() -> Iterator[VethLink]:
    try:
        with veth_pair() as pair:
            yield pair
    except Exception as exc:  # noqa: BLE001 - environment without netns support
        pytest.skip(f"cannot create network namespaces: {exc}")


@pytest.fixture
def secc(link: VethLink) -> Iterator[SapSecc]:
    s = SapSecc(link)
    yield s
    s.close()


def open_idle(link: VethLink, port: int, n: int, stack: ExitStack) -> list[socket.socket]:
    """`n` TCP connections that never send a byte."""
    socks = []
    with in_netns(link.ev_ns):
        scope = socket.if_nametoindex(link.ev_if)
        for _ in range(n):
            s = stack.enter_context(socket.socket(socket.AF_INET6, socket.SOCK_STREAM))
            s.settimeout(evside.IO_TIMEOUT_S)
            s.connect((str(link.secc_address), port, 0, scope))
            socks.append(s)
    return socks


def closed_by_peer(sock: socket.socket) -> bool:
    try:
        return sock.recv(100) == b""
    except ConnectionResetError:
        return True


def sap_round_trip(sock: socket.socket) -> app.supportedAppProtocolRes:
    res = exi.decode("app", evside.round_trip(sock, SAP_REQ))
    assert isinstance(res, app.supportedAppProtocolRes)
    return res


def send_sdp(link: VethLink) -> None:
    with in_netns(link.ev_ns), socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sock:
        scope = socket.if_nametoindex(link.ev_if)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, scope)
        sock.sendto(bytes.fromhex("01fe9000000000021000"), ("ff02::1", 15118, 0, scope))


def test_fifty_idle_connections_do_not_starve_the_car_that_sends_sap(
    link: VethLink, secc: SapSecc
) -> None:
    """The main-branch failure: 50 idle connections, then the car's supportedAppProtocolReq
    met a TCP reset. Now: 8 pending kept (the oldest idle dropped for each newer one), the
    car's connection is accepted, answered OK, and owns the session; the other idle ones go."""
    with ExitStack() as stack:
        idle = open_idle(link, secc.server.tcp_port, IDLE, stack)
        secc.wait_count(ConnectionPending, IDLE)
        secc.wait_count(ConnectionClosed, IDLE - 8, closed_with(CloseReason.PENDING_LIMIT))
        assert len(secc.server.pending_connections) == 8
        with in_netns(link.ev_ns):
            response = evside.discover(link.ev_if, Security.NO_TLS)  # SDP still answered
            with evside.connect(response, link.ev_if, None) as car:
                res = sap_round_trip(car)
                assert res.ResponseCode is app.responseCodeType.OK_SuccessfulNegotiation
                assert evside.round_trip(car, b"\x80\x01") == b"\x80\x01"  # session goes on
        assert all(closed_by_peer(s) for s in idle)
    assert secc.count(ConnectionOpened) == 1
    assert secc.count(ConnectionClosed, closed_with(CloseReason.SESSION_OWNED)) == 7
    assert secc.count(ConnectionClosed, closed_with(CloseReason.PENDING_LIMIT)) == IDLE - 7
    assert secc.count(ConnectionRefused) == 0


def test_idle_connections_are_closed_at_the_setup_time_then_no_sdp_no_tcp_until_link_up(
    link: VethLink, secc: SapSecc
) -> None:
    """[V2G2-716] then [V2G2-034]: 18 s after link-up without a session every pending
    connection is closed with the reason; the SECC then neither answers SDP nor accepts a
    connection until the next plug-in (link_up), after which a car is served again."""
    with ExitStack() as stack:
        idle = open_idle(link, secc.server.tcp_port, 5, stack)
        secc.wait_count(ConnectionPending, 5)
        secc.advance(COMMUNICATION_SETUP_TIMEOUT_NS - 1)
        assert secc.count(ConnectionClosed) == 0
        secc.advance(1)
        secc.wait_count(ConnectionClosed, 5, closed_with(CloseReason.COMMUNICATION_SETUP_TIMEOUT))
        assert all(closed_by_peer(s) for s in idle)
    (expired,) = [e for e in secc.events if isinstance(e, CommunicationSetupExpired)]
    assert expired.closed == 5 and not expired.had_owner
    assert secc.server.admission_phase is AdmissionPhase.ENDED

    send_sdp(link)
    secc.wait_count(SdpNotAnswered, 1)
    assert secc.count(SdpRequestAnswered) == 0
    with ExitStack() as stack:
        (late,) = open_idle(link, secc.server.tcp_port, 1, stack)
        assert closed_by_peer(late)
    secc.wait_count(ConnectionRefused, 1,
                    lambda e: isinstance(e, ConnectionRefused)
                    and e.reason is CloseReason.NOT_ACCEPTING)

    secc.call(secc.server.link_up)  # the next plug-in
    with in_netns(link.ev_ns):
        response = evside.discover(link.ev_if, Security.NO_TLS)
        with evside.connect(response, link.ev_if, None) as car:
            assert sap_round_trip(car).ResponseCode is app.responseCodeType.OK_SuccessfulNegotiation


def test_a_car_silent_after_sap_is_disconnected_at_the_setup_time(
    link: VethLink, secc: SapSecc
) -> None:
    with in_netns(link.ev_ns):
        response = evside.discover(link.ev_if, Security.NO_TLS)
        with evside.connect(response, link.ev_if, None) as car:
            sap_round_trip(car)  # ... and no SessionSetupReq
            secc.advance(COMMUNICATION_SETUP_TIMEOUT_NS)
            assert closed_by_peer(car)
    secc.wait_count(ConnectionClosed, 1, closed_with(CloseReason.COMMUNICATION_SETUP_TIMEOUT))
    (expired,) = [e for e in secc.events if isinstance(e, CommunicationSetupExpired)]
    assert expired.had_owner


def test_after_session_setup_res_the_setup_time_no_longer_applies(
    link: VethLink, secc: SapSecc
) -> None:
    with in_netns(link.ev_ns):
        response = evside.discover(link.ev_if, Security.NO_TLS)
        with evside.connect(response, link.ev_if, None) as car:
            sap_round_trip(car)
            owner = secc.server.session_connection
            assert owner is not None
            secc.call(lambda: secc.server.session_established(owner))
            secc.advance(10 * COMMUNICATION_SETUP_TIMEOUT_NS)
            assert evside.round_trip(car, b"\x80\x02") == b"\x80\x02"
    assert secc.count(CommunicationSetupExpired) == 0


def test_a_malformed_first_frame_closes_that_connection_with_the_reason_only(
    link: VethLink, secc: SapSecc
) -> None:
    with ExitStack() as stack:
        (quiet, noisy) = open_idle(link, secc.server.tcp_port, 2, stack)
        secc.wait_count(ConnectionPending, 2)
        noisy.sendall(encode_frame(PayloadType.EXI, b"\x80\x00\x01"))  # no SAP
        assert closed_by_peer(noisy)
        secc.wait_count(ConnectionClosed, 1, closed_with(CloseReason.FIRST_FRAME_NOT_SAP))
        (bad,) = [e for e in secc.events if isinstance(e, ConnectionClosed)]
        assert "undecodable EXI" in bad.detail
        assert len(secc.server.pending_connections) == 1  # the quiet one is untouched
        res = sap_round_trip(quiet)  # and may still become the car's connection
        assert res.ResponseCode is app.responseCodeType.OK_SuccessfulNegotiation


def test_without_a_modem_the_setup_time_starts_at_the_first_sdp_request(
    link: VethLink, secc: SapSecc
) -> None:
    secc.call(lambda: secc.server.link_up(on_first_contact=True))
    assert secc.server.next_deadline_ns() is None
    secc.advance(60 * COMMUNICATION_SETUP_TIMEOUT_NS)  # nobody came: nothing expires
    assert secc.count(CommunicationSetupExpired) == 0
    contact = secc.now_ns
    send_sdp(link)
    secc.wait_count(SdpRequestAnswered, 1)
    assert secc.server.next_deadline_ns() == contact + COMMUNICATION_SETUP_TIMEOUT_NS

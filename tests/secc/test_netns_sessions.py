"""Full DIN and ISO-2 sessions over real sockets in a network-namespace pair: the EV
simulator finds the SECC by SDP on the veth link-local address and charges over IPv6 TCP
and over TLS 1.2, through the v2g branch's adapter (evse.io.v2g_net). Skipped (with
the reason) without root or iproute2.

The binding below is the wiring recipe for the station: one SeccCore per connection,
payloads in from `PayloadReceived`, `SendPayload` out with `server.send`, `CloseConnection`
with `server.close_connection`, core timers served from the poll loop.
"""

from __future__ import annotations

import datetime
import select
import socket
import threading
import time
from collections.abc import Iterator, Sequence

import pytest

from evse.ev.profiles import profile
from evse.ev.sim import EvSim
from evse.ev.sim_env import SimEnv, SimEnvConfig
from evse.io.v2g_net import (
    ConnectionClosed,
    ConnectionOpened,
    PayloadReceived,
    TlsServerCredentials,
    V2gNetConfig,
    V2gNetEvent,
    V2gNetServer,
    make_evcc_tls_context,
)
from evse.sdp import Security, TlsPolicy
from evse.secc.core import CloseConnection, SeccCore, SendPayload
from evse.secc.env import AppProtocol, SessionEndReason
from evse.security.testpki import TestPki, generate_test_pki
from evse.v2gtp import FrameReceived, PayloadType, V2gtpStreamDecoder, encode_frame
from tests.v2g import evside
from tests.v2g.netns import VethLink, in_netns, unavailable_reason, veth_pair

_REASON = unavailable_reason()
pytestmark = [pytest.mark.netns, pytest.mark.skipif(_REASON is not None, reason=_REASON or "")]

MS = 1_000_000


class SeccStation:
    """V2gNetServer + one SeccCore per connection, polled by a background thread."""

    def __init__(self, config: V2gNetConfig, env: SimEnv) -> None:
        self.env = env
        self.cores: dict[int, SeccCore] = {}
        self.ended: list[SessionEndReason] = []
        self.server = V2gNetServer(config, self._on_event, time.monotonic_ns)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _on_event(self, ev: V2gNetEvent) -> None:
        now = time.monotonic_ns()
        if isinstance(ev, ConnectionOpened):
            core = SeccCore(self.env)
            self.cores[ev.conn_id] = core
            self._emit(ev.conn_id, core.connection_opened(now))
        elif isinstance(ev, PayloadReceived):
            core = self.cores[ev.conn_id]
            if not core.closed:
                self._emit(ev.conn_id, core.receive(ev.payload, now))
        elif isinstance(ev, ConnectionClosed):
            gone = self.cores.pop(ev.conn_id, None)
            if gone is not None:
                gone.connection_lost(now)
                self.ended.append(gone.end_reason or SessionEndReason.CONNECTION_LOST)

    def _emit(self, conn_id: int, outs: Sequence[object]) -> None:
        for o in outs:
            if isinstance(o, SendPayload):
                self.server.send(conn_id, o.payload)
                if o.message == "SessionSetupRes":
                    self.server.session_established(conn_id)  # setup timer off [V2G2-714]
            elif isinstance(o, CloseConnection):
                self.server.close_connection(conn_id)

    def _run(self) -> None:
        while not self._stop.is_set():
            deadlines = [d for c in self.cores.values() if (d := c.next_deadline_ns())]
            wait_ns = min([20 * MS] + [d - time.monotonic_ns() for d in deadlines])
            self.server.poll(max(0.0, wait_ns / 1e9))
            now = time.monotonic_ns()
            for cid, core in list(self.cores.items()):
                d = core.next_deadline_ns()
                if d is not None and d <= now:
                    self._emit(cid, core.handle_timer(now))

    def __enter__(self) -> SeccStation:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self.server.close()


def drive_ev(ev: EvSim, sock: socket.socket, limit_s: float = 30.0) -> None:
    """The car's loop on a blocking socket: send what the simulator wants, feed replies."""
    dec = V2gtpStreamDecoder()
    for p in ev.start(time.monotonic_ns()):
        sock.sendall(encode_frame(PayloadType.EXI, p))
    give_up = time.monotonic() + limit_s
    sock.setblocking(False)
    while ev.result is None and time.monotonic() < give_up:
        d = ev.next_deadline_ns()
        wait = 0.05 if d is None else max(0.0, (d - time.monotonic_ns()) / 1e9)
        readable, _, _ = select.select([sock], [], [], min(wait, 0.05))
        now = time.monotonic_ns()
        out: list[bytes] = []
        if readable:
            data = sock.recv(65536)
            if not data:
                ev.connection_closed(now)
                break
            for fe in dec.feed(data, now):
                assert isinstance(fe, FrameReceived)
                out += ev.receive(fe.payload, now)
        elif d is not None and d <= now:
            out += ev.handle_timer(now)
        for p in out:
            sock.setblocking(True)
            sock.sendall(encode_frame(PayloadType.EXI, p))
            sock.setblocking(False)


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


@pytest.mark.parametrize("proto,mode", [(AppProtocol.DIN70121, "tcp"),
                                        (AppProtocol.ISO15118_2, "tcp"),
                                        (AppProtocol.ISO15118_2, "tls"),
                                        (AppProtocol.DIN70121, "asks_tls_gets_tcp")])
def test_full_session_over_ipv6_tcp_and_tls_in_a_netns_pair(
        link: VethLink, pki: TestPki, proto: AppProtocol, mode: str) -> None:
    """`asks_tls_gets_tcp`: the car asks for TLS in SDP, the station (policy allow, no
    credentials) offers TCP and the car carries on (Tesla Model X, Audi Q4, VW ID.4)."""
    env = SimEnv(SimEnvConfig(cable_check_delay_ns=300 * MS, voltage_tau_ns=50 * MS))
    tls = mode == "tls"
    creds = TlsServerCredentials(pki.secc_chain, pki.secc_leaf_key) if tls else None
    policy = TlsPolicy.PROHIBIT if mode == "tcp" else TlsPolicy.ALLOW
    cfg = V2gNetConfig(interface=link.secc_if, tls_policy=policy, tls=creds)
    station = SeccStation(cfg, env)
    with in_netns(link.secc_ns):
        station.server.start()
    p = profile("din_only" if proto is AppProtocol.DIN70121 else "iso_only")
    p.charge_for_ns = 1_000 * MS
    ev = EvSim(p, inlet_voltage_v=env.physical_voltage_v,
               inlet_current_a=env.physical_current_a)
    with station, in_netns(link.ev_ns):
        asked = Security.NO_TLS if mode == "tcp" else Security.TLS
        response = evside.discover(link.ev_if, asked)
        assert (response.security is Security.TLS) == tls
        ctx = make_evcc_tls_context(pki.v2g_root_cert) if tls else None
        with evside.connect(response, link.ev_if, ctx) as sock:
            drive_ev(ev, sock)
        deadline = time.monotonic() + 5
        while not station.ended and time.monotonic() < deadline:
            time.sleep(0.01)
    assert ev.result is not None and ev.result.ok, ev.result
    assert ev.result.protocol is proto
    assert ev.result.current_demands >= 5
    assert env.ended is SessionEndReason.EV_STOP

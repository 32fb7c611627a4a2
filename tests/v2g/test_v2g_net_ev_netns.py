"""Both ends of our own transport in one thread (no server thread, no sleeps): the EV-side
adapter discovers the SECC adapter by SDP and exchanges frames over TCP and TLS."""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable, Iterator

import pytest

from evse.io.v2g_net import (
    ConnectionOpened,
    PayloadReceived,
    TlsServerCredentials,
    V2gNetConfig,
    V2gNetEvent,
    V2gNetServer,
)
from evse.runtime.clock import MonotonicClock
from evse.runtime.realtime import RealtimeRunner
from evse.runtime.scheduler import Scheduler
from evse.sdp import SdpDiscovered, SdpDiscoveryFailed, Security, TlsPolicy
from evse.security.testpki import TestPki, generate_test_pki
from tests.v2g.net_ev import Phase, V2gEvNetConfig, V2gEvNetEvent, V2gNetClient

from .data import real_sap_requests
from .netns import VethLink, in_netns, unavailable_reason, veth_pair

_REASON = unavailable_reason()
pytestmark = [pytest.mark.netns, pytest.mark.skipif(_REASON is not None, reason=_REASON or "")]

PAYLOAD = bytes.fromhex("809a0211d63d9bd4e7a2e1a8020004")
#: A real car's supportedAppProtocolReq: the first frame that makes a connection the session's.
SAP_REQ = real_sap_requests()[0]


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


class Pair:
    def __init__(
        self,
        link: VethLink,
        policy: TlsPolicy,
        tls: TlsServerCredentials | None,
        ev_config: V2gEvNetConfig,
    ) -> None:
        self.secc_events: list[V2gNetEvent] = []
        self.ev_events: list[V2gEvNetEvent] = []
        self.secc = V2gNetServer(
            V2gNetConfig(link.secc_if, policy, tls), self._on_secc, time.monotonic_ns
        )
        self.ev = V2gNetClient(ev_config, self.ev_events.append, time.monotonic_ns)
        with in_netns(link.secc_ns):
            self.secc.start()
        with in_netns(link.ev_ns):
            self.ev.start()

    def _on_secc(self, event: V2gNetEvent) -> None:
        self.secc_events.append(event)
        if isinstance(event, PayloadReceived):
            self.secc.send(event.conn_id, event.payload[::-1])  # reversing "SECC"

    def run_until(self, done: Callable[[], bool], budget_s: float = 5.0) -> None:
        give_up = time.monotonic() + budget_s
        while not done():
            assert time.monotonic() < give_up, f"stuck: {self.ev_events} / {self.secc_events}"
            self.secc.poll(0.002)
            self.ev.poll(0.002)

    def close(self) -> None:
        self.ev.close()
        self.secc.close()


@pytest.fixture
def make_pair(link: VethLink) -> Iterator[Callable[..., Pair]]:
    pairs: list[Pair] = []

    def make(
        policy: TlsPolicy, tls: TlsServerCredentials | None, ev_config: V2gEvNetConfig
    ) -> Pair:
        pair = Pair(link, policy, tls, ev_config)
        pairs.append(pair)
        return pair

    yield make
    for pair in pairs:
        pair.close()


def test_ev_adapter_discovers_connects_over_tcp_and_exchanges_frames(
    link: VethLink, make_pair: Callable[..., Pair]
) -> None:
    pair = make_pair(TlsPolicy.PROHIBIT, None, V2gEvNetConfig(link.ev_if, Security.NO_TLS))
    pair.run_until(lambda: pair.ev.phase is Phase.OPEN)
    sent = [SAP_REQ] + [PAYLOAD + bytes([i]) for i in range(20)]
    for i, payload in enumerate(sent):  # a short request/response cadence
        pair.ev.send(payload)
        pair.run_until(lambda i=i: sum(isinstance(e, PayloadReceived) for e in pair.ev_events) > i)
    answers = [e.payload for e in pair.ev_events if isinstance(e, PayloadReceived)]
    assert answers == [p[::-1] for p in sent]
    (found,) = [e for e in pair.ev_events if isinstance(e, SdpDiscovered)]
    assert found.response.secc_address == link.secc_address


def test_ev_adapter_over_tls_verifies_the_secc_chain_against_the_v2g_root(
    link: VethLink, make_pair: Callable[..., Pair], pki: TestPki
) -> None:
    pair = make_pair(
        TlsPolicy.ALLOW,
        TlsServerCredentials(pki.secc_chain, pki.secc_leaf_key),
        V2gEvNetConfig(link.ev_if, Security.TLS, v2g_root_path=pki.v2g_root_cert),
    )
    pair.run_until(lambda: pair.ev.phase is Phase.OPEN)
    (opened,) = [e for e in pair.ev_events if isinstance(e, ConnectionOpened)]
    assert opened.tls and opened.tls_version == "TLSv1.2"
    assert opened.cipher == "ECDHE-ECDSA-AES128-SHA256"
    pair.ev.send(SAP_REQ)
    pair.run_until(lambda: any(isinstance(e, PayloadReceived) for e in pair.ev_events))


def test_ev_insisting_on_tls_gives_up_when_only_tcp_is_offered(
    link: VethLink, make_pair: Callable[..., Pair]
) -> None:
    pair = make_pair(
        TlsPolicy.ALLOW, None, V2gEvNetConfig(link.ev_if, Security.TLS, accept_plain_tcp=False)
    )
    pair.run_until(lambda: pair.ev.phase is Phase.CLOSED)
    assert any(isinstance(e, SdpDiscoveryFailed) for e in pair.ev_events)
    assert not any(isinstance(e, ConnectionOpened) for e in pair.secc_events)


def test_both_adapters_run_under_the_realtime_runner_through_their_filenos(
    link: VethLink, make_pair: Callable[..., Pair]
) -> None:
    """Integration with evse.runtime.realtime: one selector fd per adapter, no busy polling."""
    pair = make_pair(TlsPolicy.PROHIBIT, None, V2gEvNetConfig(link.ev_if, Security.NO_TLS))
    clock = MonotonicClock()
    runner = RealtimeRunner(Scheduler(clock))
    runner.add_reader(pair.secc.fileno(), lambda now_ns: pair.secc.poll(0))
    runner.add_reader(pair.ev.fileno(), lambda now_ns: pair.ev.poll(0))
    runner.run_until(clock.now_ns() + 5_000_000_000, stop=lambda: pair.ev.phase is Phase.OPEN)
    assert pair.ev.phase is Phase.OPEN
    pair.ev.send(SAP_REQ)
    got = lambda: any(isinstance(e, PayloadReceived) for e in pair.ev_events)  # noqa: E731
    runner.run_until(clock.now_ns() + 5_000_000_000, stop=got)
    assert got()

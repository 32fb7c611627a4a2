"""`evse run`'s composition (`IfaceStation`: DcStation + the real `V2gNetServer`) in a
namespace pair on the real clock: 50 idle connections do not keep our EV simulator from a
full charging session, and with no session within the communication setup time the idle
connections are closed, the station re-plugs its simulated cable (the next plug-in) and
then serves a car. Skipped (with the reason) without root or iproute2."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from evse.secc.env import AppProtocol
from tests.station.test_run_iface import one_session, running_station, wait_for

from .netns import VethLink, in_netns, unavailable_reason, veth_pair

_REASON = unavailable_reason()
pytestmark = [pytest.mark.netns, pytest.mark.skipif(_REASON is not None, reason=_REASON or "")]


@pytest.fixture(scope="module")
def link() -> Iterator[VethLink]:
    try:
        with veth_pair() as pair:
            yield pair
    except Exception as exc:  # noqa: BLE001 - environment without netns support
        pytest.skip(f"cannot create network namespaces: {exc}")


def bench_config(path: Path, *, setup_s: float | None = None) -> Path:
    path.write_text(
        "station: {name: admission-bench, seed: 5}\n"
        "plc: {driver: none}\n"
        "v2g:\n"
        "  tls_policy: prohibit\n"
        "  max_pending_connections: 8\n"
        f"  communication_setup_s: {'null' if setup_s is None else setup_s}\n"
        "session:\n"
        "  protocols: [iso2, din]\n"
        "  ocpp: \"none\"\n"
        "  auth_delay_s: 0.3\n",
        encoding="utf-8",
    )
    return path


class V2gRecords:
    """The station's `v2g` trace records (closures, refusals, setup expiry)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.items: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, t_ns: int, source: str, kind: str, payload: dict[str, Any]) -> None:
        if source == "v2g":
            with self._lock:
                self.items.append((kind, dict(payload)))

    def closed(self, reason: str) -> int:
        with self._lock:
            return sum(1 for k, p in self.items
                       if k == "connection_closed" and p.get("reason") == reason)

    def kinds(self) -> list[str]:
        with self._lock:
            return [k for k, _ in self.items]


def open_idle(link: VethLink, port: int, n: int, stack: ExitStack) -> list[socket.socket]:
    socks = []
    with in_netns(link.ev_ns):
        scope = socket.if_nametoindex(link.ev_if)
        for _ in range(n):
            s = stack.enter_context(socket.socket(socket.AF_INET6, socket.SOCK_STREAM))
            s.settimeout(5.0)
            s.connect((str(link.secc_address), port, 0, scope))
            socks.append(s)
    return socks


@pytest.mark.slow  # a full charging session on the real clock (~14 s)
@pytest.mark.realtime
def test_evse_run_serves_a_full_session_while_fifty_idle_connections_are_held_open(
        link: VethLink, tmp_path: Path) -> None:
    """Issue 11 item 8, reproduced on main as a TCP reset of the car's
    supportedAppProtocolReq. Every idle connection is closed with its reason."""
    with running_station(link, bench_config(tmp_path / "b.yaml")) as bench, \
            ExitStack() as stack:
        records = V2gRecords()
        bench.trace.add_listener(records)
        open_idle(link, bench.server.tcp_port, 50, stack)
        assert wait_for(lambda: records.closed("pending_limit") >= 42), records.items[-3:]
        ev = one_session(link, bench, AppProtocol.DIN70121)
        assert ev.result is not None and ev.result.ok
        # the car's own connection made room (one more idle one dropped), the other seven
        # went when its supportedAppProtocolReq claimed the session
        assert records.closed("pending_limit") == 43
        assert records.closed("session_owned") == 7
        assert bench.stats.connections == 1  # only the car's connection reached the SECC


@pytest.mark.slow  # 2 s setup time, re-plug, then a full session on the real clock (~16 s)
@pytest.mark.realtime
def test_no_session_within_the_setup_time_closes_idle_connections_and_replugs(
        link: VethLink, tmp_path: Path) -> None:
    """[V2G2-716]: with the setup time at 2 s (bench setting), idle connections are closed
    with the reason, the simulated cable is pulled and plugged again (the next plug-in),
    and a car arriving after that charges."""
    cfg = bench_config(tmp_path / "b.yaml", setup_s=2.0)
    with running_station(link, cfg) as bench, ExitStack() as stack:
        records = V2gRecords()
        bench.trace.add_listener(records)
        open_idle(link, bench.server.tcp_port, 3, stack)
        assert wait_for(lambda: records.closed("communication_setup_timeout") >= 3, 6.0), \
            records.items
        assert "communication_setup_expired" in records.kinds()
        assert wait_for(lambda: bench.stats.replugs >= 1, 2.0), bench.stats.events
        one_session(link, bench, AppProtocol.ISO15118_2)

"""`evse run` on a real interface (no modem): the station in one network namespace, our EV
simulator in the other, over real sockets (SDP on the veth link-local address, then V2GTP
over IPv6 TCP or TLS 1.2). The car only speaks SDP/TCP: the station's pilot is simulated
(plugged at start and after every session, following the car's V2G phase), and the car
measures its inlet on the station's simulated plant. Skipped (with the reason) without root
or iproute2.
"""

from __future__ import annotations

import datetime
import json
import os
import select
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from scapy.utils import rdpcap

from evse.ev.profiles import profile
from evse.ev.sim import EvSim, Phase as EvPhase
from evse.io.v2g_net import make_evcc_tls_context
from evse.replay.pcap import read_capture
from evse.runtime.config import load_config
from evse.runtime.run_iface import IfaceStation
from evse.sdp import Security
from evse.secc.env import AppProtocol
from evse.security.testpki import TestPki, generate_test_pki
from evse.v2gtp import FrameReceived, PayloadType, V2gtpStreamDecoder, encode_frame
from tests.slac import netns_peer
from tests.v2g import evside
from tests.v2g.netns import VethLink, in_netns, unavailable_reason, veth_pair

_REASON = unavailable_reason()
pytestmark = [pytest.mark.netns, pytest.mark.skipif(_REASON is not None, reason=_REASON or "")]

#: One car session (SDP .. SessionStop with ~1 s of CurrentDemand) takes a few seconds.
SESSION_LIMIT_S = 25.0


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


def write_config(path: Path, *, ocpp: str, certs: TestPki | None = None,
                 policy: str = "allow") -> Path:
    cert_lines = ("  cert_chain: null\n  private_key: null\n" if certs is None else
                  f"  cert_chain: {certs.secc_chain}\n  private_key: {certs.secc_leaf_key}\n")
    path.write_text(
        "station: {name: test-bench, seed: 3}\n"
        "plc: {driver: none}\n"
        "v2g:\n"
        f"  tls_policy: {policy}\n" + cert_lines +
        "session:\n"
        "  protocols: [iso2, din]\n"
        f"  ocpp: \"{ocpp}\"\n"
        "  auth_delay_s: 0.3\n",
        encoding="utf-8",
    )
    return path


@contextmanager
def running_station(link: VethLink, config_path: Path, *, duration_s: float = 120.0,
                    start_timeout_s: float = 20.0, join_s: float = 10.0,
                    **station_kw: Any) -> Iterator[IfaceStation]:
    """`run_iface`'s composition on its own thread inside the SECC namespace
    (`station_kw` go to `IfaceStation`, e.g. `pilot_ev`)."""
    ready = threading.Event()
    holder: list[IfaceStation] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            # The whole loop in the namespace: SLAC mode opens the V2G server on link-up.
            with in_netns(link.secc_ns):
                bench = IfaceStation(load_config(config_path), link.secc_if, **station_kw)
                holder.append(bench)
                bench.start()
                ready.set()
                bench.run(duration_s=duration_s)
        except BaseException as exc:  # noqa: BLE001 - reported by the test thread
            failure.append(exc)
            ready.set()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert ready.wait(start_timeout_s), "station did not start"
    if failure:
        raise failure[0]
    bench = holder[0]
    try:
        yield bench
    finally:
        bench.stop()
        thread.join(join_s)
        bench.close()
    if failure:
        raise failure[0]


def drive_ev(ev: EvSim, sock: socket.socket, limit_s: float = SESSION_LIMIT_S,
             until: Callable[[EvSim], bool] | None = None) -> None:
    """The car's loop on a socket: send what the simulator wants, feed it the replies
    (until the session ends, or until `until(ev)`: the car vanishes there)."""
    dec = V2gtpStreamDecoder()
    for p in ev.start(time.monotonic_ns()):
        sock.sendall(encode_frame(PayloadType.EXI, p))
    give_up = time.monotonic() + limit_s
    sock.setblocking(False)
    while ev.result is None and time.monotonic() < give_up:
        if until is not None and until(ev):
            return
        d = ev.next_deadline_ns()
        wait = 0.05 if d is None else max(0.0, (d - time.monotonic_ns()) / 1e9)
        readable, _, _ = select.select([sock], [], [], min(wait, 0.05))
        now = time.monotonic_ns()
        out: list[bytes] = []
        if readable:
            try:
                data = sock.recv(65536)
            except (BlockingIOError, ssl.SSLWantReadError):
                continue
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


def one_session(link: VethLink, bench: IfaceStation, proto: AppProtocol, *,
                tls_root: Path | None = None, asks_tls: bool = False) -> EvSim:
    """A car plugs in (as far as the network sees it), finds the SECC by SDP and charges."""
    p = profile("din_only" if proto is AppProtocol.DIN70121 else "iso_only")
    p.charge_for_ns = 1_500_000_000
    soc0 = p.battery.soc_pct
    plant = bench.station.world.plant
    ev = EvSim(p, inlet_voltage_v=lambda now: plant.connector_voltage_v,
               inlet_current_a=lambda now: plant.connector_current_a)
    with in_netns(link.ev_ns):
        asked = Security.TLS if tls_root is not None or asks_tls else Security.NO_TLS
        response = evside.discover(link.ev_if, asked)
        assert (response.security is Security.TLS) == (tls_root is not None)
        ctx = make_evcc_tls_context(tls_root) if tls_root is not None else None
        with evside.connect(response, link.ev_if, ctx) as sock:
            drive_ev(ev, sock)
    assert ev.result is not None and ev.result.ok, ev.result
    assert ev.result.protocol is proto
    assert ev.result.current_demands >= 5
    assert p.battery.soc_pct > soc0, "no energy reached the car's battery"
    return ev


def wait_for(cond: Callable[[], bool], limit_s: float = 10.0) -> bool:
    give_up = time.monotonic() + limit_s
    while time.monotonic() < give_up:
        if cond():
            return True
        time.sleep(0.02)  # the test's own thread waits for the station's thread
    return False


def test_din_car_over_tcp_charges_twice_in_a_row_with_the_simulated_pilot(
        link: VethLink, tmp_path: Path) -> None:
    """bench.yaml's case: no modem, TLS allowed but no certificates (plain TCP), OCPP 1.6
    with the CSMS simulator; the second session needs the simulated replug after the first."""
    cfg = write_config(tmp_path / "bench.yaml", ocpp="1.6")
    with running_station(link, cfg) as bench:
        one_session(link, bench, AppProtocol.DIN70121)
        assert wait_for(lambda: bench.stats.replugs >= 1), bench.stats.events
        one_session(link, bench, AppProtocol.DIN70121)
    assert bench.stats.connections == 2
    assert any("cable out and in" in what for _, what in bench.stats.events)


def test_iso2_car_over_tls_charges_twice_with_a_battery_at_its_precharge_target(
        link: VethLink, tmp_path: Path, pki: TestPki) -> None:
    cfg = write_config(tmp_path / "tls.yaml", ocpp="none", certs=pki)
    with running_station(link, cfg) as bench:
        one_session(link, bench, AppProtocol.ISO15118_2, tls_root=pki.v2g_root_cert)
        target = bench.battery.voltage_v
        assert wait_for(lambda: bench.stats.replugs >= 1), bench.stats.events
        one_session(link, bench, AppProtocol.ISO15118_2, tls_root=pki.v2g_root_cert)
    # The EV simulator precharges to its battery's open-circuit voltage (330..420 V).
    assert 330.0 <= target <= 420.0


def test_car_that_asks_for_tls_gets_plain_tcp_under_allow_without_certificates(
        link: VethLink, tmp_path: Path) -> None:
    """Audi Q4, VW ID.4, Tesla Model X ask for TLS and go on with TCP (issue 4, SDP)."""
    cfg = write_config(tmp_path / "asks.yaml", ocpp="2.0.1")
    with running_station(link, cfg) as bench:
        one_session(link, bench, AppProtocol.ISO15118_2, asks_tls=True)


def test_slac_mode_matches_a_car_with_emulated_modems_then_serves_sdp_and_a_session(
        link: VethLink, tmp_path: Path) -> None:
    """slac-bench.yaml's case on a veth pair: the station's SLAC on an AF_PACKET socket, the
    car's SLAC plus both emulated modems (drivers.homeplug.emulator) in the other namespace
    (tests/slac/netns_peer.py: CM_SET_KEY to the local-modem address, VS_PL_LNK_STATUS,
    CM_ATTEN_PROFILE.IND per sound); the V2G server opens on D-LINK_READY, the car finds it
    by SDP and then charges over TCP."""
    subprocess.run(["ip", "-n", link.ev_ns, "link", "set", link.ev_if, "promisc", "on"],
                   check=True, capture_output=True, timeout=10)
    cfg = tmp_path / "slac.yaml"
    cfg.write_text(
        "station: {name: test-slac, seed: 5}\n"
        "plc: {driver: raw}\n"
        # The emulated local modem lives in the car's process, started after the station
        # (a real modem is up before it): the station re-sends its CM_SET_KEY every 200 ms
        # for 10 s so the emulator's confirmation, not the process start-up, decides.
        "slac: {enabled: true, set_key_retries: 50,"
        " params: {t_evse_slac_init: 40.0, t_set_key_cnf: 0.2}}\n"
        "v2g: {tls_policy: prohibit}\n"
        "session: {protocols: [din], ocpp: \"none\", auth_delay_s: 0.3}\n"
        "capture: {dir: captures}\n",
        encoding="utf-8",
    )
    with running_station(link, cfg) as bench:
        assert not bench.server_started, "no V2G server before the link is up"
        evse_mac = bench.station.slac_port.mac.hex()
        car = subprocess.run(
            ["ip", "netns", "exec", link.ev_ns, sys.executable, netns_peer.__file__, "ev",
             link.ev_if, "20", evse_mac],
            capture_output=True, text=True, timeout=40,
            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
        )
        assert car.returncode == 0, car.stdout + car.stderr
        lines = [json.loads(line) for line in car.stdout.splitlines()]
        assert any(e["event"] == "ev_link_up" for e in lines)
        found = [e for e in lines if e["event"] == "sdp_discovered"]
        assert found and found[0]["secc"] == str(link.secc_address)
        assert bench.stats.link_ready == 1 and bench.server_started
        one_session(link, bench, AppProtocol.DIN70121)
    # The session's capture (`capture:`) holds the SLAC exchange as it went over the wire,
    # both ways, then SDP and the V2G connection.
    (first, *_) = sorted((tmp_path / "captures").glob("session-*.pcapng"))
    mmtypes = [int.from_bytes(bytes(p)[15:17], "little") for p in rdpcap(str(first))
               if bytes(p)[12:14] == b"\x88\xe1"]
    for mmtype in (0x6064, 0x6065, 0x6008, 0x607C, 0x607D):  # PARM.REQ/CNF, SET_KEY.REQ,
        assert mmtype in mmtypes, (hex(mmtype), [hex(m) for m in mmtypes])  # MATCH.REQ/CNF
    assert read_capture(first).dc_sessions, "the DIN session after SLAC is in the capture"


def test_evse_run_command_serves_a_car_and_stops_cleanly_on_sigterm(
        link: VethLink, tmp_path: Path) -> None:
    """The CLI itself (`evse run --config --iface`) in the SECC namespace, as a process."""
    cfg = write_config(tmp_path / "bench.yaml", ocpp="none")
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen(
        ["ip", "netns", "exec", link.secc_ns, sys.executable, "-u", "-m", "evse.cli", "run",
         "--config", str(cfg), "--iface", link.secc_if, "--duration", "50"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
    )
    try:
        assert proc.stdout is not None
        seen: list[str] = []
        for line in proc.stdout:
            seen.append(line)
            if "car plugged" in line:
                break
        assert any("V2G server on" in line for line in seen), seen
        p = profile("din_only")
        # No plant in this process for the car to measure: charging is the thread tests'
        # business, this one checks the process serves SDP and V2GTP and stops on SIGTERM.
        p.stop_after_session_setup = True
        ev = EvSim(p)
        with in_netns(link.ev_ns):
            response = evside.discover(link.ev_if, Security.NO_TLS)
            with evside.connect(response, link.ev_if, None) as sock:
                drive_ev(ev, sock)
        assert ev.result is not None and ev.result.protocol is AppProtocol.DIN70121, ev.result
        assert ev.result.messages >= 2  # supportedAppProtocol and SessionSetup answered
        proc.terminate()
        out, _ = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert proc.returncode == 0, "".join(seen) + out
    assert "stopped: 1 connections" in out


@pytest.mark.req("PLC-6.5")
def test_car_that_vanishes_mid_charge_is_ramped_down_and_the_next_car_charges(
        link: VethLink, tmp_path: Path) -> None:
    """TCP lost during CurrentDemand: the SECC ends the session, the power path ramps down
    and opens, the simulated cable is re-plugged and the next car gets a full session."""
    cfg = write_config(tmp_path / "drop.yaml", ocpp="none")
    with running_station(link, cfg) as bench:
        p = profile("din_only")
        plant = bench.station.world.plant
        ev = EvSim(p, inlet_voltage_v=lambda now: plant.connector_voltage_v,
                   inlet_current_a=lambda now: plant.connector_current_a)
        with in_netns(link.ev_ns):
            response = evside.discover(link.ev_if, Security.NO_TLS)
            with evside.connect(response, link.ev_if, None) as sock:
                drive_ev(ev, sock, until=lambda car: car.phase is EvPhase.CHARGING
                         and plant.connector_current_a > 10.0)
        assert ev.result is None, "the car left while charging"
        assert wait_for(lambda: bench.stats.replugs >= 1), bench.stats.events
        assert bench.station.power.fault is None
        one_session(link, bench, AppProtocol.DIN70121)

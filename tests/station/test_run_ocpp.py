"""`evse run` with an `ocpp:` section: the station's controller talks to the operator's CSMS
over a real websocket (here the project's CSMS simulator, `CsmsServer`, which validates
every message against the OCPP schemas). Station and CSMS in the SECC namespace of a veth
pair (the V2G server needs the veth's link-local address; the CSMS listens on that
namespace's 127.0.0.1); our EV simulator charges from the other namespace. Skipped
without root / iproute2."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from evse.csms_sim.core import CsmsSim
from evse.io.ocpp_ws import CsmsServer, ServerSecurity
from evse.runtime.clock import MonotonicClock
from evse.runtime.config import ConfigError, load_config
from evse.runtime.run_iface import IfaceStation
from evse.secc.env import AppProtocol
from tests.controller.test_ws_tls import make_pki
from tests.http_files import file_handler
from tests.station.test_run_iface import one_session, running_station, wait_for
from tests.v2g.netns import VethLink, in_netns, unavailable_reason, veth_pair

_REASON = unavailable_reason()
PASSWORD = "operator-secret-16"


@pytest.fixture(scope="module")
def veth() -> Iterator[VethLink]:
    if _REASON is not None:
        pytest.skip(_REASON)
    try:
        with veth_pair() as pair:
            yield pair
    except Exception as exc:  # noqa: BLE001 - environment without netns support
        pytest.skip(f"cannot create network namespaces: {exc}")


@dataclass
class CsmsHandle:
    """The CSMS simulator's server running in its namespace: its port, and CSMS-initiated
    calls sent from the test's thread (on the server's own loop)."""

    port: int
    server: CsmsServer
    loop: asyncio.AbstractEventLoop

    def call(self, cp_id: str, action: str, payload: dict[str, Any]) -> str:
        done = asyncio.run_coroutine_threadsafe(self.server.call(cp_id, action, payload),
                                                self.loop)
        return done.result(10)


@contextmanager
def csms_in(ns: str, sim: CsmsSim, security: ServerSecurity) -> Iterator[int]:
    """The CSMS simulator's websocket server on its own thread and loop inside `ns`."""
    with csms_server_in(ns, sim, security) as handle:
        yield handle.port


@contextmanager
def csms_server_in(ns: str, sim: CsmsSim, security: ServerSecurity) -> Iterator[CsmsHandle]:
    handles: list[CsmsHandle] = []
    ready = threading.Event()
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    async def serve() -> None:
        clock = MonotonicClock()
        async with CsmsServer(sim, clock.now_ns, security=security) as srv:
            handles.append(CsmsHandle(srv.port, srv, loop))
            ready.set()
            await stop.wait()

    def main() -> None:
        with in_netns(ns):
            loop.run_until_complete(serve())

    thread = threading.Thread(target=main, daemon=True)
    thread.start()
    assert ready.wait(10), "CSMS did not start"
    try:
        yield handles[0]
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)
        loop.close()


def station(veth: VethLink, cfg: Path) -> AbstractContextManager[IfaceStation]:
    return running_station(veth, cfg, duration_s=90.0, start_timeout_s=30.0, join_s=15.0)


def write_config(path: Path, ocpp: str) -> Path:
    path.write_text(
        "station: {name: cm4-ocpp, seed: 6}\n"
        "plc: {driver: none}\n"
        "session: {protocols: [din], auth_delay_s: 0.3}\n"
        "ocpp:\n" + ocpp, encoding="utf-8")
    return path


def _wait(cond: Callable[[], bool], limit_s: float = 15.0) -> bool:
    return wait_for(cond, limit_s)


@pytest.mark.netns
def test_evse_run_boots_at_the_csms_and_charges_a_din_car_under_ocpp_16(
    veth: VethLink, tmp_path: Path,
) -> None:
    """Profile 1 (basic auth, password from a file), the CSMS answers interval 0 so our
    heartbeat_s (1 s) stays; the car's session is authorized by the configured id token
    and reported as a transaction; the queue lives in the configured SQLite store."""
    (tmp_path / "secret").write_text(PASSWORD + "\n", encoding="utf-8")
    sim = CsmsSim("1.6")
    sim.heartbeat_interval_s = 0
    sim.tokens["BENCH-CARD-7"] = "Accepted"
    with csms_in(veth.secc_ns, sim, ServerSecurity(1, "CM4-0001", PASSWORD)) as port:
        cfg = write_config(tmp_path / "ocpp16.yaml",
                           f"  url: ws://127.0.0.1:{port}/ocpp\n"
                           "  charge_point_id: CM4-0001\n"
                           "  version: \"1.6\"\n"
                           "  security_profile: 1\n"
                           "  password_file: secret\n"
                           "  heartbeat_s: 1\n"
                           "  store: ocpp.sqlite\n"
                           "  id_token: BENCH-CARD-7\n")
        with station(veth, cfg) as bench:
            assert _wait(lambda: "StatusNotification" in sim.actions()), sim.actions()
            assert sim.boot_status == "Accepted" and sim.seen[0].action == "BootNotification"
            assert bench.ocpp_client is not None and bench.ocpp_client.controller.booted
            boot = sim.of("BootNotification")[0]
            assert boot["chargePointSerialNumber"] == "CM4-0001"
            assert sim.of("StatusNotification")[0]["status"] == "Available"
            t_boot = sim.seen[0].at_ns
            assert _wait(lambda: len(sim.of("Heartbeat")) >= 2, 6), sim.actions(exclude=())
            beats = [s.at_ns for s in sim.seen if s.action == "Heartbeat"]
            assert beats[0] - t_boot < 2.5e9  # 1 s, not the 300 s default
            one_session(veth, bench, AppProtocol.DIN70121)
            assert _wait(lambda: "StopTransaction" in sim.actions()), sim.actions()
            (tx,) = sim.transactions.values()
            assert tx.id_tag == "BENCH-CARD-7"
            assert sim.violations == []
    db = sqlite3.connect(tmp_path / "ocpp.sqlite")
    assert db.execute("SELECT value FROM kv WHERE key='boot_count'").fetchone() == ("1",)


@pytest.mark.netns
def test_evse_run_speaks_201_over_tls_profile_2_to_the_csms(
    veth: VethLink, tmp_path: Path,
) -> None:
    make_pki(tmp_path, "csms")
    (tmp_path / "pw").write_text(PASSWORD, encoding="utf-8")
    sim = CsmsSim("2.0.1")
    sec = ServerSecurity(2, "CM4-0002", PASSWORD, str(tmp_path / "csms-server.crt"),
                         str(tmp_path / "csms-server.key"))
    with csms_in(veth.secc_ns, sim, sec) as port:
        cfg = write_config(tmp_path / "ocpp201.yaml",
                           f"  url: wss://127.0.0.1:{port}/ocpp\n"
                           "  charge_point_id: CM4-0002\n"
                           "  version: \"2.0.1\"\n"
                           "  security_profile: 2\n"
                           "  password_file: pw\n"
                           "  ca_file: csms-ca.crt\n")
        with station(veth, cfg) as bench:
            assert _wait(lambda: "StatusNotification" in sim.actions()), (
                sim.actions(), bench.ocpp_client and bench.ocpp_client.last_error)
            assert sim.seen[0].action == "BootNotification"
            assert bench.ocpp_client is not None and bench.ocpp_client.controller.booted
            assert sim.of("StatusNotification")[0]["connectorStatus"] == "Available"
            assert sim.violations == []


@pytest.mark.netns
def test_evse_run_uses_its_client_certificate_under_profile_3(
    veth: VethLink, tmp_path: Path,
) -> None:
    make_pki(tmp_path, "p3")
    sim = CsmsSim("1.6")
    sec = ServerSecurity(3, server_cert=str(tmp_path / "p3-server.crt"),
                         server_key=str(tmp_path / "p3-server.key"),
                         client_ca=str(tmp_path / "p3-ca.crt"))
    with csms_in(veth.secc_ns, sim, sec) as port:
        cfg = write_config(tmp_path / "p3.yaml",
                           f"  url: wss://127.0.0.1:{port}/ocpp\n"
                           "  charge_point_id: CP1\n"
                           "  security_profile: 3\n"
                           "  ca_file: p3-ca.crt\n"
                           "  client_cert: p3-client.crt\n"
                           "  client_key: p3-client.key\n")
        with station(veth, cfg) as bench:
            assert _wait(lambda: "StatusNotification" in sim.actions()), (
                sim.actions(), bench.ocpp_client and bench.ocpp_client.last_error)
            assert sim.of("StatusNotification")[0]["status"] == "Available"


@pytest.mark.netns
def test_a_wrong_password_is_refused_by_the_csms_and_retried_while_the_station_runs(
    veth: VethLink, tmp_path: Path,
) -> None:
    (tmp_path / "wrong").write_text("not-the-password", encoding="utf-8")
    sim = CsmsSim("1.6")
    with csms_in(veth.secc_ns, sim, ServerSecurity(1, "CM4-0003", PASSWORD)) as port:
        cfg = write_config(tmp_path / "bad.yaml",
                           f"  url: ws://127.0.0.1:{port}/ocpp\n"
                           "  charge_point_id: CM4-0003\n"
                           "  password_file: wrong\n")
        with station(veth, cfg) as bench:
            client = bench.ocpp_client
            assert client is not None
            assert _wait(lambda: client.last_error is not None, 10)
            assert "401" in str(client.last_error)
            time.sleep(0.5)
            assert sim.seen == []
            assert bench.station.cp.state != "F"  # the station itself runs on


@contextmanager
def file_server_in(ns: str, files: dict[str, bytes],
                   uploads: dict[str, bytes]) -> Iterator[int]:
    """An HTTP server on 127.0.0.1 of `ns` (where the station's transfers run: its threads
    inherit the namespace): GET serves `files`, PUT stores into `uploads`."""
    box: list[ThreadingHTTPServer] = []
    ready = threading.Event()

    def main() -> None:
        with in_netns(ns):
            box.append(ThreadingHTTPServer(("127.0.0.1", 0), file_handler(files, uploads)))
            ready.set()
            box[0].serve_forever(poll_interval=0.02)

    thread = threading.Thread(target=main, daemon=True)
    thread.start()
    assert ready.wait(10), "file server did not start"
    try:
        yield box[0].server_address[1]
    finally:
        box[0].shutdown()
        box[0].server_close()
        thread.join(10)


@pytest.mark.netns
def test_evse_run_installs_firmware_in_its_maintenance_dir_and_ends_for_the_restart(
    veth: VethLink, tmp_path: Path,
) -> None:
    """The board's maintenance keys: a 1.6 UpdateFirmware is downloaded and installed under
    ocpp.maintenance_dir (staging/, then firmware/), the install's restart ends the run
    (ocpp.restart: exit) with restart_kind set, which `evse run` turns into exit status 75
    for systemd; an InstallCertificate lands in ocpp.station_cert_dir (a restart keeps it);
    GetDiagnostics uploads the run's timeline.
    Without these keys the download is refused and a Reset only recorded."""
    (tmp_path / "secret").write_text(PASSWORD + "\n", encoding="utf-8")
    make_pki(tmp_path, "maint")
    image = b"CM4-FIRMWARE\x00" * 1024
    files = {"fw.bin": image}
    uploads: dict[str, bytes] = {}
    sim = CsmsSim("1.6")
    sim.heartbeat_interval_s = 0
    with csms_server_in(veth.secc_ns, sim, ServerSecurity(1, "CM4-0004", PASSWORD)) as csms, \
            file_server_in(veth.secc_ns, files, uploads) as http_port:
        cfg = write_config(tmp_path / "maint.yaml",
                           f"  url: ws://127.0.0.1:{csms.port}/ocpp\n"
                           "  charge_point_id: CM4-0004\n"
                           "  password_file: secret\n"
                           "  maintenance_dir: maint\n"
                           "  restart: exit\n"
                           "  station_cert_dir: certs\n")
        with station(veth, cfg) as bench:
            assert _wait(lambda: "StatusNotification" in sim.actions()), sim.actions()
            assert (tmp_path / "certs" / "roots").is_dir()
            root_pem = (tmp_path / "maint-ca.crt").read_text(encoding="utf-8")
            uid = csms.call("CM4-0004", "InstallCertificate", {
                "certificateType": "CentralSystemRootCertificate", "certificate": root_pem})
            assert _wait(lambda: sim.answers[uid].payload is not None)
            assert sim.answers[uid].payload == {"status": "Accepted"}
            assert list((tmp_path / "certs").rglob("*.pem")), "root not stored"
            answer = csms.call("CM4-0004", "GetDiagnostics", {
                "location": f"http://127.0.0.1:{http_port}/diag"})
            assert _wait(lambda: sim.answers[answer].payload is not None)
            name = sim.answers[answer].payload["fileName"]
            assert _wait(lambda: f"/diag/{name}" in uploads, 10), sim.actions()
            uploaded = uploads[f"/diag/{name}"].decode()
            assert "cm4-ocpp DiagnosticsLog" in uploaded and "cp: A -> plugged.B.B1" in uploaded
            csms.call("CM4-0004", "UpdateFirmware", {
                "location": f"http://127.0.0.1:{http_port}/fw.bin",
                "retrieveDate": "2020-01-01T00:00:00Z"})
            assert _wait(lambda: bench.restart_kind is not None, 20), (
                sim.of("FirmwareStatusNotification"), bench.host and bench.host.history)
            assert bench.restart_kind == "FirmwareUpdate"
            assert [p["status"] for p in sim.of("FirmwareStatusNotification")] == [
                "Downloading", "Downloaded", "Installing", "Installed"]
            installed = list((tmp_path / "maint" / "firmware").iterdir())
            assert [p.read_bytes() for p in installed] == [image]
            assert _wait(lambda: bench.loop_ended, 5)  # the loop ended for the restart
            assert sim.violations == []


# ----------------------------------------------------------------- config checks (no network)

@pytest.mark.parametrize(("body", "line", "text"), [
    ("  charge_point_id: CP1\n", 4, "ocpp.url is required"),
    ("  url: http://x/ocpp\n  charge_point_id: CP1\n", 5, "ocpp.url must be a ws:// or wss://"),
    ("  url: ws://x/ocpp\n  charge_point_id: a/b\n", 6, "ocpp.charge_point_id must be"),
    ("  url: ws://x/ocpp\n  charge_point_id: CP1\n  version: 2.0\n", 7, "ocpp.version"),
    ("  url: ws://x/o\n  charge_point_id: CP1\n  security_profile: 2\n", 7,
     "2 needs a wss:// url"),
    ("  url: wss://x/o\n  charge_point_id: CP1\n  security_profile: 3\n", 7,
     "3 needs ocpp.client_cert"),
    ("  url: ws://x/o\n  charge_point_id: CP1\n  ca_file: ca.pem\n", 7,
     "ca_file is used by security profiles 2 and 3"),
    ("  url: ws://x/o\n  charge_point_id: CP1\n  heartbeat_s: 0\n", 7, "heartbeat_s"),
    ("  url: ws://x/o\n  charge_point_id: CP1\n  id_token: " + "x" * 21 + "\n", 7,
     "id_token"),
    ("  url: ws://x/o\n  charge_point_id: CP1\n  hearbeat_s: 5\n", 7,
     "unknown key ocpp.hearbeat_s"),
    ("  url: ws://x/o\n  charge_point_id: CP1\n  restart: reboot\n", 7,
     "ocpp.restart must be one of exit, none"),
    ("  url: ws://x/o\n  charge_point_id: CP1\n  maintenance_dir: ''\n", 7,
     "ocpp.maintenance_dir must be a path or null"),
])
def test_ocpp_section_errors_name_the_key_and_line(
    tmp_path: Path, body: str, line: int, text: str,
) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(write_config(tmp_path / "c.yaml", body))
    assert err.value.line == line and text in str(err.value), str(err.value)


def test_ocpp_endpoint_is_the_url_and_the_charge_point_id(tmp_path: Path) -> None:
    cfg = load_config(write_config(tmp_path / "c.yaml",
                                   "  url: wss://csms.example/ocpp/\n"
                                   "  charge_point_id: CM4-9\n  security_profile: 2\n"))
    assert cfg.ocpp is not None and cfg.ocpp.endpoint == "wss://csms.example/ocpp/CM4-9"

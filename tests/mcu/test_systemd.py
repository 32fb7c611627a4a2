"""Service on the board: the sd_notify protocol from the realtime loop, and the unit file."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from evse.runtime.clock import MonotonicClock, ms_to_ns
from evse.runtime.realtime import RealtimeRunner
from evse.runtime.scheduler import Scheduler
from evse.runtime.sdnotify import SdNotifier, watchdog_interval_ns

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "deploy" / "evse.service"
WATCHDOG_USEC = 100_000  # feed every 50 ms


def _recv_all(sock: socket.socket, timeout_s: float = 0.0) -> list[tuple[float, str]]:
    out = []
    sock.settimeout(timeout_s)
    while True:
        try:
            data = sock.recv(4096)
        except (BlockingIOError, TimeoutError):
            return out
        out.append((time.monotonic(), data.decode()))
        sock.settimeout(0.0)


@pytest.fixture
def notify_socket(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    path = tmp_path / "notify"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    monkeypatch.setenv("NOTIFY_SOCKET", str(path))
    monkeypatch.setenv("WATCHDOG_USEC", str(WATCHDOG_USEC))
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    yield sock
    sock.close()


@pytest.mark.realtime
def test_loop_sends_ready_then_watchdog_then_stopping(notify_socket: socket.socket) -> None:
    sched = Scheduler(MonotonicClock())
    runner = RealtimeRunner(sched)
    assert runner.systemd is not None and runner.systemd.watchdog_ns == WATCHDOG_USEC * 1000
    runner.run_until(sched.now_ns() + ms_to_ns(300))
    msgs = [m for _, m in _recv_all(notify_socket)]
    assert msgs[0].startswith("READY=1\n") and f"MAINPID={os.getpid()}" in msgs[0]
    feeds = [m for m in msgs if m == "WATCHDOG=1"]
    assert 4 <= len(feeds) <= 7  # every WATCHDOG_USEC/2 over 300 ms
    assert msgs[-1].startswith("STOPPING=1")


@pytest.mark.realtime
def test_a_stalled_loop_stops_feeding_the_watchdog(notify_socket: socket.socket) -> None:
    """A callback that blocks the loop for 400 ms (4 x WatchdogSec): no WATCHDOG=1 in that
    window, so systemd would kill and restart the service."""
    sched = Scheduler(MonotonicClock())
    runner = RealtimeRunner(sched)
    stall: dict[str, float] = {}

    def hang(_now_ns: int) -> None:
        stall["start"] = time.monotonic()
        time.sleep(0.4)
        stall["end"] = time.monotonic()

    sched.call_at(sched.now_ns() + ms_to_ns(120), hang, "test.hang")
    # Drain the socket while the loop runs, so each datagram gets its arrival time.
    got: list[tuple[float, str]] = []
    sched.call_every(ms_to_ns(5), lambda _n: got.extend(_recv_all(notify_socket)), "drain")
    runner.run_until(sched.now_ns() + ms_to_ns(700))
    got.extend(_recv_all(notify_socket))
    feeds = [t for t, m in got if m == "WATCHDOG=1"]
    before = [t for t in feeds if t < stall["start"]]
    during = [t for t in feeds if stall["start"] < t < stall["end"]]
    after = [t for t in feeds if t > stall["end"]]
    assert before and after, feeds
    assert during == []
    gaps = [b - a for a, b in zip(feeds, feeds[1:])]
    assert max(gaps) >= 0.4 > WATCHDOG_USEC / 1e6  # systemd's limit was exceeded


@pytest.mark.realtime
def test_an_unhealthy_station_withholds_the_feed(notify_socket: socket.socket) -> None:
    sched = Scheduler(MonotonicClock())
    runner = RealtimeRunner(sched)
    assert runner.systemd is not None
    runner.systemd.healthy = lambda: False
    runner.run_until(sched.now_ns() + ms_to_ns(200))
    msgs = [m for _, m in _recv_all(notify_socket)]
    assert "WATCHDOG=1" not in msgs and runner.systemd.stats.watchdog_withheld >= 3


def test_abstract_socket_names_and_the_environment() -> None:
    name = f"@evse-test-{os.getpid()}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name[1:])
    try:
        n = SdNotifier.from_env({"NOTIFY_SOCKET": name})
        assert n is not None and n.watchdog_ns is None
        assert n.send("STATUS=hello")
        assert sock.recv(100) == b"STATUS=hello"
        n.close()
    finally:
        sock.close()
    assert SdNotifier.from_env({}) is None
    assert SdNotifier.from_env({"NOTIFY_SOCKET": "relative"}) is None
    assert watchdog_interval_ns({"WATCHDOG_USEC": "0"}) is None
    assert watchdog_interval_ns({"WATCHDOG_USEC": "5000000", "WATCHDOG_PID": "1"}) is None
    assert watchdog_interval_ns({"WATCHDOG_USEC": "5000000"}) == 5_000_000_000


def test_a_vanished_notify_socket_is_counted_not_raised(tmp_path: Path) -> None:
    n = SdNotifier(str(tmp_path / "gone"))
    assert not n.send("WATCHDOG=1") and n.stats.failed == 1
    n.close()


# --- the unit file ---------------------------------------------------------------------------
def _unit_settings() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        if "=" in line and not line.startswith(("#", ";", "[")):
            k, v = line.split("=", 1)
            out.setdefault(k.strip(), []).append(v.strip())
    return out


def test_unit_is_notify_with_watchdog_restart_and_raw_socket_capabilities() -> None:
    s = _unit_settings()
    assert s["Type"] == ["notify"] and s["NotifyAccess"] == ["main"]
    assert s["Restart"] == ["on-failure"] and int(s["WatchdogSec"][0].rstrip("s")) >= 1
    caps = " ".join(s["CapabilityBoundingSet"]).split()
    assert set(caps) == {"CAP_NET_RAW", "CAP_NET_ADMIN", "CAP_NET_BIND_SERVICE"}
    assert set(" ".join(s["AmbientCapabilities"]).split()) == set(caps)
    families = " ".join(s["RestrictAddressFamilies"]).split()
    # AF_PACKET: SLAC on the QCA7000; AF_CAN: power modules/IMD; AF_UNIX: sd_notify;
    # AF_INET6: V2G (SDP/TCP/TLS on link-local); AF_INET: the CSMS; AF_NETLINK: ip/ifaddr.
    assert {"AF_PACKET", "AF_CAN", "AF_UNIX", "AF_INET", "AF_INET6",
            "AF_NETLINK"} <= set(families)
    assert s["NoNewPrivileges"] == ["yes"] and s["ProtectSystem"] == ["strict"]
    assert "/dev/ttyAMA0" in " ".join(s["DeviceAllow"])


@pytest.mark.realtime  # subprocess waits with a real timeout
@pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                    reason="systemd-analyze not installed on this machine")
def test_systemd_analyze_verify_accepts_the_unit(tmp_path: Path) -> None:
    # verify checks that ExecStart's binary exists: point it at one that does, keep the rest.
    text = UNIT.read_text().replace("/opt/evse/venv/bin/evse", shutil.which("true") or "/bin/true")
    unit = tmp_path / "evse.service"
    unit.write_text(text)
    res = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True,
                         text=True, timeout=60)
    lines = [ln for ln in (res.stdout + res.stderr).splitlines()
             if "evse.service" in ln]
    assert res.returncode == 0 and lines == [], res.stdout + res.stderr


# --- the install script ----------------------------------------------------------------------
INSTALL = ROOT / "deploy" / "install.sh"


@pytest.mark.realtime  # subprocess waits with a real timeout
def test_install_script_parses_and_its_dry_run_installs_unit_config_and_bytecode(
    tmp_path: Path,
) -> None:
    assert subprocess.run(["bash", "-n", str(INSTALL)], timeout=30).returncode == 0
    wheel = tmp_path / "evse-0.1.0-py3-none-any.whl"
    wheel.write_bytes(b"")
    res = subprocess.run([str(INSTALL), "--wheel", str(wheel), "--dry-run"],
                         capture_output=True, text=True, timeout=30)
    assert res.returncode == 0, res.stderr
    cmds = [ln[2:] for ln in res.stdout.splitlines() if ln.startswith("+ ")]
    text = "\n".join(cmds)
    assert "python3 -m venv /opt/evse/venv" in text
    assert f"-m pip install --no-input --upgrade {wheel}" in text
    assert "/opt/evse/venv/bin/python -m compileall -q -j 0 /opt/evse/venv/lib" in text
    assert "/etc/evse/station.yaml" in text
    assert text.index("evse.service /etc/systemd/system/evse.service") \
        < text.index("systemctl daemon-reload") < text.index("systemctl enable evse.service")
    # The unit's ExecStart is what the script installs.
    assert "/opt/evse/venv/bin/evse run --config /etc/evse/station.yaml" in UNIT.read_text()


@pytest.mark.realtime  # subprocess waits with a real timeout
def test_install_script_refuses_a_missing_wheel_with_exit_2(tmp_path: Path) -> None:
    res = subprocess.run([str(INSTALL), "--wheel", str(tmp_path / "none.whl"), "--dry-run"],
                         capture_output=True, text=True, timeout=30)
    assert res.returncode == 2 and "no such wheel" in res.stderr

"""Two-process station mode: the PLC here, the controller in its own OS process, over a
real Unix socket; then the controller process is replaced mid-charge."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from evse.contract.events import LinkDown
from evse.contract.guard import LINK_LOSS_GRACE_NS
from evse.contract.link import LinkState
from evse.contract.values import Role, SessionEventKind, StopReason
from evse.io.contract_link import ContractLinkAdapter, open_stream_port
from tests.contract.session import FAST, MiniPlc, Timing

pytestmark = pytest.mark.realtime
ROOT = Path(__file__).resolve().parents[2]
S = 1_000_000_000


def spawn_controller(endpoint: str) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen(
        [sys.executable, "-m", "tests.contract.controller_process", endpoint],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT, env=env)


def go(proc: subprocess.Popen[str]) -> None:
    assert proc.stdin is not None
    proc.stdin.write("go\n")
    proc.stdin.flush()


def events_of(proc: subprocess.Popen[str]) -> list[tuple[str, str]]:
    out, _ = proc.communicate(timeout=30)
    return [tuple(line.split()) for line in out.splitlines()]  # type: ignore[misc]


def run_plc(port: ContractLinkAdapter, plc: MiniPlc, hook: object = None,
            deadline_s: float = 30.0, wait_for_acks: bool = True) -> None:
    end = time.monotonic_ns() + int(deadline_s * S)
    while port.link.state is not LinkState.ESTABLISHED and time.monotonic_ns() < end:
        port.service(timeout_s=0.01)
    plc.wake_ns = plc.last_heartbeat_ns = time.monotonic_ns()
    def finished() -> bool:
        drained = port.link.unacked_count == 0 and port.link.pending_count == 0
        return plc.done and (drained or not wait_for_acks)

    while time.monotonic_ns() < end and not finished():
        now = time.monotonic_ns()
        wake = plc.next_wakeup_ns()
        port.service(timeout_s=0.005 if wake is None else min(max(wake - now, 0) / S, 0.005))
        plc.tick(time.monotonic_ns())
        if callable(hook):
            hook()
        port.service(timeout_s=0.0)


def test_full_session_with_the_controller_in_another_process(tmp_path: Path) -> None:
    endpoint = f"unix:{tmp_path / 'station.sock'}"
    port = open_stream_port(Role.PLC, endpoint, now_ns=time.monotonic_ns)
    ctrl = spawn_controller(endpoint)
    try:
        go(ctrl)
        plc = MiniPlc(port, FAST)
        run_plc(port, plc)
    finally:
        port.close()
    got = events_of(ctrl)
    assert plc.stop_reason is StopReason.EV_REQUESTED
    assert [k for k, _ in got] == [e.value for e in SessionEventKind]
    assert set(plc.setpoints_a) == {200.0}


def test_controller_process_replaced_mid_charge_keeps_the_session(tmp_path: Path) -> None:
    endpoint = f"unix:{tmp_path / 'station.sock'}"
    port = open_stream_port(Role.PLC, endpoint, now_ns=time.monotonic_ns)
    timing = Timing(**{**FAST.__dict__, "charge_ns": 2 * S})
    first, second = spawn_controller(endpoint), spawn_controller(endpoint)
    plc = MiniPlc(port, timing)
    swapped: list[int] = []

    def swap() -> None:
        start = plc.charge_start_ns
        if not swapped and start is not None and time.monotonic_ns() > start + S // 2:
            first.kill()  # the controller process dies...
            first.wait()
            go(second)  # ...and its replacement (already started) dials in
            swapped.append(time.monotonic_ns())

    try:
        go(first)
        run_plc(port, plc, hook=swap)
    finally:
        port.close()
    got = events_of(second)
    assert swapped and port.counters.peer_restarts == 1
    assert plc.stop_reason is StopReason.EV_REQUESTED, plc.guard.session_stops
    assert [k for k, _ in got] == ["POWER_DELIVERY_STOP", "SESSION_STOPPED", "EV_UNPLUGGED"]


def test_controller_process_killed_mid_charge_stops_within_the_link_loss_grace(
    tmp_path: Path,
) -> None:
    endpoint = f"unix:{tmp_path / 'station.sock'}"
    port = open_stream_port(Role.PLC, endpoint, now_ns=time.monotonic_ns)
    timing = Timing(**{**FAST.__dict__, "charge_ns": 10 * S})
    ctrl = spawn_controller(endpoint)
    plc = MiniPlc(port, timing)

    def kill() -> None:
        start = plc.charge_start_ns
        if ctrl.returncode is None and start is not None and time.monotonic_ns() > start + S // 2:
            ctrl.kill()
            ctrl.wait()

    try:
        go(ctrl)
        run_plc(port, plc, hook=kill, wait_for_acks=False)  # nobody is left to ack
    finally:
        port.close()
    assert plc.stop_reason is StopReason.CONTROLLER_LINK_LOST
    [down] = [e for e in plc.link_events if isinstance(e, LinkDown)]
    [stop] = plc.guard.session_stops
    assert stop.since_ns == down.at_ns + LINK_LOSS_GRACE_NS  # the bound, exactly
    # acted on it within one EV CurrentDemand timeout (250 ms, timing.md §4)
    assert plc.end_ns is not None and plc.end_ns - stop.since_ns < 250_000_000
    assert plc.setpoints_a[-1] == 0.0

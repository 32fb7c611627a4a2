"""Two endpoints over real byte streams (Unix socket, pty as a UART), on the real clock.

No sleeps: every wait is a blocking select with a timeout inside `service()`.
"""

from __future__ import annotations

import os
import threading
import time
import tty
from collections.abc import Callable
from pathlib import Path

import pytest

from evse.contract.errors import ContractUsageError
from evse.contract.events import LinkUp, SignalReceived
from evse.contract.link import LinkState
from evse.contract.values import PlcSessionEvent, Role, SessionEventKind, StopReason
from evse.io.contract_link import ContractLinkAdapter, open_stream_port
from evse.runtime.clock import MonotonicClock
from evse.runtime.realtime import RealtimeRunner
from evse.runtime.scheduler import Scheduler
from tests.contract.session import FAST, FULL_SESSION_EVENTS, MiniController, MiniPlc

pytestmark = pytest.mark.realtime
DEADLINE_S = 20.0


def _drive(adapter: ContractLinkAdapter, actor: MiniPlc | MiniController,
           finished: Callable[[], bool], stop: threading.Event) -> None:
    end = time.monotonic_ns() + int(DEADLINE_S * 1e9)
    while not finished() and not stop.is_set() and time.monotonic_ns() < end:
        now = time.monotonic_ns()
        wake = actor.next_wakeup_ns()
        wait_s = 0.005 if wake is None else min(max(wake - now, 0) / 1e9, 0.005)
        adapter.service(timeout_s=wait_s)
        actor.tick(time.monotonic_ns())
        adapter.service(timeout_s=0.0)


def test_full_session_between_two_endpoints_over_a_real_unix_socket(tmp_path: Path) -> None:
    path = tmp_path / "contract.sock"
    plc_link = ContractLinkAdapter.unix_server(path, Role.PLC, now_ns=time.monotonic_ns)
    ctrl_link = ContractLinkAdapter.unix_client(path, Role.CONTROLLER, now_ns=time.monotonic_ns)
    plc = MiniPlc(plc_link, FAST)
    ctrl = MiniController(ctrl_link, FAST)
    stop = threading.Event()

    def ctrl_done() -> bool:
        return any(k is SessionEventKind.EV_UNPLUGGED for k, _ in ctrl.session_events())

    worker = threading.Thread(target=_drive, args=(ctrl_link, ctrl, ctrl_done, stop))
    worker.start()
    try:
        # the PLC starts only once the controller is there (as `evse run --role plc` will)
        end = time.monotonic_ns() + int(DEADLINE_S * 1e9)
        while plc_link.link.state is not LinkState.ESTABLISHED and time.monotonic_ns() < end:
            plc_link.service(timeout_s=0.01)
        plc.wake_ns = time.monotonic_ns()
        plc.last_heartbeat_ns = plc.wake_ns
        _drive(plc_link, plc, lambda: plc.done and plc_link.link.unacked_count == 0, stop)
        worker.join(timeout=DEADLINE_S)
    finally:
        stop.set()
        worker.join(timeout=5)
        plc_link.close()
        ctrl_link.close()
    assert plc.stop_reason is StopReason.EV_REQUESTED
    assert ctrl.session_events() == FULL_SESSION_EVENTS
    assert set(plc.setpoints_a) == {200.0}
    assert plc_link.counters.invalid_total == 0 and ctrl_link.counters.invalid_total == 0


def _pump_both(a: ContractLinkAdapter, b: ContractLinkAdapter, until: Callable[[], bool]) -> None:
    end = time.monotonic_ns() + int(DEADLINE_S * 1e9)
    while not until() and time.monotonic_ns() < end:
        a.service(timeout_s=0.002)
        b.service(timeout_s=0.002)


def test_dropped_unix_connection_reconnects_and_loses_no_accepted_signal(tmp_path: Path) -> None:
    path = tmp_path / "contract.sock"
    plc = ContractLinkAdapter.unix_server(path, Role.PLC, now_ns=time.monotonic_ns)
    ctrl = ContractLinkAdapter.unix_client(path, Role.CONTROLLER, now_ns=time.monotonic_ns)
    got: list[object] = []

    def drain() -> None:
        got.extend(e.value for e in ctrl.poll(time.monotonic_ns())
                   if isinstance(e, SignalReceived))

    try:
        _pump_both(plc, ctrl, lambda: ctrl.link.state is LinkState.ESTABLISHED)
        sent = []
        for round_ in range(5):
            for k in range(20):
                v = PlcSessionEvent(event=SessionEventKind.EV_PLUGGED,
                                    session_id=f"{round_:02X}{k:02X}")
                plc.publish(v, time.monotonic_ns())
                sent.append(v)
            plc.service(0.0)
            ctrl.link.close(time.monotonic_ns())  # controller drops the connection mid-stream
            _pump_both(plc, ctrl, lambda: ctrl.link.state is LinkState.ESTABLISHED)
            drain()
        _pump_both(plc, ctrl, lambda: plc.link.unacked_count == 0 and plc.link.pending_count == 0)
        ctrl.service(0.01)
        drain()
    finally:
        plc.close()
        ctrl.close()
    assert got == sent
    ups = [e for e in plc.poll(0) if isinstance(e, LinkUp)]
    assert len(ups) == 6 and all(e.resumed for e in ups[1:])  # same peer: a resume each time


def test_link_runs_over_a_uart_like_byte_stream() -> None:
    master, slave = os.openpty()
    tty.setraw(slave)
    plc = ContractLinkAdapter.over_fd(master, Role.PLC, now_ns=time.monotonic_ns)
    ctrl = ContractLinkAdapter.serial(os.ttyname(slave), Role.CONTROLLER,
                                      now_ns=time.monotonic_ns)
    try:
        _pump_both(plc, ctrl, lambda: LinkState.ESTABLISHED == ctrl.link.state
                   == plc.link.state)
        plc.publish(PlcSessionEvent(event=SessionEventKind.SLAC_MATCHED), time.monotonic_ns())
        received: list[object] = []

        def arrived() -> bool:
            received.extend(e.value for e in ctrl.poll(time.monotonic_ns())
                            if isinstance(e, SignalReceived))
            return bool(received)

        _pump_both(plc, ctrl, arrived)
    finally:
        plc.close()
        ctrl.close()
        os.close(slave)
    assert received == [PlcSessionEvent(event=SessionEventKind.SLAC_MATCHED)]


def test_station_endpoints_pair_a_listening_plc_with_a_dialing_controller_unix_and_tcp(
    tmp_path: Path,
) -> None:
    endpoint = f"unix:{tmp_path / 'station.sock'}"
    plc = open_stream_port(Role.PLC, endpoint, now_ns=time.monotonic_ns)
    ctrl = open_stream_port(Role.CONTROLLER, endpoint, now_ns=time.monotonic_ns)
    try:
        _pump_both(plc, ctrl, lambda: LinkState.ESTABLISHED == plc.link.state
                   == ctrl.link.state)
        assert plc.link.peer_instance == ctrl.link.instance_id
    finally:
        plc.close()
        ctrl.close()
    tcp_plc = open_stream_port(Role.PLC, "tcp:127.0.0.1:0", now_ns=time.monotonic_ns)
    host, port = tcp_plc.server_address  # type: ignore[misc]
    tcp_ctrl = open_stream_port(Role.CONTROLLER, f"tcp:{host}:{port}", now_ns=time.monotonic_ns)
    try:
        _pump_both(tcp_plc, tcp_ctrl, lambda: LinkState.ESTABLISHED == tcp_plc.link.state
                   == tcp_ctrl.link.state)
        assert tcp_ctrl.link.peer_instance == tcp_plc.link.instance_id
    finally:
        tcp_plc.close()
        tcp_ctrl.close()
    for bad in ("unix:", "tcp:localhost", "carrier-pigeon:x", "serial:/dev/x@fast"):
        with pytest.raises(ContractUsageError):
            open_stream_port(Role.PLC, bad, now_ns=time.monotonic_ns)


def test_both_endpoints_run_under_the_realtime_runner_through_their_filenos(
    tmp_path: Path,
) -> None:
    """Integration with evse.runtime.realtime: one stable fd per adapter for input, one
    scheduler timer for the link's own deadlines (heartbeats, retransmits, reconnects)."""
    clock = MonotonicClock()
    runner = RealtimeRunner(Scheduler(clock))
    endpoint = f"unix:{tmp_path / 'rt.sock'}"
    plc = open_stream_port(Role.PLC, endpoint, now_ns=clock.now_ns)
    ctrl = open_stream_port(Role.CONTROLLER, endpoint, now_ns=clock.now_ns)
    got: list[object] = []

    def on_ctrl(now_ns: int) -> None:
        ctrl.service(0.0)
        got.extend(e.value for e in ctrl.poll(now_ns) if isinstance(e, SignalReceived))

    try:
        runner.add_reader(plc.fileno(), lambda now_ns: plc.service(0.0))
        runner.add_reader(ctrl.fileno(), on_ctrl)
        for adapter in (plc, ctrl):
            runner.scheduler.call_every(50_000_000, lambda now_ns, a=adapter: a.service(0.0),
                                        "contract link timers")
        runner.run_until(clock.now_ns() + 5_000_000_000,
                         stop=lambda: plc.link.state is LinkState.ESTABLISHED)
        plc.publish(PlcSessionEvent(event=SessionEventKind.EV_PLUGGED), clock.now_ns())
        plc.service(0.0)
        runner.run_until(clock.now_ns() + 5_000_000_000, stop=lambda: bool(got))
    finally:
        plc.close()
        ctrl.close()
    assert got == [PlcSessionEvent(event=SessionEventKind.EV_PLUGGED)]

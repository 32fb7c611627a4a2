"""`board: {driver: mcu_uart}` from a station config: the station's pilot on the real MCU
driver, opened from its registry row, against the simulated firmware on a pty.

The simulated world is decoupled from the board: the plant's contactor follows the
contactor feedback the MCU reports over the UART (not the world board's coil), so the same
station runs against a real MCU, a simulator in another process, or one in this process.
At start a missing or silent device is one error naming it and `evse run` exits 2.
"""

from __future__ import annotations

import os
import random
import threading
import time
import tty
from collections.abc import Iterator
from pathlib import Path

import pytest

from drivers.board.mcu import LinkState, McuBoard
from drivers.board.mcu_sim import McuSimulator, PtyMcu
from drivers.board.sim import SimBoard
from evse import cli
from evse.runtime.board_wiring import BoardOpenError, open_board
from evse.runtime.clock import VirtualClock, ms_to_ns
from evse.runtime.config import ConfigError, StationConfig, load_config
from evse.runtime.dc_station import DcStation, SessionConfig
from evse.runtime.mcu_sim_run import McuSimService

S = 1_000_000_000
MCU_TURN_NS = ms_to_ns(1)


def mcu_config(path: Path, device: str, extra: str = "") -> Path:
    path.write_text(
        "station: {name: cm4-test, seed: 5}\n"
        "board:\n"
        "  driver: mcu_uart\n"
        f"  device: {device}\n" + extra +
        "session: {ocpp: \"none\", auth_delay_s: 0.2}\n",
        encoding="utf-8",
    )
    return path


class ConfiguredMcuStation:
    """DcStation from a config naming mcu_uart; the firmware on this process's pty, running
    on the SimBoard the station's simulated car plugs into (its virtual EV)."""

    def __init__(self, tmp: Path) -> None:
        clock = VirtualClock()
        self.pty = PtyMcu()
        self.config = load_config(mcu_config(tmp / "mcu.yaml", self.pty.device))
        board = open_board(self.config, clock.now_ns, handshake=False)
        assert isinstance(board, McuBoard)
        self.board = board
        self.ev_side = SimBoard(clock.now_ns, random.Random(7))
        self.pty.sim = McuSimulator(self.ev_side)
        self.st = DcStation(self.config,
                            SessionConfig(protocol="din", ocpp="none", charge_s=20),
                            clock=clock, board=board, pilot_ev=self.ev_side)
        self.st.sched.call_every(MCU_TURN_NS, self.pty.service, "mcu.firmware")
        self.st.start()

    def close(self) -> None:
        self.st.close()
        self.board.close()
        self.pty.close()


@pytest.fixture
def station(tmp_path: Path) -> Iterator[ConfiguredMcuStation]:
    m = ConfiguredMcuStation(tmp_path)
    yield m
    m.close()


def test_a_station_built_from_an_mcu_uart_config_runs_a_whole_din_session(
    station: ConfiguredMcuStation,
) -> None:
    st = station.st
    assert st.board_external and st.cp.board is station.board
    assert st.world.board is station.ev_side
    st.sched.run_until(1 * S)
    assert station.board.link.state is LinkState.UP
    st.plug_in()
    assert st.sched.run_until_true(lambda: "session ended" in " ".join(
        w for _, w in st.log.milestones) or st.ev.result is not None, limit_ns=90 * S), \
        st.log.milestones
    st.sched.run_for(2 * S)
    result = st.ev.result
    assert result is not None and result.ok, (result, st.log.milestones)
    assert result.current_demands >= 5
    # The plant's contactor followed the feedback the MCU reported over the UART: every
    # change of the simulated plant's contact is a change of the MCU's feedback contact,
    # never earlier (the world board's coil no longer drives the plant).
    plant = [(t, c) for t, c in st.world.contactor.history]
    mcu = st.world.board.contact_log
    assert [c for _, c in plant] == [c for _, c in mcu] == [True, False]
    assert all(tp >= tm for (tp, _), (tm, _) in zip(plant, mcu, strict=True))
    assert station.board.link.stats.link_losses == 0


def test_mcu_uart_without_a_device_is_a_config_error_at_its_line(tmp_path: Path) -> None:
    path = tmp_path / "nodev.yaml"
    path.write_text("board:\n  driver: mcu_uart\n  baud: 115200\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert err.value.line == 2 and "board.device" in str(err.value)


def test_sim_board_builds_no_device(tmp_path: Path) -> None:
    assert open_board(StationConfig(), VirtualClock().now_ns) is None


def _run_cli(config: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, float]:
    t0 = time.monotonic()
    rc = cli.main(["run", "--config", str(config), "--iface", "lo", "--quiet",
                   "--duration", "0.1"])
    return rc, capsys.readouterr().err, time.monotonic() - t0


def test_evse_run_with_a_missing_mcu_device_exits_2_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    cfg = mcu_config(tmp_path / "missing.yaml", "/dev/ttyNOSUCHMCU0")
    rc, err, _ = _run_cli(cfg, capsys)
    assert rc == 2
    assert "/dev/ttyNOSUCHMCU0" in err and "cannot open the MCU UART" in err, err
    assert "Traceback" not in err


@pytest.mark.realtime
def test_evse_run_with_a_silent_mcu_exits_2_after_the_handshake_timeout(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    master, slave = os.openpty()  # a UART with nothing behind it
    try:
        tty.setraw(master)
        device = os.ttyname(slave)
        cfg = mcu_config(tmp_path / "silent.yaml", device, "  handshake_timeout_ms: 300\n")
        rc, err, took = _run_cli(cfg, capsys)
    finally:
        os.close(master)
        os.close(slave)
    assert rc == 2
    assert device in err and "did not answer HELLO within 300 ms" in err, err
    assert "Traceback" not in err
    assert took < 20  # warm-up + 0.3 s, not a hang


@pytest.mark.realtime
def test_an_mcu_with_a_longer_watchdog_than_accepted_is_refused_at_start(
    tmp_path: Path,
) -> None:
    svc = McuSimService()
    thread = threading.Thread(target=svc.run, args=(5 * S,), daemon=True)
    thread.start()
    try:
        cfg = load_config(mcu_config(tmp_path / "wd.yaml", svc.device,
                                     "  max_watchdog_timeout_ms: 1000\n"))
        with pytest.raises(BoardOpenError) as err:
            open_board(cfg, time.monotonic_ns)
        assert "watchdog is 3000 ms" in str(err.value)
        assert "board.max_watchdog_timeout_ms 1000 ms" in str(err.value)
        # The default bound (3000 ms) accepts the same firmware.
        ok = load_config(mcu_config(tmp_path / "ok.yaml", svc.device))
        board = open_board(ok, time.monotonic_ns)
        assert isinstance(board, McuBoard) and board.link.state is LinkState.UP
        board.close()
    finally:
        svc.stop()
        thread.join(5)
        svc.close()


# ------------------------------------------------------------ each mcu_uart parameter's effect

class LinkRig:
    """The board from a config (its registry parameters), the firmware on a pty, virtual
    time stepped by hand every millisecond."""

    def __init__(self, tmp: Path, extra: str) -> None:
        self.clock = VirtualClock()
        self.pty = PtyMcu()
        self.world = SimBoard(self.clock.now_ns, random.Random(3))
        self.pty.sim = McuSimulator(self.world)
        self.sim = self.pty.sim
        cfg = load_config(mcu_config(tmp / "link.yaml", self.pty.device, extra))
        board = open_board(cfg, self.clock.now_ns, handshake=False)
        assert isinstance(board, McuBoard)
        self.board = board

    def run_ms(self, ms: int) -> None:
        for _ in range(ms):
            self.clock.set_ns(self.clock.now_ns() + MCU_TURN_NS)
            now = self.clock.now_ns()
            self.pty.service(now)
            self.board.poll(now)

    def close(self) -> None:
        self.board.close()
        self.pty.close()


def _time_to_loss(rig: LinkRig, limit_ms: int) -> int:
    start = rig.clock.now_ns()
    for _ in range(limit_ms):
        rig.run_ms(1)
        if rig.board.link.state is LinkState.LOST:
            return (rig.clock.now_ns() - start) // 1_000_000
    raise AssertionError("the link was never lost")


def test_mcu_uart_baud_sets_the_line_speed(tmp_path: Path) -> None:
    import termios

    rig = LinkRig(tmp_path, "  baud: 57600\n")
    try:
        attrs = termios.tcgetattr(rig.board.fileno())
        assert attrs[4] == attrs[5] == termios.B57600
    finally:
        rig.close()
    with pytest.raises(ConfigError, match="board.baud must be 9600..4e"):
        load_config(mcu_config(tmp_path / "b.yaml", "/dev/null", "  baud: 300\n"))


def test_mcu_uart_link_timeout_ms_is_when_a_mute_mcu_counts_as_lost(tmp_path: Path) -> None:
    for timeout_ms in (100, 400):
        rig = LinkRig(tmp_path, f"  link_timeout_ms: {timeout_ms}\n")
        try:
            rig.run_ms(100)
            assert rig.board.link.state is LinkState.UP
            rig.sim.mute = True
            took = _time_to_loss(rig, 2000)
            assert timeout_ms - 25 <= took <= timeout_ms + 5, (timeout_ms, took)
            assert "no valid frame" in rig.board.link.lost_reason
        finally:
            rig.close()


def test_mcu_uart_ack_timeout_and_max_resends_bound_an_unacknowledged_command(
    tmp_path: Path,
) -> None:
    """The MCU still streams STATUS but hears nothing: a command is resent every
    ack_timeout_ms, max_resends times, then the link is lost."""
    for ack_ms, resends in ((20, 2), (60, 4)):
        rig = LinkRig(tmp_path, f"  ack_timeout_ms: {ack_ms}\n  max_resends: {resends}\n"
                                "  link_timeout_ms: 2000\n")
        try:
            rig.run_ms(100)
            assert rig.board.link.state is LinkState.UP
            rig.sim.drop_rx = 10_000
            before = rig.board.link.stats.resends
            rig.board.reset_fault()
            took = _time_to_loss(rig, 3000)
            assert rig.board.link.stats.resends - before == resends
            assert (resends + 1) * ack_ms <= took <= (resends + 1) * ack_ms + 5, took
            assert f"after {resends} resends" in rig.board.link.lost_reason
        finally:
            rig.close()

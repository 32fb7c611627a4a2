"""The real MCU driver (drivers.board.mcu) against the simulated firmware on a pty.

Every bound below is a named protocol or pilot parameter with its source.
"""

from __future__ import annotations

import os
import select

import pytest

from drivers.board.mcu import LinkState, McuBoard, McuLinkError, McuParams, TtyStream
from drivers.board.mcu_protocol import (
    ACK_TIMEOUT,
    LINK_TIMEOUT,
    MCU_REACTION,
    MCU_WATCHDOG_TIMEOUT,
    AllowPower,
    Contactor,
    CpMode,
    ErrorCode,
    KeepAlive,
    McuDecodeError,
    SetCp,
    WatchdogState,
)
from drivers.board.mcu_sim import McuSimulator, PtyMcu
from drivers.board.sim import EvCpState, SimBoard, SimBoardParams
from evse.cp.pilot import CP_SAMPLE_PERIOD_NS, T_POWER_OFF_AFTER_C_TO_B_NS, FaultCause
from evse.ports.board import CpOutputMode
from evse.runtime.clock import ms_to_ns
from evse.runtime.scheduler import Scheduler
from tests.mcu.harness import MCU_TURN_NS, Rig

CONTACTOR_OPEN_NS = SimBoardParams().contactor_open_ns


@pytest.fixture
def rig() -> Rig:
    r = Rig()
    yield r
    r.close()


def _opened_at(rig: Rig) -> list[int]:
    return [t for t, closed in rig.world.contact_log if not closed]


def test_handshake_brings_the_link_up_and_flushes_commands_issued_before_it(rig: Rig) -> None:
    rig.run_ms(20)
    link = rig.board.link
    assert link.state is LinkState.UP
    assert link.version is not None and link.version.firmware_id == "evse-mcu-sim 1"
    assert link.version.watchdog_timeout_ms == MCU_WATCHDOG_TIMEOUT.value_ns // 1_000_000
    applied = [type(m) for _, m in rig.sim.applied]
    # The pilot's start-up (X1 entry, first keep-alive) happened before VERSION arrived.
    assert SetCp in applied and KeepAlive in applied
    assert rig.world.output is CpOutputMode.X1
    assert rig.state == "A"


def test_plug_in_goes_b1_then_5_percent_pwm_at_the_mcu_then_energized(rig: Rig) -> None:
    rig.ev(EvCpState.B)
    rig.run(0.1)
    assert rig.state == "plugged.B.B1"
    rig.run(0.6)
    assert rig.state == "plugged.B.B2"
    assert rig.world.output is CpOutputMode.PWM and rig.world.duty_permille == 50
    assert "pp" in rig.kinds() and rig.cp is not None
    assert rig.cp.pp_state.value == "connected"
    rig.ev(EvCpState.C)
    rig.run(0.1)
    rig.post("power_on_request")
    rig.run(0.2)
    assert rig.state == "plugged.C.C2.energized"
    assert rig.world.coil_on and rig.world.contact_closed
    assert rig.cp.contactors_closed  # the feedback came back over the link


def test_c_to_b_opens_the_contactors_within_100_ms_through_the_link(rig: Rig) -> None:
    """IEC 61851-1 Table A.6 seq. 8.1, with the MCU's own interlock and the link latency."""
    rig.charging()
    rig.ev(EvCpState.B)
    t_b = rig.now()
    rig.run(0.2)
    assert _opened_at(rig) and _opened_at(rig)[-1] - t_b <= T_POWER_OFF_AFTER_C_TO_B_NS
    assert rig.state == "plugged.B.B2"
    assert rig.cp is not None and not rig.cp.contactors_closed


def test_power_off_request_opens_and_feedback_reports_it(rig: Rig) -> None:
    rig.charging()
    rig.post("power_off_request")
    rig.run(0.1)
    assert not rig.world.contact_closed and rig.cp is not None and not rig.cp.contactors_closed
    last = [m for _, m in rig.sim.applied if isinstance(m, (AllowPower, Contactor))][-2:]
    assert last == [Contactor(False), AllowPower(False)]


def test_welded_contactor_is_latched_from_the_feedback(rig: Rig) -> None:
    rig.charging()
    rig.world.welded = True
    rig.post("power_off_request")
    rig.run(1.5)
    assert rig.cp is not None and FaultCause.CONTACTOR_WELDED in rig.cp.handler.latched


def test_estop_cuts_the_coils_at_once_and_the_pilot_learns_it(rig: Rig) -> None:
    rig.charging()
    t = rig.now()
    rig.world.press_estop()
    assert rig.world.contact_log[-1] == (t, False)  # hardware cut, no software in the path
    rig.run(0.05)
    assert rig.cp is not None and rig.cp.estop_active
    assert "estop" in rig.kinds() and rig.state == "emergency"


def test_a_corrupted_frame_is_a_counted_crc_error_and_the_link_stays_up(rig: Rig) -> None:
    rig.charging()
    rig.sim.corrupt_next_tx = True
    rig.run(0.1)
    link = rig.board.link
    assert link.stats.rx_errors == {"CRC": 1}
    assert isinstance(link.errors[-1], McuDecodeError) and link.errors[-1].code is ErrorCode.CRC
    assert link.state is LinkState.UP and rig.state == "plugged.C.C2.energized"
    # Line noise on the host's TX: the firmware answers ERROR and the host counts it.
    os.write(rig.board.fileno(), b"\x03\x11\x22\x00")
    rig.run(0.05)
    assert rig.sim.stats.rx_errors == {"CRC": 1}
    assert link.stats.mcu_errors == {"CRC": 1}
    # Garbage that is no COBS at all is its own code.
    os.write(rig.pty.master, b"\x09\x01\x00")
    rig.run(0.05)
    assert link.stats.rx_errors["COBS"] == 1 and link.state is LinkState.UP


def test_a_lost_command_is_resent_with_the_same_sequence_number(rig: Rig) -> None:
    rig.ev(EvCpState.B)
    rig.run(0.1)
    rig.sim.drop_rx = 1  # the next host frame is lost on the wire
    rig.run(0.6)  # the pilot starts 5 % PWM in this window
    assert rig.board.link.stats.resends >= 1
    assert rig.world.output is CpOutputMode.PWM and rig.world.duty_permille == 50
    sets = [m for _, m in rig.sim.applied if isinstance(m, SetCp) and m.mode is CpMode.PWM]
    assert len(sets) == 1  # resent once, applied once


def test_linux_hang_the_mcu_opens_the_contactors_within_its_watchdog_bound(rig: Rig) -> None:
    """The whole Linux side stops (no poll, no keep-alive, nothing read): the MCU alone opens
    the contactors within MCU_WATCHDOG_TIMEOUT + MCU_REACTION + contactor opening time."""
    rig.charging()
    rig.host_running = False
    rig.run(5.0)
    last_ka = max(t for t, m in rig.sim.applied if isinstance(m, KeepAlive))
    opened = _opened_at(rig)
    assert opened, "the MCU never opened the contactors"
    # + one firmware main-loop turn: the watchdog is checked once per turn.
    bound = MCU_WATCHDOG_TIMEOUT.value_ns + MCU_REACTION.value_ns + CONTACTOR_OPEN_NS \
        + MCU_TURN_NS
    assert MCU_WATCHDOG_TIMEOUT.value_ns <= opened[-1] - last_ka <= bound
    # Linux wakes up: it reads the MCU's verdict and latches it (pilot in F).
    rig.host_running = True
    rig.run(0.1)
    assert rig.cp is not None and FaultCause.KEEPALIVE_TIMEOUT in rig.cp.handler.latched
    assert rig.state == "F"
    assert rig.board.link.status is not None
    assert rig.board.link.status.watchdog is WatchdogState.FED  # keep-alive resumed


def test_keepalive_withdrawn_but_loop_running_is_caught_the_same_way(rig: Rig) -> None:
    rig.charging()
    assert rig.cp is not None
    rig.cp.set_keepalive_enabled(False)
    t0 = rig.now()
    rig.run(4.0)
    opened = _opened_at(rig)
    assert opened and opened[-1] - t0 <= MCU_WATCHDOG_TIMEOUT.value_ns + MCU_REACTION.value_ns \
        + CONTACTOR_OPEN_NS + MCU_TURN_NS
    assert FaultCause.KEEPALIVE_TIMEOUT in rig.cp.handler.latched


def test_a_silent_mcu_is_a_lost_link_within_link_timeout_and_the_pilot_faults(rig: Rig) -> None:
    rig.charging()
    rig.sim.mute = True  # the MCU's TX line is cut; it still hears us
    t_cut = rig.now()
    rig.run(0.5)
    lost = [t for t, n in rig.notices if n.kind == "fault_cause"
            and n.data["cause"] == FaultCause.BOARD_LINK_LOST.value]
    assert lost and lost[0] - t_cut <= LINK_TIMEOUT.value_ns + CP_SAMPLE_PERIOD_NS
    assert rig.state == "F" and rig.board.link.state is LinkState.LOST
    # The pilot's F withdrew power and the MCU, which still hears us, opened.
    assert not rig.world.contact_closed
    # The line comes back: the link is UP again, the latch waits for fault_reset.
    rig.sim.mute = False
    rig.run(0.2)
    assert rig.board.link.state is LinkState.UP and rig.board.link.stats.link_losses == 1
    assert FaultCause.BOARD_LINK_LOST in rig.cp.handler.latched  # type: ignore[union-attr]


def test_a_removed_device_is_a_lost_link_at_the_next_poll(rig: Rig) -> None:
    rig.charging()
    rig.pty.close()
    rig.mcu_running = False
    t_cut = rig.now()
    rig.run(0.1)
    lost = [t for t, n in rig.notices if n.kind == "fault_cause"
            and n.data["cause"] == FaultCause.BOARD_LINK_LOST.value]
    assert lost and lost[0] - t_cut <= CP_SAMPLE_PERIOD_NS
    assert "UART" in rig.board.link.lost_reason and rig.state == "F"


def test_ack_timeout_and_resends_bound_the_loss_of_a_deaf_mcu() -> None:
    """The MCU talks but hears nothing: after MAX_RESENDS the link is lost."""
    rig = Rig()
    try:
        rig.charging()
        rig.sim.drop_rx = 10**6
        t0 = rig.now()
        rig.run(1.5)  # the next keep-alive goes unanswered
        assert rig.board.link.state is LinkState.LOST
        assert "no ACK for KEEPALIVE" in rig.board.link.lost_reason
        assert rig.state == "F"
        assert rig.board.link.stats.resends >= 3
        lost_t = [t for t, n in rig.notices if n.kind == "fault_cause"][0]
        assert lost_t - t0 <= 1_000_000_000 + 4 * ACK_TIMEOUT.value_ns + CP_SAMPLE_PERIOD_NS
    finally:
        rig.close()


# --- start-up --------------------------------------------------------------------------------
def _virtual_wait(sched: Scheduler, pty: PtyMcu | None):
    """wait_ready's wait in virtual time: give the kernel a real moment to deliver what the
    host wrote (select, no sleep), advance the virtual clock, run the firmware."""
    def wait(fd: int, seconds: float) -> None:
        if pty is not None:
            select.select([pty.master], [], [], 0.2)
        sched.run_for(max(ms_to_ns(1), round(seconds * 1e9)))
        if pty is not None:
            pty.service(sched.now_ns())
    return wait


def test_wait_ready_returns_the_firmware_version() -> None:
    sched = Scheduler()
    pty = PtyMcu(McuSimulator(SimBoard(sched.now_ns, sched.rng)))
    board = McuBoard.from_params({"device": pty.device}, clock=sched.now_ns)
    try:
        v = board.wait_ready(wait=_virtual_wait(sched, pty))
        assert v.firmware_id == "evse-mcu-sim 1"
    finally:
        board.close()
        pty.close()


def test_a_silent_device_at_start_is_an_error_naming_it() -> None:
    sched = Scheduler()
    pty = PtyMcu(McuSimulator(SimBoard(sched.now_ns, sched.rng)))  # never serviced
    board = McuBoard.from_params({"device": pty.device, "handshake_timeout_ms": 300},
                                 clock=sched.now_ns)
    try:
        with pytest.raises(McuLinkError, match=f"{pty.device}.*did not answer HELLO"):
            board.wait_ready(wait=_virtual_wait(sched, None))
    finally:
        board.close()
        pty.close()


def test_another_protocol_version_is_refused_naming_both() -> None:
    sched = Scheduler()
    pty = PtyMcu(McuSimulator(SimBoard(sched.now_ns, sched.rng), protocol_version=9))
    board = McuBoard(TtyStream(pty.device), sched.now_ns, McuParams(device=pty.device))
    board.start()
    try:
        with pytest.raises(McuLinkError, match="protocol 9, we speak 1"):
            board.wait_ready(wait=_virtual_wait(sched, pty))
        assert not pty.sim.armed
    finally:
        board.close()
        pty.close()


def test_a_missing_device_and_bad_params_are_errors_not_tracebacks(tmp_path) -> None:
    with pytest.raises(McuLinkError, match="/nonexistent/ttyX: cannot open"):
        McuBoard.from_params({"device": "/nonexistent/ttyX"}, clock=lambda: 0)
    with pytest.raises(McuLinkError, match="unknown parameters"):
        McuBoard.from_params({"device": "/dev/null", "bauds": 1}, clock=lambda: 0)
    with pytest.raises(McuLinkError, match="'device' is required"):
        McuBoard.from_params({}, clock=lambda: 0)
    with pytest.raises(McuLinkError, match="baud must be int"):
        McuBoard.from_params({"device": "/dev/null", "baud": "fast"}, clock=lambda: 0)
    with pytest.raises(McuLinkError, match="unsupported baud"):
        McuBoard.from_params({"device": "/dev/null", "baud": 12345}, clock=lambda: 0)
    plain = tmp_path / "file"
    plain.write_bytes(b"")
    with pytest.raises(McuLinkError, match="not a serial device"):
        McuBoard.from_params({"device": str(plain)}, clock=lambda: 0)


@pytest.mark.realtime
def test_on_the_real_clock_the_driver_handshakes_with_the_firmware_service() -> None:
    """The production path: TtyStream without write synchronisation, wait_ready's select,
    the firmware on its own realtime loop in another thread."""
    import threading

    from evse.runtime.clock import MonotonicClock
    from evse.runtime.mcu_sim_run import McuSimService

    svc = McuSimService()
    thread = threading.Thread(target=svc.run, args=(2_000_000_000,), daemon=True)
    thread.start()
    clock = MonotonicClock()
    board = McuBoard.from_params({"device": svc.device}, clock=clock.now_ns)
    try:
        v = board.wait_ready()
        assert v.protocol_version == 1
        board.keep_alive()
        deadline = clock.now_ns() + 500_000_000
        samples = []
        while clock.now_ns() < deadline and not samples:
            select.select([board.fileno()], [], [], 0.05)
            samples = [e for e in board.poll(clock.now_ns()) if hasattr(e, "high_v")]
        assert samples and 11.0 < samples[-1].high_v < 13.0  # state A: +12 V
    finally:
        svc.stop()
        thread.join(2)
        board.close()
        svc.close()

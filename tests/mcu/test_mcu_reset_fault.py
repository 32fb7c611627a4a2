"""The operator's fault reset reaches the safety MCU: RESET_FAULT goes out over the link
and the pilot leaves F only once the MCU has acknowledged it (the MCU owns the interlock,
hardware.md §4.6). Real driver against the simulated firmware on a pty, virtual time."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from drivers.board.mcu import LinkState
from drivers.board.mcu_protocol import ACK_TIMEOUT, ResetFault
from drivers.board.sim import EvCpState
from evse.contract.values import (
    CtrlSessionCommand,
    FaultCode,
    PlcCommandResult,
    PlcFault,
    SessionCommand,
)
from evse.cp.pilot import CP_SAMPLE_PERIOD_NS, FaultCause
from evse.runtime.station import spec
from tests.mcu.harness import Rig
from tests.mcu.test_mcu_station import McuStation

S = 1_000_000_000
T_F_MIN_NS = spec("iec61851").params["t_f_after_fault"].ns


@pytest.fixture
def faulted() -> Iterator[Rig]:
    """Charging, then the MCU's TX is cut: the link is lost and the pilot latches it in F;
    the line comes back (link up) and t_f_after_fault has passed. Only a reset is left."""
    rig = Rig()
    rig.charging()
    rig.sim.mute = True
    rig.run(0.5)
    rig.sim.mute = False
    rig.run(0.5)
    assert rig.board.link.state is LinkState.UP and rig.state == "F"
    assert rig.cp is not None and FaultCause.BOARD_LINK_LOST in rig.cp.handler.latched
    yield rig
    rig.close()


def _resets_applied(rig: Rig) -> list[int]:
    return [t for t, m in rig.sim.applied if isinstance(m, ResetFault)]


def _reset_notices(rig: Rig) -> list[tuple[int, dict[str, object]]]:
    return [(t, n.data) for t, n in rig.notices if n.kind == "fault_reset"]


def test_fault_reset_sends_reset_fault_and_leaves_f_only_after_the_ack(faulted: Rig) -> None:
    rig = faulted
    rig.ev(EvCpState.A)
    rig.run(0.05)
    rig.sim.drop_rx = 1  # the first RESET_FAULT frame is lost on the wire
    t_reset = rig.now()
    rig.post("fault_reset")
    rig.run_ms(ACK_TIMEOUT.value_ns // 1_000_000 - 10)
    # Not acknowledged yet: the MCU has applied nothing, the pilot stays in F, latched.
    assert _resets_applied(rig) == [] and rig.state == "F"
    assert rig.cp is not None and FaultCause.BOARD_LINK_LOST in rig.cp.handler.latched
    assert _reset_notices(rig) == []
    rig.run(0.1)  # the resend (same sequence number) arrives and is acknowledged
    applied = _resets_applied(rig)
    assert len(applied) == 1 and applied[0] - t_reset >= ACK_TIMEOUT.value_ns
    notices = _reset_notices(rig)
    assert [d for _, d in notices] == [{"board_accepted": True, "reason": ""}]
    assert notices[0][0] >= applied[0]  # reported after the MCU applied it
    assert notices[0][0] - applied[0] <= CP_SAMPLE_PERIOD_NS + 2_000_000
    assert rig.state == "A" and not rig.cp.handler.latched
    assert rig.world.output.value == "x1"  # the MCU drives +12 V again


def test_an_mcu_that_refuses_the_reset_keeps_the_pilot_in_f(faulted: Rig) -> None:
    rig = faulted
    rig.ev(EvCpState.A)
    rig.sim.refuse_reset = True
    rig.post("fault_reset")
    rig.run(0.5)
    assert [d for _, d in _reset_notices(rig)] == [
        {"board_accepted": False, "reason": "the safety MCU refused the reset"}]
    assert rig.state == "F" and rig.cp is not None
    assert FaultCause.BOARD_LINK_LOST in rig.cp.handler.latched
    # The firmware's fault cleared: the operator's next reset is accepted.
    rig.sim.refuse_reset = False
    rig.post("fault_reset")
    rig.run(0.1)
    assert rig.state == "A" and len(_resets_applied(rig)) == 1


def test_a_reset_the_mcu_never_answers_is_refused_when_the_link_is_lost(faulted: Rig) -> None:
    """Resends exhaust, the link is lost: the reset is answered no, with the reason, at the
    loss (not left waiting), and the pilot stays in F."""
    rig = faulted
    rig.ev(EvCpState.A)
    rig.sim.drop_rx = 10**6  # the MCU hears nothing any more: resends exhaust, link lost
    rig.post("fault_reset")
    rig.run(1.0)
    assert _resets_applied(rig) == [] and rig.board.link.state is LinkState.LOST
    ((t, data),) = _reset_notices(rig)
    assert data["board_accepted"] is False
    assert str(data["reason"]).startswith("the safety MCU link was lost before it answered")
    assert "no ACK for RESET_FAULT" in str(data["reason"])
    assert rig.state == "F"


def test_a_reset_while_the_link_is_lost_is_refused_at_once(faulted: Rig) -> None:
    rig = faulted
    rig.ev(EvCpState.A)
    rig.sim.mute = True  # the MCU's TX line is cut again: lost after t_link_timeout
    rig.run(0.5)
    assert rig.board.link.state is LinkState.LOST
    t_reset = rig.now()
    rig.post("fault_reset")
    rig.run(0.05)
    ((t, data),) = _reset_notices(rig)
    assert data["board_accepted"] is False and t - t_reset <= CP_SAMPLE_PERIOD_NS + 2_000_000
    assert str(data["reason"]).startswith("the safety MCU link is lost (no valid frame for")
    rig.sim.mute = False  # the line back: nothing cleared by the refused reset
    rig.run(0.5)
    assert _resets_applied(rig) == [] and rig.state == "F"


def test_reset_fault_from_the_controller_reaches_the_mcu_through_the_station() -> None:
    """RESET_FAULT on the contract (ctrl.session_command) -> station -> pilot -> McuBoard ->
    RESET_FAULT frame; the station's plc.fault for the latch clears only after the ACK."""
    ms = McuStation()
    try:
        st = ms.st
        st.sched.run_until(1 * S)
        ms.sim.mute = True
        ms.run_until(lambda: st.cp.state == "F", 1)
        ms.sim.mute = False
        st.sched.run_for(1 * S)
        assert ms.board.link.state is LinkState.UP

        def told_f() -> list[PlcFault]:
            return [v for v in st.controller.received  # type: ignore[union-attr]
                    if isinstance(v, PlcFault) and v.fault_code is FaultCode.CP_STATE_F]

        assert told_f() and told_f()[-1].active

        def results() -> list[PlcCommandResult]:
            return [v for v in st.controller.received  # type: ignore[union-attr]
                    if isinstance(v, PlcCommandResult)]

        port = st.controller.port  # type: ignore[union-attr]
        # The MCU refuses: the controller hears a refusal with the MCU as its reason.
        ms.sim.refuse_reset = True
        port.publish(CtrlSessionCommand(command=SessionCommand.RESET_FAULT), st.sched.now_ns())
        st.sched.run_for(1 * S)
        assert st.cp.state == "F"
        assert [(r.accepted, r.reason) for r in results()] == [
            (False, "the safety MCU refused the reset")]
        ms.sim.refuse_reset = False
        ms.sim.drop_rx = 1  # delay the ACK by one resend
        port.publish(CtrlSessionCommand(command=SessionCommand.RESET_FAULT), st.sched.now_ns())
        st.sched.run_for(ACK_TIMEOUT.value_ns // 2)
        assert st.cp.state == "F" and told_f()[-1].active  # no ACK yet: still reported F
        ms.run_until(lambda: st.cp.state == "A", 1)
        assert [m for _, m in ms.sim.applied if isinstance(m, ResetFault)]
        st.sched.run_for(1 * S)
        assert not told_f()[-1].active
        assert results()[-1].accepted  # reported once the MCU acknowledged
    finally:
        ms.close()

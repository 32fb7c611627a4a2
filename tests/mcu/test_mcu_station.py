"""The whole DC station with its pilot on the MCU link: the real McuBoard driver, the
simulated firmware on a pty running the world's board (whose coil drives the plant's
contactor). A DIN session charges through the link; then the link is cut or Linux hangs."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from drivers.board.mcu import LinkState, McuBoard, McuParams
from drivers.board.mcu_protocol import (
    LINK_TIMEOUT,
    MCU_REACTION,
    MCU_WATCHDOG_TIMEOUT,
    KeepAlive,
)
from drivers.board.mcu_sim import McuSimulator, PtyMcu
from evse.cp.pilot import CP_SAMPLE_PERIOD_NS, FaultCause
from evse.runtime.clock import VirtualClock, ms_to_ns
from evse.runtime.config import StationConfig
from evse.runtime.dc_station import DcStation, SessionConfig

S = 1_000_000_000
MCU_TURN_NS = ms_to_ns(1)


class McuStation:
    def __init__(self) -> None:
        clock = VirtualClock()
        self.pty = PtyMcu()
        self.board = McuBoard(self.pty.open_host(), clock.now_ns,
                              McuParams(device=self.pty.device))
        self.st = DcStation(StationConfig(),
                            SessionConfig(protocol="din", ocpp="none", charge_s=300),
                            clock=clock, board=self.board)
        self.pty.sim = McuSimulator(self.st.world.board)
        self.sim = self.pty.sim
        self.firmware_on = True
        self.st.sched.call_every(MCU_TURN_NS, self._firmware, "mcu.firmware")
        self.board.start()
        self.st.start()

    def _firmware(self, now_ns: int) -> None:
        if self.firmware_on:
            self.pty.service(now_ns)

    def run_until(self, pred: object, limit_s: float) -> None:
        assert callable(pred)
        ok = self.st.sched.run_until_true(pred, limit_ns=round(limit_s * S))
        assert ok, f"not reached in {limit_s} s; milestones {self.st.log.milestones}"

    def charging(self) -> None:
        st = self.st
        st.sched.run_until(1 * S)
        assert self.board.link.state is LinkState.UP
        st.plug_in()
        self.run_until(lambda: st.secc is not None and st.secc.state == "charging"
                       and st.world.plant.connector_current_a > 50, 60)
        assert st.world.board.contact_closed

    def close(self) -> None:
        self.st.close()
        self.board.close()
        self.pty.close()


@pytest.fixture
def ms() -> Iterator[McuStation]:
    m = McuStation()
    yield m
    m.close()


def test_a_din_session_charges_on_the_mcu_link_and_a_cut_link_faults_the_station(
    ms: McuStation,
) -> None:
    ms.charging()
    st = ms.st
    assert ms.board.link.stats.rx_errors == {} and ms.board.link.stats.link_losses == 0
    assert ms.sim.stats.rx_errors == {}
    ms.sim.mute = True  # MCU TX cut: Linux hears nothing
    t_cut = st.sched.now_ns()
    ms.run_until(lambda: FaultCause.BOARD_LINK_LOST in st.cp.handler.latched, 1)
    assert st.sched.now_ns() - t_cut <= LINK_TIMEOUT.value_ns + CP_SAMPLE_PERIOD_NS
    assert st.cp.state == "F"
    st.sched.run_for(1 * S)
    # The pilot's F withdrew power; the MCU, which still hears Linux, opened.
    assert not st.world.board.contact_closed
    assert st.world.plant.connector_current_a < 1.0


def test_a_linux_hang_with_closed_contactors_the_mcu_opens_on_its_own(
    ms: McuStation,
) -> None:
    """Everything on the Linux side stops (the scheduler keeps only the firmware and the
    physics running): the MCU watchdog opens the contactors within its bound. The hang comes
    in cable check, the first phase with closed contactors (cheaper than charging)."""
    st = ms.st
    st.sched.run_until(1 * S)
    st.plug_in()
    ms.run_until(lambda: st.world.board.contact_closed, 30)
    # A hung Linux process: no timer of the station fires any more. Virtual time still moves
    # for the firmware and the world, which do not run on Linux. (The scheduler has no
    # public "list timers"; a test may look at its heap.)
    for handle in list(st.sched._heap):
        if handle.label != "mcu.firmware":
            st.sched.cancel_timer(handle)
    last_ka = max(t for t, m in ms.sim.applied if isinstance(m, KeepAlive))
    st.sched.run_for(5 * S)
    opened = [t for t, closed in st.world.board.contact_log if not closed]
    assert opened, "the MCU never opened the contactors"
    c = st.world.contactor
    # Watchdog, one interlock reaction, one firmware turn, then the shared contactor model's
    # actuation and mirror-contact delays (drivers/sim/contactor.py).
    bound = MCU_WATCHDOG_TIMEOUT.value_ns + MCU_REACTION.value_ns + MCU_TURN_NS \
        + c.actuation_delay_ns + c.feedback_delay_ns
    assert MCU_WATCHDOG_TIMEOUT.value_ns <= opened[-1] - last_ka <= bound

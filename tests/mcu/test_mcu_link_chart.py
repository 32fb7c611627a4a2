"""The MCU link's sequencing is the chart fsm_specs/mcu_link.yaml: sans-IO, in virtual time,
the host link (`McuLink`) against the simulated firmware, bytes handed over in memory.

Bounds are the chart's own params (t_link_timeout, t_handshake) with their sources there.
"""

from __future__ import annotations

import random

import pytest

from drivers.board.mcu import LinkState, McuLink, McuParams, link_spec
from drivers.board.mcu_protocol import (
    ACK_TIMEOUT,
    HANDSHAKE_TIMEOUT,
    LINK_TIMEOUT,
    MAX_RESENDS,
    PROTOCOL_VERSION,
    CpMode,
    KeepAlive,
    SetCp,
)
from drivers.board.mcu_sim import McuSimulator
from drivers.board.sim import SimBoard
from evse.ports.board import BoardFault, BoardFaultKind

MS = 1_000_000
#: The chart's safe state: the link is lost (LINK_LOST raised, outstanding commands dropped).
SAFE_STATE = "lost"


class Wire:
    """Host link and firmware on one virtual clock, stepped every millisecond."""

    def __init__(self, **params: float) -> None:
        self.now = 0
        self.world = SimBoard(lambda: self.now, random.Random(1))
        self.sim = McuSimulator(self.world)
        self.link = McuLink(McuParams(device="mem", **params))  # type: ignore[arg-type]
        self.cut_mcu_tx = False
        self.faults: list[BoardFault] = []
        self.link.start(self.now)

    def step_ms(self, ms: int = 1) -> None:
        for _ in range(ms):
            self.now += MS
            self.sim.receive(self.link.data_to_send(), self.now)
            self.sim.step(self.now)
            data = self.sim.data_to_send()
            if data and not self.cut_mcu_tx:
                self.link.receive(data, self.now)
            self.link.handle_timer(self.now)
            self.faults += [e for e in self.link.take_events() if isinstance(e, BoardFault)]

    def until(self, state: LinkState, limit_ms: int) -> int:
        for _ in range(limit_ms):
            if self.link.state is state:
                return self.now
            self.step_ms()
        raise AssertionError(f"link never {state}: {self.link.machine.state}")


def test_the_chart_is_the_link_and_its_timers_are_sourced_params() -> None:
    spec = link_spec()
    assert {s.path for s in spec.iter_states()} == {"connecting", "up", "up.listening", "lost"}
    # The chart's defaults are the protocol's (the driver also passes its configured
    # values as overrides, so the two cannot drift apart unnoticed).
    assert spec.params["t_link_timeout"].ns == LINK_TIMEOUT.value_ns
    assert spec.params["t_handshake"].ns == HANDSHAKE_TIMEOUT.value_ns
    assert "LINK_TIMEOUT" in spec.params["t_link_timeout"].ref
    assert "HANDSHAKE_TIMEOUT" in spec.params["t_handshake"].ref


@pytest.mark.req("PLC-6.5")
def test_a_silent_mcu_ends_in_the_safe_state_within_t_link_timeout() -> None:
    w = Wire()
    w.until(LinkState.UP, 50)
    w.step_ms(100)
    w.link.command(SetCp(CpMode.PWM, 50), w.now)
    w.cut_mcu_tx = True  # no more frames from the MCU (its TX line cut)
    last_rx = w.now
    bound_ns = link_spec().params["t_link_timeout"].ns
    lost_at = w.until(LinkState.LOST, 1000)
    assert w.link.machine.state == SAFE_STATE
    # Lost no later than the bound after the last frame (plus the 1 ms step), not before
    # the MCU could have missed ten STATUS periods.
    assert bound_ns - 20 * MS <= lost_at - last_rx <= bound_ns + MS, (lost_at - last_rx) // MS
    assert [f.kind for f in w.faults] == [BoardFaultKind.LINK_LOST]
    assert w.link.stats.link_losses == 1
    # Staying lost raises nothing more; HELLO keeps going out to bring the MCU back.
    w.step_ms(500)
    assert [f.kind for f in w.faults] == [BoardFaultKind.LINK_LOST]
    assert w.link.machine.state == SAFE_STATE


def test_the_config_link_timeout_is_the_chart_param() -> None:
    w = Wire(link_timeout_ms=80.0)
    assert w.link.machine.param_ns("t_link_timeout") == 80 * MS
    w.until(LinkState.UP, 50)
    w.cut_mcu_tx = True
    start = w.now
    lost_at = w.until(LinkState.LOST, 1000)
    assert 60 * MS <= lost_at - start <= 81 * MS


def test_status_alone_does_not_bring_a_lost_link_back_only_a_version_does() -> None:
    w = Wire()
    w.until(LinkState.UP, 50)
    w.cut_mcu_tx = True
    w.until(LinkState.LOST, 1000)
    # The MCU is deaf but talks again: its STATUS frames arrive, HELLO never reaches it.
    w.sim.drop_rx = 10**6
    w.cut_mcu_tx = False
    w.step_ms(300)
    assert w.link.state is LinkState.LOST
    # It hears again: the next HELLO resend gets a VERSION and the link is up.
    w.sim.drop_rx = 0
    w.until(LinkState.UP, ACK_TIMEOUT.value_ns // MS + 5)
    assert w.link.machine.state == "up.listening"


def test_unacknowledged_command_exhausts_resends_only_when_up() -> None:
    """While connecting HELLO is resent without limit; once up, MAX_RESENDS resends of a
    command without ACK lose the link (the chart's resends_exhausted)."""
    w = Wire(handshake_timeout_ms=10_000.0)
    w.sim.drop_rx = 10**6
    w.step_ms(ACK_TIMEOUT.value_ns // MS * (MAX_RESENDS + 3))
    assert w.link.state is LinkState.CONNECTING and w.link.stats.resends > MAX_RESENDS
    w.sim.drop_rx = 0
    w.until(LinkState.UP, 100)
    w.sim.drop_rx = 10**6
    before = w.link.stats.resends
    w.link.command(KeepAlive(), w.now)
    w.until(LinkState.LOST, 1000)
    assert w.link.stats.resends - before == MAX_RESENDS
    assert w.link.lost_reason == "no ACK for KEEPALIVE after 3 resends"


def test_no_version_within_t_handshake_is_a_lost_link_naming_it() -> None:
    w = Wire(handshake_timeout_ms=300.0)
    w.sim.drop_rx = 10**6
    lost_at = w.until(LinkState.LOST, 1000)
    assert 300 * MS <= lost_at <= 301 * MS
    assert "did not answer HELLO within 300 ms" in w.link.lost_reason
    assert [f.kind for f in w.faults] == [BoardFaultKind.LINK_LOST]


def test_commands_before_the_handshake_wait_and_go_out_once_up() -> None:
    w = Wire()
    w.link.command(SetCp(CpMode.F, 1000), w.now)
    w.link.command(SetCp(CpMode.X1, 1000), w.now)  # supersedes the first (latest per type)
    w.until(LinkState.UP, 50)
    w.step_ms(10)
    assert [m for _, m in w.sim.applied] == [SetCp(CpMode.X1, 1000)]


@pytest.mark.parametrize("version", [PROTOCOL_VERSION + 1])
def test_another_protocol_version_loses_the_link_with_both_named(version: int) -> None:
    w = Wire()
    w.sim.protocol_version = version
    w.until(LinkState.LOST, 50)
    assert f"MCU speaks protocol {version}, we speak {PROTOCOL_VERSION}" in w.link.lost_reason
    assert w.link.version is None
    assert w.link.status is None  # no STATUS is taken from an MCU we refused

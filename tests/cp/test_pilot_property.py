"""Fault injection: whatever the EV, the board and the other components do, power is only
allowed in C/D with PWM running, and it is withdrawn within the bound when that ends."""

from __future__ import annotations

from hypothesis import settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from drivers.board.sim import EvCpState
from evse.cp.pilot import T_POWER_OFF_AFTER_C_TO_B_NS
from evse.ports.board import CpOutputMode
from tests.cp.harness import Cp

STEP_NS = 5_000_000


class PilotUnderFire(RuleBasedStateMachine):
    @initialize(seed=st.integers(0, 2**16))
    def setup(self, seed: int) -> None:
        self.h = Cp(seed=seed)
        self.left_cd_at: int | None = None

    def _ev_changed(self) -> None:
        in_cd = self.h.board.ev_state in (EvCpState.C, EvCpState.D)
        if not in_cd and self.left_cd_at is None:
            self.left_cd_at = self.h.sched.now_ns()
        elif in_cd:
            self.left_cd_at = None

    @rule(state=st.sampled_from(list(EvCpState)))
    def ev_switches(self, state: EvCpState) -> None:
        self.h.ev(state)
        self._ev_changed()

    @rule()
    def ev_starts_charging(self) -> None:
        # Bias the search towards the interesting region: energized, then faults.
        self.h.ev(EvCpState.B)
        self._ev_changed()
        self.time_passes(120)
        self.h.ev(EvCpState.C)
        self._ev_changed()
        self.time_passes(10)
        self.h.post("power_on_request")
        self.time_passes(10)

    @rule(ok=st.booleans())
    def ev_diode(self, ok: bool) -> None:
        self.h.board.ev_diode_ok = ok

    @rule(name=st.sampled_from(
        ["power_on_request", "power_off_request", "hlc_suspend", "hlc_resume", "wake_up",
         "fault", "fault_reset"]
    ))
    def component_asks(self, name: str) -> None:
        self.h.post(name)
        self.check()

    @rule(press=st.booleans())
    def estop(self, press: bool) -> None:
        if press:
            self.h.board.press_estop()
        else:
            self.h.board.release_estop()

    @rule(steps=st.integers(1, 200))
    def time_passes(self, steps: int) -> None:
        for _ in range(steps):
            self.h.sched.run_for(STEP_NS)
            self.check()

    def check(self) -> None:
        b = self.h.board
        now = self.h.sched.now_ns()
        if b.allow:
            # Linux never grants power without PWM running...
            assert b.output is CpOutputMode.PWM, self.h.state
            assert self.h.state.endswith(".energized"), self.h.state
            # ...nor longer than the bound after the EV left C/D.
            if self.left_cd_at is not None:
                assert now - self.left_cd_at <= T_POWER_OFF_AFTER_C_TO_B_NS, self.h.state
        if b.estop:
            assert not b.contact_closed or b.welded

    @invariant()
    def contacts_follow_permission(self) -> None:
        b = self.h.board
        if b.contact_closed and not b.welded:
            # Closed contacts mean a powered coil, or a coil switched off whose contacts
            # are still moving (the feedback delay).
            assert b.coil_on or b.next_deadline_ns() is not None


PilotUnderFire.TestCase.settings = settings(max_examples=60, stateful_step_count=30)
test_pilot_under_fire = PilotUnderFire.TestCase

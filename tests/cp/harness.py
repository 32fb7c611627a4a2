"""A station with the default config, driven in virtual time."""

from __future__ import annotations

from drivers.board.sim import EvCpState
from evse.runtime.clock import ms_to_ns, s_to_ns
from evse.runtime.config import StationConfig
from evse.runtime.station import Station


class Cp:
    def __init__(self, seed: int = 1) -> None:
        self.st = Station(StationConfig(seed=seed))
        self.st.start()
        self.sched = self.st.scheduler
        self.board = self.st.board
        self.cp = self.st.cp

    @property
    def state(self) -> str:
        return self.cp.state

    def run(self, seconds: float) -> None:
        self.sched.run_for(s_to_ns(seconds))

    def run_ms(self, ms: float) -> None:
        self.sched.run_for(ms_to_ns(ms))

    def ev(self, state: EvCpState) -> None:
        self.board.set_ev_state(state)

    def post(self, name: str) -> None:
        self.st.post_cp(name, source="test")
        self.sched.drain()

    def charging(self) -> None:
        """Plug in, wait for 5 % PWM, EV ready, contactors closed."""
        self.ev(EvCpState.B)
        self.run(1.0)
        self.ev(EvCpState.C)
        self.run(0.1)
        self.post("power_on_request")
        self.run(0.1)
        assert self.state == "plugged.C.C2.energized"
        assert self.board.contact_closed

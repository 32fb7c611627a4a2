"""The real station's PLC side (`DcStation`: pilot, SLAC, SECC, power path, guard) at one
end of the contract, the scripted controller (`MiniController`) at the other.

What the contract tests prove is then the PLC we ship: every signal the controller gets is
one the station's own parts published. The station runs in virtual time on its scheduler;
the controller and, for the stream transport, the wire are stepped by a 10 ms task on the
same scheduler (the station itself polls the contract at its 10 ms power tick).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from evse.contract.events import SignalReceived
from evse.contract.guard import GuardDecision
from evse.contract.inprocess import InProcessLink
from evse.contract.link import StreamLink
from evse.contract.values import (
    PlcSessionEvent,
    Role,
    SessionEventKind,
    SignalValue,
    StopReason,
    V2gPhase,
)
from evse.runtime.config import AuthSection, StationConfig
from evse.runtime.dc_station import DcStation, SessionConfig
from tests.contract.session import MS, MiniController, S, Timing
from tests.contract.wire import CTRL_INSTANCE, Wire

#: The controller's cadence against the real station: limits every 500 ms valid 2 s, the
#: driver's card accepted 3 s after the car asks.
TIMING = Timing(slac_ns=0, setup_ns=0, cable_check_ns=0, precharge_ns=0, charge_ns=0,
                cadence_ns=0, limits_period_ns=500 * MS, limits_validity_ms=2000,
                auth_delay_ns=3 * S)
STEP_NS = 10 * MS
#: How late the station can act on a contract value: it polls the link at its power tick.
POLL_NS = 10 * MS

class RealStation:
    """DcStation (PLC side only, contract_port) + MiniController over one transport."""

    def __init__(self, transport: str, *, charge_s: float = 10.0, protocol: str = "iso2",
                 auth_timeout_eim_s: float | None = None) -> None:
        self.transport = transport
        self.wire: Wire | None = None
        self.link: InProcessLink | None = None
        if transport == "inprocess":
            self.link = InProcessLink()
            plc_port, ctrl_port = self.link.plc, self.link.controller
        else:
            self.wire = Wire()
            self.wire.collect = False
            self.wire.connect()
            plc_port, ctrl_port = self.wire.plc, self.wire.ctrl
        config = StationConfig()
        if auth_timeout_eim_s is not None:
            config = replace(config, auth=AuthSection(timeout_eim_s=auth_timeout_eim_s))
        self.station = DcStation(config, SessionConfig(protocol=protocol, charge_s=charge_s),
                                 contract_port=plc_port)
        self.ctrl = MiniController(ctrl_port, TIMING)
        self.old_ctrl = self.ctrl
        self._mini = MiniController
        self.sched = self.station.sched
        self.sched.call_every(STEP_NS, self._step, "test.controller")
        #: (time, phase) of every SECC phase the station gave its guard.
        self.phase_log: list[tuple[int, V2gPhase]] = []
        guard_set_phase = self.station.guard.set_phase

        self._on_phase: list[tuple[V2gPhase, int, Callable[[], None]]] = []

        def set_phase(phase: V2gPhase, now_ns: int) -> list[GuardDecision]:
            self.phase_log.append((now_ns, phase))
            for hook in [h for h in self._on_phase if h[0] is phase]:
                self._on_phase.remove(hook)
                self.at(now_ns + hook[1], hook[2])
            return guard_set_phase(phase, now_ns)

        self.station.guard.set_phase = set_phase  # type: ignore[method-assign]
        self.station.start()

    def after_phase(self, phase: V2gPhase, delay_ns: int, action: Callable[[], None]) -> None:
        """Run `action` `delay_ns` after the SECC first enters `phase`."""
        self._on_phase.append((phase, delay_ns, action))

    def phase_since(self, phase: V2gPhase) -> int:
        """When the SECC first entered `phase`."""
        return next(t for t, p in self.phase_log if p is phase)

    @property
    def guard(self):  # type: ignore[no-untyped-def]
        return self.station.guard

    def _step(self, now_ns: int) -> None:
        wire = self.wire
        if wire is not None:
            wire.now_ns = now_ns
            wire.plc.handle_timer(now_ns)
            wire.ctrl.handle_timer(now_ns)
            wire.pump()
        self.ctrl.tick(now_ns)
        if wire is not None:
            wire.pump()

    def at(self, t_ns: int, action: object) -> None:
        assert callable(action)
        self.sched.call_at(t_ns, lambda _now: action(), "test.fault")

    # ---------------------------------------------------------------- one whole session
    def run_session(self, *, limit_s: float = 200.0) -> None:
        """Plug in at 1 s, run until the car's session is over, unplug, let it settle."""
        st = self.station
        self.sched.run_until(1 * S)
        st.plug_in()
        ok = self.sched.run_until_true(lambda: st.log.ev_result is not None,
                                       limit_ns=round(limit_s * S))
        assert ok, f"session did not end; milestones {st.log.milestones}"
        self.sched.run_for(3 * S)
        st.unplug()
        self.sched.run_for(2 * S)
        st.close()

    # ---------------------------------------------------------------- faults on the link
    @property
    def now(self) -> int:
        return self.sched.now_ns()

    def cut(self) -> None:
        if self.wire is not None:
            self.wire.now_ns = self.now
            self.wire.cut()
        else:
            assert self.link is not None
            self.link.sever(self.now)

    def reconnect(self) -> None:
        if self.wire is None:
            assert self.link is not None
            self.link.restore(self.now)
            return
        self.wire.now_ns = self.now
        self.wire.connect()

    def restart_controller(self) -> None:
        assert self.wire is not None
        self.wire.now_ns = self.now
        self.wire.ctrl = StreamLink(Role.CONTROLLER, CTRL_INSTANCE + 1)
        self.old_ctrl = self.ctrl
        self.ctrl = self._mini(self.wire.ctrl, TIMING, next_limits_ns=self.now)
        self.wire.connect()

    # ---------------------------------------------------------------- what the controller saw
    def received(self, ctrl: object | None = None) -> list[SignalValue]:
        c = ctrl or self.ctrl
        return list(c.received)  # type: ignore[attr-defined]

    def of_type(self, cls: type, ctrl: object | None = None) -> list[SignalValue]:
        return [v for v in self.received(ctrl) if isinstance(v, cls)]

    def session_events(self, ctrl: object | None = None) -> list[
            tuple[SessionEventKind, StopReason | None]]:
        """Every milestone that reached the controller's port (a hung one's too)."""
        c = ctrl or self.ctrl
        return [(e.value.event, e.value.stop_reason) for e in c.events  # type: ignore[attr-defined]
                if isinstance(e, SignalReceived) and isinstance(e.value, PlcSessionEvent)]

    def signal_times(self, cls: type) -> list[int]:
        """When the controller got each value of `cls` (from its port events)."""
        return [e.rx_ns for e in self.ctrl.events
                if isinstance(e, SignalReceived) and isinstance(e.value, cls)]

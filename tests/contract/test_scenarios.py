"""Whole sessions and the faults of Deliverable 2 C2, on both transports, in virtual time.

Each scenario runs unchanged over the in-process link (single-process station) and over
the CBOR stream link (two-process station); bounds are checked to the nanosecond on the
guard's recorded stop.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from evse.contract.events import SignalReceived
from evse.contract.guard import (
    AUTH_TIMEOUT_EIM_NS,
    LINK_LOSS_GRACE_NS,
    SAFE_DEFAULT_ENVELOPE_TTL_NS,
)
from evse.contract.inprocess import InProcessLink
from evse.contract.link import StreamLink
from evse.contract.values import (
    PlcSessionEvent,
    PlcV2gPhase,
    Role,
    SessionEventKind,
    StopReason,
    V2gPhase,
)
from tests.contract.session import (
    FULL_SESSION_EVENTS,
    MS,
    VIRTUAL,
    MiniController,
    MiniPlc,
    S,
)
from tests.contract.wire import CTRL_INSTANCE, Wire

TRANSPORTS = ["inprocess", "stream"]


class Station:
    """Both sides and one transport, stepped from wakeup to wakeup in virtual time."""

    def __init__(self, transport: str) -> None:
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
        self.plc = MiniPlc(plc_port, VIRTUAL)
        self.ctrl = MiniController(ctrl_port, VIRTUAL)
        self.now = 0
        self.faults: list[tuple[int, Callable[[], None]]] = []
        self.old_ctrl = self.ctrl

    def at(self, t_ns: int, action: Callable[[], None]) -> None:
        self.faults.append((t_ns, action))
        self.faults.sort(key=lambda f: f[0])

    def _wakeups(self) -> list[int]:
        out = [t for t, _ in self.faults]
        for w in (self.plc.next_wakeup_ns(), self.ctrl.next_wakeup_ns()):
            if w is not None:
                out.append(w)
        if self.wire is not None:
            for link in (self.wire.plc, self.wire.ctrl):
                d = link.next_deadline_ns()
                if d is not None:
                    out.append(d)
        return out

    def run(self, until_ns: int = 600 * S) -> None:
        while (not self.plc.done or self.faults) and self.now <= until_ns:
            while self.faults and self.faults[0][0] <= self.now:
                self.faults.pop(0)[1]()
            for _ in range(3):  # let answers cross within the same instant
                self.ctrl.tick(self.now)
                self._pump()
                self.plc.tick(self.now)
                self._pump()
            self.now = max(self.now + 1, min(self._wakeups(), default=until_ns + 1))
        for _ in range(3):  # deliver the last publications
            if self.wire is not None:
                self.wire.pump()
            self.ctrl.tick(self.now)

    def _pump(self) -> None:
        if self.wire is not None:
            self.wire.now_ns = self.now
            self.wire.pump()

    # faults -------------------------------------------------------------------------

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
        self.ctrl = MiniController(self.wire.ctrl, VIRTUAL, next_limits_ns=self.now)
        self.wire.connect()


def summary(st: Station) -> tuple[object, ...]:
    return (st.plc.stop_reason, st.plc.end_ns, st.ctrl.session_events(),
            len(st.plc.setpoints_a), sorted(set(st.plc.setpoints_a)))


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_full_session_reaches_every_milestone_and_respects_controller_limits(
    transport: str,
) -> None:
    st = Station(transport)
    st.run()
    assert st.plc.stop_reason is StopReason.EV_REQUESTED
    assert st.ctrl.session_events() == FULL_SESSION_EVENTS
    assert set(st.plc.setpoints_a) == {200.0}  # min(EV 250 A, controller 200 A, 375 A power)
    assert st.plc.guard.session_stops == []


def test_both_transports_give_the_same_observable_session() -> None:
    a, b = Station("inprocess"), Station("stream")
    a.run()
    b.run()
    assert summary(a) == summary(b)
    assert [type(v) for v in a.ctrl.received] == [type(v) for v in b.ctrl.received]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_controller_silent_during_authorization_ends_the_session_at_the_auth_timeout(
    transport: str,
) -> None:
    st = Station(transport)
    st.ctrl.accept_auth = True
    st.at(1 * S, lambda: setattr(st.ctrl, "alive", False))
    st.run()
    auth_start = VIRTUAL.slac_ns + VIRTUAL.setup_ns
    assert st.plc.stop_reason is StopReason.AUTH_TIMEOUT
    [stop] = st.plc.guard.session_stops
    assert stop.since_ns == auth_start + AUTH_TIMEOUT_EIM_NS
    assert st.plc.end_ns is not None and \
        st.plc.end_ns - stop.since_ns < VIRTUAL.cadence_ns  # acted on the next EV request
    assert st.plc.charge_start_ns is None


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_controller_silent_from_cable_check_charges_on_the_safe_envelope_then_stops(
    transport: str,
) -> None:
    st = Station(transport)
    cable_check_at = VIRTUAL.slac_ns + 2 * VIRTUAL.setup_ns + VIRTUAL.auth_delay_ns
    st.at(cable_check_at, lambda: setattr(st.ctrl, "alive", False))
    st.run()
    assert st.plc.charge_start_ns is not None  # cable check and precharge went on
    assert st.plc.stop_reason is StopReason.LIMITS_EXPIRED
    [stop] = st.plc.guard.session_stops
    assert stop.since_ns == st.plc.charge_start_ns + SAFE_DEFAULT_ENVELOPE_TTL_NS
    assert set(st.plc.setpoints_a[:-1]) == {250.0}  # safe default: 500 A x 0.5, EV wants 250


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_controller_silent_during_charging_stops_when_its_last_limits_expire(
    transport: str,
) -> None:
    st = Station(transport)
    st.at(25 * S, lambda: setattr(st.ctrl, "alive", False))
    st.run()
    assert st.plc.stop_reason is StopReason.LIMITS_EXPIRED
    last_limits_rx = st.ctrl.limits_sent_ns[-1]
    assert 25 * S - VIRTUAL.limits_period_ns <= last_limits_rx < 25 * S
    [stop] = st.plc.guard.session_stops
    assert stop.since_ns == last_limits_rx + VIRTUAL.limits_validity_ms * MS
    assert st.plc.setpoints_a[-1] == 0.0
    told = [e.value for e in st.ctrl.events if isinstance(e, SignalReceived)
            and isinstance(e.value, PlcSessionEvent)]
    assert (told[-2].event, told[-2].stop_reason) == (SessionEventKind.SESSION_STOPPED,
                                                      StopReason.LIMITS_EXPIRED)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_controller_link_lost_for_good_stops_within_the_link_loss_grace(transport: str) -> None:
    st = Station(transport)
    cut_at = 25 * S
    st.at(cut_at, st.cut)
    st.run()
    assert st.plc.stop_reason is StopReason.CONTROLLER_LINK_LOST
    [stop] = st.plc.guard.session_stops
    before_cut = [t for t in st.ctrl.limits_sent_ns if t < cut_at]
    last_limits_until = before_cut[-1] + VIRTUAL.limits_validity_ms * MS
    assert stop.since_ns == min(cut_at + LINK_LOSS_GRACE_NS, last_limits_until)
    assert stop.since_ns <= cut_at + LINK_LOSS_GRACE_NS


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_link_drop_and_return_mid_session_loses_nothing_and_keeps_charging(
    transport: str,
) -> None:
    st = Station(transport)
    st.at(25 * S, st.cut)
    st.at(25 * S + 400 * MS, st.reconnect)
    st.run()
    assert st.plc.stop_reason is StopReason.EV_REQUESTED
    assert st.ctrl.session_events() == FULL_SESSION_EVENTS
    assert st.plc.guard.session_stops == []


def test_controller_restart_mid_charge_is_survived_when_it_is_back_within_the_grace() -> None:
    st = Station("stream")
    st.at(25 * S, st.cut)
    st.at(25 * S + 500 * MS, st.restart_controller)
    st.run()
    assert st.plc.stop_reason is StopReason.EV_REQUESTED
    assert st.plc.port.counters.peer_restarts == 1  # type: ignore[attr-defined]
    new_ctrl_phases = [v.phase for v in st.ctrl.received if isinstance(v, PlcV2gPhase)]
    assert new_ctrl_phases[0] is V2gPhase.CURRENTDEMAND  # republished for the newcomer
    assert [e for e, _ in st.ctrl.session_events()] == [
        SessionEventKind.POWER_DELIVERY_STOP, SessionEventKind.SESSION_STOPPED,
        SessionEventKind.EV_UNPLUGGED]
    assert st.old_ctrl.session_events() == FULL_SESSION_EVENTS[:4]


def test_controller_restart_that_takes_too_long_stops_with_link_lost() -> None:
    st = Station("stream")
    st.at(25 * S, st.cut)
    st.at(28 * S, st.restart_controller)
    st.run()
    assert st.plc.stop_reason is StopReason.CONTROLLER_LINK_LOST
    before_cut = [t for t in st.old_ctrl.limits_sent_ns if t < 25 * S]
    last_limits_until = before_cut[-1] + VIRTUAL.limits_validity_ms * MS
    assert st.plc.guard.session_stops[0].since_ns == min(25 * S + LINK_LOSS_GRACE_NS,
                                                         last_limits_until)
    received = [e for e in st.ctrl.events if isinstance(e, SignalReceived)]
    assert received  # the restarted controller still learns how the session ended
    assert (SessionEventKind.SESSION_STOPPED, StopReason.CONTROLLER_LINK_LOST) in \
        st.ctrl.session_events()

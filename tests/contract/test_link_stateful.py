"""Stateful fault injection on the stream link: any interleaving of publishing, cuts,
reconnects, corruption and time jumps.

Invariants: what arrives is always a subsequence of what was published (in order, no
duplicates, nothing invented); once the line heals, every EVENT sample and the latest
sample of every STATE signal has arrived.
"""

from __future__ import annotations

from typing import Any

from hypothesis import settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from evse.contract.definition import DEFINITION, SignalKind
from evse.contract.link import LinkState
from evse.contract.values import (
    IsolationStatus,
    MeasDcOutput,
    PlcSessionEvent,
    PlcV2gPhase,
    Role,
    SessionEventKind,
    V2gPhase,
)
from tests.contract.wire import Wire

MS = 1_000_000


def _flip(data: bytes, pos: int) -> bytes:
    if not data:
        return data
    buf = bytearray(data)
    buf[pos % len(buf)] ^= 0x41
    return bytes(buf)


class LinkMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.wire = Wire()
        self.wire.connect()
        self.published: list[Any] = []
        self.n = 0

    def _next(self) -> int:
        self.n += 1
        return self.n

    @rule(kind=st.sampled_from(list(SessionEventKind)))
    def publish_event(self, kind: SessionEventKind) -> None:
        v = PlcSessionEvent(event=kind, session_id=f"{self._next():X}")
        self.wire.plc.publish(v, self.wire.now_ns)
        self.published.append(v)

    @rule()
    def publish_measurement(self) -> None:
        v = MeasDcOutput(present_voltage_v=400.0, present_current_a=1.0,
                         energy_wh=float(self._next()), isolation_status=IsolationStatus.VALID)
        self.wire.plc.publish(v, self.wire.now_ns)
        self.published.append(v)

    @rule(phase=st.sampled_from(list(V2gPhase)))
    def publish_phase(self, phase: V2gPhase) -> None:
        self.wire.plc.publish(PlcV2gPhase(phase=phase), self.wire.now_ns)
        self.published.append(PlcV2gPhase(phase=phase))

    @rule()
    def pump(self) -> None:
        self.wire.pump()

    @rule(dt_ms=st.integers(1, 1500))
    def advance(self, dt_ms: int) -> None:
        self.wire.advance(dt_ms * MS)

    @precondition(lambda self: self.wire.connected)
    @rule()
    def cut(self) -> None:
        self.wire.cut()

    @precondition(lambda self: not self.wire.connected)
    @rule()
    def reconnect(self) -> None:
        self.wire.connect()

    @rule(pos=st.integers(0, 500), to_ctrl=st.booleans())
    def corrupt_next_burst(self, pos: int, to_ctrl: bool) -> None:
        if to_ctrl:
            self.wire.mangle_to_ctrl = lambda data: _flip(data, pos)
        else:
            self.wire.mangle_to_plc = lambda data: _flip(data, pos)
        self.wire.pump(rounds=1)
        self.wire.mangle_to_ctrl = self.wire.mangle_to_plc = lambda data: data

    @invariant()
    def arrivals_are_a_subsequence_of_publications(self) -> None:
        got = self.wire.received(Role.CONTROLLER)
        it = iter(self.published)
        # PlcV2gPhase values may repeat; match greedily in order
        assert all(any(g == p for p in it) for g in got), "delivered out of order or invented"

    def teardown(self) -> None:
        w = self.wire
        for _ in range(10):
            if not w.connected or LinkState.DISCONNECTED in (w.plc.state, w.ctrl.state):
                if w.connected:
                    w.cut()
                w.connect()
            w.advance(600 * MS)
        got = w.received(Role.CONTROLLER)
        events = [v for v in self.published
                  if DEFINITION.signals[v.SIGNAL].kind is SignalKind.EVENT]
        assert [v for v in got if DEFINITION.signals[v.SIGNAL].kind is SignalKind.EVENT] \
            == events
        for name in {v.SIGNAL for v in self.published}:
            last_pub = [v for v in self.published if name == v.SIGNAL][-1]
            last_got = [v for v in got if name == v.SIGNAL][-1]
            assert last_got == last_pub


LinkMachine.TestCase.settings = settings(max_examples=60, stateful_step_count=30,
                                         deadline=None)
TestLinkUnderFaults = LinkMachine.TestCase

"""The in-process link keeps the stream link's semantics as seen through ContractPort."""

from __future__ import annotations

import pytest

from evse.contract.errors import ContractUsageError
from evse.contract.events import LinkDown, LinkUp, SignalReceived
from evse.contract.inprocess import InProcessLink
from evse.contract.values import (
    AuthStatus,
    CtrlAuthStatus,
    PlcSessionEvent,
    PlcV2gPhase,
    SessionEventKind,
    V2gPhase,
)


def test_values_arrive_once_in_order_with_the_receive_time_after_a_link_up() -> None:
    link = InProcessLink()
    a, b = PlcV2gPhase(phase=V2gPhase.SLAC), PlcV2gPhase(phase=V2gPhase.SDP)
    link.plc.publish(a, 5)
    link.plc.publish(b, 6)
    events = link.controller.poll(7)
    assert isinstance(events[0], LinkUp)
    assert events[1:] == [SignalReceived(a, 5), SignalReceived(b, 6)]
    assert link.controller.poll(8) == []


def test_direction_is_enforced_as_on_the_stream_link() -> None:
    link = InProcessLink()
    with pytest.raises(ContractUsageError):
        link.plc.publish(CtrlAuthStatus(status=AuthStatus.ACCEPTED), 0)


def test_a_severed_link_reports_link_down_and_holds_publications_like_the_stream() -> None:
    link = InProcessLink()
    link.controller.poll(0)
    link.sever(10)
    assert any(isinstance(e, LinkDown) for e in link.plc.poll(11))
    assert any(isinstance(e, LinkDown) for e in link.controller.poll(11))
    for phase in (V2gPhase.CPD, V2gPhase.CABLECHECK):
        link.plc.publish(PlcV2gPhase(phase=phase), 11)
    stopped = PlcSessionEvent(event=SessionEventKind.SESSION_STOPPED)
    link.plc.publish(stopped, 11)
    link.restore(12)
    events = link.controller.poll(12)
    assert isinstance(events[0], LinkUp)
    assert [e.value for e in events[1:] if isinstance(e, SignalReceived)] == [
        PlcV2gPhase(phase=V2gPhase.CABLECHECK), stopped]

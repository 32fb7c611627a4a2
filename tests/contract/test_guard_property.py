"""Property: whatever the controller does (limits of any validity at any time, link lost
and back), the PLC never pushes current on stale limits and always stops within the
bounds of Deliverable 2 C2."""

from __future__ import annotations

from hypothesis import given, settings, strategies as st

from evse.contract.events import LinkDown, LinkDownReason, LinkUp, SignalReceived
from evse.contract.guard import (
    LINK_LOSS_GRACE_NS,
    SAFE_DEFAULT_ENVELOPE_TTL_NS,
    HardwareRating,
    LimitsSource,
    PlcContractGuard,
)
from evse.contract.values import CtrlEvseLimitsDynamic, V2gPhase

MS = 1_000_000
HW = HardwareRating(max_voltage_v=920.0, max_current_a=500.0, max_power_w=300_000.0)

step = st.tuples(
    st.integers(1, 3000),  # ms until this step
    st.sampled_from(["limits", "down", "up", "nothing"]),
    st.integers(100, 5000),  # validity_ms if limits
)


@settings(max_examples=300, deadline=None)
@given(st.lists(step, max_size=40), st.booleans())
def test_current_only_flows_on_valid_limits_and_stops_come_in_time(
    steps: list[tuple[int, str, int]], limits_before: bool
) -> None:
    g = PlcContractGuard(HW)
    g.on_event(LinkUp(2, 0, resumed=False), 0)
    if limits_before:
        g.on_event(SignalReceived(CtrlEvseLimitsDynamic(
            max_voltage_v=900.0, max_current_a=300.0, max_power_w=2e5, min_current_a=0.0,
            validity_ms=5000), 0), 0)
    g.set_phase(V2gPhase.CURRENTDEMAND, 0)
    valid_until = 5000 * MS if limits_before else 0
    link_down_at: int | None = None
    stopped_at: int | None = None
    t = 0
    for dt_ms, action, validity_ms in steps:
        t_next = t + dt_ms * MS
        # the guard's own deadlines come first, as the scheduler would wake it
        while (d := g.next_deadline_ns()) is not None and t < d < t_next:
            t = d
            g.handle_timer(t)
            stopped_at = check(g, t, valid_until, link_down_at, stopped_at)
        t = t_next
        if action == "limits" and link_down_at is None:
            g.on_event(SignalReceived(CtrlEvseLimitsDynamic(
                max_voltage_v=900.0, max_current_a=300.0, max_power_w=2e5, min_current_a=0.0,
                validity_ms=validity_ms), t), t)
            valid_until = t + validity_ms * MS
        elif action == "down" and link_down_at is None:
            g.on_event(LinkDown(LinkDownReason.PEER_SILENT, t), t)
            link_down_at = t
        elif action == "up" and link_down_at is not None:
            g.on_event(LinkUp(2, 0, resumed=True), t)
            link_down_at = None
        stopped_at = check(g, t, valid_until, link_down_at, stopped_at)


def check(g: PlcContractGuard, t: int, valid_until: int, link_down_at: int | None,
          stopped_at: int | None) -> int | None:
    lim = g.effective_limits(t)
    stop = g.stop_request(t)
    if stopped_at is not None:  # a stop is latched: no current ever again
        assert stop is not None and lim.max_current_a == 0.0
        return stopped_at
    if lim.source is LimitsSource.CONTROLLER:
        assert t < valid_until
    if lim.source is LimitsSource.SAFE_DEFAULT:
        assert t < SAFE_DEFAULT_ENVELOPE_TTL_NS
    if lim.max_current_a > 0.0:
        assert stop is None
    # bounds: past these instants the guard must have stopped
    must_stop_by = [max(valid_until, SAFE_DEFAULT_ENVELOPE_TTL_NS)]
    if link_down_at is not None:
        must_stop_by.append(link_down_at + LINK_LOSS_GRACE_NS)
    if t >= min(must_stop_by):
        assert stop is not None, (t, must_stop_by)
    if stop is not None:
        assert stop.since_ns <= t and lim.max_current_a == 0.0
        return t
    return None

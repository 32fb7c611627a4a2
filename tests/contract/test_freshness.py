"""Validity from signals.yaml applied to received values, on either side."""

from __future__ import annotations

from evse.contract.definition import FallbackAction
from evse.contract.events import SignalReceived
from evse.contract.freshness import Freshness, SignalCache
from evse.contract.values import (
    CtrlEvseLimitsDynamic,
    IsolationStatus,
    MeasDcOutput,
    PlcEvccid,
    PlcV2gPhase,
    Role,
    V2gPhase,
    V2gProtocol,
)

S = 1_000_000_000
MS = 1_000_000


def test_controller_sees_plc_phase_go_stale_after_three_missed_heartbeats() -> None:
    cache = SignalCache(Role.CONTROLLER)
    cache.update(SignalReceived(PlcV2gPhase(phase=V2gPhase.CURRENTDEMAND), 10 * S))
    assert cache.freshness("plc.v2g_phase", 13 * S - 1) is Freshness.FRESH
    assert cache.freshness("plc.v2g_phase", 13 * S) is Freshness.STALE
    stale = {s.name: s for s in cache.stale(13 * S)}
    assert stale["plc.v2g_phase"].fallback is FallbackAction.CONTROLLER_REPORTS_UNAVAILABLE
    assert stale["meas.dc_output"].freshness is Freshness.MISSING
    assert stale["meas.dc_output"].fallback is FallbackAction.CONTROLLER_HOLDS_METER


def test_plc_sees_limits_expire_at_their_own_validity_field() -> None:
    cache = SignalCache(Role.PLC)
    lim = CtrlEvseLimitsDynamic(max_voltage_v=900.0, max_current_a=100.0, max_power_w=5e4,
                                min_current_a=0.0, validity_ms=1500)
    cache.update(SignalReceived(lim, 2 * S))
    assert cache.latest(CtrlEvseLimitsDynamic) == lim
    assert cache.valid_until_ns("ctrl.evse_limits_dynamic") == 2 * S + 1500 * MS
    assert cache.next_expiry_ns() == 2 * S + 1500 * MS
    assert cache.freshness("ctrl.evse_limits_dynamic", 3500 * MS) is Freshness.STALE


def test_session_scoped_values_are_dropped_at_session_end_and_level_values_kept() -> None:
    cache = SignalCache(Role.CONTROLLER)
    cache.update(SignalReceived(PlcEvccid(evccid="00AA", protocol=V2gProtocol.DIN70121), 0))
    cache.update(SignalReceived(MeasDcOutput(present_voltage_v=0.0, present_current_a=0.0,
                                             energy_wh=5.0,
                                             isolation_status=IsolationStatus.VALID), 0))
    cache.reset_session()
    assert cache.latest(PlcEvccid) is None
    assert cache.latest(MeasDcOutput) is not None

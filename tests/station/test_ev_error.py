"""A car that reports an error (EVErrorCode) or not ready while charging: the station
stops the energy transfer the controlled way, reports EV_ERROR, and the next car charges."""

from __future__ import annotations

import pytest

from evse.contract.values import FaultCode, PlcFault, StopReason
from evse.runtime.config import StationConfig
from evse.runtime.dc_station import DcStation, SessionConfig
from tests.station.test_link_faults import spied

S = 1_000_000_000
MS = 1_000_000
#: The plant records the current at every contactor opening; a controlled stop opens at
#: (almost) no current (evse/runtime/day.py SAFE_OPEN_CURRENT_A).
SAFE_OPEN_CURRENT_A = 5.0


def faults_told(st: DcStation) -> list[PlcFault]:
    side = st.controller
    told = getattr(side, "received_faults", None)
    assert told is None or isinstance(told, list)
    return told or []


@pytest.mark.parametrize("protocol", ["din", "iso2"])
def test_ev_error_code_while_charging_stops_the_transfer_and_reaches_ocpp(protocol: str) -> None:
    st = DcStation(StationConfig(), SessionConfig(protocol=protocol, ocpp="1.6", charge_s=60))
    published = spied(st)
    st.start()
    st.sched.run_until(1 * S)
    st.plug_in()
    st.ev_profile.ev_error_after_ns = 3 * S
    assert st.sched.run_until_true(lambda: st.log.ev_result is not None, limit_ns=90 * S)
    assert st.log.ev_result == "OK: EVSE asked to stop"  # told to stop, not failed
    assert st.env.ev_error is not None and "FAILED_RESSTemperatureInhibit" in st.env.ev_error[0]
    st.sched.run_for(2 * S)
    opens = st.world.plant.open_currents_a
    assert opens and all(a <= SAFE_OPEN_CURRENT_A for _, a in opens)
    stops = [v.stop_reason for v in published if getattr(v, "stop_reason", None) is not None]
    assert stops == [StopReason.EV_ERROR, StopReason.EV_ERROR]  # PowerDelivery stop, session
    ev_faults = [v for v in published if isinstance(v, PlcFault)
                 and v.fault_code is FaultCode.EV_ERROR]
    assert ev_faults and ev_faults[0].active and not ev_faults[0].latched
    csms = st.controller.csms  # type: ignore[union-attr]
    [tx] = csms.transactions.values()
    assert tx.stop_reason == "Other"  # 1.6 has no EV-error reason (error_map EV_ERROR)
    # Self-clearing: the fault leaves with the car, the next car charges.
    st.unplug()
    st.sched.run_for(2 * S)
    assert not st.env.ev_error
    cleared = [v for v in published if isinstance(v, PlcFault)
               and v.fault_code is FaultCode.EV_ERROR]
    assert not cleared[-1].active
    st.plug_in(SessionConfig(protocol=protocol, ocpp="1.6", charge_s=5))
    assert st.sched.run_until_true(lambda: st.log.ev_result is not None, limit_ns=90 * S)
    assert st.log.ev_result == "OK: charge time over"
    st.close()


@pytest.mark.parametrize("protocol", ["din", "iso2"])
@pytest.mark.parametrize("message", ["cable_check", "power_delivery"])
def test_ev_error_code_before_energy_flows_ends_the_session_without_charging(
        protocol: str, message: str) -> None:
    """DC_EVStatus.EVErrorCode in CableCheckReq / PowerDeliveryReq(Start): the station
    reports EV_ERROR and stops before energy flows; the stop reason is EV_ERROR; it clears
    with the car and the next car charges."""
    st = DcStation(StationConfig(), SessionConfig(protocol=protocol, ocpp="1.6", charge_s=60))
    published = spied(st)
    st.start()
    st.sched.run_until(1 * S)
    st.plug_in()
    st.ev_profile.ev_error_in = message
    peak = [0.0]

    def over() -> bool:
        peak[0] = max(peak[0], st.world.plant.connector_current_a)
        return st.log.ev_result is not None

    assert st.sched.run_until_true(over, limit_ns=90 * S)
    assert st.env.ev_error is not None and st.env.ev_error[0].startswith(message)
    assert peak[0] < SAFE_OPEN_CURRENT_A, f"{peak[0]:.1f} A flowed into a car reporting an error"
    st.sched.run_for(2 * S)
    stops = [v.stop_reason for v in published if getattr(v, "stop_reason", None) is not None]
    assert stops and set(stops) == {StopReason.EV_ERROR}, stops
    assert any(isinstance(v, PlcFault) and v.fault_code is FaultCode.EV_ERROR and v.active
               for v in published)
    st.unplug()
    st.sched.run_for(2 * S)
    assert not st.env.ev_error
    st.plug_in(SessionConfig(protocol=protocol, ocpp="1.6", charge_s=5))
    assert st.sched.run_until_true(lambda: st.log.ev_result is not None, limit_ns=90 * S)
    assert st.log.ev_result == "OK: charge time over"
    st.close()

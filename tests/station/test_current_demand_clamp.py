"""One decision on the CurrentDemand path, on the shipped station (DcStation: StationEnv,
the real PowerPath on CAN, the contract guard): the limits the car is told and the
EVSE*LimitAchieved flags are those of the one clamp the power path regulates to
(evse/power/current_loop.py clamp_request, evse/contract/limits.py)."""

from __future__ import annotations

import pytest

from evse.contract.limits import DemandClamp
from evse.runtime.ocpp_side import OcppSide
from tests.station.test_dc_station import charging, station

S = 1_000_000_000


@pytest.mark.req("P0-2")
def test_a_power_limit_is_reported_as_the_current_the_charger_regulates_to() -> None:
    """A 20 kW OCPP profile while charging: every later CurrentDemandRes says
    EVSEPowerLimitAchieved with EVSEMaximumPowerLimit 20 kW, the setpoint is 20 kW over
    the *measured* voltage the answer reports, and the modules never get more."""
    st = station(protocol="iso2", ocpp="1.6", charge_s=120)
    charging(st)
    answers: list[tuple[DemandClamp, float]] = []
    demand = st.env.current_demand

    def spy(v: float, i: float, now_ns: int) -> DemandClamp:
        out = demand(v, i, now_ns)
        answers.append((out, st.env.measurement(now_ns).voltage_v))
        return out

    st.env.current_demand = spy  # type: ignore[method-assign]
    side = st.controller
    assert isinstance(side, OcppSide)
    (tx_id,) = side.csms.transactions
    side.csms.call("SetChargingProfile", {"connectorId": 1, "csChargingProfiles": {
        "chargingProfileId": 7, "transactionId": int(tx_id), "stackLevel": 1,
        "chargingProfilePurpose": "TxProfile", "chargingProfileKind": "Relative",
        "chargingSchedule": {"chargingRateUnit": "W",
                             "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 20000}]}}},
        st.sched.now_ns())
    st.sched.run_for(10 * S)
    limited = [(a, v) for a, v in answers if a.limits.max_power_w <= 20_000.0]
    assert len(limited) > 10, "the 20 kW profile never reached the charge loop"
    for clamp, present_v in limited[-10:]:
        assert clamp.power_limit_achieved and not clamp.current_limit_achieved
        assert clamp.current_a == pytest.approx(20_000.0 / present_v)
    setpoint = st.power.output_setpoint
    assert setpoint is not None and setpoint[1] <= limited[-1][0].current_a + 1e-9
    plant = st.world.plant
    assert plant.connector_voltage_v * plant.connector_current_a < 20_000 * 1.05
    st.close()

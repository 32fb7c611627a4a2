"""The charge-loop regulator: the car's request clamped by EVSE limits, power and ramp rate.

Runs locally on every CurrentDemandReq and every control tick, using only last-known limits,
so it never waits for the controller (ccs2_dc_reference.md P0 item 1, C12).

`clamp_request` is the one clamp of the CurrentDemand path: the power path regulates to its
result and the SECC reports its flags and limits (evse/contract/limits.py), so the current
the car is told the charger is limited to is the current it regulates to.
"""

from __future__ import annotations

from evse.contract.limits import DemandClamp, EvseLimits
from evse.power.types import EvRequest

#: Current rise rate in the charge loop (EVerest dc_ramp_ampere_per_second, timing.md §4/§7).
RAMP_UP_A_PER_S = 25.0
#: The power clamp divides by the present output voltage, never by less than this, so P/V
#: stays finite while the output is still (nearly) dead, e.g. the first CurrentDemandReq
#: after a meter that reads 0 V [assumed]. 50 V is below any CCS traction battery (the
#: lowest DC charging voltages are some 150-200 V) and at 50 V even 20 kW allows 400 A, so
#: during a real charge the floor never binds and the current limit governs instead; below
#: 60 V the output counts as safe (cable_check.SAFE_VOLTAGE_V, IEC 61851-23 CC.4.1.2).
MIN_POWER_CLAMP_VOLTAGE_V = 50.0


def clamp_request(request: EvRequest, limits: EvseLimits,
                  present_voltage_v: float) -> DemandClamp:
    """What may be delivered right now (no ramp), and which limit binds.

    voltage = min(target V, max V), raised to max(present V, min V) when below min V;
    current = max(0, min(target A, max A, max W / max(present V, 50 V))).
    The power limit uses the *present* (measured) voltage, not the target: the output power
    is present voltage x current, and in constant-current charging the car's target voltage
    sits above its battery, so P / target V would hold the current below the power limit.
    Flags (EVSE*LimitAchieved): the voltage limit when the target is above max V; the power
    limit when the target current is above the power current; the current limit when the
    target is above max A and max A is the binding one (not the power limit).
    """
    voltage_v = min(request.target_voltage_v, limits.max_voltage_v)
    if voltage_v < limits.min_voltage_v:
        voltage_v = max(present_voltage_v, limits.min_voltage_v)
    power_current_a = limits.max_power_w / max(present_voltage_v, MIN_POWER_CLAMP_VOLTAGE_V)
    current_a = max(0.0, min(request.target_current_a, limits.max_current_a, power_current_a))
    return DemandClamp(
        voltage_v=voltage_v,
        current_a=current_a,
        current_limit_achieved=request.target_current_a > limits.max_current_a
        and limits.max_current_a <= power_current_a,
        voltage_limit_achieved=request.target_voltage_v > limits.max_voltage_v,
        power_limit_achieved=request.target_current_a > power_current_a,
        limits=limits,
    )


def ramp(previous_a: float, target_a: float, dt_ns: int,
         rate_a_per_s: float = RAMP_UP_A_PER_S) -> float:
    """Rises at most `rate_a_per_s`; falls at once, because the car's request is a limit."""
    if target_a <= previous_a:
        return target_a
    return min(target_a, previous_a + rate_a_per_s * dt_ns * 1e-9)

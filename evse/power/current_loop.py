"""The charge-loop regulator: the car's request clamped by EVSE limits, power and ramp rate.

Runs locally on every CurrentDemandReq and every control tick, using only last-known limits,
so it never waits for the controller (ccs2_dc_reference.md P0 item 1, C12).
"""

from __future__ import annotations

from dataclasses import dataclass

from evse.power.types import EvRequest, EvseMaxima

#: Current rise rate in the charge loop (EVerest dc_ramp_ampere_per_second, timing.md §4/§7).
RAMP_UP_A_PER_S = 25.0
#: Voltage used for the power clamp is never taken below this, so P/V stays finite [assumed].
MIN_POWER_CLAMP_VOLTAGE_V = 50.0


@dataclass(frozen=True, slots=True)
class LoopOutput:
    voltage_v: float
    current_a: float
    current_limit_achieved: bool
    voltage_limit_achieved: bool
    power_limit_achieved: bool


def clamp_request(request: EvRequest, maxima: EvseMaxima, present_voltage_v: float) -> LoopOutput:
    """Clamp without ramp: what may be delivered right now."""
    voltage_v = min(request.target_voltage_v, maxima.voltage_v)
    power_current_a = maxima.power_w / max(present_voltage_v, MIN_POWER_CLAMP_VOLTAGE_V)
    current_a = max(0.0, min(request.target_current_a, maxima.current_a, power_current_a))
    return LoopOutput(
        voltage_v=voltage_v,
        current_a=current_a,
        current_limit_achieved=request.target_current_a > maxima.current_a
        and maxima.current_a <= power_current_a,
        voltage_limit_achieved=request.target_voltage_v > maxima.voltage_v,
        power_limit_achieved=request.target_current_a > power_current_a,
    )


def ramp(previous_a: float, target_a: float, dt_ns: int,
         rate_a_per_s: float = RAMP_UP_A_PER_S) -> float:
    """Rises at most `rate_a_per_s`; falls at once, because the car's request is a limit."""
    if target_a <= previous_a:
        return target_a
    return min(target_a, previous_a + rate_a_per_s * dt_ns * 1e-9)

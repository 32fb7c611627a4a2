"""The adaptive DC plant against the fixed-step reference, on whole station sessions.

`DcPlant(adaptive=True)` (the default) integrates exactly between events and takes long
steps once the circuit is constant or a straight ramp; `adaptive=False` is the 1 ms
implicit-Euler reference it replaced (drivers/sim/plant.py). The same session runs once with
each; what the car is shown and what the physics proves must agree within stated bounds:

- the true connector voltage and current at every PreChargeReq and CurrentDemandReq the
  SECC answers: within 0.5 V and 1 A + 1 % (well inside the meter's own error band of
  0.5 % + 0.5 V / 0.5 % + 0.2 A, drivers/meter/sim_meter.py, and the car's inlet check);
- the precharge time (first PreChargeReq to the last one, after which the car accepts the
  voltage and sends PowerDeliveryReq): within 20 ms (two power ticks; the reference applies
  the contactor closing up to 1 ms late, the adaptive plant at its instant);
- the car's verdict, the number of CurrentDemand round trips (+-1), no contactor opened
  under load in either, and the adaptive plant doing far fewer steps.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from evse.runtime.config import StationConfig
from evse.runtime.dc_station import DcStation, SessionConfig

S = 1_000_000_000
VOLTAGE_BOUND_V = 0.5
CURRENT_BOUND_A = 1.0
CURRENT_BOUND_FRACTION = 0.01
PRECHARGE_TIME_BOUND_NS = 20_000_000


@dataclass
class Record:
    samples: list[tuple[str, int, float, float]] = field(default_factory=list)
    result: str | None = None
    plant_steps: int = 0
    open_currents_a: list[tuple[int, float]] = field(default_factory=list)
    precharge_ns: int | None = None


def run_session(*, adaptive: bool, protocol: str, soc: float) -> Record:
    st = DcStation(StationConfig(), SessionConfig(protocol=protocol, charge_s=20, ocpp="none",
                                                   soc_start_pct=soc))
    plant = st.world.plant
    plant.adaptive = adaptive
    rec = Record()
    original = st._measure_now  # noqa: SLF001 - the instant the SECC answers from
    precharge_start: list[int] = []

    def measure(now_ns: int) -> None:
        original(now_ns)
        secc = st.secc
        state = secc.state.split(".")[0] if secc is not None else ""
        if state in ("precharge", "charging"):
            rec.samples.append((state, now_ns, plant.connector_voltage_v,
                                plant.connector_current_a))
            if state == "precharge":
                if not precharge_start:
                    precharge_start.append(now_ns)
                rec.precharge_ns = now_ns - precharge_start[0]  # the last one counts

    st._measure_now = measure  # type: ignore[method-assign]
    st.start()
    st.sched.run_until(1 * S)
    st.plug_in()
    ok = st.sched.run_until_true(lambda: st.log.ev_result is not None, limit_ns=120 * S)
    assert ok, st.log.milestones
    st.sched.run_for(3 * S)
    rec.result = st.log.ev_result
    rec.plant_steps = plant.steps
    rec.open_currents_a = list(plant.open_currents_a)
    st.close()
    return rec


@pytest.mark.parametrize(("protocol", "soc_start_pct"), [("din", 30.0), ("iso2", 60.0)])
def test_adaptive_plant_matches_the_fixed_step_reference(protocol: str,
                                                          soc_start_pct: float) -> None:
    ref = run_session(adaptive=False, protocol=protocol, soc=soc_start_pct)
    new = run_session(adaptive=True, protocol=protocol, soc=soc_start_pct)
    print(f"{protocol}: plant steps {ref.plant_steps} fixed, {new.plant_steps} adaptive; "
          f"precharge {ref.precharge_ns} / {new.precharge_ns} ns")
    assert ref.result == new.result == "OK: charge time over"
    charging_ref = [s for s in ref.samples if s[0] == "charging"]
    charging_new = [s for s in new.samples if s[0] == "charging"]
    assert len(charging_ref) > 100
    assert abs(len(charging_ref) - len(charging_new)) <= 1
    assert ref.precharge_ns is not None and new.precharge_ns is not None
    assert abs(ref.precharge_ns - new.precharge_ns) <= PRECHARGE_TIME_BOUND_NS
    worst_v = worst_i = 0.0
    by_time = {(s[0], s[1]): s for s in new.samples}
    compared = 0
    for state, t, v_ref, i_ref in ref.samples:
        other: Any = by_time.get((state, t))
        if other is None:
            continue  # a request at an instant the other run did not have (+-1 above)
        compared += 1
        dv, di = abs(other[2] - v_ref), abs(other[3] - i_ref)
        worst_v, worst_i = max(worst_v, dv), max(worst_i, di)
        assert dv <= VOLTAGE_BOUND_V, f"{state} at {t / S:.3f} s: {other[2]} V vs {v_ref} V"
        assert di <= CURRENT_BOUND_A + CURRENT_BOUND_FRACTION * abs(i_ref), (
            f"{state} at {t / S:.3f} s: {other[3]} A vs {i_ref} A")
    print(f"worst difference over {compared} requests: {worst_v:.4f} V, {worst_i:.4f} A")
    assert compared >= 0.95 * len(ref.samples)
    # Both open the contactors only once the current is off.
    assert all(i < 5.0 for _, i in ref.open_currents_a + new.open_currents_a)
    assert new.plant_steps * 5 < ref.plant_steps

"""The EV simulator catches the charger bugs that real cars abort on (so the P0 tests
would fail if the SECC regressed): a missing EVSEMaximumPowerLimit, reported voltages that
are setpoints, a slow CurrentDemand answer."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from evse.ev.loopback import run
from evse.ev.profiles import profile
from evse.ev.sim import EvSim
from evse.ev.sim_env import SimEnv, SimEnvConfig
from evse.secc.core import SeccCore
from evse.secc.env import Measurement
from evse.secc.messages import Builder

MS = 1_000_000


def test_ev_aborts_when_cpd_lacks_max_power(monkeypatch: pytest.MonkeyPatch) -> None:
    original = Builder.charge_parameters

    def broken(self: Builder, *a: Any, **kw: Any) -> Any:
        res = original(self, *a, **kw)
        params = dataclasses.replace(res.EVSEChargeParameter, EVSEMaximumPowerLimit=None)
        return dataclasses.replace(res, EVSEChargeParameter=params)

    monkeypatch.setattr(Builder, "charge_parameters", broken)
    env = SimEnv()
    ev = EvSim(profile("din_only"), env.physical_voltage_v, env.physical_current_a)
    r = run(ev, SeccCore(env))
    assert not r.ev.ok and "EVSEMaximumPowerLimit" in r.ev.reason


def test_ev_aborts_when_reported_voltage_is_the_setpoint() -> None:
    class SetpointEnv(SimEnv):
        def measurement(self, now_ns: int) -> Measurement:
            m = super().measurement(now_ns)
            return Measurement(self._voltage.target, m.current_a, m.at_ns, m.isolation)

    env = SetpointEnv(SimEnvConfig(voltage_tau_ns=1_000 * MS))
    ev = EvSim(profile("din_only"), env.physical_voltage_v, env.physical_current_a)
    r = run(ev, SeccCore(env))
    assert not r.ev.ok and "inlet measures" in r.ev.reason


def test_ev_times_out_when_current_demand_is_answered_late() -> None:
    env = SimEnv()
    p = profile("iso_only")
    p.present_voltage_tolerance_v = None  # isolate the timing check (answers are stale too)
    p.present_current_tolerance_a = None
    ev = EvSim(p, env.physical_voltage_v, env.physical_current_a)
    r = run(ev, SeccCore(env), secc_delay_ns=300 * MS)
    assert not r.ev.ok and "timeout" in r.ev.reason and "charging" in r.ev.reason

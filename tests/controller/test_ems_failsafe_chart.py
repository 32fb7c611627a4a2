"""The EMS fail-safe is the chart fsm_specs/ems_failsafe.yaml (EEBus UC LPC failsafe):
each of its transitions in virtual time on the station's scheduler, sans-IO (no socket:
`heard` is what evse/runtime/ems_input.py calls for a valid datagram), and the config keys
as its params. The whole station with a UDP EMS is tests/runtime/test_ems_input.py."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from evse.controller.ems_failsafe import EmsFailsafe, EmsFailsafeHandler, ems_failsafe_spec
from evse.controller.external_limits import EmsCommand
from evse.controller.smart_charging import LimitSource
from evse.runtime.config import (
    EMS_FAILSAFE_DURATION_MIN_S,
    EMS_FAILSAFE_TIMEOUT_S,
    EmsSection,
)
from evse.runtime.ems_input import EmsInput, failsafe_params
from evse.runtime.scheduler import Scheduler
from evse.runtime.validate import handler_class

S = 1_000_000_000
FAILSAFE = EmsCommand(10_000.0, "W", LimitSource.EMS)
RELEASE = EmsCommand(None, "W", LimitSource.EMS)


class Target:
    """The controller side's `ems_command`, recorded."""

    def __init__(self) -> None:
        self.commands: list[EmsCommand] = []

    def ems_command(self, cmd: EmsCommand, now_ns: int) -> None:
        self.commands.append(cmd)


class Rig:
    """One fail-safe on a virtual-time scheduler, recording what it delivers and traces."""

    def __init__(self, timeout_s: float = 20.0, duration_min_s: float = 40.0,
                 failsafe: EmsCommand = FAILSAFE) -> None:
        self.sched = Scheduler()
        self.delivered: list[tuple[int, EmsCommand]] = []
        self.records: list[tuple[int, str, str]] = []
        self.fs = EmsFailsafe(failsafe, self._deliver, timers=self.sched, trace=self,
                              param_overrides={"t_failsafe": timeout_s,
                                               "t_failsafe_min": duration_min_s})
        self.fs.start(self.sched.now_ns())

    def _deliver(self, cmd: EmsCommand, now_ns: int) -> None:
        self.delivered.append((now_ns, cmd))

    def record(self, source: str, kind: str, payload: dict[str, Any]) -> None:
        self.records.append((self.sched.now_ns(), source, kind))

    def at(self, t_s: float) -> Rig:
        self.sched.run_until(round(t_s * S))
        return self

    def heard_at(self, t_s: float) -> None:
        self.at(t_s).fs.heard(self.sched.now_ns())

    def flags(self) -> tuple[str, bool, bool]:
        """(state, in_failsafe, autonomous): what the adapter and the station tests read."""
        return self.fs.state, self.fs.in_failsafe, self.fs.autonomous

    def ems(self) -> list[tuple[float, str]]:
        """The fail-safe's own trace records (source "ems"), with their times in s."""
        return [(t / S, kind) for t, src, kind in self.records if src == "ems"]


def test_the_chart_is_the_failsafe_and_its_timers_are_lpc_params() -> None:
    spec = ems_failsafe_spec()
    assert handler_class("ems_failsafe") is EmsFailsafeHandler
    assert {s.path for s in spec.iter_states()} == {"listening", "failsafe", "autonomous",
                                                   "closed"}
    # the config's defaults are the chart's (LPC heartbeat timeout, Failsafe Duration Min.)
    assert spec.params["t_failsafe"].seconds == EMS_FAILSAFE_TIMEOUT_S == 120.0
    assert spec.params["t_failsafe_min"].seconds == EMS_FAILSAFE_DURATION_MIN_S == 7200.0
    assert all("LPC" in p.ref for p in spec.params.values())


def test_the_config_keys_are_the_charts_param_overrides() -> None:
    section = EmsSection(driver="udp_json", failsafe_timeout_s=30.0,
                         failsafe_duration_min_s=0.0)
    assert failsafe_params(section) == {"t_failsafe": 30.0, "t_failsafe_min": 0.0}
    ems = EmsInput(section, Scheduler(), target=Target())  # never started: no socket
    assert ems.watchdog is not None
    assert (ems.watchdog.param_s("t_failsafe"), ems.watchdog.param_s("t_failsafe_min")) \
        == (30.0, 0.0)
    # failsafe_timeout_s 0: no watchdog at all (no chart), and sim has none either
    assert EmsInput(EmsSection(driver="udp_json", failsafe_timeout_s=0.0), Scheduler(),
                    target=Target()).watchdog is None
    assert EmsInput(EmsSection(driver="sim"), Scheduler(), target=Target()).watchdog is None


def test_silence_for_t_failsafe_delivers_the_failsafe_limit_once(
        caplog: pytest.LogCaptureFixture) -> None:
    """After a power-up the station waits one timeout (LPC), then goes fail-safe."""
    rig = Rig()
    assert rig.flags() == ("listening", False, False)
    assert rig.at(19.999).delivered == []
    with caplog.at_level(logging.WARNING):
        rig.at(20)
    assert rig.delivered == [(20 * S, FAILSAFE)]
    assert rig.flags() == ("failsafe", True, False)
    assert rig.ems() == [(20.0, "failsafe")]
    assert "ems udp_json: no datagram for 20 s, fail-safe limit 10000 W" in caplog.text


def test_every_heard_restarts_the_heartbeat_timer() -> None:
    rig = Rig()
    rig.heard_at(15)
    rig.heard_at(30)
    assert rig.at(49.9).delivered == []
    assert rig.at(50).delivered == [(50 * S, FAILSAFE)]


def test_heard_in_failsafe_ends_it_and_no_release_follows() -> None:
    """LPC-916: the EMS speaks, the fail-safe ends at once (the adapter then delivers the
    datagram's own limit, which lifts the fail-safe one); its release timer is cancelled,
    and a new silence starts a new timeout."""
    rig = Rig()
    rig.heard_at(30)
    assert rig.flags() == ("listening", False, False)
    assert rig.ems() == [(20.0, "failsafe"), (30.0, "failsafe_end")]
    rig.heard_at(45)
    rig.at(64)  # past the stale release (20 s + 40 s): nothing
    assert rig.delivered == [(20 * S, FAILSAFE)]
    assert rig.at(65).delivered == [(20 * S, FAILSAFE), (65 * S, FAILSAFE)]


def test_t_failsafe_min_of_silence_releases_the_limit_and_goes_autonomous(
        caplog: pytest.LogCaptureFixture) -> None:
    """LPC-922: the fail-safe held t_failsafe_min with the EMS silent; its release goes out
    (same unit and source), the station is unlimited, and the same silence brings no
    second fail-safe (LPC-918..920)."""
    amps = EmsCommand(40.0, "A", LimitSource.SO)
    rig = Rig(failsafe=amps)
    assert rig.at(59.9).delivered == [(20 * S, amps)]
    with caplog.at_level(logging.WARNING):
        rig.at(60)
    assert rig.delivered[-1] == (60 * S, EmsCommand(None, "A", LimitSource.SO))
    assert rig.flags() == ("autonomous", False, True)
    assert rig.ems() == [(20.0, "failsafe"), (60.0, "failsafe_released")]
    assert "ems udp_json: silent for the fail-safe's minimum 40 s, limit released" \
        in caplog.text
    assert len(rig.at(10 * 86_400).delivered) == 2


def test_heard_in_autonomous_goes_back_to_listening() -> None:
    rig = Rig()
    rig.heard_at(70)
    assert rig.flags() == ("listening", False, False)
    assert "failsafe_end" not in [k for _, k in rig.ems()]  # no fail-safe was in force
    assert rig.at(90).delivered == [(20 * S, FAILSAFE), (60 * S, RELEASE), (90 * S, FAILSAFE)]


def test_duration_min_zero_never_releases() -> None:
    """ems.failsafe_duration_min_s 0: the fail-safe holds until the EMS speaks."""
    rig = Rig(duration_min_s=0.0)
    rig.at(10 * 86_400)
    assert rig.delivered == [(20 * S, FAILSAFE)]
    assert rig.flags() == ("failsafe", True, False)
    rig.heard_at(10 * 86_400 + 1)
    assert rig.flags() == ("listening", False, False)


def test_a_closed_failsafe_delivers_nothing_more() -> None:
    """The station stops: the chart's timers are cancelled (tag closed)."""
    rig = Rig()
    rig.at(25)
    rig.fs.close(rig.sched.now_ns())
    assert rig.flags() == ("closed", False, False)
    assert rig.at(10 * 86_400).delivered == [(20 * S, FAILSAFE)]
    rig = Rig()
    rig.fs.close(0)
    assert rig.at(1000).delivered == []

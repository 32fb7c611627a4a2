"""fsm_specs/station_faults.yaml is what sequences the operator's reset and the pilot's hold.

The chart runs on its own handler, with the power path, the pilot and the contract guard
replaced by stand-ins that say exactly what the guards read (the power path's fault, phase
and reset answer; the pilot's chart tags and latch): each test drives one transition that
matters and checks the chart's state and its outputs (events posted to the pilot,
plc.command_result on the contract). The whole-station behaviour is tests/campaign.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, cast

import pytest

from evse.contract.guard import PlcContractGuard
from evse.contract.values import PlcCommandResult, SessionCommand
from evse.cp.pilot import ControlPilot, FaultCause
from evse.fsm import Event
from evse.ports.board import RESET_REFUSED_BY_BOARD
from evse.power.controller import PowerPath, ResetResult
from evse.power.fault_table import make_fault
from evse.power.faults import FaultReason, PowerFault
from evse.power.types import Phase as PowerPhase
from evse.runtime.station import spec
from evse.runtime.station_faults import FaultsWiring, StationFaults
from evse.runtime.validate import handler_class

NOW = 5_000_000_000
PILOT_HELD = "faults.pilot_held_in_f.awaiting_reset"
NOT_HELD = "faults.pilot_not_held.no_reset_pending"
#: What the power path answers while a latched fault waits only for the car to leave.
UNPLUG_PENDING = ResetResult(
    False, "imd_self_test_failed: cause still present (unplugged does not hold)",
    unplug_pending=True)


@dataclass
class FakePower:
    """What the chart reads of the power path, and its scripted reset answers."""

    fault: PowerFault | None = None
    phase: PowerPhase = PowerPhase.IDLE
    answers: list[ResetResult] = field(default_factory=list)
    resets: int = 0

    def reset_fault(self, now_ns: int) -> ResetResult:
        self.resets += 1
        return self.answers.pop(0)


@dataclass
class FakePilot:
    """The pilot as the chart reads it: tags of its active state, its latch, contactors."""

    tags: set[str] = field(default_factory=set)
    contactors_closed: bool = False
    handler: SimpleNamespace = field(default_factory=lambda: SimpleNamespace(latched=set()))

    def has_tag(self, tag: str) -> bool:
        return tag in self.tags

    def require_tags(self, *tags: str) -> None:
        return None


@dataclass
class FakeGuard:
    stop: object | None = None
    completed: int = 0

    def stop_request(self, now_ns: int) -> object | None:
        return self.stop

    def stop_completed(self, now_ns: int) -> None:
        self.completed += 1


class NoTimers:
    """The chart declares no timers: arming one is a bug."""

    def start_timer(self, delay_ns: int, callback: Callable[[int], None], label: str) -> object:
        raise AssertionError(f"unexpected timer {label}")

    def cancel_timer(self, handle: object) -> None:
        raise AssertionError("unexpected timer cancel")


@dataclass
class Rig:
    power: FakePower
    cp: FakePilot
    guard: FakeGuard
    faults: StationFaults
    to_cp: list[tuple[Event, str]]
    published: list[object]
    reports: list[int]
    trace: list[tuple[str, str, dict[str, Any]]]
    reset_log: list[tuple[int, bool, str]]

    def results(self) -> list[PlcCommandResult]:
        return [p for p in self.published if isinstance(p, PlcCommandResult)]

    def posted(self) -> list[str]:
        return [ev.name for ev, _ in self.to_cp]


class ListTrace:
    def __init__(self, lines: list[tuple[str, str, dict[str, Any]]]) -> None:
        self.lines = lines

    def record(self, source: str, kind: str, payload: dict[str, Any]) -> None:
        self.lines.append((source, kind, payload))


def rig(fault: FaultReason | None = None, phase: PowerPhase = PowerPhase.FAULTED,
        tags: set[str] | None = None) -> Rig:
    power = FakePower(None if fault is None else make_fault(fault, "test", 0), phase)
    cp = FakePilot(tags if tags is not None else {"plugged"})
    guard = FakeGuard()
    to_cp: list[tuple[Event, str]] = []
    published: list[object] = []
    reports: list[int] = []
    trace: list[tuple[str, str, dict[str, Any]]] = []
    reset_log: list[tuple[int, bool, str]] = []
    sink = ListTrace(trace)
    wiring = FaultsWiring(
        power=cast(PowerPath, power), cp=cast(ControlPilot, cp),
        guard=cast(PlcContractGuard, guard),
        post_cp=lambda ev, source: to_cp.append((ev, source)),
        publish=lambda value, now_ns: published.append(value),
        report_faults=reports.append, trace=sink, reset_log=reset_log)
    faults = StationFaults(spec("station_faults"), wiring, timers=NoTimers(), trace=sink,
                           now_ns=0)
    return Rig(power, cp, guard, faults, to_cp, published, reports, trace, reset_log)


def hold(r: Rig) -> None:
    """The car left with a latched fault on a FAULTED, open path: the pilot is held."""
    r.cp.tags = {"no_vehicle"}
    r.faults.post("power_tick", NOW)
    assert r.faults.state == PILOT_HELD
    r.cp.tags = {"not_available", "pilot_f"}  # the pilot took the posted fault: F
    r.to_cp.clear()


def test_the_chart_is_served_by_its_handler_and_starts_with_the_pilot_not_held() -> None:
    r = rig()
    assert handler_class("station_faults") is type(r.faults.handler)
    assert r.faults.state == NOT_HELD
    assert not r.faults.has_tag("pilot_held")


def test_a_latched_fault_holds_the_pilot_in_f_once_the_car_left_and_only_once() -> None:
    r = rig(FaultReason.CONTACTOR_WELDED)
    r.faults.post("power_tick", NOW)  # the car is still plugged: F would hide its leaving
    assert r.to_cp == [] and r.faults.state == NOT_HELD
    r.cp.tags = {"no_vehicle"}
    r.cp.contactors_closed = True  # not open yet: no F under a closed contactor
    r.faults.post("power_tick", NOW)
    assert r.to_cp == []
    r.cp.contactors_closed = False
    r.faults.post("power_tick", NOW)
    assert r.faults.state == PILOT_HELD and r.faults.has_tag("pilot_held")
    assert [(ev.name, ev.data, source) for ev, source in r.to_cp] == [
        ("fault", "power:contactor_welded", "power")]
    r.faults.post("power_tick", NOW + 10_000_000)
    assert len(r.to_cp) == 1  # once
    # The pilot's A ends the hold: it holds no fault of ours any more.
    r.faults.post("unplugged", NOW + 20_000_000)
    assert r.faults.state == NOT_HELD and not r.faults.has_tag("pilot_held")


@pytest.mark.parametrize(("fault", "phase"), [
    (FaultReason.CONTACTOR_NOT_CLOSED, PowerPhase.FAULTED),  # self-clearing: leaves with the car
    (FaultReason.CONTACTOR_WELDED, PowerPhase.STOPPING),  # the shutdown is not over yet
])
def test_no_hold_for_a_self_clearing_fault_or_before_the_path_is_faulted(
        fault: FaultReason, phase: PowerPhase) -> None:
    r = rig(fault, phase, {"no_vehicle"})
    r.faults.post("power_tick", NOW)
    assert r.to_cp == [] and r.faults.state == NOT_HELD


def test_the_tick_checks_are_not_traced_unless_they_move_the_chart() -> None:
    r = rig(FaultReason.CONTACTOR_WELDED)
    for _ in range(3):
        r.faults.post("power_tick", NOW)
        r.faults.post("stop_check", NOW)
    assert [k for _, k, _ in r.trace] == ["start"]
    r.cp.tags = {"no_vehicle"}
    r.faults.post("power_tick", NOW)
    assert r.trace[-1] == ("station_faults", "transition",
                           {"event": "power_tick", "from": NOT_HELD, "to": PILOT_HELD})


def test_a_reset_while_f_hides_the_unplug_is_accepted_and_retried_at_the_unplug() -> None:
    """Bench seed 7: a latched fault that waits only for the car to leave, behind the held
    F. The pilot is reset first, the board's yes answers the operator, and the power path's
    reset is asked again at the unplug the pilot then reports."""
    r = rig(FaultReason.SELF_TEST_FAILED)
    hold(r)
    r.power.answers = [UNPLUG_PENDING, ResetResult(True, "cleared imd_self_test_failed")]
    r.faults.post("reset_requested", NOW)
    assert r.faults.state == "faults.pilot_held_in_f.reset_pending_unplug"
    assert [(ev.name, source) for ev, source in r.to_cp] == [("fault_reset", "controller")]
    assert r.results() == []  # the board answers first
    r.faults.post("pilot_reset_answered", NOW, {"board_accepted": True, "reason": None})
    assert r.results() == [PlcCommandResult(command=SessionCommand.RESET_FAULT, accepted=True,
                                            reason=UNPLUG_PENDING.reason)]
    r.cp.tags = {"no_vehicle"}  # the pilot left F for A and reported the unplug
    r.faults.post("unplugged", NOW + 1)
    assert r.power.resets == 2
    assert [(ok, why) for _, ok, why in r.reset_log] == [
        (False, UNPLUG_PENDING.reason), (True, "cleared imd_self_test_failed")]
    assert r.faults.state == NOT_HELD
    assert len(r.results()) == 1 and r.reports[-1] == NOW + 1


def test_a_retried_reset_that_is_refused_says_why_on_the_contract() -> None:
    r = rig(FaultReason.SELF_TEST_FAILED)
    hold(r)
    still = ResetResult(False, "imd_self_test_failed: cause still present (imd_ok does not hold)")
    r.power.answers = [UNPLUG_PENDING, still]
    r.faults.post("reset_requested", NOW)
    r.cp.tags = {"no_vehicle"}
    r.faults.post("unplugged", NOW)
    assert r.results() == [PlcCommandResult(command=SessionCommand.RESET_FAULT,
                                            accepted=False, reason=still.reason)]
    assert r.faults.state == NOT_HELD


def test_a_retry_finds_nothing_to_reset_when_the_unplug_cleared_the_faults() -> None:
    r = rig(FaultReason.SELF_TEST_FAILED)
    hold(r)
    r.power.answers = [UNPLUG_PENDING]
    r.faults.post("reset_requested", NOW)
    r.power.fault = None
    r.faults.post("unplugged", NOW)
    assert r.power.resets == 1 and r.faults.state == NOT_HELD


def test_an_unplug_pending_refusal_without_the_pilot_in_f_is_refused() -> None:
    """The car is still plugged and seen (no F): the unplug will be seen, nothing to defer."""
    r = rig(FaultReason.SELF_TEST_FAILED, tags={"plugged"})
    r.power.answers = [UNPLUG_PENDING]
    r.faults.post("reset_requested", NOW)
    assert r.to_cp == [] and r.faults.state == NOT_HELD
    assert r.results() == [PlcCommandResult(command=SessionCommand.RESET_FAULT,
                                            accepted=False, reason=UNPLUG_PENDING.reason)]


def test_a_refused_reset_says_why_on_the_contract() -> None:
    r = rig(FaultReason.CONTACTOR_WELDED_REPEATED)
    hold(r)
    refusal = ResetResult(False, "contactor_welded_repeated: service required")
    r.power.answers = [refusal]
    r.faults.post("reset_requested", NOW)
    assert r.to_cp == [] and r.faults.state == PILOT_HELD
    assert r.results() == [PlcCommandResult(command=SessionCommand.RESET_FAULT,
                                            accepted=False, reason=refusal.reason)]
    assert r.reset_log == [(NOW, False, refusal.reason)]


def test_a_reset_the_board_refuses_says_so_on_the_contract() -> None:
    r = rig(None, PowerPhase.IDLE, {"not_available", "pilot_f"})
    r.faults.post("reset_requested", NOW)
    assert r.posted() == ["fault_reset"] and r.power.resets == 0
    r.faults.post("pilot_reset_answered", NOW, {"board_accepted": False, "reason": None})
    assert r.results() == [PlcCommandResult(command=SessionCommand.RESET_FAULT,
                                            accepted=False, reason=RESET_REFUSED_BY_BOARD)]


def test_a_reset_without_a_power_fault_resets_the_pilot_alone() -> None:
    r = rig(None, PowerPhase.IDLE, {"not_available", "pilot_f"})
    r.faults.post("reset_requested", NOW)
    r.faults.post("pilot_reset_answered", NOW, {"board_accepted": True, "reason": None})
    assert r.results() == [PlcCommandResult(command=SessionCommand.RESET_FAULT, accepted=True,
                                            reason="no latched power fault")]


def test_a_self_clearing_only_fault_behind_a_pilot_latch_is_accepted() -> None:
    """Fault campaign cp_f@cpd: only self-clearing power faults, and the pilot holds F for
    a latch of its own. Refusing would keep F, in which their unplug is never seen."""
    r = rig(FaultReason.CONTACTOR_NOT_CLOSED, tags={"not_available", "pilot_f"})
    r.cp.handler.latched = {FaultCause.EXTERNAL}
    answer = ResetResult(False, "contactor_not_closed clears by itself when unplugged",
                         self_clearing_only=True)
    r.power.answers = [answer]
    r.faults.post("reset_requested", NOW)
    assert r.posted() == ["fault_reset"] and r.faults.state == NOT_HELD
    r.faults.post("pilot_reset_answered", NOW, {"board_accepted": True, "reason": None})
    assert r.results() == [PlcCommandResult(command=SessionCommand.RESET_FAULT, accepted=True,
                                            reason=answer.reason)]


def test_a_self_clearing_only_fault_without_a_pilot_latch_is_refused() -> None:
    r = rig(FaultReason.CONTACTOR_NOT_CLOSED)
    answer = ResetResult(False, "contactor_not_closed clears by itself when unplugged",
                         self_clearing_only=True)
    r.power.answers = [answer]
    r.faults.post("reset_requested", NOW)
    assert r.to_cp == []
    assert [p.accepted for p in r.results()] == [False]


def test_a_stop_the_guard_asked_for_is_reported_over_once_the_path_is_off_and_open() -> None:
    r = rig(None, PowerPhase.STOPPING)
    r.faults.post("stop_check", NOW)
    assert r.guard.completed == 0  # no stop asked
    r.guard.stop = object()
    r.faults.post("stop_check", NOW)
    assert r.guard.completed == 0  # still stopping
    r.power.phase = PowerPhase.STOPPED
    r.cp.contactors_closed = True
    r.faults.post("stop_check", NOW)
    assert r.guard.completed == 0  # contacts not open yet
    r.cp.contactors_closed = False
    r.faults.post("stop_check", NOW)
    assert r.guard.completed == 1

"""fsm_specs/power_path.yaml is what runs: its params are the code's bounds, its tags give
every state one Phase, and a scheduler can own its timers (`timers=`)."""

from __future__ import annotations

from collections.abc import Callable

from evse.power import shutdown, welding
from evse.power.controller import (
    METER_STALE_NS,
    PRECHARGE_TIMEOUT_NS,
    PowerPath,
    PowerPathHandler,
    power_path_spec,
)
from evse.power.faults import FaultReason
from evse.power.types import Phase, SetContactors
from evse.runtime.validate import handler_class
from tests.power.test_power_fault_table import Driver

S = 1_000_000_000


def test_chart_params_are_the_documented_bounds() -> None:
    p = {name: spec.ns for name, spec in power_path_spec().params.items()}
    assert p["t_precharge"] == PRECHARGE_TIMEOUT_NS
    assert p["t_error_ramp_down"] == shutdown.ERROR_RAMP_DOWN_NS
    assert p["t_error_current_off"] == shutdown.ERROR_CURRENT_OFF_BOUND_NS
    assert p["t_welding_check"] == welding.VOLTAGE_DECAY_BOUND_NS
    assert (p["t_cc_voltage_gate"], p["t_cc_relays_closed"], p["t_cc_voltage_rise"],
            p["t_cc_self_test"], p["t_cc_sample"], p["t_cc_discharge"]) == (
        10 * S, 5 * S, 10 * S, 30 * S, 5 * S, 10 * S)  # hardware.md §2.5, timing.md §4
    assert all(spec.ref.strip() for spec in power_path_spec().params.values())


def test_every_leaf_state_has_exactly_one_phase_and_every_phase_a_state() -> None:
    spec = power_path_spec()
    seen: set[Phase] = set()
    for s in spec.iter_states():
        if s.children:
            continue
        tags = spec.tags_of(s.path)
        assert len(tags) == 1, (s.path, tags)
        seen.add(Phase(tags[0]))
    assert seen == set(Phase)


def test_the_registered_handler_is_the_power_path_handler() -> None:
    assert handler_class("power_path") is PowerPathHandler


class FakeScheduler:
    """The TimerService protocol as the runtime scheduler offers it."""

    def __init__(self) -> None:
        self.timers: dict[int, tuple[int, Callable[[int], None]]] = {}
        self.now_ns = 0
        self._next = 0

    def start_timer(self, delay_ns: int, callback: Callable[[int], None], label: str) -> object:
        self._next += 1
        self.timers[self._next] = (self.now_ns + delay_ns, callback)
        return self._next

    def cancel_timer(self, handle: object) -> None:
        assert isinstance(handle, int)
        self.timers.pop(handle, None)

    def run_until(self, t_ns: int) -> None:
        while True:
            due = [(t, h) for h, (t, _) in self.timers.items() if t <= t_ns]
            if not due:
                break
            t, h = min(due)
            self.now_ns = t
            _, cb = self.timers.pop(h)
            cb(t)
        self.now_ns = t_ns


def test_a_scheduler_can_own_the_chart_timers() -> None:
    sched = FakeScheduler()
    d = Driver()
    d.core = PowerPath(timers=sched)
    d.start()  # contactors commanded closed; no feedback ever comes
    assert SetContactors(True) in d.take()
    # The scheduler holds the step timer; the path's own deadline is its meter watch.
    assert d.core.next_deadline_ns() == d.t + METER_STALE_NS
    sched.run_until(d.t + 5 * S + 1)
    f = d.core.fault
    assert f is not None and f.reason is FaultReason.CONTACTOR_NOT_CLOSED
    assert SetContactors(False) in d.core.take_commands()  # drained by the timer's pump
    assert d.core.phase in (Phase.FAULTED, Phase.STOPPING)

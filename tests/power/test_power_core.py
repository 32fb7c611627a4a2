"""PowerPath as a sans-IO core: driven by hand with events and `now_ns`, no simulator."""

from __future__ import annotations

import os

import pytest

from drivers.modbus.link import SerialPortLink
from evse.contract.limits import EvseLimits, LimitsSource
from evse.contract.values import IsolationStatus
from evse.ports.board import ContactorFeedback, EStopChanged
from evse.ports.imd import IsolationMeasurement, SelfTestResult
from evse.ports.meter import MeterReading
from evse.ports.power import (
    CapabilitiesChanged,
    GroupCapabilities,
    GroupMeasurement,
    OutputOffConfirmed,
)
from evse.power import cable_check as cc
from evse.power.controller import PowerPath, PowerPathConfig, power_path_spec
from evse.power.faults import FaultReason
from evse.power.types import (
    DisableModules,
    EnableModules,
    EvRequest,
    ImdSelfTest,
    ImdStart,
    ImdStop,
    Phase,
    PowerPathRemoteError,
    PowerPathUsageError,
    SetContactors,
    SetModuleOutput,
    WeldingResult,
)

CONTROLLER = LimitsSource.CONTROLLER
S = 1_000_000_000


def meter(core: PowerPath, v: float, i: float, now: int) -> None:
    core.handle(MeterReading(v, i, 0.0, now), now)


def drive_cable_check_to_done(core: PowerPath) -> int:
    """Hand-fed cable check; returns the time it finished."""
    core.start_cable_check(400.0, 0)
    meter(core, 0.0, 0.0, 0)
    assert core.take_commands() == [SetContactors(True)]
    core.handle(ContactorFeedback(True, 30_000_000), 30_000_000)
    assert core.take_commands() == [SetModuleOutput(450.0, 2.0), EnableModules()]
    meter(core, 450.0, 0.0, S)
    assert core.take_commands() == [ImdSelfTest(450.0)]
    core.handle(SelfTestResult(True, 4 * S), 4 * S)
    assert core.take_commands() == [ImdStart()]
    for k in range(cc.DEFAULT_SAMPLES):
        core.handle(IsolationMeasurement(2e6, (5 + k) * S, 450.0), (5 + k) * S)
    assert core.take_commands() == [DisableModules()]
    t = (5 + cc.DEFAULT_SAMPLES) * S
    meter(core, 40.0, 0.0, t)
    assert core.phase is Phase.CABLE_CHECK_DONE
    return t


def test_cable_check_command_sequence_follows_the_reference_steps() -> None:
    core = PowerPath()
    drive_cable_check_to_done(core)
    assert core.status.isolation_level is IsolationStatus.VALID


def test_next_deadline_is_the_pending_step_timeout_and_timer_fires_it() -> None:
    # The meter watch (armed while energised) is set past the step's bound: no meter here.
    core = PowerPath(PowerPathConfig(meter_stale_ns=10 * S))
    core.start_cable_check(400.0, 0)
    meter(core, 0.0, 0.0, 0)
    core.take_commands()
    deadline = core.next_deadline_ns()
    assert deadline == power_path_spec().params["t_cc_relays_closed"].ns  # 5 s
    core.handle_timer(deadline - 1)
    assert core.fault is None
    core.handle_timer(deadline)
    assert core.fault is not None and core.fault.reason is FaultReason.CONTACTOR_NOT_CLOSED
    assert SetContactors(False) in core.take_commands()


@pytest.mark.req("P0-2")
def test_the_snapshot_used_for_regulation_is_the_one_reported() -> None:
    core = PowerPath(PowerPathConfig(max_power_w=20_000.0))
    t = drive_cable_check_to_done(core)
    core.precharge(EvRequest(400.0, 2.0), t)
    meter(core, 399.0, 1.0, t + S)
    core.start_charging(t + S)
    meter(core, 400.0, 0.0, t + 2 * S)
    res = core.current_demand(EvRequest(450.0, 100.0), t + 12 * S)
    snap = core.snapshot
    assert snap is core.status.present and res is core.status.demand
    assert snap is not None and snap.timestamp_ns == t + 2 * S
    # power clamp was computed from that very snapshot voltage: 20 kW / 400 V = 50 A, and
    # the answer to the car (DemandClamp) is that clamp
    assert res.power_limit_achieved and not res.current_limit_achieved
    assert res.current_a == pytest.approx(50.0) and res.limits.max_power_w == 20_000.0
    sets = [c for c in core.take_commands() if isinstance(c, SetModuleOutput)]
    assert sets[-1].current_a == pytest.approx(50.0)


def test_requested_stop_during_cable_check_is_not_a_fault() -> None:
    core = PowerPath()
    core.start_cable_check(400.0, 0)
    meter(core, 0.0, 0.0, 0)
    core.handle(ContactorFeedback(True, 30_000_000), 30_000_000)
    meter(core, 100.0, 0.0, S)
    core.take_commands()
    core.stop(S)
    core.handle_timer(S + 100_000_000)
    meter(core, 100.0, 0.0, S + 200_000_000)  # ramp of the 2 A test current, then off
    assert SetContactors(False) in core.take_commands()
    core.handle(ContactorFeedback(False, S + 230_000_000), S + 230_000_000)
    meter(core, 30.0, 0.0, S + 400_000_000)
    assert core.fault is None and core.phase is Phase.STOPPED
    assert core.status.welding is WeldingResult.OPEN


@pytest.mark.req("PLC-6.6")
def test_error_shutdown_opens_without_confirmation_after_the_bound_and_says_so() -> None:
    core = PowerPath()
    t = drive_cable_check_to_done(core)
    core.precharge(EvRequest(400.0, 2.0), t)
    meter(core, 400.0, 1.0, t + S)
    core.start_charging(t + S)
    core.current_demand(EvRequest(450.0, 100.0), t + S)
    core.take_commands()
    t_stop = t + 2 * S
    core.stop(t_stop)
    for k in range(1, 150):  # the current never falls: a stuck module
        now = t_stop + k * 10_000_000
        meter(core, 400.0, 80.0, now)
        core.handle_timer(now)
    cmds = core.take_commands()
    assert SetContactors(False) in cmds
    # Recorded with its own row; the feedback was never fed open here, so the welding check
    # adds a (stricter) weld and `fault` reports that one.
    assert FaultReason.OFF_NOT_CONFIRMED in {f.reason for f in core.faults}


def test_off_confirmation_from_the_modules_allows_opening_early() -> None:
    core = PowerPath()
    t = drive_cable_check_to_done(core)
    core.precharge(EvRequest(400.0, 2.0), t)
    core.start_charging(t)
    core.take_commands()
    core.stop(t + S)
    core.handle_timer(t + S + 250_000_000)
    core.handle(OutputOffConfirmed(t + S + 260_000_000), t + S + 260_000_000)
    assert SetContactors(False) in core.take_commands()
    assert core.phase is Phase.STOPPED


def test_end_session_while_live_shuts_down_and_finishes_when_open() -> None:
    core = PowerPath()
    t = drive_cable_check_to_done(core)
    core.end_session(t)  # contactors still closed after the check: no exception
    # Modules already off (discharged at the end of the check): open at once.
    assert SetContactors(False) in core.take_commands()
    assert not core.available  # the shutdown is not finished: feedback reports closed
    core.handle(ContactorFeedback(False, t + 50_000_000), t + 50_000_000)
    core.handle_timer(t + 60_000_000)
    assert not core.available  # the welding check is still running
    core.handle(GroupMeasurement(10.0, 0.0, t + 70_000_000), t + 70_000_000)
    meter(core, 10.0, 0.0, t + 70_000_000)
    assert core.phase is Phase.IDLE and core.available and core.fault is None


def test_no_modules_left_during_energy_transfer_is_a_fault() -> None:
    core = PowerPath()
    t = drive_cable_check_to_done(core)
    core.precharge(EvRequest(400.0, 2.0), t)
    core.handle(CapabilitiesChanged(GroupCapabilities(0, 0, 0, 0, 0), t + 1), t + 1)
    assert core.fault is not None and core.fault.reason is FaultReason.NO_MODULES


def test_limits_cap_the_reported_maxima() -> None:
    core = PowerPath()
    core.handle(EvseLimits(500.0, 80.0, 30_000.0, 0.0, CONTROLLER), 0)
    m = core.limits(0)
    assert (m.max_voltage_v, m.max_current_a, m.max_power_w) == (500.0, 80.0, 30_000.0)
    core.handle(EvseLimits(500.0, 80.0, 30_000.0, 0.0, CONTROLLER, valid_until_ns=10), 0)
    assert core.limits(11).max_current_a == PowerPathConfig().max_current_a


def test_serial_port_link_reads_and_writes_a_tty_without_blocking() -> None:
    master, slave = os.openpty()
    try:
        link = SerialPortLink(os.ttyname(slave))
        try:
            assert link.read() == b""
            link.write(b"\x03\x03")
            assert os.read(master, 16) == b"\x03\x03"
            os.write(master, b"\x01\x02")
            assert link.read() == b"\x01\x02"
        finally:
            link.close()
    finally:
        os.close(master)
        os.close(slave)


def test_board_e_stop_input_opens_at_once_and_stays_latched() -> None:
    core = PowerPath()
    t = drive_cable_check_to_done(core)
    core.precharge(EvRequest(400.0, 2.0), t)
    core.take_commands()
    core.handle(EStopChanged(True, t + 1), t + 1)
    assert core.take_commands()[:2] == [DisableModules(), SetContactors(False)]
    core.handle(EStopChanged(False, t + 2), t + 2)
    assert core.fault is not None and core.fault.reason is FaultReason.EMERGENCY_STOP
    assert core.phase is Phase.FAULTED


def test_idle_core_has_no_deadline_and_expired_limits_do_not_spin_when_idle() -> None:
    core = PowerPath()
    assert core.next_deadline_ns() is None
    core.handle(EvseLimits(500.0, 80.0, 30_000.0, 0.0, CONTROLLER, valid_until_ns=10), 0)
    assert core.next_deadline_ns() is None  # nothing to stop: no busy wake-ups


def test_imd_can_be_paused_during_precharge_and_resumes_for_charging() -> None:
    core = PowerPath(PowerPathConfig(pause_imd_during_precharge=True))
    t = drive_cable_check_to_done(core)
    core.precharge(EvRequest(400.0, 2.0), t)
    assert ImdStop() in core.take_commands()
    core.start_charging(t + S)
    assert ImdStart() in core.take_commands()


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -1.0])
def test_unusable_ev_request_is_a_remote_error_and_changes_nothing(bad: float) -> None:
    core = PowerPath()
    t = drive_cable_check_to_done(core)
    core.precharge(EvRequest(400.0, 2.0), t)
    core.start_charging(t)
    core.take_commands()
    with pytest.raises(PowerPathRemoteError):
        core.current_demand(EvRequest(bad, 10.0), t + 1)
    with pytest.raises(PowerPathRemoteError):
        core.current_demand(EvRequest(400.0, bad), t + 1)
    assert core.take_commands() == [] and core.phase is Phase.CHARGING


def test_unusable_controller_limits_are_rejected_and_previous_ones_kept() -> None:
    core = PowerPath()
    core.handle(EvseLimits(500.0, 80.0, 30_000.0, 0.0, CONTROLLER), 0)
    with pytest.raises(PowerPathUsageError):
        core.handle(EvseLimits(500.0, float("nan"), 30_000.0, 0.0, CONTROLLER), 1)
    assert core.limits(1).max_current_a == 80.0

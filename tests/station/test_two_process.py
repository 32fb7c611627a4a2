"""Two-process station (`evse run --role plc` + `--role controller`): the same scenario file
as `evse sim`, the controller in its own OS process over a real Unix socket, on the real
clock. Then the controller process dies mid-charge (the PLC's guard must end the charge
within its bound) or is replaced by a standby (the session goes on)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from evse.cli import build_parser
from evse.contract.guard import CONTROLLED_STOP_TIMEOUT_NS, LINK_LOSS_GRACE_NS
from evse.contract.values import StopReason
from evse.runtime.run_roles import main
from evse.runtime.scenario import ACTIONS, ScenarioError, load_scenario, run_scenario

pytestmark = pytest.mark.realtime
ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "roles"
SHORT = DATA / "dc_session_short.yaml"
LONG_CHARGE = DATA / "dc_session_long_charge.yaml"
#: Wall-clock ceiling of one two-process run (the scenarios last 24 s of real time).
RUN_TIMEOUT_S = 60
CHARGING_LINE = "power_delivery_pending -> charging"


def spawn(role: str, link: str, scenario: Path, *extra: str) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    if role == "controller":  # never outlives a test that forgot it
        extra = (*extra, "--duration", str(RUN_TIMEOUT_S))
    return subprocess.Popen(
        [sys.executable, "-m", "evse.cli", "run", "--role", role, "--link", link,
         "--scenario", str(scenario), *extra],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        cwd=ROOT, env=env)


def follow(proc: subprocess.Popen[str], on_line: Callable[[str], None]) -> list[str]:
    """Read the process's timeline as it runs (the test reacts to what it shows)."""
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:
        lines.append(line.rstrip("\n"))
        on_line(line)
    proc.wait(timeout=RUN_TIMEOUT_S)
    return lines


def summary(lines: list[str], role: str) -> dict[str, Any]:
    prefix = f"{role} summary "
    found = [json.loads(line[len(prefix):]) for line in lines if line.startswith(prefix)]
    assert len(found) == 1, "\n".join(lines)
    result: dict[str, Any] = found[0]
    return result


def stop_controller(proc: subprocess.Popen[str]) -> list[str]:
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=RUN_TIMEOUT_S)
    return out.splitlines()


@pytest.mark.slow  # a 24 s scenario on the real clock
def test_the_same_short_session_passes_in_one_process_and_in_two(tmp_path: Path) -> None:
    assert run_scenario(load_scenario(SHORT)).ok  # `evse sim`, virtual time
    link = f"unix:{tmp_path / 'contract.sock'}"
    ctrl = spawn("controller", link, SHORT)
    plc = spawn("plc", link, SHORT)
    try:
        plc_lines = follow(plc, lambda line: None)
    finally:
        ctrl_lines = stop_controller(ctrl)
    assert plc.returncode == 0, "\n".join(plc_lines)
    assert "scenario OK" in plc_lines
    plc_sum = summary(plc_lines, "plc")
    assert plc_sum["ev_result"].startswith("OK")
    assert plc_sum["stops"] == []  # nothing cut the session short
    assert ctrl.returncode == 0
    ctrl_sum = summary(ctrl_lines, "controller")
    actions = ctrl_sum["csms_actions"]
    assert actions.count("StartTransaction") == 1 and actions.count("StopTransaction") == 1
    assert actions.index("StartTransaction") < actions.index("StopTransaction")
    assert ctrl_sum["csms_violations"] == 0


@pytest.mark.slow  # a 24 s scenario on the real clock
def test_controller_killed_mid_charge_stops_the_charge_within_the_link_loss_bound(
    tmp_path: Path,
) -> None:
    link = f"unix:{tmp_path / 'contract.sock'}"
    ctrl = spawn("controller", link, LONG_CHARGE)
    plc = spawn("plc", link, LONG_CHARGE)

    def kill_on_charging(line: str) -> None:
        if CHARGING_LINE in line and ctrl.poll() is None:
            ctrl.kill()
            ctrl.wait(timeout=RUN_TIMEOUT_S)

    try:
        plc_lines = follow(plc, kill_on_charging)
    finally:
        if ctrl.poll() is None:
            ctrl.kill()
        ctrl.communicate(timeout=RUN_TIMEOUT_S)
    assert ctrl.returncode == -signal.SIGKILL, "the controller was never killed"
    assert plc.returncode == 0, "\n".join(plc_lines)  # unplugged, contactors open, state A
    s = summary(plc_lines, "plc")
    downs = [e for e in s["link_events"] if e["event"] == "LinkDown"]
    assert downs, s
    down_ns = downs[0]["at_ns"]
    [stop] = s["stops"]
    assert stop["reason"] == StopReason.CONTROLLER_LINK_LOST.value
    assert stop["since_ns"] == down_ns + LINK_LOSS_GRACE_NS  # the recorded bound, exactly
    bound_ns = LINK_LOSS_GRACE_NS + CONTROLLED_STOP_TIMEOUT_NS
    assert s["charging_from_ns"] < down_ns
    assert s["charging_end_ns"] is not None and s["charging_end_ns"] - down_ns <= bound_ns
    assert s["contactors_open_ns"] is not None
    assert s["contactors_open_ns"] - down_ns <= bound_ns


@pytest.mark.slow  # a 24 s scenario on the real clock
def test_standby_controller_taking_over_mid_charge_keeps_the_session(tmp_path: Path) -> None:
    """The replacement dials in well within the link-loss grace, so the guard lets the
    charge go on (ControllerRestarted, no stop); sharing the dead controller's journal, it
    closes the transaction left open (OCPP PowerLoss) with its CSMS."""
    link = f"unix:{tmp_path / 'contract.sock'}"
    store = str(tmp_path / "controller.db")
    first = spawn("controller", link, SHORT, "--store", store)
    standby = spawn("controller", link, SHORT, "--standby", "--store", store)
    plc = spawn("plc", link, SHORT)

    def swap_once_charging(line: str) -> None:
        if "(power_delivery_started)" in line and first.poll() is None:
            first.kill()
            first.wait(timeout=RUN_TIMEOUT_S)
            assert standby.stdin is not None
            standby.stdin.write("go\n")
            standby.stdin.flush()

    try:
        follow(first, swap_once_charging)  # until it is killed
        plc_lines = follow(plc, lambda line: None)
    finally:
        for proc in (first, plc):
            if proc.poll() is None:
                proc.kill()
        standby_lines = stop_controller(standby)
    assert first.returncode == -signal.SIGKILL, "the first controller was never killed"
    s = summary(plc_lines, "plc")
    assert plc.returncode == 0, "\n".join(plc_lines)
    assert s["peer_restarts"] == 1, s
    [down] = [e for e in s["link_events"] if e["event"] == "LinkDown"]
    back_ns = [e["t_ns"] for e in s["link_events"] if e["event"] == "LinkUp"][-1]
    assert back_ns - down["at_ns"] < LINK_LOSS_GRACE_NS
    assert s["charging_from_ns"] < down["at_ns"] < s["charging_end_ns"]
    assert s["stops"] == [], s  # no stop was forced: the car ended its charge itself
    assert s["ev_result"].startswith("OK")
    ctrl = summary(standby_lines, "controller")
    assert ctrl["link_ups"] == 1
    assert "StopTransaction" in ctrl["csms_actions"] and ctrl["csms_violations"] == 0


def test_plc_stopped_by_sigterm_fails_the_unchecked_expectations(tmp_path: Path) -> None:
    plc = spawn("plc", f"unix:{tmp_path / 'contract.sock'}", SHORT)

    def terminate_at_plug_in(line: str) -> None:
        if "ev_plug" in line:
            plc.send_signal(signal.SIGTERM)

    lines = follow(plc, terminate_at_plug_in)
    assert plc.returncode == 1
    assert f"stopped by signal {int(signal.SIGTERM)}" in "\n".join(lines)
    assert any(line.startswith("FAIL 4 expectation(s)") for line in lines), lines
    assert summary(lines, "plc")["ok"] is False


def test_a_pilot_only_scenario_is_refused_in_two_process_mode(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="needs a `session:` scenario"):
        run_scenario(load_scenario(ROOT / "scenarios" / "cp_basic.yaml"),
                     contract_endpoint=f"unix:{tmp_path / 'contract.sock'}")


def test_controller_actions_need_the_in_process_controller() -> None:
    from evse.contract.inprocess import InProcessLink
    from evse.runtime.config import StationConfig
    from evse.runtime.dc_station import DcStation, SessionConfig

    station = DcStation(StationConfig(), SessionConfig(), contract_port=InProcessLink().plc)
    try:
        with pytest.raises(ScenarioError, match="in-process controller"):
            ACTIONS["controller_silent"][1](station)
    finally:
        station.close()


def test_an_unknown_role_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    args = build_parser().parse_args(["run", "--role", "plc"])
    args.role = "csms"
    assert main(args) == 2
    assert "unknown role 'csms'" in capsys.readouterr().err

"""`evse audit` (the I/O half; the pack itself is built by evse/audit/, a pure function of
the tree): the live part of the pack for `--run`, recorded in docs/review/run.json, and the
command.

Three measurements: the marked tests run under pytest (pass/fail per test); the default DIN
session (`scenarios/dc_session.yaml`, as `evse sim --trace`) reduced to the series a reviewer
plots; the time from a fault to contactors open on the whole station (`DcStation`, virtual
time) for the faults whose bound the station test suite also asserts.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from evse.audit.checklist import load_checklist
from evse.audit.markers import MarkedTest, scan_tests
from evse.audit.pack import check_pack, write_pack
from evse.fsm.yamlstrict import FileLineError
from evse.runtime.clock import wall_time_s

S = 1_000_000_000
MS = 1_000_000
_SETPOINT = re.compile(r"SetModuleOutput\(voltage_v=([-\d.]+), current_a=([-\d.]+)\)")


def run_marked_tests(root: Path, marked: list[MarkedTest]) -> dict[str, str]:
    """test id -> passed/failed/skipped (the worst over its parameters)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "results.json"
        env = dict(os.environ, EVSE_AUDIT_RESULTS=str(out))
        files = sorted({m.test.split("::")[0] for m in marked})
        subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p",
                        "evse.audit.plugin", "-m", "req", *files], cwd=root, env=env,
                       check=False)
        raw: dict[str, str] = json.loads(out.read_text()) if out.exists() else {}
    rank = {"failed": 2, "passed": 1, "skipped": 0}
    results: dict[str, str] = {}
    for nodeid, outcome in raw.items():
        test = nodeid.split("[", 1)[0]
        if test not in results or rank[outcome] > rank[results[test]]:
            results[test] = outcome
    return {m.test: results.get(m.test, "not run") for m in marked}


def session_series(trace_lines: list[str], title: str) -> dict[str, Any]:
    """Setpoints, meter samples and SECC phases from a JSON-lines trace."""
    set_v: list[list[float]] = []
    set_a: list[list[float]] = []
    meter_v: list[list[float]] = []
    meter_a: list[list[float]] = []
    phases: list[list[Any]] = []
    end = 0.0
    for line in trace_lines:
        r = json.loads(line)
        t = r["t"] / S
        end = max(end, t)
        if r.get("src") == "power" and r.get("cmd") == "DisableModules()":
            if set_v and set_v[-1][1] != 0.0:  # the modules are off: no output, whatever
                set_v.append([round(t, 3), 0.0])  # the last setpoint was
            if set_a and set_a[-1][1] != 0.0:
                set_a.append([round(t, 3), 0.0])
        elif r.get("src") == "power" and "SetModuleOutput" in str(r.get("cmd", "")):
            m = _SETPOINT.search(r["cmd"])
            if m:
                v, a = float(m.group(1)), float(m.group(2))
                if not set_v or set_v[-1][1] != v:
                    set_v.append([round(t, 3), v])
                if not set_a or set_a[-1][1] != a:
                    set_a.append([round(t, 3), a])
        elif r.get("src") == "ocpp" and r.get("kind") == "tx" and "MeterValues" in r["frame"]:
            frame = json.loads(r["frame"])
            for mv in frame[3].get("meterValue", []):
                for sv in mv.get("sampledValue", []):
                    if sv.get("measurand") == "Voltage":
                        meter_v.append([round(t, 3), float(sv["value"])])
                    elif sv.get("measurand") == "Current.Import":
                        meter_a.append([round(t, 3), float(sv["value"])])
        elif r.get("src") == "secc" and r.get("kind") in ("start", "transition"):
            state = r.get("state") if r["kind"] == "start" else r["to"]
            if not phases or phases[-1][2] != state:
                if phases:
                    phases[-1][1] = round(t, 3)
                phases.append([round(t, 3), round(t, 3), state])
    if phases:
        phases[-1][1] = round(end, 3)
    return {"title": title, "set_v": set_v, "set_a": set_a, "meter_v": meter_v,
            "meter_a": meter_a, "phases": phases}


def din_session(root: Path) -> dict[str, Any]:
    from evse.runtime.scenario import load_scenario, run_scenario

    scenario = load_scenario(root / "scenarios" / "dc_session.yaml")
    with tempfile.TemporaryDirectory() as tmp:
        trace = Path(tmp) / "trace.jsonl"
        result = run_scenario(scenario, listener=None, trace_file=trace)
        lines = trace.read_text().splitlines()
    series = session_series(lines, f"scenario {scenario.name} ({'OK' if result.ok else 'FAILED'})")
    return series


def safe_state_times() -> list[dict[str, Any]]:
    """Fault -> contactors open on the whole station, against the bound the tests assert."""
    from evse.contract.guard import CONTROLLED_STOP_TIMEOUT_NS
    from evse.power.shutdown import EMERGENCY_OPEN_BOUND_NS, ERROR_SHUTDOWN_OPEN_BOUND_NS
    from evse.runtime.config import StationConfig
    from evse.runtime.dc_station import DcStation, SessionConfig

    def charging(protocol: str) -> DcStation:
        st = DcStation(StationConfig(), SessionConfig(protocol=protocol, ocpp="none",
                                                      charge_s=300))
        st.start()
        st.sched.run_until(1 * S)
        st.plug_in()
        st.sched.run_until_true(lambda: st.secc is not None and st.secc.state == "charging"
                                and st.world.plant.connector_current_a > 50, limit_ns=60 * S)
        return st

    def measure(name: str, protocol: str, inject: Callable[[DcStation], int],
                bound: Callable[[DcStation], int], start_at_detection: bool = False
                ) -> dict[str, Any]:
        st = charging(protocol)
        t0 = inject(st)
        if start_at_detection:
            st.sched.run_until_true(lambda: st.power.fault is not None, limit_ns=15 * S)
            t0 = st.sched.now_ns()
        b = bound(st)
        st.sched.run_until_true(lambda: not st.world.board.contact_closed, limit_ns=b + 5 * S)
        measured = st.sched.now_ns() - t0
        st.close()
        return {"fault": name, "measured_ms": round(measured / MS, 1),
                "bound_ms": round(b / MS, 1)}

    def estop(st: DcStation) -> int:
        st.world.board.press_estop()
        return st.sched.now_ns()

    def insulation(st: DcStation) -> int:
        st.world.imd_physics.inject_insulation_fault(20_000.0)
        return st.sched.now_ns()

    def silent(st: DcStation) -> int:
        st.controller.silent = True  # type: ignore[union-attr]
        return st.sched.now_ns()

    def limits_bound(st: DcStation) -> int:
        validity: int = st.controller.limits.validity_ms * MS  # type: ignore[union-attr]
        return validity + CONTROLLED_STOP_TIMEOUT_NS + ERROR_SHUTDOWN_OPEN_BOUND_NS

    return [
        measure("e-stop (DIN)", "din", estop, lambda st: EMERGENCY_OPEN_BOUND_NS),
        measure("insulation fault, from detection (ISO-2)", "iso2", insulation,
                lambda st: ERROR_SHUTDOWN_OPEN_BOUND_NS, start_at_detection=True),
        measure("controller silent: limits expire (DIN)", "din", silent, limits_bound),
    ]


def live_run(root: Path, marked: list[MarkedTest], *, tests: bool = True) -> dict[str, Any]:
    results = run_marked_tests(root, marked) if tests else {}
    counts = {k: sum(1 for v in results.values() if v == k)
              for k in ("passed", "failed", "skipped", "not run")}
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(wall_time_s()))
    return {"when": when, "counts": counts,
            "tests": results, "session": din_session(root), "safe_state": safe_state_times()}


def audit(root: Path, out_dir: Path, *, check: bool = False, run: bool = False) -> int:
    """0: pack written (or, with check, current); 1: check failed; 2: bad input."""
    try:
        if check:
            problems = check_pack(root, out_dir)
            for p in problems:
                print(f"audit: {p}")
            if problems:
                print(f"audit: {len(problems)} problem(s): the review pack is not current",
                      file=sys.stderr)
                return 1
            print(f"audit: {out_dir} is current")
            return 0
        if run:
            items = load_checklist(root)
            marked = scan_tests(root, {i.id for i in items})
            record = live_run(root, marked)
            out_dir.mkdir(parents=True, exist_ok=True)
            (out_dir / "run.json").write_text(json.dumps(record, indent=1, sort_keys=True)
                                              + "\n", encoding="utf-8")
            c = record["counts"]
            print(f"audit: {c['passed']} passed, {c['failed']} failed, {c['skipped']} skipped, "
                  f"{c['not run']} not run of {len(marked)} marked tests")
        written = write_pack(root, out_dir)
        print(f"audit: {len(written)} files in {out_dir}")
        return 0
    except FileLineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

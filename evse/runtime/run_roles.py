"""`evse run --role plc|controller`: the station as two OS processes joined by the contract.

The PLC process is the embedded default station (`DcStation`: pilot, SLAC, SECC, power path,
the simulated world and car) with the controller↔PLC contract on a byte stream instead of
in-process; the controller process is the OCPP controller and its CSMS simulator
(`OcppSide`) at the other end. Both run the same scenario file as `evse sim` (the PLC side
runs its steps and checks its expectations; the controller side only takes its session
settings: OCPP version, the driver's token delay), on the monotonic clock with
`RealtimeRunner`. The PLC listens and the controller dials, so either may start first and
the controller may restart; the contract guard on the PLC side bounds what a lost or
restarted controller can do to a session.

Each process ends after `--duration` (the PLC: the scenario's own duration by default) or on
SIGTERM/SIGINT, and prints one `plc summary {json}` / `controller summary {json}` line for
supervisors and tests. The PLC exits 0 only when every expectation of the scenario passed.

    evse run --role plc --link unix:/tmp/evse-contract.sock            # the default session
    evse run --role controller --link unix:/tmp/evse-contract.sock
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from evse.contract.values import Role
from evse.io.contract_link import open_stream_port
from evse.power.controller import PowerPathConfig
from evse.runtime.clock import MonotonicClock, ns_to_s, s_to_ns
from evse.runtime.config import load_config
from evse.runtime.dc_station import DcStation, SessionConfig
from evse.runtime.ocpp_side import OcppSide
from evse.runtime.realtime import RealtimeRunner
from evse.runtime.scenario import Scenario, load_scenario, run_scenario
from evse.runtime.scheduler import Scheduler
from evse.runtime.sim_controller import StandInController
from evse.runtime.timeline import timeline_printer

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SCENARIO = ROOT / "scenarios" / "dc_session.yaml"
DEFAULT_LINK = "unix:/tmp/evse-contract.sock"
#: How often the controller process polls the contract and lets the controller core speak:
#: the PLC's power tick (dc_station POWER_TICK_NS), so a contract round trip costs at most
#: two ticks plus the link's own service period (realtime STREAM_SERVICE_PERIOD_NS).
CONTROLLER_STEP_NS = 10_000_000
#: The controller runs until signalled when no --duration is given (ten years: forever).
FOREVER_NS = s_to_ns(10 * 365 * 24 * 3600.0)


class _StopFlag:
    """Set by SIGTERM/SIGINT; the loops check it every turn (at least every 10 ms)."""

    def __init__(self) -> None:
        self.signal: int | None = None

    def install(self) -> None:
        signal.signal(signal.SIGTERM, self._set)
        signal.signal(signal.SIGINT, self._set)

    def _set(self, signum: int, frame: FrameType | None) -> None:
        self.signal = signum

    def is_set(self) -> bool:
        return self.signal is not None


@dataclass
class _PlcWatch:
    """What a supervisor (or a test) needs to judge a two-process run, from the trace."""

    link_events: list[dict[str, Any]] = field(default_factory=list)
    charging_from_ns: int | None = None
    charging_end_ns: int | None = None
    contactors_open_ns: int | None = None

    def __call__(self, t_ns: int, source: str, kind: str, payload: dict[str, Any]) -> None:
        if source == "contract" and kind == "link":
            self.link_events.append({"t_ns": t_ns, "event": payload["event"],
                                     "at_ns": payload.get("at_ns")})
        elif source == "secc" and kind == "transition":
            if payload["to"] == "charging" and self.charging_from_ns is None:
                self.charging_from_ns = t_ns
            elif payload["from"] == "charging" and payload["to"] != "charging":
                self.charging_end_ns = t_ns
        elif (source == "cp" and kind == "notice" and payload.get("notice") == "contactors"
              and not payload.get("closed") and self.charging_from_ns is not None
              and self.contactors_open_ns is None):
            self.contactors_open_ns = t_ns


def _timeline(verbose: bool, quiet: bool) -> Any:
    """`evse sim`'s live timeline."""
    if quiet:
        return None
    return timeline_printer(verbose)


def _load(args: argparse.Namespace) -> Scenario:
    scenario = load_scenario(getattr(args, "scenario", None) or DEFAULT_SCENARIO)
    config = getattr(args, "config", None)
    if config:
        scenario.config = load_config(config)
    duration = getattr(args, "duration", None)
    if duration is not None:
        scenario.duration_ns = s_to_ns(float(duration))
    return scenario


def run_plc(scenario: Scenario, link: str, stop: _StopFlag, *, verbose: bool = False,
            quiet: bool = False) -> int:
    watch = _PlcWatch()
    show = _timeline(verbose, quiet)

    def listen(t_ns: int, source: str, kind: str, payload: dict[str, Any]) -> None:
        watch(t_ns, source, kind, payload)
        if show is not None:
            show(t_ns, source, kind, payload)

    print(f"scenario {scenario.name} (PLC role, controller on {link}): {scenario.doc}"
          .rstrip(": "), flush=True)
    result = run_scenario(scenario, listener=listen, contract_endpoint=link, stop=stop.is_set)
    station = result.station
    assert isinstance(station, DcStation)  # run_scenario refuses a pilot-only scenario here
    # Interrupted: what was not checked yet did not pass. A full run checked everything
    # due within the scenario's duration, as `evse sim` does.
    end_ns = station.sched.now_ns() if stop.is_set() else scenario.duration_ns
    unchecked = [e for e in scenario.expect if e.at_ns > end_ns]
    for f in result.failures:
        print(f"FAIL {f}")
    if stop.is_set():
        print(f"stopped by signal {stop.signal} at {ns_to_s(end_ns):.3f} s")
    if unchecked:
        print(f"FAIL {len(unchecked)} expectation(s) after {ns_to_s(end_ns):.3f} s not checked")
    ok = result.ok and not unchecked
    print("scenario OK" if ok else f"scenario FAILED ({len(result.failures) + len(unchecked)})")
    counters = station.plc_port.counters if hasattr(station.plc_port, "counters") else None
    summary = {
        "ok": ok,
        "ev_result": station.log.ev_result,
        "stops": [{"reason": s.reason.value, "kind": s.kind.value, "since_ns": s.since_ns}
                  for s in station.guard.stop_log],
        "link_events": watch.link_events,
        "charging_from_ns": watch.charging_from_ns,
        "charging_end_ns": watch.charging_end_ns,
        "contactors_open_ns": watch.contactors_open_ns,
        "peer_restarts": getattr(counters, "peer_restarts", None),
        "link_ups": getattr(counters, "link_ups", None),
        "overruns": result.realtime.overruns if result.realtime else None,
        "worst_lateness_ms": (result.realtime.worst_lateness_ns / 1e6
                              if result.realtime else None),
    }
    print("plc summary " + json.dumps(summary), flush=True)
    return 0 if ok else 1


def run_controller(scenario: Scenario, link: str, stop: _StopFlag, *,
                   duration_ns: int | None, verbose: bool = False, quiet: bool = False,
                   standby: bool = False, store_path: str = ":memory:") -> int:
    session = scenario.session or SessionConfig()
    if standby:
        # A warm standby: everything imported, nothing connected until released (a
        # supervisor replacing a dead controller within the PLC's link-loss grace).
        print("controller standby", flush=True)
        if not sys.stdin.readline():
            return 0
    clock = MonotonicClock()
    sched = Scheduler(clock, seed=scenario.config.seed)
    show = _timeline(verbose, quiet)
    if show is not None:
        sched.trace.add_listener(show)
    port = open_stream_port(Role.CONTROLLER, link, now_ns=clock.now_ns)
    pc = PowerPathConfig()
    side: OcppSide | StandInController
    if session.ocpp == "none":
        side = StandInController(port, auth_delay_ns=s_to_ns(session.auth_delay_s))
    else:
        side = OcppSide(sched, port, version=session.ocpp,
                        token_delay_ns=s_to_ns(session.auth_delay_s),
                        max_voltage_v=pc.max_voltage_v, max_current_a=pc.max_current_a,
                        max_power_w=pc.max_power_w, store_path=store_path,
                        trace=sched.trace, pnc=scenario.config.pnc)
    print(f"controller (OCPP {session.ocpp}) dialing the PLC on {link}", flush=True)
    sched.call_every(CONTROLLER_STEP_NS, side.step, "controller.step")
    runner = RealtimeRunner(sched)
    runner.serve(port)
    if isinstance(side, OcppSide):
        side.start(clock.now_ns())
    try:
        runner.run_until(FOREVER_NS if duration_ns is None else duration_ns, stop=stop.is_set)
    finally:
        port.close()
    summary: dict[str, Any] = {
        "ocpp": session.ocpp,
        "link_ups": port.counters.link_ups,
        "signals_rx": port.counters.signals_rx,
        "signals_tx": port.counters.signals_tx,
        "overruns": runner.stats.overruns,
        "worst_lateness_ms": runner.stats.worst_lateness_ns / 1e6,
    }
    if isinstance(side, OcppSide):
        summary["csms_actions"] = side.csms.actions()
        summary["csms_violations"] = len(side.csms.violations)
    print("controller summary " + json.dumps(summary), flush=True)
    return 0


def main(args: argparse.Namespace) -> int:
    """`evse run --role plc|controller` (args: role, link, config, duration, scenario; the
    parser is evse/cli.py's `run`)."""
    if args.role not in ("plc", "controller"):
        print(f"error: unknown role {args.role!r} (plc or controller)", file=sys.stderr)
        return 2
    stop = _StopFlag()
    stop.install()
    scenario = _load(args)
    link = getattr(args, "link", None) or DEFAULT_LINK
    verbose = bool(getattr(args, "verbose", False))
    quiet = bool(getattr(args, "quiet", False))
    if args.role == "plc":
        return run_plc(scenario, link, stop, verbose=verbose, quiet=quiet)
    duration = getattr(args, "duration", None)
    return run_controller(
        scenario, link, stop, verbose=verbose, quiet=quiet,
        duration_ns=None if duration is None else s_to_ns(float(duration)),
        standby=bool(getattr(args, "standby", False)),
        store_path=getattr(args, "store", None) or ":memory:",
    )

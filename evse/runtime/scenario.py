"""Scenario files: what the virtual world does, when, and what the station must show.

A scenario is YAML with `steps` (timed actions on the simulated EV, board and station) and
`expect` (timed checks of chart states and contactors). `evse sim` runs it in virtual time.
Every error names the file and line.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from drivers.board.sim import EvCpState
from evse.contract.values import Role
from evse.ev.profiles import profile
from evse.fsm.yamlstrict import FileLineError, LMap, YamlError, line_of, load_yaml
from evse.io.contract_link import ContractLinkAdapter, open_stream_port
from evse.runtime.clock import MonotonicClock, ns_to_s, s_to_ns
from evse.runtime.config import DEFAULT_CONFIG, ConfigError, StationConfig, load_config
from evse.runtime.dc_station import DcStation, SessionConfig, warm_up_protocols
from evse.runtime.realtime import RealtimeRunner, RunnerStats
from evse.runtime.station import Station


class ScenarioError(FileLineError):
    """A scenario file is invalid."""


AnyStation = Station | DcStation


def _ev(state: EvCpState) -> Callable[[AnyStation], None]:
    return lambda st: st.board.set_ev_state(state)


def _set(attr: str, value: bool) -> Callable[[AnyStation], None]:
    return lambda st: setattr(st.board, attr, value)


def _dc(fn: Callable[[DcStation], None]) -> Callable[[AnyStation], None]:
    def run(st: AnyStation) -> None:
        if not isinstance(st, DcStation):
            raise ScenarioError("<scenario>", 0, "this action needs a `session:` scenario")
        fn(st)

    return run


def _controller(attr: str, value: bool) -> Callable[[AnyStation], None]:
    def run(st: DcStation) -> None:
        if st.controller is None:
            raise ScenarioError("<scenario>", 0,
                                "this action needs the in-process controller (single process)")
        setattr(st.controller, attr, value)

    return _dc(run)


ACTIONS: dict[str, tuple[str, Callable[[AnyStation], None]]] = {
    "ev_plug": ("EV connects (B, 2.74 kOhm; a simulated car then runs its session)",
                lambda st: st.ev_plug()),
    "ev_unplug": ("EV disconnects (A)", lambda st: st.ev_unplug()),
    "ev_ready": ("EV closes S2 (C, 882 Ohm)", _ev(EvCpState.C)),
    "ev_ready_vent": ("EV asks for ventilation (D, 246 Ohm)", _ev(EvCpState.D)),
    "ev_stop": ("EV opens S2 (back to B)", _ev(EvCpState.B)),
    "cp_short": ("CP shorted to PE (E)", _ev(EvCpState.E)),
    "ev_diode_short": ("EV diode shorted", _set("ev_diode_ok", False)),
    "weld_contactor": ("contactor welds (never opens again)", _set("welded", True)),
    "contactor_fails_to_close": ("contactor coil without effect", _set("fail_to_close", True)),
    "estop_press": ("emergency stop pressed", lambda st: st.board.press_estop()),
    "estop_release": ("emergency stop released", lambda st: st.board.release_estop()),
    "linux_hang": (
        "Linux stops sending keep-alives",
        lambda st: st.cp.set_keepalive_enabled(False),
    ),
    "power_on": ("power path asks for contactors", lambda st: st.post_cp("power_on_request")),
    "power_off": ("power path releases contactors", lambda st: st.post_cp("power_off_request")),
    "hlc_suspend": ("V2G side ends HLC", lambda st: st.post_cp("hlc_suspend")),
    "hlc_resume": ("V2G side wants HLC again", lambda st: st.post_cp("hlc_resume")),
    "wake_up": ("E/F wake-up pulse", lambda st: st.post_cp("wake_up")),
    "fault": ("external latched fault", lambda st: st.post_cp("fault", "scenario")),
    "fault_reset": ("operator resets faults", lambda st: st.post_cp("fault_reset")),
    "isolation_fault": ("insulation fault on the DC output (50 kOhm)",
                        _dc(lambda st: st.world.imd_physics.inject_insulation_fault(50_000.0))),
    "controller_silent": ("the controller stops answering (no limits, no auth)",
                          _controller("silent", True)),
    "auth_reject": ("the controller rejects the next authorization",
                    _controller("accept", False)),
}


@dataclass(frozen=True, slots=True)
class Step:
    at_ns: int
    action: str
    line: int


@dataclass(frozen=True, slots=True)
class Expectation:
    at_ns: int
    state: str | None
    contactors: bool | None
    line: int
    secc: str | None = None
    ev_result: str | None = None


@dataclass
class Scenario:
    name: str
    doc: str
    duration_ns: int
    config: StationConfig
    steps: list[Step]
    expect: list[Expectation]
    file: str
    session: SessionConfig | None = None


@dataclass
class ScenarioResult:
    station: AnyStation
    failures: list[str] = field(default_factory=list)
    realtime: RunnerStats | None = None  # overruns of a real-time run

    @property
    def ok(self) -> bool:
        return not self.failures


def _time(item: LMap, key: str, file: str) -> int:
    v = item.get(key)
    if not isinstance(v, int | float) or isinstance(v, bool) or v < 0:
        raise ScenarioError(file, line_of(item, key), f"{key!r} must be seconds >= 0")
    return s_to_ns(float(v))


def load_mapping(path: str | Path, error: type[FileLineError], what: str) -> LMap:
    """A YAML file that must be a mapping (a scenario, a day file); errors as `error`."""
    file = str(path)
    try:
        raw = load_yaml(file)
    except YamlError as exc:
        raise error(exc.file, exc.line, exc.message) from exc
    if not isinstance(raw, LMap):
        raise error(file, 1, f"a {what} must be a mapping")
    return raw


def station_config_of(raw: LMap, file: str, error: type[FileLineError]) -> StationConfig:
    """The `config:` a scenario or day file names (relative to it), else the embedded
    default; a config error is reported as `error` with the config file's own line."""
    cfg_path = raw.get("config")
    if cfg_path is None:
        cfg_file = DEFAULT_CONFIG
    elif isinstance(cfg_path, str):
        cfg_file = (Path(file).parent / cfg_path).resolve()
    else:
        raise error(file, line_of(raw, "config"), "config must be a path")
    try:
        return load_config(cfg_file)
    except ConfigError as exc:
        raise error(exc.file, exc.line, exc.message) from exc


def typed_fields(body: LMap, keys: dict[str, type], file: str, what: str,
                 error: type[FileLineError]) -> dict[str, Any]:
    """Values of `body` checked against `keys` (name -> type; an int is a float where a
    float is wanted, a bool is never a number): unknown keys and wrong types are errors."""
    out: dict[str, Any] = {}
    for k, v in body.items():
        line = line_of(body, k)
        want = keys.get(k)
        if want is None:
            raise error(file, line, f"unknown key {what}.{k} ({sorted(keys)})")
        if want is float and isinstance(v, int) and not isinstance(v, bool):
            v = float(v)
        if not isinstance(v, want) or (want is not bool and isinstance(v, bool)):
            raise error(file, line, f"{what}.{k} must be {want.__name__}")
        out[k] = v
    return out


def check_car(values: dict[str, Any], body: LMap, file: str, what: str,
              error: type[FileLineError]) -> None:
    """The simulated car's protocol and EV profile exist (else a file:line error, never a
    failure when the car is built)."""
    if values.get("protocol", "din") not in ("din", "iso2"):
        raise error(file, line_of(body, "protocol"), f"{what}.protocol: din or iso2")
    try:
        profile(values.get("ev_profile", "generic"))
    except ValueError as exc:
        raise error(file, line_of(body, "ev_profile"), str(exc)) from exc


def load_scenario(path: str | Path) -> Scenario:
    file = str(path)
    raw = load_mapping(file, ScenarioError, "scenario")
    allowed = {"scenario", "doc", "config", "duration_s", "steps", "expect", "session"}
    for k in raw:
        if k not in allowed:
            raise ScenarioError(file, line_of(raw, k), f"unknown key {k!r}")
    for req in ("scenario", "duration_s", "steps"):
        if req not in raw:
            raise ScenarioError(file, raw.line, f"missing required key {req!r}")
    config = station_config_of(raw, file, ScenarioError)
    steps: list[Step] = []
    raw_steps = raw["steps"]
    if not isinstance(raw_steps, list):
        raise ScenarioError(file, line_of(raw, "steps"), "steps must be a list")
    for item in raw_steps:
        line = line_of(item, default=line_of(raw, "steps"))
        if not isinstance(item, LMap) or set(item) != {"at", "do"}:
            raise ScenarioError(file, line, "a step is {at: seconds, do: action}")
        action = item["do"]
        if action not in ACTIONS:
            raise ScenarioError(
                file, line_of(item, "do"), f"unknown action {action!r} (known: {sorted(ACTIONS)})"
            )
        steps.append(Step(_time(item, "at", file), action, line))
    expect: list[Expectation] = []
    raw_expect = raw.get("expect") or []
    if not isinstance(raw_expect, list):
        raise ScenarioError(file, line_of(raw, "expect"), "expect must be a list")
    for item in raw_expect:
        line = line_of(item, default=line_of(raw, "expect"))
        if not isinstance(item, LMap) or "at" not in item or not set(item) <= {
            "at", "state", "contactors", "secc", "ev_result"
        }:
            raise ScenarioError(
                file, line, "an expectation is {at, state?, contactors?, secc?, ev_result?}"
            )
        for key in ("secc", "ev_result"):
            if item.get(key) is not None and not isinstance(item[key], str):
                raise ScenarioError(file, line_of(item, key), f"{key} must be a text")
        state = item.get("state")
        contactors = item.get("contactors")
        if state is not None and not isinstance(state, str):
            raise ScenarioError(file, line, "state must be a chart state path")
        if contactors is not None and contactors not in ("open", "closed"):
            raise ScenarioError(file, line, "contactors must be 'open' or 'closed'")
        expect.append(
            Expectation(
                _time(item, "at", file),
                state,
                None if contactors is None else contactors == "closed",
                line,
                item.get("secc"),
                item.get("ev_result"),
            )
        )
    return Scenario(
        session=_session(raw, file),
        name=str(raw["scenario"]),
        doc=str(raw.get("doc", "")),
        duration_ns=_time(raw, "duration_s", file),
        config=config,
        steps=steps,
        expect=expect,
        file=file,
    )


_SESSION_KEYS: dict[str, type] = {
    "protocol": str, "ev_profile": str, "soc_start_pct": float, "soc_target_pct": float,
    "charge_s": float, "auth_delay_s": float, "ocpp": str, "tls": bool,
}


def _session(raw: LMap, file: str) -> SessionConfig | None:
    body = raw.get("session")
    if body is None:
        return None
    if not isinstance(body, LMap):
        raise ScenarioError(file, line_of(raw, "session"), "session must be a mapping")
    values = typed_fields(body, _SESSION_KEYS, file, "session", ScenarioError)
    if values.get("ocpp", "1.6") not in ("1.6", "2.0.1", "none"):
        raise ScenarioError(file, line_of(body, "ocpp"), "session.ocpp: 1.6, 2.0.1 or none")
    check_car(values, body, file, "session", ScenarioError)
    return SessionConfig(**values)


def run_scenario(
    scenario: Scenario,
    *,
    listener: Callable[[int, str, str, dict[str, Any]], None] | None = None,
    trace_file: str | Path | None = None,
    realtime: bool = False,
    contract_endpoint: str | None = None,
    stop: Callable[[], bool] | None = None,
) -> ScenarioResult:
    """Run in virtual time (or, with `realtime`, on the monotonic clock as in production).
    Expectations are checked at their instant, after the events due then.

    `contract_endpoint` (`unix:PATH`, `tcp:HOST:PORT`, `serial:DEV`): the PLC half of the
    two-process station (`evse run --role plc`). The same scenario runs on the monotonic
    clock with the controller at the far end of that contract link; the link listens here,
    the controller process dials. `stop()` true ends a real-time run early (signals)."""
    if contract_endpoint is not None:
        if scenario.session is None:
            raise ScenarioError(scenario.file, 1, "a two-process run needs a `session:` scenario")
        realtime = True
    if realtime:
        # Before the clock: scapy, every SLAC frame and the EXI tables load now, not on the
        # station's first timers or a car's first request (issue 13).
        warm_up_protocols()
    clock = MonotonicClock() if realtime else None
    station: AnyStation
    link: ContractLinkAdapter | None = None
    if contract_endpoint is not None and clock is not None:
        link = open_stream_port(Role.PLC, contract_endpoint, now_ns=clock.now_ns)
        station = DcStation(scenario.config, scenario.session, clock=clock, contract_port=link)
    elif scenario.session is not None:
        station = DcStation(scenario.config, scenario.session, clock=clock)
    else:
        station = Station(scenario.config, clock=clock)
    sched = station.scheduler
    if listener is not None:
        sched.trace.add_listener(listener)
    if trace_file is not None:
        sched.trace.open_file(trace_file)
    result = ScenarioResult(station)

    def do_step(step: Step) -> Callable[[int], None]:
        def fire(now_ns: int) -> None:
            sched.trace.record("scenario", "step", {"do": step.action})
            ACTIONS[step.action][1](station)

        return fire

    def check(exp: Expectation) -> Callable[[int], None]:
        def fire(now_ns: int) -> None:
            if exp.state is not None and not station.cp.machine.in_state(exp.state):
                result.failures.append(
                    f"{scenario.file}:{exp.line}: at {ns_to_s(now_ns):.3f} s expected state "
                    f"{exp.state!r}, got {station.cp.state!r}"
                )
            secc = station.secc.state if isinstance(station, DcStation) and station.secc else None
            if exp.secc is not None and secc != exp.secc:
                result.failures.append(
                    f"{scenario.file}:{exp.line}: at {ns_to_s(now_ns):.3f} s expected SECC "
                    f"state {exp.secc!r}, got {secc!r}"
                )
            if exp.ev_result is not None:
                got = station.log.ev_result if isinstance(station, DcStation) else None
                if got is None or not got.startswith(exp.ev_result):
                    result.failures.append(
                        f"{scenario.file}:{exp.line}: at {ns_to_s(now_ns):.3f} s expected car "
                        f"result {exp.ev_result!r}, got {got!r}"
                    )
            if exp.contactors is not None and station.board.contact_closed != exp.contactors:
                want = "closed" if exp.contactors else "open"
                result.failures.append(
                    f"{scenario.file}:{exp.line}: at {ns_to_s(now_ns):.3f} s expected "
                    f"contactors {want}"
                )

        return fire

    station.start()
    for step in scenario.steps:
        sched.call_at(step.at_ns, do_step(step), f"step:{step.action}")
    for exp in scenario.expect:
        sched.call_at(exp.at_ns, check(exp), "expect")
    try:
        if realtime:
            runner = RealtimeRunner(sched)
            result.realtime = runner.stats
            if link is not None:
                runner.serve(link)
            runner.run_until(scenario.duration_ns, stop=stop)
        else:
            sched.run_until(scenario.duration_ns)
    finally:
        sched.trace.close()
        station.close()
        if link is not None:
            link.close()
    return result

"""`evse` command line: sim, run, charts, validate, exi.

Bad input (a malformed spec, config or scenario) prints one line `file:line: message` and
exits with status 2; it never shows a traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from evse.runtime.clock import cpu_time_ns, ns_to_s, perf_ns
from evse.runtime.timeline import timeline_printer

ROOT = Path(__file__).resolve().parents[1]


def cmd_sim_external(args: argparse.Namespace) -> int:
    import asyncio

    from evse.io.ocpp_ws import WsSecurity
    from evse.runtime.external_csms import run_with_external_csms

    security = WsSecurity(
        profile=args.security_profile or (1 if args.csms.startswith("ws:") else 2),
        basic_user=args.cp_id or "", basic_password=args.password or "",
        ca_file=args.ca_file or "", client_cert=args.client_cert or "",
        client_key=args.client_key or "",
    )
    print(f"simulated station on the real clock against {args.csms} (OCPP {args.ocpp})")
    result = asyncio.run(run_with_external_csms(
        args.csms, args.ocpp, args.charge_seconds, protocol=args.protocol,
        security=security, id_token=args.id_token,
        tx_start_points=args.tx_start_point, tx_stop_points=args.tx_stop_point,
    ))
    for t, what in result.milestones:
        print(f"{ns_to_s(t):10.3f} s  {what}")
    for line in result.host_log:
        print(f"host: {line}")
    print(f"{len(result.frames_sent)} OCPP frames sent; car: {result.ev_result}")
    return 0 if result.ev_result is not None and result.ev_result.startswith("OK") else 1


def cmd_sim(args: argparse.Namespace) -> int:
    from evse.runtime.scenario import load_scenario, run_scenario

    if args.csms:
        return cmd_sim_external(args)
    scenario = load_scenario(args.scenario)
    print(f"scenario {scenario.name}: {scenario.doc}".rstrip(": "))
    wall0, cpu0 = perf_ns(), cpu_time_ns()
    result = run_scenario(
        scenario,
        listener=None if args.quiet else timeline_printer(args.verbose),
        trace_file=args.trace,
    )
    wall = perf_ns() - wall0
    cpu = cpu_time_ns() - cpu0
    sim_s = ns_to_s(scenario.duration_ns)
    print(
        f"simulated {sim_s:.1f} s in {wall / 1e6:.1f} ms wall ({cpu / 1e6:.1f} ms CPU): "
        f"{sim_s / max(wall / 1e9, 1e-9):,.0f}x real time"
    )
    for f in result.failures:
        print(f"FAIL {f}")
    print("scenario OK" if result.ok else f"scenario FAILED ({len(result.failures)})")
    return 0 if result.ok else 1


def cmd_charts(args: argparse.Namespace) -> int:
    from evse.fsm.render import render_all

    written = render_all(ROOT / "fsm_specs", ROOT / "docs" / "charts", svg=not args.no_svg)
    for path in written:
        print(path.relative_to(ROOT))
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from evse.runtime.validate import validate_paths

    problems = validate_paths([Path(p) for p in args.paths] or None)
    for p in problems:
        print(p)
    if not problems:
        print("all specs and configs valid")
    return 1 if problems else 0


def cmd_exi(args: argparse.Namespace) -> int:
    from exi.cli import main as exi_main

    rest = list(args.rest)
    if rest[:1] == ["decode"] and "--pcap" in rest:
        return _exi_decode_pcap(rest[1:])
    rc: int = exi_main(rest)
    return rc


def _exi_decode_pcap(argv: list[str]) -> int:
    """`evse exi decode --pcap FILE [--keylog FILE]`: the V2G messages of a capture, TLS
    connections decrypted with the capture's own key log (evse/io/capture.py writes it
    into the file) or `--keylog` (an NSS key log, e.g. SSLKEYLOGFILE of a car simulator)."""
    from evse.replay.pcap import CaptureError, messages
    from exi.cli import decode_messages

    ap = argparse.ArgumentParser(prog="evse exi decode")
    ap.add_argument("--pcap", required=True, type=Path)
    ap.add_argument("--keylog", type=Path, default=None)
    a = ap.parse_args(argv)
    # scapy notes the key log it cannot use itself (it has no TLS layer loaded): we do.
    logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
    try:
        key_log = a.keylog.read_bytes() if a.keylog is not None else b""
        msgs = messages(a.pcap, key_log)
    except (OSError, CaptureError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return decode_messages(msgs, sys.stdout)


def cmd_replay(args: argparse.Namespace) -> int:
    from evse.replay.__main__ import main as replay_main

    rc: int = replay_main(list(args.rest))
    return rc


def cmd_ev(args: argparse.Namespace) -> int:
    from evse.ev.__main__ import main as ev_main

    rc: int = ev_main(list(args.rest))
    return rc


def cmd_run(args: argparse.Namespace) -> int:
    """The station on the real clock: on a network interface, or one of two processes."""
    # scapy before anything else: the 12 MB OUI table its import loads (and
    # evse.slac.scapy_layers empties) is then reused by every later import instead of adding
    # to the peak RSS (issue 13; measured with config/bench.yaml: peak 84 -> 77 MB).
    from evse.slac import scapy_layers  # noqa: F401

    if args.role != "single":
        from evse.runtime.run_roles import main as roles_main

        rc: int = roles_main(args)
        return rc
    from evse.runtime.run_iface import main as run_main

    if args.config is None:
        args.config = str(ROOT / "config" / "bench.yaml")
    rc = run_main(args)
    return rc


def cmd_day(args: argparse.Namespace) -> int:
    """A day of operation: many sessions on one station, one line per session."""
    from evse.runtime.day import load_day, run_day

    day = load_day(args.day)
    versions = ["1.6", "2.0.1"] if args.ocpp == "both" else [args.ocpp]
    ok = True
    for version in versions:
        print(f"day {day.name}: {len(day.sessions)} sessions, OCPP {version}")
        result = run_day(day, version, echo=print)
        failed = sum(1 for o in result.outcomes if o.failures)
        passed = len(result.outcomes) - failed
        for code, text in result.violations:
            print(f"  CSMS schema violation {code}: {text}")
        print(f"OCPP {version}: {passed} passed, {failed} failed "
              f"({ns_to_s(result.duration_ns) / 3600:.2f} h of operation)")
        ok = ok and result.ok
    return 0 if ok else 1


def cmd_audit(args: argparse.Namespace) -> int:
    """The certification review pack (docs/review/): checklist, charts, bounds, faults."""
    from evse.runtime.audit import audit

    out = ROOT / "docs" / "review" if args.out is None else Path(args.out)
    return audit(ROOT, out, check=args.check, run=args.run)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="evse", description="CCS2 DC charger stack")
    sub = p.add_subparsers(dest="cmd", required=True)

    sim = sub.add_parser("sim", help="run a scenario in virtual time")
    sim.add_argument("scenario", nargs="?", default=str(ROOT / "scenarios" / "dc_session.yaml"))
    sim.add_argument("--trace", help="write the JSON-lines trace to this file")
    sim.add_argument("--quiet", action="store_true", help="no live timeline")
    sim.add_argument("--verbose", action="store_true", help="also ignored events and notices")
    sim.add_argument("--csms", help="ws:// or wss:// URL of an external CSMS (real clock)")
    sim.add_argument("--ocpp", choices=["1.6", "2.0.1"], default="1.6")
    sim.add_argument("--charge-seconds", type=float, default=60.0)
    sim.add_argument("--protocol", choices=["din", "iso2"], default="din")
    sim.add_argument("--id-token", help="RFID token the simulated driver presents")
    sim.add_argument("--tx-start-point", default="EnergyTransfer",
                     help="2.0.1 TxCtrlr.TxStartPoint at boot, with --csms (comma-separated: "
                     "EVConnected, Authorized, PowerPathClosed, EnergyTransfer; E01)")
    sim.add_argument("--tx-stop-point", default="EnergyTransfer",
                     help="2.0.1 TxCtrlr.TxStopPoint at boot, with --csms (E06)")
    sim.add_argument("--security-profile", type=int, choices=[1, 2, 3])
    sim.add_argument("--cp-id", help="basic-auth user (the charge point identity)")
    sim.add_argument("--password", help="basic-auth password (profiles 1, 2)")
    sim.add_argument("--ca-file", help="CSMS root CA (profiles 2, 3)")
    sim.add_argument("--client-cert", help="charger certificate PEM (profile 3)")
    sim.add_argument("--client-key", help="charger key PEM (profile 3)")
    sim.set_defaults(fn=cmd_sim)

    day = sub.add_parser("day", help="a day of operation: many sessions on one station")
    day.add_argument("day", nargs="?",
                     default=str(ROOT / "scenarios" / "day_of_operation.yaml"))
    day.add_argument("--ocpp", choices=["1.6", "2.0.1", "both"], default="both")
    day.set_defaults(fn=cmd_day)

    charts = sub.add_parser("charts", help="render fsm_specs/*.yaml to docs/charts/")
    charts.add_argument("--no-svg", action="store_true", help="DOT and Mermaid only")
    charts.set_defaults(fn=cmd_charts)

    val = sub.add_parser("validate", help="check specs, configs and scenarios")
    val.add_argument("paths", nargs="*", help="files (default: every spec, config, scenario)")
    val.set_defaults(fn=cmd_validate)

    ex = sub.add_parser("exi", help="EXI codec tools (decode/encode)", add_help=False)
    ex.add_argument("rest", nargs=argparse.REMAINDER)
    ex.set_defaults(fn=cmd_exi)

    rp = sub.add_parser("replay", help="replay a real car's side of a pcap against our SECC",
                        add_help=False)
    rp.add_argument("rest", nargs=argparse.REMAINDER)
    rp.set_defaults(fn=cmd_replay)

    run = sub.add_parser("run", help="the station on the real clock: on a network interface, "
                         "or as one of two processes (--role plc|controller)")
    run.add_argument("--config", default=None,
                     help="station config (config/bench.yaml: no modem; slac-bench.yaml: SLAC)")
    run.add_argument("--iface", help="network interface (overrides plc.iface)")
    run.add_argument("--role", choices=["single", "plc", "controller"], default="single",
                     help="single: the whole station in this process")
    run.add_argument("--link", help="roles: contract link, unix:PATH, tcp:HOST:PORT or "
                     "serial:DEV[@BAUD] (default unix:/tmp/evse-contract.sock)")
    run.add_argument("--duration", type=float, help="stop after this many seconds (role plc: "
                     "the scenario's duration by default; controller: until signalled)")
    run.add_argument("--scenario", help="roles: the scenario the PLC process plays "
                     "(default scenarios/dc_session.yaml, as `evse sim`)")
    run.add_argument("--store", help="role controller: SQLite file of the OCPP queue and "
                     "transaction journal (default: in memory; a restarted controller closes "
                     "what it finds)")
    run.add_argument("--standby", action="store_true",
                     help="role controller: start, then dial only after a line on stdin")
    run.add_argument("--quiet", action="store_true", help="no live timeline")
    run.add_argument("--verbose", action="store_true", help="also ignored events and notices")
    run.set_defaults(fn=cmd_run)

    au = sub.add_parser("audit", help="certification review pack in docs/review/")
    au.add_argument("--out", help="output directory (default: docs/review of the tree)")
    au.add_argument("--check", action="store_true",
                    help="fail if an item lost its test or the committed pack is stale")
    au.add_argument("--run", action="store_true",
                    help="also run the marked tests, a DIN session and fault timings (minutes)")
    au.set_defaults(fn=cmd_audit)

    ev = sub.add_parser("ev", help="the EV simulator against our SECC (virtual time)",
                        add_help=False)
    ev.add_argument("rest", nargs=argparse.REMAINDER)
    ev.set_defaults(fn=cmd_ev)

    # -- evse probe: the EV side as a conformance tester for any SECC (evse/probe/) ------
    pr = sub.add_parser("probe", help="conformance-test a SECC on IFACE: good case, "
                        "adversarial variants per family, P0 checks")
    pr.add_argument("--iface", required=True, help="interface the SECC is reachable on")
    pr.add_argument("--protocol", choices=["din", "iso2"], default="iso2")
    pr.add_argument("--tls", action="store_true", help="ask for TLS in SDP (needs --tls-root)")
    pr.add_argument("--tls-root", type=Path, help="V2G root certificate (PEM) for TLS")
    pr.add_argument("--json", help="write the results as JSON")
    pr.add_argument("--markdown", help="write the results as a Markdown table")
    pr.add_argument("--family", nargs="+", help="only these families (e.g. SDP V2GTP "
                    "CurrentDemand); the good case runs too unless --no-good-case")
    pr.add_argument("--no-good-case", action="store_true", help="skip the good case")
    pr.add_argument("--setup-timeout", type=float, default=18.0,
                    help="the SUT's communication setup time, s (v2g.communication_setup_s)")
    pr.add_argument("--sequence-timeout", type=float, default=60.0,
                    help="the SUT's V2G_SECC_Sequence_Timeout, s")
    pr.add_argument("--max-wait", type=float, default=30.0,
                    help="longest silence a case may wait, s; longer timeout cases are skipped")
    pr.add_argument("--repetitions", type=int, default=20,
                    help="CurrentDemandReq sent back to back in CD-REP")
    pr.add_argument("--charge-seconds", type=float, default=2.0,
                    help="charging time of the good case, s")
    pr.set_defaults(fn=cmd_probe)

    # -- evse testpki: the throw-away ISO 15118-2 test PKI for config/bench-tls.yaml -----
    tp = sub.add_parser("testpki", help="write the test V2G root, CPO Sub-CAs and SECC leaf "
                        "(evse/security/testpki.py; test keys, unencrypted) into DIR")
    tp.add_argument("dir", type=Path, help="output directory, e.g. config/testpki")
    tp.add_argument("--secc-id", default=None, help="SECC leaf CN (default DE*TST*E1234)")
    tp.set_defaults(fn=cmd_testpki)
    return p


def cmd_testpki(args: argparse.Namespace) -> int:
    import datetime

    from evse.runtime.clock import wall_time_s
    from evse.security.testpki import DEFAULT_SECC_ID, generate_test_pki

    # One hour in the past, so both ends accept the chain at once despite clock skew.
    not_before = (datetime.datetime.fromtimestamp(wall_time_s(), datetime.UTC)
                  - datetime.timedelta(hours=1))
    pki = generate_test_pki(args.dir, not_before=not_before,
                            secc_id=args.secc_id or DEFAULT_SECC_ID)
    print(f"test PKI in {args.dir}: V2G root {pki.v2g_root_cert.name} (give it to "
          f"`evse probe --tls-root`), SECC chain {pki.secc_chain.name}, key "
          f"{pki.secc_leaf_key.name}")
    return 0


def cmd_probe(args: argparse.Namespace) -> int:
    from evse.io.probe_link import main as probe_main

    return probe_main(args)


def main(argv: list[str] | None = None) -> int:
    from evse.contract.errors import ContractUsageError
    from evse.controller.errors import ControllerUsageError
    from evse.fsm.spec import SpecError
    from evse.runtime.config import ConfigError, DeviceOpenError
    from evse.runtime.day import DayError
    from evse.runtime.fault_store import FaultStoreError
    from evse.runtime.scenario import ScenarioError

    argv = list(sys.argv[1:] if argv is None else argv)
    # Tools with their own argument parsers get the rest of the line untouched.
    passthrough = {"exi": cmd_exi, "replay": cmd_replay, "ev": cmd_ev}
    if argv and argv[0] in passthrough:
        return passthrough[argv[0]](argparse.Namespace(rest=argv[1:]))
    args = build_parser().parse_args(argv)
    try:
        rc: int = args.fn(args)
    except (SpecError, ConfigError, ScenarioError, DayError, ContractUsageError,
            DeviceOpenError, FaultStoreError, ControllerUsageError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return rc


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

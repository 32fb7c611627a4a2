"""`evse probe` against `evse run --config config/bench.yaml` over real sockets: the SECC as
its own process in one network namespace, the probe (`evse.io.probe_link.main`, what
`evse probe` runs) in the other, joined by a veth pair; DIN and ISO-2 at once on two pairs.
The bench's CableCheck takes ~10 s of real time, so the families are split between the two
runs (every family runs for both protocols in virtual time in test_probe_cases.py). Every
case passes, is a documented skip, or is one of the documented deviations. Skipped (with
the reason) without root or iproute2."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

from evse.ev.sim import Phase
from evse.io.probe_link import SocketLink, main as probe_main
from evse.probe.cases import CaseContext, reach, warm_codecs
from evse.probe.driver import Driver
from evse.probe.model import ProbeOptions
from tests.probe.test_probe_cases import KNOWN_DEVIATIONS
from tests.v2g.netns import VethLink, in_netns, unavailable_reason, veth_pair

_REASON = unavailable_reason()
pytestmark = [pytest.mark.netns, pytest.mark.skipif(_REASON is not None, reason=_REASON or "")]

ROOT = Path(__file__).resolve().parents[2]
#: The families each protocol's run covers over sockets (the good case runs in both).
FAMILIES = {
    "din": ["SDP", "SupportedAppProtocol", "ServiceDiscovery"],
    # PauseResume: the bench's simulated pilot keeps a paused car plugged (run_iface.py).
    "iso2": ["V2GTP", "PaymentServiceSelection", "Authorization", "PauseResume"],
}
#: Skips the probe may report here: the 60 s sequence-timeout cases (`*-TIMEOUT`, need
#: --max-wait 65; they run in virtual time in test_probe_cases.py).
ALLOWED_SKIPS = {"SS-TIMEOUT", "CD-TIMEOUT"}


def allowed_skip(row: dict[str, object]) -> bool:
    """The 60 s timeout cases, Plug & Charge cases on plain TCP, and the CP-state case
    (a network link cannot hold the pilot in B)."""
    got = str(row["got"])
    return row["verdict"] == "SKIP" and (
        str(row["case"]).endswith("-TIMEOUT") or got.startswith("Plug & Charge needs TLS")
        or "cannot hold the pilot" in got)
#: Measured, not asserted here: CurrentDemandRes within 25 ms on the wire depends on the
#: host's load (two SECCs and two probes share two cores in this test; on an idle machine
#: the median is ~11-15 ms). The 250 ms bound (CD-P0-001) is asserted.
LOAD_DEPENDENT = {"CD-P0-002"}


def bench_config(tmp: Path) -> Path:
    """config/bench.yaml with the two waits a test cannot sit through shortened."""
    text = (ROOT / "config" / "bench.yaml").read_text(encoding="utf-8")
    for old, new in (("communication_setup_s: null", "communication_setup_s: 3"),
                     ("auth_delay_s: 1.0", "auth_delay_s: 0.3")):
        assert old in text, old
        text = text.replace(old, new)
    path = tmp / "bench.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@contextmanager
def secc_process(link: VethLink, config: Path, log: Path,
                 duration_s: int = 150) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        proc = subprocess.Popen(
            ["ip", "netns", "exec", link.secc_ns, sys.executable, "-m", "evse.cli", "run",
             "--config", str(config), "--iface", link.secc_if, "--duration", str(duration_s)],
            stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONPATH": str(ROOT)})
        try:
            yield proc
        finally:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


def warm_up(link: SocketLink, protocol: str) -> None:
    """One session to ServiceDiscovery first, so the SECC's EXI grammars are built: the
    first use of a schema costs ~0.5 s of CPU, and a cold SECC on a loaded machine can miss
    the car's 2 s SessionSetup timeout (reported in the issue note)."""
    warm_codecs(protocol)
    why = ""
    for _ in range(4):
        d = reach(CaseContext(link, ProbeOptions(protocol=protocol)), Phase.SERVICE_DISCOVERY)
        link.disconnect()
        if isinstance(d, Driver):
            return
        why = d[1]
    raise AssertionError(f"the SECC never answered a {protocol} session: {why}")


def run_probe(link: VethLink, protocol: str, tmp: Path, failures: list[BaseException]) -> None:
    try:
        with in_netns(link.ev_ns):
            warm_up(SocketLink(link.ev_if), protocol)
            probe_main(argparse.Namespace(
                iface=link.ev_if, protocol=protocol, tls=False, tls_root=None,
                json=str(tmp / f"{protocol}.json"), markdown=str(tmp / f"{protocol}.md"),
                family=FAMILIES[protocol], no_good_case=False, setup_timeout=3.0,
                sequence_timeout=60.0, max_wait=30.0, repetitions=20, charge_seconds=1.0))
    except BaseException as exc:  # noqa: BLE001 - reported by the test thread
        failures.append(exc)


def test_probe_against_evse_run_bench_din_and_iso2_over_tcp(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = bench_config(tmp_path)
    failures: list[BaseException] = []
    with ExitStack() as stack:
        links = {p: stack.enter_context(veth_pair()) for p in FAMILIES}
        for p, link in links.items():
            stack.enter_context(secc_process(link, config, tmp_path / f"secc-{p}.log"))
        threads = [threading.Thread(target=run_probe, args=(link, p, tmp_path, failures))
                   for p, link in links.items()]
        for t in threads:
            t.start()
        for t in threads:
            t.join(150)
    out = capsys.readouterr().out
    assert not failures, failures
    for p in FAMILIES:
        data = json.loads((tmp_path / f"{p}.json").read_text(encoding="utf-8"))
        rows = data["results"]
        assert set(FAMILIES[p]) <= {r["family"] for r in rows}
        bad = [r for r in rows if not (
            r["verdict"] == "PASS"
            or allowed_skip(r)
            or (r["verdict"] == "FAIL" and r["case"] in KNOWN_DEVIATIONS)
            or (r["case"] in LOAD_DEPENDENT and "median" in r["got"]))]
        log = (tmp_path / f"secc-{p}.log").read_text(encoding="utf-8", errors="replace")
        assert not bad, f"{p}: {bad}\n{out}\nSECC log tail:\n{log[-3000:]}"
        got = {r["case"]: r for r in rows}
        assert got["GOOD-001"]["verdict"] == "PASS"
        assert got["CD-P0-003"]["verdict"] == "PASS"  # present V/I vs the probe's battery
        md = (tmp_path / f"{p}.md").read_text(encoding="utf-8")
        assert md.count("| PASS |") == data["counts"]["PASS"] > 10


def bench_tls_config(tmp: Path) -> tuple[Path, Path]:
    """config/bench-tls.yaml in `tmp` next to a fresh test PKI made by `evse testpki`
    (the shipped file's relative paths), with the test's short waits. Returns (config, root)."""
    from evse.cli import main as cli_main

    assert cli_main(["testpki", str(tmp / "testpki")]) == 0
    text = (ROOT / "config" / "bench-tls.yaml").read_text(encoding="utf-8")
    for old, new in (("communication_setup_s: null", "communication_setup_s: 3"),
                     ("auth_delay_s: 1.0", "auth_delay_s: 0.3")):
        assert old in text, old
        text = text.replace(old, new)
    path = tmp / "bench-tls.yaml"
    path.write_text(text, encoding="utf-8")
    return path, tmp / "testpki" / "v2g_root.pem"


#: Over TLS: the whole good case, the header and SDP families (SDP-006: security 0x00
#: answered with 0x00), the session families whose verdict depends on the connection and
#: every Plug & Charge family (Contract is offered on TLS only).
#: Over real TLS sockets: what TLS changes (SDP's security offer, the sessions themselves)
#: and the Plug & Charge authorization families that need TLS. V2GTP, ServiceDiscovery,
#: CertificateUpdate and MeteringReceipt (eight charging sessions) run the same code after
#: decryption; their cases run over TLS in virtual time
#: (docs/conformance/iso2-tls-inproc.json), which keeps this serial test short.
TLS_FAMILIES = ["SDP", "SessionSetup", "PaymentDetails", "Authorization",
                "CertificateInstallation"]


def test_probe_over_tls_against_evse_run_bench_tls(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`evse probe --tls` against `evse run --config config/bench-tls.yaml`: SDP offers TLS
    to the car asking for it, every session of the run is a TLS session, every case passes."""
    config, root = bench_tls_config(tmp_path)
    failures: list[BaseException] = []
    with ExitStack() as stack:
        link = stack.enter_context(veth_pair())
        stack.enter_context(secc_process(link, config, tmp_path / "secc-tls.log",
                                         duration_s=400))

        def run() -> None:
            try:
                with in_netns(link.ev_ns):
                    warm_codecs("iso2")
                    probe_main(argparse.Namespace(
                        iface=link.ev_if, protocol="iso2", tls=True, tls_root=root,
                        json=str(tmp_path / "tls.json"), markdown=str(tmp_path / "tls.md"),
                        family=TLS_FAMILIES, no_good_case=False, setup_timeout=3.0,
                        sequence_timeout=60.0, max_wait=30.0, repetitions=20,
                        charge_seconds=1.0))
            except BaseException as exc:  # noqa: BLE001 - reported by the test thread
                failures.append(exc)

        thread = threading.Thread(target=run)
        thread.start()
        thread.join(400)
    out = capsys.readouterr().out
    assert not failures, failures
    data = json.loads((tmp_path / "tls.json").read_text(encoding="utf-8"))
    assert data["meta"]["tls"] is True
    rows = data["results"]
    log = (tmp_path / "secc-tls.log").read_text(encoding="utf-8", errors="replace")
    bad = [r for r in rows if not (
        r["verdict"] == "PASS"
        or allowed_skip(r)
        or (r["case"] in LOAD_DEPENDENT and "median" in r["got"]))]
    assert not bad, f"{bad}\n{out}\nSECC log tail:\n{log[-3000:]}"
    got = {r["case"]: r for r in rows}
    assert got["GOOD-001"]["verdict"] == "PASS"
    assert "security 0x00" in got["SDP-006"]["got"]
    # Plug & Charge over real TLS sockets: the probe's contract, the bench's controller
    # and CSMS simulator (eMAID accepted online), the SECC's own chain and signature checks.
    assert "then AuthorizationResType OK" in got["PDET-001"]["got"], got["PDET-001"]
    assert got["PDET-EXPIRED"]["got"].startswith("PaymentDetailsResType FAILED_CertificateExpired")
    assert got["AUTH-PNC-SIG"]["got"].startswith("AuthorizationResType FAILED_SignatureError")
    assert got["CI-001"]["got"].startswith("CertificateInstallationResType")
    assert "TLS" in log  # the SECC logged its TLS sessions

"""Record `evse probe`'s whole catalogue against our SECC in-process, in virtual time.

    python -m evse.probe.inproc_runs docs/conformance

writes ``din-inproc.json``, ``iso2-inproc.json`` and ``iso2-tls-inproc.json``: the same
cases as a network run, against `SeccCore` on the simulated station (`evse.ev.sim_env`)
through `InProcessLink` (no sockets, no real TLS: a "TLS" connection is one whose SECC
offers Contract, [V2G2-634/635]). Every 60 s sequence-timeout case runs, and the CableCheck
CP-state case can hold the pilot in B, which a network run cannot. These are not network
runs and say so in their ``setup``; docs/conformance.md shows them in their own columns.
"""

from __future__ import annotations

import sys
from pathlib import Path

from evse.ev.sim_env import SimEnv, SimEnvConfig
from evse.probe.cases import run_cases
from evse.probe.inproc import SECC_ADDRESS, TCP_PORT, InProcessLink
from evse.probe.model import ProbeOptions, S
from evse.probe.report import to_json
from evse.sdp import SdpServer, SdpServerConfig, TlsPolicy
from evse.secc.config import SeccConfig
from evse.secc.core import SeccCore
from evse.secc.env import PaymentMethod
from evse.secc.session import MemorySessionStore

#: The simulated driver's RFID tap (EIM) and the SECC's communication-setup time of the
#: recorded runs (the network runs' bench settings).
AUTH_DELAY_NS = 300_000_000
SETUP_TIMEOUT_NS = 3 * S
#: The port SDP announces for TLS (the in-process link answers on it like on TCP_PORT).
TLS_PORT = TCP_PORT + 1
TLS_SECC = SeccConfig(tls=True, payment_options=(PaymentMethod.CONTRACT, PaymentMethod.EIM))
SETUP = ("in-process, virtual time: SeccCore on the simulated station (evse/ev/sim_env.py, "
         "auth_delay 0.3 s, communication setup 3 s) through evse/probe/inproc.py "
         "(no sockets{tls}); python -m evse.probe.inproc_runs")


def make_link(*, tls: bool = False) -> InProcessLink:
    """With `tls`, SDP offers a TLS port to a car asking for TLS, as config/bench-tls.yaml."""
    links: list[InProcessLink] = []
    config = SimEnvConfig(auth_delay_ns=AUTH_DELAY_NS,
                          vehicle_ready=lambda now_ns: links[0].vehicle_ready)
    sdp = SdpServer(SdpServerConfig(SECC_ADDRESS, TCP_PORT, TLS_PORT if tls else None,
                                    TlsPolicy.ALLOW))
    store = MemorySessionStore()  # one station: a paused session outlives its connection
    links.append(InProcessLink(lambda: SeccCore(SimEnv(config), store=store),
                               make_tls_core=lambda: SeccCore(SimEnv(config), TLS_SECC,
                                                              store=store),
                               setup_timeout_ns=SETUP_TIMEOUT_NS, sdp_server=sdp))
    return links[0]


def record(out_dir: Path) -> list[Path]:
    written = []
    for protocol, tls in (("din", False), ("iso2", False), ("iso2", True)):
        options = ProbeOptions(protocol=protocol, communication_setup_ns=SETUP_TIMEOUT_NS,
                               max_wait_ns=120 * S, charge_ns=1 * S)
        results = run_cases(make_link(tls=tls), options, tls=tls)
        meta: dict[str, object] = {
            "iface": "in-process", "protocol": protocol, "tls": tls, "sut": "evse",
            "link": "in-process",
            "setup": SETUP.format(tls="; TLS = the SECC of a TLS connection" if tls else "")}
        name = f"{protocol}{'-tls' if tls else ''}-inproc.json"
        path = out_dir / name
        path.write_text(to_json(results, meta), encoding="utf-8")
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    out = Path(args[0] if args else "docs/conformance")
    for p in record(out):
        print(p)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

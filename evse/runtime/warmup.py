"""Everything a station builds lazily, built before it offers 5 % PWM and answers SDP.

Measured on this 2-core machine (issue 13): after `warm_up_protocols` of main the first
DIN session in virtual time still cost 1.8 s more CPU than the second one; the biggest
parts were the generated EXI fast codecs (`exi._generated.*_codec`, imported and, without
cached bytecode, compiled at the first encode: 0.18 s), the SECC charts (loaded when the
first car's supportedAppProtocolReq picks one), the first build of the HomePlug layers
scapy fills lazily, and the power path chart. A car waits at most TT_match_response 200 ms
for CM_SLAC_PARM.CNF (TP_match_response 100 ms, timing.md §2) and its SessionSetupReq
timeout is 2 s (V2G_SECC_Sequence_Timeout class, timing.md §3): paid on its first request
these costs made the first SessionSetupRes of an `evse run` take 2.7-4 s under load.

`warm_up_station()` pays them once, before the real-time clock and the first timer start
(the composition roots call it first); `report()` says what was warmed and what it cost,
`is_warm()` is the flag a composition root (and the test of "warm before READY") checks.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import exi
from exi import app, din, iso2

#: The schemas a station speaks: supportedAppProtocol, DIN 70121, ISO 15118-2.
SCHEMAS = ("app", "din", "iso2")


@dataclass
class WarmUpReport:
    """What `warm_up_station` built, each part's wall time in ms (0 when already warm)."""

    parts_ms: dict[str, float] = field(default_factory=dict)
    done: bool = False

    @property
    def total_ms(self) -> float:
        return sum(self.parts_ms.values())


_REPORT = WarmUpReport()


def _timed(name: str, fn: object) -> None:
    assert callable(fn)
    t0 = time.perf_counter()
    fn()
    _REPORT.parts_ms[name] = _REPORT.parts_ms.get(name, 0.0) + (time.perf_counter() - t0) * 1e3


def _exi_round_trips() -> None:
    """Grammar, message classes and fast codec of every schema, and one encode + decode
    per schema (the codec's per-grammar caches fill on first use)."""
    for schema in SCHEMAS:
        exi.grammar(schema)
        exi.messages(schema)
        exi.fast_codec(schema)
    for m, schema in ((din, "din"), (iso2, "iso2")):
        req = m.V2G_Message(Header=m.MessageHeaderType(SessionID=b"\x00"),
                            Body=m.BodyType(BodyElement=m.SessionSetupReqType(
                                EVCCID=b"\x01" * 6)))
        exi.decode(schema, exi.encode(schema, req))
    sap = app.supportedAppProtocolReq(AppProtocol=[app.AppProtocolType(
        ProtocolNamespace="urn:din:70121:2012:MsgDef", VersionNumberMajor=2,
        VersionNumberMinor=0, SchemaID=1, Priority=1)])
    exi.decode("app", exi.encode("app", sap))


def _charts() -> None:
    from evse.power.controller import power_path_spec
    from evse.runtime.station import spec
    from evse.secc.core import spec_for
    from evse.secc.env import AppProtocol

    spec("iec61851")
    spec("station_faults")
    power_path_spec()
    for proto in (AppProtocol.DIN70121, AppProtocol.ISO15118_2):
        spec_for(proto)


def _slac() -> None:
    from evse.slac.evse_core import warm_up as slac_warm_up

    slac_warm_up()


def warm_up_station() -> WarmUpReport:
    """Build every lazily built part now; cheap when called again (all of it is cached)."""
    if not _REPORT.done:
        _timed("slac", _slac)
        _timed("exi", _exi_round_trips)
        _timed("charts", _charts)
        _REPORT.done = True
    return _REPORT


def is_warm() -> bool:
    """The EXI grammars and fast codecs of every schema are built and the warm-up ran."""
    return _REPORT.done and exi.warm_schemas() >= set(SCHEMAS)


def report() -> WarmUpReport:
    return _REPORT

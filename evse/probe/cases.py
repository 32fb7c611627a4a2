"""The probe's test cases: a good case with the reference's P0 checks, then the adversarial
variants of each ISO 15118-4 / DIN 70122 family.

Each case opens a fresh session (SDP, TCP/TLS, supportedAppProtocol) as a lab restarts
between cases, drives the simulated car to the step under test, then sends the variant and
judges what comes back. A case returns `(Verdict, got)`; whatever the charger answers is a
verdict, never an exception out of `run_cases`.

Expectations follow the ISO 15118-4 SECC test cases as re-implemented in public
(rcuquemelle/ISO15118_4_TestEnv, "T4": e.g. TC_SECC_DC_VTB_CableCheck_004 "invalid
SessionID -> CableCheckRes FAILED_UnknownSession and TCP closed within
par_CMN_TCP_Connection_Termination_Timeout"; TC_SECC_DC_VTB_PreCharge_002 "ServiceDiscoveryReq
during PreCharge -> ServiceDiscoveryRes FAILED_SequenceError and TCP closed";
TC_SECC_CMN_VTB_V2GTPSessionSetup_002..005 "invalid V2GTP header -> message ignored,
detected by V2G_Msg_Timeout, no TCP close") and the requirement IDs our SECC cites.
"""

from __future__ import annotations

import dataclasses
import datetime
import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

import exi
from evse.ev.profiles import profile
from evse.ev.sim import PRECHARGE_TIMEOUT_NS, Phase
from evse.probe.driver import Answer, Driver, Stop
from evse.probe.link import Closed, PilotControl, ProbeLink, ProbeLinkError, Silence
from evse.probe.model import (
    CURRENT_DEMAND_PERFORMANCE_NS,
    MSG_TIMEOUT_CERTIFICATE_NS,
    MSG_TIMEOUT_CURRENT_DEMAND_NS,
    MSG_TIMEOUT_NS,
    SDP_IGNORE_WAIT_NS,
    TCP_TERMINATION_TIMEOUT_NS,
    CaseResult,
    Family,
    ProbeOptions,
    Verdict,
)
from evse.secc.units import split, to_float
from evse.security.testpki import (
    ContractChain,
    reissue_contract_leaf,
    reissue_contract_sub_ca,
)
from evse.security.xmldsig import sign_body
from evse.v2gtp import PayloadType, encode_frame
from exi import app

Outcome = tuple[Verdict, str]
T4 = "ISO 15118-4 (T4)"
TERMINATION = "TCP close ≤ par_CMN_TCP_Connection_Termination_Timeout (5 s, T4)"
#: Present voltage vs the battery the probe simulates: precharge target ± this (I·R of a
#: 200 A charge through 0.08 Ω is 16 V, plus the 20 V the car's own check allows).
PRESENT_VOLTAGE_TOLERANCE_V = 36.0
PRESENT_CURRENT_TOLERANCE_A = 10.0
PRECHARGE_MATCH_V = 20.0
#: ServiceID of the charge service in ServiceDiscoveryRes (ISO 15118-2 ChargeService).
CHARGE_SERVICE_ID = 1


@dataclass(slots=True)
class CaseContext:
    link: ProbeLink
    options: ProbeOptions
    tls: bool = False
    _contract: ContractChain | None = None

    @property
    def din(self) -> bool:
        return self.options.protocol == "din"

    @property
    def contract(self) -> ContractChain:
        """One contract for the whole run (the one given, else a fresh test contract)."""
        if self._contract is None:
            self._contract = self.options.contract or profile("pnc").contract
        assert self._contract is not None
        return self._contract

    def driver(self, *, pnc: bool = False) -> Driver:
        if not pnc:
            return Driver(self.link, self.options, self.tls)
        options = dataclasses.replace(self.options, contract=self.contract)
        return Driver(self.link, options, self.tls, pnc=True)


@dataclass(frozen=True, slots=True)
class Case:
    family: Family
    case_id: str
    title: str
    expected: str
    clause: str
    run: Callable[[CaseContext], Outcome | list[CaseResult]]
    protocols: frozenset[str] = frozenset({"din", "iso2"})


# ---------------------------------------------------------------------- helpers
def _s(ns: int) -> str:
    return f"{ns / 1e9:.2f} s"


def _ms(ns: int) -> str:
    return f"{ns / 1e6:.1f} ms"


def _why(d: Driver, stop: Stop) -> str:
    if d.ev.result is not None:
        return d.ev.result.reason
    if d.closed is not None:
        return f"connection closed ({d.closed.detail})"
    return stop.value


def reach(ctx: CaseContext, phase: Phase, *, pnc: bool = False) -> Driver | Outcome:
    """A fresh session up to (not including) the car's first request of `phase`; with
    `pnc` the car pays by Contract (Plug & Charge)."""
    d = ctx.driver(pnc=pnc)
    try:
        d.open()
    except (ProbeLinkError, OSError) as exc:
        return Verdict.INCONCLUSIVE, f"no V2G connection: {exc}"
    stop = d.advance(lambda ev: ev.phase is phase, ctx.options.step_limit_ns)
    if stop is not Stop.HELD:
        return Verdict.INCONCLUSIVE, f"never reached {phase.value}: {_why(d, stop)}"
    return d


def expect_failure(d: Driver, payload: bytes, code: str | frozenset[str]) -> Outcome:
    """Send `payload`; PASS on ResponseCode `code` (or one of a set, where the test case
    accepts several) and the SECC closing TCP within 5 s."""
    d.send_payload(payload)
    a = d.answer(MSG_TIMEOUT_NS)
    if isinstance(a, Closed):
        return Verdict.FAIL, f"TCP closed without an answer ({a.detail})"
    if isinstance(a, Silence):
        return Verdict.FAIL, "no answer within V2G_EVCC_Msg_Timeout (2 s)"
    c = d.wait_close(TCP_TERMINATION_TIMEOUT_NS)
    closed = (f"TCP closed after {_s(c.at_ns - a.at_ns)}" if c is not None
              else "TCP still open after 5 s")
    got = f"{a.name} {a.code or a.error or '(no ResponseCode)'}; {closed}"
    codes = code if isinstance(code, frozenset) else frozenset({code})
    return (Verdict.PASS if a.code in codes and c is not None else Verdict.FAIL), got


def expect_ignored(d: Driver, raw: bytes, name: str) -> Outcome:
    """Send raw bytes; PASS if nothing answers them and TCP stays up for V2G_Msg_Timeout."""
    d.send_raw(raw, name)
    a = d.answer(MSG_TIMEOUT_NS)
    if isinstance(a, Silence):
        return Verdict.PASS, "no answer, TCP open after 2 s"
    if isinstance(a, Closed):
        return Verdict.FAIL, f"TCP closed ({a.detail})"
    return Verdict.FAIL, f"answered {a.name} {a.code}"


def _pv(d: Driver, value: float, unit: str) -> Any:
    v, mult = split(value)
    return d.m.PhysicalValueType(Multiplier=mult, Unit=d.m.unitSymbolType[unit], Value=v)


def _ev_status(d: Driver) -> Any:
    m = d.m
    return m.DC_EVStatusType(EVReady=True, EVErrorCode=m.DC_EVErrorCodeType.NO_ERROR,
                             EVRESSSOC=int(d.ev.profile.battery.soc_pct))


def _other_session_id(sid: bytes) -> bytes:
    other = bytes(b ^ 0xA5 for b in sid) if sid else b"\x5a"
    return other if any(other) else b"\x01" * max(1, len(sid))


def _service_discovery_req(d: Driver) -> Any:
    return d.m.ServiceDiscoveryReqType()


def _precharge_req(d: Driver) -> Any:
    return d.m.PreChargeReqType(DC_EVStatus=_ev_status(d),
                                EVTargetVoltage=_pv(d, 350.0, "V"),
                                EVTargetCurrent=_pv(d, 1.0, "A"))


# ---------------------------------------------------------------------- per-step variants
@dataclass(frozen=True, slots=True)
class Step:
    family: Family
    phase: Phase
    tag: str
    sid_case: str  # the T4 case with the invalid SessionID, where known
    seq_case: str
    timeout_case: str = ""  # the T4 case with the silence before this step, where known
    pnc: bool = False  # a Plug & Charge step: TLS and ISO 15118-2 only


STEPS: tuple[Step, ...] = (
    Step(Family.SERVICE_DISCOVERY, Phase.SERVICE_DISCOVERY, "SD",
         "TC_SECC_CMN_VTB_ServiceDiscovery_003", "out-of-sequence variant"),
    Step(Family.PAYMENT_SELECTION, Phase.PAYMENT_SELECTION, "PSS",
         "TC_SECC_CMN_VTB_PaymentServiceSelection_005", "out-of-sequence variant"),
    Step(Family.PAYMENT_DETAILS, Phase.PAYMENT_DETAILS, "PDET",
         "TC_SECC_CMN_VTB_PaymentDetails_005", "TC_SECC_CMN_VTB_PaymentDetails_004",
         "TC_SECC_CMN_VTB_PaymentDetails_006", pnc=True),
    Step(Family.AUTHORIZATION, Phase.AUTHORIZATION, "AUTH", "invalid-SessionID variant",
         "out-of-sequence variant"),
    Step(Family.CHARGE_PARAMETERS, Phase.CHARGE_PARAMETERS, "CPD",
         "TC_SECC_*_VTB_ChargeParameterDiscovery_003", "out-of-sequence variant"),
    Step(Family.CABLE_CHECK, Phase.CABLE_CHECK, "CC", "TC_SECC_DC_VTB_CableCheck_004",
         "TC_SECC_DC_VTB_CableCheck_003", "TC_SECC_DC_VTB_CableCheck_005"),
    Step(Family.PRECHARGE, Phase.PRECHARGE, "PC", "invalid-SessionID variant",
         "TC_SECC_DC_VTB_PreCharge_002"),
    Step(Family.POWER_DELIVERY, Phase.POWER_DELIVERY_START, "PD", "invalid-SessionID variant",
         "out-of-sequence variant"),
    Step(Family.CURRENT_DEMAND, Phase.CHARGING, "CD", "TC_SECC_DC_VTB_CurrentDemand_004",
         "out-of-sequence variant"),
    Step(Family.METERING_RECEIPT, Phase.METERING_RECEIPT, "MR",
         "TC_SECC_DC_VTB_MeteringReceipt_003", "TC_SECC_DC_VTB_MeteringReceipt_002",
         pnc=True),
    Step(Family.WELDING, Phase.WELDING, "WD", "TC_SECC_DC_VTB_WeldingDetection_003",
         "out-of-sequence variant"),
    Step(Family.SESSION_STOP, Phase.SESSION_STOP, "STOP", "invalid-SessionID variant",
         "TC_SECC_*_VTB_SessionStop_002"),
)


def _wrong_session_id(step: Step) -> Callable[[CaseContext], Outcome]:
    def run(ctx: CaseContext) -> Outcome:
        d = reach(ctx, step.phase, pnc=step.pnc)
        if not isinstance(d, Driver):
            return d
        payload = d.with_session_id(d.held[0], _other_session_id(d.ev.session_id))
        return expect_failure(d, payload, "FAILED_UnknownSession")
    return run


def _out_of_sequence(step: Step) -> Callable[[CaseContext], Outcome]:
    def run(ctx: CaseContext) -> Outcome:
        d = reach(ctx, step.phase, pnc=step.pnc)
        if not isinstance(d, Driver):
            return d
        body = (_precharge_req(d) if step.phase is Phase.SERVICE_DISCOVERY
                else _service_discovery_req(d))
        return expect_failure(d, d.message(body), "FAILED_SequenceError")
    return run


def _silence(phase: Phase, *, pnc: bool = False) -> Callable[[CaseContext], Outcome]:
    def run(ctx: CaseContext) -> Outcome:
        bound = ctx.options.sequence_timeout_ns + TCP_TERMINATION_TIMEOUT_NS
        if bound > ctx.options.max_wait_ns:
            return Verdict.SKIP, (f"needs {_s(bound)} of silence, --max-wait is "
                                  f"{_s(ctx.options.max_wait_ns)}")
        d = reach(ctx, phase, pnc=pnc)
        if not isinstance(d, Driver):
            return d
        start = d.link.now_ns()
        c = d.wait_close(bound)
        if c is None:
            return Verdict.FAIL, f"TCP still open after {_s(bound)}"
        took = c.at_ns - start
        ok = took >= ctx.options.sequence_timeout_ns - 500_000_000
        return (Verdict.PASS if ok else Verdict.FAIL), f"TCP closed after {_s(took)}"
    return run


# ---------------------------------------------------------------------- special cases
def _sap_no_common_protocol(ctx: CaseContext) -> Outcome:
    d = ctx.driver()
    try:
        d.link.connect(ctx.tls)
    except (ProbeLinkError, OSError) as exc:
        return Verdict.INCONCLUSIVE, f"no V2G connection: {exc}"
    req = app.supportedAppProtocolReq(AppProtocol=[app.AppProtocolType(
        ProtocolNamespace="urn:example:evse-probe:unknown", VersionNumberMajor=1,
        VersionNumberMinor=0, SchemaID=1, Priority=1)])
    d.send_raw(encode_frame(PayloadType.EXI, bytes(exi.encode("app", req))),
               "supportedAppProtocolReq")
    a = d.answer(MSG_TIMEOUT_NS)
    if not isinstance(a, Answer):
        return Verdict.FAIL, "no supportedAppProtocolRes" + (
            f" (TCP closed: {a.detail})" if isinstance(a, Closed) else " within 2 s")
    c = d.wait_close(TCP_TERMINATION_TIMEOUT_NS)
    closed = f"TCP closed after {_s(c.at_ns - a.at_ns)}" if c else "TCP still open after 5 s"
    ok = a.code == "Failed_NoNegotiation" and c is not None
    return (Verdict.PASS if ok else Verdict.FAIL), f"{a.code}; {closed}"


def _communication_setup_silence(ctx: CaseContext) -> Outcome:
    bound = ctx.options.communication_setup_ns + TCP_TERMINATION_TIMEOUT_NS
    if bound > ctx.options.max_wait_ns:
        return Verdict.SKIP, (f"needs {_s(bound)} of silence, --max-wait is "
                              f"{_s(ctx.options.max_wait_ns)} (set --setup-timeout to the "
                              "SUT's v2g.communication_setup_s)")
    d = reach(ctx, Phase.SESSION_SETUP)
    if not isinstance(d, Driver):
        return d
    start = d.link.now_ns()
    c = d.wait_close(bound)
    if c is None:
        return Verdict.FAIL, f"TCP still open {_s(bound)} after supportedAppProtocolRes"
    return Verdict.PASS, f"TCP closed {_s(c.at_ns - start)} after supportedAppProtocolRes"


def _payment_selection(change: Callable[[Driver, Any], Any], code_iso: str,
                       code_din: str) -> Callable[[CaseContext], Outcome]:
    def run(ctx: CaseContext) -> Outcome:
        d = reach(ctx, Phase.PAYMENT_SELECTION)
        if not isinstance(d, Driver):
            return d
        payload = d.reencode(d.held[0], lambda body: change(d, body))
        return expect_failure(d, payload, code_din if ctx.din else code_iso)
    return run


def _service_detail_valid(ctx: CaseContext) -> Outcome:
    """ServiceDetailReq for the charge service between ServiceDiscovery and the selection:
    answered OK with the same ServiceID, and the session goes on (the held
    PaymentServiceSelectionReq is then answered OK)."""
    d = reach(ctx, Phase.PAYMENT_SELECTION)
    if not isinstance(d, Driver):
        return d
    d.send_payload(d.message(d.m.ServiceDetailReqType(ServiceID=CHARGE_SERVICE_ID)))
    a = d.answer(MSG_TIMEOUT_NS)
    if isinstance(a, Closed):
        return Verdict.FAIL, f"TCP closed without an answer ({a.detail})"
    if isinstance(a, Silence):
        return Verdict.FAIL, "no answer within V2G_EVCC_Msg_Timeout (2 s)"
    sid = getattr(a.body, "ServiceID", None)
    got = f"{a.name} {a.code or a.error}, ServiceID {sid}"
    if a.name != "ServiceDetailResType" or a.code != "OK" or sid != CHARGE_SERVICE_ID:
        return Verdict.FAIL, got
    d.release()
    b = d.answer(MSG_TIMEOUT_NS)
    if isinstance(b, Closed | Silence):
        return Verdict.FAIL, f"{got}; then no PaymentServiceSelectionRes ({type(b).__name__})"
    return (Verdict.PASS if b.code == "OK" else Verdict.FAIL), f"{got}; then {b.name} {b.code}"


def _service_detail_invalid(ctx: CaseContext) -> Outcome:
    d = reach(ctx, Phase.PAYMENT_SELECTION)
    if not isinstance(d, Driver):
        return d
    return expect_failure(d, d.message(d.m.ServiceDetailReqType(ServiceID=65535)),
                          "FAILED_ServiceIDInvalid")


def _service_detail_session(ctx: CaseContext) -> Outcome:
    d = reach(ctx, Phase.PAYMENT_SELECTION)
    if not isinstance(d, Driver):
        return d
    wrong = bytes(8) if any(d.ev.session_id) else b"\x01" * 8
    return expect_failure(d, d.message(d.m.ServiceDetailReqType(ServiceID=CHARGE_SERVICE_ID),
                                       session_id=wrong), "FAILED_UnknownSession")


def _plain_tcp_only(run: Callable[[CaseContext], Outcome]) -> Callable[[CaseContext], Outcome]:
    """A case about what is refused on plain TCP: over TLS it does not apply."""
    def wrapped(ctx: CaseContext) -> Outcome:
        if ctx.tls:
            return Verdict.SKIP, "over TLS Contract payment is allowed: the case is for TCP"
        return run(ctx)
    return wrapped


def _selected(d: Driver, ids: Sequence[int]) -> Any:
    m = d.m
    return m.SelectedServiceListType(SelectedService=[m.SelectedServiceType(ServiceID=i)
                                                      for i in ids])


def _cpd_negative_current(ctx: CaseContext) -> Outcome:
    d = reach(ctx, Phase.CHARGE_PARAMETERS)
    if not isinstance(d, Driver):
        return d

    def change(body: Any) -> Any:
        cp = dataclasses.replace(body.EVChargeParameter,
                                 EVMaximumCurrentLimit=_pv(d, -100.0, "A"))
        return dataclasses.replace(body, EVChargeParameter=cp)
    return expect_failure(d, d.reencode(d.held[0], change), "FAILED_WrongChargeParameter")


def _cpd_ac_mode(ctx: CaseContext) -> Outcome:
    d = reach(ctx, Phase.CHARGE_PARAMETERS)
    if not isinstance(d, Driver):
        return d
    m = d.m

    def change(body: Any) -> Any:
        if ctx.din:
            return dataclasses.replace(
                body, EVRequestedEnergyTransferType=m.EVRequestedEnergyTransferType(
                    "AC_three_phase_core"))
        return dataclasses.replace(
            body, RequestedEnergyTransferMode=m.EnergyTransferModeType("AC_three_phase_core"))
    code = "FAILED_WrongEnergyTransferType" if ctx.din else "FAILED_WrongEnergyTransferMode"
    return expect_failure(d, d.reencode(d.held[0], change), code)


def _cable_check_in_state_b(ctx: CaseContext) -> Outcome:
    """CableCheckReq with the car's pilot left in state B (S2 open): FAILED and TCP closed
    (T4 TC_SECC_DC_VTB_CableCheck_008), with no isolation voltage on a car that is not
    ready. Needs a link that holds the pilot (in-process station, CP board)."""
    link = ctx.link
    if not isinstance(link, PilotControl):
        return Verdict.SKIP, "the link cannot hold the pilot in state B (needs a CP board)"
    d = reach(ctx, Phase.CABLE_CHECK)
    if not isinstance(d, Driver):
        return d
    link.set_vehicle_ready(False)
    try:
        return expect_failure(d, d.held[0], "FAILED")
    finally:
        link.set_vehicle_ready(True)


def _pd_unknown_tuple(ctx: CaseContext) -> Outcome:
    d = reach(ctx, Phase.POWER_DELIVERY_START)
    if not isinstance(d, Driver):
        return d
    payload = d.reencode(d.held[0], lambda b: dataclasses.replace(b, SAScheduleTupleID=200))
    return expect_failure(d, payload, "FAILED_TariffSelectionInvalid")


def _cd_repetition(ctx: CaseContext) -> Outcome:
    """CurrentDemandReq back to back (each sent the instant its answer arrives)."""
    d = reach(ctx, Phase.CHARGING)
    if not isinstance(d, Driver):
        return d
    req = d.held[0]
    d.held = []
    rtts: list[int] = []
    bad: list[str] = []
    for _ in range(ctx.options.repetitions):
        d.send_payload(req)
        a = d.answer(MSG_TIMEOUT_CURRENT_DEMAND_NS)
        if not isinstance(a, Answer):
            what = "closed" if isinstance(a, Closed) else "no answer within 250 ms"
            return Verdict.FAIL, f"after {len(rtts)} answers: {what}"
        if a.code != "OK":
            bad.append(a.code)
        if a.rtt_ns is not None:
            rtts.append(a.rtt_ns)
    worst = max(rtts) if rtts else 0
    got = (f"{len(rtts)} answers, median {_ms(int(statistics.median(rtts)))}, "
           f"max {_ms(worst)}" + (f"; codes {sorted(set(bad))}" if bad else ""))
    ok = not bad and worst <= MSG_TIMEOUT_CURRENT_DEMAND_NS
    return (Verdict.PASS if ok else Verdict.FAIL), got


def _v2gtp_header(version: int, inverse: int, ptype: int,
                  length: int | None) -> Callable[[CaseContext], Outcome]:
    """SessionSetupReq with a doctored header (the body follows as T4 sends it)."""
    def run(ctx: CaseContext) -> Outcome:
        d = reach(ctx, Phase.SESSION_SETUP)
        if not isinstance(d, Driver):
            return d
        payload = d.held[0]
        d.held = []
        n = len(payload) if length is None else length
        raw = (bytes([version, inverse]) + ptype.to_bytes(2, "big") + n.to_bytes(4, "big")
               + payload)
        if length is None and (version, inverse, ptype) == (1, 0xFE, 0x8001):
            d.send_raw(raw, "SessionSetupReq")
            a = d.answer(MSG_TIMEOUT_NS)
            if isinstance(a, Answer):
                ok = a.code.startswith("OK")
                return (Verdict.PASS if ok else Verdict.FAIL), f"{a.name} {a.code}"
            if isinstance(a, Closed):
                return Verdict.FAIL, f"TCP closed ({a.detail})"
            return Verdict.FAIL, "no SessionSetupRes within V2G_EVCC_Msg_Timeout (2 s)"
        return expect_ignored(d, raw, "SessionSetupReq (bad header)")
    return run


def _v2gtp_oversize(ctx: CaseContext) -> Outcome:
    d = reach(ctx, Phase.SESSION_SETUP)
    if not isinstance(d, Driver):
        return d
    d.held = []
    d.send_raw(bytes([1, 0xFE, 0x80, 0x01, 0xFF, 0xFF, 0xFF, 0xFF]), "oversize header")
    a = d.answer(MSG_TIMEOUT_NS + TCP_TERMINATION_TIMEOUT_NS)
    if isinstance(a, Answer):
        return Verdict.FAIL, f"answered {a.name} {a.code}"
    what = "TCP closed" if isinstance(a, Closed) else "ignored (no answer)"
    d.link.disconnect()
    # The SECC must still serve the next car.
    d2 = reach(ctx, Phase.SERVICE_DISCOVERY)
    if not isinstance(d2, Driver):
        return Verdict.FAIL, f"{what}; then no new session: {d2[1]}"
    return Verdict.PASS, f"{what}; next session reached ServiceDiscovery"


# ---------------------------------------------------------------------- SDP
def _sdp_datagram(version: int = 1, inverse: int = 0xFE, ptype: int = 0x9000,
                  length: int | None = None, security: int = 0x10) -> bytes:
    payload = bytes([security, 0x00])
    n = len(payload) if length is None else length
    return bytes([version, inverse]) + ptype.to_bytes(2, "big") + n.to_bytes(4, "big") + payload


def _sdp_ready(ctx: CaseContext) -> bytes | None:
    """A valid request first (until answered: a bench re-plugs between sessions)."""
    give_up = ctx.link.now_ns() + 15_000_000_000
    while ctx.link.now_ns() < give_up:
        answer = ctx.link.sdp(_sdp_datagram(), 250_000_000)
        if answer is not None:
            return answer
    return None


def _sdp_valid(ctx: CaseContext) -> Outcome:
    answer = _sdp_ready(ctx)
    if answer is None:
        return Verdict.FAIL, "no SECCDiscoveryRes within 15 s"
    ok = (len(answer) == 28 and answer[:4] == bytes([1, 0xFE, 0x90, 0x01])
          and int.from_bytes(answer[4:8], "big") == 20)
    port = int.from_bytes(answer[24:26], "big") if len(answer) >= 26 else 0
    return (Verdict.PASS if ok else Verdict.FAIL), (
        f"SECCDiscoveryRes {len(answer)} bytes, port {port}, security 0x{answer[26]:02x}"
        if len(answer) >= 28 else f"{len(answer)} bytes: {answer.hex()}")


def _sdp_security(ctx: CaseContext) -> Outcome:
    """A SECCDiscoveryReq asking for TLS (security 0x00) must be answered, whatever the SECC
    supports (a car that gets no answer retries until its 50-request limit: interop_failures.md
    §1). Run with --tls, the SECC must offer TLS (0x00) and a TLS port; without, either offer
    passes and is reported."""
    if _sdp_ready(ctx) is None:
        return Verdict.INCONCLUSIVE, "the SECC answers no valid SDP request either"
    answer = ctx.link.sdp(_sdp_datagram(security=0x00), 1_000_000_000)
    if answer is None or len(answer) != 28 or answer[:4] != bytes([1, 0xFE, 0x90, 0x01]):
        return Verdict.FAIL, ("no answer within 1 s" if answer is None
                              else f"{len(answer)} bytes: {answer.hex()}")
    security, port = answer[26], int.from_bytes(answer[24:26], "big")
    got = f"SECCDiscoveryRes security 0x{security:02x}, port {port}"
    if ctx.tls and security != 0x00:
        return Verdict.FAIL, got + " (run with --tls: TLS expected)"
    return (Verdict.PASS if security in (0x00, 0x10) else Verdict.FAIL), got


def _sdp_invalid(**header: int) -> Callable[[CaseContext], Outcome]:
    def run(ctx: CaseContext) -> Outcome:
        if _sdp_ready(ctx) is None:
            return Verdict.INCONCLUSIVE, "the SECC answers no valid SDP request either"
        answer = ctx.link.sdp(_sdp_datagram(**header), SDP_IGNORE_WAIT_NS)
        if answer is None:
            return Verdict.PASS, f"ignored (no answer within {_s(SDP_IGNORE_WAIT_NS)})"
        return Verdict.FAIL, f"answered: {answer.hex()}"
    return run


# ---------------------------------------------------------------------- the good case
def _good_case(ctx: CaseContext) -> list[CaseResult]:
    """One whole session; the P0 checks read its transcript."""
    d = ctx.driver()
    results: list[CaseResult] = []

    def add(fam: Family, cid: str, title: str, expected: str, clause: str,
            outcome: Outcome) -> None:
        results.append(CaseResult(fam, cid, title, expected, outcome[1], outcome[0], clause))

    try:
        d.open()
    except (ProbeLinkError, OSError) as exc:
        add(Family.GOOD_CASE, "GOOD-001", "whole session", "SessionStopRes OK", T4,
            (Verdict.INCONCLUSIVE, f"no V2G connection: {exc}"))
        return results
    stop = d.advance(None, ctx.options.step_limit_ns + ctx.options.charge_ns)
    ev = d.ev
    ok = ev.result is not None and ev.result.ok
    add(Family.GOOD_CASE, "GOOD-001", "whole session SDP..SessionStop",
        "every ResponseCode OK, SessionStopRes OK", f"{T4} GoodCase procedure",
        (Verdict.PASS if ok else Verdict.FAIL,
         f"{'completed' if ok else 'failed'}: {_why(d, stop)} "
         f"({ev.result.messages if ev.result else 0} messages, "
         f"{ev.result.current_demands if ev.result else 0} CurrentDemand)"))
    c = d.wait_close(TCP_TERMINATION_TIMEOUT_NS) if ok else None
    by_name = _answers_by_name(d.answers)
    results.extend(_p0_checks(ctx, d, by_name, ok, c))
    return results


def _answers_by_name(answers: Iterable[Answer]) -> dict[str, list[Answer]]:
    out: dict[str, list[Answer]] = {}
    for a in answers:
        out.setdefault(a.name, []).append(a)
    return out


def _p0_checks(ctx: CaseContext, d: Driver, by: dict[str, list[Answer]], ok: bool,
               closed: Closed | None) -> list[CaseResult]:
    res: list[CaseResult] = []
    din = ctx.din

    def add(fam: Family, cid: str, title: str, expected: str, clause: str,
            outcome: Outcome) -> None:
        res.append(CaseResult(fam, cid, title, expected, outcome[1], outcome[0], clause))

    def none(name: str) -> Outcome:
        return Verdict.INCONCLUSIVE, f"no {name} in the good case"

    # SessionSetup
    ss = by.get("SessionSetupResType", [])
    if ss:
        sid = d.ev.session_id
        good = ss[0].code == "OK_NewSessionEstablished" and any(sid)
        add(Family.SESSION_SETUP, "SS-001", "new session", "OK_NewSessionEstablished, "
            "SessionID ≠ 0", f"{T4} GoodCase; ISO 15118-2 / DIN SPEC 70121 SessionSetupRes",
            (Verdict.PASS if good else Verdict.FAIL, f"{ss[0].code}, SessionID {sid.hex()}"))
    else:
        add(Family.SESSION_SETUP, "SS-001", "new session", "OK_NewSessionEstablished", "",
            none("SessionSetupRes"))
    # ChargeParameterDiscovery: EVSEMaximumPowerLimit (P0 item 3)
    cpd = [a for a in by.get("ChargeParameterDiscoveryResType", [])
           if getattr(getattr(a.body, "EVSEProcessing", None), "value", "") == "Finished"]
    if cpd:
        cp = getattr(cpd[-1].body, "EVSEChargeParameter", None)
        pmax = getattr(cp, "EVSEMaximumPowerLimit", None)
        value = None if pmax is None else to_float(pmax)
        add(Family.CHARGE_PARAMETERS, "CPD-P0-001", "EVSEMaximumPowerLimit in CPD",
            "present and > 0", "ccs2_dc_reference.md P0-3; DIN SPEC 70121 DC_EVSEChargeParameter",
            (Verdict.PASS if value is not None and value > 0 else Verdict.FAIL,
             "absent" if value is None else f"{value:.0f} W"))
    else:
        add(Family.CHARGE_PARAMETERS, "CPD-P0-001", "EVSEMaximumPowerLimit in CPD",
            "present and > 0", "ccs2_dc_reference.md P0-3", none("finished CPD answer"))
    # Authorization: Ongoing handling (P0 item 4)
    auth = by.get("ContractAuthenticationResType" if din else "AuthorizationResType", [])
    if auth:
        steps = [str(a.body.EVSEProcessing.value) for a in auth]
        codes = {a.code for a in auth}
        ongoing_ok = all(s.startswith("Ongoing") for s in steps[:-1])
        good = codes == {"OK"} and steps[-1] == "Finished" and ongoing_ok
        shown = ", ".join(f"{steps.count(s)}× {s}" for s in dict.fromkeys(steps))
        add(Family.AUTHORIZATION, "AUTH-P0-001", "EIM wait kept alive",
            "OK + Ongoing… until Finished", "ccs2_dc_reference.md P0-4; ISO 15118-2 "
            "[V2G2-710/711] (Ongoing), EVSEProcessing Ongoing_WaitingForCustomerInteraction",
            (Verdict.PASS if good else Verdict.FAIL, f"{shown}; codes {sorted(codes)}"))
    else:
        add(Family.AUTHORIZATION, "AUTH-P0-001", "EIM wait kept alive", "Finished", "",
            none("Authorization answer"))
    # PreCharge reaches the target in time
    pre_reqs = [(t, b) for t, kind, b in d.ev.transcript
                if kind == "req" and type(b).__name__ == "PreChargeReqType"]
    pre = by.get("PreChargeResType", [])
    if pre_reqs and pre:
        target = to_float(pre_reqs[0][1].EVTargetVoltage)
        first = pre_reqs[0][0]
        hit = next((a for a in pre if abs(to_float(a.body.EVSEPresentVoltage) - target)
                    <= PRECHARGE_MATCH_V), None)
        took = None if hit is None else hit.at_ns - first
        good = took is not None and took <= PRECHARGE_TIMEOUT_NS
        add(Family.PRECHARGE, "PC-P0-001", "precharge reaches the target",
            f"|present − target| ≤ {PRECHARGE_MATCH_V:.0f} V within 7 s",
            "V2G_EVCC_PreCharge_Timeout 7 s (timing.md §4/§5)",
            (Verdict.PASS if good else Verdict.FAIL,
             f"target {target:.0f} V reached after {_s(took)}" if took is not None else
             f"target {target:.0f} V never reached; last "
             f"{to_float(pre[-1].body.EVSEPresentVoltage):.0f} V"))
    else:
        add(Family.PRECHARGE, "PC-P0-001", "precharge reaches the target", "within 7 s", "",
            none("PreCharge exchange"))
    # CurrentDemand: response times and present V/I
    cd = by.get("CurrentDemandResType", [])
    if cd:
        rtts = [a.rtt_ns for a in cd if a.rtt_ns is not None]
        worst = max(rtts)
        p90 = sorted(rtts)[int(0.9 * (len(rtts) - 1))]
        add(Family.CURRENT_DEMAND, "CD-P0-001", "every CurrentDemandRes in time",
            "≤ 250 ms (V2G_EVCC_Msg_Timeout)", "ccs2_dc_reference.md P0-1; timing.md §4",
            (Verdict.PASS if worst <= MSG_TIMEOUT_CURRENT_DEMAND_NS else Verdict.FAIL,
             f"{len(rtts)} answers, max {_ms(worst)}"))
        add(Family.CURRENT_DEMAND, "CD-P0-002", "CurrentDemandRes performance time",
            "median ≤ 25 ms on the wire (V2G_SECC_Msg_Performance_Time)",
            "DIN SPEC 70121 Table 75 (25 ms, timing.md §4); probe latency included",
            (Verdict.PASS if statistics.median(rtts) <= CURRENT_DEMAND_PERFORMANCE_NS
             else Verdict.FAIL,
             f"p90 {_ms(p90)}, median {_ms(int(statistics.median(rtts)))}, max {_ms(worst)}"))
        add(Family.CURRENT_DEMAND, "CD-P0-003", "present V/I match the car's battery",
            f"|V − battery| ≤ {PRESENT_VOLTAGE_TOLERANCE_V:.0f} V, "
            f"0 ≤ I ≤ target + {PRESENT_CURRENT_TOLERANCE_A:.0f} A",
            "ccs2_dc_reference.md P0-2", _present_consistent(d, cd, pre_reqs))
    else:
        for cid in ("CD-P0-001", "CD-P0-002", "CD-P0-003"):
            add(Family.CURRENT_DEMAND, cid, "CurrentDemand", "answers", "",
                none("CurrentDemandRes"))
    # Stop behaviour
    stop_names = ("PowerDeliveryResType", "WeldingDetectionResType",
                  "SessionStopResType" if not din else "SessionStopResType")
    seen = {n: by.get(n, []) for n in stop_names}
    stop_ok = ok and all(v and v[-1].code == "OK" for v in seen.values())
    closed_txt = (f"SECC closed TCP {_s(closed.at_ns - seen['SessionStopResType'][-1].at_ns)}"
                  " after SessionStopRes" if closed is not None and seen["SessionStopResType"]
                  else "SECC kept TCP open 5 s after SessionStopRes")
    add(Family.SESSION_STOP, "STOP-P0-001", "normal stop",
        f"PowerDelivery(Stop), WeldingDetection, SessionStop OK; {TERMINATION}",
        f"ccs2_dc_reference.md (stop behaviour); {T4} GoodCase",
        (Verdict.PASS if stop_ok and closed is not None else Verdict.FAIL,
         ", ".join(f"{n.removesuffix('ResType')} {v[-1].code if v else '-'}"
                   for n, v in seen.items()) + f"; {closed_txt}"))
    return res


def _present_consistent(d: Driver, cd: list[Answer],
                        pre_reqs: list[tuple[int, Any]]) -> Outcome:
    if not pre_reqs:
        return Verdict.INCONCLUSIVE, "no PreChargeReq to know the battery voltage"
    battery_v = to_float(pre_reqs[0][1].EVTargetVoltage)
    targets = [to_float(b.EVTargetCurrent) for _, kind, b in d.ev.transcript
               if kind == "req" and type(b).__name__ == "CurrentDemandReqType"]
    max_target = max(targets) if targets else 0.0
    worst_v = max(abs(to_float(a.body.EVSEPresentVoltage) - battery_v) for a in cd)
    currents = [to_float(a.body.EVSEPresentCurrent) for a in cd]
    ok_i = all(-1.0 <= i <= max_target + PRESENT_CURRENT_TOLERANCE_A for i in currents)
    ok = worst_v <= PRESENT_VOLTAGE_TOLERANCE_V and ok_i
    return (Verdict.PASS if ok else Verdict.FAIL), (
        f"battery {battery_v:.0f} V: worst |ΔV| {worst_v:.1f} V; I {min(currents):.1f}.."
        f"{max(currents):.1f} A for targets ≤ {max_target:.0f} A")


# ---------------------------------------------------------------------- Plug & Charge
#: Plug & Charge exists in ISO 15118-2 only (DIN SPEC 70121 is EIM/ExternalPayment).
PNC_PROTOCOLS = frozenset({"iso2"})
#: An expired contract leaf: valid for a year from 2020 (before any time the probe runs at).
EXPIRED_FROM = datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC)
EXPIRED_VALIDITY = datetime.timedelta(days=365)
#: T4 TC_SECC_CMN_VTB_PaymentDetails_009/010 (an expired Sub-CA in the contract chain)
#: accept any of these codes in PaymentDetailsRes (ours: FAILED, evse/secc/contract_chain.py);
#: source: the T4 case descriptions as carried by the public ISO15118_4_TestEnv port
#: (TestCase/src/V2GAppSECCPaymentDetails.cpp), which give 008 the same list.
SUB_CA_EXPIRED_CODES = frozenset({"FAILED", "FAILED_NoCertificateAvailable",
                                  "FAILED_CertificateNotAllowedAtThisEVSE"})
#: The probe's own case (no T4 case): a contract leaf that is no certificate (DER cut
#: short). A chain the SECC cannot read is FAILED_CertChainError (ISO 15118-2
#: responseCodeType) or the generic FAILED. T4 TC_SECC_CMN_VTB_PaymentDetails_008 is a
#: different input: a well-formed leaf of invalid content ("Country name was set"), answered
#: FAILED, FAILED_NoCertificateAvailable or FAILED_CertificateNotAllowedAtThisEVSE; it has
#: no probe case (docs/conformance.md, "Not covered").
CONTENT_INVALID_CODES = frozenset({"FAILED", "FAILED_CertChainError"})
PNC_CLAUSE = "ISO 15118-2 [V2G2-634/635] (Contract only on TLS)"


def _as_is(run: Callable[[CaseContext], Outcome]) -> Callable[[CaseContext], Outcome]:
    return run


def _tls_only(run: Callable[[CaseContext], Outcome]) -> Callable[[CaseContext], Outcome]:
    """A Plug & Charge case: Contract is offered on TLS only, so without --tls it is a
    documented skip."""
    def wrapped(ctx: CaseContext) -> Outcome:
        if not ctx.tls:
            return Verdict.SKIP, "Plug & Charge needs TLS (run with --tls)"
        return run(ctx)
    return wrapped


def _with_chain(d: Driver, payload: bytes, contract: ContractChain) -> bytes:
    """The held PaymentDetailsReq carrying `contract`'s chain instead."""
    m = exi.iso2

    def change(body: Any) -> Any:
        return dataclasses.replace(body, ContractSignatureCertChain=m.CertificateChainType(
            Certificate=contract.leaf_der, SubCertificates=m.SubCertificatesType(
                Certificate=list(contract.sub_cas_der))))
    return d.reencode(payload, change)


def _answer_or_verdict(d: Driver, wait_ns: int) -> Answer | Outcome:
    a = d.answer(wait_ns)
    if isinstance(a, Closed):
        return Verdict.FAIL, f"TCP closed without an answer ({a.detail})"
    if isinstance(a, Silence):
        return Verdict.FAIL, f"no answer within {_s(wait_ns)}"
    return a


def _payment_details_good(ctx: CaseContext) -> Outcome:
    """PaymentDetailsReq with the car's contract: OK with a fresh 16-byte GenChallenge
    (T4 TC_SECC_CMN_VTB_PaymentDetails_001), then the signed AuthorizationReq that echoes
    it is taken (no FAILED_ChallengeInvalid / FAILED_SignatureError)."""
    d = reach(ctx, Phase.PAYMENT_DETAILS, pnc=True)
    if not isinstance(d, Driver):
        return d
    d.release()
    a = _answer_or_verdict(d, MSG_TIMEOUT_CERTIFICATE_NS)
    if not isinstance(a, Answer):
        return a
    challenge = getattr(a.body, "GenChallenge", None)
    n = 0 if challenge is None else len(bytes(challenge))
    got = f"{a.name} {a.code or a.error}, GenChallenge {n} bytes"
    if a.name != "PaymentDetailsResType" or a.code != "OK" or n != 16:
        return Verdict.FAIL, got
    d.held = d.ev.receive(a.payload, a.at_ns)
    d.release()
    b = _answer_or_verdict(d, MSG_TIMEOUT_NS)
    if not isinstance(b, Answer):
        return b[0], f"{got}; then {b[1]}"
    processing = getattr(getattr(b.body, "EVSEProcessing", None), "value", "")
    got += f"; then {b.name} {b.code} {processing}"
    ok = b.code == "OK" or b.code not in ("FAILED_ChallengeInvalid", "FAILED_SignatureError")
    return (Verdict.PASS if ok and b.name == "AuthorizationResType" else Verdict.FAIL), got


def _payment_details_chain(kind: str) -> Callable[[CaseContext], Outcome]:
    def run(ctx: CaseContext) -> Outcome:
        d = reach(ctx, Phase.PAYMENT_DETAILS, pnc=True)
        if not isinstance(d, Driver):
            return d
        if kind == "expired":
            bad = reissue_contract_leaf(ctx.contract, not_before=EXPIRED_FROM,
                                        validity=EXPIRED_VALIDITY)
            code = "FAILED_CertificateExpired"
        elif kind in ("sub_ca_2", "sub_ca_1"):  # that Sub-CA expired, signatures intact
            bad = reissue_contract_sub_ca(ctx.contract, 0 if kind == "sub_ca_2" else 1,
                                          not_before=EXPIRED_FROM, validity=EXPIRED_VALIDITY)
            return expect_failure(d, _with_chain(d, d.held[0], bad), SUB_CA_EXPIRED_CODES)
        elif kind == "content":  # the leaf's bytes are no certificate (DER cut short)
            bad = dataclasses.replace(ctx.contract, leaf_der=ctx.contract.leaf_der[:-40])
            return expect_failure(d, _with_chain(d, d.held[0], bad), CONTENT_INVALID_CODES)
        else:  # a leaf its Sub-CA 2 did not sign
            foreign = ec.generate_private_key(ec.SECP256R1())
            bad = reissue_contract_leaf(ctx.contract, not_before=EXPIRED_FROM,
                                        validity=datetime.timedelta(days=30 * 365),
                                        issuer_key=foreign)
            code = "FAILED_CertChainError"
        return expect_failure(d, _with_chain(d, d.held[0], bad), code)
    return run


def _resigned(d: Driver, payload: bytes, body: Any, key: ec.EllipticCurvePrivateKey) -> bytes:
    m = exi.iso2
    msg = exi.decode("iso2", payload)
    header = dataclasses.replace(msg.Header, Signature=sign_body(body, key))
    return bytes(exi.encode("iso2", dataclasses.replace(
        msg, Header=header, Body=m.BodyType(BodyElement=body))))


def _authorization_pnc(kind: str) -> Callable[[CaseContext], Outcome]:
    """The car's first AuthorizationReq, signed by another key ("signature") or echoing
    another GenChallenge, correctly signed ("challenge")."""
    def run(ctx: CaseContext) -> Outcome:
        d = reach(ctx, Phase.AUTHORIZATION, pnc=True)
        if not isinstance(d, Driver):
            return d
        body = d.decode_request(d.held[0])
        if kind == "signature":
            payload = _resigned(d, d.held[0], body, ec.generate_private_key(ec.SECP256R1()))
            code = "FAILED_SignatureError"
        else:
            other = bytes(b ^ 0xFF for b in bytes(body.GenChallenge))
            body = dataclasses.replace(body, GenChallenge=other)
            payload = _resigned(d, d.held[0], body, ctx.contract.leaf_key)
            code = "FAILED_ChallengeInvalid"
        return expect_failure(d, payload, code)
    return run


def _certificate_request(kind: str) -> Callable[[CaseContext], Outcome]:
    """CertificateInstallationReq / CertificateUpdateReq where the car would send
    PaymentDetailsReq: the SECC must answer within the car's 5 s, with the CSMS's answer
    or, without one, a FAILED code of its own (ISO 15118-2 has no EVSEProcessing here)."""
    def run(ctx: CaseContext) -> Outcome:
        d = reach(ctx, Phase.PAYMENT_DETAILS, pnc=True)
        if not isinstance(d, Driver):
            return d
        m = exi.iso2
        c = ctx.contract
        roots = m.ListOfRootCertificateIDsType(RootCertificateID=[m.X509IssuerSerialType(
            X509IssuerName="CN=evse test V2G Root CA", X509SerialNumber=1)])
        if kind == "installation":
            body: Any = m.CertificateInstallationReqType(
                Id="ID2", OEMProvisioningCert=c.leaf_der, ListOfRootCertificateIDs=roots)
            want = "CertificateInstallationResType"
        else:
            body = m.CertificateUpdateReqType(
                Id="ID2", ContractSignatureCertChain=m.CertificateChainType(
                    Certificate=c.leaf_der, SubCertificates=m.SubCertificatesType(
                        Certificate=list(c.sub_cas_der))),
                eMAID=c.emaid, ListOfRootCertificateIDs=roots)
            want = "CertificateUpdateResType"
        d.send_payload(d.message(body))
        a = _answer_or_verdict(d, MSG_TIMEOUT_CERTIFICATE_NS)
        if not isinstance(a, Answer):
            return a
        took = a.rtt_ns or 0
        got = f"{a.name} {a.code or a.error} after {_s(took)}"
        ok = a.name == want and bool(a.code) and took <= MSG_TIMEOUT_CERTIFICATE_NS
        return (Verdict.PASS if ok else Verdict.FAIL), got
    return run


def _metering_receipt_good(ctx: CaseContext) -> Outcome:
    """The first CurrentDemandRes of a PnC session asked for a receipt (ReceiptRequired,
    MeterInfo); the car's signed MeteringReceiptReq is answered OK and CurrentDemand goes
    on (T4 TC_SECC_DC_VTB_MeteringReceipt_001)."""
    d = reach(ctx, Phase.METERING_RECEIPT, pnc=True)
    if not isinstance(d, Driver):
        return d
    # The car signs back the MeterInfo the SECC sent: it must carry the meter's register.
    reading = d.decode_request(d.held[0]).MeterInfo.MeterReading
    if reading is None:
        return Verdict.FAIL, "MeterInfo without MeterReading"
    d.release()
    a = _answer_or_verdict(d, MSG_TIMEOUT_NS)
    if not isinstance(a, Answer):
        return a
    got = f"MeterReading {reading} Wh; {a.name} {a.code or a.error}"
    if a.name != "MeteringReceiptResType" or a.code != "OK":
        return Verdict.FAIL, got
    d.held = d.ev.receive(a.payload, a.at_ns)
    stop = d.advance(lambda ev: ev.phase is Phase.CHARGING and bool(d.held),
                     MSG_TIMEOUT_NS)
    if stop is not Stop.HELD:
        return Verdict.FAIL, f"{got}; then no CurrentDemandReq: {_why(d, stop)}"
    d.release()
    b = _answer_or_verdict(d, MSG_TIMEOUT_CURRENT_DEMAND_NS)
    if not isinstance(b, Answer):
        return b[0], f"{got}; then {b[1]}"
    return (Verdict.PASS if b.code == "OK" else Verdict.FAIL), f"{got}; then {b.name} {b.code}"


def _metering_receipt_bad(kind: str) -> Callable[[CaseContext], Outcome]:
    """The car's MeteringReceiptReq signed by another key ("key"), with a MeterInfo the
    SECC did not send, signed ("meter": another TMeter, "reading": another MeterReading),
    or changed after signing ("body")."""
    def run(ctx: CaseContext) -> Outcome:
        d = reach(ctx, Phase.METERING_RECEIPT, pnc=True)
        if not isinstance(d, Driver):
            return d
        body = d.decode_request(d.held[0])
        info = body.MeterInfo
        changed = dataclasses.replace(body, MeterInfo=(
            dataclasses.replace(info, MeterReading=(info.MeterReading or 0) + 1000)
            if kind == "reading" else dataclasses.replace(info, TMeter=(info.TMeter or 0) + 3600)))
        if kind == "key":
            payload = _resigned(d, d.held[0], body, ec.generate_private_key(ec.SECP256R1()))
        elif kind in ("meter", "reading"):
            payload = _resigned(d, d.held[0], changed, ctx.contract.leaf_key)
        else:  # the signature of the original body over a changed one
            payload = d.reencode(d.held[0], lambda b: changed)
        return expect_failure(d, payload, "FAILED_MeteringSignatureNotValid")
    return run


def _pause_resume(ctx: CaseContext) -> Outcome:
    """SessionStopReq(ChargingSession=Pause): SessionStopRes OK and TCP closed; then a new
    connection whose SessionSetupReq carries the paused SessionID: OK_OldSessionJoined with
    that SessionID (ISO 15118-2 SessionSetupRes; a paused session is resumed, not new)."""
    d = reach(ctx, Phase.SESSION_STOP)
    if not isinstance(d, Driver):
        return d
    m = exi.iso2
    payload = d.reencode(d.held[0], lambda b: dataclasses.replace(
        b, ChargingSession=m.chargingSessionType.Pause))
    d.send_payload(payload)
    a = _answer_or_verdict(d, MSG_TIMEOUT_NS)
    if not isinstance(a, Answer):
        return a
    c = d.wait_close(TCP_TERMINATION_TIMEOUT_NS)
    got = f"{a.name} {a.code}; " + ("TCP closed" if c is not None else "TCP still open after 5 s")
    if a.code != "OK" or c is None:
        return Verdict.FAIL, got
    paused = d.ev.session_id
    d.link.disconnect()
    d2 = reach(ctx, Phase.SESSION_SETUP)
    if not isinstance(d2, Driver):
        return d2[0], f"{got}; then {d2[1]}"
    d2.held = []
    d2.send_payload(d2.message(m.SessionSetupReqType(EVCCID=d.ev.profile.evccid),
                               session_id=paused))
    b = _answer_or_verdict(d2, MSG_TIMEOUT_NS)
    if not isinstance(b, Answer):
        return b[0], f"{got}; then {b[1]}"
    sid = bytes(getattr(getattr(exi.decode("iso2", b.payload), "Header", None), "SessionID",
                        b""))
    got += f"; resumed: {b.name} {b.code}, SessionID {'same' if sid == paused else sid.hex()}"
    ok = b.code == "OK_OldSessionJoined" and sid == paused
    return (Verdict.PASS if ok else Verdict.FAIL), got


def _pnc_cases() -> list[Case]:
    pd, au = Family.PAYMENT_DETAILS, Family.AUTHORIZATION
    return [
        Case(pd, "PDET-001", "PaymentDetailsReq with the car's contract",
             "PaymentDetailsRes OK, 16-byte GenChallenge; the signed AuthorizationReq echoing "
             "it is taken", f"{T4} TC_SECC_CMN_VTB_PaymentDetails_001; ISO 15118-2 "
             "genChallengeType; " + PNC_CLAUSE, _tls_only(_payment_details_good), PNC_PROTOCOLS),
        Case(pd, "PDET-EXPIRED", "contract leaf expired",
             "FAILED_CertificateExpired; " + TERMINATION,
             f"{T4} TC_SECC_CMN_VTB_PaymentDetails_007", _tls_only(_payment_details_chain(
                 "expired")), PNC_PROTOCOLS),
        Case(pd, "PDET-SUBCA2", "contract Sub-CA 2 expired (the leaf's issuer)",
             "FAILED, FAILED_NoCertificateAvailable or FAILED_CertificateNotAllowedAtThisEVSE; "
             + TERMINATION, f"{T4} TC_SECC_CMN_VTB_PaymentDetails_009/010 (expired Sub-CA)",
             _tls_only(_payment_details_chain("sub_ca_2")), PNC_PROTOCOLS),
        Case(pd, "PDET-SUBCA1", "contract Sub-CA 1 expired",
             "FAILED, FAILED_NoCertificateAvailable or FAILED_CertificateNotAllowedAtThisEVSE; "
             + TERMINATION, f"{T4} TC_SECC_CMN_VTB_PaymentDetails_009/010 (expired Sub-CA)",
             _tls_only(_payment_details_chain("sub_ca_1")), PNC_PROTOCOLS),
        Case(pd, "PDET-CONTENT", "contract leaf that is no certificate (DER cut short)",
             "FAILED_CertChainError or FAILED; " + TERMINATION,
             "ISO 15118-2 responseCodeType FAILED_CertChainError (no T4 case: probe's own; "
             "T4 PaymentDetails_008 is a leaf of invalid content, not covered)",
             _tls_only(_payment_details_chain("content")), PNC_PROTOCOLS),
        Case(pd, "PDET-CHAIN", "contract leaf not signed by its Sub-CA",
             "FAILED_CertChainError; " + TERMINATION,
             "ISO 15118-2 responseCodeType FAILED_CertChainError (no T4 case: probe's own)",
             _tls_only(_payment_details_chain("chain")), PNC_PROTOCOLS),
        Case(au, "AUTH-PNC-SIG", "AuthorizationReq signed by another key",
             "FAILED_SignatureError; " + TERMINATION,
             "ISO 15118-2 §7.9.2.4 (AuthorizationReq signed by the contract key); "
             "responseCodeType FAILED_SignatureError", _tls_only(_authorization_pnc(
                 "signature")), PNC_PROTOCOLS),
        Case(au, "AUTH-PNC-CHAL", "AuthorizationReq with another GenChallenge",
             "FAILED_ChallengeInvalid; " + TERMINATION,
             "ISO 15118-2 AuthorizationReq GenChallenge (echo of PaymentDetailsRes); "
             "responseCodeType FAILED_ChallengeInvalid", _tls_only(_authorization_pnc(
                 "challenge")), PNC_PROTOCOLS),
        Case(Family.METERING_RECEIPT, "MR-001", "receipt asked for and given",
             "CurrentDemandRes ReceiptRequired (PnC) with MeterInfo.MeterReading (the meter's "
             "register, Wh); MeteringReceiptRes OK; CurrentDemand goes on",
             f"{T4} TC_SECC_DC_VTB_MeteringReceipt_001; ISO 15118-2 "
             "CurrentDemandRes ReceiptRequired", _tls_only(_metering_receipt_good),
             PNC_PROTOCOLS),
        Case(Family.METERING_RECEIPT, "MR-KEY", "MeteringReceiptReq signed by another key",
             "FAILED_MeteringSignatureNotValid; " + TERMINATION,
             f"{T4} TC_SECC_DC_VTB_MeteringReceipt_006", _tls_only(_metering_receipt_bad(
                 "key")), PNC_PROTOCOLS),
        Case(Family.METERING_RECEIPT, "MR-METER", "MeteringReceiptReq with another MeterInfo",
             "FAILED_MeteringSignatureNotValid; " + TERMINATION,
             f"{T4} TC_SECC_DC_VTB_MeteringReceipt_004", _tls_only(_metering_receipt_bad(
                 "meter")), PNC_PROTOCOLS),
        Case(Family.METERING_RECEIPT, "MR-READING",
             "MeteringReceiptReq with another MeterReading, signed",
             "FAILED_MeteringSignatureNotValid; " + TERMINATION,
             f"{T4} TC_SECC_DC_VTB_MeteringReceipt_004 (MeterInfo not the one sent: its "
             "meter reading)", _tls_only(_metering_receipt_bad("reading")), PNC_PROTOCOLS),
        Case(Family.METERING_RECEIPT, "MR-BODY", "body changed after signing",
             "FAILED_MeteringSignatureNotValid; " + TERMINATION,
             f"{T4} TC_SECC_DC_VTB_MeteringReceipt_007", _tls_only(_metering_receipt_bad(
                 "body")), PNC_PROTOCOLS),
        Case(Family.PAUSE_RESUME, "PAUSE-001", "SessionStop(Pause), then the same SessionID",
             "SessionStopRes OK, TCP closed; SessionSetupRes OK_OldSessionJoined, same "
             "SessionID", "ISO 15118-2 SessionStopReq ChargingSession=Pause; SessionSetupRes "
             "OK_OldSessionJoined", _pause_resume, frozenset({"iso2"})),
        Case(Family.CERTIFICATE_INSTALLATION, "CI-001",
             "CertificateInstallationReq (contract path may be absent)",
             "CertificateInstallationRes within 5 s: the CSMS's answer, or FAILED* of the "
             "SECC's own", "V2G_EVCC_Msg_Timeout CertificateInstallation 5 s (timing.md §4); "
             "ISO 15118-2 CertificateInstallationRes", _tls_only(_certificate_request(
                 "installation")), PNC_PROTOCOLS),
        Case(Family.CERTIFICATE_UPDATE, "CU-001",
             "CertificateUpdateReq (contract path may be absent)",
             "CertificateUpdateRes within 5 s: the CSMS's answer, or FAILED* of the SECC's own",
             "V2G_EVCC_Msg_Timeout CertificateUpdate 5 s (timing.md §4); ISO 15118-2 "
             "CertificateUpdateRes", _tls_only(_certificate_request("update")), PNC_PROTOCOLS),
    ]


# ---------------------------------------------------------------------- the catalogue
def _cases() -> list[Case]:
    cases: list[Case] = [
        Case(Family.SDP, "SDP-001", "valid SECCDiscoveryReq", "SECCDiscoveryRes, 20-byte payload",
             f"{T4} TC_SECC_CMN_VTB_V2GTPSDP_001; ISO 15118-2 §7.10.1", _sdp_valid),
        Case(Family.SDP, "SDP-002", "SDP header payloadLength 0", "request ignored",
             f"{T4} TC_SECC_CMN_VTB_V2GTPSDP_002", _sdp_invalid(length=0)),
        Case(Family.SDP, "SDP-003", "SDP header payloadType 0x7000", "request ignored",
             f"{T4} TC_SECC_CMN_VTB_V2GTPSDP_003", _sdp_invalid(ptype=0x7000)),
        Case(Family.SDP, "SDP-004", "SDP header version 0xFF", "request ignored",
             f"{T4} TC_SECC_CMN_VTB_V2GTPSDP_004", _sdp_invalid(version=0xFF)),
        Case(Family.SDP, "SDP-005", "SDP header inverse version 0xFF", "request ignored",
             f"{T4} TC_SECC_CMN_VTB_V2GTPSDP_005", _sdp_invalid(inverse=0xFF)),
        Case(Family.SDP, "SDP-006", "SECCDiscoveryReq security 0x00 (TLS)",
             "answered; security 0x00 with --tls (0x00 or 0x10 without)",
             "ISO 15118-2 §7.10.1 (Security field); interop_failures.md §1", _sdp_security),
        Case(Family.V2GTP, "V2GTP-001", "valid header on SessionSetupReq",
             "SessionSetupRes", f"{T4} TC_SECC_CMN_VTB_V2GTPSessionSetup_001",
             _v2gtp_header(1, 0xFE, 0x8001, None)),
        Case(Family.V2GTP, "V2GTP-002", "payloadLength 0 on SessionSetupReq",
             "ignored: no answer, no TCP close within V2G_Msg_Timeout (2 s)",
             f"{T4} TC_SECC_CMN_VTB_V2GTPSessionSetup_002; ISO 15118-2 §7.8.3",
             _v2gtp_header(1, 0xFE, 0x8001, 0)),
        Case(Family.V2GTP, "V2GTP-003", "payloadType 0x7001 on SessionSetupReq",
             "ignored: no answer, no TCP close within 2 s",
             f"{T4} TC_SECC_CMN_VTB_V2GTPSessionSetup_003; ISO 15118-2 §7.8.3",
             _v2gtp_header(1, 0xFE, 0x7001, 0)),
        Case(Family.V2GTP, "V2GTP-004", "protocolVersion 0xFF on SessionSetupReq",
             "ignored: no answer, no TCP close within 2 s",
             f"{T4} TC_SECC_CMN_VTB_V2GTPSessionSetup_004; ISO 15118-2 §7.8.3",
             _v2gtp_header(0xFF, 0xFE, 0x8001, 0)),
        Case(Family.V2GTP, "V2GTP-005", "invProtocolVersion 0xFF on SessionSetupReq",
             "ignored: no answer, no TCP close within 2 s",
             f"{T4} TC_SECC_CMN_VTB_V2GTPSessionSetup_005; ISO 15118-2 §7.8.3",
             _v2gtp_header(1, 0xFF, 0x8001, 0)),
        Case(Family.V2GTP, "V2GTP-006", "payloadLength 0xFFFFFFFF",
             "no answer (ignored or TCP closed); the next session works",
             "ISO 15118-2 §7.8.3 (length check); no T4 case: probe's own", _v2gtp_oversize),
        Case(Family.SAP, "SAP-001", "no common protocol",
             f"Failed_NoNegotiation; {TERMINATION}", "ISO 15118-2 §8.2 [V2G2-172]; DIN "
             "SPEC 70121 supportedAppProtocol", _sap_no_common_protocol),
        Case(Family.SAP, "SAP-002", "silence after supportedAppProtocolRes",
             "TCP closed ≤ V2G_SECC_CommunicationSetup time + 5 s",
             "ISO 15118-2 [V2G2-714/716] → [V2G2-034]", _communication_setup_silence),
        Case(Family.SESSION_SETUP, "SS-TIMEOUT", "silence at ServiceDiscovery",
             "TCP closed at V2G_SECC_Sequence_Timeout (+ 5 s)",
             "ISO 15118-2 [V2G2-443]; DIN SPEC 70121 Table 75", _silence(Phase.SERVICE_DISCOVERY)),
        Case(Family.SERVICE_DETAIL, "SDET-001", "ServiceDetailReq for the charge service",
             "ServiceDetailRes OK, same ServiceID; the selection that follows answered OK",
             f"{T4} TC_SECC_CMN_VTB_ServiceDetail_001; ISO 15118-2 ServiceDetailRes",
             _service_detail_valid, protocols=frozenset({"iso2"})),
        Case(Family.SERVICE_DETAIL, "SDET-ID", "ServiceDetailReq ServiceID 65535 (not offered)",
             "FAILED_ServiceIDInvalid; " + TERMINATION,
             "ISO 15118-2 ServiceDetailRes responseCode FAILED_ServiceIDInvalid; FAILED ends "
             "the session (T4 termination bound)", _service_detail_invalid,
             protocols=frozenset({"iso2"})),
        Case(Family.SERVICE_DETAIL, "SDET-SID", "ServiceDetailReq with a wrong SessionID",
             "FAILED_UnknownSession; " + TERMINATION,
             f"{T4} TC_SECC_CMN_VTB_ServiceDetail_003", _service_detail_session,
             protocols=frozenset({"iso2"})),
        Case(Family.PAYMENT_SELECTION, "PSS-SVC", "ServiceID 65535 selected",
             "FAILED_ServiceSelectionInvalid; " + TERMINATION,
             "ISO 15118-2 [V2G2-467]; DIN SPEC 70121 [V2G-DC-396]",
             _payment_selection(lambda d, b: dataclasses.replace(
                 b, SelectedServiceList=_selected(d, [1, 65535])),
                 "FAILED_ServiceSelectionInvalid", "FAILED_ServiceSelectionInvalid")),
        Case(Family.PAYMENT_SELECTION, "PSS-NOCHG", "charge service not selected",
             "ISO: FAILED_NoChargeServiceSelected, DIN: FAILED_ServiceSelectionInvalid; "
             + TERMINATION, "ISO 15118-2 [V2G2-804]; DIN SPEC 70121 [V2G-DC-396]",
             _payment_selection(lambda d, b: dataclasses.replace(
                 b, SelectedServiceList=_selected(d, [2])),
                 "FAILED_NoChargeServiceSelected", "FAILED_ServiceSelectionInvalid")),
        Case(Family.PAYMENT_SELECTION, "PSS-PAY", "Contract payment over plain TCP",
             "FAILED_PaymentSelectionInvalid; " + TERMINATION,
             "ISO 15118-2 [V2G2-634/635] (Contract only on TLS)",
             _plain_tcp_only(_payment_selection(lambda d, b: dataclasses.replace(
                 b, SelectedPaymentOption=d.m.paymentOptionType("Contract")),
                 "FAILED_PaymentSelectionInvalid", "FAILED_PaymentSelectionInvalid")),
             protocols=frozenset({"iso2"})),
        Case(Family.CHARGE_PARAMETERS, "CPD-RANGE", "EVMaximumCurrentLimit −100 A",
             "FAILED_WrongChargeParameter; " + TERMINATION,
             "ISO 15118-2 [V2G2-477]; DIN SPEC 70121 responseCodeType", _cpd_negative_current),
        Case(Family.CHARGE_PARAMETERS, "CPD-MODE", "AC energy transfer mode on a DC charger",
             "ISO: FAILED_WrongEnergyTransferMode, DIN: FAILED_WrongEnergyTransferType; "
             + TERMINATION, "ISO 15118-2 ChargeParameterDiscoveryRes; DIN SPEC 70121",
             _cpd_ac_mode),
        Case(Family.CABLE_CHECK, "CC-CPB", "CableCheckReq with the pilot in state B",
             "FAILED; " + TERMINATION, f"{T4} TC_SECC_DC_VTB_CableCheck_008; IEC 61851-23 "
             "(isolation test in state C/D)", _cable_check_in_state_b),
        Case(Family.POWER_DELIVERY, "PD-TUPLE", "SAScheduleTupleID 200 (not offered)",
             "FAILED_TariffSelectionInvalid; " + TERMINATION, "ISO 15118-2 [V2G2-479]",
             _pd_unknown_tuple, protocols=frozenset({"iso2"})),
        Case(Family.CURRENT_DEMAND, "CD-REP", "CurrentDemandReq at the fastest cadence",
             "every answer OK within 250 ms", "ccs2_dc_reference.md P0-1; timing.md §4",
             _cd_repetition),
        Case(Family.CURRENT_DEMAND, "CD-TIMEOUT", "silence while charging",
             "TCP closed at V2G_SECC_Sequence_Timeout (+ 5 s)", "ISO 15118-2 [V2G2-443]",
             _silence(Phase.CHARGING)),
    ]
    for step in STEPS:
        protocols = PNC_PROTOCOLS if step.pnc else frozenset({"din", "iso2"})
        wrap = _tls_only if step.pnc else _as_is
        cases.append(Case(step.family, f"{step.tag}-SID", "invalid SessionID",
                          "FAILED_UnknownSession; " + TERMINATION, f"{T4} {step.sid_case}",
                          wrap(_wrong_session_id(step)), protocols))
        cases.append(Case(step.family, f"{step.tag}-SEQ", "out-of-sequence request",
                          "FAILED_SequenceError; " + TERMINATION, f"{T4} {step.seq_case}",
                          wrap(_out_of_sequence(step)), protocols))
        if step.phase in (Phase.SERVICE_DISCOVERY, Phase.CHARGING):
            continue  # SS-TIMEOUT and CD-TIMEOUT above
        cases.append(Case(
            step.family, f"{step.tag}-TIMEOUT", f"silence before {step.phase.value}",
            "TCP closed at V2G_SECC_Sequence_Timeout (+ 5 s)",
            (f"{T4} {step.timeout_case}; " if step.timeout_case else "")
            + "ISO 15118-2 [V2G2-443] Table 109; DIN SPEC 70121 Table 75",
            wrap(_silence(step.phase, pnc=step.pnc)), protocols))
    cases.extend(_pnc_cases())
    return cases


CASES: tuple[Case, ...] = tuple(_cases())
GOOD_CASE = Case(Family.GOOD_CASE, "GOOD", "good case and P0 checks", "", T4, _good_case)


def select(protocol: str, families: Iterable[str] | None = None, *,
           good_case: bool = True) -> list[Case]:
    """The good case (unless `good_case` is False), then every case of `families` (all
    families if None) that applies to `protocol`."""
    wanted = None if not families else {f.lower() for f in families}
    out = [GOOD_CASE] if good_case else []
    for c in CASES:
        if protocol not in c.protocols:
            continue
        if wanted is not None and c.family.value.lower() not in wanted:
            continue
        out.append(c)
    return out


def warm_codecs(protocol: str) -> None:
    """Build the EXI grammars the probe will use before the first case: the first use of a
    schema costs ~0.5 s of CPU, which would otherwise count against the SECC's first
    answer (the car's message timers run from the request)."""
    m = exi.din if protocol == "din" else exi.iso2
    schema = "din" if protocol == "din" else "iso2"
    msg = m.V2G_Message(Header=m.MessageHeaderType(SessionID=b"\x00"),
                        Body=m.BodyType(BodyElement=m.SessionSetupReqType(EVCCID=b"\x01" * 6)))
    exi.decode(schema, exi.encode(schema, msg))
    req = app.supportedAppProtocolReq(AppProtocol=[app.AppProtocolType(
        ProtocolNamespace="urn:din:70121:2012:MsgDef", VersionNumberMajor=2,
        VersionNumberMinor=0, SchemaID=1, Priority=1)])
    exi.decode("app", exi.encode("app", req))


def run_cases(link: ProbeLink, options: ProbeOptions, *, tls: bool = False,
              families: Iterable[str] | None = None, good_case: bool = True,
              on_result: Callable[[CaseResult], None] | None = None) -> list[CaseResult]:
    ctx = CaseContext(link, options, tls)
    warm_codecs(options.protocol)
    results: list[CaseResult] = []
    for case in select(options.protocol, families, good_case=good_case):
        started = link.now_ns()
        try:
            outcome = case.run(ctx)
        except (ProbeLinkError, OSError, exi.DecodeError, AttributeError, TypeError,
                ValueError, KeyError, IndexError) as exc:
            outcome = (Verdict.INCONCLUSIVE, f"probe could not run the case: "
                                             f"{type(exc).__name__}: {exc}")
        finally:
            link.disconnect()
        took = (link.now_ns() - started) / 1e9
        batch = outcome if isinstance(outcome, list) else [CaseResult(
            case.family, case.case_id, case.title, case.expected, outcome[1], outcome[0],
            case.clause)]
        for i, r in enumerate(batch):
            r = dataclasses.replace(r, duration_s=took if i == 0 else 0.0)
            results.append(r)
            if on_result is not None:
                on_result(r)
    return results

"""`evse probe`'s cases in virtual time against our SECC core (no network): every family,
both protocols; a SECC broken on purpose turns the family's verdict to FAIL; a charger that
answers garbage or hangs up gets verdicts, never a crash of the probe."""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any

import pytest

import exi
from evse.ev.sim_env import SimEnv, SimEnvConfig
from evse.probe.cases import CASES, run_cases, select
from evse.probe.inproc import InProcessLink
from evse.probe.link import Closed, Frame, LinkEvent, Silence
from evse.probe.model import CaseResult, Family, ProbeOptions, S, Verdict
from evse.probe.report import to_json, to_markdown
from evse.secc.config import SeccConfig
from evse.secc.core import SeccCore
from evse.secc.env import PaymentMethod
from evse.secc.session import MemorySessionStore

#: Cases our SECC fails on purpose, with the reason (docs/conformance.md, evse/v2gtp/README.md):
#: the ISO 15118-4 test system (T4 TC_SECC_CMN_VTB_V2GTPSessionSetup_002..005) expects a
#: SessionSetupReq with a bad V2GTP header to be ignored; our SECC closes TCP. The clause text
#: (ISO 15118-2 §7.8.3) is not on the shelf, so the SECC was not changed (issue 16).
KNOWN_DEVIATIONS: set[str] = set()


#: Our SECC on a TLS connection: Contract offered as well as EIM ([V2G2-634/635]).
TLS_SECC = SeccConfig(tls=True, payment_options=(PaymentMethod.CONTRACT, PaymentMethod.EIM))


def make_link(**env: Any) -> InProcessLink:
    links: list[InProcessLink] = []
    config = SimEnvConfig(auth_delay_ns=600_000_000,
                          vehicle_ready=lambda now_ns: links[0].vehicle_ready, **env)
    store = MemorySessionStore()  # one station: a paused session outlives its connection
    links.append(InProcessLink(lambda: SeccCore(SimEnv(config), store=store),
                               make_tls_core=lambda: SeccCore(SimEnv(config), TLS_SECC,
                                                              store=store),
                               setup_timeout_ns=3 * S))
    return links[0]


def needs_tls(r: CaseResult) -> bool:
    """A Plug & Charge case run without TLS: a documented skip."""
    return r.verdict is Verdict.SKIP and r.got.startswith("Plug & Charge needs TLS")


def options(protocol: str, **kw: Any) -> ProbeOptions:
    base = dict(protocol=protocol, communication_setup_ns=3 * S, max_wait_ns=120 * S)
    base.update(kw)
    return ProbeOptions(**base)  # type: ignore[arg-type]


def by_id(results: list[CaseResult]) -> dict[str, CaseResult]:
    return {r.case_id: r for r in results}


@pytest.mark.parametrize("protocol", ["din", "iso2"])
def test_every_family_passes_against_our_secc_in_virtual_time(protocol: str) -> None:
    results = run_cases(make_link(), options(protocol))
    families = {r.family for r in results}
    # DIN 70121 has no ServiceDetail, no Plug & Charge and no MeteringReceipt.
    din_only_lacks = {Family.SERVICE_DETAIL, Family.PAYMENT_DETAILS,
                      Family.CERTIFICATE_INSTALLATION, Family.CERTIFICATE_UPDATE,
                      Family.METERING_RECEIPT, Family.PAUSE_RESUME}
    expected = set(Family) - (din_only_lacks if protocol == "din" else set())
    assert families == expected, expected ^ families
    bad = [r for r in results if r.verdict is not Verdict.PASS
           and r.case_id not in KNOWN_DEVIATIONS and not needs_tls(r)]
    assert not bad, "\n".join(f"{r.case_id}: {r.got}" for r in bad)
    got = by_id(results)
    for cid in KNOWN_DEVIATIONS:
        assert got[cid].verdict is Verdict.FAIL and "closed" in got[cid].got
    # The P0 checks read real numbers, not defaults.
    assert "W" in got["CPD-P0-001"].got
    assert got["SAP-002"].got.startswith("TCP closed 3.0")
    assert got["SS-TIMEOUT"].got.startswith("TCP closed after 60.0")
    # V2G_SECC_Sequence_Timeout at every step (ISO 15118-2 Table 109, DIN Table 75).
    timeouts = [r for r in results if r.case_id.endswith("-TIMEOUT")]
    assert len(timeouts) >= 9
    for r in timeouts:
        if not needs_tls(r):
            took = float(r.got.removeprefix("TCP closed after ").split()[0])
            assert 59.5 <= took <= 60.5, r
    assert got["CD-REP"].got.startswith("20 answers")
    # The pilot left in B: FAILED after the SECC waited t_vehicle_ready (1 s) for C/D.
    assert got["CC-CPB"].got.startswith("CableCheckResType FAILED; TCP closed")
    if protocol == "iso2":  # ServiceDetail: FAILED ends the session within the bound
        assert got["SDET-ID"].got.startswith("ServiceDetailResType FAILED_ServiceIDInvalid")
        assert "then PaymentServiceSelectionResType OK" in got["SDET-001"].got
    if protocol == "iso2":  # a paused session is resumed by its SessionID
        assert "OK_OldSessionJoined, SessionID same" in got["PAUSE-001"].got
    if protocol == "iso2":  # the EIM wait shows the driver interaction (issue 16)
        assert "Ongoing_WaitingForCustomerInteraction" in got["AUTH-P0-001"].got


def test_a_secc_that_ignores_the_session_id_fails_the_session_id_cases(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Break one behaviour on purpose: the SECC takes any SessionID as its own."""
    original = SeccCore._on_request

    def lax(self: SeccCore, payload: bytes, now_ns: int) -> None:
        h = self.handler
        if h is not None and h.session_id is not None:
            schema = self._schema()
            msg = exi.decode(schema, payload)
            header = dataclasses.replace(msg.Header, SessionID=h.session_id)
            payload = exi.encode(schema, dataclasses.replace(msg, Header=header))
        original(self, payload, now_ns)

    monkeypatch.setattr(SeccCore, "_on_request", lax)
    results = by_id(run_cases(make_link(), options("iso2"), good_case=False,
                              families=["ServiceDiscovery", "CableCheck"]))
    for cid in ("SD-SID", "CC-SID"):
        assert results[cid].verdict is Verdict.FAIL, results[cid]
        assert "OK" in results[cid].got and "FAILED_UnknownSession" not in results[cid].got
    assert results["SD-SEQ"].verdict is Verdict.PASS  # the other cases still hold


def test_timeout_cases_are_skipped_with_the_reason_when_the_wait_is_too_long() -> None:
    results = by_id(run_cases(make_link(), options("din", max_wait_ns=30 * S),
                              good_case=False, families=["SessionSetup"]))
    assert results["SS-TIMEOUT"].verdict is Verdict.SKIP
    assert "65.00 s" in results["SS-TIMEOUT"].got


class ScriptedLink:
    """A 'charger' that answers SDP, accepts the connection, then does `behaviour`."""

    def __init__(self, behaviour: str) -> None:
        self.behaviour = behaviour
        self.now = 0
        self.sent = 0

    def now_ns(self) -> int:
        return self.now

    def sdp(self, datagram: bytes, wait_ns: int) -> bytes | None:
        self.now += wait_ns
        return None

    def connect(self, tls: bool) -> None:
        self.now += 1_000_000

    def send(self, raw: bytes) -> None:
        self.sent += 1

    def recv(self, wait_ns: int) -> LinkEvent:
        self.now += 1_000_000
        if self.behaviour == "garbage":
            return Frame(0x8001, b"\xff\x00\x13garbage", self.now)
        if self.behaviour == "hangup":
            return Closed(self.now, "reset")
        self.now += wait_ns
        return Silence(self.now)

    def disconnect(self) -> None:
        pass


@pytest.mark.parametrize("behaviour", ["garbage", "hangup", "silent"])
def test_a_misbehaving_charger_gets_verdicts_not_a_crash(behaviour: str) -> None:
    results = run_cases(ScriptedLink(behaviour), options("iso2", max_wait_ns=5 * S))
    assert len(results) == len(select("iso2")) - 1 + 9  # the good case reports 9 rows
    assert all(r.verdict is not Verdict.PASS for r in results
               if r.family not in (Family.SDP, Family.V2GTP))
    assert {r.verdict for r in results} <= set(Verdict)


def test_json_and_markdown_carry_every_row_and_the_counts() -> None:
    results = run_cases(make_link(), options("din"), families=["SessionStop"])
    meta = {"iface": "test", "protocol": "din"}
    data = json.loads(to_json(results, meta))
    assert data["counts"]["PASS"] == sum(r.verdict is Verdict.PASS for r in results)
    assert [r["case"] for r in data["results"]] == [r.case_id for r in results]
    md = to_markdown(results, meta)
    for r in results:
        assert f"| {r.case_id} |" in md
    assert md.count("\n|") == len(results) + 2


def test_every_case_names_a_clause_and_an_expectation() -> None:
    ids = [c.case_id for c in CASES]
    assert len(ids) == len(set(ids))
    for c in CASES:
        assert c.clause and c.expected, c.case_id


def test_a_secc_that_keeps_the_session_after_an_invalid_service_id_fails_sdet_id(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Break one behaviour on purpose: FAILED_ServiceIDInvalid answered, session kept."""
    from evse.secc.iso2 import Iso2Handler

    monkeypatch.setattr(Iso2Handler, "service_id_invalid", lambda self, ev: False)
    results = by_id(run_cases(make_link(), options("iso2"), good_case=False,
                              families=["ServiceDetail", "V2GTP"]))
    assert results["SDET-ID"].verdict is Verdict.FAIL
    assert "TCP still open" in results["SDET-ID"].got
    assert results["SDET-001"].verdict is Verdict.PASS


def test_a_secc_that_closes_on_a_wrong_v2gtp_version_fails_v2gtp_004_and_005(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Break the issue-16 decision on purpose: back to closing TCP on a wrong version."""
    from evse.v2gtp import HeaderErrorAction, IncorrectVersionError

    monkeypatch.setattr(IncorrectVersionError, "action", HeaderErrorAction.CLOSE_CONNECTION)
    results = by_id(run_cases(make_link(), options("iso2"), good_case=False,
                              families=["V2GTP"]))
    for cid in ("V2GTP-004", "V2GTP-005"):
        assert results[cid].verdict is Verdict.FAIL and "closed" in results[cid].got
    assert results["V2GTP-001"].verdict is Verdict.PASS


# ---------------------------------------------------------------------- Plug & Charge
PNC_FAMILIES = ["PaymentDetails", "Authorization", "CertificateInstallation",
                "CertificateUpdate", "MeteringReceipt"]


@pytest.mark.req("ISO15118-4:TC_SECC_CMN_VTB_PaymentDetails", "ISO15118-2:V2G2-634",
                 "ISO15118-4:TC_SECC_DC_VTB_MeteringReceipt")
def test_plug_and_charge_families_pass_over_tls_in_virtual_time() -> None:
    """The probe as a PnC car (a test contract, AuthorizationReq signed with its key)
    against our SECC on a TLS connection: the good case, wrong SessionID, out of sequence,
    silence, an expired leaf and a broken chain in PaymentDetailsReq, a bad signature and a
    wrong GenChallenge in AuthorizationReq, certificate requests without a CSMS answer."""
    results = by_id(run_cases(make_link(), options("iso2"), tls=True, good_case=False,
                              families=PNC_FAMILIES))
    bad = [r for r in results.values() if r.verdict is not Verdict.PASS]
    assert not bad, "\n".join(f"{r.case_id}: {r.got}" for r in bad)
    assert "GenChallenge 16 bytes" in results["PDET-001"].got
    assert results["PDET-EXPIRED"].got.startswith("PaymentDetailsResType FAILED_CertificateExpired")
    assert results["PDET-CHAIN"].got.startswith("PaymentDetailsResType FAILED_CertChainError")
    # A leaf that is no certificate (the probe's own case), then T4 PaymentDetails_009/010:
    # an expired Sub-CA 2 or Sub-CA 1.
    assert results["PDET-CONTENT"].got.startswith("PaymentDetailsResType FAILED_CertChainError")
    for cid in ("PDET-SUBCA2", "PDET-SUBCA1"):
        assert results[cid].got.startswith("PaymentDetailsResType FAILED; TCP closed"), cid
    assert results["AUTH-PNC-SIG"].got.startswith("AuthorizationResType FAILED_SignatureError")
    assert results["AUTH-PNC-CHAL"].got.startswith(
        "AuthorizationResType FAILED_ChallengeInvalid")
    # The receipt: asked for in CurrentDemandRes, given, refused when not ours.
    assert re.fullmatch(r"MeterReading \d+ Wh; MeteringReceiptResType OK; "
                        r"then CurrentDemandResType OK", results["MR-001"].got), results["MR-001"]
    for cid in ("MR-KEY", "MR-METER", "MR-READING", "MR-BODY"):
        assert results[cid].got.startswith(
            "MeteringReceiptResType FAILED_MeteringSignatureNotValid; TCP closed"), cid
    assert results["MR-SID"].got.startswith("MeteringReceiptResType FAILED_UnknownSession")
    # No CSMS answer: the SECC answers FAILED itself inside the car's 5 s.
    assert results["CI-001"].got.startswith("CertificateInstallationResType FAILED after 4.5")
    assert results["CU-001"].got.startswith("CertificateUpdateResType FAILED after 4.5")


def test_plug_and_charge_cases_are_skipped_without_tls() -> None:
    results = run_cases(make_link(), options("iso2"), good_case=False,
                        families=["PaymentDetails"])
    assert results and all(needs_tls(r) for r in results)


@pytest.mark.req("ISO15118-4:TC_SECC_CMN_VTB_PaymentDetails")
def test_a_secc_that_defers_every_chain_check_fails_the_expired_leaf_case(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Break it on purpose: without the SECC's own chain check the expired leaf gets
    PaymentDetailsRes OK (the controller would refuse it only in AuthorizationRes)."""
    from evse.secc.iso2 import Iso2Handler

    monkeypatch.setattr(Iso2Handler, "contract_chain_refused", lambda self, ev: False)
    results = by_id(run_cases(make_link(), options("iso2"), tls=True, good_case=False,
                              families=["PaymentDetails"]))
    assert results["PDET-EXPIRED"].verdict is Verdict.FAIL
    assert results["PDET-EXPIRED"].got.startswith("PaymentDetailsResType OK")
    for cid in ("PDET-SUBCA2", "PDET-SUBCA1", "PDET-CONTENT"):
        assert results[cid].verdict is Verdict.FAIL, cid
    assert results["PDET-001"].verdict is Verdict.PASS


def test_the_sub_ca_check_is_what_refuses_an_expired_sub_ca() -> None:
    """Unit level: the re-issued Sub-CA keeps every signature (only its validity changed),
    so FAILED comes from the validity check, not from a broken chain; a valid chain is OK."""
    import datetime

    from evse.secc.contract_chain import ChainFault, check_contract_chain
    from evse.security.testpki import generate_contract_chain, reissue_contract_sub_ca

    start = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    now_s = int(datetime.datetime(2026, 6, 1, tzinfo=datetime.UTC).timestamp())
    chain = generate_contract_chain(not_before=start)
    assert check_contract_chain(chain.chain_der, now_s) is ChainFault.NONE
    for index in (0, 1):
        old = reissue_contract_sub_ca(chain, index, not_before=start - datetime.timedelta(
            days=400), validity=datetime.timedelta(days=365))
        assert check_contract_chain(old.chain_der, now_s) is ChainFault.SUB_CA_EXPIRED
        assert ChainFault.SUB_CA_EXPIRED.response_code == "FAILED"


@pytest.mark.req("ISO15118-4:TC_SECC_DC_VTB_MeteringReceipt")
def test_a_secc_that_takes_any_receipt_fails_the_receipt_cases(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from evse.secc.iso2 import Iso2Handler

    monkeypatch.setattr(Iso2Handler, "receipt_not_valid", lambda self, ev: False)
    results = by_id(run_cases(make_link(), options("iso2"), tls=True, good_case=False,
                              families=["MeteringReceipt"]))
    for cid in ("MR-KEY", "MR-METER", "MR-READING", "MR-BODY"):
        assert results[cid].verdict is Verdict.FAIL, results[cid]
        assert results[cid].got.startswith("MeteringReceiptResType OK"), results[cid]
    assert results["MR-001"].verdict is Verdict.PASS


def test_a_secc_whose_receipt_carries_no_meter_reading_fails_the_receipt_case(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from evse.secc.iso2 import Iso2Handler

    monkeypatch.setattr(Iso2Handler, "_meter_reading_wh", lambda self: None)
    results = by_id(run_cases(make_link(), options("iso2"), tls=True, good_case=False,
                              families=["MeteringReceipt"]))
    assert results["MR-001"].verdict is Verdict.FAIL
    assert results["MR-001"].got == "MeterInfo without MeterReading"


def test_a_secc_that_never_asks_for_a_receipt_leaves_the_receipt_cases_inconclusive(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """ReceiptRequired is the SECC's choice (T4 PIXIT_SECC_CMN_ReceiptRequired): a charger
    that never asks gets INCONCLUSIVE (step never reached), not PASS."""
    from evse.secc.iso2 import Iso2Handler

    monkeypatch.setattr(Iso2Handler, "receipt_due", lambda self, ev: False)
    results = run_cases(make_link(), options("iso2", charge_ns=1 * S), tls=True,
                        good_case=False, families=["MeteringReceipt"])
    assert {r.verdict for r in results} == {Verdict.INCONCLUSIVE}, results


@pytest.mark.req("ISO15118-4:TC_SECC_DC_VTB_CableCheck_008")
@pytest.mark.parametrize("protocol", ["din", "iso2"])
def test_a_secc_that_ignores_the_pilot_fails_the_state_b_cable_check_case(
        protocol: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from evse.secc.handler import SeccHandlerBase

    monkeypatch.setattr(SeccHandlerBase, "vehicle_ready", lambda self, ev: True)
    got = by_id(run_cases(make_link(), options(protocol), good_case=False,
                          families=["CableCheck"]))["CC-CPB"]
    assert got.verdict is Verdict.FAIL and got.got.startswith("CableCheckResType OK"), got


def test_the_state_b_case_is_skipped_on_a_link_without_a_pilot() -> None:
    results = by_id(run_cases(ScriptedLink("silent"), options("iso2"), good_case=False,
                              families=["CableCheck"]))
    assert results["CC-CPB"].verdict is Verdict.SKIP


def test_a_secc_that_forgets_paused_sessions_fails_the_resume_case(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(MemorySessionStore, "load", lambda self, sid: None)
    got = by_id(run_cases(make_link(), options("iso2"), good_case=False,
                          families=["PauseResume"]))["PAUSE-001"]
    assert got.verdict is Verdict.FAIL and "OK_NewSessionEstablished" in got.got, got

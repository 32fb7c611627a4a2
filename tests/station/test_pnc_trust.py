"""Plug & Charge against the station's trust store, end to end: an ISO 15118-2 car with a
contract, the SECC, the controller with its trust store and the CSMS simulator (issue 15).
The car must learn *why* its contract was refused: the ISO 15118-2 ResponseCode in
AuthorizationRes (FAILED_CertificateExpired / FAILED_CertificateRevoked /
FAILED_CertChainError), and no energy flows.

As in test_pnc_e2e, `SessionConfig(tls=True)` makes the in-memory link count as TLS so the
SECC offers Contract ([V2G2-634/635]).
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from evse.csms_sim.core import CsmsSim
from evse.csms_sim.ocsp import OcspResponder
from evse.runtime.config import ConfigError, PncSection, StationConfig, load_config
from evse.runtime.dc_station import DcStation, SessionConfig
from evse.runtime.ocpp_side import OcppSide
from evse.security.testpki import ContractChain, generate_contract_chain

S = 1_000_000_000
VERSIONS = ["2.0.1", "1.6"]
#: Valid over the whole simulation (it starts at 2026-01-01, the controller's epoch).
GOOD_FROM = datetime.datetime(2025, 6, 1, tzinfo=datetime.UTC)  # Sub-CA 2: 1 year


def _contract(not_before: datetime.datetime = GOOD_FROM) -> ContractChain:
    return generate_contract_chain(not_before=not_before)


def _station(ocpp: str, contract: ContractChain, *, trust_dir: Path | None = None
             ) -> tuple[DcStation, OcppSide]:
    # The station's `pnc:` section: the persistent store is what survives a reboot.
    pnc = PncSection(trust_store_dir="" if trust_dir is None else str(trust_dir))
    st = DcStation(StationConfig(pnc=pnc),
                   SessionConfig(protocol="iso2", ev_profile="pnc", ocpp=ocpp, charge_s=10,
                                 tls=True))
    st.ev_profile.contract = contract  # the car holds this contract
    side = st.controller
    assert isinstance(side, OcppSide)
    side.csms.tokens[contract.emaid] = "Accepted"
    st.start()
    st.sched.run_until(1 * S)
    return st, side


def _install_root(st: DcStation, csms: CsmsSim, contract: ContractChain) -> None:
    """The operator installs the contract's root over OCPP (2.0.1 M05 / 1.6 DataTransfer)."""
    pem = x509.load_der_x509_certificate(contract.root_der).public_bytes(
        serialization.Encoding.PEM).decode()
    data = {"certificateType": "V2GRootCertificate", "certificate": pem}
    now = st.sched.now_ns()
    if csms.version == "2.0.1":
        uid = csms.call("InstallCertificate", data, now)
    else:
        uid = csms.call("DataTransfer", {"vendorId": "org.openchargealliance.iso15118pnc",
                                         "messageId": "InstallCertificate",
                                         "data": json.dumps(data)}, now)
    st.sched.run_for(1 * S)
    answer = csms.answers[uid].payload
    assert answer is not None
    status = answer["status"] if csms.version == "2.0.1" else \
        json.loads(answer["data"])["status"]
    assert status == "Accepted"


def _responder(contract: ContractChain) -> OcspResponder:
    r = OcspResponder()
    sub2_k, sub1_k, root_k = contract.ca_keys
    r.add_ca(contract.sub_cas_der[0], sub2_k)
    r.add_ca(contract.sub_cas_der[1], sub1_k)
    r.add_ca(contract.root_der, root_k)
    return r


def _run(st: DcStation) -> str:
    st.plug_in()
    done = st.sched.run_until_true(lambda: st.log.ev_result is not None, limit_ns=120 * S)
    assert done, f"no result; milestones {st.log.milestones}"
    st.sched.run_for(2 * S)
    assert st.log.ev_result is not None
    return st.log.ev_result


def _refused_without_energy(st: DcStation, csms: CsmsSim, result: str, code: str,
                            answer: str = "AuthorizationResType") -> None:
    assert f"{answer} {code}" in result, result
    assert csms.transactions == {}
    assert not st.world.board.contact_closed


@pytest.mark.parametrize("ocpp", VERSIONS)
def test_m05_expired_contract_reaches_the_car_as_failed_certificate_expired(ocpp: str) -> None:
    # Issued mid-2023: by 2026 the contract leaf (2 y) and MO Sub-CA 2 (1 y) have ended.
    # The SECC sees the expired leaf itself and names it in PaymentDetailsRes (ISO 15118-4
    # VTB_PaymentDetails_007, evse/secc/contract_chain.py) before the controller is asked.
    contract = _contract(datetime.datetime(2023, 6, 1, tzinfo=datetime.UTC))
    st, side = _station(ocpp, contract)
    _install_root(st, side.csms, contract)
    result = _run(st)
    _refused_without_energy(st, side.csms, result, "FAILED_CertificateExpired",
                            "PaymentDetailsResType")
    st.close()


@pytest.mark.parametrize("ocpp", VERSIONS)
def test_offline_chain_to_an_unknown_root_reaches_the_car_as_failed_cert_chain_error(
        ocpp: str) -> None:
    st, side = _station(ocpp, _contract())
    side.set_online(False, st.sched.now_ns())
    result = _run(st)
    _refused_without_energy(st, side.csms, result, "FAILED_CertChainError")
    st.close()


@pytest.mark.parametrize("ocpp", VERSIONS)
def test_m06_revoked_contract_cached_online_is_refused_offline_after_a_reboot(
        ocpp: str, tmp_path: Path) -> None:
    contract = _contract()
    st, side = _station(ocpp, contract, trust_dir=tmp_path / "trust")
    side.csms.ocsp = _responder(contract)
    side.csms.ocsp.revoke(contract.leaf_der)
    side.csms.pnc_status = "CertificateRevoked"
    _install_root(st, side.csms, contract)
    online = _run(st)
    _refused_without_energy(st, side.csms, online, "FAILED_CertificateRevoked")
    st.close()
    # The station reboots without its CSMS: the cached OCSP "revoked" still refuses.
    st2, side2 = _station(ocpp, contract, trust_dir=tmp_path / "trust")
    side2.set_online(False, st2.sched.now_ns())
    offline = _run(st2)
    _refused_without_energy(st2, side2.csms, offline, "FAILED_CertificateRevoked")
    st2.close()


@pytest.mark.parametrize("ocpp", VERSIONS)
@pytest.mark.req("P1-7")
def test_m06_valid_contract_with_a_cached_good_status_charges_offline_after_a_reboot(
        ocpp: str, tmp_path: Path) -> None:
    contract = _contract()
    st, side = _station(ocpp, contract, trust_dir=tmp_path / "trust")
    side.csms.ocsp = _responder(contract)
    _install_root(st, side.csms, contract)
    assert _run(st) == "OK: charge time over"
    st.close()
    first_end_ns = st.sched.now_ns()
    st2, side2 = _station(ocpp, contract, trust_dir=tmp_path / "trust")
    side2.set_online(False, st2.sched.now_ns())
    # Virtual time restarts at the reboot: move past the first station's last moment so
    # the cached answer's thisUpdate lies in the past, as it would on a real clock.
    st2.sched.run_until(first_end_ns + 1 * S)
    assert _run(st2) == "OK: charge time over"
    assert side2.ctrl.auth_offline
    st2.close()


@pytest.mark.parametrize("ocpp", VERSIONS)
@pytest.mark.req("P1-7")
def test_valid_contract_without_a_cached_status_does_not_charge_offline(ocpp: str) -> None:
    contract = _contract()
    st, side = _station(ocpp, contract)
    _install_root(st, side.csms, contract)
    side.set_online(False, st.sched.now_ns())
    result = _run(st)
    # A policy refusal names no certificate fault: the plain FAILED.
    assert result.endswith("AuthorizationResType FAILED") or \
        "AuthorizationResType FAILED " in result, result
    assert not st.world.board.contact_closed
    st.close()


def test_pnc_section_of_the_station_yaml_seeds_the_trust_store(tmp_path: Path) -> None:
    contract = _contract()
    root = tmp_path / "v2g_root.pem"
    root.write_bytes(x509.load_der_x509_certificate(contract.root_der).public_bytes(
        serialization.Encoding.PEM))
    path = tmp_path / "station.yaml"
    path.write_text(f"pnc:\n  trust_store_dir: {tmp_path / 'trust'}\n"
                    f"  seed_roots:\n    V2GRootCertificate: [{root}]\n"
                    "  offline_policy: chain_only\n", encoding="utf-8")
    cfg = load_config(path)
    st = DcStation(cfg, SessionConfig(protocol="iso2", ev_profile="pnc", ocpp="2.0.1",
                                      charge_s=10, tls=True))
    st.ev_profile.contract = contract
    side = st.controller
    assert isinstance(side, OcppSide)
    st.start()
    st.sched.run_until(1 * S)
    side.set_online(False, st.sched.now_ns())
    # Seeded root + chain_only: the contract charges offline without any OCSP status.
    assert _run(st) == "OK: charge time over"
    assert [p.name for p in (tmp_path / "trust" / "roots" / "V2GRootCertificate").iterdir()]
    st.close()


@pytest.mark.parametrize(("text", "line", "words"), [
    ("pnc:\n  offline_policy: sometimes\n", 2, "pnc.offline_policy: must be one of"),
    ("pnc:\n  seed_roots:\n    OEMRoot: []\n", 3, "unknown type"),
    ("pnc:\n  seed_roots:\n    MORootCertificate: [/nonexistent/root.pem]\n", 3,
     "/nonexistent/root.pem"),
    ("pnc:\n  trust_dir: /tmp/x\n", 2, "unknown key pnc.trust_dir"),
])
def test_a_wrong_pnc_setting_names_file_and_line(tmp_path: Path, text: str, line: int,
                                                 words: str) -> None:
    path = tmp_path / "station.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert err.value.line == line and words in str(err.value), str(err.value)

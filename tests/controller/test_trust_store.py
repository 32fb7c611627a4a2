"""The Plug & Charge trust store through the controller and the CSMS simulator (issue 15
items 3 and 4): roots installed, listed and deleted over OCPP (2.0.1 M05/M03/M04, 1.6
DataTransfer), seeded from config on first boot, persisted privately and crash-safely;
offline contracts accepted only when anchored to a trusted root and, by default, with a
cached OCSP status good (2.0.1 M06 GetCertificateStatus), refused with the specific
certificate status otherwise."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from evse.controller.config import config_from_mapping
from evse.controller.errors import ControllerUsageError
from evse.controller.plc_port import (
    AuthStatus,
    PaymentOption,
    PncAuthorizationRequested,
    PncAuthorizationResponseCmd,
)
from evse.controller.pnc import OcspStatus
from evse.controller.trust_store import TrustStore
from evse.csms_sim.ocsp import OcspResponder
from tests.controller.certs import contract_chain, der, keys, make_cert, pem
from tests.controller.harness import Rig

VERSIONS = ["1.6", "2.0.1"]
ROOT = Path(__file__).resolve().parents[2]
S = 1_000_000_000


def _chain(days: int = 365) -> tuple[bytes, ...]:
    """What the car sends: leaf + Sub-CA (never the root). contract_chain() is cached per
    call signature: the default one is the chain the responder and the store know."""
    return (contract_chain() if days == 365 else contract_chain(days))[:2]


def _mo_root() -> bytes:
    return contract_chain()[2]


def _install_mo_root(rig: Rig) -> None:
    answer = rig.root_call("InstallCertificate", {"certificateType": "MORootCertificate",
                                                  "certificate": pem(_mo_root())})
    assert answer == {"status": "Accepted"}


def _responder(validity_s: int = 86_400) -> OcspResponder:
    root_k, sub_k, _ = keys()
    r = OcspResponder(validity_s=validity_s)
    r.add_ca(contract_chain()[1], sub_k)
    r.add_ca(_mo_root(), root_k)
    return r


def _verdicts(rig: Rig) -> list[str]:
    rig.collect()
    return [c.certificate_status.value for c in rig.commands
            if isinstance(c, PncAuthorizationResponseCmd)]


def _pnc_session(rig: Rig, request_id: int, chain: tuple[bytes, ...]) -> AuthStatus:
    rig.plug()
    rig.ev_waits_for_auth(PaymentOption.CONTRACT)
    rig.plc(PncAuthorizationRequested(request_id, "EMAID-OK", chain))
    return rig.auth_statuses()[-1]


def _leave(rig: Rig) -> None:
    rig.session_end()
    rig.unplug()
    rig.run(1)


def _ocsp_requests(rig: Rig) -> list[dict[str, Any]]:
    if rig.config.ocpp_version == "2.0.1":
        return [p["ocspRequestData"] for p in rig.csms.of("GetCertificateStatus")]
    return [json.loads(p["data"])["ocspRequestData"] for p in rig.csms.of("DataTransfer")
            if p["messageId"] == "GetCertificateStatus"]


# ------------------------------------------------------------------ M03 / M04 / M05


@pytest.mark.parametrize("version", VERSIONS)
def test_m05_m03_m04_install_list_delete_a_root_over_ocpp(version: str) -> None:
    rig = Rig(version)
    assert rig.root_call("GetInstalledCertificateIds", {}) == {"status": "NotFound"}
    _install_mo_root(rig)
    listed = rig.root_call("GetInstalledCertificateIds",
                           {"certificateType": ["MORootCertificate"]})
    assert listed["status"] == "Accepted"
    (entry,) = listed["certificateHashDataChain"]
    assert entry["certificateType"] == "MORootCertificate"
    assert rig.root_call("GetInstalledCertificateIds",
                         {"certificateType": ["V2GRootCertificate"]}) == {"status": "NotFound"}
    assert rig.root_call("DeleteCertificate",
                         {"certificateHashData": entry["certificateHashData"]}) \
        == {"status": "Accepted"}
    assert rig.root_call("DeleteCertificate",
                         {"certificateHashData": entry["certificateHashData"]}) \
        == {"status": "NotFound"}
    assert rig.csms.violations == []


@pytest.mark.parametrize("version", VERSIONS)
def test_m05_a_leaf_or_garbage_is_not_installed_as_a_root(version: str) -> None:
    rig = Rig(version)
    for cert in ("not a certificate", pem(contract_chain()[0]), pem(contract_chain()[1])):
        assert rig.root_call("InstallCertificate", {
            "certificateType": "V2GRootCertificate", "certificate": cert}) \
            == {"status": "Rejected"}
    # A CSMS root is a TLS matter, never the PnC trust store's (2.0.1: the station's own
    # store takes it, evse.security.station_certs; the 1.6 PnC DataTransfer cannot carry it).
    assert rig.root_call("InstallCertificate", {
        "certificateType": "CSMSRootCertificate", "certificate": pem(_mo_root())}) \
        == {"status": "Accepted" if version == "2.0.1" else "Rejected"}
    assert rig.ctrl.pnc.trust.installed() == []


def test_m05_oem_root_over_16_data_transfer_is_kept_but_anchors_no_contract() -> None:
    rig = Rig("1.6")
    assert rig.root_call("InstallCertificate", {
        "certificateType": "OEMRootCertificate", "certificate": pem(_mo_root())}) \
        == {"status": "Accepted"}
    assert [r.root_type.value for r in rig.ctrl.pnc.trust.installed()] == ["OEMRootCertificate"]
    rig.link.set_online(False)
    assert _pnc_session(rig, 1, _chain()) is AuthStatus.REJECTED
    assert _verdicts(rig) == ["CERT_CHAIN_ERROR"]  # OEM roots anchor provisioning certs


# ------------------------------------------------------------------ offline PnC (C07/M06)


@pytest.mark.parametrize("version", VERSIONS)
def test_offline_pnc_chain_to_an_unknown_root_is_refused_with_cert_chain_error(
        version: str) -> None:
    """The issue 15 hole: a self-consistent chain (root included) whose root the station
    does not trust authorized an offline charge."""
    rig = Rig(version, online=False)
    assert _pnc_session(rig, 1, contract_chain()) is AuthStatus.REJECTED
    assert _verdicts(rig) == ["CERT_CHAIN_ERROR"]
    assert rig.state.startswith("preparing") or rig.state.startswith("authoriz")


@pytest.mark.parametrize("version", VERSIONS)
def test_m06_offline_pnc_with_a_cached_ocsp_good_status_charges(version: str) -> None:
    rig = Rig(version)
    rig.csms.ocsp = _responder()
    _install_mo_root(rig)
    assert _pnc_session(rig, 1, _chain()) is AuthStatus.ACCEPTED  # online: CSMS + M06
    assert len(_ocsp_requests(rig)) == 2  # leaf (issuer Sub-CA) and Sub-CA (issuer root)
    _leave(rig)
    rig.link.set_online(False)
    assert _pnc_session(rig, 2, _chain()) is AuthStatus.ACCEPTED
    assert _verdicts(rig)[-1] == "ACCEPTED"
    assert rig.ctrl.auth_offline
    rig.power_on()
    rig.charge(5)
    assert rig.state.startswith("charging")


@pytest.mark.parametrize("version", VERSIONS)
def test_m06_offline_pnc_revoked_contract_cached_is_refused_with_certificate_revoked(
        version: str) -> None:
    rig = Rig(version)
    rig.csms.ocsp = _responder()
    rig.csms.ocsp.revoke(contract_chain()[0])
    rig.csms.pnc_status = "CertificateRevoked"
    _install_mo_root(rig)
    assert _pnc_session(rig, 1, _chain()) is AuthStatus.REJECTED
    _leave(rig)
    rig.link.set_online(False)
    assert _pnc_session(rig, 2, _chain()) is AuthStatus.REJECTED
    assert _verdicts(rig) == ["CERTIFICATE_REVOKED", "CERTIFICATE_REVOKED"]


@pytest.mark.parametrize("version", VERSIONS)
def test_offline_pnc_expired_contract_is_refused_with_certificate_expired(
        version: str) -> None:
    rig = Rig(version, online=False)
    rig.ctrl.pnc.trust.install("MORootCertificate", pem(_mo_root()))
    rig.run(5)  # the 1-day leaf ended at 2026-01-01T00:00:00Z (virtual clock)
    assert _pnc_session(rig, 1, _chain(days=1)) is AuthStatus.REJECTED
    assert _verdicts(rig) == ["CERTIFICATE_EXPIRED"]


@pytest.mark.parametrize("version", VERSIONS)
def test_offline_pnc_without_a_cached_status_is_refused_by_default(version: str) -> None:
    rig = Rig(version, online=False)
    rig.ctrl.pnc.trust.install("MORootCertificate", pem(_mo_root()))
    assert _pnc_session(rig, 1, _chain()) is AuthStatus.REJECTED
    assert _verdicts(rig) == []  # a policy refusal, not a certificate fault: plain FAILED


@pytest.mark.parametrize("version", VERSIONS)
def test_m06_offline_pnc_cached_status_past_its_next_update_is_not_used(version: str) -> None:
    rig = Rig(version)
    rig.csms.ocsp = _responder(validity_s=600)
    _install_mo_root(rig)
    assert _pnc_session(rig, 1, _chain()) is AuthStatus.ACCEPTED
    _leave(rig)
    rig.link.set_online(False)
    rig.run(601)
    assert _pnc_session(rig, 2, _chain()) is AuthStatus.REJECTED


@pytest.mark.parametrize("version", VERSIONS)
def test_m06_a_forged_ocsp_answer_is_not_cached(version: str) -> None:
    rig = Rig(version)
    forger = OcspResponder()
    fake_k = ec.generate_private_key(ec.SECP256R1())  # same names, another key
    fake_sub = der(make_cert("MO Sub-CA", fake_k, "MO Sub-CA", fake_k, ca=True))
    fake_root = der(make_cert("MO Root", fake_k, "MO Root", fake_k, ca=True))
    forger.add_ca(fake_sub, fake_k, answers_for_der=contract_chain()[1])
    forger.add_ca(fake_root, fake_k, answers_for_der=_mo_root())
    rig.csms.ocsp = forger
    _install_mo_root(rig)
    assert _pnc_session(rig, 1, _chain()) is AuthStatus.ACCEPTED
    assert len(_ocsp_requests(rig)) == 2
    _leave(rig)
    rig.link.set_online(False)
    assert _pnc_session(rig, 2, _chain()) is AuthStatus.REJECTED


@pytest.mark.parametrize("version", VERSIONS)
def test_offline_policy_chain_only_and_never(version: str) -> None:
    loose = Rig(version, online=False, pnc_offline_policy="chain_only")
    loose.ctrl.pnc.trust.install("MORootCertificate", pem(_mo_root()))
    assert _pnc_session(loose, 1, _chain()) is AuthStatus.ACCEPTED
    strict = Rig(version, pnc_offline_policy="never")
    strict.csms.ocsp = _responder()
    _install_mo_root(strict)
    assert _pnc_session(strict, 1, _chain()) is AuthStatus.ACCEPTED
    _leave(strict)
    strict.link.set_online(False)
    assert _pnc_session(strict, 2, _chain()) is AuthStatus.REJECTED  # cached good or not


@pytest.mark.parametrize("version", VERSIONS)
def test_c07_online_unknown_root_goes_to_the_csms_with_the_certificate(version: str) -> None:
    """2.0.1 C07: what the station cannot anchor, the CSMS may validate centrally."""
    rig = Rig(version)
    assert _pnc_session(rig, 1, _chain()) is AuthStatus.ACCEPTED
    if version == "2.0.1":
        (auth,) = rig.csms.of("Authorize")
    else:
        auth = json.loads(rig.csms.of("DataTransfer")[0]["data"])
    assert auth["certificate"].startswith("-----BEGIN CERTIFICATE-----")
    assert _ocsp_requests(rig) == []  # nothing anchored: nothing to cache


# ------------------------------------------------------------------ persistence, seeding


def _write_root(tmp_path: Path, name: str, cn: str) -> tuple[Path, bytes]:
    k = ec.generate_private_key(ec.SECP256R1())
    cert = der(make_cert(cn, k, cn, k, ca=True, days=3650))
    path = tmp_path / name
    path.write_text(pem(cert))
    return path, cert


def test_store_is_private_and_survives_a_restart(tmp_path: Path) -> None:
    d = tmp_path / "trust"
    store = TrustStore(d)
    assert store.install("MORootCertificate", pem(_mo_root())).value == "Accepted"
    assert stat.S_IMODE(d.stat().st_mode) == 0o700
    files = [p for p in d.rglob("*") if p.is_file()]
    assert files and all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in files)
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o700 for p in d.rglob("*") if p.is_dir())
    again = TrustStore(d)
    assert [der(c) for c in again.roots()] == [_mo_root()]


def test_seed_roots_install_on_first_boot_only(tmp_path: Path) -> None:
    v2g, _ = _write_root(tmp_path, "v2g.pem", "V2G Root")
    mo, _ = _write_root(tmp_path, "mo.pem", "MO Root 2")
    cfg = config_from_mapping({"pnc_trust_store_dir": str(tmp_path / "trust"),
                               "pnc_seed_roots": {"V2GRootCertificate": [str(v2g)],
                                                  "MORootCertificate": [str(mo)]}})
    rig = Rig("2.0.1", pnc_trust_store_dir=cfg.pnc_trust_store_dir,
              pnc_seed_roots=cfg.pnc_seed_roots)
    listed = rig.root_call("GetInstalledCertificateIds", {})["certificateHashDataChain"]
    assert sorted(e["certificateType"] for e in listed) == ["MORootCertificate",
                                                            "V2GRootCertificate"]
    v2g_entry = next(e for e in listed if e["certificateType"] == "V2GRootCertificate")
    assert rig.root_call("DeleteCertificate",
                         {"certificateHashData": v2g_entry["certificateHashData"]})["status"] \
        == "Accepted"
    rebooted = Rig("2.0.1", pnc_trust_store_dir=cfg.pnc_trust_store_dir,
                   pnc_seed_roots=cfg.pnc_seed_roots)
    # What the CSMS deleted stays deleted: the seeds apply to the first boot only.
    assert [r.root_type.value for r in rebooted.ctrl.pnc.trust.installed()] \
        == ["MORootCertificate"]


def test_one_certificate_is_one_root_of_one_type(tmp_path: Path) -> None:
    d = tmp_path / "trust"
    store = TrustStore(d)
    store.install("V2GRootCertificate", pem(_mo_root()))
    store.install("MORootCertificate", pem(_mo_root()))
    assert [r.root_type.value for r in TrustStore(d).installed()] == ["MORootCertificate"]


def test_seeded_mo_root_anchors_an_offline_contract(tmp_path: Path) -> None:
    seed = tmp_path / "mo.pem"
    seed.write_text(pem(_mo_root()))
    cfg = config_from_mapping({"pnc_seed_roots": {"MORootCertificate": [str(seed)]},
                               "pnc_offline_policy": "chain_only"})
    rig = Rig("1.6", online=False, pnc_seed_roots=cfg.pnc_seed_roots,
              pnc_offline_policy=cfg.pnc_offline_policy)
    assert _pnc_session(rig, 1, _chain()) is AuthStatus.ACCEPTED
    unseeded = Rig("1.6", online=False, pnc_offline_policy="chain_only")
    assert _pnc_session(unseeded, 1, _chain()) is AuthStatus.REJECTED


def test_seed_and_policy_config_errors_name_the_key(tmp_path: Path) -> None:
    leaf = tmp_path / "leaf.pem"
    leaf.write_text(pem(contract_chain()[0]))
    bad: list[tuple[dict[str, object], str]] = [
        ({"pnc_seed_roots": {"CSMSRootCertificate": []}}, "pnc_seed_roots.CSMSRootCertificate"),
        ({"pnc_seed_roots": {"MORootCertificate": "x.pem"}}, "list of PEM"),
        ({"pnc_seed_roots": {"MORootCertificate": [str(tmp_path / "none.pem")]}}, "none.pem"),
        ({"pnc_seed_roots": {"MORootCertificate": [str(leaf)]}}, "self-signed CA"),
        ({"pnc_offline_policy": "sometimes"}, "pnc_offline_policy"),
        ({"pnc_accept_offline_if_chain_valid": True}, "unknown setting"),
    ]
    for raw, words in bad:
        with pytest.raises(ControllerUsageError, match=words):
            config_from_mapping(raw)


def test_m06_ocsp_cache_persists_with_its_next_update(tmp_path: Path) -> None:
    d = str(tmp_path / "trust")
    rig = Rig("2.0.1", pnc_trust_store_dir=d)
    rig.csms.ocsp = _responder()
    _install_mo_root(rig)
    assert _pnc_session(rig, 1, _chain()) is AuthStatus.ACCEPTED
    rebooted = Rig("2.0.1", online=False, pnc_trust_store_dir=d)
    assert _pnc_session(rebooted, 1, _chain()) is AuthStatus.ACCEPTED
    entries = list((tmp_path / "trust" / "ocsp").glob("*.json"))
    assert len(entries) == 2
    assert {json.loads(p.read_text())["status"] for p in entries} == {OcspStatus.GOOD.value}


def test_stale_tmp_file_from_an_interrupted_write_is_removed_at_open(tmp_path: Path) -> None:
    d = tmp_path / "trust"
    TrustStore(d).install("MORootCertificate", pem(_mo_root()))
    leftover = d / "roots" / "MORootCertificate" / ".half.pem.0000.tmp"
    leftover.write_bytes(b"-----BEGIN CERT")  # a write cut before its rename
    store = TrustStore(d)
    assert not leftover.exists()
    assert [der(c) for c in store.roots()] == [_mo_root()]


@pytest.mark.realtime  # a real child process, killed with SIGKILL
def test_kill_9_between_write_and_rename_leaves_the_store_loadable(tmp_path: Path) -> None:
    first, _ = _write_root(tmp_path, "first.pem", "First Root")
    second, _ = _write_root(tmp_path, "second.pem", "Second Root")
    d = tmp_path / "trust"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "controller" / "trust_crash_child.py"), str(d),
         str(first), str(second)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=ROOT, env=env, text=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "READY"
        assert list(d.rglob("*.tmp"))  # the second root sits in its tmp file
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    store = TrustStore(d)
    assert [r.root_type.value for r in store.installed()] == ["V2GRootCertificate"]
    assert not list(d.rglob("*.tmp"))


@pytest.mark.parametrize("version", VERSIONS)
def test_csms_can_turn_offline_pnc_off_with_contract_validation_offline(version: str) -> None:
    rig = Rig(version)
    rig.csms.ocsp = _responder()
    _install_mo_root(rig)
    if version == "1.6":
        uid = rig.csms.call("ChangeConfiguration",
                            {"key": "ContractValidationOffline", "value": "false"})
    else:
        uid = rig.csms.call("SetVariables", {"setVariableData": [{
            "component": {"name": "ISO15118Ctrlr"},
            "variable": {"name": "ContractValidationOffline"}, "attributeValue": "false"}]})
    rig.link.pump()
    assert "Accepted" in json.dumps(rig.csms.answers[uid].payload)
    assert _pnc_session(rig, 1, _chain()) is AuthStatus.ACCEPTED  # caches OCSP good
    _leave(rig)
    rig.link.set_online(False)
    assert _pnc_session(rig, 2, _chain()) is AuthStatus.REJECTED


def test_trust_store_never_logs_certificate_contents(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG")
    d = tmp_path / "trust"
    TrustStore(d).install("MORootCertificate", pem(_mo_root()))
    broken = d / "roots" / "MORootCertificate" / "broken.pem"
    broken.write_text(pem(contract_chain()[0]))  # a leaf where a root belongs
    (d / "roots" / "MORootCertificate" / ".x.pem.1.tmp").write_text(pem(_mo_root()))
    TrustStore(d)
    assert "broken.pem" in caplog.text  # named, so an operator can find it
    assert "BEGIN CERTIFICATE" not in caplog.text and "MII" not in caplog.text

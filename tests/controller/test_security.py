"""OCPP security use cases in virtual time against the CSMS simulator: A04 security events,
A02/A03 the station certificate lifecycle (SignCertificate -> CertificateSigned, retries,
renewal), the V2G leaf signed through the CSMS, and the CSMS / manufacturer roots
(2.0.1 M03/M04/M05 for those types; 1.6 security whitepaper native messages).

Every test checks the CSMS saw schema-valid frames only (`csms.violations == []`)."""

from __future__ import annotations

import json
import logging
import stat
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from evse.controller.security_events import CRITICAL, NAME_16, SecurityEvent
from evse.csms_sim.signer import SimCa
from evse.security.station_certs import LeafUse
from tests.controller.harness import Rig

VERSIONS = ["1.6", "2.0.1"]
DAY_S = 86_400
#: Tests that run days of virtual time: the 1 s limits refresh would be ~10^6 timer turns.
SLOW_TICKS = {"limits_period_s": 3600.0}
EPOCH = 1_767_225_600  # the Rig's wall clock origin (2026-01-01)


def _events(rig: Rig) -> list[str]:
    return [p["type"] for p in rig.csms.of("SecurityEventNotification")]


def _call(rig: Rig, action: str, payload: dict[str, Any]) -> dict[str, Any]:
    uid = rig.csms.call(action, payload, rig.link.now_ns)
    rig.link.pump()
    answer = rig.csms.answers[uid]
    assert answer.error is None and answer.payload is not None, answer
    return answer.payload


def _root_type(version: str) -> str:
    return "CSMSRootCertificate" if version == "2.0.1" else "CentralSystemRootCertificate"


def _with_ca(version: str, tmp_path: Path | None = None, **cfg: Any) -> Rig:
    """A station whose CSMS has a CA, and the station has that CA installed as CSMS root."""
    if tmp_path is not None:
        cfg["station_cert_dir"] = str(tmp_path / "certs")
    rig = Rig(version, **cfg)
    rig.csms.ca = SimCa("sim CSMS CA", EPOCH - DAY_S)
    assert _call(rig, "InstallCertificate", {"certificateType": _root_type(version),
                                             "certificate": rig.csms.ca.pem}) \
        == {"status": "Accepted"}
    return rig


def _trigger_sign(rig: Rig) -> dict[str, Any]:
    if rig.config.ocpp_version == "2.0.1":
        return _call(rig, "TriggerMessage",
                     {"requestedMessage": "SignChargingStationCertificate"})
    return _call(rig, "ExtendedTriggerMessage",
                 {"requestedMessage": "SignChargePointCertificate"})


def _signed_answers(rig: Rig) -> list[dict[str, Any] | None]:
    return [a.payload for a in rig.csms.answers.values() if a.action == "CertificateSigned"]


# ====================================================================== A04 events


@pytest.mark.parametrize("version", VERSIONS)
def test_A04_startup_event_is_queued_offline_and_sent_once_online(version: str) -> None:
    rig = Rig(version, online=False)
    assert rig.ctrl.security_log.kinds() == [SecurityEvent.STARTUP_OF_THE_DEVICE]
    assert len(rig.store) == 1  # in the persistent queue, not a volatile message
    rig.link.set_online(True)
    assert _events(rig) == ["StartupOfTheDevice"]
    assert rig.csms.actions(exclude=())[0] == "BootNotification"  # after boot, never before
    assert len(rig.store) == 0 and rig.csms.violations == []


@pytest.mark.parametrize("version", VERSIONS)
def test_A04_critical_event_raised_offline_survives_a_restart(version: str,
                                                             tmp_path: Path) -> None:
    db = str(tmp_path / "ctrl.db")
    rig = Rig(version, db=db, online=False)
    rig.ctrl.security_event(SecurityEvent.TAMPER_DETECTION_ACTIVATED, "enclosure opened")
    rig.store.close()
    again = Rig(version, db=db)  # the restarted station, online
    sent = again.csms.of("SecurityEventNotification")
    assert [p["type"] for p in sent] == ["StartupOfTheDevice", "TamperDetectionActivated",
                                        "StartupOfTheDevice"]
    assert sent[1]["techInfo"] == "enclosure opened"
    assert again.csms.violations == []


@pytest.mark.parametrize("version", VERSIONS)
def test_A04_reset_raises_reset_or_reboot(version: str) -> None:
    rig = Rig(version)
    kind = "Hard" if version == "1.6" else "Immediate"
    assert _call(rig, "Reset", {"type": kind}) == {"status": "Accepted"}
    assert _events(rig) == ["StartupOfTheDevice", "ResetOrReboot"]
    assert rig.csms.of("SecurityEventNotification")[-1]["techInfo"] == f"OCPP Reset {kind}"
    assert rig.csms.violations == []


@pytest.mark.parametrize("version", VERSIONS)
def test_A04_invalid_message_is_logged_not_sent(version: str) -> None:
    """InvalidMessages is not critical: security log only (A04.FR.02), no notification."""
    rig = Rig(version)
    rig.csms.send_raw('[2,"bad-1","ChangeAvailability",{"nonsense":1}]')
    rig.link.pump()
    assert SecurityEvent.INVALID_MESSAGES in rig.ctrl.security_log.kinds()
    assert _events(rig) == ["StartupOfTheDevice"]


@pytest.mark.parametrize("version", VERSIONS)
def test_A04_clearing_the_security_log_is_reported(version: str) -> None:
    rig = Rig(version)
    rig.ctrl.security_event(SecurityEvent.INVALID_MESSAGES, "x")
    rig.ctrl.clear_security_log()
    rig.link.pump()
    assert rig.ctrl.security_log.kinds() == [SecurityEvent.SECURITY_LOG_WAS_CLEARED]
    assert _events(rig) == ["StartupOfTheDevice", "SecurityLogWasCleared"]


@pytest.mark.parametrize("version", VERSIONS)
def test_A04_every_event_type_via_the_public_api_in_each_dialect(version: str) -> None:
    """The critical ones reach the CSMS (schema-valid, 1.6 spelling in 1.6); all are in
    the security log."""
    rig = Rig(version)
    for kind in SecurityEvent:
        rig.ctrl.security_event(kind, f"test {kind.value}")
    rig.link.pump()
    expected = [NAME_16.get(k, k.value) if version == "1.6" else k.value
                for k in SecurityEvent if k in CRITICAL]
    assert _events(rig)[1:] == expected
    assert rig.ctrl.security_log.kinds()[1:] == list(SecurityEvent)
    assert rig.csms.violations == []
    if version == "1.6":  # the whitepaper's names where they differ
        log16 = {NAME_16.get(k, k.value) for k in SecurityEvent}
        assert "InvalidCentralSystemCertificate" in log16


@pytest.mark.parametrize("version", VERSIONS)
def test_A04_tech_info_never_carries_a_secret(version: str,
                                              caplog: pytest.LogCaptureFixture) -> None:
    rig = Rig(version)
    caplog.set_level(logging.DEBUG)
    rig.ctrl.security_event(SecurityEvent.MEMORY_EXHAUSTION, "password=hunter2 leaked")
    rig.ctrl.security_event(SecurityEvent.SETTING_SYSTEM_TIME,
                            "-----BEGIN PRIVATE KEY-----abc")
    rig.link.pump()
    frames = json.dumps([s.payload for s in rig.csms.seen])
    assert "hunter2" not in frames and "BEGIN" not in frames
    assert "hunter2" not in caplog.text and "BEGIN PRIVATE" not in caplog.text
    assert _events(rig)[1:] == ["MemoryExhaustion", "SettingSystemTime"]


# ====================================================================== A02/A03 lifecycle


@pytest.mark.parametrize("version", VERSIONS)
def test_A02_trigger_sign_certificate_then_certificate_signed_is_stored(
        version: str, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    rig = _with_ca(version, tmp_path)
    assert _trigger_sign(rig) == {"status": "Accepted"}
    (sign,) = rig.csms.of("SignCertificate")
    csr = x509.load_pem_x509_csr(sign["csr"].encode())
    assert csr.is_signature_valid
    assert csr.subject.get_attributes_for_oid(x509.oid.NameOID.COMMON_NAME)[0].value \
        == rig.config.serial
    assert _signed_answers(rig) == [{"status": "Accepted"}]
    leaf = rig.ctrl.station_certs.leaf(LeafUse.CHARGING_STATION)
    assert leaf is not None
    assert leaf.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo) == \
        csr.public_key().public_bytes(serialization.Encoding.DER,
                                      serialization.PublicFormat.SubjectPublicKeyInfo)
    paths = rig.ctrl.station_certs.paths(LeafUse.CHARGING_STATION)
    assert paths is not None
    key_pem = paths.key.read_bytes()
    for p in (paths.key, paths.chain, paths.key.parent):
        mode = stat.S_IMODE(p.stat().st_mode)
        assert mode & 0o077 == 0, f"{p} is {oct(mode)}"
    # the key never left the key directory: not in any frame, not in the log
    body = key_pem.decode().split("-----")[2].strip().splitlines()[0]
    sent = json.dumps([s.payload for s in rig.csms.seen])
    assert body not in sent and body not in caplog.text
    assert "PRIVATE" not in sent
    assert rig.csms.violations == []


@pytest.mark.parametrize("version", VERSIONS)
def test_A02_chain_not_from_the_installed_root_is_rejected(version: str) -> None:
    rig = _with_ca(version)
    rig.csms.ca = SimCa("another CA", EPOCH - DAY_S)  # signs, but is not the installed root
    _trigger_sign(rig)
    assert _signed_answers(rig) == [{"status": "Rejected"}]
    assert rig.ctrl.station_certs.leaf(LeafUse.CHARGING_STATION) is None
    assert SecurityEvent.INVALID_CHARGING_STATION_CERTIFICATE in rig.ctrl.security_log.kinds()
    assert rig.csms.violations == []


@pytest.mark.parametrize("version", VERSIONS)
def test_A02_certificate_signed_without_a_pending_csr_or_for_another_key_is_rejected(
        version: str) -> None:
    rig = _with_ca(version)
    assert rig.csms.ca is not None
    other = SimCa("x", EPOCH - DAY_S)
    from cryptography.hazmat.primitives.asymmetric import ec
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (x509.CertificateSigningRequestBuilder().subject_name(x509.Name([
        x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, "SIM0001")])).sign(key, hashes.SHA256()))
    chain = rig.csms.ca.sign_csr(csr.public_bytes(serialization.Encoding.PEM).decode(),
                                 EPOCH, 365 * DAY_S)
    assert chain is not None and other is not None
    action, payload = rig.csms.certificate_signed_call("ChargingStationCertificate", chain.pem)
    assert _call(rig, action, payload) == {"status": "Rejected"}  # no CSR pending
    rig.csms.auto_sign = False
    _trigger_sign(rig)
    assert _call(rig, action, payload) == {"status": "Rejected"}  # not our CSR's key
    assert rig.ctrl.station_certs.leaf(LeafUse.CHARGING_STATION) is None


@pytest.mark.parametrize("version", VERSIONS)
def test_A02_no_certificate_signed_repeats_with_a_doubling_wait(version: str) -> None:
    rig = _with_ca(version)
    rig.csms.auto_sign = False
    _trigger_sign(rig)
    t0 = rig.link.now_ns
    rig.run(2000)
    at_s = [round((s.at_ns - t0) / 1e9) for s in rig.csms.seen if s.action == "SignCertificate"]
    assert at_s == [0, 60, 180, 420]  # CertSigningWaitMinimum 60 s, doubled, 3 repeats
    assert rig.csms.violations == []


@pytest.mark.parametrize("version", VERSIONS)
def test_A03_renewal_before_expiry_replaces_the_pair(version: str) -> None:
    rig = _with_ca(version, **SLOW_TICKS)
    rig.csms.signed_validity_s = 40 * DAY_S  # the margin is 30 days: renew after ~10 days
    _trigger_sign(rig)
    first = rig.ctrl.station_certs.key_fingerprint(LeafUse.CHARGING_STATION)
    assert first is not None
    rig.run(9 * DAY_S)
    assert len(rig.csms.of("SignCertificate")) == 1
    rig.run(2 * DAY_S)
    assert len(rig.csms.of("SignCertificate")) == 2
    second = rig.ctrl.station_certs.key_fingerprint(LeafUse.CHARGING_STATION)
    assert second is not None and second != first  # a new key, not a re-signed old one
    assert _signed_answers(rig) == [{"status": "Accepted"}] * 2
    assert rig.csms.violations == []


def test_A03_renewal_margin_is_configurable() -> None:
    rig = _with_ca("2.0.1", cert_renewal_margin_s=5.0 * DAY_S, **SLOW_TICKS)
    rig.csms.signed_validity_s = 40 * DAY_S
    _trigger_sign(rig)
    rig.run(30 * DAY_S)
    assert len(rig.csms.of("SignCertificate")) == 1  # 35 days in: not yet
    rig.run(6 * DAY_S)
    assert len(rig.csms.of("SignCertificate")) == 2


def test_A02_the_pair_survives_a_restart_and_renewal_is_rearmed(tmp_path: Path) -> None:
    rig = _with_ca("2.0.1", tmp_path)
    rig.csms.signed_validity_s = 40 * DAY_S
    _trigger_sign(rig)
    fp = rig.ctrl.station_certs.key_fingerprint(LeafUse.CHARGING_STATION)
    again = Rig("2.0.1", station_cert_dir=str(tmp_path / "certs"), **SLOW_TICKS)
    assert again.ctrl.station_certs.key_fingerprint(LeafUse.CHARGING_STATION) == fp
    assert len(again.ctrl.station_certs.roots()) == 1
    again.csms.ca = rig.csms.ca
    again.run(11 * DAY_S)  # the restarted station renews on its own timer
    assert len(again.csms.of("SignCertificate")) == 1


@pytest.mark.parametrize("version", VERSIONS)
def test_A02_v2g_leaf_signed_through_the_csms(version: str, tmp_path: Path) -> None:
    """SignCertificate certificateType V2GCertificate (2.0.1) / PnC DataTransfer (1.6);
    verified against the V2G root of the PnC trust store; files for the SECC TLS server."""
    rig = Rig(version, station_cert_dir=str(tmp_path / "certs"))
    rig.csms.v2g_ca = SimCa("sim V2G root", EPOCH - DAY_S)
    assert rig.root_call("InstallCertificate", {
        "certificateType": "V2GRootCertificate", "certificate": rig.csms.v2g_ca.pem}) \
        == {"status": "Accepted"}
    if version == "2.0.1":
        assert _call(rig, "TriggerMessage", {"requestedMessage": "SignV2GCertificate"}) \
            == {"status": "Accepted"}
        assert rig.csms.of("SignCertificate")[0]["certificateType"] == "V2GCertificate"
    else:
        ans = _call(rig, "DataTransfer", {
            "vendorId": "org.openchargealliance.iso15118pnc", "messageId": "TriggerMessage",
            "data": json.dumps({"requestedMessage": "SignV2GCertificate"})})
        assert json.loads(ans["data"]) == {"status": "Accepted"}
        assert [p["messageId"] for p in rig.csms.of("DataTransfer")] == ["SignCertificate"]
    leaf = rig.ctrl.station_certs.leaf(LeafUse.V2G)
    assert leaf is not None
    cn = leaf.subject.get_attributes_for_oid(x509.oid.NameOID.COMMON_NAME)[0].value
    assert cn == rig.ctrl.settings.get("SeccId")
    dc = leaf.subject.get_attributes_for_oid(x509.oid.NameOID.DOMAIN_COMPONENT)[0].value
    assert dc == "CPO"
    paths = rig.ctrl.station_certs.paths(LeafUse.V2G)
    assert paths is not None and paths.chain.exists() and paths.key.exists()
    assert rig.csms.violations == []


# ====================================================================== station roots


def test_whitepaper_16_install_list_delete_station_roots() -> None:
    """1.6 security whitepaper §4 InstallCertificate / GetInstalledCertificateIds /
    DeleteCertificate (native 1.6 messages); the last CSMS root is never deleted."""
    rig = _with_ca("1.6")
    manu = SimCa("manufacturer", EPOCH - DAY_S)
    assert _call(rig, "InstallCertificate", {"certificateType": "ManufacturerRootCertificate",
                                             "certificate": manu.pem}) == {"status": "Accepted"}
    assert _call(rig, "InstallCertificate", {"certificateType": "ManufacturerRootCertificate",
                                             "certificate": "garbage"}) == {"status": "Rejected"}
    ids = _call(rig, "GetInstalledCertificateIds",
                {"certificateType": "CentralSystemRootCertificate"})
    assert ids["status"] == "Accepted" and len(ids["certificateHashData"]) == 1
    csms_hash = ids["certificateHashData"][0]
    (manu_hash,) = _call(rig, "GetInstalledCertificateIds", {
        "certificateType": "ManufacturerRootCertificate"})["certificateHashData"]
    assert _call(rig, "DeleteCertificate", {"certificateHashData": csms_hash}) \
        == {"status": "Failed"}
    assert _call(rig, "DeleteCertificate", {"certificateHashData": manu_hash}) \
        == {"status": "Accepted"}
    assert _call(rig, "DeleteCertificate", {"certificateHashData": manu_hash}) \
        == {"status": "NotFound"}
    assert _call(rig, "GetInstalledCertificateIds", {
        "certificateType": "ManufacturerRootCertificate"}) == {"status": "NotFound"}
    assert SecurityEvent.RECONFIGURATION_OF_SECURITY_PARAMETERS in \
        rig.ctrl.security_log.kinds()
    assert rig.csms.violations == []


def test_M03_M04_M05_csms_root_in_201_next_to_the_pnc_roots() -> None:
    rig = _with_ca("2.0.1")
    v2g = SimCa("v2g", EPOCH - DAY_S)
    rig.root_call("InstallCertificate", {"certificateType": "V2GRootCertificate",
                                         "certificate": v2g.pem})
    ids = _call(rig, "GetInstalledCertificateIds", {})
    types = sorted(e["certificateType"] for e in ids["certificateHashDataChain"])
    assert types == ["CSMSRootCertificate", "V2GRootCertificate"]
    only = _call(rig, "GetInstalledCertificateIds", {"certificateType": ["CSMSRootCertificate"]})
    assert [e["certificateType"] for e in only["certificateHashDataChain"]] == [
        "CSMSRootCertificate"]
    assert rig.csms.violations == []


def test_A02_a_just_signed_certificate_is_taken_despite_a_clock_a_second_behind() -> None:
    """Found with the strict peer (openssl x509 -req stamps notBefore = its now): up to
    NOT_BEFORE_SKEW_S early is accepted, more is NotYetValid."""
    from evse.security.station_certs import NOT_BEFORE_SKEW_S, SignedResult, StationCerts

    ca = SimCa("ca", EPOCH - DAY_S)
    for ahead_s, expected in ((10, SignedResult.ACCEPTED),
                              (NOT_BEFORE_SKEW_S + 120, SignedResult.NOT_YET_VALID)):
        certs = StationCerts(None)
        csr = certs.make_csr(LeafUse.CHARGING_STATION, "SIM0001", "EVSE-Ref")
        chain = ca.sign_csr(csr, EPOCH + ahead_s + 60, 365 * DAY_S)  # notBefore = +ahead
        assert chain is not None
        assert certs.accept_signed(LeafUse.CHARGING_STATION, chain.pem, [ca.cert], EPOCH) \
            is expected


@pytest.mark.parametrize("version", VERSIONS)
def test_A04_a_csms_without_security_events_does_not_hold_the_queue(version: str) -> None:
    """A CSMS that answers NotImplemented (no security extension) gets the event once; the
    transaction messages queued behind it are not delayed by retries."""
    rig = Rig(version)
    rig.csms._on_SecurityEventNotification = None  # type: ignore[assignment,method-assign]
    rig.link.set_online(False)
    rig.ctrl.security_event(SecurityEvent.TAMPER_DETECTION_ACTIVATED, "door")
    rig.link.set_online(True)
    rig.plug()
    rig.token("TAG-OK")
    rig.power_on()
    assert len(rig.store) == 0  # delivered at once, nothing waits for a retry
    sent = [s.action for s in rig.csms.seen]
    assert _events(rig) == ["StartupOfTheDevice", "TamperDetectionActivated"]  # not retried
    tx = "StartTransaction" if version == "1.6" else "TransactionEvent"
    assert tx in sent

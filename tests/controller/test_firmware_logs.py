"""Firmware update (2.0.1 L01, 1.6 UpdateFirmware) and logs (2.0.1 N01 GetLog, 1.6
GetDiagnostics): the real controller core and host services against the CSMS simulator
(scripted status sequences, schema-checked) and a local HTTP file server on 127.0.0.1."""

from __future__ import annotations

import base64
import datetime
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from evse.controller.host_requests import TransferRequest
from evse.csms_sim.core import Expect
from evse.io.host_services import HostServices
from tests.controller.harness import Rig, ask
from tests.http_files import file_handler

FIRMWARE = b"EVSE-FIRMWARE-IMAGE\x00" * 512


@dataclass
class FileServer:
    port: int
    files: dict[str, bytes]
    uploads: dict[str, bytes] = field(default_factory=dict)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}/{path}"


@pytest.fixture
def server() -> Iterator[FileServer]:
    state = FileServer(0, {"fw.bin": FIRMWARE})

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), file_handler(state.files, state.uploads))
    state.port = httpd.server_address[1]
    t = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02},
                         daemon=True)
    t.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        t.join()


def _ca(cn: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = datetime.datetime(2025, 1, 1, tzinfo=datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return key, cert


#: The manufacturer's PKI: its root is what the station trusts firmware signers by (L01).
MANUFACTURER = _ca("Manufacturer Root")
OTHER_CA = _ca("Someone Else's Root")


def signer(ca: tuple[ec.EllipticCurvePrivateKey, x509.Certificate] = MANUFACTURER, *,
           days: int = 3650) -> tuple[ec.EllipticCurvePrivateKey, str]:
    """A firmware signing key and its certificate, issued by `ca`."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Firmware Signer")])
    now = datetime.datetime(2025, 1, 1, tzinfo=datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(ca[1].subject)
            .public_key(key.public_key()).serial_number(2).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=days))
            .sign(ca[0], hashes.SHA256()))
    return key, cert.public_bytes(serialization.Encoding.PEM).decode()


def rig_with_host(version: str, tmp_path: Path, restarts: list[str], *,
                  manufacturer_root: bool = True) -> Rig:
    """With the manufacturer root installed over OCPP (2.0.1 M05 InstallCertificate)."""
    host = HostServices(tmp_path / "staging", tmp_path / "firmware", restart=restarts.append,
                        log_source=lambda kind: f"{kind}: controller log\n".encode())
    rig = Rig(version, host=host)
    if version == "2.0.1" and manufacturer_root:
        pem = MANUFACTURER[1].public_bytes(serialization.Encoding.PEM).decode()
        assert ask(rig, "InstallCertificate", {
            "certificateType": "ManufacturerRootCertificate", "certificate": pem}) == {
            "status": "Accepted"}
    return rig


def update_201(rig: Rig, url: str, cert_pem: str, signature: bytes, *, retries: int = 0
               ) -> dict[str, Any]:
    return ask(rig, "UpdateFirmware", {"requestId": 42, "retries": retries,
                                       "retryInterval": 10, "firmware": {
        "location": url, "retrieveDateTime": "2026-01-01T00:00:00Z",
        "signingCertificate": cert_pem, "signature": base64.b64encode(signature).decode()}})


def fw(status: str) -> Expect:
    return Expect("FirmwareStatusNotification", {"status": status, "requestId": 42})


def charging(rig: Rig) -> None:
    rig.plug()
    rig.ev_waits_for_auth()
    rig.token("TAG-OK")
    rig.power_on()
    rig.charge(2)


def test_l01_secure_firmware_update_downloads_verifies_installs_restarts(
        server: FileServer, tmp_path: Path) -> None:
    restarts: list[str] = []
    rig = rig_with_host("2.0.1", tmp_path, restarts)
    key, cert = signer()
    rig.csms.expect(fw("Downloading"), fw("Downloaded"), fw("SignatureVerified"),
                    fw("Installing"), fw("Installed"), ignore=("Heartbeat",))
    sig = key.sign(FIRMWARE, ec.ECDSA(hashes.SHA256()))
    assert update_201(rig, server.url("fw.bin"), cert, sig) == {"status": "Accepted"}
    rig.csms.assert_script_done()
    assert (tmp_path / "firmware" / "firmware-42.bin").read_bytes() == FIRMWARE
    assert restarts == ["FirmwareUpdate"]
    # the restart was asked after the CSMS had the Installed notification
    (at_ns, frames, kind) = rig.restarts[-1]
    assert rig.csms.seen[frames - 1].payload["status"] == "Installed"
    assert rig.csms.violations == []


def test_l01_bad_signature_is_refused_with_invalid_signature(
        server: FileServer, tmp_path: Path) -> None:
    restarts: list[str] = []
    rig = rig_with_host("2.0.1", tmp_path, restarts)
    key, cert = signer()
    rig.csms.expect(fw("Downloading"), fw("Downloaded"), fw("InvalidSignature"))
    sig = key.sign(FIRMWARE + b"tampered", ec.ECDSA(hashes.SHA256()))
    assert update_201(rig, server.url("fw.bin"), cert, sig) == {"status": "Accepted"}
    rig.csms.assert_script_done()
    assert not (tmp_path / "firmware").exists() and restarts == []
    # the chart is idle again: a new request is accepted
    good = key.sign(FIRMWARE, ec.ECDSA(hashes.SHA256()))
    assert update_201(rig, server.url("fw.bin"), cert, good) == {"status": "Accepted"}
    assert restarts == ["FirmwareUpdate"]


def test_l01_install_waits_for_the_running_transaction_to_end(
        server: FileServer, tmp_path: Path) -> None:
    restarts: list[str] = []
    rig = rig_with_host("2.0.1", tmp_path, restarts)
    key, cert = signer()
    charging(rig)
    rig.csms.expect(fw("Downloading"), fw("Downloaded"), fw("SignatureVerified"),
                    fw("InstallScheduled"), Expect("TransactionEvent", {"eventType": "Ended"}),
                    fw("Installing"), fw("Installed"),
                    ignore=("Heartbeat", "StatusNotification", "MeterValues"))
    sig = key.sign(FIRMWARE, ec.ECDSA(hashes.SHA256()))
    assert update_201(rig, server.url("fw.bin"), cert, sig) == {"status": "Accepted"}
    rig.charge(5)
    assert rig.state == "charging" and restarts == []
    assert not (tmp_path / "firmware").exists()
    assert [c for c in rig.session_commands() if c == "STOP_GRACEFUL"] == []
    rig.power_off()
    rig.csms.assert_script_done()
    assert restarts == ["FirmwareUpdate"]


def test_l01_download_failure_is_retried_then_reported(server: FileServer,
                                                       tmp_path: Path) -> None:
    restarts: list[str] = []
    rig = rig_with_host("2.0.1", tmp_path, restarts)
    key, cert = signer()
    rig.csms.expect(fw("Downloading"), fw("Downloading"), fw("DownloadFailed"))
    assert update_201(rig, server.url("missing.bin"), cert, b"x", retries=1) == {
        "status": "Accepted"}
    rig.run(11)  # retryInterval 10 s
    rig.collect()
    rig.csms.assert_script_done()
    assert restarts == []


def test_16_update_firmware_downloads_installs_and_restarts(server: FileServer,
                                                            tmp_path: Path) -> None:
    restarts: list[str] = []
    rig = rig_with_host("1.6", tmp_path, restarts)
    rig.csms.expect(*(Expect("FirmwareStatusNotification", {"status": s})
                      for s in ("Downloading", "Downloaded", "Installing", "Installed")))
    assert ask(rig, "UpdateFirmware", {"location": server.url("fw.bin"),
                                       "retrieveDate": "2026-01-01T00:00:00Z"}) == {}
    rig.csms.assert_script_done()
    assert (tmp_path / "firmware" / "firmware-0.bin").read_bytes() == FIRMWARE
    assert restarts == ["FirmwareUpdate"] and rig.csms.violations == []


def test_16_update_firmware_waits_for_its_retrieve_date(server: FileServer,
                                                        tmp_path: Path) -> None:
    restarts: list[str] = []
    rig = rig_with_host("1.6", tmp_path, restarts)
    ask(rig, "UpdateFirmware", {"location": server.url("fw.bin"),
                                "retrieveDate": "2026-01-01T00:05:00Z"})
    rig.run(299)
    assert rig.csms.of("FirmwareStatusNotification") == []
    rig.run(2)
    assert [p["status"] for p in rig.csms.of("FirmwareStatusNotification")] == [
        "Downloading", "Downloaded", "Installing", "Installed"]


def test_16_update_firmware_retrieve_date_follows_a_clock_step(server: FileServer,
                                                               tmp_path: Path) -> None:
    """retrieveDate is a moment of the CSMS's clock: a Heartbeat.conf that puts the
    station two minutes ahead (1.6 §4.6; 2.0.1 per G02) brings the download two minutes
    closer on the scheduler's clock."""
    restarts: list[str] = []
    rig = rig_with_host("1.6", tmp_path, restarts)
    ask(rig, "UpdateFirmware", {"location": server.url("fw.bin"),
                                "retrieveDate": "2026-01-01T00:05:00Z"})
    rig.run(60)
    rig.csms.epoch_unix_s += 120
    assert ask(rig, "TriggerMessage", {"requestedMessage": "Heartbeat"}) == {
        "status": "Accepted"}
    rig.run(118)  # 00:04:59 on the CSMS's clock
    assert rig.csms.of("FirmwareStatusNotification") == []
    rig.run(2)
    assert [p["status"] for p in rig.csms.of("FirmwareStatusNotification")] == [
        "Downloading", "Downloaded", "Installing", "Installed"]
    assert rig.csms.violations == []


def test_n01_get_log_uploads_to_the_http_server_with_status_notifications(
        server: FileServer, tmp_path: Path) -> None:
    rig = rig_with_host("2.0.1", tmp_path, [])
    rig.csms.expect(Expect("LogStatusNotification", {"status": "Uploading", "requestId": 11}),
                    Expect("LogStatusNotification", {"status": "Uploaded", "requestId": 11}))
    answer = ask(rig, "GetLog", {"logType": "DiagnosticsLog", "requestId": 11,
                                 "log": {"remoteLocation": server.url("logs/")}})
    assert answer == {"status": "Accepted", "filename": "SIM0001-DiagnosticsLog-11.log"}
    rig.csms.assert_script_done()
    assert server.uploads == {"/logs/SIM0001-DiagnosticsLog-11.log":
                              b"DiagnosticsLog: controller log\n"}
    assert rig.csms.violations == []


def test_n01_get_log_to_an_unsupported_location_reports_upload_failure(tmp_path: Path) -> None:
    rig = rig_with_host("2.0.1", tmp_path, [])
    ask(rig, "GetLog", {"logType": "SecurityLog", "requestId": 3,
                        "log": {"remoteLocation": "ftp://127.0.0.1/log"}})
    assert [p["status"] for p in rig.csms.of("LogStatusNotification")] == [
        "Uploading", "UploadFailure"]


def test_16_get_diagnostics_uploads_with_diagnostics_status(server: FileServer,
                                                            tmp_path: Path) -> None:
    rig = rig_with_host("1.6", tmp_path, [])
    assert ask(rig, "GetDiagnostics", {"location": server.url("diag")}) == {
        "fileName": "SIM0001-DiagnosticsLog-0.log"}
    assert [p["status"] for p in rig.csms.of("DiagnosticsStatusNotification")] == [
        "Uploading", "Uploaded"]
    assert list(server.uploads) == ["/diag/SIM0001-DiagnosticsLog-0.log"]
    ask(rig, "GetDiagnostics", {"location": "ftp://127.0.0.1/diag"})
    assert rig.csms.of("DiagnosticsStatusNotification")[-1] == {"status": "UploadFailed"}
    assert rig.csms.violations == []


def test_l01_a_new_update_during_a_job_cancels_it_with_accepted_canceled(
        server: FileServer, tmp_path: Path) -> None:
    restarts: list[str] = []
    rig = rig_with_host("2.0.1", tmp_path, restarts)
    key, cert = signer()
    sig = base64.b64encode(key.sign(FIRMWARE, ec.ECDSA(hashes.SHA256()))).decode()

    def update(request_id: int, at: str) -> str:
        status: str = ask(rig, "UpdateFirmware", {"requestId": request_id, "firmware": {
            "location": server.url("fw.bin"), "retrieveDateTime": at,
            "signingCertificate": cert, "signature": sig}})["status"]
        return status

    assert update(1, "2026-01-01T01:00:00Z") == "Accepted"  # scheduled in an hour
    assert update(2, "2026-01-01T00:00:00Z") == "AcceptedCanceled"  # replaces it, now
    assert [(p["status"], p["requestId"]) for p in rig.csms.of("FirmwareStatusNotification")
            ] == [("DownloadScheduled", 1), ("Downloading", 2), ("Downloaded", 2),
                  ("SignatureVerified", 2), ("Installing", 2), ("Installed", 2)]
    assert update(3, "2026-01-01T02:00:00Z") == "Accepted"  # idle again: scheduled
    assert update(4, "2026-01-01T03:00:00Z") == "AcceptedCanceled"
    rig.run(2.5 * 3600)  # job 3's retrieve time passes inside job 4's wait: nothing
    assert len(rig.csms.of("FirmwareStatusNotification")) == 8
    rig.run(3600)
    assert rig.csms.of("FirmwareStatusNotification")[8] == {"status": "Downloading",
                                                           "requestId": 4}
    assert restarts == ["FirmwareUpdate", "FirmwareUpdate"] and rig.csms.violations == []


def security_types(rig: Rig) -> list[str]:
    """The security log (A04: these firmware events are not critical, so they are logged,
    not sent)."""
    return [k.value for k in rig.ctrl.security_log.kinds()]


@pytest.mark.parametrize("case", ["other_root", "expired", "no_manufacturer_root", "garbage"])
def test_l01_signing_certificate_not_trusted_is_refused_with_invalid_certificate(
        server: FileServer, tmp_path: Path, case: str) -> None:
    """L01.FR.02/.FR.03: a signing certificate that does not chain to an installed
    ManufacturerRootCertificate, or is not valid now, is answered InvalidCertificate: no
    download, no FirmwareStatusNotification, a security event
    InvalidFirmwareSigningCertificate."""
    restarts: list[str] = []
    rig = rig_with_host("2.0.1", tmp_path, restarts,
                        manufacturer_root=case != "no_manufacturer_root")
    key, cert = {"other_root": lambda: signer(OTHER_CA),
                 "expired": lambda: signer(days=30)}.get(case, signer)()
    if case == "garbage":
        cert = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
    sig = key.sign(FIRMWARE, ec.ECDSA(hashes.SHA256()))
    assert update_201(rig, server.url("fw.bin"), cert, sig) == {"status": "InvalidCertificate"}
    rig.run(5)
    assert rig.csms.of("FirmwareStatusNotification") == []
    assert not any(isinstance(r, TransferRequest) for r in rig.host_requests)
    assert "InvalidFirmwareSigningCertificate" in security_types(rig)
    assert not (tmp_path / "firmware").exists() and restarts == []
    assert rig.csms.violations == []


def test_l01_a_refused_certificate_leaves_the_scheduled_job_running(
        server: FileServer, tmp_path: Path) -> None:
    """The InvalidCertificate request is not a new job: the one scheduled goes on."""
    restarts: list[str] = []
    rig = rig_with_host("2.0.1", tmp_path, restarts)
    key, cert = signer()
    sig = base64.b64encode(key.sign(FIRMWARE, ec.ECDSA(hashes.SHA256()))).decode()
    bad_key, bad_cert = signer(OTHER_CA)
    assert ask(rig, "UpdateFirmware", {"requestId": 1, "firmware": {
        "location": server.url("fw.bin"), "retrieveDateTime": "2026-01-01T00:10:00Z",
        "signingCertificate": cert, "signature": sig}})["status"] == "Accepted"
    assert ask(rig, "UpdateFirmware", {"requestId": 2, "firmware": {
        "location": server.url("fw.bin"), "retrieveDateTime": "2026-01-01T00:00:00Z",
        "signingCertificate": bad_cert, "signature": sig}})["status"] == "InvalidCertificate"
    rig.run(600)
    rig.collect()
    assert [(p["status"], p["requestId"]) for p in rig.csms.of("FirmwareStatusNotification")
            ] == [("DownloadScheduled", 1), ("Downloading", 1), ("Downloaded", 1),
                  ("SignatureVerified", 1), ("Installing", 1), ("Installed", 1)]
    assert restarts == ["FirmwareUpdate"] and rig.csms.violations == []


def test_l01_invalid_signature_is_a_security_event(server: FileServer, tmp_path: Path) -> None:
    """L01.FR.04: InvalidSignature is also reported as the security event
    InvalidFirmwareSignature."""
    rig = rig_with_host("2.0.1", tmp_path, [])
    key, cert = signer()
    sig = key.sign(FIRMWARE + b"tampered", ec.ECDSA(hashes.SHA256()))
    assert update_201(rig, server.url("fw.bin"), cert, sig) == {"status": "Accepted"}
    assert rig.csms.of("FirmwareStatusNotification")[-1]["status"] == "InvalidSignature"
    assert "InvalidFirmwareSignature" in security_types(rig)
    assert rig.csms.violations == []

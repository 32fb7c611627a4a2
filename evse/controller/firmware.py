"""Firmware update (2.0.1 L01, 1.6 UpdateFirmware) and log upload (2.0.1 N01 GetLog, 1.6
GetDiagnostics): the jobs, their status notifications, the firmware signature check.

The firmware sequence is the chart `fsm_specs/firmware.yaml`; `FirmwareHandler` holds its
named callbacks. Transfers and the restart are host requests (evse/controller/host_requests.py):
nothing here touches a file or a socket. The signature is verified over the SHA-256 the host
computed while downloading (prehashed ECDSA / RSA PKCS#1 v1.5, the algorithms a
signingCertificate can carry), so the core never reads the firmware file.

The 2.0.1 signing certificate must chain to an installed ManufacturerRootCertificate and
be valid now (L01.FR.02, `signing_certificate_valid`); otherwise the request is answered
InvalidCertificate before any download, with the security event
InvalidFirmwareSigningCertificate. A bad signature is reported InvalidSignature with the
security event InvalidFirmwareSignature (L01.FR.03/.FR.04).

Not done here (and why): no revocation check of the signing certificate (RevokedCertificate
needs an OCSP responder of the manufacturer PKI, none configured); no install at
installDateTime; log uploads are tried once (retries not honoured).
"""

from __future__ import annotations

import base64
import binascii
import enum
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from evse.controller.config import ControllerConfig
from evse.controller.host_requests import (
    HostRequest,
    RestartRequest,
    TransferKind,
    TransferRequest,
    TransferResult,
)
from evse.controller.security_events import SecurityEvent
from evse.controller.session import OpenTx
from evse.controller.smart_charging import parse_time
from evse.controller.timers import CoreTimers
from evse.fsm import Event, Machine, load_spec
from evse.security.station_certs import SignedResult, load_chain, verify_chain

NS_PER_S = 1_000_000_000
SPEC_PATH = Path(__file__).resolve().parents[2] / "fsm_specs" / "firmware.yaml"
#: Retry interval when the request names none: 1.6 §5.19 / 2.0.1 L01 leave it to the
#: station; 60 s lets a CSMS-side file server come back without hammering it.
DEFAULT_RETRY_INTERVAL_S = 60


class FirmwareStep(enum.Enum):
    """What the chart reports; `STATUS` names it per OCPP version (None: not in 1.6)."""

    DOWNLOAD_SCHEDULED = "DownloadScheduled"
    DOWNLOADING = "Downloading"
    DOWNLOADED = "Downloaded"
    DOWNLOAD_FAILED = "DownloadFailed"
    SIGNATURE_VERIFIED = "SignatureVerified"
    INVALID_SIGNATURE = "InvalidSignature"
    INSTALL_SCHEDULED = "InstallScheduled"
    INSTALLING = "Installing"
    INSTALLED = "Installed"
    INSTALLATION_FAILED = "InstallationFailed"


#: 1.6 §6.23 FirmwareStatus has only these; 2.0.1 FirmwareStatusEnumType has all steps.
STATUS_16 = frozenset({FirmwareStep.DOWNLOADING, FirmwareStep.DOWNLOADED,
                       FirmwareStep.DOWNLOAD_FAILED, FirmwareStep.INSTALLING,
                       FirmwareStep.INSTALLED, FirmwareStep.INSTALLATION_FAILED})


@dataclass(frozen=True, slots=True)
class FirmwareJob:
    request_id: int
    location: str
    retrieve_unix_s: int
    retries: int
    retry_interval_s: int
    #: 2.0.1 firmware.signingCertificate (PEM) and signature (base64); None in 1.6.
    signing_certificate_pem: str | None = None
    signature_b64: str | None = None


def verify_firmware_signature(sha256: bytes, certificate_pem: str, signature_b64: str
                              ) -> bool:
    """L01.FR.03: the signature over the firmware file, by the signing certificate's key."""
    try:
        cert = x509.load_pem_x509_certificate(certificate_pem.encode())
        sig = base64.b64decode(signature_b64, validate=True)
    except (ValueError, binascii.Error):
        return False
    key = cert.public_key()
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(sig, sha256, ec.ECDSA(Prehashed(hashes.SHA256())))
        elif isinstance(key, rsa.RSAPublicKey):
            key.verify(sig, sha256, padding.PKCS1v15(), Prehashed(hashes.SHA256()))
        else:
            return False
    except (InvalidSignature, ValueError):
        return False
    return True


def signing_certificate_valid(certificate_pem: str, roots: list[x509.Certificate],
                              now_unix_s: int) -> SignedResult:
    """L01.FR.02: the signingCertificate (PEM, leaf first if a chain) chains to one of the
    installed ManufacturerRootCertificates and every certificate is valid now. No
    manufacturer root installed: nothing can be trusted (UNKNOWN_ROOT)."""
    chain = load_chain(certificate_pem)
    if not chain:
        return SignedResult.UNPARSABLE
    return verify_chain(chain, roots, now_unix_s)


def job_16(p: dict[str, Any]) -> FirmwareJob:
    return FirmwareJob(0, str(p["location"]), parse_time(str(p["retrieveDate"])),
                       int(p.get("retries", 0)),
                       int(p.get("retryInterval", DEFAULT_RETRY_INTERVAL_S)))


def job_201(p: dict[str, Any]) -> FirmwareJob:
    fw = p["firmware"]
    return FirmwareJob(int(p["requestId"]), str(fw["location"]),
                       parse_time(str(fw["retrieveDateTime"])), int(p.get("retries", 0)),
                       int(p.get("retryInterval", DEFAULT_RETRY_INTERVAL_S)),
                       fw.get("signingCertificate"), fw.get("signature"))


class MaintenanceHost(Protocol):
    """What the jobs use of the controller core (a narrower ControllerHost, so that
    host.py can name `Maintenance` without an import circle)."""

    cfg: ControllerConfig
    now_ns: int
    tx: OpenTx | None

    def unix_ns(self) -> int: ...
    def unix_s(self) -> int: ...
    def send_volatile(self, action: str, payload: dict[str, Any], tag: object = None,
                      timeout_ns: int | None = None) -> bool: ...
    def security_event(self, kind: SecurityEvent, tech_info: str = "") -> None: ...


class Maintenance:
    """The firmware chart and the log uploads of one controller."""

    def __init__(self, core: MaintenanceHost, timers: CoreTimers, version: str) -> None:
        self.core = core
        self.version = version
        self._timers = timers
        self._out: list[HostRequest] = []
        self._events: deque[Event] = deque()
        self._dispatching = False
        self._next_job = 0
        self.job: FirmwareJob | None = None
        self.attempts = 0
        self.result: TransferResult | None = None
        #: The transfer the chart waits for; an older job's result is ignored.
        self.pending_transfer: int | None = None
        #: Set by cancel_job during the UpdateFirmware being handled.
        self.cancelled = False
        self._wait: object | None = None
        #: What `_wait` waits for: (the Unix second it is due, its event).
        self._wait_at: tuple[int, str] | None = None
        self._uploads: dict[int, int] = {}  # job id -> request id
        #: Last statuses reported, for TriggerMessage (Idle when nothing ran).
        self.firmware_status = "Idle"
        self.log_status = "Idle"
        self.handler = FirmwareHandler(self)
        self.machine = Machine(load_spec(SPEC_PATH), self.handler, timers=timers,
                               name="firmware")

    def start(self, now_ns: int) -> None:
        self.machine.start(now_ns)

    # ------------------------------------------------------------------ outputs
    def host_requests(self) -> list[HostRequest]:
        out, self._out = self._out, []
        return out

    def request(self, req: HostRequest) -> None:
        self._out.append(req)

    def _job_id(self) -> int:
        self._next_job += 1
        return self._next_job

    # ------------------------------------------------------------------ events
    def post(self, name: str, data: object = None) -> None:
        self._events.append(Event(name, data))
        if self._dispatching:
            return
        self._dispatching = True
        try:
            while self._events:
                ev = self._events.popleft()
                now = self.core.now_ns
                self.machine.dispatch(Event(ev.name, ev.data, now), now)
        finally:
            self._dispatching = False

    def update_firmware(self, job: FirmwareJob) -> str:
        """UpdateFirmware: Accepted (it was idle), AcceptedCanceled (it replaced a running
        job), Rejected (an install is under way)."""
        self.cancelled = False
        self.post("update_requested", job)
        if self.job is not job:
            return "Rejected"
        return "AcceptedCanceled" if self.cancelled else "Accepted"

    def on_result(self, res: TransferResult) -> None:
        if res.kind is TransferKind.UPLOAD:
            request_id = self._uploads.pop(res.job_id, None)
            if request_id is not None:
                self.report_log("Uploaded" if res.ok else "UploadFailed", request_id)
            return
        if res.job_id != self.pending_transfer:
            return  # a cancelled job's transfer
        self.pending_transfer = None
        if res.kind is TransferKind.DOWNLOAD:
            self.result = res
            self.post("download_done" if res.ok else "download_failed", res)
        else:
            self.post("install_done" if res.ok else "install_failed", res)

    def station_idle(self) -> None:
        self.post("station_idle")

    # ------------------------------------------------------------------ logs
    def get_log(self, url: str, log_type: str, request_id: int) -> str:
        """GetLog / GetDiagnostics: the upload starts now; returns the file name."""
        job = self._job_id()
        name = f"{self.core.cfg.serial}-{log_type}-{request_id}.log"
        self._uploads[job] = request_id
        self.report_log("Uploading", request_id)
        self.request(TransferRequest(job, TransferKind.UPLOAD, url, name, log_type))
        return name

    def report_log(self, status: str, request_id: int) -> None:
        self.log_status = status
        if self.version == "1.6":
            self.core.send_volatile("DiagnosticsStatusNotification", {"status": status})
            return
        value = {"UploadFailed": "UploadFailure"}.get(status, status)
        self.core.send_volatile("LogStatusNotification",
                                {"status": value, "requestId": request_id})

    # ------------------------------------------------------------------ firmware status
    def report(self, step: FirmwareStep) -> None:
        job = self.job
        if self.version == "1.6":
            if step not in STATUS_16:
                return
            self.firmware_status = step.value
            self.core.send_volatile("FirmwareStatusNotification", {"status": step.value})
            return
        self.firmware_status = step.value
        payload: dict[str, Any] = {"status": step.value}
        if job is not None:
            payload["requestId"] = job.request_id
        self.core.send_volatile("FirmwareStatusNotification", payload)

    def arm(self, at_unix_s: int, event: str) -> None:
        self.cancel_wait()
        self._wait_at = (at_unix_s, event)
        delay_ns = at_unix_s * NS_PER_S - self.core.unix_ns()
        self._wait = self._timers.start_timer(max(0, delay_ns), self._wait_over, event)

    def _wait_over(self, _now_ns: int) -> None:
        assert self._wait_at is not None
        event = self._wait_at[1]
        self._wait = self._wait_at = None
        self.post(event)

    def cancel_wait(self) -> None:
        if self._wait is not None:
            self._timers.cancel_timer(self._wait)
            self._wait = None
        self._wait_at = None

    def clock_stepped(self) -> None:
        """The wall clock was stepped to the CSMS's time (B01/G02): a wait for a
        wall-clock moment (retrieveDateTime, the retry) is due at that moment of the new
        clock, not after the delay computed on the old one."""
        if self._wait_at is not None:
            self.arm(*self._wait_at)


class FirmwareHandler:
    """Named callbacks of fsm_specs/firmware.yaml."""

    def __init__(self, m: Maintenance) -> None:
        self._m = m

    def _job(self) -> FirmwareJob:
        job = self._m.job
        assert job is not None
        return job

    # ---- job
    def take_job(self, ev: Event) -> None:
        assert isinstance(ev.data, FirmwareJob)
        self._m.job = ev.data
        self._m.attempts = 0

    def drop_job(self, ev: Event) -> None:
        self._m.job = None
        self._m.result = None
        self._m.pending_transfer = None
        self._m.cancel_wait()

    def cancel_job(self, ev: Event) -> None:
        """A new UpdateFirmware replaces the running job (2.0.1 L01.FR.24)."""
        self.drop_job(ev)
        self._m.cancelled = True

    def arm_retrieve(self, ev: Event) -> None:
        self._m.arm(self._job().retrieve_unix_s, "retrieve_due")

    def arm_retry(self, ev: Event) -> None:
        self._m.arm(self._m.core.unix_s() + self._job().retry_interval_s, "retry_due")

    def check_idle(self, ev: Event) -> None:
        if self._m.core.tx is None:
            self._m.post("station_idle")

    # ---- host
    def request_download(self, ev: Event) -> None:
        m = self._m
        m.attempts += 1
        job = self._job()
        m.pending_transfer = m._job_id()
        m.request(TransferRequest(m.pending_transfer, TransferKind.DOWNLOAD, job.location,
                                  f"firmware-{job.request_id}.bin"))

    def request_install(self, ev: Event) -> None:
        m = self._m
        job = self._job()
        m.pending_transfer = m._job_id()
        m.request(TransferRequest(m.pending_transfer, TransferKind.INSTALL, job.location,
                                  f"firmware-{job.request_id}.bin"))

    def request_restart(self, ev: Event) -> None:
        self._m.request(RestartRequest("FirmwareUpdate"))

    # ---- status notifications
    def report_download_scheduled(self, ev: Event) -> None:
        self._m.report(FirmwareStep.DOWNLOAD_SCHEDULED)

    def report_downloading(self, ev: Event) -> None:
        self._m.report(FirmwareStep.DOWNLOADING)

    def report_downloaded(self, ev: Event) -> None:
        self._m.report(FirmwareStep.DOWNLOADED)

    def report_download_failed(self, ev: Event) -> None:
        self._m.report(FirmwareStep.DOWNLOAD_FAILED)

    def report_signature_verified(self, ev: Event) -> None:
        if self._job().signature_b64 is not None:
            self._m.report(FirmwareStep.SIGNATURE_VERIFIED)

    def report_invalid_signature(self, ev: Event) -> None:
        self._m.report(FirmwareStep.INVALID_SIGNATURE)
        # L01.FR.04: a firmware whose signature does not verify is a security event
        self._m.core.security_event(SecurityEvent.INVALID_FIRMWARE_SIGNATURE,
                                    f"requestId {self._job().request_id}")

    def report_install_scheduled(self, ev: Event) -> None:
        if self._m.core.tx is not None:
            self._m.report(FirmwareStep.INSTALL_SCHEDULED)

    def report_installing(self, ev: Event) -> None:
        self._m.report(FirmwareStep.INSTALLING)

    def report_installed(self, ev: Event) -> None:
        self._m.report(FirmwareStep.INSTALLED)

    def report_installation_failed(self, ev: Event) -> None:
        self._m.report(FirmwareStep.INSTALLATION_FAILED)

    # ---- guards
    def retrieve_later(self, ev: Event) -> bool:
        return isinstance(ev.data, FirmwareJob) and (
            ev.data.retrieve_unix_s > self._m.core.unix_s())

    def retries_left(self, ev: Event) -> bool:
        return self._m.attempts <= self._job().retries

    def signature_valid(self, ev: Event) -> bool:
        """2.0.1: signature over the file's SHA-256 by the signing certificate (L01.FR.03);
        1.6 UpdateFirmware has no signature (non-secure: the 1.6 security whitepaper's
        SignedUpdateFirmware carries one)."""
        job = self._job()
        if job.signing_certificate_pem is None and job.signature_b64 is None:
            return self._m.version == "1.6"
        if not isinstance(ev.data, TransferResult) or job.signing_certificate_pem is None \
                or job.signature_b64 is None:
            return False
        return verify_firmware_signature(ev.data.sha256, job.signing_certificate_pem,
                                         job.signature_b64)

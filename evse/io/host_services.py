"""The host side of the controller's maintenance requests (evse/controller/host_requests.py):
HTTP(S) download and upload, the firmware install directory, the restart hook.

Why here: this is the only place that touches files and the network for firmware and logs;
the controller core stays sans-IO and sees only `TransferResult`s. `execute` blocks (the
websocket client runs it in a worker thread, tests call it directly against a local HTTP
server).

- DOWNLOAD: GET `url` into `staging_dir/file_name`, written to a temporary name and renamed
  (a crash never leaves a half file under the final name); the SHA-256 is computed while
  streaming, for the core's signature check.
- UPLOAD: the bytes of `log_source(log_type)` PUT to `url/file_name` (OCPP leaves the
  transfer method to the implementation; HTTP PUT is what a plain file server accepts).
  Only http/https: ftp:// and others fail with a reason.
- INSTALL: `staging_dir/file_name` moved into `firmware_dir` (os.replace, atomic on one
  filesystem); what runs the new image at the next start is the service manager's business.
- Restart: `restart(kind)`, the service manager hook the composition root supplies (on the
  board: SdNotifier.stopping() then a clean exit, so the unit's `Restart=always` starts the
  new process); tests pass a recorder. Without one the restart is recorded, not done.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from evse.controller.host_requests import (
    HostRequest,
    RestartRequest,
    TransferKind,
    TransferRequest,
    TransferResult,
)

#: Network timeout per transfer step (connect / read). A firmware server that stalls this
#: long fails the attempt; the chart retries per the request's retries/retryInterval.
TRANSFER_TIMEOUT_S = 30.0
CHUNK = 64 * 1024


def _no_logs(log_type: str) -> bytes:
    return f"no {log_type} source configured\n".encode()


def _configured(path: Path | None) -> Path:
    """A maintenance directory, or the reason a transfer cannot run (TransferResult.detail)."""
    if path is None:
        raise ValueError("no maintenance directory (ocpp.maintenance_dir) configured")
    return path


def _no_restart(kind: str) -> None:
    """Default when nobody wired a service manager: the restart is not performed."""


@dataclass
class HostServices:
    #: None (no `ocpp.maintenance_dir`): downloads and installs fail with that reason.
    staging_dir: Path | None
    firmware_dir: Path | None
    restart: Callable[[str], None] = _no_restart
    log_source: Callable[[str], bytes] = _no_logs
    timeout_s: float = TRANSFER_TIMEOUT_S
    #: What was executed, for the operator's log and the tests.
    history: list[str] = field(default_factory=list)

    def execute(self, req: HostRequest) -> TransferResult | None:
        if isinstance(req, RestartRequest):
            self.history.append(f"restart {req.kind}")
            self.restart(req.kind)
            return None
        self.history.append(f"{req.kind.value.lower()} {req.url} {req.file_name}")
        try:
            if req.kind is TransferKind.DOWNLOAD:
                return self._download(req)
            if req.kind is TransferKind.UPLOAD:
                return self._upload(req)
            return self._install(req)
        except (OSError, ValueError, urllib.error.URLError) as exc:
            return TransferResult(req.job_id, req.kind, False, detail=str(exc)[:200])

    @staticmethod
    def _http(url: str) -> None:
        scheme = urllib.parse.urlsplit(url).scheme
        if scheme not in ("http", "https"):
            raise ValueError(f"unsupported transfer scheme {scheme!r}")

    def _staged(self, req: TransferRequest) -> Path:
        name = Path(req.file_name).name  # never a path from the CSMS
        return _configured(self.staging_dir) / name

    def _download(self, req: TransferRequest) -> TransferResult:
        self._http(req.url)
        final = self._staged(req)
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = final.with_suffix(final.suffix + ".part")
        digest = hashlib.sha256()
        with urllib.request.urlopen(req.url, timeout=self.timeout_s) as resp, \
                open(tmp, "wb") as out:  # noqa: S310 - scheme checked above
            while chunk := resp.read(CHUNK):
                digest.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, final)
        return TransferResult(req.job_id, req.kind, True, digest.digest())

    def _upload(self, req: TransferRequest) -> TransferResult:
        self._http(req.url)
        body = self.log_source(req.log_type)
        url = req.url.rstrip("/") + "/" + urllib.parse.quote(Path(req.file_name).name)
        put = urllib.request.Request(url, data=body, method="PUT",
                                     headers={"Content-Type": "text/plain"})
        with urllib.request.urlopen(put, timeout=self.timeout_s) as resp:  # noqa: S310
            ok = 200 <= resp.status < 300
        return TransferResult(req.job_id, req.kind, ok, detail=f"HTTP {resp.status}")

    def _install(self, req: TransferRequest) -> TransferResult:
        src = self._staged(req)
        firmware_dir = _configured(self.firmware_dir)
        firmware_dir.mkdir(parents=True, exist_ok=True)
        dest = firmware_dir / src.name
        try:
            os.replace(src, dest)
        except OSError:
            shutil.move(str(src), str(dest))  # another filesystem
        return TransferResult(req.job_id, req.kind, True, detail=str(dest))

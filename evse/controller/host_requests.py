"""What the controller core asks of the machine it runs on, and the answers it gets back.

Why a port of its own: the core is sans-IO (docs/architecture.md), but an operator's
maintenance calls need the host: a restart through the service manager (OCPP Reset, a
firmware install), a file downloaded (UpdateFirmware) or uploaded (GetLog / GetDiagnostics),
a file moved into the install directory. The core emits these as `HostRequest`s, pulled with
`Controller.host_requests()` after the OCPP frames (so the answer to the Reset goes out
before the restart), and learns the outcome through `Controller.host_result()`. The I/O side
is `evse.io.host_services.HostServices`; tests run the same one against a local HTTP server.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class TransferKind(enum.Enum):
    DOWNLOAD = "DOWNLOAD"
    UPLOAD = "UPLOAD"
    INSTALL = "INSTALL"


@dataclass(frozen=True, slots=True)
class RestartRequest:
    """Restart the station process through the service manager (2.0.1 B11/B12, 1.6 Reset,
    L01 after an install). `kind` is the OCPP reset type or "FirmwareUpdate"."""

    kind: str


@dataclass(frozen=True, slots=True)
class TransferRequest:
    """DOWNLOAD `url` into the staging file `file_name`; UPLOAD the `log_type` log to `url`
    under `file_name`; INSTALL the staged `file_name` into the firmware directory."""

    job_id: int
    kind: TransferKind
    url: str
    file_name: str
    log_type: str = ""


HostRequest = RestartRequest | TransferRequest


@dataclass(frozen=True, slots=True)
class TransferResult:
    """The host's answer to a TransferRequest. `sha256` is the digest of the downloaded
    file: the core verifies the firmware signature over it (prehashed), never reading the
    file itself."""

    job_id: int
    kind: TransferKind
    ok: bool
    sha256: bytes = b""
    detail: str = ""

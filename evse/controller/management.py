"""OCPP management calls of both dialects: reservations (2.0.1 H01-H04, 1.6 Reservation
profile), firmware update (2.0.1 L01, 1.6 Firmware Management) and logs (2.0.1 N01, 1.6
GetDiagnostics).

Why mixins in their own module: `Ocpp16` / `Ocpp201` stay the place for the messages that
shape a session; the operator's maintenance calls live here, each a thin translation of the
message into one core decision (`Controller.reserve`, `Controller.cancel_reservation`,
`Maintenance`), so both versions share the behaviour and differ only in field names.
"""

from __future__ import annotations

from typing import Any

from evse.controller.firmware import job_16, job_201, signing_certificate_valid
from evse.controller.host import ControllerHost
from evse.controller.reservation import parse_16, parse_201
from evse.controller.security_events import SecurityEvent
from evse.security.station_certs import SignedResult, StationRoot


class Management16:
    """1.6 Reservation (§5.13, §5.2) and Firmware Management (§5.8, §5.19) calls."""

    core: ControllerHost

    def reservation_update(self, reservation_id: int, status: str) -> None:
        """1.6 has no ReservationStatusUpdate: the StatusNotification Available says it."""

    def on_ReserveNow(self, p: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        res = parse_16(p, self.core.cfg.connector_id)
        return {"status": "Rejected" if res is None else self.core.reserve(res)}

    def on_CancelReservation(self, p: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        ok = self.core.cancel_reservation(int(p["reservationId"]))
        return {"status": "Accepted" if ok else "Rejected"}

    def on_UpdateFirmware(self, p: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        """§5.19: the answer has no status; FirmwareStatusNotification tells the rest."""
        self.core.maintenance.update_firmware(job_16(p))
        return {}

    def on_GetDiagnostics(self, p: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        """§5.9: the file name now, the upload (DiagnosticsStatusNotification) after."""
        name = self.core.maintenance.get_log(str(p["location"]), "DiagnosticsLog", 0)
        return {"fileName": name}

    def trigger_management(self, what: str) -> bool:
        """TriggerMessage for the Firmware Management profile's notifications (§5.17)."""
        m = self.core.maintenance
        if what == "FirmwareStatusNotification":
            status = m.firmware_status if m.firmware_status in _FW_16 else "Idle"
            self.core.send_volatile("FirmwareStatusNotification", {"status": status})
        elif what == "DiagnosticsStatusNotification":
            self.core.send_volatile("DiagnosticsStatusNotification",
                                    {"status": m.log_status})
        else:
            return False
        return True


_FW_16 = frozenset({"Downloaded", "DownloadFailed", "Downloading", "Idle",
                    "InstallationFailed", "Installing", "Installed"})


class Management201:
    """2.0.1 H Reservation, L FirmwareManagement and N01 log calls."""

    core: ControllerHost

    def reservation_update(self, reservation_id: int, status: str) -> None:
        """H04 (Expired) / H01.FR.16-ish removal (Removed): ReservationStatusUpdate."""
        self.core.send_volatile("ReservationStatusUpdate", {
            "reservationId": reservation_id, "reservationUpdateStatus": status})

    def on_ReserveNow(self, p: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        res = parse_201(p, self.core.cfg.connector_id)
        return {"status": "Rejected" if res is None else self.core.reserve(res)}

    def on_CancelReservation(self, p: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        ok = self.core.cancel_reservation(int(p["reservationId"]))
        return {"status": "Accepted" if ok else "Rejected"}

    def on_UpdateFirmware(self, p: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        """L01: InvalidCertificate when the signing certificate does not chain to an
        installed ManufacturerRootCertificate or is not valid now (L01.FR.02; the running
        job, if any, goes on), with the security event InvalidFirmwareSigningCertificate
        (L01.FR.03); else Accepted when idle, AcceptedCanceled when it replaces a running job
        (L01.FR.24), Rejected during an install."""
        job = job_201(p)
        if job.signing_certificate_pem is not None:
            verdict = signing_certificate_valid(
                job.signing_certificate_pem,
                self.core.station_certs.roots(StationRoot.MANUFACTURER), self.core.unix_s())
            if verdict is not SignedResult.ACCEPTED:
                self.core.security_event(SecurityEvent.INVALID_FIRMWARE_SIGNING_CERTIFICATE,
                                         f"requestId {job.request_id}: {verdict.value}")
                return {"status": "InvalidCertificate"}
        return {"status": self.core.maintenance.update_firmware(job)}

    def on_GetLog(self, p: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        """N01: Accepted with the file name; LogStatusNotification Uploading, then
        Uploaded / UploadFailure."""
        name = self.core.maintenance.get_log(str(p["log"]["remoteLocation"]),
                                             str(p["logType"]), int(p["requestId"]))
        return {"status": "Accepted", "filename": name}

    def trigger_management(self, what: str) -> bool:
        """TriggerMessage FirmwareStatusNotification / LogStatusNotification (F06)."""
        m = self.core.maintenance
        if what == "FirmwareStatusNotification":
            self.core.send_volatile("FirmwareStatusNotification", {"status": m.firmware_status})
        elif what == "LogStatusNotification":
            self.core.send_volatile("LogStatusNotification", {
                "status": {"UploadFailed": "UploadFailure"}.get(m.log_status, m.log_status)})
        else:
            return False
        return True

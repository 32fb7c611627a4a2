"""Security events (OCPP 2.0.1 A04 SecurityEventNotification; OCPP 1.6 security whitepaper
edition 3 §"Security events", SecurityEventNotification.req) and the security log.

Why a module of its own: one list of event types with, for each, whether it is critical and
its 1.6 spelling, so both dialects report the same facts. The list is the 2.0.1 Part 2
appendix "Security Events" (the same names as the `ocpp` library's
`v201.enums.SecurityEventType`); the 1.6 whitepaper names four of them differently
(CentralSystem / ChargePoint instead of Csms / ChargingStation).

Rules (A04.FR.01/02, whitepaper §2.4): every event goes to the security log; a *critical*
one is also sent to the CSMS as SecurityEventNotification through the persistent queue,
so it survives being offline and a restart (nothing lost). Non-critical events stay in the
log (retrievable with GetLog SecurityLog). `tech_info` is free text from our own code and
must never carry a secret (password, key, CSR): `SecurityLog.record` drops anything that
looks like PEM or a basic-auth value, and the tests check that no secret reaches the log,
the queue or the Python log.
"""

from __future__ import annotations

import enum
import logging
import re
from collections import deque
from dataclasses import dataclass

log = logging.getLogger(__name__)

#: OCPP techInfo is at most 255 characters (1.6 and 2.0.1 schemas).
TECH_INFO_MAX = 255
#: Entries kept in memory (the oldest drop first; the critical ones are in the queue too).
SECURITY_LOG_MAX = 1000


class SecurityEvent(enum.Enum):
    """2.0.1 Part 2 appendix 1 "Security Events" (type names as sent in 2.0.1)."""

    FIRMWARE_UPDATED = "FirmwareUpdated"
    FAILED_TO_AUTHENTICATE_AT_CSMS = "FailedToAuthenticateAtCsms"
    CSMS_FAILED_TO_AUTHENTICATE = "CsmsFailedToAuthenticate"
    SETTING_SYSTEM_TIME = "SettingSystemTime"
    STARTUP_OF_THE_DEVICE = "StartupOfTheDevice"
    RESET_OR_REBOOT = "ResetOrReboot"
    SECURITY_LOG_WAS_CLEARED = "SecurityLogWasCleared"
    RECONFIGURATION_OF_SECURITY_PARAMETERS = "ReconfigurationOfSecurityParameters"
    MEMORY_EXHAUSTION = "MemoryExhaustion"
    INVALID_MESSAGES = "InvalidMessages"
    ATTEMPTED_REPLAY_ATTACKS = "AttemptedReplayAttacks"
    TAMPER_DETECTION_ACTIVATED = "TamperDetectionActivated"
    INVALID_FIRMWARE_SIGNATURE = "InvalidFirmwareSignature"
    INVALID_FIRMWARE_SIGNING_CERTIFICATE = "InvalidFirmwareSigningCertificate"
    INVALID_CSMS_CERTIFICATE = "InvalidCsmsCertificate"
    INVALID_CHARGING_STATION_CERTIFICATE = "InvalidChargingStationCertificate"
    INVALID_TLS_VERSION = "InvalidTLSVersion"
    INVALID_TLS_CIPHER_SUITE = "InvalidTLSCipherSuite"
    MAINTENANCE_LOGIN_ACCEPTED = "MaintenanceLoginAccepted"
    MAINTENANCE_LOGIN_FAILED = "MaintenanceLoginFailed"


#: The "Critical" column of the 2.0.1 appendix / 1.6 whitepaper table.
CRITICAL = frozenset({
    SecurityEvent.FIRMWARE_UPDATED, SecurityEvent.SETTING_SYSTEM_TIME,
    SecurityEvent.STARTUP_OF_THE_DEVICE, SecurityEvent.RESET_OR_REBOOT,
    SecurityEvent.SECURITY_LOG_WAS_CLEARED, SecurityEvent.MEMORY_EXHAUSTION,
    SecurityEvent.TAMPER_DETECTION_ACTIVATED,
})

#: 1.6 whitepaper spellings where they differ from 2.0.1.
NAME_16 = {
    SecurityEvent.FAILED_TO_AUTHENTICATE_AT_CSMS: "FailedToAuthenticateAtCentralSystem",
    SecurityEvent.CSMS_FAILED_TO_AUTHENTICATE: "CentralSystemFailedToAuthenticate",
    SecurityEvent.INVALID_CSMS_CERTIFICATE: "InvalidCentralSystemCertificate",
    SecurityEvent.INVALID_CHARGING_STATION_CERTIFICATE: "InvalidChargePointCertificate",
}

#: Text that must never enter techInfo: PEM blocks and basic-auth style credentials.
_SECRET_LIKE = re.compile(r"-----BEGIN|Authorization|Basic [A-Za-z0-9+/=]{8,}|"
                          r"password\s*[=:]", re.IGNORECASE)


def type_name(kind: SecurityEvent, version: str) -> str:
    """The event type as the given OCPP version spells it."""
    return NAME_16.get(kind, kind.value) if version == "1.6" else kind.value


def clean_tech_info(text: str) -> str:
    """techInfo as sent: at most 255 characters, never anything secret-looking."""
    if _SECRET_LIKE.search(text):
        return "(details withheld: may contain credentials)"
    return text[:TECH_INFO_MAX]


@dataclass(frozen=True, slots=True)
class SecurityLogEntry:
    timestamp: str
    kind: SecurityEvent
    tech_info: str
    critical: bool


class SecurityLog:
    """The station's security log (A04.FR.02): every event, newest last."""

    def __init__(self, max_entries: int = SECURITY_LOG_MAX) -> None:
        self._entries: deque[SecurityLogEntry] = deque(maxlen=max_entries)

    def record(self, timestamp: str, kind: SecurityEvent, tech_info: str) -> SecurityLogEntry:
        entry = SecurityLogEntry(timestamp, kind, clean_tech_info(tech_info), kind in CRITICAL)
        self._entries.append(entry)
        log.info("security event %s%s", kind.value,
                 f": {entry.tech_info}" if entry.tech_info else "")
        return entry

    def entries(self) -> list[SecurityLogEntry]:
        return list(self._entries)

    def kinds(self) -> list[SecurityEvent]:
        return [e.kind for e in self._entries]

    def clear(self) -> int:
        n = len(self._entries)
        self._entries.clear()
        return n

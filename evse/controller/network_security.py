"""Security profile and basic-auth password of the CSMS connection (OCPP 2.0.1 A00/A01/A05,
B09 SetNetworkProfile; 1.6 security whitepaper §2: SecurityProfile and AuthorizationKey).

Why sans-IO state here: the websocket adapter (evse/io/ocpp_ws.py) owns the socket, but the
decisions "may the CSMS change this", "never a lower profile", "reconnect now with the new
password" are protocol rules; the adapter asks `connection()` before each connect and
`take_change()` after each frame batch.

Rules:
- Profiles: 1 basic auth over ws://, 2 basic auth over wss:// with the CSMS certificate
  checked against the installed CSMS root, 3 wss:// with the station's client certificate.
  A change to a lower profile is Rejected (whitepaper §2.5 "the Charge Point SHALL NOT
  accept a lower value", 2.0.1 A05.FR.04 / B09.FR.04); so is an upgrade whose prerequisite
  is missing (profile >= 2 needs a CSMS root, 3 a ChargingStationCertificate; A05.FR.02/03).
- Password: 1.6 AuthorizationKey is the hex form of 16..20 bytes (whitepaper §2.3;
  OCTT TC_073), 2.0.1 BasicAuthPassword 16..40 characters (A00.FR.205 passwordString);
  write-only, persisted privately, never logged; an accepted change makes the station
  disconnect and reconnect with the new password (A01.FR.?? / TC_073 step 3).
- A profile upgrade applies at the next connection (the adapter reconnects at once).
Persisted (0600, atomic) in the station certificate directory as `network.json`, so a
restart never falls back to the configured (lower) profile or the old password.
"""

from __future__ import annotations

import json
import string
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from evse.controller.security_events import SecurityEvent
from evse.security.files import write_private_atomic
from evse.security.station_certs import LeafUse, StationCerts, StationRoot

PASSWORD_MIN_CHARS = 16
PASSWORD_MAX_CHARS = 40
#: 1.6 AuthorizationKey: hex of 16..20 bytes.
AUTH_KEY_MIN_BYTES = 16
AUTH_KEY_MAX_BYTES = 20


@dataclass(frozen=True, slots=True)
class Connection:
    """What the adapter uses for its next connection (None: keep its configured value)."""

    profile: int
    password: str | None
    url: str | None
    csms_roots_pem: bytes
    client_cert: tuple[Path, Path] | None


def valid_password(version: str, value: str) -> bool:
    if version == "1.6":
        if len(value) % 2 or not all(c in string.hexdigits for c in value):
            return False
        return AUTH_KEY_MIN_BYTES <= len(value) // 2 <= AUTH_KEY_MAX_BYTES
    return (PASSWORD_MIN_CHARS <= len(value) <= PASSWORD_MAX_CHARS
            and all(c.isprintable() for c in value))


def password_from_setting(version: str, value: str) -> str:
    """1.6 carries the password hex-encoded (whitepaper §2.3); 2.0.1 as is."""
    return bytes.fromhex(value).decode("latin-1") if version == "1.6" else value


class NetworkSecurity:
    def __init__(self, version: str, certs: StationCerts, directory: Path | None,
                 event: Callable[[SecurityEvent, str], None]) -> None:
        self.version = version
        self.certs = certs
        self._path = None if directory is None else directory / "network.json"
        self._event = event
        self.profile = 0  # unknown until the adapter adopts its configured profile
        self._password: str | None = None
        self._url: str | None = None
        self._changed = False
        if self._path is not None and self._path.exists():
            try:
                raw = json.loads(self._path.read_text(encoding="utf-8"))
                self.profile = int(raw.get("profile", 0))
                self._password = raw.get("password")
                self._url = raw.get("url")
            except (ValueError, TypeError, AttributeError):
                pass  # unreadable: the configured values apply (and are re-persisted)

    def _save(self) -> None:
        if self._path is not None:
            write_private_atomic(self._path, json.dumps({
                "profile": self.profile, "password": self._password,
                "url": self._url}).encode())

    # ------------------------------------------------------------------ adapter side
    def adopt(self, configured_profile: int) -> None:
        """The adapter's configured profile; a persisted (upgraded) one is never lowered."""
        self.profile = max(self.profile, configured_profile)

    def connection(self) -> Connection:
        leaf = self.certs.paths(LeafUse.CHARGING_STATION)
        return Connection(self.profile, self._password, self._url,
                          self.certs.roots_pem(StationRoot.CSMS),
                          None if leaf is None else (leaf.chain, leaf.key))

    def take_change(self) -> bool:
        """True once after a change that needs a new connection."""
        changed, self._changed = self._changed, False
        return changed

    # ------------------------------------------------------------------ CSMS side
    def prerequisites_met(self, profile: int) -> bool:
        if profile >= 2 and not self.certs.roots(StationRoot.CSMS):
            return False
        return not (profile == 3 and self.certs.leaf(LeafUse.CHARGING_STATION) is None)

    def profile_change_ok(self, value: str) -> bool:
        try:
            profile = int(value)
        except ValueError:
            return False
        return (profile in (1, 2, 3) and profile >= self.profile
                and self.prerequisites_met(profile))

    def set_profile(self, value: str, url: str | None = None) -> None:
        profile = int(value)
        if profile == self.profile and url in (None, self._url):
            return
        self.profile = profile
        if url is not None:
            self._url = url
        self._save()
        self._changed = True
        self._event(SecurityEvent.RECONFIGURATION_OF_SECURITY_PARAMETERS,
                    f"security profile {profile}")

    def set_password(self, setting_value: str) -> None:
        self._password = password_from_setting(self.version, setting_value)
        self._save()
        self._changed = True
        self._event(SecurityEvent.RECONFIGURATION_OF_SECURITY_PARAMETERS,
                    "basic auth password changed")

    def set_network_profile(self, connection_data: dict[str, object]) -> str:
        """2.0.1 B09 SetNetworkProfile (one slot, used from the next connection)."""
        profile = connection_data.get("securityProfile")
        url = connection_data.get("ocppCsmsUrl")
        if not isinstance(profile, int) or not isinstance(url, str):
            return "Rejected"
        if connection_data.get("ocppVersion", "OCPP20") != "OCPP20" or \
                connection_data.get("ocppTransport", "JSON") != "JSON":
            return "Rejected"
        if not self.profile_change_ok(str(profile)):
            return "Rejected"
        if (profile == 1) == url.startswith("wss://"):
            return "Rejected"  # scheme and profile must agree (A00.FR.?: no TLS only on 1)
        self.set_profile(str(profile), url)
        return "Accepted"

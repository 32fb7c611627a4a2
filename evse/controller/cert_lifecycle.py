"""The station certificate lifecycle: SignCertificate -> CertificateSigned, retries and
renewal before expiry (OCPP 2.0.1 A02 "Update Charging Station Certificate by request of
CSMS", A03 "... initiated by the Charging Station"; 1.6 security whitepaper §3.3/§3.4, and
for the V2G leaf the 1.6 PnC whitepaper's DataTransfer SignCertificate).

Why here and sans-IO: the key is generated and kept by `evse.security.station_certs`; this
module decides *when* to ask (a TriggerMessage, the renewal timer, a retry) and what an
answer means, on the controller's virtual clock.

Rules implemented:
- A02.FR.02 / A03: the CSR carries a fresh key; the key never leaves the key directory.
- A02.FR.17..19 (CertSigningWaitMinimum / CertSigningRepeatTimes): if no CertificateSigned
  arrives within the wait after an accepted SignCertificate, the request is repeated with a
  doubled wait, at most RepeatTimes times.
- A02.FR.06..08 / whitepaper: a chain that does not verify (wrong key, broken, expired, not
  to an installed root) is answered Rejected and raises the security event
  InvalidChargingStationCertificate; nothing already in use is replaced.
- Renewal (A03): a timer fires `renewal_margin_s` before the leaf in use expires and sends
  a SignCertificate for the same use (the old pair stays in use until the new one verifies).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from evse.controller.config import ControllerConfig
from evse.controller.security_events import SecurityEvent
from evse.controller.settings import Settings
from evse.controller.timers import CoreTimers
from evse.security.station_certs import LeafUse, SignedResult, StationCerts

NS_PER_S = 1_000_000_000
#: A renewal timer further away than this is re-armed at this distance (timer wheels and
#: virtual clocks stay bounded; 1 day is far below any leaf lifetime).
MAX_TIMER_S = 86_400


@dataclass(frozen=True, slots=True)
class SignTag:
    """Correlates a SignCertificate answer with the use it asked for."""

    use: LeafUse


@dataclass(frozen=True, slots=True)
class CsrSubject:
    common_name: str
    organization: str
    country: str = ""
    domain_component: str = ""


class CertLifecycle:
    def __init__(
        self,
        certs: StationCerts,
        timers: CoreTimers,
        settings: Settings,
        *,
        renewal_margin_s: float,
        now_unix_s: Callable[[], int],
        send_csr: Callable[[LeafUse, str, SignTag], bool],
        subject: Callable[[LeafUse], CsrSubject],
        roots_for: Callable[[LeafUse], list[object]],
        security_event: Callable[[SecurityEvent, str], None],
    ) -> None:
        self.certs = certs
        self._timers = timers
        self._settings = settings
        self.renewal_margin_s = renewal_margin_s
        self._now = now_unix_s
        self._send_csr = send_csr
        self._subject = subject
        self._roots_for = roots_for
        self._event = security_event
        self._wait: dict[LeafUse, object] = {}
        self._attempt: dict[LeafUse, int] = {}
        self._renewal: dict[LeafUse, object] = {}
        #: Uses whose new pair is in place but not yet used by a connection.
        self.fresh: set[LeafUse] = set()

    # ------------------------------------------------------------------ start / renewal
    def start(self) -> None:
        for use in LeafUse:
            self._arm_renewal(use)

    def _arm_renewal(self, use: LeafUse) -> None:
        old = self._renewal.pop(use, None)
        if old is not None:
            self._timers.cancel_timer(old)
        not_after = self.certs.leaf_not_after_unix_s(use)
        if not_after is None:
            return
        due_s = not_after - self.renewal_margin_s - self._now()
        if due_s <= 0:
            self.request(use)
            return
        step_s = min(due_s, MAX_TIMER_S)

        def fire(now_ns: int) -> None:
            self._renewal.pop(use, None)
            if step_s < due_s:
                self._arm_renewal(use)
            else:
                self.request(use)

        self._renewal[use] = self._timers.start_timer(round(step_s * NS_PER_S), fire,
                                                      f"cert_renewal_{use.value}")

    # ------------------------------------------------------------------ SignCertificate
    def request(self, use: LeafUse, *, attempt: int = 0) -> bool:
        """Generate a key + CSR and send SignCertificate (False: offline, not sent)."""
        s = self._subject(use)
        csr = self.certs.make_csr(use, s.common_name, s.organization, s.country,
                                  s.domain_component)
        self._attempt[use] = attempt
        return self._send_csr(use, csr, SignTag(use))

    def on_sign_answer(self, use: LeafUse, accepted: bool) -> None:
        """SignCertificate.conf: Accepted starts the CertSigningWaitMinimum timer."""
        self._cancel_wait(use)
        if not accepted:
            return
        attempt = self._attempt.get(use, 0)
        wait_s = self._settings.get_int("CertSigningWaitMinimum") * (2 ** attempt)
        if wait_s <= 0:
            return

        def expired(now_ns: int) -> None:
            self._wait.pop(use, None)
            if attempt < self._settings.get_int("CertSigningRepeatTimes"):
                self.request(use, attempt=attempt + 1)

        self._wait[use] = self._timers.start_timer(wait_s * NS_PER_S, expired,
                                                   f"cert_signing_wait_{use.value}")

    def _cancel_wait(self, use: LeafUse) -> None:
        handle = self._wait.pop(use, None)
        if handle is not None:
            self._timers.cancel_timer(handle)

    # ------------------------------------------------------------------ CertificateSigned
    def certificate_signed(self, use: LeafUse, chain_pem: str) -> SignedResult:
        roots = self._roots_for(use)
        result = self.certs.accept_signed(use, chain_pem, roots, self._now())  # type: ignore[arg-type]
        if result is SignedResult.ACCEPTED:
            self._cancel_wait(use)
            self.fresh.add(use)
            self._arm_renewal(use)
        else:
            self._event(SecurityEvent.INVALID_CHARGING_STATION_CERTIFICATE,
                        f"{use.value}: {result.value}")
        return result


#: Our defaults for the signing wait (the 2.0.1 device model leaves them to the station):
#: 60 s is well above a CSMS's signing round trip; 3 repeats = 60 + 120 + 240 s.
CERT_SIGNING_WAIT_MINIMUM_S = 60
CERT_SIGNING_REPEAT_TIMES = 3


def add_security_settings(s: Settings, cfg: ControllerConfig) -> None:
    """Security configuration keys shared by both dialects (1.6 whitepaper §"Configuration
    keys" CpoName; 2.0.1 SecurityCtrlr / ISO15118Ctrlr variables, mapped in ocpp201.py)."""
    s.add("CpoName", cfg.vendor)
    s.add("CertSigningWaitMinimum", CERT_SIGNING_WAIT_MINIMUM_S)
    s.add("CertSigningRepeatTimes", CERT_SIGNING_REPEAT_TIMES)
    s.add("SeccId", cfg.serial)
    s.add("ISO15118OrganizationName", cfg.vendor)
    s.add("ISO15118CountryName", "DE")

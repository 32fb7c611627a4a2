"""Static SECC configuration (what the station's config file sets)."""

from __future__ import annotations

from dataclasses import dataclass

from evse.secc.env import AppProtocol, PaymentMethod

#: 2026-01-01T00:00:00Z, the wall-clock origin of virtual time (deterministic simulation).
DEFAULT_EPOCH_UNIX_S = 1_767_225_600


@dataclass(frozen=True, slots=True)
class SeccConfig:
    #: Protocols offered in supportedAppProtocol (the car's priority decides among them).
    protocols: tuple[AppProtocol, ...] = (AppProtocol.ISO15118_2, AppProtocol.DIN70121)
    #: ISO 15118-2 EVSEID (string, ISO 15118-2 Annex H format).
    evse_id: str = "DE*PNX*E12345*1"
    #: DIN SPEC 70121 EVSEID (hexBinary); DIN allows a single 0x00 when none is assigned.
    evse_id_din: bytes = b"\x00"
    payment_options: tuple[PaymentMethod, ...] = (PaymentMethod.EIM,)
    #: Contract (PnC) is only offered on TLS [V2G2-634/635] (interop_failures.md §4).
    tls: bool = False
    current_regulation_tolerance_a: float = 5.0
    peak_current_ripple_a: float = 5.0
    #: Schedule duration we announce when the controller has none yet (24 h).
    default_schedule_duration_s: int = 86_400
    #: Authorization waits per mode (chart params t_auth_eim / t_auth_pnc; None keeps the
    #: chart's default, the contract bounds auth_timeout_eim 300 s / auth_timeout_pnc 55 s).
    auth_timeout_eim_s: float | None = None
    auth_timeout_pnc_s: float | None = None
    #: Wall-clock origin of the station's time (`now_ns` 0), for absolute timestamps the
    #: car is told (PaymentDetailsRes.EVSETimeStamp). The runtime sets it from its clock
    #: (evse/runtime/clock.py); the default is the virtual-time epoch 2026-01-01T00:00:00Z
    #: (the same as evse/controller/config.py DEFAULT_EPOCH_UNIX_S).
    epoch_unix_s: int = DEFAULT_EPOCH_UNIX_S

    def chart_params(self) -> dict[str, float]:
        """Overrides of the SECC charts' authorization params set here."""
        out: dict[str, float] = {}
        if self.auth_timeout_eim_s is not None:
            out["t_auth_eim"] = self.auth_timeout_eim_s
        if self.auth_timeout_pnc_s is not None:
            out["t_auth_pnc"] = self.auth_timeout_pnc_s
        return out

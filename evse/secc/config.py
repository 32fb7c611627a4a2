"""Static SECC configuration (what the station's config file sets)."""

from __future__ import annotations

from dataclasses import dataclass

from evse.secc.env import AppProtocol, PaymentMethod


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

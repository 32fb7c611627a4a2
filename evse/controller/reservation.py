"""Reservations (OCPP 2.0.1 H01-H04, 1.6 §5.13 Reservation profile): the value type and the
parsing of ReserveNow in both dialects.

Why here and not in the dialects: one decision in one place. Which requests are refused
before the chart sees them (wrong connector, expiry in the past, 1.6 connector 0 without
ReserveConnectorZeroSupported) is decided by `parse_16` / `parse_201`; whether the EVSE can
take it (Available, or the same reservation again) is the chart's (`fsm_specs/controller.yaml`
state `reserved`); what a refusal is called follows from the connector's status
(`REFUSAL`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from evse.controller.session import ConnectorStatus
from evse.controller.smart_charging import parse_time


@dataclass(frozen=True, slots=True)
class Reservation:
    """One reservation: the EVSE is kept for `id_token` until `expiry_unix_s`."""

    reservation_id: int
    id_token: str
    expiry_unix_s: int
    #: 1.6 parentIdTag / 2.0.1 groupIdToken: kept and reported, not used to match (only
    #: the exact token uses the reservation here).
    group_token: str = ""

    def matches(self, id_token: str) -> bool:
        """1.6 §3.4 / 2.0.1 C: identifiers compare case-insensitively."""
        return id_token.casefold() == self.id_token.casefold()


#: ReserveNow answer when the chart did not take the reservation, by connector status
#: (1.6 §5.13 / 2.0.1 H01.FR.04-06: Occupied, Faulted, Unavailable).
REFUSAL: dict[ConnectorStatus, str] = {
    ConnectorStatus.AVAILABLE: "Occupied",  # only while a ChangeAvailability is scheduled
    ConnectorStatus.PREPARING: "Occupied",
    ConnectorStatus.CHARGING: "Occupied",
    ConnectorStatus.SUSPENDED_EV: "Occupied",
    ConnectorStatus.SUSPENDED_EVSE: "Occupied",
    ConnectorStatus.FINISHING: "Occupied",
    ConnectorStatus.RESERVED: "Occupied",
    ConnectorStatus.UNAVAILABLE: "Unavailable",
    ConnectorStatus.FAULTED: "Faulted",
}


def parse_16(p: dict[str, Any], connector_id: int) -> Reservation | None:
    """ReserveNow.req -> Reservation, or None for Rejected (another connector, or 0:
    ReserveConnectorZeroSupported is false)."""
    if p["connectorId"] != connector_id:
        return None
    return Reservation(int(p["reservationId"]), str(p["idTag"]),
                       int(parse_time(str(p["expiryDate"]))), str(p.get("parentIdTag", "")))


def parse_201(p: dict[str, Any], evse_id: int) -> Reservation | None:
    """ReserveNowRequest -> Reservation, or None for Rejected (another EVSE; H01.FR.01: no
    evseId = any EVSE, which is ours). connectorType is not checked: one CCS2 connector."""
    if p.get("evseId", evse_id) != evse_id:
        return None
    group = p.get("groupIdToken", {}).get("idToken", "")
    return Reservation(int(p["id"]), str(p["idToken"]["idToken"]),
                       int(parse_time(str(p["expiryDateTime"]))), str(group))

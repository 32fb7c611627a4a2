"""2.0.1 TxCtrlr.TxStartPoint / TxStopPoint (E01, E06): which moments of a charging session
open and close the OCPP transaction.

OCPP 2.0.1 Part 2 E01: the transaction starts as soon as one of the configured
TxStartPoints is reached; E06: it ends as soon as one of the conditions of the configured
TxStopPoints is no longer true. Both are comma-separated lists of
ParkingBayOccupancy | EVConnected | Authorized | DataSigned | PowerPathClosed |
EnergyTransfer. This station supports four (`SUPPORTED`): it has no parking-bay sensor and
no signed meter, so ParkingBayOccupancy and DataSigned are refused by SetVariables and in
the config.

What each condition is on a DC charger, from the contract's signals:

* EVConnected: plc.ev_present (the cable is in the car) until the unplug.
* Authorized: the controller granted the session (EIM, PnC, AutoCharge or a remote
  start) until the authorization ends: withdrawn, a stop by token or RequestStop, or the
  unplug.
* PowerPathClosed: the SECC's cable check starts (plc.v2g_phase CABLECHECK: the DC output
  contactors close for the insulation test, IEC 61851-23) until the energy transfer ends
  or the V2G session ends.
* EnergyTransfer: PowerDelivery started (the chart's `charging` state) until it stops.

1.6 has no such variables: its transaction is always EnergyTransfer to EnergyTransfer.
"""

from __future__ import annotations

import enum


class TxPoint(enum.Enum):
    EV_CONNECTED = "EVConnected"
    AUTHORIZED = "Authorized"
    POWER_PATH_CLOSED = "PowerPathClosed"
    ENERGY_TRANSFER = "EnergyTransfer"


#: The TxStartPoint / TxStopPoint values this station supports (its valuesList).
SUPPORTED = tuple(p.value for p in TxPoint)
#: 2.0.1 values the station cannot detect (no parking-bay sensor, no signed meter).
UNSUPPORTED = ("ParkingBayOccupancy", "DataSigned")
DEFAULT = "EnergyTransfer"


def parse_points(text: str) -> frozenset[TxPoint] | None:
    """`"EVConnected,Authorized"` as points; None when empty, unknown or unsupported."""
    names = [n.strip() for n in text.split(",")]
    if not names or any(n not in SUPPORTED for n in names):
        return None
    return frozenset(TxPoint(n) for n in names)


def valid_points(text: str) -> bool:
    return parse_points(text) is not None

"""Small value types shared by the core, the handler and the OCPP dialects."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from evse.controller.error_map import Ocpp16Reason, Ocpp201Reason, Ocpp201Trigger
from evse.controller.plc_port import AuthMethod, TokenType


class ConnectorStatus(enum.Enum):
    """OCPP 1.6 ChargePointStatus (2.0.1 folds the session ones into Occupied)."""

    AVAILABLE = "Available"
    PREPARING = "Preparing"
    CHARGING = "Charging"
    #: 1.6 §4.9: charging, and the car does not take energy (it paused or asks 0 A).
    SUSPENDED_EV = "SuspendedEV"
    #: 1.6 §4.9: charging, and the EVSE offers no energy (a limit of 0, a derating).
    SUSPENDED_EVSE = "SuspendedEVSE"
    FINISHING = "Finishing"
    RESERVED = "Reserved"
    UNAVAILABLE = "Unavailable"
    FAULTED = "Faulted"


@dataclass(frozen=True, slots=True)
class Token:
    """An identification to authorize: who, how, and (PnC) the contract chain."""

    id_token: str
    token_type: TokenType
    method: AuthMethod
    chain_der: tuple[bytes, ...] = field(default_factory=tuple)
    pnc_request_id: int | None = None
    remote_start_id: int | None = None


@dataclass(frozen=True, slots=True)
class TxStop:
    """Why a transaction ends, in both OCPP versions."""

    reason_16: Ocpp16Reason
    reason_201: Ocpp201Reason
    trigger_201: Ocpp201Trigger


STOP_REMOTE = TxStop(Ocpp16Reason.REMOTE, Ocpp201Reason.REMOTE, Ocpp201Trigger.REMOTE_STOP)
STOP_LOCAL = TxStop(Ocpp16Reason.LOCAL, Ocpp201Reason.LOCAL, Ocpp201Trigger.STOP_AUTHORIZED)
STOP_DEAUTHORIZED = TxStop(Ocpp16Reason.DE_AUTHORIZED, Ocpp201Reason.DE_AUTHORIZED,
                           Ocpp201Trigger.DEAUTHORIZED)
STOP_EV_DISCONNECTED = TxStop(Ocpp16Reason.EV_DISCONNECTED, Ocpp201Reason.EV_DISCONNECTED,
                              Ocpp201Trigger.EV_DEPARTED)
STOP_POWER_LOSS = TxStop(Ocpp16Reason.POWER_LOSS, Ocpp201Reason.POWER_LOSS,
                         Ocpp201Trigger.ABNORMAL_CONDITION)
STOP_SOFT_RESET = TxStop(Ocpp16Reason.SOFT_RESET, Ocpp201Reason.IMMEDIATE_RESET,
                         Ocpp201Trigger.RESET_COMMAND)
STOP_HARD_RESET = TxStop(Ocpp16Reason.HARD_RESET, Ocpp201Reason.IMMEDIATE_RESET,
                         Ocpp201Trigger.RESET_COMMAND)
STOP_UNLOCK = TxStop(Ocpp16Reason.UNLOCK_COMMAND, Ocpp201Reason.OTHER,
                     Ocpp201Trigger.ABNORMAL_CONDITION)
#: 2.0.1 C16 (1.6 has no such reason: Local).
STOP_MASTER_PASS = TxStop(Ocpp16Reason.LOCAL, Ocpp201Reason.MASTER_PASS,
                          Ocpp201Trigger.STOP_AUTHORIZED)
STOP_OTHER = TxStop(Ocpp16Reason.OTHER, Ocpp201Reason.OTHER, Ocpp201Trigger.ABNORMAL_CONDITION)


@dataclass(slots=True)
class OpenTx:
    """The running transaction as the core tracks it (the store keeps the durable part)."""

    local_id: int
    #: The token that authorized it; None while a transaction started before the
    #: authorization (TxStartPoint EVConnected / PowerPathClosed) has none yet.
    token: Token | None
    start_unix_s: int
    meter_start_wh: float
    remote_id: str | None = None
    seq_no: int = 0
    #: The reservation this transaction used (2.0.1 H03 / 1.6 StartTransaction.reservationId).
    reservation_id: int | None = None
    #: The starting token's group (2.0.1 groupIdToken / 1.6 parentIdTag; "" = none known):
    #: another token of the same group may stop the transaction (C09).
    group_id: str = ""
    #: The TxStartPoint that opened it (2.0.1 E01; tx_points.TxPoint value).
    start_point: str = "EnergyTransfer"

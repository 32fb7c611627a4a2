"""DataTransfer in both directions (OCPP 2.0.1 P01 / P02; 1.6 §4.3 / §5.6).

Why a registry and not code in the dialects: DataTransfer carries vendor extensions the
core knows nothing about. The host (or a vendor module) registers the messages it
understands per vendorId (`Controller.data_transfer_handlers`); everything else gets the
answer the standard prescribes: UnknownVendorId for a vendorId nobody registered, else
UnknownMessageId for a messageId that vendor does not have (2.0.1 P01.FR.03 / P01.FR.04,
1.6 §4.3). The 1.6 Plug & Charge whitepaper's vendorId is handled by the 1.6 dialect itself
before this registry is asked.

Outgoing (P02): `Controller.data_transfer` sends one DataTransfer now (volatile: a vendor
message is not a transaction message) and calls back with the CSMS's answer, or with
status "Failed" when it could not be sent, the CSMS answered a CallError or nothing came.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

#: 2.0.1 DataTransferStatusEnumType / 1.6 DataTransferStatus, plus our "Failed" (not sent,
#: CallError, timeout): never a CSMS answer, so it cannot be confused with one.
ANSWER_STATUSES = frozenset({"Accepted", "Rejected", "UnknownMessageId", "UnknownVendorId"})
FAILED = "Failed"


@dataclass(frozen=True, slots=True)
class DataTransferAnswer:
    """What came back for an outgoing DataTransfer (P02)."""

    status: str
    data: Any = None


#: A registered incoming message: data in, (status, data or None) out.
IncomingHandler = Callable[[Any], tuple[str, Any]]


@dataclass(frozen=True, slots=True)
class DataTransferTag:
    """Correlates an outgoing DataTransfer with its answer (the outbox's tag)."""

    on_answer: Callable[[DataTransferAnswer], None]


def answer_incoming(handlers: dict[str, dict[str, IncomingHandler]],
                    p: dict[str, Any]) -> dict[str, Any]:
    """The DataTransfer.conf for a CSMS's DataTransfer (P01): vendor, then message."""
    messages = handlers.get(str(p["vendorId"]))
    if messages is None:
        return {"status": "UnknownVendorId"}
    handler = messages.get(str(p.get("messageId", "")))
    if handler is None:
        return {"status": "UnknownMessageId"}
    status, data = handler(p.get("data"))
    if status not in ANSWER_STATUSES:
        status = "Rejected"  # a handler's bug must not put a non-schema value on the wire
    out: dict[str, Any] = {"status": status}
    if data is not None:
        out["data"] = data
    return out


def parse_answer(payload: dict[str, Any]) -> DataTransferAnswer:
    return DataTransferAnswer(str(payload.get("status", FAILED)), payload.get("data"))

"""The OCPP-J send window: one Call in flight (OCPP-J §4.1.1), two kinds of message.

Persistent messages (transaction, meter) live in the store and wait for the CSMS however
long it is away; volatile ones (status, authorize, heartbeat, data transfer) are sent now or
never. Both go out in the order they were created: a volatile message remembers the last
persistent row that existed when it was made and is sent right after that row. A
persistent message that the CSMS refuses is retried with a growing interval, then dropped
(1.6 §4.7 TransactionMessageAttempts / TransactionMessageRetryInterval).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

from evse.controller.store import QueuedMessage, Store

NS_PER_S = 1_000_000_000


@dataclass(slots=True)
class Volatile:
    after_seq: int
    action: str
    payload: dict[str, Any]
    tag: object = None
    timeout_ns: int | None = None


@dataclass(slots=True)
class InFlight:
    unique_id: str
    action: str
    persistent: QueuedMessage | None
    tag: object = None


class Outbox:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.inflight: InFlight | None = None
        self._volatile: deque[Volatile] = deque()
        self._last_persist_seq = store.tail_seq()
        self._attempts = 0
        self.hold_until_ns = 0

    def add_volatile(self, action: str, payload: dict[str, Any], tag: object,
                     timeout_ns: int | None = None) -> None:
        self._volatile.append(Volatile(self._last_persist_seq, action, payload, tag,
                                       timeout_ns))

    def enqueue(self, action: str, payload: dict[str, Any], tx_local: int | None,
                meter: tuple[float, str] | None) -> None:
        self._last_persist_seq = self.store.enqueue(action, payload, tx_local, meter)

    def drop_volatile(self) -> list[Volatile]:
        dropped = list(self._volatile)
        self._volatile.clear()
        return dropped

    def next_message(self) -> Volatile | QueuedMessage | None:
        """What goes out next (None: nothing, or a persistent retry is being held back)."""
        head = None if self.hold_until_ns else self.store.head()
        if self._volatile and (head is None or self._volatile[0].after_seq < head.seq):
            return self._volatile.popleft()
        return head

    def finish(self, unique_id: str) -> InFlight | None:
        flight = self.inflight
        if flight is not None and flight.unique_id == unique_id:
            self.inflight = None
            return flight
        return None

    def acked(self, msg: QueuedMessage, remote_tx: tuple[int, str] | None) -> None:
        self._attempts = 0
        self.store.ack(msg.seq, remote_tx)

    def refused(self, msg: QueuedMessage, now_ns: int, attempts: int, interval_s: int) -> None:
        self._attempts += 1
        if self._attempts >= attempts:
            self._attempts = 0
            self.store.ack(msg.seq)  # given up: 1.6 §4.7 lets the station discard it
            return
        self.hold_until_ns = now_ns + interval_s * self._attempts * NS_PER_S

    def release_hold(self, now_ns: int) -> None:
        if self.hold_until_ns and now_ns >= self.hold_until_ns:
            self.hold_until_ns = 0

"""The persistent queue and the transaction journal (SQLite in WAL mode).

Why: OCPP 1.6 §4.7/2.0.1 E04 require that transaction-related messages are delivered even
when the CSMS is unreachable or the station loses power. Every StartTransaction,
MeterValues, StopTransaction and TransactionEvent is committed here *before* it is sent
and deleted only when the CSMS has answered, so a crash can at worst send a message twice
(at-least-once); the resend carries the same message id so the CSMS can drop it. The
journal keeps the open transaction and its last meter reading so that a restart can close
it with PowerLoss (issue 8 item 7).

`synchronous=FULL` with WAL: a committed row survives kill -9 and power loss (SQLite
docs "WAL mode", durability with synchronous=FULL).
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from evse.controller.errors import StoreError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS queue (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    action TEXT NOT NULL,
    payload TEXT NOT NULL,
    tx_local INTEGER
);
CREATE TABLE IF NOT EXISTS tx (
    local_id INTEGER PRIMARY KEY AUTOINCREMENT,
    remote_id TEXT,
    connector_id INTEGER NOT NULL,
    id_tag TEXT NOT NULL,
    meter_start_wh REAL NOT NULL,
    last_meter_wh REAL NOT NULL,
    last_timestamp TEXT NOT NULL,
    open INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


@dataclass(frozen=True, slots=True)
class QueuedMessage:
    seq: int
    action: str
    payload: dict[str, Any]
    tx_local: int | None


@dataclass(frozen=True, slots=True)
class TxRecord:
    local_id: int
    remote_id: str | None
    connector_id: int
    id_tag: str
    meter_start_wh: float
    last_meter_wh: float
    last_timestamp: str


class Store:
    """One SQLite file (or `:memory:` for tests that do not need durability)."""

    def __init__(self, path: str) -> None:
        try:
            self._db = sqlite3.connect(path, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open store {path}: {exc}") from exc

    def close(self) -> None:
        self._db.close()

    def _exec(self, sql: str, args: tuple[Any, ...] = ()) -> sqlite3.Cursor:
        try:
            return self._db.execute(sql, args)
        except sqlite3.Error as exc:
            raise StoreError(f"{sql.split()[0]} failed: {exc}") from exc

    # ------------------------------------------------------------------ queue
    def enqueue(self, action: str, payload: dict[str, Any], tx_local: int | None,
                meter: tuple[float, str] | None = None) -> int:
        """Commit one message (and, for a meter sample, the journal's last reading with it:
        one fsync, and a crash can never separate the two)."""
        try:
            with self._db:
                self._db.execute("BEGIN")
                cur = self._db.execute(
                    "INSERT INTO queue (action, payload, tx_local) VALUES (?, ?, ?)",
                    (action, json.dumps(payload, separators=(",", ":")), tx_local))
                if meter is not None and tx_local is not None:
                    self._db.execute(
                        "UPDATE tx SET last_meter_wh = ?, last_timestamp = ? WHERE local_id = ?",
                        (meter[0], meter[1], tx_local))
        except sqlite3.Error as exc:
            raise StoreError(f"enqueue failed: {exc}") from exc
        seq = cur.lastrowid
        if seq is None:
            raise StoreError("insert returned no row id")
        return seq

    def head(self) -> QueuedMessage | None:
        row = self._exec(
            "SELECT seq, action, payload, tx_local FROM queue ORDER BY seq LIMIT 1"
        ).fetchone()
        if row is None:
            return None
        return QueuedMessage(int(row[0]), str(row[1]), json.loads(row[2]),
                             None if row[3] is None else int(row[3]))

    def tail_seq(self) -> int:
        """Highest queued row (0 when empty): what a new volatile message must come after."""
        row = self._exec("SELECT MAX(seq) FROM queue").fetchone()
        return 0 if row is None or row[0] is None else int(row[0])

    def ack(self, seq: int, remote_tx: tuple[int, str] | None = None) -> None:
        """Delete an answered message; record the CSMS transaction id in the same commit.

        Acks are committed without their own fsync (synchronous=NORMAL for this commit; the
        next enqueue's fsync carries it): losing an ack to a power cut only resends the
        message with the same id (a duplicate the CSMS can drop), while losing an enqueue
        would lose the message, so enqueues stay FULL. This halves the fsyncs of a replay.
        A transaction id is recorded durably (FULL): later messages need it.
        """
        try:
            if remote_tx is None:
                self._db.execute("PRAGMA synchronous=NORMAL")
            with self._db:
                self._db.execute("BEGIN")
                if remote_tx is not None:
                    self._db.execute("UPDATE tx SET remote_id = ? WHERE local_id = ?",
                                     (remote_tx[1], remote_tx[0]))
                self._db.execute("DELETE FROM queue WHERE seq = ?", (seq,))
        except sqlite3.Error as exc:
            raise StoreError(f"ack failed: {exc}") from exc
        finally:
            self._db.execute("PRAGMA synchronous=FULL")

    def queued_for_tx(self, tx_local: int | None) -> int:
        """Queued (unacknowledged) messages of one transaction, or of any (None)."""
        if tx_local is None:
            row = self._exec("SELECT COUNT(*) FROM queue WHERE tx_local IS NOT NULL").fetchone()
        else:
            row = self._exec("SELECT COUNT(*) FROM queue WHERE tx_local = ?",
                             (tx_local,)).fetchone()
        return int(row[0]) if row else 0

    def __len__(self) -> int:
        row = self._exec("SELECT COUNT(*) FROM queue").fetchone()
        return int(row[0]) if row else 0

    # ------------------------------------------------------------------ transactions
    def open_tx(self, connector_id: int, id_tag: str, meter_wh: float, timestamp: str) -> int:
        cur = self._exec(
            "INSERT INTO tx (remote_id, connector_id, id_tag, meter_start_wh, last_meter_wh,"
            " last_timestamp, open) VALUES (NULL, ?, ?, ?, ?, ?, 1)",
            (connector_id, id_tag, meter_wh, meter_wh, timestamp),
        )
        if cur.lastrowid is None:
            raise StoreError("insert returned no row id")
        return cur.lastrowid

    def set_remote_id(self, local_id: int, remote_id: str) -> None:
        self._exec("UPDATE tx SET remote_id = ? WHERE local_id = ?", (remote_id, local_id))

    def note_meter(self, local_id: int, meter_wh: float, timestamp: str) -> None:
        """Journal the latest DC meter reading without an fsync of its own.

        It survives a process crash (kill -9: the WAL frame is in the OS), and the next
        durable commit carries it to disk; a power cut may lose at most the readings since
        the last durable commit (the last MeterValues sample, which is journaled with its
        enqueue). One fsync per second of charging would cost the flash more than it saves.
        """
        try:
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(
                "UPDATE tx SET last_meter_wh = ?, last_timestamp = ? WHERE local_id = ?",
                (meter_wh, timestamp, local_id))
        except sqlite3.Error as exc:
            raise StoreError(f"meter journal failed: {exc}") from exc
        finally:
            self._db.execute("PRAGMA synchronous=FULL")

    def close_tx(self, local_id: int) -> None:
        self._exec("UPDATE tx SET open = 0 WHERE local_id = ?", (local_id,))

    def tx(self, local_id: int) -> TxRecord | None:
        row = self._exec(
            "SELECT local_id, remote_id, connector_id, id_tag, meter_start_wh, last_meter_wh,"
            " last_timestamp FROM tx WHERE local_id = ?", (local_id,)).fetchone()
        return None if row is None else _tx(row)

    def open_transactions(self) -> list[TxRecord]:
        rows = self._exec(
            "SELECT local_id, remote_id, connector_id, id_tag, meter_start_wh, last_meter_wh,"
            " last_timestamp FROM tx WHERE open = 1 ORDER BY local_id").fetchall()
        return [_tx(r) for r in rows]

    # ------------------------------------------------------------------ key/value
    def get(self, key: str) -> str | None:
        row = self._exec("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def keys(self, prefix: str) -> list[str]:
        """Keys with a non-empty value under `prefix` (an empty value means deleted)."""
        rows = self._exec("SELECT key FROM kv WHERE key LIKE ? AND value != ''",
                          (prefix + "%",)).fetchall()
        return [str(r[0]) for r in rows]

    def put(self, key: str, value: str) -> None:
        self._exec("INSERT INTO kv (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE"
                   " SET value = excluded.value", (key, value))


def _tx(row: tuple[Any, ...]) -> TxRecord:
    return TxRecord(int(row[0]), None if row[1] is None else str(row[1]), int(row[2]),
                    str(row[3]), float(row[4]), float(row[5]), str(row[6]))

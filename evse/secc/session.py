"""Session context and its persistence (ISO 15118-2 pause/resume).

After SessionStopReq(Pause) the car comes back (possibly after the station process
restarted) with SessionSetupReq carrying the old SessionID [V2G2-???: resume joins the old
session, OK_OldSessionJoined]. What must survive is small and serialisable: this module
holds it as JSON-ready dicts behind a `SessionStore` protocol. The store's I/O (a file) is
the station's business; `JsonFileSessionStore` is the plain implementation it can use.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

from evse.secc.env import AppProtocol, PaymentMethod


@dataclass(frozen=True, slots=True)
class PausedSession:
    session_id: bytes
    evccid: bytes
    protocol: AppProtocol
    payment: PaymentMethod
    authorized: bool
    paused_at_ns: int

    def to_json(self) -> dict[str, object]:
        d = asdict(self)
        d["session_id"] = self.session_id.hex()
        d["evccid"] = self.evccid.hex()
        d["protocol"] = self.protocol.value
        d["payment"] = self.payment.value
        return d

    @classmethod
    def from_json(cls, d: dict[str, object]) -> PausedSession:
        return cls(
            session_id=bytes.fromhex(str(d["session_id"])),
            evccid=bytes.fromhex(str(d["evccid"])),
            protocol=AppProtocol(str(d["protocol"])),
            payment=PaymentMethod(str(d["payment"])),
            authorized=bool(d["authorized"]),
            paused_at_ns=int(str(d["paused_at_ns"])),
        )


class SessionStore(Protocol):
    def save(self, session: PausedSession) -> None: ...

    def load(self, session_id: bytes) -> PausedSession | None: ...

    def discard(self, session_id: bytes) -> None: ...

    def clear(self) -> None: ...


#: Paused sessions a MemorySessionStore keeps (oldest dropped first): one connector has one
#: car, so more than a few can only be cars that paused and left unseen (no pilot board).
MAX_PAUSED_SESSIONS = 4


class MemorySessionStore:
    def __init__(self) -> None:
        self._d: dict[bytes, PausedSession] = {}

    def save(self, session: PausedSession) -> None:
        self._d.pop(session.session_id, None)
        self._d[session.session_id] = session
        while len(self._d) > MAX_PAUSED_SESSIONS:
            del self._d[next(iter(self._d))]

    def load(self, session_id: bytes) -> PausedSession | None:
        return self._d.get(session_id)

    def discard(self, session_id: bytes) -> None:
        self._d.pop(session_id, None)

    def clear(self) -> None:
        self._d.clear()


class JsonFileSessionStore:
    """One JSON file of paused sessions; written atomically (tmp + rename) on every change
    so a power cut leaves either the old or the new content."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _read(self) -> dict[str, dict[str, object]]:
        if not self.path.exists():
            return {}
        data = json.loads(self.path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError(f"{self.path}: not a session store")
        return data

    def _write(self, data: dict[str, dict[str, object]]) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, sort_keys=True), encoding="utf-8")
        tmp.replace(self.path)

    def save(self, session: PausedSession) -> None:
        data = self._read()
        data[session.session_id.hex()] = session.to_json()
        self._write(data)

    def load(self, session_id: bytes) -> PausedSession | None:
        d = self._read().get(session_id.hex())
        return None if d is None else PausedSession.from_json(d)

    def discard(self, session_id: bytes) -> None:
        data = self._read()
        if data.pop(session_id.hex(), None) is not None:
            self._write(data)

    def clear(self) -> None:
        if self._read():
            self._write({})

"""Local authorization: the local list, the authorization cache and the offline policy.

Why here and not in the chart: these are lookups, not states. The chart asks one question
(`decide_offline`, `pre_authorize`) and gets one verdict; OCPP 1.6 §3.5 and 2.0.1 C12-C14
say what the lookups are.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass

from evse.controller.config import ControllerConfig
from evse.controller.store import Store


class IdStatus(enum.Enum):
    """OCPP 1.6 AuthorizationStatus (2.0.1 AuthorizationStatusEnumType is a superset)."""

    ACCEPTED = "Accepted"
    BLOCKED = "Blocked"
    EXPIRED = "Expired"
    INVALID = "Invalid"
    CONCURRENT_TX = "ConcurrentTx"
    UNKNOWN = "Unknown"  # 2.0.1 only


@dataclass(frozen=True, slots=True)
class IdInfo:
    status: IdStatus
    expiry_unix_s: int | None = None
    #: 1.6 parentIdTag / 2.0.1 groupIdToken.idToken (C09 / C16): "" = none.
    parent_id: str = ""

    def accepted_at(self, now_unix_s: int) -> bool:
        if self.status is not IdStatus.ACCEPTED:
            return False
        return self.expiry_unix_s is None or now_unix_s < self.expiry_unix_s


@dataclass(frozen=True, slots=True)
class Verdict:
    accepted: bool
    offline: bool
    source: str  # local_list | cache | offline_unknown | csms | rejected
    info: IdInfo | None = None


def _dump(info: IdInfo) -> str:
    return json.dumps([info.status.value, info.expiry_unix_s, info.parent_id])


def _load(text: str) -> IdInfo:
    status, expiry, parent = json.loads(text)
    return IdInfo(IdStatus(status), expiry, parent)


class Authorizer:
    """Local list + cache (persisted in the store's key/value table)."""

    def __init__(self, config: ControllerConfig, store: Store) -> None:
        self.config = config
        self.store = store
        self.cache_enabled = config.authorization_cache_enabled
        self.list_enabled = config.local_auth_list_enabled
        self.local_authorize_offline = config.local_authorize_offline
        self.local_pre_authorize = config.local_pre_authorize
        self.allow_offline_unknown = config.allow_offline_tx_for_unknown_id

    # ------------------------------------------------------------------ local list
    @property
    def list_version(self) -> int:
        return int(self.store.get("auth.list_version") or "0")

    def list_entry(self, token: str) -> IdInfo | None:
        raw = self.store.get(f"auth.list.{token}")
        return None if raw is None else _load(raw)

    def update_list(self, version: int, full: bool, entries: dict[str, IdInfo | None]) -> None:
        """SendLocalList (1.6 §5.15): Full replaces, Differential adds/removes (None)."""
        if full:
            for key in self.store.keys("auth.list."):
                self.store.put(key, "")
        for token, info in entries.items():
            self.store.put(f"auth.list.{token}", "" if info is None else _dump(info))
        self.store.put("auth.list_version", str(version))

    # ------------------------------------------------------------------ cache
    def cache_put(self, token: str, info: IdInfo) -> None:
        if self.cache_enabled:
            self.store.put(f"auth.cache.{token}", _dump(info))

    def cache_entry(self, token: str) -> IdInfo | None:
        raw = self.store.get(f"auth.cache.{token}")
        return None if not raw else _load(raw)

    def clear_cache(self) -> None:
        for key in self.store.keys("auth.cache."):
            self.store.put(key, "")

    # ------------------------------------------------------------------ decisions
    def lookup(self, token: str) -> IdInfo | None:
        """What the local list or the cache knows of a token (None: nothing)."""
        return self._local(token)[0]

    def _local(self, token: str) -> tuple[IdInfo | None, str]:
        if self.list_enabled:
            raw = self.store.get(f"auth.list.{token}")
            if raw:
                return _load(raw), "local_list"
        if self.cache_enabled:
            entry = self.cache_entry(token)
            if entry is not None:
                return entry, "cache"
        return None, ""

    def pre_authorize(self, token: str, now_unix_s: int) -> Verdict | None:
        """Online: LocalPreAuthorize lets a known-good token start without waiting."""
        if not self.local_pre_authorize:
            return None
        info, source = self._local(token)
        if info is not None and info.accepted_at(now_unix_s):
            return Verdict(True, False, source, info)
        return None

    def decide_offline(self, token: str, now_unix_s: int) -> Verdict:
        """The CSMS cannot be asked: local list/cache, then AllowOfflineTxForUnknownId."""
        info, source = self._local(token)
        if info is not None:
            ok = self.local_authorize_offline and info.accepted_at(now_unix_s)
            return Verdict(ok, True, source if ok else "rejected", info)
        if self.allow_offline_unknown:
            return Verdict(True, True, "offline_unknown", None)
        return Verdict(False, True, "rejected", None)

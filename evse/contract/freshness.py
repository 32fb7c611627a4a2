"""Latest value of every received signal, judged by the validity the definition gives it.

Why: each side must act on the *fallback* of a signal that is missing or stale (the
controller reports the connector Unavailable when plc.v2g_phase stops arriving, holds the
meter when meas.dc_output does; the PLC's own rules live in `guard`). This cache makes
"stale" mean exactly what signals.yaml says, for either side, with no clock of its own.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TypeVar

from evse.contract.definition import DEFINITION, Direction, FallbackAction, ValidityMode
from evse.contract.events import PortEvent, SignalReceived
from evse.contract.values import Role, SignalValue

_V = TypeVar("_V")
_NS_PER_MS = 1_000_000
_INBOUND = {Role.PLC: Direction.CTRL_TO_PLC, Role.CONTROLLER: Direction.PLC_TO_CTRL}


class Freshness(enum.Enum):
    FRESH = "fresh"
    STALE = "stale"
    MISSING = "missing"


@dataclass(frozen=True, slots=True)
class Sample:
    value: SignalValue
    rx_ns: int


@dataclass(frozen=True, slots=True)
class StaleSignal:
    """A signal that needs its fallback now."""

    name: str
    freshness: Freshness
    fallback: FallbackAction


class SignalCache:
    """What one side (`role`) has received, with the definition's validity applied."""

    def __init__(self, role: Role) -> None:
        self.role = role
        self._inbound = [s for s in DEFINITION.signals.values()
                         if s.direction is _INBOUND[role]]
        self._samples: dict[str, Sample] = {}

    def update(self, event: PortEvent) -> None:
        if isinstance(event, SignalReceived):
            self._samples[event.value.SIGNAL] = Sample(event.value, event.rx_ns)

    def reset_session(self) -> None:
        """A session ended: session-scoped values no longer apply."""
        for s in self._inbound:
            if s.validity.mode is ValidityMode.SESSION:
                self._samples.pop(s.name, None)

    def sample(self, name: str) -> Sample | None:
        return self._samples.get(name)

    def latest(self, cls: type[_V]) -> _V | None:
        found = self._samples.get(getattr(cls, "SIGNAL", ""))
        return found.value if found is not None and isinstance(found.value, cls) else None

    def valid_until_ns(self, name: str) -> int | None:
        """End of validity of the held value; None if it does not expire by time."""
        held = self._samples.get(name)
        if held is None:
            return None
        validity = DEFINITION.signals[name].validity
        if validity.mode is ValidityMode.TTL and validity.ttl_ns is not None:
            return held.rx_ns + validity.ttl_ns
        if validity.mode is ValidityMode.FIELD and validity.field is not None:
            ttl_ms: int = getattr(held.value, validity.field)
            return held.rx_ns + ttl_ms * _NS_PER_MS
        return None

    def freshness(self, name: str, now_ns: int) -> Freshness:
        if name not in self._samples:
            return Freshness.MISSING
        until = self.valid_until_ns(name)
        return Freshness.STALE if until is not None and now_ns >= until else Freshness.FRESH

    def stale(self, now_ns: int) -> list[StaleSignal]:
        """Time-bounded inbound signals (ttl/field validity) that are missing or stale."""
        out: list[StaleSignal] = []
        for s in self._inbound:
            if s.validity.mode not in (ValidityMode.TTL, ValidityMode.FIELD):
                continue
            state = self.freshness(s.name, now_ns)
            if state is not Freshness.FRESH:
                out.append(StaleSignal(s.name, state, s.fallback.action))
        return out

    def next_expiry_ns(self) -> int | None:
        times = [t for t in (self.valid_until_ns(n) for n in self._samples) if t is not None]
        return min(times) if times else None

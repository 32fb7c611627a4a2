"""Charging profiles -> the limit envelope and schedule the PLC needs.

Stacking rules (OCPP 1.6 §3.13.2-3.13.4, 2.0.1 K01/K08): within one purpose the valid
profile with the highest stackLevel wins; a TxProfile of the running transaction replaces
the TxDefaultProfile; ChargePointMaxProfile caps the result. Limits in A cap the DC output
current, limits in W its power; a composite in the other unit is converted at
`NOMINAL_VOLTAGE_V`.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from evse.controller.errors import CsmsProtocolError

#: A<->W conversion for GetCompositeSchedule in the other unit. 400 V is the usual nominal
#: DC-link of 400 V-class EVs (reference hardware.md: 150-1000 V output range); a W limit is
#: what DC chargers are normally given, so this only matters for A-based CSMS profiles.
NOMINAL_VOLTAGE_V = 400.0
#: Horizon of the schedule handed to the PLC (ISO 15118-2 SAScheduleTuple covers 24 h).
SCHEDULE_HORIZON_S = 86_400
_WEEK_S = 7 * 86_400


class Purpose(enum.Enum):
    MAX = "ChargePointMaxProfile"  # 2.0.1: ChargingStationMaxProfile
    TX_DEFAULT = "TxDefaultProfile"
    TX = "TxProfile"
    #: 2.0.1 only: a limit from outside the CSMS (an EMS, the grid operator) that the station
    #: itself installs (K11-K13); like ChargingStationMaxProfile it caps the result.
    EXTERNAL = "ChargingStationExternalConstraints"


#: 2.0.1 ChargingProfilePurposeEnumType -> Purpose (1.6 uses the enum values themselves).
PURPOSE_201 = {"ChargingStationMaxProfile": Purpose.MAX, "TxDefaultProfile": Purpose.TX_DEFAULT,
               "TxProfile": Purpose.TX,
               "ChargingStationExternalConstraints": Purpose.EXTERNAL}
PURPOSE_201_NAME = {v: k for k, v in PURPOSE_201.items()}


@dataclass(frozen=True, slots=True)
class Period:
    start_s: int
    limit: float


@dataclass(frozen=True, slots=True)
class Profile:
    profile_id: int
    connector_id: int
    stack_level: int
    purpose: Purpose
    kind: str  # Absolute | Recurring | Relative
    recurrency: str | None  # Daily | Weekly
    valid_from_s: int | None
    valid_to_s: int | None
    unit: str  # A | W
    start_schedule_s: int | None
    duration_s: int | None
    periods: tuple[Period, ...]
    transaction_id: str | None = None
    #: The ChargingProfileType as the CSMS sent it (2.0.1): GetChargingProfiles (K09)
    #: reports the profile itself, not our reading of it.
    raw: dict[str, Any] | None = field(default=None, compare=False)
    #: 2.0.1 ChargingLimitSourceEnumType: CSO for a CSMS profile, EMS/SO/Other for an
    #: external limit (K09 ReportChargingProfiles groups by it).
    source: str = "CSO"

    def limit_at(self, t_s: int, tx_start_s: int | None) -> float | None:
        if self.valid_from_s is not None and t_s < self.valid_from_s:
            return None
        if self.valid_to_s is not None and t_s >= self.valid_to_s:
            return None
        start = self._start(t_s, tx_start_s)
        if start is None or t_s < start:
            return None
        offset = t_s - start
        if self.duration_s is not None and offset >= self.duration_s:
            return None
        limit: float | None = None
        for period in self.periods:
            if period.start_s <= offset:
                limit = period.limit
        return limit

    def _start(self, t_s: int, tx_start_s: int | None) -> int | None:
        if self.kind == "Relative":
            return tx_start_s if tx_start_s is not None else None
        if self.start_schedule_s is None:
            return self.valid_from_s if self.kind == "Absolute" else None
        if self.kind == "Recurring":
            period = _WEEK_S if self.recurrency == "Weekly" else 86_400
            if t_s < self.start_schedule_s:
                return None
            return self.start_schedule_s + (t_s - self.start_schedule_s) // period * period
        return self.start_schedule_s

    def breakpoints(self, t0: int, t1: int, tx_start_s: int | None) -> set[int]:
        points = {p for p in (self.valid_from_s, self.valid_to_s) if p is not None}
        starts: list[int] = []
        if self.kind == "Recurring" and self.start_schedule_s is not None:
            period = _WEEK_S if self.recurrency == "Weekly" else 86_400
            k0 = max(0, (t0 - self.start_schedule_s) // period)
            s = self.start_schedule_s + k0 * period
            while s < t1:
                starts.append(s)
                s += period
        else:
            s0 = self._start(t0, tx_start_s)
            if s0 is not None:
                starts.append(s0)
        for s in starts:
            points.update(s + p.start_s for p in self.periods)
            if self.duration_s is not None:
                points.add(s + self.duration_s)
        return {p for p in points if t0 < p < t1}


def parse_time(text: str) -> int:
    try:
        return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())
    except ValueError as exc:
        raise CsmsProtocolError("PropertyConstraintViolation", f"bad date-time {text!r}") from exc


def _opt_time(payload: dict[str, Any], key: str) -> int | None:
    value = payload.get(key)
    return None if value is None else parse_time(str(value))


def profile_from_16(connector_id: int, p: dict[str, Any]) -> Profile:
    sched = p["chargingSchedule"]
    return _profile(connector_id, p, p["chargingProfileId"], sched,
                    None if p.get("transactionId") is None else str(p["transactionId"]))


def profile_from_201(evse_id: int, p: dict[str, Any], source: str = "CSO") -> Profile:
    sched = p["chargingSchedule"][0]
    try:
        purpose = PURPOSE_201[str(p["chargingProfilePurpose"])]
    except KeyError as exc:
        raise CsmsProtocolError("NotSupported", f"purpose {p['chargingProfilePurpose']}") \
            from exc
    return _profile(evse_id, p, p["id"], sched,
                    None if p.get("transactionId") is None else str(p["transactionId"]),
                    purpose, raw=p, source=source)


def _profile(connector_id: int, p: dict[str, Any], pid: Any, sched: dict[str, Any],
             tx_id: str | None, purpose: Purpose | None = None, *,
             raw: dict[str, Any] | None = None, source: str = "CSO") -> Profile:
    if purpose is None:
        try:
            purpose = Purpose(str(p["chargingProfilePurpose"]))
        except ValueError as exc:
            raise CsmsProtocolError("NotSupported",
                                    f"purpose {p['chargingProfilePurpose']}") from exc
    periods = tuple(sorted((Period(int(x["startPeriod"]), float(x["limit"]))
                            for x in sched["chargingSchedulePeriod"]), key=lambda q: q.start_s))
    return Profile(
        profile_id=int(pid), connector_id=connector_id, stack_level=int(p["stackLevel"]),
        purpose=purpose, kind=str(p["chargingProfileKind"]),
        recurrency=p.get("recurrencyKind"), valid_from_s=_opt_time(p, "validFrom"),
        valid_to_s=_opt_time(p, "validTo"), unit=str(sched["chargingRateUnit"]),
        start_schedule_s=_opt_time(sched, "startSchedule"),
        duration_s=None if sched.get("duration") is None else int(sched["duration"]),
        periods=periods, transaction_id=tx_id, raw=raw, source=source)


@dataclass(frozen=True, slots=True)
class Caps:
    current_a: float | None
    power_w: float | None


@dataclass(frozen=True, slots=True)
class CompositePeriod:
    start_s: int
    current_a: float | None
    power_w: float | None


class LimitSource(enum.Enum):
    """2.0.1 ChargingLimitSourceEnumType without CSO (the CSMS's own profiles)."""

    EMS = "EMS"
    SO = "SO"  # system operator (grid)
    OTHER = "Other"


#: Profile ids of the external limits: far above what a CSMS numbers its profiles with, one
#: per source, so GetChargingProfiles reports them with an id the CSMS will not reuse.
EXTERNAL_PROFILE_ID_BASE = 2_000_000_000


@dataclass(frozen=True, slots=True)
class ExternalLimit:
    """A charging limit from outside the CSMS (K11/K12): an energy-management system, the
    grid operator. `periods` count from the moment it is set; unit A or W like a profile.
    One per source: setting a source again updates its limit."""

    source: LimitSource
    periods: tuple[Period, ...]
    unit: str = "W"
    evse_id: int = 0
    grid_critical: bool | None = None

    def __post_init__(self) -> None:
        if self.unit not in ("A", "W") or not self.periods or self.periods[0].start_s != 0 \
                or any(q.limit < 0 for q in self.periods):
            raise ValueError("an external limit needs unit A or W and periods from offset 0 "
                             "with limits >= 0")

    @property
    def profile_id(self) -> int:
        return EXTERNAL_PROFILE_ID_BASE + list(LimitSource).index(self.source)

    def profile_201(self, start: str) -> dict[str, Any]:
        """The limit as a 2.0.1 ChargingProfileType (purpose
        ChargingStationExternalConstraints), starting at `start`."""
        return {
            "id": self.profile_id, "stackLevel": list(LimitSource).index(self.source),
            "chargingProfilePurpose": PURPOSE_201_NAME[Purpose.EXTERNAL],
            "chargingProfileKind": "Absolute",
            "chargingSchedule": [{
                "id": self.profile_id, "startSchedule": start, "chargingRateUnit": self.unit,
                "chargingSchedulePeriod": [{"startPeriod": q.start_s, "limit": q.limit}
                                           for q in self.periods]}]}


def dump_profiles(profiles: Sequence[Profile]) -> str:
    """The profiles as JSON for the store (K01/K07: the CSMS's profiles survive a
    restart, so an offline start still follows them)."""
    rows = []
    for p in profiles:
        rows.append({
            "id": p.profile_id, "connector": p.connector_id, "level": p.stack_level,
            "purpose": p.purpose.value, "kind": p.kind, "recurrency": p.recurrency,
            "valid_from": p.valid_from_s, "valid_to": p.valid_to_s, "unit": p.unit,
            "start": p.start_schedule_s, "duration": p.duration_s,
            "periods": [[q.start_s, q.limit] for q in p.periods],
            "tx": p.transaction_id, "raw": p.raw, "source": p.source})
    return json.dumps(rows, separators=(",", ":"))


def load_profiles(text: str) -> list[Profile]:
    """`dump_profiles` back; a damaged record is a ValueError (the caller starts empty)."""
    try:
        return [Profile(int(r["id"]), int(r["connector"]), int(r["level"]),
                        Purpose(r["purpose"]), str(r["kind"]), r["recurrency"],
                        r["valid_from"], r["valid_to"], str(r["unit"]), r["start"],
                        r["duration"],
                        tuple(Period(int(a), float(b)) for a, b in r["periods"]),
                        r["tx"], r["raw"], str(r["source"]))
                for r in json.loads(text)]
    except (KeyError, TypeError) as exc:
        raise ValueError(f"stored profiles: {exc}") from None


class ProfileStore:
    """Installed profiles of one connector (and the station-wide ones on connector 0)."""

    def __init__(self) -> None:
        self.profiles: dict[int, Profile] = {}
        #: Called after every change (the core persists the CSMS's profiles with it).
        self.on_change: Callable[[], None] | None = None

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()

    def install(self, profile: Profile) -> None:
        # A profile with the same id, or the same purpose+stackLevel, replaces the old one.
        for pid, old in list(self.profiles.items()):
            if pid == profile.profile_id or (
                old.purpose is profile.purpose and old.stack_level == profile.stack_level
                and old.connector_id == profile.connector_id
            ):
                del self.profiles[pid]
        self.profiles[profile.profile_id] = profile
        self._changed()

    def clear(self, *, profile_id: int | None = None, purpose: Purpose | None = None,
              stack_level: int | None = None, connector_id: int | None = None,
              external: bool = False) -> int:
        """Remove the profiles that match; returns how many.

        A profile id names one profile, so with `profile_id` the other criteria are not
        applied (1.6 §5.5 / 2.0.1 K10: "either a specific charging profile (denoted by id)
        or a selection ... that match the optional connectorId/evseId, stackLevel and
        chargingProfilePurpose"). The external limits (Purpose.EXTERNAL) belong to the
        system that set them (K13 releases them), so a CSMS clear (`external=False`)
        never removes one."""
        removed = [
            pid for pid, p in self.profiles.items()
            if (p.purpose is Purpose.EXTERNAL) == external
            and (pid == profile_id if profile_id is not None else (
                (purpose is None or p.purpose is purpose)
                and (stack_level is None or p.stack_level == stack_level)
                and (connector_id is None or p.connector_id == connector_id)))
        ]
        for pid in removed:
            del self.profiles[pid]
        if removed:
            self._changed()
        return len(removed)

    def drop_tx_profiles(self) -> None:
        """TxProfiles live only as long as their transaction (1.6 §3.13.3)."""
        self.clear(purpose=Purpose.TX)

    def caps_at(self, t_s: int, tx_start_s: int | None, tx_id: str | None) -> Caps:
        best: dict[Purpose, Profile] = {}
        external: list[Profile] = []
        for p in self.profiles.values():
            if p.purpose is Purpose.TX and (tx_id is None or
                                            (p.transaction_id not in (None, tx_id))):
                continue
            if p.limit_at(t_s, tx_start_s) is None:
                continue
            if p.purpose is Purpose.EXTERNAL:
                external.append(p)  # every external limit caps (one per source)
                continue
            cur = best.get(p.purpose)
            if cur is None or p.stack_level > cur.stack_level:
                best[p.purpose] = p
        chosen = [best[Purpose.MAX], *external] if Purpose.MAX in best else external
        if Purpose.TX in best:
            chosen.append(best[Purpose.TX])
        elif Purpose.TX_DEFAULT in best:
            chosen.append(best[Purpose.TX_DEFAULT])
        amps: float | None = None
        watts: float | None = None
        for p in chosen:
            limit = p.limit_at(t_s, tx_start_s)
            assert limit is not None
            if p.unit == "A":
                amps = limit if amps is None else min(amps, limit)
            else:
                watts = limit if watts is None else min(watts, limit)
        return Caps(amps, watts)

    def composite(self, t0_s: int, duration_s: int, tx_start_s: int | None,
                  tx_id: str | None) -> list[CompositePeriod]:
        t1 = t0_s + duration_s
        points = {t0_s}
        for p in self.profiles.values():
            points |= p.breakpoints(t0_s, t1, tx_start_s)
        out: list[CompositePeriod] = []
        for t in sorted(points):
            caps = self.caps_at(t, tx_start_s, tx_id)
            period = CompositePeriod(t - t0_s, caps.current_a, caps.power_w)
            if out and (out[-1].current_a, out[-1].power_w) == (caps.current_a, caps.power_w):
                continue
            out.append(period)
        return out


def limit_in_unit(period: CompositePeriod, unit: str, hw_current_a: float,
                  hw_power_w: float) -> float:
    """One number for a composite period in the requested unit (min of both caps)."""
    amps = hw_current_a if period.current_a is None else min(hw_current_a, period.current_a)
    watts = hw_power_w if period.power_w is None else min(hw_power_w, period.power_w)
    if unit == "A":
        return round(min(amps, watts / NOMINAL_VOLTAGE_V), 1)
    return round(min(watts, amps * NOMINAL_VOLTAGE_V), 1)


class _Entry(Protocol):
    @property
    def start_offset_s(self) -> int: ...
    @property
    def max_power_w(self) -> float: ...
    @property
    def max_current_a(self) -> float | None: ...


def _steps(t0_s: int, entries: Sequence[_Entry], from_s: int) -> list[tuple[int, float,
                                                                          float | None]]:
    out: list[tuple[int, float, float | None]] = []
    for e in sorted(entries, key=lambda e: e.start_offset_s):
        t = t0_s + e.start_offset_s
        value = (e.max_power_w, e.max_current_a)
        if t <= from_s:
            out = [(from_s, *value)]
        elif not out or (out[-1][1], out[-1][2]) != value:
            out.append((t, *value))
    return out


def same_schedule(old_t0_s: int, old: Sequence[_Entry], new_t0_s: int,
                  new: Sequence[_Entry]) -> bool:
    """Do two schedules (offsets from their own start instants) allow the same power and
    current over time from the newer one's start on? Decides whether a republished schedule
    keeps its id (the SAScheduleTupleID the car holds) or gets a new one: an id names a
    schedule's value, so the PLC renegotiates only on a real change (issue 11 item 5). The
    horizon's end is not compared (both cover SCHEDULE_HORIZON_S from their start)."""
    return _steps(old_t0_s, old, new_t0_s) == _steps(new_t0_s, new, new_t0_s)

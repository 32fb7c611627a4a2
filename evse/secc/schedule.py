"""The schedule the car is offered and holds on to: what the SECC offers at
ChargeParameterDiscovery, whether a newer controller schedule differs from it in value, and
whether the car's ChargingProfile fits it. Pure functions on `evse.secc.env.Schedule`.

Why a value comparison: the controller republishes its schedule (with a new id) at moments
where nothing changed for the car (transaction start). The car must be asked to renegotiate
(EVSENotification ReNegotiation) only when the power it may draw over time changed, never
because an identifier changed (issue 11 item 5).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from evse.contract.limits import EvseLimits
from evse.secc.env import Schedule, ScheduleEntry
from evse.secc.units import to_float

NS_PER_S = 1_000_000_000
#: How far apart two step starts may be and still count as the same step. PMaxSchedule
#: starts are whole seconds (RelativeTimeIntervalType start is xs:unsignedInt, ISO 15118-2
#: Table 66), the controller computes them from its whole-second clock, and the SECC notes a
#: new schedule at its next look at the station (the next request of the car, a fraction of
#: a second in the CurrentDemand loop); 1 s + 1 s covers both roundings.
ANCHOR_TOLERANCE_S = 2.0
#: Power difference below which two PMax values are the same (PhysicalValue resolution of
#: a W value with multiplier 0 is 1 W; a larger multiplier rounds coarser, see units.split).
POWER_TOLERANCE_W = 1.0
#: SAScheduleTupleID of the schedule the SECC builds itself (1..255, [V2G2-773]).
FALLBACK_TUPLE_ID = 1


@dataclass(frozen=True, slots=True)
class Offered:
    """A schedule as given to the car, with the instant its offsets count from."""

    schedule: Schedule
    anchor_ns: int


def offer(sched: Schedule | None, rated: EvseLimits, departure_s: int | None,
          default_duration_s: int) -> Schedule:
    """The one SAScheduleTuple offered at ChargeParameterDiscovery.

    The controller's schedule, or the rated power when it is late (P0 C8). Its intervals
    add up to the car's DepartureTime when it sent one [V2G2-303], else to 24 h
    (`default_duration_s`, [V2G2-304]); entries starting at or after the departure are not
    offered.
    """
    if sched is None or not sched.entries:
        base = Schedule(FALLBACK_TUPLE_ID, (ScheduleEntry(0, rated.max_power_w),),
                        default_duration_s)
    else:
        base = sched
    duration = departure_s if departure_s else default_duration_s
    entries = tuple(e for e in sorted(base.entries, key=lambda e: e.start_s)
                    if e.start_s < duration) or (ScheduleEntry(0, base.entries[0].max_power_w),)
    return Schedule(base.schedule_id, entries, duration)


def steps(sched: Schedule, anchor_ns: int, from_ns: int) -> list[tuple[float, float]]:
    """(absolute start in s, PMax in W) steps in force from `from_ns` on, equal
    neighbours merged: the power the schedule allows over time, independent of ids."""
    from_s = from_ns / NS_PER_S
    out: list[tuple[float, float]] = []
    for e in sorted(sched.entries, key=lambda e: e.start_s):
        t = anchor_ns / NS_PER_S + e.start_s
        if t <= from_s:
            out = [(from_s, e.max_power_w)]  # the latest entry already in force
            continue
        if out and abs(out[-1][1] - e.max_power_w) < POWER_TOLERANCE_W:
            continue
        out.append((t, e.max_power_w))
    return out


def same_in_value(a: Offered, b: Offered, now_ns: int) -> bool:
    """True when `b` allows the same power over time as `a` from now on."""
    sa, sb = steps(a.schedule, a.anchor_ns, now_ns), steps(b.schedule, b.anchor_ns, now_ns)
    if len(sa) != len(sb):
        return False
    return all(abs(pa - pb) < POWER_TOLERANCE_W and abs(ta - tb) <= ANCHOR_TOLERANCE_S
               for (ta, pa), (tb, pb) in zip(sa, sb, strict=True))


def pmax_at(sched: Schedule, t_s: float) -> float | None:
    """PMax in force `t_s` seconds after the schedule's start (None outside it)."""
    if t_s < 0 or t_s >= sched.duration_s:
        return None
    limit: float | None = None
    for e in sorted(sched.entries, key=lambda e: e.start_s):
        if e.start_s <= t_s:
            limit = e.max_power_w
    return limit


def profile_entries(profile: Any) -> list[tuple[int, float]]:
    """(start s, max power W) of each ProfileEntry of an ISO 15118-2 ChargingProfile: the
    form `profile_fits` judges and plc.ev_charging_profile carries."""
    return [(int(e.ChargingProfileEntryStart), to_float(e.ChargingProfileEntryMaxPower))
            for e in profile.ProfileEntry]


def profile_fits(sched: Schedule, profile: Sequence[tuple[float, float]]) -> bool:
    """Does the car's ChargingProfile ((start s, max power W) entries, each in force until
    the next) stay within the offered PMaxSchedule? [V2G2-224]: a profile within the PMax
    of the chosen SAScheduleTuple is accepted; [V2G2-225]: one above it is answered
    FAILED_ChargingProfileInvalid. Checked at every step of either; the part of a profile
    after the schedule's end is not covered by any PMax and is not judged (RiseV2G and
    EVerest do the same)."""
    entries = sorted(profile)
    if not entries:
        return True
    points = {t for t, _ in entries} | {
        float(e.start_s) for e in sched.entries if e.start_s >= entries[0][0]}
    for t in sorted(points):
        drawn = [p for start, p in entries if start <= t][-1]
        limit = pmax_at(sched, t)
        if limit is not None and drawn > limit + POWER_TOLERANCE_W:
            return False
    return True


def rebase(o: Offered, now_ns: int) -> Schedule:
    """The same power over time with offsets counted from `now_ns` (what the car is told
    at the ChargeParameterDiscoveryRes it gets now); entries already over are dropped."""
    now_s = now_ns / NS_PER_S
    entries = tuple(ScheduleEntry(max(0, round(t - now_s)), p)
                    for t, p in steps(o.schedule, o.anchor_ns, now_ns))
    return Schedule(o.schedule.schedule_id, entries or o.schedule.entries,
                    o.schedule.duration_s)

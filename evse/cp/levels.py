"""CP voltage plateaus -> IEC 61851-1 states, with hysteresis, diode check and debounce.

The bands are IEC 61851-1 Table A.4 as coded by chargebyte's Tarragon driver
(reference/hardware.md §4.1): each state has a detection band and a hysteresis band in
which the previous state is kept. The negative plateau of the PWM low phase must be about
-12 V; if it is missing (EV diode shorted) the EVSE must treat it as state E
(IEC 61851-1 Annex A, "diode check").
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class CpLevel(enum.Enum):
    A = "A"  # +12 V, no vehicle
    B = "B"  # +9 V, vehicle connected
    C = "C"  # +6 V, vehicle ready
    D = "D"  # +3 V, vehicle ready, ventilation required
    E = "E"  # 0 V, CP shorted / no supply
    F = "F"  # -12 V, EVSE not available
    INVALID = "INVALID"  # outside every band (pilot fault)
    DIODE_FAULT = "DIODE_FAULT"  # PWM low phase not negative: EV diode missing/shorted


#: Upper limit of a plausible high plateau (Table A.4: > 13 V is a pilot fault).
CP_MAX_VALID_V = 13.0
#: The negative plateau must be below this while PWM runs, else the EV diode is missing
#: (YetiSimulator: diode fault when hi + lo ~ 0; Table A.4 F band starts at -11 V... -10 V).
DIODE_CHECK_MAX_LOW_V = -10.0

# (state, lower bound of its detection band, lower bound of its hysteresis band), from the
# top. Between `hyst_low` and `low` the previous state is kept if it was this state,
# otherwise the next lower state applies. Table A.4 as coded by chargebyte.
_BANDS: tuple[tuple[CpLevel, float, float], ...] = (
    (CpLevel.A, 11.0, 10.0),
    (CpLevel.B, 8.0, 7.0),
    (CpLevel.C, 5.0, 4.0),
    (CpLevel.D, 2.0, 1.0),
    (CpLevel.E, -1.0, -1.0),
)


def classify(high_v: float, low_v: float, *, pwm_on: bool, previous: CpLevel) -> CpLevel:
    """Map one CP sample to a level. `previous` is the last debounced level (hysteresis)."""
    if high_v > CP_MAX_VALID_V:
        return CpLevel.INVALID
    if high_v < -1.0:
        # Negative high plateau: the EVSE drives F (or the CP is stuck negative).
        if -13.0 <= high_v < -11.0 or (previous is CpLevel.F and high_v < -10.0):
            return CpLevel.F
        return CpLevel.INVALID
    level = CpLevel.E
    for state, low, hyst_low in _BANDS:
        if high_v >= low:
            level = state
            break
        if high_v >= hyst_low:
            level = state if previous is state else _next_lower(state)
            break
    if pwm_on and level in (CpLevel.B, CpLevel.C, CpLevel.D) and low_v > DIODE_CHECK_MAX_LOW_V:
        return CpLevel.DIODE_FAULT
    return level


def _next_lower(state: CpLevel) -> CpLevel:
    order = [CpLevel.A, CpLevel.B, CpLevel.C, CpLevel.D, CpLevel.E]
    return order[order.index(state) + 1]


@dataclass(slots=True)
class Debouncer:
    """Report a level only after `samples` consecutive identical classifications.

    With the 10 ms sampling of the CP component and 3 samples, a change is recognised
    20-30 ms after it happens, which leaves most of the 100 ms of IEC 61851-1 Table A.6
    seq. 8.1 for withdrawing power and opening the contactors.
    """

    samples: int
    stable: CpLevel = CpLevel.A
    _candidate: CpLevel = CpLevel.A
    _count: int = 0

    def feed(self, level: CpLevel) -> CpLevel | None:
        """Feed one classification; return the new stable level when it changes."""
        if level is self.stable:
            self._candidate = level
            self._count = 0
            return None
        if level is self._candidate:
            self._count += 1
        else:
            self._candidate = level
            self._count = 1
        if self._count >= self.samples:
            self.stable = level
            self._count = 0
            return level
        return None

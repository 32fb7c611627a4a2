"""PhysicalValue <-> float: the standards' (Value, Multiplier) pair with an int16 Value."""

from __future__ import annotations

from typing import Any

INT16_MIN = -32768
INT16_MAX = 32767


def split(value: float) -> tuple[int, int]:
    """(value, multiplier) with the finest multiplier in -3..3 whose value fits int16.

    Raises ValueError when even 10^3 cannot hold it (our own bug: limits are bounded).
    """
    for mult in range(-3, 4):
        v = round(value / (10.0**mult))
        if INT16_MIN <= v <= INT16_MAX:
            return v, mult
    raise ValueError(f"{value} does not fit a PhysicalValue")


def to_float(pv: Any) -> float:
    """Float of a decoded PhysicalValueType (any schema)."""
    return float(pv.Value) * (10.0 ** int(pv.Multiplier))

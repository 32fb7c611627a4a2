"""Port for the DC energy meter that OCPP meter values and the CurrentDemandRes come from."""

from __future__ import annotations

import abc
from dataclasses import dataclass


class MeterError(Exception):
    """Root of the meter driver errors."""


@dataclass(frozen=True, slots=True)
class MeterReading:
    """One sample; energy is the register since the meter was created (import direction)."""

    voltage_v: float
    current_a: float
    energy_wh: float
    timestamp_ns: int


class DcMeter(abc.ABC):
    @abc.abstractmethod
    def poll(self, now_ns: int) -> list[MeterReading]:
        """Return the readings taken since the last poll (at least the one for `now_ns`)."""

    @abc.abstractmethod
    def sample(self, now_ns: int) -> MeterReading | None:
        """The freshest reading for this instant, for the control loop's snapshot: a meter
        that samples on demand (the simulated one) takes one now; a polled bus meter
        services its link and returns the reading completed since the last call, or None
        (no new reading: the power path's meter_stale bound runs on)."""

    @abc.abstractmethod
    def next_deadline_ns(self) -> int | None:
        """When `poll` must run next at the latest."""

    @property
    @abc.abstractmethod
    def last(self) -> MeterReading | None:
        """Most recent reading, or None before the first."""

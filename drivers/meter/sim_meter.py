"""Simulated DC meter at the connector: reads the plant, adds bounded error, keeps an energy
register (issue 6 item 3; OCPP meter values come from here)."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from evse.ports.meter import DcMeter, MeterReading

#: 50 Hz sampling: the top of the 20-50 Hz measurement rate (ccs2_dc_reference.md B4 item 12).
SAMPLE_PERIOD_NS = 20_000_000
#: Accuracy band, gain part and offset part [assumed: typical DC meter class 0.5 figures].
VOLTAGE_GAIN_ERROR = 0.005
VOLTAGE_OFFSET_ERROR_V = 0.5
CURRENT_GAIN_ERROR = 0.005
CURRENT_OFFSET_ERROR_A = 0.2
_J_PER_WH = 3600.0


@dataclass(frozen=True, slots=True)
class Accuracy:
    voltage_gain: float = VOLTAGE_GAIN_ERROR
    voltage_offset_v: float = VOLTAGE_OFFSET_ERROR_V
    current_gain: float = CURRENT_GAIN_ERROR
    current_offset_a: float = CURRENT_OFFSET_ERROR_A

    def voltage_tolerance_v(self, true_v: float) -> float:
        return abs(true_v) * self.voltage_gain + self.voltage_offset_v

    def current_tolerance_a(self, true_a: float) -> float:
        return abs(true_a) * self.current_gain + self.current_offset_a


class SimDcMeter(DcMeter):
    def __init__(
        self,
        truth: Callable[[], tuple[float, float]],
        rng: random.Random,
        accuracy: Accuracy = Accuracy(),
        sample_period_ns: int = SAMPLE_PERIOD_NS,
    ) -> None:
        self._truth = truth
        self._rng = rng
        self.accuracy = accuracy
        self._period_ns = sample_period_ns
        self._next_ns: int | None = None
        self._energy_j = 0.0
        self._last_true: tuple[float, float, int] | None = None
        self._last: MeterReading | None = None

    @property
    def last(self) -> MeterReading | None:
        return self._last

    def next_deadline_ns(self) -> int | None:
        return self._next_ns

    def read(self, now_ns: int) -> MeterReading:
        """Sample now (the control loop takes its snapshot with this)."""
        v, i = self._truth()
        if self._last_true is not None:
            v0, i0, t0 = self._last_true
            # The import register (evse/ports/meter.py): power flowing back from the car
            # (the battery into the module discharge path, modules off, contacts closed)
            # does not count down what was delivered.
            self._energy_j += (max(0.0, v0 * i0) + max(0.0, v * i)) / 2 * (now_ns - t0) * 1e-9
        self._last_true = (v, i, now_ns)
        a = self.accuracy
        # Stay strictly inside the band: the error is drawn from 90 % of it.
        v_err = self._rng.uniform(-0.9, 0.9) * a.voltage_tolerance_v(v)
        i_err = self._rng.uniform(-0.9, 0.9) * a.current_tolerance_a(i)
        self._last = MeterReading(v + v_err, i + i_err, self._energy_j / _J_PER_WH, now_ns)
        return self._last

    def sample(self, now_ns: int) -> MeterReading | None:
        return self.read(now_ns)

    def poll(self, now_ns: int) -> list[MeterReading]:
        if self._next_ns is not None and now_ns < self._next_ns:
            return []
        self._next_ns = now_ns + self._period_ns
        return [self.read(now_ns)]

"""Fallback meter: integrates V x I from whatever measurement the power path has.

Documented fallback for stations without a DC meter: not legal-for-trade, its accuracy is that
of the module read-back it integrates (issue 6 item 3).
"""

from __future__ import annotations

from evse.ports.meter import DcMeter, MeterError, MeterReading

_J_PER_WH = 3600.0


class VoltageCurrentIntegrator(DcMeter):
    def __init__(self) -> None:
        self._energy_j = 0.0
        self._last: MeterReading | None = None
        self._pending: list[MeterReading] = []

    @property
    def last(self) -> MeterReading | None:
        return self._last

    def feed(self, voltage_v: float, current_a: float, now_ns: int) -> None:
        """Add one sample; trapezoidal integration between consecutive samples."""
        last = self._last
        if last is not None:
            if now_ns < last.timestamp_ns:
                raise MeterError(f"sample at {now_ns} ns is older than {last.timestamp_ns} ns")
            # Import register (evse/ports/meter.py): reverse power does not count down.
            self._energy_j += ((max(0.0, last.voltage_v * last.current_a)
                                + max(0.0, voltage_v * current_a)) / 2
                               * (now_ns - last.timestamp_ns) * 1e-9)
        self._last = MeterReading(voltage_v, current_a, self._energy_j / _J_PER_WH, now_ns)
        self._pending.append(self._last)

    def sample(self, now_ns: int) -> MeterReading | None:
        fed = self.poll(now_ns)
        return fed[-1] if fed else None

    def poll(self, now_ns: int) -> list[MeterReading]:
        out, self._pending = self._pending, []
        return out

    def next_deadline_ns(self) -> int | None:
        return None

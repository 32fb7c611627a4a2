"""Load models on the connector side of the contactors (hardware.md §6.2 "Load model").

Every load is linear: a capacitance plus a conductance to an EMF, so the plant can integrate
it implicitly at any step size.
"""

from __future__ import annotations

import abc
import bisect

#: Cable plus inlet capacitance seen with nothing else attached [assumed].
CABLE_CAPACITANCE_F = 1e-6
#: EV inlet capacitance with the EV contactors open (precharge load) [assumed].
EV_INLET_CAPACITANCE_F = 200e-6
#: Short-circuit test resistor: the CableCheck rule is defined for R <= 110 Ohm (hardware.md §2.5).
SHORT_CIRCUIT_RESISTANCE_OHM = 100.0
#: Pack of 96 NMC cells in series, about 55 kWh [assumed reference vehicle].
BATTERY_SERIES_CELLS = 96
BATTERY_CAPACITY_AH = 150.0
BATTERY_INTERNAL_RESISTANCE_OHM = 0.1
#: Cell open-circuit voltage versus SOC, typical NMC curve [assumed, smooth enough for control].
NMC_CELL_OCV_TABLE: tuple[tuple[float, float], ...] = (
    (0.0, 3.00), (0.05, 3.40), (0.10, 3.50), (0.30, 3.62), (0.50, 3.72),
    (0.70, 3.87), (0.90, 4.05), (1.00, 4.18),
)


class Load(abc.ABC):
    @abc.abstractmethod
    def capacitance_f(self) -> float: ...

    @abc.abstractmethod
    def conductance_s(self) -> float: ...

    @abc.abstractmethod
    def emf_v(self) -> float: ...

    def integrate(self, current_a: float, dt_s: float) -> None:  # noqa: B027
        """Account for `current_a` flowing in through the conductance for `dt_s`."""
        return None


class OpenCircuit(Load):
    def __init__(self, capacitance_f: float = CABLE_CAPACITANCE_F) -> None:
        self._c = capacitance_f

    def capacitance_f(self) -> float:
        return self._c

    def conductance_s(self) -> float:
        return 0.0

    def emf_v(self) -> float:
        return 0.0


class ShortCircuit(OpenCircuit):
    def __init__(self, resistance_ohm: float = SHORT_CIRCUIT_RESISTANCE_OHM) -> None:
        super().__init__()
        self._g = 1.0 / resistance_ohm

    def conductance_s(self) -> float:
        return self._g


class Battery:
    """SOC-dependent OCV plus R_int; SOC follows the charge that flows in."""

    def __init__(
        self,
        soc: float = 0.2,
        series_cells: int = BATTERY_SERIES_CELLS,
        capacity_ah: float = BATTERY_CAPACITY_AH,
        internal_resistance_ohm: float = BATTERY_INTERNAL_RESISTANCE_OHM,
        ocv_table: tuple[tuple[float, float], ...] = NMC_CELL_OCV_TABLE,
    ) -> None:
        self.soc = soc
        self.series_cells = series_cells
        self.capacity_ah = capacity_ah
        self.internal_resistance_ohm = internal_resistance_ohm
        self._soc_points = [p[0] for p in ocv_table]
        self._ocv_points = [p[1] for p in ocv_table]

    def ocv_v(self) -> float:
        soc = min(max(self.soc, 0.0), 1.0)
        i = bisect.bisect_right(self._soc_points, soc)
        if i >= len(self._soc_points):
            return self._ocv_points[-1] * self.series_cells
        s0, s1 = self._soc_points[i - 1], self._soc_points[i]
        v0, v1 = self._ocv_points[i - 1], self._ocv_points[i]
        return (v0 + (v1 - v0) * (soc - s0) / (s1 - s0)) * self.series_cells

    def charge(self, current_a: float, dt_s: float) -> None:
        self.soc += current_a * dt_s / (self.capacity_ah * 3600.0)


class EvInlet(Load):
    """The EV behind the inlet: capacitance only until it closes its own contactors,
    then its battery (precharge load, then battery load; hardware.md §6.2 items 2 and 3)."""

    def __init__(
        self,
        battery: Battery | None = None,
        capacitance_f: float = EV_INLET_CAPACITANCE_F,
    ) -> None:
        self.battery = battery if battery is not None else Battery()
        self._c = capacitance_f
        self.ev_contactors_closed = False
        self.closed_at_delta_v: float | None = None

    def close_ev_contactors(self, inlet_voltage_v: float) -> None:
        self.closed_at_delta_v = abs(inlet_voltage_v - self.battery.ocv_v())
        self.ev_contactors_closed = True

    def open_ev_contactors(self) -> None:
        self.ev_contactors_closed = False

    def capacitance_f(self) -> float:
        return self._c

    def conductance_s(self) -> float:
        if not self.ev_contactors_closed:
            return 0.0
        return 1.0 / self.battery.internal_resistance_ohm

    def emf_v(self) -> float:
        return self.battery.ocv_v() if self.ev_contactors_closed else 0.0

    def integrate(self, current_a: float, dt_s: float) -> None:
        if self.ev_contactors_closed:
            self.battery.charge(current_a, dt_s)

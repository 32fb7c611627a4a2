"""A small traction-battery model for the EV simulator.

Open-circuit voltage linear in SOC between `v_empty_v` and `v_full_v` (good enough for the
charger's point of view: the target voltage rises slowly during the session), an internal
resistance that adds I*R to the terminal voltage, and a charge taper above `taper_soc_pct`.
The inlet capacitance decides how fast the EV side follows the charger's voltage during
PreCharge; the simulator reads the inlet voltage from the charger's physics instead, so it
only sets the tolerance of the "voltages match" check.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class Battery:
    capacity_wh: float = 77_000.0
    soc_pct: float = 30.0
    v_empty_v: float = 330.0
    v_full_v: float = 420.0
    r_internal_ohm: float = 0.08
    max_current_a: float = 200.0
    max_voltage_v: float = 450.0
    max_power_w: float = 150_000.0
    taper_soc_pct: float = 80.0
    target_soc_pct: float = 80.0
    inlet_capacitance_f: float = 300e-6

    def ocv_v(self) -> float:
        return self.v_empty_v + (self.v_full_v - self.v_empty_v) * self.soc_pct / 100.0

    def terminal_v(self, current_a: float) -> float:
        return self.ocv_v() + current_a * self.r_internal_ohm

    def wanted_current_a(self) -> float:
        if self.soc_pct >= self.target_soc_pct:
            return 0.0
        if self.soc_pct <= self.taper_soc_pct:
            return self.max_current_a
        frac = (100.0 - self.soc_pct) / (100.0 - self.taper_soc_pct)
        return max(5.0, self.max_current_a * frac)

    def charge(self, current_a: float, dt_ns: int) -> None:
        """Integrate `current_a` over `dt_ns` into the SOC."""
        wh = self.terminal_v(current_a) * current_a * dt_ns / 3.6e12
        self.soc_pct = min(100.0, self.soc_pct + 100.0 * wh / self.capacity_wh)

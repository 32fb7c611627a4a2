"""The DC path between the modules and the EV: module-side node, contactors, connector node.

Two capacitive nodes joined by the contactor. The modules feed the module-side node as a CV
source limited in current; loads hang on the connector node. Integrated with implicit Euler so
any step size stays stable (hardware.md §6.2: deterministic time, `step` from the clock).
"""

from __future__ import annotations

from collections.abc import Sequence

from drivers.sim.contactor import ContactorSim
from drivers.sim.loads import Load
from drivers.sim.module_stage import ModuleStage

#: Largest integration step; contactor and slew timing need millisecond resolution [assumed].
MAX_STEP_NS = 1_000_000
#: Module-side bleeder that is always there (voltage dividers of the measurement) [assumed].
MODULE_NODE_BLEED_OHM = 1_000_000.0


class DcPlant:
    def __init__(
        self,
        modules: Sequence[ModuleStage],
        contactor: ContactorSim,
        load: Load,
        *,
        max_step_ns: int = MAX_STEP_NS,
    ) -> None:
        self.modules = list(modules)
        self.contactor = contactor
        self.load = load
        self.max_step_ns = max_step_ns
        self.module_voltage_v = 0.0
        self.connector_voltage_v = 0.0
        self.connector_current_a = 0.0
        self.source_current_a = 0.0
        self._now_ns: int | None = None
        #: |V_module - V_connector| at each contactor closing (inrush indicator)
        self.close_deltas_v: list[float] = []
        #: (time, current through the contacts just before) at each opening: an opening
        #: under load wears or welds a DC contactor (only an emergency may do it).
        self.open_currents_a: list[tuple[int, float]] = []
        self._was_closed = False

    @property
    def now_ns(self) -> int:
        return self._now_ns or 0

    def step(self, now_ns: int) -> None:
        if self._now_ns is None:
            self._now_ns = now_ns
        while self._now_ns < now_ns:
            dt_ns = min(self.max_step_ns, now_ns - self._now_ns)
            self._now_ns += dt_ns
            self._substep(self._now_ns, dt_ns * 1e-9)

    def _substep(self, now_ns: int, dt_s: float) -> None:
        self.contactor.step(now_ns)
        for m in self.modules:
            m.check_comm(now_ns)
        closed = self.contactor.closed
        load = self.load
        c_mod = sum(m.params.output_capacitance_f for m in self.modules)
        g_mod = 1.0 / MODULE_NODE_BLEED_OHM + sum(
            1.0 / m.params.discharge_resistance_ohm for m in self.modules if not m.output_on)
        if closed and not self._was_closed:
            self.close_deltas_v.append(abs(self.module_voltage_v - self.connector_voltage_v))
            c_load = load.capacitance_f()
            merged = (c_mod * self.module_voltage_v + c_load * self.connector_voltage_v) / (
                c_mod + c_load)
            self.module_voltage_v = self.connector_voltage_v = merged
        if self._was_closed and not closed:
            self.open_currents_a.append((now_ns, abs(self.connector_current_a)))
        self._was_closed = closed

        v0 = self.module_voltage_v
        on = [m for m in self.modules if m.output_on]
        for m in self.modules:
            m.advance_reference(v0, dt_s)
        limits = [m.current_limit_a(v0) for m in on]
        i_limit = sum(lim for lim, _ in limits)
        v_target = sum(m.voltage_ref_v for m in on) / len(on) if on else 0.0

        if closed:
            c = c_mod + load.capacitance_f()
            g = g_mod + load.conductance_s()
            j = load.conductance_s() * load.emf_v()
        else:
            c, g, j = c_mod, g_mod, 0.0
        k = c / dt_s
        i_src = 0.0
        if on:
            needed = k * (v_target - v0) + g * v_target - j
            if 0.0 <= needed <= i_limit:
                v1, i_src = v_target, needed
            elif needed > i_limit:
                i_src = i_limit
                v1 = (k * v0 + i_src + j) / (k + g)
            else:
                v1 = (k * v0 + j) / (k + g)
        else:
            v1 = (k * v0 + j) / (k + g)
        saturated = bool(on) and i_src >= i_limit - 1e-9
        for m, (_, power_bound) in zip(on, limits):
            m.current_a = i_src / len(on)
            m.power_limited = saturated and power_bound
        for m in self.modules:
            if not m.output_on:
                m.current_a = 0.0
                m.power_limited = False
        self.source_current_a = i_src
        self.module_voltage_v = v1

        if closed:
            c_l, g_l = load.capacitance_f(), load.conductance_s()
            i_load_g = g_l * (v1 - load.emf_v())
            self.connector_current_a = i_load_g + c_l * (v1 - self.connector_voltage_v) / dt_s
            self.connector_voltage_v = v1
        else:
            c_l, g_l, e = load.capacitance_f(), load.conductance_s(), load.emf_v()
            kl = c_l / dt_s
            v_c = (kl * self.connector_voltage_v + g_l * e) / (kl + g_l)
            i_load_g = g_l * (v_c - e)
            self.connector_voltage_v = v_c
            self.connector_current_a = 0.0
        load.integrate(i_load_g, dt_s)

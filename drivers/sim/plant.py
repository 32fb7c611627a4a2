"""The DC path between the modules and the EV: module-side node, contactors, connector node.

Two capacitive nodes joined by the contactor. The modules feed the module-side node as a CV
source limited in current; loads hang on the connector node. Integrated with implicit Euler so
any step size stays stable (hardware.md §6.2: deterministic time, `step` from the clock).

The connector node has its own discharge: a resistor across the DC output on the cable side,
switched by a normally-closed contact that the main contactors' coil opens, so it is in
circuit exactly while the contactors are open (fail-safe: no coil power, discharged output).
Without it nothing discharges the cable and the car's inlet once both sides' contactors are
open: after a session the cable held the battery's voltage (357 V for as long as the car
stayed plugged), the car's WeldingDetection saw no fall, and a second cable check in the same
plug-in (ISO 15118-2 pause/resume) failed its < 60 V gate (hardware.md §2.5 step 1). The
module side's own discharge (ModuleStage.discharge_resistance_ohm) cannot reach the cable
through open contacts. The station's board must provide this path (docs/architecture.md).

Step sizes (issue 14 item 1). `fixed` (the reference): 1 ms implicit-Euler steps, contactor
and module-watchdog changes taking effect at the end of the millisecond they fall in.
`adaptive` (the default) integrates the same equations between events, stepping exactly to
every instant where the circuit changes:
- events inside a call (a contact touching or parting, a module's comm watchdog, a module
  reference reaching its setpoint at the end of its slew) end a step and take effect at
  their instant;
- with every module off the circuit is linear with constant coefficients (RC decay towards
  the battery EMF or zero) and is solved in closed form over the whole interval;
- with modules on, 1 ms implicit-Euler steps run after any change of the inputs (setpoints,
  on/off, contactor, load) until the solution is constant or a straight ramp (same regime,
  same source current, same voltage slope in two consecutive steps); from then on one step
  reaches the next event. Implicit Euler is exact for a constant or a linear ramp, and an
  RC approach to a CC equilibrium (tau ~ 0.2 ms with the battery connected) has settled
  before that test passes.
tests/power/test_plant_adaptive.py compares both modes on whole sessions.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from drivers.sim.contactor import ContactorSim
from drivers.sim.loads import Load
from drivers.sim.module_stage import ModuleStage

#: Largest integration step; contactor and slew timing need millisecond resolution [assumed].
MAX_STEP_NS = 1_000_000
#: Module-side bleeder that is always there (voltage dividers of the measurement) [assumed].
MODULE_NODE_BLEED_OHM = 1_000_000.0
#: Cable-side output discharge while the contactors are open [assumed]: tau 0.4 s on the
#: cable and inlet (1 uF + 200 uF, drivers/sim/loads.py), so 1000 V falls below 60 V in
#: 1.1 s and 400 V in 0.8 s (the 10 s of cable check step 1, fsm_specs/power_path.yaml
#: t_cc_voltage_gate, with a wide margin); a car still on its contactors is drawn 0.2 A at
#: 400 V until it opens them.
OUTPUT_DISCHARGE_OHM = 2_000.0
#: Adaptive mode: two fine steps agree this closely -> the solution is constant or a ramp
#: (1 mV of slope change per step, 1 mA of current change) [assumed; far below the meter's
#: 0.5 V / 0.2 A offset band, drivers/meter/sim_meter.py].
QUIET_DV_V = 1e-3
QUIET_DI_A = 1e-3

class DcPlant:
    def __init__(
        self,
        modules: Sequence[ModuleStage],
        contactor: ContactorSim,
        load: Load,
        *,
        max_step_ns: int = MAX_STEP_NS,
        adaptive: bool = True,
        output_discharge_ohm: float = OUTPUT_DISCHARGE_OHM,
    ) -> None:
        self.modules = list(modules)
        #: The cable-side discharge conductance, in circuit while the contactors are open.
        self.output_discharge_s = 1.0 / output_discharge_ohm
        #: False: the fixed-step reference integrator (every step max_step_ns).
        self.adaptive = adaptive
        #: Steps taken (for benches and tests).
        self.steps = 0
        self._quiet = False
        self._inputs: tuple[object, ...] | None = None
        self._left: tuple[float, float] = (0.0, 0.0)
        self._last_fine: tuple[int, float, float, float] | None = None
        self._regime = 0
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
        if not self.adaptive:
            while self._now_ns < now_ns:
                dt_ns = min(self.max_step_ns, now_ns - self._now_ns)
                self._now_ns += dt_ns
                self._events(self._now_ns)
                self._integrate(dt_ns * 1e-9, exact_off=False)
            return
        if (self.module_voltage_v, self.connector_voltage_v) != self._left:
            self._quiet = False  # someone set a node (the cable left the car)
        while self._now_ns < now_ns:
            t = self._now_ns
            self._events(t)
            inputs = self._input_signature()
            if inputs != self._inputs:
                self._inputs = inputs
                self._quiet = False
                self._last_fine = None
            end = now_ns
            nxt = self._next_event_ns(t)
            if nxt is not None and nxt < end:
                end = nxt
            on = any(m.output_on for m in self.modules)
            if not on:
                dt_ns = end - t  # linear, constant coefficients: closed form
            elif self._quiet:
                dt_ns = end - t
                ramp_end = self._ramp_end_ns(t)
                if ramp_end is not None and ramp_end < end:
                    dt_ns = ramp_end - t
            else:
                dt_ns = min(self.max_step_ns, end - t)
            v_before, regime_before = self.module_voltage_v, self._regime
            long_step = on and self._quiet
            self._now_ns = t + dt_ns
            self._integrate(dt_ns * 1e-9, exact_off=True)
            if long_step:
                if self._regime != regime_before:
                    # The long step changed regime (a ramp met its current limit): fine
                    # steps again from here.
                    self._quiet = False
                    self._last_fine = None
            elif on:
                dv = self.module_voltage_v - v_before
                fine = (self._regime, self.source_current_a, dv, self.connector_current_a)
                last = self._last_fine
                # Only a CV source may ramp through a long step (it follows its reference
                # exactly); current-limited or blocked, the node must have settled.
                self._quiet = (last is not None and dt_ns == self.max_step_ns
                               and last[0] == fine[0]
                               and (fine[0] == 1 or abs(dv) < QUIET_DV_V)
                               and abs(last[1] - fine[1]) < QUIET_DI_A
                               and abs(last[2] - fine[2]) < QUIET_DV_V
                               and abs(last[3] - fine[3]) < QUIET_DI_A)
                self._last_fine = fine if dt_ns == self.max_step_ns else None
        self._events(self._now_ns)
        self._left = (self.module_voltage_v, self.connector_voltage_v)

    def _input_signature(self) -> tuple[object, ...]:
        """What the integration depends on besides the node voltages and the slow battery
        EMF: module commands and state, contacts, the load's switches."""
        load = self.load
        sig: list[object] = [self.contactor.closed, load.capacitance_f(), load.conductance_s()]
        for m in self.modules:
            sig += (m.output_on, m.voltage_set_v, m.current_set_a, m.forced_voltage_v,
                    m.forced_current_a, m.params.slew_v_per_s)
        return tuple(sig)

    def _next_event_ns(self, after_ns: int) -> int | None:
        """The next instant after `after_ns` where the circuit changes by itself."""
        times = [t for t in (self.contactor.next_change_ns(),) if t is not None and t > after_ns]
        for m in self.modules:
            if m.last_rx_ns is not None and not m.comm_timed_out:
                times.append(m.last_rx_ns + m.params.comm_timeout_ns)
        future = [t for t in times if t > after_ns]
        return min(future) if future else None

    def _ramp_end_ns(self, now_ns: int) -> int | None:
        """When the first module reference still slewing reaches its setpoint."""
        best: int | None = None
        for m in self.modules:
            if not m.output_on:
                continue
            gap = abs(m.reference_target_v() - m.voltage_ref_v)
            if gap <= 0.0:
                continue
            t = now_ns + max(1, math.ceil(gap / m.params.slew_v_per_s * 1e9))
            best = t if best is None else min(best, t)
        return best

    def _events(self, now_ns: int) -> None:
        """Contacts and module watchdogs at `now_ns`; a closing merges the two nodes' charge
        (inrush), an opening is logged with the current it broke."""
        self.contactor.step(now_ns)
        for m in self.modules:
            m.check_comm(now_ns)
        closed = self.contactor.closed
        if closed and not self._was_closed:
            self.close_deltas_v.append(abs(self.module_voltage_v - self.connector_voltage_v))
            c_mod = sum(m.params.output_capacitance_f for m in self.modules)
            c_load = self.load.capacitance_f()
            merged = (c_mod * self.module_voltage_v + c_load * self.connector_voltage_v) / (
                c_mod + c_load)
            self.module_voltage_v = self.connector_voltage_v = merged
        if self._was_closed and not closed:
            self.open_currents_a.append((now_ns, abs(self.connector_current_a)))
        self._was_closed = closed

    def _integrate(self, dt_s: float, *, exact_off: bool) -> None:
        """One implicit-Euler step of `dt_s` with the circuit as it is now. `exact_off`:
        with every module off, the exact exponential instead (adaptive mode)."""
        self.steps += 1
        closed = self.contactor.closed
        load = self.load
        c_mod = sum(m.params.output_capacitance_f for m in self.modules)
        g_mod = 1.0 / MODULE_NODE_BLEED_OHM + sum(
            1.0 / m.params.discharge_resistance_ohm for m in self.modules if not m.output_on)
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
        i_src = 0.0
        if not on and exact_off:
            self._regime = 0
            v_inf = j / g
            decay = math.exp(-g * dt_s / c)
            v1 = v_inf + (v0 - v_inf) * decay
            for m in self.modules:
                m.voltage_ref_v = v1  # off, the reference tracks the bus (to its end)
        else:
            k = c / dt_s
            if on:
                needed = k * (v_target - v0) + g * v_target - j
                if 0.0 <= needed <= i_limit:
                    self._regime = 1
                    v1, i_src = v_target, needed
                elif needed > i_limit:
                    self._regime = 2
                    i_src = i_limit
                    v1 = (k * v0 + i_src + j) / (k + g)
                else:
                    self._regime = 3
                    v1 = (k * v0 + j) / (k + g)
            else:
                self._regime = 0
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

        c_l, g_l, e = load.capacitance_f(), load.conductance_s(), load.emf_v()
        if closed:
            i_load_g = g_l * (v1 - e)
            if not on and exact_off:
                # instantaneous at the end of the step: resistive part plus C_l dv/dt
                self.connector_current_a = i_load_g + c_l * (j - g * v1) / c
                i_load_g = g_l * (_mean(v0, v1, g * dt_s / c, v_inf) - e)
            else:
                self.connector_current_a = i_load_g + c_l * (
                    v1 - self.connector_voltage_v) / dt_s
            self.connector_voltage_v = v1
        else:
            # Open: the cable and inlet hold their charge against the car's battery (if its
            # contactors are closed) and the output discharge.
            vc0 = self.connector_voltage_v
            g_c = g_l + self.output_discharge_s
            v_c_inf = g_l * e / g_c
            if exact_off:
                x = g_c * dt_s / c_l
                v_c = v_c_inf + (vc0 - v_c_inf) * math.exp(-x)
                i_load_g = g_l * (_mean(vc0, v_c, x, v_c_inf) - e)
            else:
                kl = c_l / dt_s
                v_c = (kl * vc0 + g_l * e) / (kl + g_c)
                i_load_g = g_l * (v_c - e)
            self.connector_voltage_v = v_c
            self.connector_current_a = 0.0
        load.integrate(i_load_g, dt_s)


def _mean(v0: float, v1: float, x: float, v_inf: float) -> float:
    """Mean over a step of an exponential from v0 to v1 towards v_inf, x = dt / tau."""
    if x < 1e-9:
        return (v0 + v1) / 2
    return v_inf + (v0 - v_inf) * (1.0 - math.exp(-x)) / x

"""Simulated charger board: a virtual EV on the pilot and a safety MCU with contactors.

The physics that matter for the CP chart, each a parameter with its source:
- the EV selects its state by resistor (A open, B 2.74 kOhm, C 882 Ohm, D 246 Ohm, E short)
  and has a diode; the board reads the high plateau with uniform noise (+/-0.3 V,
  reference/hardware.md §6.2) and the low plateau (-12 V with the diode, ~ -high without);
- the MCU interlock (hardware.md §4.6): contactors close only when Linux allows power, the
  EV is in C/D, PWM runs, the keep-alive is fresh and the e-stop is released; it opens them
  by itself within `mcu_reaction_ns` when any of these goes away;
- contactor feedback follows the coil after a delay (20-50 ms, hardware.md §6.2), with
  injectable welding (never opens) and not-closing faults;
- the e-stop cuts the coil supply in hardware at once.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from evse.ports.board import (
    Board,
    BoardEvent,
    BoardFault,
    BoardFaultKind,
    ContactorFeedback,
    CpOutputMode,
    CpSample,
    EStopChanged,
    PpChanged,
    PpState,
)

MS = 1_000_000


class EvCpState(enum.Enum):
    """What the virtual EV presents on the pilot."""

    A = "A"  # not connected
    B = "B"  # 2.74 kOhm
    C = "C"  # 882 Ohm
    D = "D"  # 246 Ohm
    E = "E"  # CP shorted to PE


#: Nominal high plateau per EV state with a +12 V source (IEC 61851-1 Table A.4 nominal).
_NOMINAL_HIGH_V = {
    EvCpState.A: 12.0,
    EvCpState.B: 9.0,
    EvCpState.C: 6.0,
    EvCpState.D: 3.0,
    EvCpState.E: 0.0,
}


@dataclass
class SimBoardParams:
    noise_v: float = 0.3  # hardware.md §6.2 "noise of about +/-0.3 V"
    contactor_close_ns: int = 30 * MS  # hardware.md §6.2: feedback after 20-50 ms
    contactor_open_ns: int = 20 * MS
    keepalive_timeout_ns: int = 3_000 * MS  # MCU fail-safe after 3 missed 1 Hz keep-alives
    mcu_reaction_ns: int = 10 * MS  # MCU interlock reaction (one PWM-synchronous check)


class PhysicalContactor(Protocol):
    """A contactor model shared with the DC plant (drivers.sim.contactor.ContactorSim), so
    that the board's coil and the power physics act on one and the same contact."""

    closed: bool
    feedback_closed: bool
    welded: bool

    def command(self, closed: bool, now_ns: int) -> None: ...

    def step(self, now_ns: int) -> None: ...


class SimBoard(Board):
    """A `Board` backend with a virtual EV and MCU physics, driven by an injected clock."""

    def __init__(
        self,
        clock: Callable[[], int],
        rng: random.Random,
        params: SimBoardParams | None = None,
        *,
        contactor: PhysicalContactor | None = None,
    ) -> None:
        self._clock = clock
        #: When given, the coil drives this shared contactor model instead of the built-in one.
        self._ext = contactor
        self._rng = rng
        self.p = params or SimBoardParams()
        self.ev_state = EvCpState.A
        self.ev_diode_ok = True
        self.output = CpOutputMode.X1
        self.duty_permille = 1000
        self.allow = False
        self.estop = False
        self.welded = False
        self.fail_to_close = False
        self.pp = PpState.DISCONNECTED
        self.last_keepalive_ns = clock()
        self.keepalive_lost = False
        self.coil_on = False
        self.contact_closed = False
        self._contact_change_at: int | None = None
        self._interlock_break_at: int | None = None
        self._pending: list[BoardEvent] = []
        # Log of (time, closed) of the real contact, for tests that check bounds.
        self.contact_log: list[tuple[int, bool]] = []

    # --- Board port ----------------------------------------------------------------------
    def set_cp_output(self, mode: CpOutputMode, duty_permille: int = 1000) -> None:
        self.output = mode
        self.duty_permille = duty_permille

    def allow_power_on(self, allowed: bool) -> None:
        self.allow = allowed

    def keep_alive(self) -> None:
        self.last_keepalive_ns = self._clock()
        self.keepalive_lost = False

    def reset_fault(self) -> bool:
        # The simulated MCU physics latch nothing: the keep-alive timeout clears with the
        # next keep-alive (as EVerest Yeti's does), so a reset has nothing to wait for.
        return True

    def poll(self, now_ns: int) -> list[BoardEvent]:
        self._step(now_ns)
        out = self._pending
        self._pending = []
        high, low = self._plateaus()
        out.append(CpSample(high, low, now_ns))
        return out

    # --- the virtual world -----------------------------------------------------------------
    def set_ev_state(self, state: EvCpState) -> None:
        # The plug's PP resistor comes and goes with the plug (A <-> plugged), not with
        # the car's own B/C/D changes: a PP opened by `set_pp` stays open while the car
        # switches S2.
        plugging = (state is EvCpState.A) != (self.ev_state is EvCpState.A)
        self.ev_state = state
        if plugging:
            self.set_pp(PpState.DISCONNECTED if state is EvCpState.A else PpState.CONNECTED)

    def set_pp(self, state: PpState) -> None:
        """The proximity circuit reads `state` (a pulled or unlatched plug, a broken PP
        wire); the board reports the change at its next poll."""
        if state is not self.pp:
            self.pp = state
            self._pending.append(PpChanged(state, self._clock()))

    def press_estop(self) -> None:
        self.estop = True
        now = self._clock()
        self._pending.append(EStopChanged(True, now))
        self._coil(False, now, immediate=True)

    def release_estop(self) -> None:
        self.estop = False
        self._pending.append(EStopChanged(False, self._clock()))

    def _plateaus(self) -> tuple[float, float]:
        noise = self.p.noise_v
        if self.output is CpOutputMode.F:
            v = -12.0 + self._rng.uniform(-noise, noise)
            return v, v
        high = _NOMINAL_HIGH_V[self.ev_state] + self._rng.uniform(-noise, noise)
        if self.output is CpOutputMode.X1:
            return high, high
        if self.ev_state in (EvCpState.A, EvCpState.E) or self.ev_diode_ok:
            low = -12.0 + self._rng.uniform(-noise, noise)
            if self.ev_state is EvCpState.E:
                low = high
        else:
            low = -high
        return high, low

    def _interlock_ok(self, now_ns: int) -> bool:
        return (
            self.allow
            and not self.estop
            and not self.keepalive_lost
            and self.output is CpOutputMode.PWM
            and self.ev_state in (EvCpState.C, EvCpState.D)
        )

    def _step(self, now_ns: int) -> None:
        silent_ns = now_ns - self.last_keepalive_ns
        if not self.keepalive_lost and silent_ns > self.p.keepalive_timeout_ns:
            self.keepalive_lost = True
            self._pending.append(BoardFault(BoardFaultKind.KEEPALIVE_TIMEOUT, now_ns))
        want = self._interlock_ok(now_ns)
        if want and not self.coil_on:
            self._interlock_break_at = None
            self._coil(True, now_ns)
        elif not want and self.coil_on:
            # Linux withdrawing permission acts at once; an interlock the MCU detects itself
            # (EV left C, keep-alive lost) takes one MCU reaction time.
            if not self.allow:
                self._coil(False, now_ns)
            else:
                if self._interlock_break_at is None:
                    self._interlock_break_at = now_ns
                if now_ns - self._interlock_break_at >= self.p.mcu_reaction_ns:
                    self._coil(False, now_ns)
        self._step_contact_only(now_ns)

    def _coil(self, on: bool, now_ns: int, *, immediate: bool = False) -> None:
        self.coil_on = on
        if self._ext is not None:
            self._ext.command(on, now_ns)
            return
        delay = self.p.contactor_close_ns if on else self.p.contactor_open_ns
        self._contact_change_at = now_ns + (0 if immediate else delay)
        if immediate:
            self._step_contact_only(now_ns)

    def _step_contact_only(self, now_ns: int) -> None:
        ext = self._ext
        if ext is not None:
            ext.step(now_ns)
            if ext.feedback_closed != self.contact_closed:
                self.contact_closed = ext.feedback_closed
                self.contact_log.append((now_ns, self.contact_closed))
                self._pending.append(ContactorFeedback(self.contact_closed, now_ns))
            return
        at = self._contact_change_at
        if at is None or now_ns < at:
            return
        self._contact_change_at = None
        target = (self.coil_on and not self.fail_to_close) or (not self.coil_on and self.welded)
        if target != self.contact_closed:
            self.contact_closed = target
            self.contact_log.append((at, target))
            self._pending.append(ContactorFeedback(target, at))

    def next_deadline_ns(self) -> int | None:
        return self._contact_change_at

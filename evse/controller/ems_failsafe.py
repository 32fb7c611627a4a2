"""The EMS input's fail-safe, run by fsm_specs/ems_failsafe.yaml (EEBus UC LPC failsafe).

Sans-IO: the owner (`EmsFailsafe`) gets `now_ns` and events from its adapter
(evse/runtime/ems_input.py, which keeps the UDP socket and calls `heard` for every valid
datagram) and its timers from the injected `TimerService` (the station's scheduler). When
the fail-safe limit applies, when it is released and when the EMS takes over again is the
chart's; this module holds only the chart's named callbacks (`EmsFailsafeHandler`) and the
state the adapter and the tests read back through the chart's tags.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from evse.controller.external_limits import EmsCommand
from evse.fsm import Event, Machine, MachineSpec, TimerService, load_spec
from evse.fsm.engine import TraceSink

NS_PER_S = 1_000_000_000
SPEC_FILE = Path(__file__).resolve().parents[2] / "fsm_specs" / "ems_failsafe.yaml"
_SPEC: MachineSpec | None = None

#: Where the fail-safe's warnings go unless the owner is given a logger.
_log = logging.getLogger(__name__)


def ems_failsafe_spec() -> MachineSpec:
    """fsm_specs/ems_failsafe.yaml, loaded and validated once per process."""
    global _SPEC
    if _SPEC is None:
        _SPEC = load_spec(SPEC_FILE)
    return _SPEC


class EmsFailsafeHandler:
    """Named callbacks of fsm_specs/ems_failsafe.yaml. Public methods are exactly the
    chart's callback names (tests/test_evse_cli.py checks it)."""

    def __init__(self, owner: EmsFailsafe) -> None:
        self._o = owner

    def apply_failsafe(self, ev: Event) -> None:
        """Entry of `failsafe`: the EMS was silent for t_failsafe, its fail-safe limit
        applies (LPC failsafe state; K11/K12 downstream)."""
        o = self._o
        cmd = o.failsafe
        o.log.warning("ems udp_json: no datagram for %.0f s, fail-safe limit %.0f %s",
                      o.param_s("t_failsafe"), cmd.limit or 0.0, cmd.unit)
        o.trace.record("ems", "failsafe", {"limit": cmd.limit, "unit": cmd.unit})
        o.deliver(cmd, ev.at_ns)

    def end_failsafe(self, ev: Event) -> None:
        """The EMS spoke during the fail-safe (LPC-916): traced; the adapter delivers the
        datagram's own limit right after, which replaces the fail-safe limit."""
        self._o.trace.record("ems", "failsafe_end", {})

    def release_failsafe(self, ev: Event) -> None:
        """Entry of `autonomous` (LPC-922): the fail-safe limit is released, the station
        is unlimited until the EMS speaks (K13 ClearedChargingLimit downstream)."""
        o = self._o
        o.log.warning("ems udp_json: silent for the fail-safe's minimum %.0f s, limit released",
                      o.param_s("t_failsafe_min"))
        o.trace.record("ems", "failsafe_released", {})
        o.deliver(EmsCommand(None, o.failsafe.unit, o.failsafe.source), ev.at_ns)

    def held_until_heard(self, ev: Event) -> bool:
        """t_failsafe_min 0 (config ems.failsafe_duration_min_s 0): the fail-safe is never
        released by silence, only ended by the EMS speaking."""
        return self._o.param_s("t_failsafe_min") <= 0


class EmsFailsafe:
    """One EMS input's fail-safe: the chart, its handler and what it delivers. Started when
    the input starts (LPC: after a power-up the station waits one timeout for the energy
    manager), fed `heard` for every valid message, closed when the input closes."""

    def __init__(
        self,
        failsafe: EmsCommand,
        deliver: Callable[[EmsCommand, int], None],
        *,
        timers: TimerService,
        trace: TraceSink,
        param_overrides: dict[str, float] | None = None,
        log: logging.Logger | None = None,
    ) -> None:
        #: The command delivered when the fail-safe applies (its unit and source are also
        #: those of the release).
        self.failsafe = failsafe
        self.deliver = deliver
        self.trace = trace
        #: The adapter's logger, so the operator's log names the input as before.
        self.log = log or _log
        spec = ems_failsafe_spec()
        self._machine = Machine(spec, EmsFailsafeHandler(self), timers=timers, trace=trace,
                                name="ems_failsafe", param_overrides=param_overrides)
        self._tags = {st.path: frozenset(spec.tags_of(st.path)) for st in spec.iter_states()}
        self._started = False

    def param_s(self, name: str) -> float:
        """A chart param in seconds, with its config override."""
        return self._machine.param_ns(name) / NS_PER_S

    @property
    def state(self) -> str:
        return self._machine.state

    def _has(self, tag: str) -> bool:
        return self._started and tag in self._tags[self._machine.state]

    @property
    def in_failsafe(self) -> bool:
        """The fail-safe limit is in force (chart tag `failsafe`)."""
        return self._has("failsafe")

    @property
    def autonomous(self) -> bool:
        """Released after its minimum duration, the EMS still silent (tag `autonomous`,
        LPC-918..920: left only when the EMS speaks)."""
        return self._has("autonomous")

    def start(self, now_ns: int) -> None:
        self._machine.start(now_ns)
        self._started = True

    def heard(self, now_ns: int) -> None:
        """A valid message arrived: the heartbeat (ends a fail-safe, restarts the timer)."""
        self._machine.dispatch(Event("heard", None, now_ns), now_ns)

    def close(self, now_ns: int) -> None:
        """The input closes: the chart's timers are cancelled (nothing acts afterwards).
        A fail-safe never started has nothing to cancel."""
        if self._started and not self._has("closed"):
            self._machine.dispatch(Event("closed", None, now_ns), now_ns)

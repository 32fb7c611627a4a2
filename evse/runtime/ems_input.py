"""The station's external-limit input (`ems:` in the station config; OCPP 2.0.1 K11-K13).

The drivers, picked by `ems.driver` like the other ports' drivers:

* `sim`: `ems.steps` fire at their scenario times (`at_s` after the station started), on
  the station's scheduler, so a virtual-time scenario is deterministic.
* `udp_json`: a non-blocking UDP socket on `ems.bind:ems.port`, polled every
  `UDP_POLL_PERIOD_NS` on the scheduler (never a wait on the network); each datagram is
  one message (`evse/controller/external_limits.py`: why this format); a malformed one is
  logged and dropped. Every valid datagram is the heartbeat of the fail-safe
  (fsm_specs/ems_failsafe.yaml, EEBus LPC's failsafe state, run by
  `evse.controller.ems_failsafe.EmsFailsafe` on this scheduler): silence longer than
  `ems.failsafe_timeout_s` applies the fail-safe limit until the next valid datagram, or
  until `ems.failsafe_duration_min_s` releases it. Those two keys are the chart's params
  `t_failsafe` and `t_failsafe_min` (`failsafe_params`).

Either way the command goes to the controller side's `ems_command` (the in-process
`OcppSide`, or `ExternalOcppSide`, which hands it to the websocket client's thread): the
controller installs the limit as a ChargingStationExternalConstraints profile, tells the
CSMS (NotifyChargingLimit, and ChargingRateChanged during a transaction) and publishes the
lower limit to the PLC, so the car's current drops.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable
from typing import Protocol

from evse.controller.ems_failsafe import EmsFailsafe
from evse.controller.external_limits import (
    MAX_DATAGRAM_BYTES,
    EmsCommand,
    EmsInputError,
    parse_datagram,
)
from evse.controller.smart_charging import LimitSource
from evse.runtime.config import EmsSection
from evse.runtime.scheduler import Scheduler

log = logging.getLogger(__name__)
NS_PER_S = 1_000_000_000
#: How often the UDP socket is read: 100 ms, well inside the limits' refresh period (1 s,
#: ControllerConfig.limits_period_s) and cheap (one non-blocking recv).
UDP_POLL_PERIOD_NS = 100_000_000
#: Datagrams read per poll at most (a flood cannot starve the station's loop).
UDP_MAX_PER_POLL = 16


def failsafe_params(section: EmsSection) -> dict[str, float]:
    """The config keys as the overrides of fsm_specs/ems_failsafe.yaml's params (the
    chart holds the timers; the config only chooses their values)."""
    return {"t_failsafe": section.failsafe_timeout_s,
            "t_failsafe_min": section.failsafe_duration_min_s}


class EmsTarget(Protocol):
    def ems_command(self, cmd: EmsCommand, now_ns: int) -> None: ...


class EmsInput:
    """One `ems:` input feeding one controller side."""

    def __init__(self, section: EmsSection, sched: Scheduler, target: EmsTarget) -> None:
        self.section = section
        self.sched = sched
        self.target = target
        self.source = LimitSource(section.source)
        self._sock: socket.socket | None = None
        #: Datagrams refused (malformed), for the operator and tests.
        self.refused: list[str] = []
        #: Commands delivered to the controller, in order.
        self.delivered: list[EmsCommand] = []
        #: udp_json's fail-safe (None: sim, or failsafe_timeout_s 0, no watchdog at all).
        self.watchdog: EmsFailsafe | None = None
        if section.driver == "udp_json" and section.failsafe_timeout_s > 0:
            self.watchdog = EmsFailsafe(
                EmsCommand(section.failsafe_limit, section.failsafe_unit, self.source),
                self._deliver, timers=sched, trace=sched.trace,
                param_overrides=failsafe_params(section), log=log)

    def start(self) -> None:
        """Arm the sim steps, or open the UDP socket (OSError: the port is taken)."""
        if self.section.driver == "sim":
            t0 = self.sched.now_ns()  # scenario time counts from the station's start
            for step in self.section.steps:
                self.sched.call_at(t0 + round(step.at_s * NS_PER_S),
                                   self._step(EmsCommand(step.limit, step.unit, self.source)),
                                   "ems.step")
        elif self.section.driver == "udp_json":
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.setblocking(False)
            try:
                sock.bind((self.section.bind, self.section.port))
            except OSError:
                sock.close()
                raise
            self._sock = sock
            self.sched.call_every(UDP_POLL_PERIOD_NS, self._poll, "ems.udp")
            if self.watchdog is not None:
                self.watchdog.start(self.sched.now_ns())

    def _step(self, cmd: EmsCommand) -> Callable[[int], None]:
        return lambda now_ns: self._deliver(cmd, now_ns)

    @property
    def address(self) -> tuple[str, int] | None:
        """Where the UDP input listens (port 0 in the config: the one the system chose)."""
        return None if self._sock is None else self._sock.getsockname()

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
            if self.watchdog is not None:
                self.watchdog.close(self.sched.now_ns())

    def _poll(self, now_ns: int) -> None:
        sock = self._sock
        if sock is None:
            return
        for _ in range(UDP_MAX_PER_POLL):
            try:
                data = sock.recv(MAX_DATAGRAM_BYTES + 1)
            except BlockingIOError:
                return
            except OSError as exc:
                log.warning("ems udp_json: %s", exc)
                return
            try:
                cmd = parse_datagram(data, self.source)
            except EmsInputError as exc:
                self.refused.append(str(exc))
                log.warning("ems udp_json: datagram refused: %s", exc)
                continue
            if self.watchdog is not None:
                self.watchdog.heard(now_ns)
            self._deliver(cmd, now_ns)

    def _deliver(self, cmd: EmsCommand, now_ns: int) -> None:
        self.delivered.append(cmd)
        self.sched.trace.record("ems", "limit", {"limit": cmd.limit, "unit": cmd.unit,
                                                 "source": cmd.source.value})
        self.target.ems_command(cmd, now_ns)

"""Chargers and cars over the simulated powerline, in virtual time: for the tests and the bench.

A tiny event loop: it jumps to the earliest of the cores' deadlines, the medium's next
delivery and scheduled pilot changes, feeds what is due, and routes each core's `SendFrame`
into the medium. It plays the pilot core for the EVSE (`EfRetryRequested` -> E for T_step_EF,
then B with 5 % PWM again, and the car restarts SLAC) and the car's B/C toggles for CM_VALIDATE.
No clock is read: time only moves when the loop jumps.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from drivers.homeplug.sim import ModemBehaviour, PowerlineMedium, SimStation
from evse.slac.ev import EvOutput, EvSlac, EvTiming, EvToggleRequest
from evse.slac.evse_core import EvseSlac, PilotState
from evse.slac.evse_handler import SlacConfig
from evse.slac.outputs import EfRetryRequested, Output, SendFrame

# B/C toggle half-period for CM_VALIDATE: ISO 15118-3 TP_EV_vald_state_duration 200-400 ms
# (timing.md §2).
TOGGLE_HALF_PERIOD_NS = 300_000_000


@dataclass(slots=True)
class Node:
    name: str
    station: SimStation
    evse: EvseSlac | None = None
    ev: EvSlac | None = None
    log: list[tuple[int, object]] = field(default_factory=list)
    connector: str | None = None  # for a car: the charger whose cable it is on

    def next_deadline_ns(self) -> int | None:
        if self.evse is not None:
            return self.evse.next_deadline_ns()
        assert self.ev is not None
        return self.ev.next_deadline_ns()

    def of_type(self, kind: type) -> list[tuple[int, object]]:
        return [(t, o) for t, o in self.log if isinstance(o, kind)]


class VirtualSlac:
    def __init__(self, seed: int = 0, *, line_delay_ns: int | None = None) -> None:
        self.seed = seed
        kwargs = {} if line_delay_ns is None else {"line_delay_ns": line_delay_ns}
        self.medium = PowerlineMedium(random.Random(seed + 1), **kwargs)
        self.nodes: dict[str, Node] = {}
        self.now_ns = 0
        self._actions: list[tuple[int, int, Callable[[int], None]]] = []
        self._seq = 0

    # ------------------------------------------------------------------ building
    def add_evse(
        self,
        name: str,
        mac: bytes,
        *,
        config: SlacConfig | None = None,
        behaviour: ModemBehaviour | None = None,
        echo_own: bool = False,
        param_overrides: dict[str, float] | None = None,
    ) -> EvseSlac:
        modem_mac = b"\x00\x01\x87" + mac[3:]
        st = self.medium.attach(name, mac, modem_mac, behaviour, echo_own=echo_own)
        core = EvseSlac(
            config or SlacConfig(evse_mac=mac),
            random.Random(self.seed * 1000 + len(self.nodes)),
            param_overrides=param_overrides,
        )
        node = Node(name, st, evse=core)
        self.nodes[name] = node
        self._route(node, core.start(self.now_ns))
        return core

    def add_ev(
        self,
        name: str,
        mac: bytes,
        *,
        connector: str,
        ev_timing: EvTiming | None = None,
        validate: bool = False,
        behaviour: ModemBehaviour | None = None,
    ) -> EvSlac:
        modem_mac = b"\x00\x01\x87" + mac[3:]
        st = self.medium.attach(name, mac, modem_mac, behaviour)
        ev = EvSlac(
            mac,
            random.Random(self.seed * 1000 + len(self.nodes)),
            ev_timing or EvTiming(),
            validate=validate,
        )
        self.nodes[name] = Node(name, st, ev=ev, connector=connector)
        return ev

    def connect(self, a: str, b: str, attenuation_db: float, loss: float = 0.0) -> None:
        self.medium.connect(a, b, attenuation_db, loss)

    # ------------------------------------------------------------------ scripted inputs
    def at(self, t_ns: int, fn: Callable[[int], None]) -> None:
        self._seq += 1
        heapq.heappush(self._actions, (t_ns, self._seq, fn))

    def pilot(self, evse: str, state: PilotState, pwm: bool, t_ns: int) -> None:
        node = self.nodes[evse]

        def apply(now: int) -> None:
            assert node.evse is not None
            self._route(node, node.evse.handle_cp(state, pwm, now))

        self.at(t_ns, apply)

    def plug(self, ev: str, t_ns: int) -> None:
        """Car plugged into its connector at t: pilot B with 5 % PWM, car starts SLAC."""
        node = self.nodes[ev]
        assert node.connector is not None
        self.pilot(node.connector, PilotState.B, True, t_ns)
        self.at(t_ns, lambda now: self._route(node, self._ev(node).plug_in(now)))

    def restart_ev(self, ev: str, t_ns: int) -> None:
        node = self.nodes[ev]
        self.at(t_ns, lambda now: self._route(node, self._ev(node).restart(now)))

    def query_modem(self, evse: str, t_ns: int) -> None:
        node = self.nodes[evse]
        self.at(t_ns, lambda now: self._route(node, self._evse(node).query_modem(now)))

    def terminate(self, evse: str, t_ns: int) -> None:
        node = self.nodes[evse]
        self.at(t_ns, lambda now: self._route(node, self._evse(node).terminate(now)))

    # ------------------------------------------------------------------ running
    def run_until(self, t_end_ns: int, until: Callable[[], bool] | None = None) -> int:
        while True:
            candidates = [n.next_deadline_ns() for n in self.nodes.values()]
            candidates.append(self.medium.next_delivery_ns())
            candidates.append(self._actions[0][0] if self._actions else None)
            due = [c for c in candidates if c is not None]
            t = min(due) if due else None
            if t is None or t > t_end_ns:
                self.now_ns = max(self.now_ns, t_end_ns)
                return self.now_ns
            self.now_ns = max(self.now_ns, t)
            self._step(self.now_ns)
            if until is not None and until():
                return self.now_ns

    def _step(self, now: int) -> None:
        while self._actions and self._actions[0][0] <= now:
            _, _, fn = heapq.heappop(self._actions)
            fn(now)
        for node in self.nodes.values():
            for raw in self.medium.receive(node.station, now):
                if node.evse is not None:
                    self._route(node, node.evse.handle_frame(raw, now))
                else:
                    self._route(node, self._ev(node).handle_frame(raw, now))
        for node in self.nodes.values():
            deadline = node.next_deadline_ns()
            if deadline is not None and deadline <= now:
                if node.evse is not None:
                    self._route(node, node.evse.handle_timer(now))
                else:
                    self._route(node, self._ev(node).handle_timer(now))

    def _route(self, node: Node, outputs: list[Output] | list[EvOutput]) -> None:
        for out in outputs:
            if isinstance(out, SendFrame):
                self.medium.send(node.station, out.raw, self.now_ns)
                continue
            node.log.append((self.now_ns, out))
            if isinstance(out, EfRetryRequested):
                self._ef_retry(node, out)
            elif isinstance(out, EvToggleRequest):
                self._toggle(node, out.count)

    def _ef_retry(self, node: Node, req: EfRetryRequested) -> None:
        now = self.now_ns
        self.pilot(node.name, PilotState.E, False, now)
        self.pilot(node.name, PilotState.B, True, now + req.step_ef_ns)
        for car in self.nodes.values():
            if car.connector == node.name:
                self.at(now + req.step_ef_ns, self._replug(car))

    def _replug(self, car: Node) -> Callable[[int], None]:
        def replug(t: int) -> None:
            self._route(car, self._ev(car).plug_in(t))

        return replug

    def _toggle(self, car: Node, count: int) -> None:
        assert car.connector is not None
        t = self.now_ns
        for _ in range(count):
            t += TOGGLE_HALF_PERIOD_NS
            self.pilot(car.connector, PilotState.C, True, t)
            t += TOGGLE_HALF_PERIOD_NS
            self.pilot(car.connector, PilotState.B, True, t)

    @staticmethod
    def _ev(node: Node) -> EvSlac:
        assert node.ev is not None
        return node.ev

    @staticmethod
    def _evse(node: Node) -> EvseSlac:
        assert node.evse is not None
        return node.evse

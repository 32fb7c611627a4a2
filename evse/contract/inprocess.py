"""In-process transport: the default single-process station.

Same semantics as the stream link as seen through `ContractPort`: direction is enforced
at publish, values are delivered once and in order with the receiver's timestamp, and
the first poll reports LinkUp. Values are immutable, so they are handed over as they
are (no copy, no encoding); they were validated when they were built.
"""

from __future__ import annotations

from collections import deque

from evse.contract.definition import DEFINITION, Direction, SignalKind
from evse.contract.errors import ContractUsageError
from evse.contract.events import (
    ContractPort,
    LinkDown,
    LinkDownReason,
    LinkUp,
    PortEvent,
    SignalReceived,
)
from evse.contract.values import CONTRACT_MINOR, Role, SignalValue

_ALLOWED_OUT = {Role.PLC: Direction.PLC_TO_CTRL, Role.CONTROLLER: Direction.CTRL_TO_PLC}
_IN_PROCESS_INSTANCE = {Role.PLC: 1, Role.CONTROLLER: 2}


class InProcessEndpoint:
    """One side of an InProcessLink."""

    def __init__(self, role: Role) -> None:
        self._role = role
        self._inbox: deque[PortEvent] = deque()
        self.peer: InProcessEndpoint | None = None
        self._up_reported = False
        self.connected = True
        self._held: list[SignalValue] = []  # published while severed, as the stream link does

    @property
    def role(self) -> Role:
        return self._role

    def publish(self, value: SignalValue, now_ns: int) -> None:
        sdef = DEFINITION.signals[value.SIGNAL]
        if sdef.direction is not _ALLOWED_OUT[self._role]:
            raise ContractUsageError(f"{self._role.value} may not publish {sdef.name}")
        if self.peer is None:
            raise ContractUsageError("endpoint is not attached to a link")
        if self.connected:
            self.peer._inbox.append(SignalReceived(value, now_ns))
            return
        if sdef.kind is SignalKind.STATE:  # only the latest state matters after an outage
            self._held = [v for v in self._held if sdef.name != v.SIGNAL]
        self._held.append(value)

    def poll(self, now_ns: int) -> list[PortEvent]:
        if not self._up_reported and self.connected:
            self._up_reported = True
            peer_role = Role.CONTROLLER if self._role is Role.PLC else Role.PLC
            self._inbox.appendleft(LinkUp(_IN_PROCESS_INSTANCE[peer_role], CONTRACT_MINOR,
                                          resumed=False))
        events = list(self._inbox)
        self._inbox.clear()
        return events

    def next_deadline_ns(self) -> int | None:
        return None

    def handle_timer(self, now_ns: int) -> None:
        return None


class InProcessLink:
    """Two connected endpoints: `link.plc` and `link.controller`."""

    def __init__(self) -> None:
        self.plc = InProcessEndpoint(Role.PLC)
        self.controller = InProcessEndpoint(Role.CONTROLLER)
        self.plc.peer = self.controller
        self.controller.peer = self.plc

    def sever(self, now_ns: int) -> None:
        """Simulate losing the controller (fault injection): both sides see LinkDown;
        publications are held (events kept, states coalesced) until `restore`."""
        for end in (self.plc, self.controller):
            if end.connected:
                end.connected = False
                end._inbox.append(LinkDown(LinkDownReason.TRANSPORT_CLOSED, now_ns))

    def restore(self, now_ns: int) -> None:
        """End of the simulated outage: LinkUp, then what was published meanwhile."""
        for end in (self.plc, self.controller):
            end.connected = True
            end._up_reported = False
        for end in (self.plc, self.controller):
            held, end._held = end._held, []
            for value in held:
                end.publish(value, now_ns)


def _is_a_contract_port(port: InProcessEndpoint) -> ContractPort:
    """Static proof (mypy) that InProcessEndpoint implements ContractPort."""
    return port

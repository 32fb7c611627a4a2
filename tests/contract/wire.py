"""Two sans-IO stream links joined by a virtual wire (aioquic-style test helper).

The wire can corrupt, cut or reconnect; time only moves when a test says so.
"""

from __future__ import annotations

from collections.abc import Callable

from evse.contract.events import PortEvent, SignalReceived
from evse.contract.link import StreamLink
from evse.contract.values import Role, SignalValue

PLC_INSTANCE = 0x1111
CTRL_INSTANCE = 0x2222

Mangle = Callable[[bytes], bytes]


def _identity(data: bytes) -> bytes:
    return data


class Wire:
    def __init__(self, plc: StreamLink | None = None, ctrl: StreamLink | None = None) -> None:
        self.plc = plc or StreamLink(Role.PLC, PLC_INSTANCE)
        self.ctrl = ctrl or StreamLink(Role.CONTROLLER, CTRL_INSTANCE)
        self.now_ns = 0
        self.connected = False
        self.mangle_to_ctrl: Mangle = _identity
        self.mangle_to_plc: Mangle = _identity
        self.events: dict[Role, list[PortEvent]] = {Role.PLC: [], Role.CONTROLLER: []}
        self.collect = True  # False: the links' owners poll them themselves

    def connect(self) -> None:
        self.connected = True
        self.plc.connection_made(self.now_ns)
        self.ctrl.connection_made(self.now_ns)
        self.pump()

    def cut(self) -> None:
        """Transport lost on both sides; bytes in flight are gone."""
        self.connected = False
        self.plc.data_to_send()
        self.ctrl.data_to_send()
        self.plc.connection_lost(self.now_ns)
        self.ctrl.connection_lost(self.now_ns)
        self._collect()

    def pump(self, rounds: int = 20) -> None:
        """Move bytes both ways until quiet (at the current instant)."""
        for _ in range(rounds):
            to_ctrl = self.plc.data_to_send()
            to_plc = self.ctrl.data_to_send()
            if not self.connected:
                break
            if not to_ctrl and not to_plc:
                break
            if to_ctrl:
                self.ctrl.receive_bytes(self.mangle_to_ctrl(to_ctrl), self.now_ns)
            if to_plc:
                self.plc.receive_bytes(self.mangle_to_plc(to_plc), self.now_ns)
        self._collect()

    def _collect(self) -> None:
        if not self.collect:
            return
        self.events[Role.PLC] += self.plc.poll(self.now_ns)
        self.events[Role.CONTROLLER] += self.ctrl.poll(self.now_ns)

    def advance_to(self, t_ns: int) -> None:
        """Jump from deadline to deadline up to t_ns, pumping at each."""
        while True:
            deadlines = [d for d in (self.plc.next_deadline_ns(), self.ctrl.next_deadline_ns())
                         if d is not None and d <= t_ns]
            if not deadlines:
                break
            self.now_ns = max(self.now_ns, min(deadlines))
            self.plc.handle_timer(self.now_ns)
            self.ctrl.handle_timer(self.now_ns)
            self.pump()
        self.now_ns = max(self.now_ns, t_ns)
        self.pump()

    def advance(self, dt_ns: int) -> None:
        self.advance_to(self.now_ns + dt_ns)

    def received(self, role: Role) -> list[SignalValue]:
        return [e.value for e in self.events[role] if isinstance(e, SignalReceived)]

    def of_type(self, role: Role, cls: type) -> list[PortEvent]:
        return [e for e in self.events[role] if isinstance(e, cls)]

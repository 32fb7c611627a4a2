"""A zero-latency wire between a controller core and the CSMS simulator, in virtual time.

Why: end-to-end tests and `evse sim` run whole sessions (hours of charging) in
milliseconds; the wire can go down (`set_online(False)`) to test the offline queue.
"""

from __future__ import annotations

from evse.controller.core import Controller
from evse.controller.plc_port import PlcEvent
from evse.csms_sim.core import CsmsSim

NS_PER_S = 1_000_000_000
#: Frames exchanged in one pump before we call it a livelock (a bug, not a long session).
PUMP_BUDGET = 100_000


class LinkError(Exception):
    """Our own misuse of the virtual wire (livelock, time going back)."""


class VirtualLink:
    def __init__(self, controller: Controller, csms: CsmsSim) -> None:
        self.controller = controller
        self.csms = csms
        self.now_ns = 0
        self.online = False
        self.frames_to_csms = 0

    def start(self, *, online: bool = True) -> None:
        self.controller.start(self.now_ns)
        if online:
            self.set_online(True)

    def set_online(self, online: bool) -> None:
        if online == self.online:
            return
        self.online = online
        if online:
            self.controller.connected(self.now_ns)
        else:
            self.controller.disconnected(self.now_ns)
            self.csms.connection_lost()
            self.csms.data_to_send()
        self.pump()

    def plc(self, event: PlcEvent) -> None:
        self.controller.plc_event(event, self.now_ns)
        self.pump()

    def token(self, id_token: str) -> None:
        self.controller.present_token(id_token, self.now_ns)
        self.pump()

    def pump(self) -> None:
        for _ in range(PUMP_BUDGET):
            up = self.controller.data_to_send()
            down = self.csms.data_to_send()
            if not up and not down:
                return
            if not self.online:
                continue
            for text in up:
                self.frames_to_csms += 1
                self.csms.receive(text, self.now_ns)
            for text in down:
                self.controller.receive_text(text, self.now_ns)
        raise LinkError("livelock between controller and CSMS")

    def run_until(self, t_ns: int) -> None:
        if t_ns < self.now_ns:
            raise LinkError("cannot run back in time")
        self.pump()
        while True:
            deadline = self.controller.next_deadline_ns()
            if deadline is None or deadline > t_ns:
                break
            self.now_ns = max(self.now_ns, deadline)
            self.controller.handle_timer(self.now_ns)
            self.pump()
        self.now_ns = t_ns

    def run_for(self, seconds: float) -> None:
        self.run_until(self.now_ns + round(seconds * NS_PER_S))

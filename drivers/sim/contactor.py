"""DC contactor pair with a feedback (mirror) contact and injectable welding (hardware.md §6.2)."""

from __future__ import annotations

from dataclasses import dataclass

#: Coil-to-contact actuation time [assumed; within the 20-50 ms of hardware.md §6.2 CP/MCU sim].
ACTUATION_DELAY_NS = 20_000_000
#: Mirror contact reports the main contact state this much later (total 30 ms, inside 20-50 ms).
FEEDBACK_DELAY_NS = 10_000_000


@dataclass(slots=True)
class _Pending:
    closed: bool
    at_ns: int


class ContactorSim:
    def __init__(
        self,
        actuation_delay_ns: int = ACTUATION_DELAY_NS,
        feedback_delay_ns: int = FEEDBACK_DELAY_NS,
    ) -> None:
        self.actuation_delay_ns = actuation_delay_ns
        self.feedback_delay_ns = feedback_delay_ns
        self.commanded_closed = False
        self.closed = False  # the main contacts, what the physics sees
        self.feedback_closed = False
        self.welded = False
        self._contact: _Pending | None = None
        self._feedback: _Pending | None = None
        #: (time, closed) of every physical change, for bound checks in tests
        self.history: list[tuple[int, bool]] = []

    def command(self, closed: bool, now_ns: int) -> None:
        if closed == self.commanded_closed:
            return
        self.commanded_closed = closed
        self._contact = _Pending(closed, now_ns + self.actuation_delay_ns)

    def inject_welding(self) -> None:
        """The contacts stick the next time they are closed (or now, if closed)."""
        self.welded = True

    def next_change_ns(self) -> int | None:
        """When the main contacts next move (a pending actuation), if they will."""
        return self._contact.at_ns if self._contact is not None else None

    def step(self, now_ns: int) -> None:
        if self._contact is not None and now_ns >= self._contact.at_ns:
            target = self._contact.closed
            at_ns = self._contact.at_ns
            self._contact = None
            if not target and self.welded and self.closed:
                target = True  # welded contacts do not open
            if target != self.closed:
                self.closed = target
                self.history.append((at_ns, target))
                self._feedback = _Pending(target, at_ns + self.feedback_delay_ns)
        if self._feedback is not None and now_ns >= self._feedback.at_ns:
            self.feedback_closed = self._feedback.closed
            self._feedback = None

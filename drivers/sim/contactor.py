"""DC contactor pair with a feedback (mirror) contact and injectable welding (hardware.md §6.2)."""

from __future__ import annotations

from dataclasses import dataclass

#: Coil-to-contact actuation time [assumed; within the 20-50 ms of hardware.md §6.2 CP/MCU sim].
ACTUATION_DELAY_NS = 20_000_000
#: Mirror contact reports the main contact state this much later (total 30 ms, inside 20-50 ms).
FEEDBACK_DELAY_NS = 10_000_000


def contactor_from_feedback_times(close_ns: int, open_ns: int) -> ContactorSim:
    """The contactor a board config describes by coil-to-feedback times (what the board
    sees, hardware.md §6.2 20-50 ms): the main contacts move FEEDBACK_DELAY_NS earlier."""
    if min(close_ns, open_ns) < FEEDBACK_DELAY_NS:
        raise ValueError(f"contactor feedback times must be >= {FEEDBACK_DELAY_NS} ns")
    return ContactorSim(close_ns - FEEDBACK_DELAY_NS, FEEDBACK_DELAY_NS,
                        open_actuation_delay_ns=open_ns - FEEDBACK_DELAY_NS)


@dataclass(slots=True)
class _Pending:
    closed: bool
    at_ns: int


class ContactorSim:
    def __init__(
        self,
        actuation_delay_ns: int = ACTUATION_DELAY_NS,
        feedback_delay_ns: int = FEEDBACK_DELAY_NS,
        *,
        open_actuation_delay_ns: int | None = None,
    ) -> None:
        """`actuation_delay_ns`: coil to main contacts when closing (and opening, unless
        `open_actuation_delay_ns` says otherwise); the mirror contact follows the main
        contacts after `feedback_delay_ns`."""
        self.actuation_delay_ns = actuation_delay_ns
        self.open_actuation_delay_ns = (actuation_delay_ns if open_actuation_delay_ns is None
                                        else open_actuation_delay_ns)
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
        delay = self.actuation_delay_ns if closed else self.open_actuation_delay_ns
        self._contact = _Pending(closed, now_ns + delay)

    def follow(self, closed: bool, now_ns: int) -> None:
        """Mirror a real contactor's reported state at once (main and feedback contacts):
        the simulated plant behind a board that drives a contactor of its own (the safety
        MCU on a UART) follows the feedback that board reports."""
        self._contact = self._feedback = None
        self.commanded_closed = closed
        if closed != self.closed:
            self.history.append((now_ns, closed))
        self.closed = self.feedback_closed = closed

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

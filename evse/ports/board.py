"""The charger board port: control pilot, proximity pilot, contactors and e-stop.

Safety-MCU pattern (reference/hardware.md §4.6): a microcontroller on the board owns the CP
PWM generator, samples the CP voltage, drives the contactor coils and enforces the
interlocks even if Linux hangs. The Linux side only *asks*: it sets the CP output (X1 / PWM
duty / F), grants or withdraws `allow_power_on`, and sends a keep-alive; it *reads* CP
samples, PP, contactor feedback, e-stop and the board's fault flags. The board drops the
contactors by itself when the keep-alive stops (EVerest Yeti/phyVERSO do the same).
"""

from __future__ import annotations

import abc
import enum
from dataclasses import dataclass


class CpOutputMode(enum.Enum):
    """What the EVSE drives on CP (IEC 61851-1 Annex A; EVerest evse_board_support)."""

    X1 = "x1"  # steady +12 V, no PWM
    PWM = "pwm"  # 1 kHz +/-12 V with the commanded duty (X2)
    F = "f"  # steady -12 V: EVSE not available (state F), also the E/F wake-up pulse


class PpState(enum.Enum):
    """Proximity pilot as the board decodes it (EVerest PpState); DC boards may not read it."""

    UNKNOWN = "unknown"
    DISCONNECTED = "disconnected"
    CONNECTED = "connected"
    FAULT = "fault"


@dataclass(frozen=True, slots=True)
class CpSample:
    """One CP measurement: the positive plateau and the negative plateau (PWM low phase)."""

    high_v: float
    low_v: float
    at_ns: int


@dataclass(frozen=True, slots=True)
class ContactorFeedback:
    """Mirror contacts of the DC contactors (True = closed)."""

    closed: bool
    at_ns: int


@dataclass(frozen=True, slots=True)
class EStopChanged:
    active: bool
    at_ns: int


@dataclass(frozen=True, slots=True)
class PpChanged:
    state: PpState
    at_ns: int


class BoardFaultKind(enum.Enum):
    KEEPALIVE_TIMEOUT = "keepalive_timeout"  # the MCU dropped the contactors on its own
    CONTACTOR_FEEDBACK_DIVERGES = "contactor_feedback_diverges"
    CP_SIGNAL_FAULT = "cp_signal_fault"
    #: The Linux side lost the link to the MCU (silent, corrupt beyond resends, tty gone);
    #: the MCU's own watchdog opens the contactors if Linux cannot reach it.
    LINK_LOST = "link_lost"


@dataclass(frozen=True, slots=True)
class BoardFault:
    kind: BoardFaultKind
    at_ns: int


#: FaultResetAck.reason of a board that refused the reset without saying why.
RESET_REFUSED_BY_BOARD = "the safety MCU refused the reset"


@dataclass(frozen=True, slots=True)
class FaultResetAck:
    """The board answered `reset_fault`: its latched fault flags that are no longer active
    are cleared (`accepted`), or it refused. Only after this does the pilot clear its own
    latch and leave F (the MCU, not Linux, owns the interlock: hardware.md §4.6)."""

    accepted: bool
    at_ns: int
    #: Why not (the MCU's REFUSED, or no MCU to answer: link not up / lost), for the
    #: operator's plc.command_result.
    reason: str = ""


BoardEvent = CpSample | ContactorFeedback | EStopChanged | PpChanged | BoardFault \
    | FaultResetAck


class Board(abc.ABC):
    """One charger board. Commands are non-blocking; `poll` returns what happened since."""

    @abc.abstractmethod
    def set_cp_output(self, mode: CpOutputMode, duty_permille: int = 1000) -> None:
        """Drive CP: X1, PWM with `duty_permille` (50 = 5 % = HLC), or F."""

    @abc.abstractmethod
    def allow_power_on(self, allowed: bool) -> None:
        """Grant/withdraw permission to close the DC contactors (the MCU still interlocks)."""

    @abc.abstractmethod
    def keep_alive(self) -> None:
        """Tell the MCU that Linux is alive; without it the MCU opens the contactors."""

    @abc.abstractmethod
    def reset_fault(self) -> bool:
        """The operator's fault reset (RESET_FAULT accepted), passed to the board. True: the
        board latches nothing of its own and is done now; False: the answer arrives later
        as a `FaultResetAck` from `poll` (the MCU acknowledges its RESET_FAULT frame)."""

    @abc.abstractmethod
    def poll(self, now_ns: int) -> list[BoardEvent]:
        """Non-blocking: the latest CP sample and every change since the last poll."""


class BoardError(Exception):
    """The board link failed or the board reported something malformed."""

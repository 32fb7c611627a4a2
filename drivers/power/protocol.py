"""What the group manager needs from a module protocol, and the replies it understands.

Each protocol (Infy V1.13, PROTNO 0x060 with a vendor table) turns intentions into frames
and frames into these protocol-neutral replies, so sharing, heartbeat and hot-plug logic is
written once (hardware.md §6.1 item 2).
"""

from __future__ import annotations

import abc
from dataclasses import dataclass

import can

from evse.ports.power import ModuleAlarm

#: Frames on these buses are always 8 bytes (hardware.md §1.2 "always 8 bytes", §1.3).
FRAME_DLC = 8


@dataclass(frozen=True, slots=True)
class ReplyVoltageCurrent:
    address: int
    voltage_v: float | None
    current_a: float | None


@dataclass(frozen=True, slots=True)
class ReplyStatus:
    address: int
    alarms: frozenset[ModuleAlarm]
    output_off: bool
    power_limited: bool


@dataclass(frozen=True, slots=True)
class ReplyCapabilities:
    address: int
    max_voltage_v: float | None = None
    min_voltage_v: float | None = None
    max_current_a: float | None = None
    rated_power_w: float | None = None


@dataclass(frozen=True, slots=True)
class ReplyAck:
    """Echo of a set/on-off command; proves the module is alive."""

    address: int


@dataclass(frozen=True, slots=True)
class ReplyModuleCount:
    group: int
    count: int


ModuleReply = ReplyVoltageCurrent | ReplyStatus | ReplyCapabilities | ReplyAck | ReplyModuleCount


class ModuleProtocol(abc.ABC):
    """Frame factory and parser for one module family."""

    #: How often every module is polled; the polls double as the heartbeat.
    poll_period_ns: int

    @abc.abstractmethod
    def poll_requests(self, address: int, capabilities_known: bool) -> list[can.Message]:
        """Cyclic reads for one module (V/I, status; capabilities until known)."""

    @abc.abstractmethod
    def set_output_requests(self, address: int, voltage_v: float, current_a: float) -> list[
        can.Message
    ]:
        """Frames that set one module's voltage and current limit."""

    @abc.abstractmethod
    def on_off_requests(self, address: int, on: bool) -> list[can.Message]:
        """Frames that switch one module's DC output."""

    @abc.abstractmethod
    def parse_reply(self, msg: can.Message) -> ModuleReply | None:
        """A typed reply, None for frames not addressed to us; PowerRemoteError if malformed."""

    def group_count_request(self, group: int) -> can.Message | None:
        """Ask a group how many modules it has (Infy cmd 0x02); None if unsupported."""
        return None

    @abc.abstractmethod
    def default_capabilities(self, address: int) -> ReplyCapabilities:
        """What the vendor table says when the module cannot be asked (all None for Infy)."""

"""Port for a group of DC power modules driven as one controllable source.

The group is what the control logic talks to: one voltage/current setpoint, aggregated
capabilities and a stream of events. How many modules sit behind it, and which CAN
protocol they speak, is the backend's business (hardware.md §1, §6.1 item 2).
"""

from __future__ import annotations

import abc
import enum
from dataclasses import dataclass


class PowerError(Exception):
    """Root of the power-module driver errors."""


class PowerRemoteError(PowerError):
    """A module sent something we cannot accept (wrong length, error code, unknown command)."""


class PowerUsageError(PowerError):
    """We misused the port (negative setpoint, unknown module address...)."""


class ModuleAlarm(enum.Enum):
    """Alarm classes shared by every module protocol (hardware.md §1.2 status bits, §1.3 0x0040)."""

    OUTPUT_SHORT = "output_short"
    MODULE_FAULT = "module_fault"
    PROTECTION = "protection"
    FAN_FAULT = "fan_fault"
    OVER_TEMPERATURE = "over_temperature"
    OUTPUT_OVER_VOLTAGE = "output_over_voltage"
    COMM_INTERRUPT = "comm_interrupt"
    INPUT_PHASE_LOSS = "input_phase_loss"
    INPUT_UNDER_VOLTAGE = "input_under_voltage"
    INPUT_OVER_VOLTAGE = "input_over_voltage"
    ID_REPEAT = "id_repeat"
    CURRENT_SHARING = "current_sharing"


#: Alarms after which the module is not trusted to deliver or hold power.
TRIPPING_ALARMS = frozenset(
    {
        ModuleAlarm.OUTPUT_SHORT,
        ModuleAlarm.MODULE_FAULT,
        ModuleAlarm.OVER_TEMPERATURE,
        ModuleAlarm.OUTPUT_OVER_VOLTAGE,
        ModuleAlarm.INPUT_PHASE_LOSS,
        ModuleAlarm.FAN_FAULT,
    }
)


@dataclass(frozen=True, slots=True)
class GroupCapabilities:
    """Aggregate of the online modules: sum of current and power, min of max voltage (§6.1)."""

    max_voltage_v: float
    min_voltage_v: float
    max_current_a: float
    max_power_w: float
    module_count: int


@dataclass(frozen=True, slots=True)
class ModuleOnline:
    address: int
    timestamp_ns: int


@dataclass(frozen=True, slots=True)
class ModuleOffline:
    """No reply for the offline timeout; the module is dropped from capabilities."""

    address: int
    timestamp_ns: int


@dataclass(frozen=True, slots=True)
class ModuleAlarmRaised:
    address: int
    alarms: frozenset[ModuleAlarm]
    timestamp_ns: int


@dataclass(frozen=True, slots=True)
class ModuleAlarmCleared:
    address: int
    timestamp_ns: int


@dataclass(frozen=True, slots=True)
class CapabilitiesChanged:
    capabilities: GroupCapabilities
    timestamp_ns: int


@dataclass(frozen=True, slots=True)
class GroupMeasurement:
    """Module-side output voltage (before the contactors) and the summed output current."""

    voltage_v: float
    current_a: float
    timestamp_ns: int


@dataclass(frozen=True, slots=True)
class OutputOffConfirmed:
    """The measured group current fell below the off threshold after `disable()`."""

    timestamp_ns: int


@dataclass(frozen=True, slots=True)
class ModuleFrameRejected:
    """A frame from a module was malformed or carried an error code; it was discarded."""

    detail: str
    timestamp_ns: int


PowerEvent = (
    ModuleOnline
    | ModuleOffline
    | ModuleAlarmRaised
    | ModuleAlarmCleared
    | CapabilitiesChanged
    | GroupMeasurement
    | OutputOffConfirmed
    | ModuleFrameRejected
)


class PowerModuleGroup(abc.ABC):
    """One controllable DC source built from parallel modules."""

    @abc.abstractmethod
    def set_output(self, voltage_v: float, current_a: float, now_ns: int) -> None:
        """Command the whole group; the backend splits the current between modules."""

    @abc.abstractmethod
    def enable(self, now_ns: int) -> None:
        """Switch the DC output on."""

    @abc.abstractmethod
    def disable(self, now_ns: int) -> None:
        """Switch the DC output off; `OutputOffConfirmed` follows once current has stopped."""

    @abc.abstractmethod
    def poll(self, now_ns: int) -> list[PowerEvent]:
        """Read what arrived, run due polls, return events. Never blocks."""

    @abc.abstractmethod
    def next_deadline_ns(self) -> int | None:
        """When `poll` must run next at the latest."""

    @property
    @abc.abstractmethod
    def capabilities(self) -> GroupCapabilities:
        """Current aggregate of the online modules."""

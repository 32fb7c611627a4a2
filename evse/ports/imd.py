"""Port for an insulation monitoring device (IEC 61557-8), shaped like EVerest's interface.

`start`/`stop` gate the recurring measurement, `start_self_test` returns at once and the
verdict arrives later as an event (hardware.md §2.5 "IMD interface", §6.1 item 3).
"""

from __future__ import annotations

import abc
from dataclasses import dataclass


class ImdError(Exception):
    """Root of the IMD driver errors."""


class ImdRemoteError(ImdError):
    """The device sent a malformed or unexpected frame."""


class ImdUsageError(ImdError):
    """We misused the port."""


@dataclass(frozen=True, slots=True)
class IsolationMeasurement:
    """One averaged reading; voltages are None when the device does not report them."""

    resistance_f_ohm: float
    timestamp_ns: int
    voltage_v: float | None = None
    voltage_to_earth_l1e_v: float | None = None
    voltage_to_earth_l2e_v: float | None = None


@dataclass(frozen=True, slots=True)
class SelfTestResult:
    passed: bool
    timestamp_ns: int


@dataclass(frozen=True, slots=True)
class ImdDeviceFault:
    """The device reports a failure of itself (not of the insulation) or stopped answering."""

    reason: str
    timestamp_ns: int


ImdEvent = IsolationMeasurement | SelfTestResult | ImdDeviceFault


class IsolationMonitor(abc.ABC):
    @abc.abstractmethod
    def start(self, now_ns: int) -> None:
        """Begin recurring measurements."""

    @abc.abstractmethod
    def stop(self, now_ns: int) -> None:
        """Stop measuring (some DC/DC stages will not deliver current while it measures)."""

    @abc.abstractmethod
    def start_self_test(self, test_voltage_v: float, now_ns: int) -> None:
        """Trigger a self-test; `SelfTestResult` arrives from a later `poll`."""

    @abc.abstractmethod
    def poll(self, now_ns: int) -> list[ImdEvent]:
        """Read what arrived and run due requests. Never blocks."""

    @abc.abstractmethod
    def next_deadline_ns(self) -> int | None:
        """When `poll` must run next at the latest."""

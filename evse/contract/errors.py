"""The contract layer's exception family, split by who is to blame.

A value built locally that breaks the definition is our own bug (`ContractLocalError`);
bytes or samples that arrive from the peer and break it are the peer's
(`ContractRemoteError`). Both carry a `Violation` so a log line or a test can say exactly
which signal and field were wrong and why.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class ViolationKind(enum.Enum):
    """Closed set of reasons a sample does not satisfy the definition."""

    UNKNOWN_SIGNAL = "unknown_signal"
    UNKNOWN_FIELD = "unknown_field"
    MISSING_REQUIRED = "missing_required"
    WRONG_TYPE = "wrong_type"
    OUT_OF_RANGE = "out_of_range"
    UNKNOWN_ENUM_VALUE = "unknown_enum_value"
    WRONG_DIRECTION = "wrong_direction"


@dataclass(frozen=True, slots=True)
class Violation:
    """One definition violation: which signal, which field path, what is wrong."""

    kind: ViolationKind
    signal: str
    field: str
    detail: str

    def __str__(self) -> str:
        where = f"{self.signal}.{self.field}" if self.field else self.signal
        return f"{self.kind.value}: {where}: {self.detail}"


class ContractError(Exception):
    """Base of every error raised by evse.contract."""


class ContractLocalError(ContractError):
    """We misused the contract (our bug): fix the caller."""


class ContractRemoteError(ContractError):
    """The peer sent something the contract does not allow."""


class ContractDefinitionError(ContractLocalError):
    """signals.yaml (or the code generated from it) is inconsistent."""


class SignalValueError(ContractLocalError):
    """A signal value built locally breaks the definition."""

    def __init__(self, violation: Violation) -> None:
        super().__init__(str(violation))
        self.violation = violation


class ContractUsageError(ContractLocalError):
    """An API was called in a way the contract forbids (e.g. wrong direction)."""


class LinkBackpressureError(ContractLocalError):
    """The outbound queue is full: the publisher outran the link for too long."""


class SampleDecodeError(ContractRemoteError):
    """A received sample breaks the definition; the sample is rejected, the link stays up."""

    def __init__(self, violation: Violation) -> None:
        super().__init__(str(violation))
        self.violation = violation


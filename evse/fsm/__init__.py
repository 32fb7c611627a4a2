"""YAML state charts on `transitions`: strict loader, validator, engine and renderer."""

from evse.fsm.engine import CallbackError, Event, FsmUsageError, Machine, TimerService
from evse.fsm.spec import MachineSpec, SpecError, check_callbacks, load_spec, parse_spec

__all__ = [
    "CallbackError",
    "Event",
    "FsmUsageError",
    "Machine",
    "MachineSpec",
    "SpecError",
    "TimerService",
    "check_callbacks",
    "load_spec",
    "parse_spec",
]

"""Wire maps: exact round trip, and typed remote errors naming signal and field."""

from __future__ import annotations

from typing import Any

import cbor2
import pytest
from hypothesis import given, settings

from evse.contract.codec import from_wire, to_wire
from evse.contract.errors import SampleDecodeError, ViolationKind
from evse.contract.values import CtrlEvseLimitsDynamic, CtrlSchedule, ScheduleEntry
from tests.contract.strategies import signal_values


@settings(max_examples=300, deadline=None)
@given(signal_values())
def test_every_valid_value_survives_cbor_encoding_unchanged(value: Any) -> None:
    wire = cbor2.loads(cbor2.dumps(to_wire(value)))
    assert from_wire(value.SIGNAL, wire) == (value, 0)


def test_absent_optional_fields_are_not_sent() -> None:
    v = CtrlEvseLimitsDynamic(max_voltage_v=900.0, max_current_a=10.0, max_power_w=1e4,
                              min_current_a=0.0, validity_ms=1000)
    assert set(to_wire(v)) == {"max_voltage_v", "max_current_a", "max_power_w",
                               "min_current_a", "validity_ms"}


def test_integer_on_the_wire_is_accepted_for_a_float_field() -> None:
    value, _ = from_wire("ctrl.evse_limits_dynamic", {
        "max_voltage_v": 900, "max_current_a": 10, "max_power_w": 10000, "min_current_a": 0,
        "validity_ms": 1000})
    assert isinstance(value, CtrlEvseLimitsDynamic) and isinstance(value.max_voltage_v, float)


@pytest.mark.parametrize(("payload", "kind", "field"), [
    ({"schedule_id": 1}, ViolationKind.MISSING_REQUIRED, "entries"),
    ({"schedule_id": 1, "entries": "x"}, ViolationKind.WRONG_TYPE, "entries"),
    ({"schedule_id": 1, "entries": [{"start_offset_s": 0}]}, ViolationKind.MISSING_REQUIRED,
     "entries[0].max_power_w"),
    ({"schedule_id": 1, "entries": [{"start_offset_s": 0.5, "max_power_w": 1.0}]},
     ViolationKind.WRONG_TYPE, "entries[0].start_offset_s"),
    ({"schedule_id": 0, "entries": [{"start_offset_s": 0, "max_power_w": 1.0}]},
     ViolationKind.OUT_OF_RANGE, "schedule_id"),
    ({"schedule_id": 1, "entries": [{"start_offset_s": 0, "max_power_w": 1.0}] * 1025},
     ViolationKind.OUT_OF_RANGE, "entries"),
    ([1, 2], ViolationKind.WRONG_TYPE, ""),
])
def test_invalid_samples_raise_a_remote_error_naming_the_field(
    payload: object, kind: ViolationKind, field: str
) -> None:
    with pytest.raises(SampleDecodeError) as info:
        from_wire("ctrl.schedule", payload)
    assert info.value.violation.kind is kind
    assert info.value.violation.signal == "ctrl.schedule"
    assert info.value.violation.field == field


def test_records_inside_lists_round_trip() -> None:
    v = CtrlSchedule(schedule_id=2, entries=(
        ScheduleEntry(start_offset_s=0, max_power_w=5e4),
        ScheduleEntry(start_offset_s=600, max_power_w=2e4, max_current_a=50.0)))
    assert from_wire("ctrl.schedule", cbor2.loads(cbor2.dumps(to_wire(v)))) == (v, 0)

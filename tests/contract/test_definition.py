"""signals.yaml: complete for Deliverable 2, strictly loaded, values self-checking."""

from __future__ import annotations

import pytest

from evse.contract.definition import (
    DEFINITION,
    DEFINITION_PATH,
    Direction,
    FallbackAction,
    parse_definition,
)
from evse.contract.errors import ContractDefinitionError, SignalValueError, ViolationKind
from evse.contract.values import (
    CtrlEvseLimitsDynamic,
    CtrlSchedule,
    PlcEvccid,
    PlcPncAuthorizationRequest,
    PlcV2gPhase,
    ScheduleEntry,
    V2gPhase,
)

REQUIRED_BY_SPEC = {
    # B1
    "plc.v2g_phase", "plc.ev_present", "plc.cp_state", "plc.pp_state", "ctrl.session_command",
    "plc.session_event",
    # B2
    "ctrl.auth_context", "ctrl.auth_status", "plc.evccid", "plc.ev_mac", "plc.auth_request",
    # B3
    "ctrl.evse_limits_dynamic", "plc.ev_limits", "ctrl.schedule",
    # B4 (meas.* as one synchronized snapshot)
    "plc.ev_request", "plc.power_setpoint", "meas.dc_output",
    # B5
    "plc.fault", "ctrl.ocpp_error_mapping",
    # PnC pass-through
    "plc.pnc_certificate_request", "ctrl.pnc_certificate_response",
    "plc.pnc_authorization_request", "ctrl.pnc_authorization_response",
}
#: Signals the contract adds beyond Deliverable 2 (minor versions), with their reason.
ADDED = {
    "plc.command_result",  # 1.1: RESET_FAULT refused with a reason (issue 11 item 2)
    "plc.ev_charging_profile",  # 1.2: the car's ChargingProfile for 2.0.1 K15/K17 (issue 15)
}
# controller inputs the PLC needs to answer the EV: each must have a real fallback (C2)
PLC_ACTS_ON = {"ctrl.auth_status", "ctrl.evse_limits_dynamic", "ctrl.schedule",
               "ctrl.pnc_certificate_response", "ctrl.pnc_authorization_response",
               "ctrl.ocpp_error_mapping"}
TEXT = DEFINITION_PATH.read_text(encoding="utf-8")


def test_every_signal_of_deliverable_2_is_defined() -> None:
    assert set(DEFINITION.signals) == REQUIRED_BY_SPEC | ADDED


def test_meas_snapshot_carries_all_four_measurements_of_b4() -> None:
    fields = {f.name for f in DEFINITION.signals["meas.dc_output"].fields}
    assert {"present_voltage_v", "present_current_a", "energy_wh", "isolation_status"} <= fields


def test_every_signal_states_direction_owner_rate_validity_requirement_and_fallback() -> None:
    for s in DEFINITION.signals.values():
        assert s.direction is (Direction.CTRL_TO_PLC if s.name.startswith("ctrl.")
                               else Direction.PLC_TO_CTRL)
        assert s.rate.doc and s.fallback.doc and s.requirement.doc and s.refs
        if s.name in PLC_ACTS_ON:
            assert s.fallback.action is not FallbackAction.NOT_APPLICABLE, s.name
        for f in s.fields:
            assert f.doc
            if f.type.base.value in ("int", "float") and not f.type.is_list:
                assert f.min_value is not None and f.max_value is not None


def test_every_time_bound_has_a_positive_value_and_a_source() -> None:
    for b in DEFINITION.bounds.values():
        assert b.value_ns > 0 and b.ref.strip() and b.doc.strip()


def test_limits_validity_range_matches_its_named_bounds() -> None:
    [f] = [f for f in DEFINITION.signals["ctrl.evse_limits_dynamic"].fields
           if f.name == "validity_ms"]
    assert f.min_value == DEFINITION.bounds["limits_validity_min"].seconds * 1000
    assert f.max_value == DEFINITION.bounds["limits_validity_max"].seconds * 1000


@pytest.mark.parametrize(("edit", "message"), [
    (("  plc.v2g_phase:\n    group: session\n",
      "  plc.v2g_phase:\n    group: session\n    group: x\n"), "duplicate key"),
    (("contract: ccs2_dc_controller_plc\n", "contract: ccs2_dc_controller_plc\non: 1\n"),
     "not a string"),
    (("contract: ccs2_dc_controller_plc\n", "contract: ccs2_dc_controller_plc\nextra: 1\n"),
     "unknown keys"),
    (("phase: {type: V2gPhase,", "phase: {type: V2gPhaze,"), "unknown type"),
    (("  ctrl.session_command:\n    group: session\n    doc: Controller orders; the PLC carries"
      " them out the safe way (ramp down before opening).\n    refs: [\"Deliverable 2 B1.3\"]\n"
      "    direction: ctrl_to_plc",
      "  ctrl.session_command:\n    group: session\n    doc: Controller orders; the PLC carries"
      " them out the safe way (ramp down before opening).\n    refs: [\"Deliverable 2 B1.3\"]\n"
      "    direction: plc_to_ctrl"), "prefix says"),
    (("validity: {mode: ttl, bound: meas_ttl}", "validity: {mode: ttl, bound: nope}"),
     "unknown bound"),
])
def test_strict_loader_rejects_what_pyyaml_would_silently_accept(
    edit: tuple[str, str], message: str
) -> None:
    old, new = edit
    assert old in TEXT
    with pytest.raises(ContractDefinitionError, match=message):
        parse_definition(TEXT.replace(old, new, 1))


def test_values_check_themselves_against_the_definition() -> None:
    cases = [
        (lambda: CtrlEvseLimitsDynamic(max_voltage_v=920.0, max_current_a=1200.0,
                                       max_power_w=1.0, min_current_a=0.0, validity_ms=1000),
         ViolationKind.OUT_OF_RANGE, "max_current_a"),
        (lambda: CtrlEvseLimitsDynamic(max_voltage_v=920.0, max_current_a=10.0,
                                       max_power_w=1.0, min_current_a=0.0, validity_ms=50),
         ViolationKind.OUT_OF_RANGE, "validity_ms"),
        (lambda: CtrlEvseLimitsDynamic(max_voltage_v=float("nan"), max_current_a=10.0,
                                       max_power_w=1.0, min_current_a=0.0, validity_ms=500),
         ViolationKind.OUT_OF_RANGE, "max_voltage_v"),
        (lambda: PlcV2gPhase(phase="AUTH"),  # type: ignore[arg-type]
         ViolationKind.WRONG_TYPE, "phase"),
        (lambda: PlcV2gPhase(phase=None),  # type: ignore[arg-type]
         ViolationKind.MISSING_REQUIRED, "phase"),
        (lambda: PlcEvccid(evccid="not hex", protocol=None),  # type: ignore[arg-type]
         ViolationKind.OUT_OF_RANGE, "evccid"),
        (lambda: CtrlSchedule(schedule_id=1, entries=()), ViolationKind.OUT_OF_RANGE, "entries"),
        (lambda: PlcPncAuthorizationRequest(request_id=1, emaid="X",
                                            certificate_chain_der=(b"\x30" * 5000,)),
         ViolationKind.OUT_OF_RANGE, "certificate_chain_der[0]"),
        (lambda: ScheduleEntry(start_offset_s=-1, max_power_w=1.0),
         ViolationKind.OUT_OF_RANGE, "start_offset_s"),
        (lambda: CtrlEvseLimitsDynamic(max_voltage_v=True, max_current_a=10.0,  # bool is no float
                                       max_power_w=1.0, min_current_a=0.0, validity_ms=500),
         ViolationKind.WRONG_TYPE, "max_voltage_v"),
    ]
    for build, kind, field in cases:
        with pytest.raises(SignalValueError) as info:
            build()
        assert (info.value.violation.kind, info.value.violation.field) == (kind, field)
    assert PlcV2gPhase(phase=V2gPhase.AUTH).phase is V2gPhase.AUTH

"""The station's level signals come from its charts and parts (evse/runtime/plc_states.py)."""

from __future__ import annotations

import pytest

from evse.contract.values import CpState, PpState as ContractPpState, V2gPhase
from evse.cp.levels import CpLevel
from evse.fsm.spec import parse_spec
from evse.ports.board import PpState
from evse.runtime.plc_states import (
    SeccPhaseTagError,
    check_secc_phase_tags,
    cp_state_of,
    pp_state_of,
    secc_phase,
)
from evse.runtime.station import spec


@pytest.mark.parametrize("name", ["secc_din", "secc_iso2"])
def test_every_secc_state_reports_a_phase_of_its_own(name: str) -> None:
    chart = spec(name)
    check_secc_phase_tags(chart)
    phases = {st.path: secc_phase(chart, st.path) for st in chart.iter_states()}
    # The states that used to fall back to SESSION_SETUP report what they are.
    assert phases["ended"] is V2gPhase.SESSION_STOP
    assert phases["authorization"] is V2gPhase.AUTH
    if name == "secc_iso2":
        assert phases["wait_payment_details"] is V2gPhase.AUTH
        assert phases["certificate_pending"] is V2gPhase.AUTH
        assert phases["renegotiation"] is V2gPhase.CPD
        assert phases["recheck"] is V2gPhase.CABLECHECK
        assert phases["recheck_precharge"] is V2gPhase.PRECHARGE
    assert V2gPhase.SESSION_SETUP not in {p for s, p in phases.items()
                                          if s != "wait_session_setup"}
    assert secc_phase(None, "wait_sap") is V2gPhase.SAP


CHART = """
machine: t
version: 1
doc: test chart
initial: a
events:
  go: go on
states:
  a:
    doc: first
    tags: [{tag}]
    when:
      go: b
  b:
    doc: second
    when:
      go: a
"""


def test_a_secc_state_without_a_phase_tag_is_refused_with_its_line() -> None:
    chart = parse_spec(CHART.replace("{tag}", "auth"), "t.yaml")
    with pytest.raises(SeccPhaseTagError, match=r"t.yaml:\d+: state 'b'"):
        check_secc_phase_tags(chart)


def test_a_state_with_two_phase_tags_is_refused() -> None:
    chart = parse_spec(CHART.replace("{tag}", "auth, cpd").replace(
        "    doc: second\n", "    doc: second\n    tags: [cpd]\n"), "t.yaml")
    with pytest.raises(SeccPhaseTagError, match="state 'a'"):
        check_secc_phase_tags(chart)


def test_cp_and_pp_states_name_what_the_pilot_and_the_board_see() -> None:
    assert cp_state_of(CpLevel.B, False) is CpState.B1
    assert cp_state_of(CpLevel.C, True) is CpState.C2
    assert cp_state_of(CpLevel.F, False) is CpState.F
    assert cp_state_of(CpLevel.DIODE_FAULT, True) is CpState.E
    assert pp_state_of(PpState.CONNECTED) is ContractPpState.CONNECTED
    assert pp_state_of(PpState.FAULT) is ContractPpState.INVALID
    assert pp_state_of(PpState.UNKNOWN) is None

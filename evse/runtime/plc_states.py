"""The PLC's level signals as the contract names them, from the station's real parts.

The contract's plc.v2g_phase, plc.cp_state and plc.pp_state are levels of the SECC chart,
the pilot and the proximity input. This module is the one place that says which contract
value each of them is, so the station publishes what its parts are in, never a copy kept
by hand:

- plc.v2g_phase: every state of fsm_specs/secc_din.yaml and secc_iso2.yaml carries the
  phase as its tag (lower-case `V2gPhase` name). A chart state without exactly one phase
  tag is refused when the mapping is first built (`SeccPhaseTagError`), so a new SECC
  state cannot silently report a wrong phase. Before the chart runs (supportedAppProtocol)
  the phase is SAP; FAULT (ccs2_dc_reference.md A1 "SF") is an overlay the station puts on
  top while a plc.fault is active.
- plc.cp_state: the pilot's debounced level (IEC 61851-1 Table A.4) with the oscillator
  state (suffix 1 = off, 2 = PWM on); a level outside every band or a missing EV diode
  reads as E (Table A.4: an error state; the fault itself goes out as plc.fault).
- plc.pp_state: the board's decoded proximity input; UNKNOWN (a DC board that does not read
  PP) is not published at all rather than guessed.
"""

from __future__ import annotations

from evse.contract.values import CpState, PpState as ContractPpState, V2gPhase
from evse.cp.levels import CpLevel
from evse.fsm.spec import MachineSpec
from evse.ports.board import PpState

#: SeccCore.state before a chart runs (the supportedAppProtocol handshake).
SAP_STATE = "wait_sap"


class SeccPhaseTagError(ValueError):
    """A SECC chart state has no (or more than one) V2gPhase tag."""


_PHASES: dict[tuple[str, str], V2gPhase] = {}
_CHECKED: set[str] = set()


def check_secc_phase_tags(spec: MachineSpec) -> None:
    """Every state of a SECC chart names exactly one V2gPhase in its `tags` (its own or,
    for a nested state, inherited from its parent)."""
    names = {p.name.lower(): p for p in V2gPhase}
    for st in spec.iter_states():
        own = [t for t in st.tags if t in names]
        phases = [t for t in spec.tags_of(st.path) if t in names]  # innermost first
        if len(own) > 1 or not phases:
            raise SeccPhaseTagError(
                f"{spec.file}:{st.line}: state {st.path!r} of {spec.name} needs exactly one "
                f"V2gPhase tag (one of {', '.join(sorted(names))}), has {list(st.tags)}")
        _PHASES[(spec.name, st.path)] = names[phases[0]]
    _CHECKED.add(spec.name)


def secc_phase(spec: MachineSpec | None, state: str) -> V2gPhase:
    """The contract phase of the SECC in `state` of `spec` (None: no chart yet, SAP)."""
    if spec is None or state == SAP_STATE:
        return V2gPhase.SAP
    if spec.name not in _CHECKED:
        check_secc_phase_tags(spec)
    return _PHASES[(spec.name, state)]


_CP_LEVEL_STATES = {
    (CpLevel.A, False): CpState.A1, (CpLevel.A, True): CpState.A2,
    (CpLevel.B, False): CpState.B1, (CpLevel.B, True): CpState.B2,
    (CpLevel.C, False): CpState.C1, (CpLevel.C, True): CpState.C2,
    (CpLevel.D, False): CpState.D1, (CpLevel.D, True): CpState.D2,
}
_CP_ERROR_STATES = {CpLevel.E: CpState.E, CpLevel.F: CpState.F,
                    CpLevel.INVALID: CpState.E, CpLevel.DIODE_FAULT: CpState.E}


def cp_state_of(level: CpLevel, pwm_on: bool) -> CpState:
    """IEC 61851-1 state name of a pilot level with the oscillator on or off."""
    found = _CP_LEVEL_STATES.get((level, pwm_on))
    return found if found is not None else _CP_ERROR_STATES[level]


_PP_STATES = {PpState.CONNECTED: ContractPpState.CONNECTED,
              PpState.DISCONNECTED: ContractPpState.DISCONNECTED,
              PpState.FAULT: ContractPpState.INVALID}


def pp_state_of(state: PpState) -> ContractPpState | None:
    """The contract's plug state, or None when the board does not read PP."""
    return _PP_STATES.get(state)

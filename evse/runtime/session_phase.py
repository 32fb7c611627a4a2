"""The session phase a station is in, read from what it shows (its charts and the contract).

Why a detector and not a counter of the campaign's own steps: a fault is injected "while
precharging" only if the station really is precharging, so the phase comes from the parts
that would tell an operator: the pilot chart's state, the SECC chart's V2G phase (the
contract's plc.v2g_phase, evse/runtime/plc_states.py), whether a car is plugged and what
its SLAC/SDP have reached. The car's own phase splits the SECC's POWERDELIVERY into the
start (power delivery) and the stop (ramp-down) and tells an ISO-2 pause from an end.
"""

from __future__ import annotations

import enum

from evse.contract.values import V2gPhase
from evse.ev.sim import Phase as EvPhase
from evse.runtime.dc_station import DcStation
from evse.runtime.plc_states import secc_phase


class Phase(enum.Enum):
    """The sixteen session phases of issue 14 item 2 (the columns of the fault matrix)."""

    IDLE = "idle"  # station up, no car since it started
    PLUGGED = "plugged"  # CP B, before the car starts SLAC
    SLAC = "slac"
    SDP_SAP = "sdp_sap"  # SDP, TCP, supportedAppProtocol
    SESSION_SETUP = "session_setup"  # SessionSetup, ServiceDiscovery, PaymentSelection
    AUTHORIZATION = "authorization"
    CPD = "cpd"  # ChargeParameterDiscovery
    CABLE_CHECK = "cable_check"
    PRECHARGE = "precharge"
    POWER_DELIVERY = "power_delivery"  # PowerDelivery(Start)
    CHARGING = "charging"  # CurrentDemand
    RAMP_DOWN = "ramp_down"  # PowerDelivery(Stop), current ramping down
    WELDING = "welding"
    SESSION_STOP = "session_stop"  # SessionStop, and the car still plugged after it
    PAUSED = "paused"  # ISO-2 SessionStop(Pause): plugged, no V2G session, B1
    BETWEEN_SESSIONS = "between_sessions"  # no car, after at least one session


PHASES: tuple[Phase, ...] = tuple(Phase)

_BY_V2G: dict[V2gPhase, Phase] = {
    V2gPhase.SLAC: Phase.SLAC,
    V2gPhase.SDP: Phase.SDP_SAP,
    V2gPhase.SAP: Phase.SDP_SAP,
    V2gPhase.SESSION_SETUP: Phase.SESSION_SETUP,
    V2gPhase.SERVICE_DISCOVERY: Phase.SESSION_SETUP,
    V2gPhase.AUTH: Phase.AUTHORIZATION,
    V2gPhase.CPD: Phase.CPD,
    V2gPhase.CABLECHECK: Phase.CABLE_CHECK,
    V2gPhase.PRECHARGE: Phase.PRECHARGE,
    V2gPhase.POWERDELIVERY: Phase.POWER_DELIVERY,
    V2gPhase.CURRENTDEMAND: Phase.CHARGING,
    V2gPhase.WELDING: Phase.WELDING,
    V2gPhase.SESSION_STOP: Phase.SESSION_STOP,
}
_AFTER_CHARGING = (EvPhase.POWER_DELIVERY_STOP, EvPhase.WELDING, EvPhase.SESSION_STOP,
                   EvPhase.DONE)


def detect_phase(st: DcStation, *, had_car: bool) -> Phase:
    """The phase `st` is in now. `had_car`: a car has been plugged in since the start."""
    car = st.sim_car
    if car is None:
        return Phase.BETWEEN_SESSIONS if had_car else Phase.IDLE
    secc = st.secc
    if secc is None or secc.closed:
        result = car.ev.result
        if secc is not None and result is not None and result.paused:
            return Phase.PAUSED
        if secc is not None:
            return Phase.SESSION_STOP
        if car.link_up:
            return Phase.SDP_SAP
        return Phase.SLAC if car.slac_started else Phase.PLUGGED
    machine = secc.machine
    v2g = secc_phase(machine.spec if machine is not None else None, secc.state)
    phase = _BY_V2G.get(v2g, Phase.SDP_SAP)
    if phase is Phase.POWER_DELIVERY and car.ev.phase in _AFTER_CHARGING:
        return Phase.RAMP_DOWN
    if phase is Phase.CHARGING and car.ev.phase is EvPhase.POWER_DELIVERY_STOP:
        return Phase.RAMP_DOWN
    return phase

"""Test helper: a scripted DC session as the PLC would report it, run in virtual time
against the CSMS simulator (`run_virtual`) to check the controller core alone.

(Moved from evse/csms_sim/session.py: only tests used it. The real-clock path against an
operator's CSMS is `evse sim --csms`, evse/runtime/external_csms.py, which runs the whole
simulated station instead of this script; tests/station/test_external_csms.py covers it.)
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from evse.controller.config import ControllerConfig
from evse.controller.core import Controller
from evse.controller.plc_port import (
    AuthRequested,
    EvccidReceived,
    EvPresent,
    Measurement,
    PaymentOption,
    PhaseChanged,
    PlcEvent,
    PowerDeliveryStarted,
    PowerDeliveryStopped,
    SessionEnded,
    SlacMatched,
    StopReason,
    V2gPhase,
)
from evse.controller.store import Store
from evse.csms_sim.core import CsmsSim
from evse.csms_sim.link import VirtualLink

NS_PER_S = 1_000_000_000
#: The simulated car: 400 V pack taking 125 A (50 kW), a DC meter starting at 10 kWh.
PACK_VOLTAGE_V = 400.0
CHARGE_CURRENT_A = 125.0
METER_START_WH = 10_000.0


@dataclass(frozen=True, slots=True)
class Step:
    at_s: float
    event: PlcEvent | None = None
    token: str | None = None


@dataclass(frozen=True, slots=True)
class SessionScript:
    steps: tuple[Step, ...]
    end_s: float


def dc_session(charge_seconds: int, id_token: str = "SIM-TOKEN",
               evccid: str = "0A1B2C3D4E5F") -> SessionScript:
    """Plug, SLAC, SessionSetup, EIM authorization with `id_token`, cable check, precharge,
    `charge_seconds` of current demand (one meter sample per second), EV stop, unplug."""
    steps: list[Step] = [
        Step(0.0, EvPresent(True)),
        Step(0.0, PhaseChanged(V2gPhase.SLAC)),
        Step(1.5, SlacMatched("0A:1B:2C:3D:4E:5F", "0102030405060708")),
        Step(2.0, PhaseChanged(V2gPhase.SESSION_SETUP)),
        Step(2.0, EvccidReceived(evccid)),
        Step(2.5, PhaseChanged(V2gPhase.AUTH)),
        Step(2.5, AuthRequested(PaymentOption.EIM)),
        Step(3.0, token=id_token),
        Step(4.0, PhaseChanged(V2gPhase.CABLECHECK)),
        Step(6.0, PhaseChanged(V2gPhase.PRECHARGE)),
        Step(7.0, Measurement(PACK_VOLTAGE_V, 0.0, METER_START_WH)),
        Step(7.0, PowerDeliveryStarted()),
    ]
    energy = METER_START_WH
    for i in range(1, charge_seconds + 1):
        energy += PACK_VOLTAGE_V * CHARGE_CURRENT_A / 3600.0
        steps.append(Step(7.0 + i, Measurement(PACK_VOLTAGE_V, CHARGE_CURRENT_A, energy)))
    t = 7.0 + charge_seconds
    steps += [
        Step(t + 0.1, Measurement(PACK_VOLTAGE_V, 0.0, energy)),
        Step(t + 0.1, PowerDeliveryStopped(StopReason.EV_REQUESTED)),
        Step(t + 1.0, SessionEnded(StopReason.EV_REQUESTED)),
        Step(t + 2.0, EvPresent(False)),
    ]
    return SessionScript(tuple(steps), t + 5.0)


@dataclass(slots=True)
class SessionReport:
    actions: list[str] = field(default_factory=list)
    violations: list[tuple[str, str]] = field(default_factory=list)
    stop_reason: str | None = None
    energy_wh: float | None = None
    final_state: str = ""


def run_virtual(version: str = "1.6", charge_seconds: int = 60,
                config: ControllerConfig | None = None) -> SessionReport:
    """The whole session against the CSMS simulator in virtual time."""
    cfg = replace(config or ControllerConfig(), ocpp_version=version)
    ctrl = Controller(cfg, Store(":memory:"))
    csms = CsmsSim(version)
    csms.tokens["SIM-TOKEN"] = "Accepted"
    link = VirtualLink(ctrl, csms)
    link.start()
    script = dc_session(charge_seconds)
    for step in script.steps:
        link.run_until(round(step.at_s * NS_PER_S))
        if step.event is not None:
            link.plc(step.event)
        if step.token is not None:
            link.token(step.token)
        ctrl.plc_commands()
    link.run_until(round(script.end_s * NS_PER_S))
    report = SessionReport(csms.actions(), list(csms.violations), final_state=ctrl.state)
    for tx in csms.transactions.values():
        report.stop_reason = tx.stop_reason
        if tx.meter_stop_wh is not None:
            report.energy_wh = tx.meter_stop_wh - tx.meter_start_wh
    return report

"""One station, many cars, any catalogue fault at any phase, checked per cell.

`Harness` owns a whole `DcStation` (OCPP controller + CSMS simulator in process, virtual
time) and plays sessions on it: plug a car in, run to a phase (read by
`evse.campaign.phases.detect_phase`, never assumed), inject a catalogue fault there
(`Shot`), let the station react, end the session (the car leaves, the world is repaired,
the operator resets if the catalogue says so) and check every cell it touched.

The checks (issue 14 item 3), reusing the day of operation's (evse/runtime/day.py):
- output off (no module commanded on) and contactors open within the cell's bound;
- no contactor opens above SAFE_OPEN_CURRENT_A except by an emergency shutdown;
- the car gets an answer the cell allows (status code, FAILED, a clean close) and never
  has to time out unless the fault silenced its link;
- every transaction of the session stopped exactly once, with a stop reason the cell
  allows; no OCPP message duplicated or rejected (CSMS violations); 2.0.1 seqNo without
  gaps (no message lost);
- the OCPP 1.6 error code the cell names reached the CSMS;
- the connector recovers exactly as the cell says (Available / Faulted until reset /
  never), and the next car charges when it should;
- nothing raises (an exception propagates as the test failure).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evse.campaign.catalogue import Catalogue, Cell, FaultRow, Recover
from evse.campaign.phases import PHASES, Phase, detect_phase
from evse.ev.sim import EvSim
from evse.power.faults import FaultReason
from evse.power.types import Phase as PowerPhase
from evse.runtime.config import StationConfig
from evse.runtime.day import connector_status, opened_under_load, transaction_failures
from evse.runtime.dc_station import DcStation
from evse.runtime.inject import INJECTORS, Rig
from evse.runtime.ocpp_side import OcppSide
from evse.runtime.sim_car import SessionConfig

MS = 1_000_000
S = 1_000 * MS
#: How long a session may run after its last injection before the harness calls it stuck.
SESSION_LIMIT_NS = 150 * S
#: The car stays this long after its session, and the station is watched this long after
#: the unplug, the repair and the reset (the day's DWELL_NS).
DWELL_NS = 2 * S
#: How far a phase may be run to before it counts as not reached.
PHASE_LIMIT_NS = 90 * S
#: How often the harness notes the power path's active faults.
OBSERVE_NS = 50 * MS
#: The safe-state watch goes on this long past the bound (to report how late it was).
LATE_SLACK_NS = 2 * S
_RANK = {Recover.SELF: 0, Recover.RESTART: 0, Recover.RESET: 1, Recover.NEVER: 2}
_ORDER = {p: i for i, p in enumerate(PHASES)}


@dataclass
class Shot:
    """One injection: the cell it hit and what the station did."""

    row: FaultRow
    cell: Cell
    at_ns: int
    ocpp: str
    protocol: str
    tx_open: str | None
    opens_before: int
    transcript_from: int
    safe_ns: int | None = None
    #: The car's session had already ended when the shot came: nothing to tell it.
    car_done: bool = False
    #: The car's V2G session (EVCC) the shot hit; `transcript_from` indexes its transcript.
    #: A plugged car starts a new EvSim when it wakes up after its session ended
    #: (evse/runtime/sim_car.py _new_session), and what that one hears is not the answer
    #: to this shot (bench seed 640: tcp_drop@authorization judged by the wake-up
    #: session's EVSE_IsolationMonitoringActive). None: no car plugged.
    ev: EvSim | None = None
    car_seen: set[str] = field(default_factory=set)
    failures: list[str] = field(default_factory=list)
    #: The CSMS's transactions at the shot, when the energy transfer was on but the CSMS
    #: had no transaction open yet (the controller's start still in flight): `tx_open` is
    #: then the first transaction the CSMS learns of after the shot (`_attribute_pending`).
    #: Without it a shot at the first instant of charging (the bench's, `play` injects as
    #: soon as the phase is reached) escaped the stop-reason check: pp_lost@charging ended
    #: as Other, not EVDisconnected, unseen by the bench. None: nothing pending.
    tx_known: frozenset[str] | None = None
    #: Why the shot is void: its injector found nothing to act on (evse/runtime/inject.py
    #: Rig.void), so the station was not touched and no cell check applies; None: it hit.
    void: str | None = None

    @property
    def key(self) -> tuple[str, str]:
        return self.row.name, self.cell.phase.value

    def fail(self, what: str) -> None:
        self.failures.append(f"{self.row.name}@{self.cell.phase.value} "
                             f"({self.protocol}, OCPP {self.ocpp}): {what}")


@dataclass
class CarPlan:
    protocol: str = "din"
    profile: str = "generic"
    charge_s: float = 10.0
    #: ISO-2 only: the car pauses (SessionStop Pause) after this much charging.
    pause_after_s: float | None = None


class Harness:
    def __init__(self, catalogue: Catalogue, *, ocpp: str = "1.6", seed: int = 1,
                 protocol: str = "din") -> None:
        self.catalogue = catalogue
        self.ocpp = ocpp
        self.seed = seed
        self._first = SessionConfig(protocol=protocol, ocpp=ocpp, auth_delay_s=0.5)
        self.st = self._boot()
        self.had_car = False
        self.plan = CarPlan(protocol)
        self.shots: list[Shot] = []  # this session's
        self.done: list[Shot] = []  # every checked shot
        self.sessions = 0
        self.failures: list[str] = []  # session-level failures (not of one cell)
        #: The last session left the connector out of service for good (recover never: a
        #: repeated weld); the station's life is over until a technician replaces the part.
        self.out_of_service = False

    # ------------------------------------------------------------------ station
    def _boot(self) -> DcStation:
        st = DcStation(StationConfig(seed=self.seed), self._first)
        st.start()
        st.sched.run_for(S)
        self.rig = Rig(st)
        self._tx_seen: set[str] = set()
        #: When each power-path fault reason was first seen active (an observer, 50 ms).
        self.raised: dict[str, int] = {}
        st.sched.call_every(OBSERVE_NS, self._observe, "campaign.observe")
        return st

    def _observe(self, now_ns: int) -> None:
        for f in self.st.power.faults:
            self.raised.setdefault(f.reason.value, now_ns)

    def _manifested(self, shot: Shot) -> bool:
        """The shot's fault-table row became a power fault after the injection (a device
        fault injected where nothing looks at it, e.g. a failing IMD self-test with no car
        to check, never does; its cell's recovery then does not apply)."""
        table = shot.cell.shows_as or shot.row.table
        if table is None:
            return True
        at = self.raised.get(table.value)
        return at is not None and at >= shot.at_ns

    def _recover(self, shot: Shot) -> Recover:
        """The recovery the shot's cell asks for once its fault manifested (else self).
        A weld indication (contactor_welded, or a cell that shows as it, e.g. a lost
        discharge path at the welding check) after a reset with no clean opening in
        between is raised as contactor_welded_repeated, permanent (fault_table.yaml): the
        station cannot tell the second indication from a second weld, so the cell's
        recovery is that row's (never). Bench seed 7: discharge_timeout twice on one
        station, judged recover self."""
        table = shot.cell.shows_as or shot.row.table
        repeated = self.raised.get(FaultReason.CONTACTOR_WELDED_REPEATED.value)
        if (table is FaultReason.CONTACTOR_WELDED and repeated is not None
                and repeated >= shot.at_ns):
            return Recover.NEVER
        return shot.cell.recover if self._manifested(shot) else Recover.SELF

    @property
    def side(self) -> OcppSide:
        side = self.st.controller
        assert isinstance(side, OcppSide)
        return side

    def now(self) -> int:
        return self.st.sched.now_ns()

    def close(self) -> None:
        self.st.close()

    def phase(self) -> Phase:
        return detect_phase(self.st, had_car=self.had_car)

    def run_for(self, dt_ns: int) -> None:
        self.st.sched.run_for(dt_ns)

    def run_until(self, pred: Callable[[], bool], limit_ns: int) -> bool:
        return self.st.sched.run_until_true(pred, limit_ns=limit_ns)

    # ------------------------------------------------------------------ sessions
    def plug_in(self, plan: CarPlan | None = None) -> None:
        self.plan = plan or CarPlan()
        p = self.plan
        self.st.plug_in(SessionConfig(protocol=p.protocol, ev_profile=p.profile,
                                      charge_s=p.charge_s, auth_delay_s=0.5, ocpp=self.ocpp))
        if p.pause_after_s is not None:
            self.st.ev_profile.pause_after_ns = round(p.pause_after_s * S)
        self.had_car = True
        self.sessions += 1

    def run_to(self, target: Phase, limit_ns: int = PHASE_LIMIT_NS) -> bool:
        """Run until the station is in `target` (False: it passed or never came)."""
        if self.phase() is target:
            return True
        return self.run_until(lambda: self.phase() is target, limit_ns)

    def inject(self, fault: str) -> Shot:
        """Inject `fault` in the phase the station is in now, and watch the safe state."""
        row = self.catalogue.faults[fault]
        phase = self.phase()
        cell = row.cell(phase)
        if not cell.applicable:
            raise ValueError(f"{fault} is n/a in {phase.value}: {cell.na}")
        car = self.st.sim_car
        shot = Shot(row, cell, self.now(), self.ocpp, self.plan.protocol, self._open_tx(),
                    len(self.st.world.plant.open_currents_a),
                    len(car.ev.transcript) if car is not None else 0)
        shot.car_done = car is not None and car.ev.result is not None
        shot.ev = car.ev if car is not None else None
        if shot.tx_open is None and (self.side.ctrl.tx is not None
                                     or self.st.power.phase is PowerPhase.CHARGING):
            # The energy transfer is on, so its transaction is on its way to the CSMS
            # (TxStartPoint EnergyTransfer / 1.6 StartTransaction at the power delivery):
            # the shot is judged on it once the CSMS has it.
            shot.tx_known = frozenset(self.side.csms.transactions)
        self.rig.take_void()  # a void left by an injection outside the harness is not ours
        INJECTORS[row.inject].apply(self.rig)
        shot.void = self.rig.take_void()
        if shot.void is not None:
            return shot
        self.shots.append(shot)
        if self.rig.restart_requested:
            self._restart()
        self._watch_safe_state(shot)
        return shot

    def _restart(self) -> None:
        """Power loss: the station object is dropped and a new one boots on the same
        config; a car that was plugged is still in the inlet (plugged at boot)."""
        plugged = self.st.sim_car is not None
        self.st.close()
        self.st = self._boot()
        self.shots = [s for s in self.shots if s.row.inject == "power_loss"]
        for s in self.shots:
            s.tx_open = None
            s.tx_known = None
            s.opens_before = 0
            s.transcript_from = 0
        if plugged:
            self.plug_in(self.plan)
            self.sessions -= 1
            car = self.st.sim_car
            for s in self.shots:
                s.ev = car.ev if car is not None else None

    def safe(self) -> bool:
        w = self.st.world
        c = w.contactor
        # A welded contact cannot open: the station did its part when it commanded it open.
        contacts_open = not c.closed or (c.welded and not c.commanded_closed)
        return contacts_open and not any(s.commanded_on and s.present
                                         for s in w.stages.values())

    def _watch_safe_state(self, shot: Shot) -> None:
        """Run to the end of the cell's bound, noting when the station last became safe:
        at the bound it must be safe (and the time is that last transition). A fault in a
        phase with nothing energised is safe at once, but the check goes on: a station
        that energises later (a cable check on a broken world) must be safe again in time."""
        bound = shot.cell.bound
        if bound is None:
            return
        last = [shot.at_ns if self.safe() else None]

        def note() -> bool:
            if self.safe():
                if last[0] is None:
                    last[0] = self.now()
            else:
                last[0] = None
            return False

        self.run_until(note, bound.ns)
        if last[0] is None and self.run_until(self.safe, LATE_SLACK_NS):
            last[0] = self.now()
        shot.safe_ns = None if last[0] is None else last[0] - shot.at_ns
        if shot.safe_ns is None or shot.safe_ns > bound.ns:
            took = "never" if shot.safe_ns is None else f"after {shot.safe_ns / MS:.0f} ms"
            opened = [t for t, closed in self.st.world.contactor.history
                      if not closed and t >= shot.at_ns]
            if opened:
                took += f" (contacts open after {(opened[0] - shot.at_ns) / MS:.0f} ms)"
            shot.fail(f"output off + contactors open {took}, bound {bound.name} "
                      f"{bound.ms:.0f} ms ({bound.source})")

    def _open_tx(self) -> str | None:
        for tx_id, tx in self.side.csms.transactions.items():
            if tx.stop_reason is None:
                return tx_id
        return None

    def session_over(self) -> bool:
        car = self.st.sim_car
        if car is None:
            return True
        if car.ev.result is not None:
            return self.st.power.phase.name in ("IDLE", "STOPPED", "FAULTED")
        secc = self.st.secc
        return secc is not None and secc.closed and not self.st.cp.contactors_closed

    def end_session(self, *, next_car: bool = False) -> list[str]:
        """Let the session end, the car leave, the world be repaired, the operator reset;
        check every shot of the session. Returns the failures (also kept on the shots)."""
        self.run_until(self.session_over, SESSION_LIMIT_NS)
        self.run_for(DWELL_NS)
        car = self.st.sim_car
        if car is not None:
            self._collect_car(car)
            self.st.unplug()
        self.rig.car_left()
        self.run_for(DWELL_NS)
        self.rig.repair()
        self.run_for(DWELL_NS)
        self._check_session()
        self._observe(self.now())
        recover = max((self._recover(s) for s in self.shots), key=_RANK.__getitem__,
                      default=Recover.SELF)
        self._check_recovery(recover)
        self.out_of_service = recover is Recover.NEVER
        if next_car and recover is not Recover.NEVER:
            self._check_next_car()
        failures = [f for s in self.shots for f in s.failures] + self.failures
        self.done += self.shots
        self.shots = []
        self.failures = []
        self.raised = {}
        return failures

    # ------------------------------------------------------------------ checks
    def _collect_car(self, car: Any) -> None:
        """Judge each shot by what the V2G session it hit (`Shot.ev`) told the car and how
        that session ended; the car's later wake-up sessions answer nothing about it."""
        for i, shot in enumerate(self.shots):
            if shot.car_done:
                continue  # its result came before the shot and says nothing about it
            ev = shot.ev if shot.ev is not None else car.ev
            result = ev.result
            # What the car heard after a later shot (and how it ended) is that shot's: the
            # car was still in session when it came (bench seed 640: power_loss_restart@
            # plugged judged by the FAILED an imd_no_measurement@sdp_sap brought). Only a
            # later shot on the same V2G session splits its transcript.
            later = [s for s in self.shots[i + 1:] if not s.car_done and s.ev is ev]
            end = later[0].transcript_from if later else None
            seen = shot.car_seen
            for _, kind, body in ev.transcript[shot.transcript_from:end]:
                if kind != "res" or isinstance(body, str):
                    continue
                code = getattr(getattr(body, "ResponseCode", None), "value", "")
                if isinstance(code, str) and code.startswith("FAILED"):
                    seen.add("FAILED")
                status = getattr(body, "DC_EVSEStatus", None)
                if status is not None:
                    seen.add(str(status.EVSEStatusCode.value))
                    if str(status.EVSENotification.value) == "StopCharging":
                        seen.add("StopCharging")
            if later and not seen:
                continue  # nothing told before the next shot; what followed is mixed with it
            if result is None or later:
                seen.add("ok")  # still talking: nothing went wrong on the car's side
            elif result.ok:
                seen.add("ok")
            elif "closed by the SECC" in result.reason:
                seen.add("closed")
            elif "timeout" in result.reason or "Ongoing for more than" in result.reason:
                # The car's V2G_EVCC_Ongoing_Timeout (60 s, [V2G2-710/711], timing.md §4)
                # is a timeout too: the station kept answering Ongoing.
                seen.add("timeout")
            else:
                seen.add("ev_abort")
            want = shot.cell.car
            if not want:
                continue
            if "timeout" in seen and "timeout" not in want:
                shot.fail(f"the car had to time out ({result.reason if result else '?'}): "
                          f"no answer and no close")
            elif not (seen & want) and not ("none" in want and seen <= {"ok"}):
                shot.fail(f"the car was told {sorted(seen)}, expected one of {sorted(want)}")

    def _check_session(self) -> None:
        st, csms = self.st, self.side.csms
        emergency = any(_emergency(s) for s in self.shots)
        opens = st.world.plant.open_currents_a
        for shot in self.shots:
            for f in opened_under_load(opens[shot.opens_before:], emergency=emergency):
                shot.fail(f)
                break
        if csms.violations:
            self.failures.append(f"CSMS schema violations {csms.violations[:3]}")
        if csms.duplicates:
            self.failures.append(f"OCPP messages duplicated {csms.duplicates[:3]}")
        new = [tx for k, tx in csms.transactions.items() if k not in self._tx_seen]
        self._attribute_pending()
        self._tx_seen |= {tx.tx_id for tx in new}
        # A shot may end a transaction before energy flows (bench seed 640: an e-stop at
        # SDP, at the first CurrentDemand): 0 Wh is then the right record.
        for f in transaction_failures(new, charged=not self.shots):
            (self.shots[0].fail if self.shots else self.failures.append)(f)
        for tx in new:
            stops = self._stop_messages(tx.tx_id)
            if stops != 1:
                self.failures.append(f"transaction {tx.tx_id}: {stops} stop messages at the "
                                     f"CSMS, expected exactly 1")
            if self.ocpp == "2.0.1":
                seq = [int(e.rsplit(":", 1)[1]) for e in tx.events]
                if seq != list(range(seq[0], seq[0] + len(seq))) if seq else False:
                    self.failures.append(f"transaction {tx.tx_id}: seqNo {seq} has a gap "
                                         f"(a TransactionEvent lost)")
            during = [s for s in self.shots if s.tx_open == tx.tx_id and s.cell.stop]
            if during and tx.stop_reason is not None:
                first_shot = during[0]
                stop = first_shot.cell.stop
                assert stop is not None
                allowed = stop[self.ocpp]
                if tx.stop_reason not in allowed:
                    first_shot.fail(f"stop reason {tx.stop_reason!r}, expected one of "
                                    f"{sorted(allowed)}")
        if self.ocpp == "1.6":
            for shot in self.shots:
                want = shot.cell.error_16
                if want is None:
                    continue
                seen = {str(s.payload.get("errorCode")) for s in csms.seen
                        if s.action == "StatusNotification" and s.at_ns >= shot.at_ns}
                if want not in seen:
                    shot.fail(f"errorCode {want!r} never reached the CSMS (saw {sorted(seen)})")

    def _attribute_pending(self) -> None:
        """A shot that came while the controller's transaction was not yet at the CSMS is
        judged on that transaction: the first one the CSMS learnt of after the shot."""
        for shot in self.shots:
            if shot.tx_known is None:
                continue
            later = [k for k in self.side.csms.transactions if k not in shot.tx_known]
            if later:
                shot.tx_open = later[0]

    def _stop_messages(self, tx_id: str) -> int:
        csms = self.side.csms
        if self.ocpp == "1.6":
            return sum(1 for s in csms.seen if s.action == "StopTransaction"
                       and str(s.payload.get("transactionId")) == tx_id)
        return sum(1 for s in csms.seen if s.action == "TransactionEvent"
                   and s.payload.get("eventType") == "Ended"
                   and s.payload["transactionInfo"]["transactionId"] == tx_id)

    def status(self) -> str | None:
        return connector_status(self.side.csms)

    def _check_recovery(self, recover: Recover) -> None:
        status = self.status()
        want = "Available" if _RANK[recover] == 0 else "Faulted"
        if status != want:
            self._blame(recover, f"connector {status!r} once the car left and the world was "
                                 f"repaired, expected {want!r} (recover: {recover.value})")
            return
        if recover is Recover.SELF or recover is Recover.RESTART:
            return
        self.reset()
        status = self.status()
        want = "Available" if recover is Recover.RESET else "Faulted"
        if status != want:
            self._blame(recover, f"connector {status!r} after the operator's reset, "
                                 f"expected {want!r} (recover: {recover.value})")

    def _blame(self, recover: Recover, what: str) -> None:
        shots = [s for s in self.shots if self._recover(s) is recover] or self.shots
        if shots:
            shots[0].fail(what)
        else:
            self.failures.append(what)

    def reset(self) -> None:
        """The operator's reset (OCPP Reset Soft / Immediate, as the day does it)."""
        payload: dict[str, object] = ({"type": "Soft"} if self.ocpp == "1.6"
                                      else {"type": "Immediate"})
        self.side.csms_call("Reset", payload, self.now())
        self.run_for(DWELL_NS)

    def _check_next_car(self) -> None:
        """A cleared fault never blocks the next car: it charges."""
        self.plug_in(CarPlan(self.plan.protocol, charge_s=2.0))
        if not self.run_to(Phase.CHARGING):
            self.failures.append(f"the next car did not charge (stuck in {self.phase().value}, "
                                 f"status {self.status()!r})")
        self.run_until(self.session_over, SESSION_LIMIT_NS)
        self.run_for(DWELL_NS)
        self.st.unplug()
        self.run_for(DWELL_NS)
        self.sessions -= 1  # the follow-up car is part of the check, not a campaign session


def _emergency(shot: Shot) -> bool:
    """The shot's fault takes the emergency path (opening under load is allowed)."""
    from evse.power.fault_table import load_table
    from evse.power.faults import Severity

    if shot.row.table is None or shot.row.inject in _EMERGENCY_INJECTORS:
        return shot.row.inject in _EMERGENCY_INJECTORS
    return load_table()[shot.row.table].shutdown is Severity.EMERGENCY


#: Faults outside the power-path table that take the emergency path: the pilot withdraws
#: power at once (IEC 61851-1 Table A.6 seq. 8.1: CP leaves C, within 100 ms; E/F; unplug).
_EMERGENCY_INJECTORS = frozenset({"cp_e", "cp_f", "cp_b", "cp_diode_fault", "unplug",
                                  "pp_lost",
                                  # fault_table.yaml output_off_not_confirmed: the contacts
                                  # open anyway once the 1 s current-off bound is over
                                  "output_stuck_on"})


# ---------------------------------------------------------------------- the matrix
def matrix(catalogue: Catalogue, shots: list[Shot], *, sessions: int,
           seconds: float) -> dict[str, Any]:
    """Coverage and the worst safe-state time per cell, as the audit renders it."""
    cells: dict[str, dict[str, Any]] = {}
    for row in catalogue.faults.values():
        out: dict[str, Any] = {}
        for phase in PHASES:
            c = row.cell(phase)
            out[phase.value] = ({"na": c.na} if c.na is not None else {
                "hits": 0, "worst_ms": None,
                "bound": None if c.bound is None else c.bound.name,
                "bound_ms": None if c.bound is None else c.bound.ms,
                "recover": c.recover.value, "failures": 0})
        cells[row.name] = {"doc": row.doc, "inject": row.inject, "point": row.point.value,
                           "stand_in": row.stand_in,
                           "table": None if row.table is None else row.table.value,
                           "main": row.main.value, "phases": out}
    for s in shots:
        cell = cells[s.row.name]["phases"][s.cell.phase.value]
        cell["hits"] += 1
        if s.failures:
            cell["failures"] += 1
        if s.safe_ns is not None:
            ms = round(s.safe_ns / MS, 1)
            cell["worst_ms"] = ms if cell["worst_ms"] is None else max(cell["worst_ms"], ms)
    applicable = [c for r in cells.values() for c in r["phases"].values() if "na" not in c]
    return {
        "sessions": sessions,
        "seconds": round(seconds, 1),
        "cells_total": len(applicable),
        "cells_hit": sum(1 for c in applicable if c["hits"]),
        "cells_na": sum(1 for r in cells.values() for c in r["phases"].values() if "na" in c),
        "phases": [p.value for p in PHASES],
        "bounds": {b.name: {"ms": b.ms, "source": b.source}
                   for b in catalogue.bounds.values()},
        "faults": cells,
    }


def write_matrix(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")


def phase_order(phase: Phase) -> int:
    return _ORDER[phase]

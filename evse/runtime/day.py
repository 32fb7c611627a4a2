"""A day of operation: many sessions in a row on one station, checked after every one.

Why: a charger's life is not one session. A fault, a stop, an operator command in one
session must leave the station right for the next one, and the operator's backend must see
exactly what happened. A day file (`scenarios/day_of_operation.yaml`) lists the sessions:
which car comes, how its driver authorizes, what goes wrong (or what the operator does)
before, during or after it, and what the station must show. `run_day` plays them on one
`DcStation` in virtual time and checks, after each session:

- the CSMS saw exactly one transaction for a session that charged and none for one that did
  not, with the expected stop reason and a meter stop above its start;
- the connector is Available after the car left exactly when the session's fault clears on
  its own (self-clearing), Faulted until the operator's reset otherwise;
- no session that should charge was refused (a cleared fault never blocks the next car);
- no contactor opened with current flowing except by an emergency shutdown.

Every error in the file names its line (`DayError`); the summary has one line per session.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evse.controller.plc_port import SessionCommandKind
from evse.csms_sim.core import CsmsSim, TxView
from evse.fsm.yamlstrict import FileLineError, LMap, line_of
from evse.power.shutdown import SAFE_OPEN_CURRENT_A
from evse.runtime.clock import ns_to_s, s_to_ns
from evse.runtime.config import StationConfig
from evse.runtime.dc_station import DcStation
from evse.runtime.inject import INJECTORS, Rig
from evse.runtime.ocpp_side import SIM_TOKEN, OcppSide
from evse.runtime.scenario import check_car, load_mapping, station_config_of, typed_fields
from evse.runtime.session_phase import PHASES, Phase, detect_phase
from evse.runtime.sim_car import SessionConfig

S = 1_000_000_000
#: How long a session may take before the day calls it stuck (virtual time).
SESSION_LIMIT_NS = 600 * S
#: The car stays plugged this long after its session before it is unplugged, and the
#: station is watched this long after the unplug before the next car arrives.
DWELL_NS = 2 * S
#: A car that has had no PWM this long after plug-in is refused (out of service).
REFUSED_WAIT_NS = 10 * S
#: A card nobody knows (the CSMS rejects it).
UNKNOWN_TOKEN = "UNKNOWN-CARD-0000"


class DayError(FileLineError):
    """A day file is invalid."""


AUTH_MODES = ("after", "before", "remote", "rejected")
#: What can go wrong, or be done, during the session (`during`; while charging unless `at`
#: names another phase).
#: Device and car faults injected by their campaign injector (evse/runtime/inject.py, the
#: same world change the fault campaign makes); `after: repair` undoes the device ones.
INJECTED = ("module_lost", "all_modules_lost", "module_alarm", "over_current",
            "over_temperature", "pp_lost", "contactor_welds", "meter_stale")
DURING = ("rfid_stop", "remote_stop", "unplug", "estop", "insulation", "emergency_command",
          "controller_silent", "soft_reset", "ev_error", "v2g_lost", *INJECTED)
#: Faults that take the emergency path: opening under load is their shutdown, not a bug.
EMERGENCY_DURING = frozenset({"estop", "emergency_command", "pp_lost"})
#: What the operator or the world does after the session (`after`), in order.
AFTER = ("reset", "estop_release", "repair_insulation", "repair", "inoperative", "operative")
#: What happens before the car arrives (`before`).
BEFORE = ("estop", "inoperative")
#: The session phases `during` may happen in (`at`, the fault campaign's columns,
#: evse/runtime/session_phase.py): every phase with a car plugged in; before the car comes
#: is `before`. Default charging (after `during_after_s` of current).
AT_PHASES = tuple(p for p in PHASES if p not in (Phase.IDLE, Phase.BETWEEN_SESSIONS))


@dataclass(frozen=True, slots=True)
class Expect:
    charged: bool = True
    stop_16: str | None = None
    stop_201: str | None = None
    #: The connector is Available once the car left (no operator needed).
    available: bool = True
    #: The car must end its session successfully (charge time over / target SOC).
    ev_ok: bool | None = None


@dataclass(frozen=True, slots=True)
class DaySession:
    line: int
    car: SessionConfig
    auth: str = "after"
    before: tuple[str, ...] = ()
    during: str | None = None
    #: The phase `during` happens in (AT_PHASES).
    at: Phase = Phase.CHARGING
    #: How long after reaching `at` (charging: after the current flows).
    during_after_s: float = 3.0
    after: tuple[str, ...] = ()
    expect: Expect = Expect()


@dataclass
class Day:
    name: str
    doc: str
    file: str
    config: StationConfig
    sessions: list[DaySession]


@dataclass
class SessionOutcome:
    index: int
    session: DaySession
    charged_wh: float = 0.0
    transactions: int = 0
    stop_reason: str | None = None
    status_after: str | None = None
    status_end: str | None = None
    ev_result: str | None = None
    refused: bool = False
    failures: list[str] = field(default_factory=list)

    def line(self) -> str:
        s = self.session
        what = s.during or ("refused" if self.refused else "-")
        if s.during is not None and s.at is not Phase.CHARGING:
            what = f"{s.during}@{s.at.value}"
        verdict = "OK" if not self.failures else "FAIL: " + "; ".join(self.failures)
        return (f"#{self.index:02d} {s.car.protocol:<4} {s.car.ev_profile:<22} "
                f"auth={s.auth:<8} {what:<17} tx={self.transactions} "
                f"{self.charged_wh / 1000:6.2f} kWh stop={self.stop_reason or '-':<15} "
                f"then {self.status_after or '-':<11} {verdict}")


@dataclass
class DayResult:
    ocpp: str
    outcomes: list[SessionOutcome]
    violations: list[tuple[str, str]]
    duration_ns: int

    @property
    def ok(self) -> bool:
        return not self.violations and all(not o.failures for o in self.outcomes)


# ---------------------------------------------------------------------- loading

_CAR_KEYS: dict[str, type] = {
    "protocol": str, "ev_profile": str, "soc_start_pct": float, "soc_target_pct": float,
    "charge_s": float, "auth_delay_s": float,
}
_EXPECT_KEYS: dict[str, type] = {
    "charged": bool, "stop_16": str, "stop_201": str, "available": bool, "ev_ok": bool,
}


def _names(item: LMap, key: str, allowed: tuple[str, ...], file: str) -> tuple[str, ...]:
    raw = item.get(key, [])
    values = [raw] if isinstance(raw, str) else raw
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise DayError(file, line_of(item, key), f"{key} must be a name or a list of names")
    for v in values:
        if v not in allowed:
            raise DayError(file, line_of(item, key), f"unknown {key} {v!r} ({list(allowed)})")
    return tuple(values)


def _session(item: Any, file: str, default_line: int) -> DaySession:
    line = line_of(item, default=default_line)
    if not isinstance(item, LMap):
        raise DayError(file, line, "a session is a mapping")
    allowed = {"car", "auth", "before", "during", "at", "during_after_s", "after", "expect"}
    for k in item:
        if k not in allowed:
            raise DayError(file, line_of(item, k), f"unknown key {k!r} ({sorted(allowed)})")
    car_body = item.get("car", LMap())
    if not isinstance(car_body, LMap):
        raise DayError(file, line_of(item, "car"), "car must be a mapping")
    car = typed_fields(car_body, _CAR_KEYS, file, "car", DayError)
    check_car(car, car_body, file, "car", DayError)
    auth = item.get("auth", "after")
    if auth not in AUTH_MODES:
        raise DayError(file, line_of(item, "auth"), f"auth must be one of {list(AUTH_MODES)}")
    during = item.get("during")
    if during is not None and during not in DURING:
        raise DayError(file, line_of(item, "during"), f"during must be one of {list(DURING)}")
    at_name = item.get("at", Phase.CHARGING.value)
    names = [p.value for p in AT_PHASES]
    if at_name not in names:
        raise DayError(file, line_of(item, "at"), f"at must be one of {names}")
    if "at" in item and during is None:
        raise DayError(file, line_of(item, "at"), "at needs a `during`")
    at = Phase(at_name)
    after_s = item.get("during_after_s", 3.0 if at is Phase.CHARGING else 0.0)
    if not isinstance(after_s, int | float) or isinstance(after_s, bool) or after_s < 0:
        raise DayError(file, line_of(item, "during_after_s"), "during_after_s: seconds >= 0")
    exp_body = item.get("expect", LMap())
    if not isinstance(exp_body, LMap):
        raise DayError(file, line_of(item, "expect"), "expect must be a mapping")
    car.setdefault("charge_s", 8.0)
    return DaySession(
        line=line, car=SessionConfig(**car), auth=str(auth),
        before=_names(item, "before", BEFORE, file),
        during=during, at=at, during_after_s=float(after_s),
        after=_names(item, "after", AFTER, file),
        expect=Expect(**typed_fields(exp_body, _EXPECT_KEYS, file, "expect", DayError)),
    )


def load_day(path: str | Path) -> Day:
    file = str(path)
    raw = load_mapping(file, DayError, "day file")
    for k in raw:
        if k not in ("day", "doc", "config", "sessions"):
            raise DayError(file, line_of(raw, k), f"unknown key {k!r}")
    if "day" not in raw or "sessions" not in raw:
        raise DayError(file, raw.line, "a day file needs `day` and `sessions`")
    config = station_config_of(raw, file, DayError)
    items = raw["sessions"]
    if not isinstance(items, list) or not items:
        raise DayError(file, line_of(raw, "sessions"), "sessions must be a non-empty list")
    sessions = [_session(item, file, line_of(raw, "sessions")) for item in items]
    return Day(str(raw["day"]), str(raw.get("doc", "")), file, config, sessions)


# ---------------------------------------------------------------------- checks
# The day's checks, shared with the fault campaigns (evse/campaign/checks.py).

def connector_status(csms: CsmsSim) -> str | None:
    """The connector status the CSMS saw last (1.6 status / 2.0.1 connectorStatus)."""
    sent = csms.of("StatusNotification")
    if not sent:
        return None
    last = sent[-1]
    return str(last.get("status", last.get("connectorStatus")))


def transaction_failures(txs: list[TxView], *, charged: bool = True) -> list[str]:
    """Every transaction stopped, with a stop reason and a meter stop above its start.
    `charged=False`: a fault may have ended the transaction before any energy flowed (an
    e-stop at SDP), so the stop only must not be below the start."""
    failures = []
    for tx in txs:
        if tx.meter_stop_wh is None or tx.stop_reason is None:
            failures.append(f"transaction {tx.tx_id} never stopped")
        elif charged and tx.meter_stop_wh - tx.meter_start_wh <= 0:
            failures.append(f"meter stop {tx.meter_stop_wh} <= start {tx.meter_start_wh}")
        elif tx.meter_stop_wh < tx.meter_start_wh:
            failures.append(f"meter stop {tx.meter_stop_wh} < start {tx.meter_start_wh}")
    return failures


def opened_under_load(opens: list[tuple[int, float]], *, emergency: bool) -> list[str]:
    """No contactor opened with current flowing (above SAFE_OPEN_CURRENT_A) unless by an
    emergency shutdown: `opens` is DcPlant.open_currents_a (time, current)."""
    return [f"contactor opened under {current_a:.0f} A at {ns_to_s(t_ns):.3f} s without an "
            f"emergency" for t_ns, current_a in opens
            if current_a > SAFE_OPEN_CURRENT_A and not emergency]


# ---------------------------------------------------------------------- running

class _Runner:
    def __init__(self, day: Day, ocpp: str) -> None:
        self.day = day
        self.ocpp = ocpp
        first = day.sessions[0].car
        self.st = DcStation(day.config, SessionConfig(
            protocol=first.protocol, ev_profile=first.ev_profile, ocpp=ocpp))
        side = self.st.controller
        if not isinstance(side, OcppSide):
            raise RuntimeError("a day needs the in-process OCPP controller")
        self.side = side
        self.sched = self.st.sched
        self._remote_ids = 0
        self._healthy_ohm = self.st.world.imd_physics.resistance_ohm
        self.rig = Rig(self.st)

    # ----------------------------------------------------------------- helpers
    def run_for(self, dt_ns: int) -> None:
        self.sched.run_for(dt_ns)

    def run_until(self, pred: Callable[[], bool], limit_ns: int) -> bool:
        return self.sched.run_until_true(pred, limit_ns=limit_ns)

    def now(self) -> int:
        return self.sched.now_ns()

    def call(self, action: str, payload: dict[str, object]) -> None:
        self.side.csms_call(action, payload, self.now())
        self.run_for(S // 2)

    def status(self) -> str | None:
        return connector_status(self.side.csms)

    def pwm_seen(self) -> bool:
        """The car saw 5 % PWM in this plug-in (it started SLAC)."""
        car = self.st.sim_car
        return car is not None and car.slac_started

    def charging(self) -> bool:
        secc = self.st.secc
        return (secc is not None and secc.state == "charging"
                and self.st.world.plant.connector_current_a > 5.0)

    def reached(self, phase: Phase) -> bool:
        """The session is in `phase` (read as the fault campaign reads it); charging also
        needs the current flowing."""
        if phase is Phase.CHARGING:
            return self.charging()
        return detect_phase(self.st, had_car=True) is phase

    # ----------------------------------------------------------------- actions
    def do(self, action: str) -> None:
        st, now = self.st, self.now()
        if action == "estop":
            st.world.board.press_estop()
        elif action == "estop_release":
            st.world.board.release_estop()
        elif action == "insulation":
            st.world.imd_physics.inject_insulation_fault(20_000.0)
        elif action == "repair_insulation":
            st.world.imd_physics.inject_insulation_fault(self._healthy_ohm)
        elif action == "repair":  # the technician fixed every injected device fault
            self.rig.repair()
        elif action in INJECTED:
            INJECTORS[action].apply(self.rig)
        elif action == "reset":
            self.call("Reset", {"type": "Soft"} if self.ocpp == "1.6"
                      else {"type": "Immediate"})
        elif action in ("inoperative", "operative"):
            kind = "Inoperative" if action == "inoperative" else "Operative"
            if self.ocpp == "1.6":
                self.call("ChangeAvailability", {"connectorId": 1, "type": kind})
            else:
                self.call("ChangeAvailability", {"operationalStatus": kind,
                                                 "evse": {"id": 1, "connectorId": 1}})
        elif action == "rfid_stop":
            self.side.present_token(now)
        elif action == "remote_stop":
            tx = list(self.side.csms.transactions)[-1]
            if self.ocpp == "1.6":
                self.call("RemoteStopTransaction", {"transactionId": int(tx)})
            else:
                self.call("RequestStopTransaction", {"transactionId": tx})
        elif action == "unplug":
            st.unplug()
        elif action == "emergency_command":
            self.side.ctrl.session_command(SessionCommandKind.STOP_EMERGENCY, "operator")
        elif action == "controller_silent":
            self.side.silent = True
        elif action == "soft_reset":
            self.do("reset")
        elif action == "ev_error":  # the car reports DC_EVErrorCode from its next request
            st.ev_profile.ev_error_after_ns = 0
        elif action == "v2g_lost":  # the car's V2G stack dies: its TCP connection closes
            st.car_closed_connection(now)
        else:  # pragma: no cover - the loader admits only known names
            raise DayError(self.day.file, 0, f"unknown action {action!r}")

    def authorize_before(self, session: DaySession) -> None:
        if session.auth == "before":
            self.side.present_token(self.now())
        elif session.auth == "remote":
            self._remote_ids += 1
            if self.ocpp == "1.6":
                self.call("RemoteStartTransaction", {"connectorId": 1, "idTag": SIM_TOKEN})
            else:
                self.call("RequestStartTransaction", {
                    "evseId": 1, "remoteStartId": self._remote_ids,
                    "idToken": {"idToken": SIM_TOKEN, "type": "ISO14443"}})

    # ----------------------------------------------------------------- one session
    def session(self, index: int, s: DaySession) -> SessionOutcome:
        out = SessionOutcome(index, s)
        st, side, csms = self.st, self.side, self.side.csms
        tx_before = set(csms.transactions)
        opens_before = len(st.world.plant.open_currents_a)
        for action in s.before:
            self.do(action)
        self.run_for(S)
        side.token = UNKNOWN_TOKEN if s.auth == "rejected" else SIM_TOKEN
        self.authorize_before(s)
        st.plug_in(s.car)
        side.token_delay_ns = s_to_ns(s.car.auth_delay_s) if s.auth in (
            "after", "rejected") else None
        start = self.now()
        if "inoperative" in s.before:
            # Inoperative: the car waits without PWM until the operator makes it Operative.
            self.run_for(REFUSED_WAIT_NS)
            if self.pwm_seen() or self.status() != "Unavailable":
                out.failures.append(f"inoperative connector: PWM {self.pwm_seen()}, "
                                    f"status {self.status()!r}")
            self.do("operative")
        if s.during is not None:
            if self.run_until(lambda: self.reached(s.at), SESSION_LIMIT_NS):
                self.run_for(s_to_ns(s.during_after_s))
                self.do(s.during)
            else:
                what = "charged" if s.at is Phase.CHARGING else f"reached {s.at.value}"
                out.failures.append(f"never {what} before `{s.during}`")
        if s.during != "unplug":
            def over() -> bool:
                refused = self.now() - start >= REFUSED_WAIT_NS and not self.pwm_seen()
                return st.log.ev_result is not None or refused

            if not self.run_until(over, start + SESSION_LIMIT_NS - self.now()):
                out.failures.append("session did not end")
            out.refused = not self.pwm_seen()
            self.run_for(DWELL_NS)
            st.unplug()
        self.rig.car_left()  # what belonged to the car (a short, its inlet) left with it
        self.run_for(DWELL_NS)
        side.silent = False
        out.status_after = self.status()
        for action in s.after:
            self.do(action)
            self.run_for(S)
        out.status_end = self.status()
        out.ev_result = st.log.ev_result
        self._check(out, tx_before, opens_before)
        return out

    def _check(self, out: SessionOutcome, tx_before: set[str], opens_before: int) -> None:
        s, exp, csms = out.session, out.session.expect, self.side.csms
        new = [tx for k, tx in csms.transactions.items() if k not in tx_before]
        out.transactions = len(new)
        want = 1 if exp.charged else 0
        if len(new) != want:
            out.failures.append(f"{len(new)} transactions at the CSMS, expected {want}")
        out.failures += transaction_failures(new)
        for tx in new:
            out.stop_reason = tx.stop_reason
            if tx.meter_stop_wh is not None:
                out.charged_wh = tx.meter_stop_wh - tx.meter_start_wh
        expected_stop = exp.stop_16 if self.ocpp == "1.6" else exp.stop_201
        if expected_stop is not None and out.stop_reason != expected_stop:
            out.failures.append(f"stop reason {out.stop_reason!r}, expected {expected_stop!r}")
        want_status = "Available" if exp.available else "Faulted"
        if out.status_after != want_status:
            out.failures.append(f"status {out.status_after!r} after unplug, "
                                f"expected {want_status!r}")
        if s.after:
            want_end = "Unavailable" if s.after[-1] == "inoperative" else "Available"
            if out.status_end != want_end:
                out.failures.append(f"status {out.status_end!r} after {list(s.after)}, "
                                    f"expected {want_end!r}")
        if exp.charged and out.refused:
            out.failures.append("the car was refused (no PWM)")
        if exp.ev_ok is not None and (out.ev_result or "").startswith("OK") != exp.ev_ok:
            out.failures.append(f"car result {out.ev_result!r}")
        emergency = s.during in EMERGENCY_DURING
        out.failures += opened_under_load(
            self.st.world.plant.open_currents_a[opens_before:], emergency=emergency)

    def run(self, echo: Callable[[str], None] | None) -> DayResult:
        self.st.start()
        self.run_for(S)
        outcomes = []
        for i, s in enumerate(self.day.sessions, 1):
            o = self.session(i, s)
            outcomes.append(o)
            if echo is not None:
                echo(o.line())
        self.st.close()
        return DayResult(self.ocpp, outcomes, list(self.side.csms.violations), self.now())


def run_day(day: Day, ocpp: str, echo: Callable[[str], None] | None = None) -> DayResult:
    """Play every session of `day` on one station with the OCPP `ocpp` controller."""
    return _Runner(day, ocpp).run(echo)

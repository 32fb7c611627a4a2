"""Replay a real car's side of a recorded session against our SECC core (virtual time).

Each recorded car request is re-encoded with our SessionID and fed at its recorded time
(or right after our previous answer, whichever is later). The station behind the SECC is
a `SimEnv` whose decisions follow the recording: authorization stays pending and the
isolation test ongoing exactly as long as the car kept repeating those requests (it did
because the real charger said Ongoing). We report the first place where our answer would
have broken the car's sequence: a FAILED ResponseCode, no answer, or our closing the
connection before the car's last request.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import exi
from evse.secc.config import SeccConfig
from evse.secc.core import CloseConnection, SeccCore, SeccOutput, SendPayload
from evse.secc.env import AppProtocol, AuthDecision, AuthStatus, CableCheckResult, CableCheckStatus
from evse.secc.sim_env import SimEnv, SimEnvConfig

MS = 1_000_000
#: Longest we let virtual time run for one deferred answer (PowerDelivery) before we call
#: it "no answer": the ISO-2 performance time.
MAX_ANSWER_WAIT_NS = 4_500 * MS
#: Gaps longer than this between two kept car requests are compressed to it: the extractor
#: dropped the middle of long CurrentDemand loops, which would otherwise look like silence.
MAX_GAP_NS = 2_000 * MS


@dataclass(frozen=True, slots=True)
class ReplayStep:
    index: int
    request: str
    response: str
    code: str


@dataclass(frozen=True, slots=True)
class ReplayReport:
    car: str
    capture: str
    ok: bool
    steps: int
    total: int
    broke_at: ReplayStep | None = None
    reason: str = ""
    quirks: tuple[str, ...] = ()
    trace: tuple[ReplayStep, ...] = field(default=(), repr=False)


class _RecordedEnv(SimEnv):
    """A SimEnv whose authorization and cable-check outcomes follow the recording."""

    def __init__(self, upcoming: list[str]) -> None:
        super().__init__(SimEnvConfig(cable_check_delay_ns=0, voltage_tau_ns=50 * MS))
        self.upcoming = upcoming  # type names of the car's requests still to come

    def auth_decision(self, now_ns: int) -> AuthDecision:
        if self.upcoming[:1] and self.upcoming[0] in (
                "ContractAuthenticationReqType", "AuthorizationReqType"):
            return AuthDecision(AuthStatus.PENDING)
        return AuthDecision(AuthStatus.ACCEPTED)

    def cable_check(self, now_ns: int) -> CableCheckResult:
        if self.upcoming[:1] == ["CableCheckReqType"]:
            return CableCheckResult(CableCheckStatus.ONGOING)
        return CableCheckResult(CableCheckStatus.VALID)


def replay_session(record: dict[str, Any], config: SeccConfig | None = None) -> ReplayReport:
    schema = str(record["schema"])
    msgs: list[dict[str, Any]] = list(record["car_messages"])
    types = [str(m["type"]) for m in msgs]
    env = _RecordedEnv([])
    proto = AppProtocol.DIN70121 if schema == "din" else AppProtocol.ISO15118_2
    # the recorded charger was configured for this protocol only (EVerest dc-iso2 configs)
    core = SeccCore(env, config or SeccConfig(protocols=(proto,)))
    car, capture = str(record.get("car", "?")), str(record.get("capture", "?"))
    now = 0
    core.connection_opened(now)
    out = core.receive(bytes.fromhex(str(record["sap"])), now)
    if core.protocol is None:
        return ReplayReport(car, capture, False, 0, len(msgs), None,
                            "supportedAppProtocol not negotiated")
    session_id = b"\x00"
    trace: list[ReplayStep] = []
    prev_t = int(msgs[0]["t_ms"]) * MS if msgs else 0
    for i, m in enumerate(msgs):
        env.upcoming = types[i + 1:]
        t = int(m["t_ms"]) * MS
        now += max(MS, min(t - prev_t, MAX_GAP_NS))
        prev_t = t
        out = _advance(core, now)
        if core.closed:
            return _broken(car, capture, i, trace, msgs, out, "SECC closed before request")
        raw = bytes.fromhex(str(m["exi"]))
        if types[i] != "SessionSetupReqType":
            raw = _rewrite_session(schema, raw, session_id)
        out = core.receive(raw, now)
        waited = 0
        while not any(isinstance(o, SendPayload) for o in out) and not core.closed:
            d = core.next_deadline_ns()
            if d is None or waited > MAX_ANSWER_WAIT_NS:
                break
            waited += d - now
            now = d
            out += core.handle_timer(now)
        res = [o for o in out if isinstance(o, SendPayload)]
        if not res:
            return _broken(car, capture, i, trace, msgs, out, "no answer")
        reply = exi.decode(schema, res[0].payload)
        body = reply.Body.BodyElement
        if types[i] == "SessionSetupReqType":
            session_id = bytes(reply.Header.SessionID)
        step = ReplayStep(i, types[i], type(body).__name__, body.ResponseCode.value)
        trace.append(step)
        if step.code.startswith("FAILED"):
            return _broken(car, capture, i, trace, msgs, out, f"{step.response} {step.code}")
        if _closed(core) and i < len(msgs) - 1:
            return _broken(car, capture, i, trace, msgs, out,
                           f"SECC ended the session ({core.end_reason}) before the car did")
    quirks = tuple(sorted({q.name for q in (core.handler.quirks_applied
                                            if core.handler else [])}))
    return ReplayReport(car, capture, True, len(trace), len(msgs), None, "", quirks,
                        tuple(trace))


def _closed(core: SeccCore) -> bool:
    """Re-read after a receive() (keeps mypy from narrowing the earlier check)."""
    return core.closed


def _advance(core: SeccCore, now: int) -> list[SeccOutput]:
    out: list[SeccOutput] = []
    while True:
        d = core.next_deadline_ns()
        if d is None or d > now:
            return out
        out += core.handle_timer(d)


def _rewrite_session(schema: str, raw: bytes, session_id: bytes) -> bytes:
    """The car's request with our SessionID. Re-encoded from the typed message; when the car
    sent a value outside a facet (which we decode but will not encode, e.g. 4 phases in a
    ChargingProfile), the SessionID bits are swapped in place (same length only)."""
    msg = exi.decode(schema, raw)
    old = bytes(msg.Header.SessionID)
    hdr = type(msg.Header)(SessionID=session_id, Notification=msg.Header.Notification,
                           Signature=msg.Header.Signature)
    try:
        return exi.encode(schema, type(msg)(Header=hdr, Body=msg.Body))
    except exi.EncodeError:
        if len(old) != len(session_id):
            raise
        bits = "".join(f"{b:08b}" for b in raw)
        old_bits = "".join(f"{b:08b}" for b in old)
        new_bits = "".join(f"{b:08b}" for b in session_id)
        pos = bits.index(old_bits)
        bits = bits[:pos] + new_bits + bits[pos + len(old_bits):]
        return int(bits, 2).to_bytes(len(raw), "big")


def _broken(car: str, capture: str, i: int, trace: list[ReplayStep],
            msgs: list[dict[str, Any]], out: list[SeccOutput], reason: str) -> ReplayReport:
    step = trace[-1] if trace and trace[-1].index == i else ReplayStep(
        i, str(msgs[i]["type"]), "-", "-")
    if any(isinstance(o, CloseConnection) for o in out) and "closed" not in reason:
        reason += " (connection closed)"
    return ReplayReport(car, capture, False, len(trace), len(msgs), step, reason,
                        trace=tuple(trace))

"""Replay a real car's side of a recorded session against our SECC core (virtual time).

Each recorded car request is re-encoded with our SessionID and fed at its recorded time
(or right after our previous answer, whichever is later). The station behind the SECC is
a `SimEnv` whose decisions follow the recording: authorization stays pending and the
isolation test ongoing exactly as long as the car kept repeating those requests (it did
because the real charger said Ongoing). We report the first place where our answer would
have broken the car's sequence: a FAILED ResponseCode, no answer, or our closing the
connection before the car's last request.

A recorded car reacted to the recorded charger's offer. Where that offer had a service we
do not offer (a value-added service such as dSPACE's BatteryDataExchange, ServiceID 61000),
the car would not ask for it here: its ServiceDetailReq for it is dropped and the service is
taken out of its PaymentServiceSelectionReq; the report lists these as `adapted`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import exi
from evse.ev.sim_env import SimEnv, SimEnvConfig
from evse.secc.config import SeccConfig
from evse.secc.core import CloseConnection, SeccCore, SeccOutput, SendPayload
from evse.secc.env import AppProtocol, AuthDecision, AuthStatus, CableCheckResult, CableCheckStatus

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
    adapted: tuple[str, ...] = ()
    #: ok although we answered FAILED: the recorded charger refused that request too (or
    #: never answered it), so the session ends where the recording ends.
    as_recorded: bool = False


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
    offered: set[int] | None = None  # ServiceIDs of our ServiceDiscoveryRes
    state = _Seen()
    adapted: list[str] = []
    prev_t = int(msgs[0]["t_ms"]) * MS if msgs else 0
    for i, m in enumerate(msgs):
        env.upcoming = types[i + 1:]
        t = int(m["t_ms"]) * MS
        raw = bytes.fromhex(str(m["exi"]))
        transform, note = _adapt(schema, raw, offered, state,
                                 str(msgs[i - 1].get("recorded_processing", "")) if i else "")
        if note:
            adapted.append(note)
        if transform is _DROP:
            continue
        now += max(MS, min(t - prev_t, MAX_GAP_NS))
        prev_t = t
        out = _advance(core, now)
        if core.closed:
            return _broken(car, capture, i, trace, msgs, out, "SECC closed before request",
                           adapted)
        if types[i] != "SessionSetupReqType" or transform is not None:
            raw = _rewrite_session(schema, raw, session_id if types[i] != (
                "SessionSetupReqType") else None, transform)
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
            return _broken(car, capture, i, trace, msgs, out, "no answer", adapted)
        reply = exi.decode(schema, res[0].payload)
        body = reply.Body.BodyElement
        if types[i] == "SessionSetupReqType":
            session_id = bytes(reply.Header.SessionID)
        if type(body).__name__ == "ServiceDiscoveryResType":
            offered = _offered_services(body)
        state.note(types[i], body)
        step = ReplayStep(i, types[i], type(body).__name__, body.ResponseCode.value)
        trace.append(step)
        if step.code.startswith("FAILED"):
            recorded = str(m.get("recorded", "?"))
            if recorded == "" or recorded.startswith("FAILED"):
                return ReplayReport(
                    car, capture, True, len(trace), len(trace), None,
                    f"{step.response} {step.code}; recorded charger: "
                    f"{recorded or 'no answer'}", trace=tuple(trace),
                    adapted=tuple(adapted), as_recorded=True)
            return _broken(car, capture, i, trace, msgs, out, f"{step.response} {step.code}",
                           adapted)
        if _closed(core) and i < len(msgs) - 1:
            return _broken(car, capture, i, trace, msgs, out,
                           f"SECC ended the session ({core.end_reason}) before the car did",
                           adapted)
    quirks = tuple(sorted({q.name for q in (core.handler.quirks_applied
                                            if core.handler else [])}))
    dropped = sum(1 for a in adapted if a.startswith("dropped"))
    return ReplayReport(car, capture, True, len(trace), len(msgs) - dropped, None, "", quirks,
                        tuple(trace), tuple(adapted))


Transform = Callable[[Any], Any]


def _drop(body: Any) -> Any:
    return body


#: Marker transform: leave the request out of the replay.
_DROP: Transform = _drop


def _offered_services(res: Any) -> set[int]:
    ids = {int(res.ChargeService.ServiceTag.ServiceID if hasattr(res.ChargeService, "ServiceTag")
               else res.ChargeService.ServiceID)}
    lst = getattr(res, "ServiceList", None)
    for svc in (getattr(lst, "Service", None) or []) if lst is not None else []:
        tag = getattr(svc, "ServiceTag", svc)
        ids.add(int(tag.ServiceID))
    return ids


class _Seen:
    """What our SECC told the car so far that a recorded request may contradict."""

    def __init__(self) -> None:
        self.last_request = ""
        self.last_processing = ""
        self.tuple_ids: set[int] = set()

    def note(self, request: str, res: Any) -> None:
        self.last_request = request
        proc = getattr(res, "EVSEProcessing", None)
        self.last_processing = "" if proc is None else str(proc.value)
        sas = getattr(res, "SASchedules", None)
        if sas is not None and getattr(sas, "SAScheduleTuple", None):
            self.tuple_ids = {int(t.SAScheduleTupleID) for t in sas.SAScheduleTuple}


def _adapt(schema: str, raw: bytes, offered: set[int] | None, seen: _Seen,
           prev_recorded_processing: str) -> tuple[Transform | None, str]:
    """How the car would have asked had it been answered by us (our offer, our
    EVSEProcessing) rather than by the recorded charger."""
    if offered is None:
        return None, ""
    body = exi.decode(schema, raw).Body.BodyElement
    name = type(body).__name__
    if name == "ServiceDetailReqType" and int(body.ServiceID) not in offered:
        return _DROP, f"dropped ServiceDetailReq(ServiceID={body.ServiceID}), not offered by us"
    if (name == "ChargeParameterDiscoveryReqType" and seen.last_request == name
            and seen.last_processing == "Finished"
            and prev_recorded_processing.startswith("Ongoing")):
        # the car repeated CPD because the recorded charger said EVSEProcessing=Ongoing;
        # we said Finished, so it would have gone on to CableCheck (a repeat after a
        # recorded Finished is the car's own and goes to the SECC: quirk registry)
        return _DROP, "dropped a repeated ChargeParameterDiscoveryReq (recorded: Ongoing)"
    tid = getattr(body, "SAScheduleTupleID", None)
    if (name == "PowerDeliveryReqType" and tid is not None and seen.tuple_ids
            and int(tid) not in seen.tuple_ids):
        ours = min(seen.tuple_ids)

        def our_tuple(b: Any) -> Any:
            return replace(b, SAScheduleTupleID=ours)

        return our_tuple, f"PowerDeliveryReq SAScheduleTupleID {tid} (recorded offer) -> {ours}"
    lst = getattr(body, "SelectedServiceList", None)
    if lst is None or not name.endswith("SelectionReqType"):
        return None, ""
    foreign = [int(s.ServiceID) for s in lst.SelectedService if int(s.ServiceID) not in offered]
    if not foreign:
        return None, ""

    def keep_offered(b: Any) -> Any:
        kept = [s for s in b.SelectedServiceList.SelectedService if int(s.ServiceID) in offered]
        return replace(b, SelectedServiceList=replace(b.SelectedServiceList,
                                                      SelectedService=kept))

    return keep_offered, f"ServiceIDs {foreign} taken out of {name.removesuffix('Type')}"


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


def _rewrite_session(schema: str, raw: bytes, session_id: bytes | None,
                     transform: Transform | None = None) -> bytes:
    """The car's request with our SessionID (None: keep the car's) and its body through
    `transform`. Re-encoded from the typed message; when the car sent a value outside a
    facet (which we decode but will not encode, e.g. 4 phases in a ChargingProfile), the
    SessionID bits are swapped in place (same length only, no transform)."""
    msg = exi.decode(schema, raw)
    old = bytes(msg.Header.SessionID)
    sid = old if session_id is None else session_id
    hdr = type(msg.Header)(SessionID=sid, Notification=msg.Header.Notification,
                           Signature=msg.Header.Signature)
    body = msg.Body if transform is None else type(msg.Body)(
        BodyElement=transform(msg.Body.BodyElement))
    try:
        return exi.encode(schema, type(msg)(Header=hdr, Body=body))
    except exi.EncodeError:
        if len(old) != len(sid) or transform is not None:
            raise
        bits = "".join(f"{b:08b}" for b in raw)
        old_bits = "".join(f"{b:08b}" for b in old)
        new_bits = "".join(f"{b:08b}" for b in sid)
        pos = bits.index(old_bits)
        bits = bits[:pos] + new_bits + bits[pos + len(old_bits):]
        return int(bits, 2).to_bytes(len(raw), "big")


def _broken(car: str, capture: str, i: int, trace: list[ReplayStep],
            msgs: list[dict[str, Any]], out: list[SeccOutput], reason: str,
            adapted: list[str] | None = None) -> ReplayReport:
    step = trace[-1] if trace and trace[-1].index == i else ReplayStep(
        i, str(msgs[i]["type"]), "-", "-")
    if any(isinstance(o, CloseConnection) for o in out) and "closed" not in reason:
        reason += " (connection closed)"
    return ReplayReport(car, capture, False, len(trace), len(msgs), step, reason,
                        trace=tuple(trace), adapted=tuple(adapted or ()))

"""Named callbacks of fsm_specs/slac_evse.yaml, and the per-car matching sessions they keep.

The chart decides *when*; these callbacks only do what their names say. Each matching session
is keyed by (car MAC, RunID) and has at most one running timer, armed on the frame ISO 15118-3
names for it and cancelled when the session moves on, so a neighbour car's frames, a repeated
request or a stale run never restart it (slac_notes.md §3).
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

from evse.fsm import Event
from evse.slac import timing
from evse.slac.keys import fresh_nmk, nid_from_nmk
from evse.slac.messages import (
    AAG_GROUPS,
    LOCAL_MODEM_MAC,
    NID_LEN,
    NMK_LEN,
    AttenCharInd,
    AttenCharRsp,
    AttenProfileInd,
    Frame,
    Mme,
    MnbcSoundInd,
    SetKeyCnf,
    SetKeyReq,
    SlacMatchCnf,
    SlacMatchReq,
    SlacParmCnf,
    SlacParmReq,
    ValidateCnf,
    ValidateReq,
    ValidateResult,
    VsPlLnkStatusCnf,
    VsPlLnkStatusReq,
)
from evse.slac.outputs import (
    EfRetryRequested,
    FrameDropped,
    KeySet,
    LinkError,
    LinkErrorReason,
    LinkReady,
    LinkTerminated,
    MatchingStarted,
    Output,
    SendFrame,
    SessionEnded,
    SessionEndReason,
)

SessionKey = tuple[bytes, bytes]  # (car MAC, RunID)
# Earlier CM_SET_KEY nonces remembered: a retry sequence (1 + C_SET_KEY_RETRY) plus clears.
_NONCE_MEMORY = 8


@dataclass(frozen=True, slots=True)
class SlacConfig:
    """Station settings for the EVSE side (config/slac-bench.yaml `slac:`)."""

    evse_mac: bytes
    # Where modem-local MMEs go (CM_SET_KEY, VS_PL_LNK_STATUS, VS_SW_VER): the QCA
    # local-management address by default (hardware.md §3.2, config `plc.local_modem_mac`).
    modem_mac: bytes = LOCAL_MODEM_MAC
    # Reject a car whose average attenuation exceeds this (dB): it is on a neighbour's cable.
    # No anchor EVSE uses one; EV-side thresholds in the field are 10/20 dB (ENP) or 40/80 dB
    # (T4S) (timing.md §2). None disables the check.
    attenuation_threshold_db: float | None = 50.0
    # Added to every averaged group before it is reported (EVerest
    # `sounding_attenuation_adjustment`, hardware.md §3.3; one EVerest site in the captures
    # runs with -10 dB). The threshold applies to the adjusted value.
    attenuation_adjustment_db: int = 0
    # Only one car can be on our cable: when another car's sounds reached us this much
    # quieter-to-louder (dB) than the requesting car's, the requester is the neighbour's car
    # and its CM_SLAC_MATCH.REQ is not answered (it retries SLAC and finds its own charger).
    # Project rule, covered by the two-charger property test; None disables it.
    neighbour_margin_db: float | None = 6.0
    validation: bool = False  # answer CM_VALIDATE with toggle counting (else NOT_REQUIRED)
    num_sounds: int = timing.C_EV_MATCH_MNBC
    init_retries: int = timing.C_SEQU_RETRY
    atten_char_retries: int = timing.C_MATCH_RETRY
    set_key_retries: int = timing.C_SET_KEY_RETRY
    max_sessions: int = timing.C_EVSE_MATCH_PARALLEL
    evse_id: bytes = b"\x00" * 17


class Phase(Enum):
    PARM_DONE = "parm_done"  # CM_SLAC_PARM.CNF sent; TT_match_sequence running
    SOUNDING = "sounding"  # TT_EVSE_match_MNBC running
    ATTEN_SENT = "atten_sent"  # CM_ATTEN_CHAR.IND sent; TT_match_response running
    WAIT_MATCH = "wait_match"  # CM_ATTEN_CHAR.RSP received; TT_EVSE_match_session running
    VALIDATE_READY = "validate_ready"  # CM_VALIDATE.CNF(ready) sent
    TOGGLING = "toggling"  # counting B/C toggles for TT_EVSE_vald_toggle


@dataclass(slots=True)
class Session:
    ev_mac: bytes
    run_id: bytes
    phase: Phase = Phase.PARM_DONE
    timer: object | None = None
    timer_deadline_ns: int = 0
    sounds: int = 0
    profiles: int = 0
    aag_sum: list[int] = field(default_factory=lambda: [0] * AAG_GROUPS)
    atten_repeats: int = 0
    toggles: int = 0
    last_sound_seen: bool = False
    aag_avg: tuple[int, ...] = ()
    attenuation_db: float | None = None

    @property
    def key(self) -> SessionKey:
        return (self.ev_mac, self.run_id)


@dataclass(frozen=True, slots=True)
class NetworkKey:
    """An NMK and the NID derived from it (HomePlug AV), as set in the local modem."""

    nmk: bytes
    nid: bytes

    def __post_init__(self) -> None:
        if len(self.nmk) != NMK_LEN or len(self.nid) != NID_LEN:
            raise ValueError("NMK is 16 bytes, NID 7")


@dataclass(frozen=True, slots=True)
class Matched:
    ev_mac: bytes
    run_id: bytes
    nmk: bytes
    nid: bytes
    match_cnf: bytes  # encoded CM_SLAC_MATCH.CNF, resent if the car repeats its request


class Ports:
    """What the handler needs from its core: time, timers, encoding and the output queue."""

    def __init__(
        self,
        now_ns: Callable[[], int],
        start_timer: Callable[[int, Callable[[int], None], str], object],
        cancel_timer: Callable[[object], None],
        encode: Callable[[Frame], bytes],
        emit: Callable[[Output], None],
        send: Callable[[bytes, Mme], None],
        post: Callable[[Event], None],
    ) -> None:
        self.now_ns = now_ns
        self.start_timer = start_timer
        self.cancel_timer = cancel_timer
        self.encode = encode
        self.emit = emit
        self.send = send
        self.post = post


class SlacEvseHandler:
    """Callbacks by name for the chart; all state beyond the chart's own lives here."""

    def __init__(self, config: SlacConfig, rng: random.Random, ports: Ports) -> None:
        self.cfg = config
        self.rng = rng
        self.io = ports
        self.sessions: dict[SessionKey, Session] = {}
        self.matched: Matched | None = None
        self.key_in_modem = False  # an NMK of ours was sent to the modem; clear it on teardown
        # The key being set (keying state) and the key the modem confirmed. Only a confirmed
        # key is ever put into CM_SLAC_MATCH.CNF (ISO 15118-3 9.6: the car joins with it).
        self.pending_key: NetworkKey | None = None
        self.modem_key: NetworkKey | None = None
        self.init_retries_used = 0
        self.set_key_attempts = 0
        self.set_key_nonce = 0  # MyNonce of our latest CM_SET_KEY.REQ; the modem echoes it
        # MyNonces of our earlier requests: an answer echoing one of them is late, not ours.
        self.superseded_nonces: deque[int] = deque(maxlen=_NONCE_MEMORY)
        self.early_parm: tuple[Frame, int] | None = None
        # Attenuation of every car characterised since plug-in, kept after its session ends:
        # only one car is on our cable, so a clearly closer one heard earlier is ours.
        self.heard_db: dict[bytes, float] = {}
        self.pending_events: deque[Event] = deque()

    # ------------------------------------------------------------------ helpers
    def _frame(self, ev: Event) -> Frame:
        data = ev.data
        if not isinstance(data, Frame):
            raise TypeError(f"event {ev.name!r} carries {type(data).__name__}, expected Frame")
        return data

    def _session_of(self, ev: Event) -> Session | None:
        frame = self._frame(ev)
        run_id = getattr(frame.mme, "run_id", None)
        if not isinstance(run_id, bytes):
            return None
        s = self.sessions.get((frame.src, run_id))
        if s is None:
            self.io.emit(FrameDropped(f"{ev.name}: no session for this car and RunID", frame.src))
        return s

    def _session_by_key(self, ev: Event) -> Session | None:
        key = ev.data
        if not isinstance(key, tuple):
            raise TypeError(f"event {ev.name!r} carries {type(key).__name__}, expected a key")
        return self.sessions.get(key)

    def _arm(self, s: Session, delay_ns: int, event: str) -> None:
        if s.timer is not None:
            self.io.cancel_timer(s.timer)
        key = s.key

        def fire(now_ns: int) -> None:
            s.timer = None
            self.io.post(Event(event, key, now_ns))

        s.timer = self.io.start_timer(delay_ns, fire, f"slac:{event}")
        s.timer_deadline_ns = self.io.now_ns() + delay_ns

    def _disarm(self, s: Session) -> None:
        if s.timer is not None:
            self.io.cancel_timer(s.timer)
            s.timer = None

    def _end(self, s: Session, reason: SessionEndReason) -> None:
        self._disarm(s)
        self.sessions.pop(s.key, None)
        self.io.emit(SessionEnded(s.ev_mac, s.run_id, reason, s.attenuation_db))
        if not self.sessions:
            self.io.post(Event("no_sessions", None, self.io.now_ns()))

    def _send_to_car(self, ev_mac: bytes, mme: Mme) -> None:
        self.io.send(ev_mac, mme)

    def _link_error(self, reason: LinkErrorReason) -> None:
        m = self.matched
        self.io.emit(LinkError(reason, m.ev_mac if m else None, m.run_id if m else None))

    # ------------------------------------------------------------------ pilot / lifecycle
    def teardown(self, ev: Event) -> None:
        if self.matched is not None:
            self.io.emit(LinkTerminated(self.matched.ev_mac, self.matched.run_id))
        self.clear_key(ev)
        self.clear_sessions(ev)
        self.init_retries_used = 0
        self.early_parm = None
        self.heard_db.clear()

    def clear_sessions(self, ev: Event) -> None:
        for s in self.sessions.values():
            self._disarm(s)
        self.sessions.clear()

    def clear_key(self, ev: Event) -> None:
        """Replace our NMK in the modem with a random one nobody knows: the car leaves.

        Nobody waits for this request's confirmation: the next session sets (and waits for)
        its own fresh key in `keying` before any car is answered."""
        self.matched = None
        self.pending_key = None
        self.modem_key = None
        if not self.key_in_modem:
            return
        nmk = fresh_nmk(self.rng)
        self._send_set_key(nid_from_nmk(nmk), nmk)
        self.key_in_modem = False

    def remember_early_parm(self, ev: Event) -> None:
        self.early_parm = (self._frame(ev), self.io.now_ns())

    def replay_early_parm(self, ev: Event) -> None:
        if self.early_parm is None:
            return
        frame, at_ns = self.early_parm
        self.early_parm = None
        now = self.io.now_ns()
        if now - at_ns <= timing.EARLY_PARM_MAX_AGE_NS:
            self.io.post(Event("parm_req", frame, now))
        else:
            self.io.emit(FrameDropped("early CM_SLAC_PARM.REQ too old to answer", frame.src))

    def init_retries_left(self, ev: Event) -> bool:
        return self.init_retries_used < self.cfg.init_retries

    def request_ef_retry(self, ev: Event) -> None:
        self.init_retries_used += 1
        self.io.emit(EfRetryRequested(self.init_retries_used, timing.T_STEP_EF_NS))

    def report_init_failed(self, ev: Event) -> None:
        self.io.emit(LinkError(LinkErrorReason.INIT_TIMEOUT))

    # ------------------------------------------------------------------ matching sessions
    def open_session(self, ev: Event) -> None:
        frame = self._frame(ev)
        req = frame.mme
        if not isinstance(req, SlacParmReq):
            raise TypeError("parm_req without CM_SLAC_PARM.REQ")
        if req.application_type != 0 or req.security_type != 0:
            # ISO 15118-3 A.9.1: PEV-EVSE association (0), no security (0) only.
            self.io.emit(FrameDropped("CM_SLAC_PARM.REQ with unsupported app/security", frame.src))
            self._post_if_idle()
            return
        key = (frame.src, req.run_id)
        s = self.sessions.get(key)
        if s is not None and s.phase is not Phase.PARM_DONE:
            # Same car and RunID after sounding began: it started SLAC over without a new
            # RunID (BYD Atto 3 does, 1.3 s after its CM_ATTEN_CHAR.RSP; tests/data/slac).
            self._end_quiet(s, SessionEndReason.SUPERSEDED)
            s = None
        if s is None:
            for old in [o for o in self.sessions.values() if o.ev_mac == frame.src]:
                # Same car, new RunID: it restarted SLAC mid-way (Stellantis; issue 5).
                self._end_quiet(old, SessionEndReason.SUPERSEDED)
            if len(self.sessions) >= self.cfg.max_sessions:
                self.io.emit(FrameDropped("C_EVSE_match_parallel sessions already", frame.src))
                self._post_if_idle()
                return
            s = Session(frame.src, req.run_id)
            self.sessions[key] = s
            self.io.emit(MatchingStarted(frame.src, req.run_id))
        cnf = SlacParmCnf(
            forwarding_sta=frame.src,
            run_id=req.run_id,
            num_sounds=self.cfg.num_sounds,
            timeout_100ms=timing.TT_EVSE_MATCH_MNBC_100MS,
        )
        self._send_to_car(frame.src, cnf)
        self._arm(s, timing.TT_MATCH_SEQUENCE_NS, "s_parm_timeout")

    def _end_quiet(self, s: Session, reason: SessionEndReason) -> None:
        self._disarm(s)
        self.sessions.pop(s.key, None)
        self.io.emit(SessionEnded(s.ev_mac, s.run_id, reason, s.attenuation_db))

    def _post_if_idle(self) -> None:
        if not self.sessions:
            self.io.post(Event("no_sessions", None, self.io.now_ns()))

    def _begin_sounding(self, s: Session) -> None:
        s.phase = Phase.SOUNDING
        self._arm(s, timing.TT_EVSE_MATCH_MNBC_NS, "s_sounding_done")

    def start_sounding(self, ev: Event) -> None:
        s = self._session_of(ev)
        if s is None:
            return
        if s.phase is Phase.PARM_DONE:
            # TT_EVSE_match_MNBC starts on the first CM_START_ATTEN_CHAR.IND only; the car
            # sends it C_EV_start_atten_char_inds (3) times.
            self._begin_sounding(s)

    def count_sound(self, ev: Event) -> None:
        s = self._session_of(ev)
        if s is None:
            return
        sound = self._frame(ev).mme
        if not isinstance(sound, MnbcSoundInd):
            raise TypeError("sound without CM_MNBC_SOUND.IND")
        if s.phase is Phase.PARM_DONE:
            self._begin_sounding(s)  # all three CM_START_ATTEN_CHAR.IND were lost
        if s.phase is not Phase.SOUNDING:
            self.io.emit(FrameDropped("CM_MNBC_SOUND.IND after the sounding window", s.ev_mac))
            return
        s.sounds += 1
        if sound.countdown == 0:
            s.last_sound_seen = True
            if s.profiles >= s.sounds:
                self._finish_now(s)
                return
            # the modem's profile of the last sound may still come: wait for it, but no
            # longer than TP_EVSE_avg_atten_calc allows
            finalize_at = self.io.now_ns() + timing.FINALIZE_SOUNDING_NS
            if finalize_at < s.timer_deadline_ns:
                self._arm(s, timing.FINALIZE_SOUNDING_NS, "s_sounding_done")

    def _finish_now(self, s: Session) -> None:
        self._disarm(s)
        self.io.post(Event("s_sounding_done", s.key, self.io.now_ns()))

    def add_profile(self, ev: Event) -> None:
        frame = self._frame(ev)
        prof = frame.mme
        if not isinstance(prof, AttenProfileInd):
            raise TypeError("profile without CM_ATTEN_PROFILE.IND")
        target = [s for s in self.sessions.values() if s.ev_mac == prof.pev_mac]
        if not target or target[0].phase is not Phase.SOUNDING:
            self.io.emit(FrameDropped("CM_ATTEN_PROFILE.IND for no sounding car", prof.pev_mac))
            return
        if len(prof.aag_db) != AAG_GROUPS:
            self.io.emit(FrameDropped(f"profile with {len(prof.aag_db)} groups", prof.pev_mac))
            return
        s = target[0]
        s.profiles += 1
        for i, g in enumerate(prof.aag_db):
            s.aag_sum[i] += g
        if s.last_sound_seen and s.profiles >= s.sounds:
            self._finish_now(s)  # every sound has its profile: no reason to wait

    def finish_sounding(self, ev: Event) -> None:
        s = self._session_by_key(ev)
        if s is None or s.phase is not Phase.SOUNDING:
            return
        s.timer = None
        if s.profiles == 0:
            self._end(s, SessionEndReason.NO_SOUNDS)
            return
        n = s.profiles
        adjust = self.cfg.attenuation_adjustment_db
        # Integer mean per group, rounded down as EVerest does (tests/data/slac replays).
        s.aag_avg = tuple(max(0, min(255, total // n + adjust)) for total in s.aag_sum)
        s.attenuation_db = sum(s.aag_sum) / (n * AAG_GROUPS) + adjust
        self.heard_db[s.ev_mac] = s.attenuation_db
        limit = self.cfg.attenuation_threshold_db
        if limit is not None and s.attenuation_db > limit:
            self._end(s, SessionEndReason.TOO_FAR)
            return
        s.phase = Phase.ATTEN_SENT
        self._send_atten_char(s)

    def _send_atten_char(self, s: Session) -> None:
        ind = AttenCharInd(
            source_address=s.ev_mac,
            run_id=s.run_id,
            num_sounds=s.profiles,
            aag_db=s.aag_avg,
        )
        self._send_to_car(s.ev_mac, ind)
        self._arm(s, timing.TT_MATCH_RESPONSE_NS, "s_atten_rsp_timeout")

    def repeat_atten_char(self, ev: Event) -> None:
        s = self._session_by_key(ev)
        if s is None or s.phase is not Phase.ATTEN_SENT:
            return
        if s.atten_repeats >= self.cfg.atten_char_retries:
            self._end(s, SessionEndReason.NO_ATTEN_RSP)
            return
        s.atten_repeats += 1
        self._send_atten_char(s)

    def accept_atten_rsp(self, ev: Event) -> None:
        s = self._session_of(ev)
        if s is None:
            return
        rsp = self._frame(ev).mme
        if not isinstance(rsp, AttenCharRsp):
            raise TypeError("atten_rsp without CM_ATTEN_CHAR.RSP")
        if s.phase is not Phase.ATTEN_SENT:
            return  # a repeat: TT_EVSE_match_session is already running, do not restart it
        if rsp.result != 0:
            self._end(s, SessionEndReason.NO_ATTEN_RSP)
            return
        s.phase = Phase.WAIT_MATCH
        self._arm(s, timing.TT_EVSE_MATCH_SESSION_NS, "s_match_session_timeout")

    def drop_session(self, ev: Event) -> None:
        s = self._session_by_key(ev)
        if s is None:
            return
        s.timer = None
        reason = (
            SessionEndReason.PARM_TIMEOUT
            if s.phase is Phase.PARM_DONE
            else SessionEndReason.MATCH_SESSION_TIMEOUT
        )
        self._end(s, reason)

    # ------------------------------------------------------------------ CM_VALIDATE
    def answer_validate(self, ev: Event) -> None:
        frame = self._frame(ev)
        req = frame.mme
        if not isinstance(req, ValidateReq):
            raise TypeError("validate_req without CM_VALIDATE.REQ")
        found = [s for s in self.sessions.values() if s.ev_mac == frame.src]
        if not found or found[0].phase not in (
            Phase.ATTEN_SENT,
            Phase.WAIT_MATCH,
            Phase.VALIDATE_READY,
        ):
            self.io.emit(FrameDropped("CM_VALIDATE.REQ outside a session", frame.src))
            return
        s = found[0]
        if not self.cfg.validation:
            self._send_to_car(s.ev_mac, ValidateCnf(0, ValidateResult.NOT_REQUIRED))
            return
        if s.phase is Phase.VALIDATE_READY and req.timer > 0:
            s.phase = Phase.TOGGLING
            s.toggles = 0
            self._arm(s, timing.TT_EVSE_VALD_TOGGLE_NS, "s_toggle_window_done")
            return
        s.phase = Phase.VALIDATE_READY
        self._send_to_car(s.ev_mac, ValidateCnf(0, ValidateResult.READY))

    def count_toggle(self, ev: Event) -> None:
        for s in self.sessions.values():
            if s.phase is Phase.TOGGLING:
                s.toggles += 1

    def finish_validation(self, ev: Event) -> None:
        s = self._session_by_key(ev)
        if s is None or s.phase is not Phase.TOGGLING:
            return
        s.timer = None
        self._send_to_car(s.ev_mac, ValidateCnf(s.toggles, ValidateResult.SUCCESS))
        s.phase = Phase.WAIT_MATCH
        self._arm(s, timing.TT_EVSE_MATCH_SESSION_NS, "s_match_session_timeout")

    # ------------------------------------------------------------------ match and key
    def match_acceptable(self, ev: Event) -> bool:
        frame = self._frame(ev)
        req = frame.mme
        if not isinstance(req, SlacMatchReq) or frame.dst != self.cfg.evse_mac:
            return False  # addressed to the neighbour charger, heard by crosstalk
        s = self.sessions.get((frame.src, req.run_id))
        if s is None or s.phase not in (Phase.ATTEN_SENT, Phase.WAIT_MATCH):
            return False
        return self._closer_car(s) is None

    def _closer_car(self, s: Session) -> bytes | None:
        margin = self.cfg.neighbour_margin_db
        if margin is None or s.attenuation_db is None:
            return None
        for mac, db in self.heard_db.items():
            if mac != s.ev_mac and db + margin <= s.attenuation_db:
                return mac
        return None

    def reject_match_req(self, ev: Event) -> None:
        frame = self._frame(ev)
        req = frame.mme
        s = self.sessions.get((frame.src, getattr(req, "run_id", b"")))
        closer = self._closer_car(s) if s is not None else None
        if closer is not None:
            reason = f"CM_SLAC_MATCH.REQ refused: car {closer.hex()} is closer"
        else:
            reason = "CM_SLAC_MATCH.REQ not acceptable"
        self.io.emit(FrameDropped(reason, frame.src))

    def send_match_cnf(self, ev: Event) -> None:
        frame = self._frame(ev)
        req = frame.mme
        if not isinstance(req, SlacMatchReq):
            raise TypeError("match_req without CM_SLAC_MATCH.REQ")
        winner = self.sessions.pop((frame.src, req.run_id))
        self._disarm(winner)
        for other in list(self.sessions.values()):
            self._end_quiet(other, SessionEndReason.NOT_MATCHED)
        key = self.modem_key
        if key is None:
            # The chart enters matching only after `keying` confirmed a key: a chart error.
            raise RuntimeError("CM_SLAC_MATCH.CNF without a key confirmed by the modem")
        nmk, nid = key.nmk, key.nid
        cnf = SlacMatchCnf(
            pev_mac=frame.src,
            evse_mac=self.cfg.evse_mac,
            run_id=req.run_id,
            nid=nid,
            nmk=nmk,
            pev_id=req.pev_id,
            evse_id=self.cfg.evse_id,
        )
        raw = self.io.encode(Frame(frame.src, self.cfg.evse_mac, cnf))
        self.matched = Matched(frame.src, req.run_id, nmk, nid, raw)
        self.heard_db.clear()
        self.io.emit(SendFrame(raw))

    def is_matched_run(self, ev: Event) -> bool:
        frame = self._frame(ev)
        run_id = getattr(frame.mme, "run_id", None)
        m = self.matched
        return m is not None and (frame.src, run_id) == (m.ev_mac, m.run_id)

    def is_matched_car(self, ev: Event) -> bool:
        m = self.matched
        return m is not None and self._frame(ev).src == m.ev_mac

    def resend_match_cnf(self, ev: Event) -> None:
        if self.matched is not None:
            self.io.emit(SendFrame(self.matched.match_cnf))

    def abandon_match(self, ev: Event) -> None:
        m = self.matched
        if m is not None:
            self.io.emit(SessionEnded(m.ev_mac, m.run_id, SessionEndReason.SUPERSEDED))
        self.matched = None

    def new_session_key(self, ev: Event) -> None:
        """A fresh random NMK (and its NID) for the session about to start; any match and
        confirmed key before it are gone (the modem gets the new key in `keying`)."""
        nmk = fresh_nmk(self.rng)
        self.pending_key = NetworkKey(nmk, nid_from_nmk(nmk))
        self.modem_key = None
        self.matched = None
        self.set_key_attempts = 0

    def send_set_key(self, ev: Event) -> None:
        key = self.pending_key
        if key is None:
            raise RuntimeError("keying entered without a new session key")
        self.set_key_attempts += 1
        self.key_in_modem = True  # from now on a teardown must overwrite it
        self._send_set_key(key.nid, key.nmk)

    def _send_set_key(self, nid: bytes, nmk: bytes) -> None:
        # A fresh non-zero nonce per request: every modem in the captures (QCA, Lumissil) echoes
        # MyNonce as YourNonce, which tells our answer from a late one to an earlier request.
        if self.set_key_nonce:
            self.superseded_nonces.append(self.set_key_nonce)
        self.set_key_nonce = self.rng.getrandbits(32) | 1
        req = SetKeyReq(nid=nid, new_key=nmk, my_nonce=self.set_key_nonce)
        self.io.send(self.cfg.modem_mac, req)

    def answers_our_set_key(self, ev: Event) -> bool:
        """Not an answer to one of our earlier requests. A modem (or emulator) that does not
        echo MyNonce is still heard: only a known stale nonce is refused."""
        cnf = self._frame(ev).mme
        return isinstance(cnf, SetKeyCnf) and cnf.your_nonce not in self.superseded_nonces

    def ignore_stale_set_key_cnf(self, ev: Event) -> None:
        self.io.emit(FrameDropped("CM_SET_KEY.CNF answers an earlier request", self._frame(ev).src))

    def set_key_succeeded(self, ev: Event) -> bool:
        cnf = self._frame(ev).mme
        return isinstance(cnf, SetKeyCnf) and cnf.result in (0x00, 0x01)

    def note_key_set(self, ev: Event) -> None:
        """The modem confirmed the pending key: from now on it is the one a match hands out."""
        cnf = self._frame(ev).mme
        key = self.pending_key
        if isinstance(cnf, SetKeyCnf) and key is not None:
            self.modem_key = key
            self.pending_key = None
            self.io.emit(KeySet(key.nid, cnf.result))

    def set_key_retries_left(self, ev: Event) -> bool:
        return self.set_key_attempts <= self.cfg.set_key_retries

    def report_set_key_failed(self, ev: Event) -> None:
        self._link_error(LinkErrorReason.SET_KEY_FAILED)

    # ------------------------------------------------------------------ link
    def send_link_status_req(self, ev: Event) -> None:
        self.io.send(self.cfg.modem_mac, VsPlLnkStatusReq())

    def link_is_up(self, ev: Event) -> bool:
        cnf = self._frame(ev).mme
        return isinstance(cnf, VsPlLnkStatusCnf) and cnf.link_up

    def link_is_down(self, ev: Event) -> bool:
        cnf = self._frame(ev).mme
        return isinstance(cnf, VsPlLnkStatusCnf) and not cnf.link_up

    def report_link_ready(self, ev: Event) -> None:
        m = self.matched
        if m is None:
            raise RuntimeError("linked without a match")
        self.io.emit(LinkReady(m.ev_mac, m.run_id, m.nid))

    def report_link_lost(self, ev: Event) -> None:
        self._link_error(LinkErrorReason.LINK_LOST)

    def report_join_failed(self, ev: Event) -> None:
        self._link_error(LinkErrorReason.JOIN_TIMEOUT)

    def report_restarted(self, ev: Event) -> None:
        self._link_error(LinkErrorReason.RESTARTED)
        self.matched = None

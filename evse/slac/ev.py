"""Sans-IO EV side of ISO 15118-3 SLAC, for the EV simulator and the tests.

It behaves like the cars in the captures (Hyundai Ioniq 5 / Kia EV6 timing by default,
tests/data/slac/ev_timing_ioniq5.json): broadcast CM_SLAC_PARM.REQ, collect CM_SLAC_PARM.CNF for
TT_match_response, three CM_START_ATTEN_CHAR.IND and ten CM_MNBC_SOUND.IND paced at
TP_EV_batch_msg_interval, answer every CM_ATTEN_CHAR.IND, pick the charger with the lowest
attenuation when TT_EV_atten_results is over, optionally CM_VALIDATE, CM_SLAC_MATCH.REQ, then
CM_SET_KEY.REQ to its own modem. Everything random comes from the injected generator.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from enum import Enum

from evse.slac import timing
from evse.slac.codec import decode_frame, encode_frame
from evse.slac.errors import SlacDecodeError
from evse.slac.messages import (
    BROADCAST_MAC,
    LOCAL_MODEM_MAC,
    AttenCharInd,
    AttenCharRsp,
    Frame,
    Mme,
    MnbcSoundInd,
    SetKeyCnf,
    SetKeyReq,
    SlacMatchCnf,
    SlacMatchReq,
    SlacParmCnf,
    SlacParmReq,
    StartAttenCharInd,
    ValidateCnf,
    ValidateReq,
    ValidateResult,
)
from evse.slac.outputs import SendFrame

MS = timing.NS_PER_MS


@dataclass(frozen=True, slots=True)
class EvTiming:
    """Defaults measured on a Hyundai Ioniq 5 against an EVerest charger (PROVENANCE.md)."""

    start_delay_ns: int = 0  # 5 % PWM seen -> first CM_SLAC_PARM.REQ (TP_EV_SLAC_init <= 10 s)
    parm_collect_ns: int = 210 * MS  # PARM.REQ -> first START_ATTEN_CHAR (TT_match_response)
    batch_interval_ns: int = 20 * MS  # TP_EV_batch_msg_interval 20-50 ms
    start_to_sound_ns: int = 40 * MS  # last START_ATTEN_CHAR -> first sound
    atten_results_ns: int = 1220 * MS  # first START_ATTEN_CHAR -> MATCH.REQ (TT_EV_atten_results)
    match_response_ns: int = timing.TT_MATCH_RESPONSE_NS  # ISO 15118-3 TT_match_response
    parm_attempts: int = 1 + timing.C_MATCH_RETRY  # ISO 15118-3 C_EV_match_retry
    slac_attempts: int = 1 + timing.C_MATCH_RETRY
    toggles: int = 3  # B/C toggles announced in CM_VALIDATE.REQ


class EvPhase(Enum):
    IDLE = "idle"
    WAIT_START = "wait_start"
    PARM = "parm"
    SOUNDING = "sounding"
    WAIT_ATTEN = "wait_atten"
    VALIDATE = "validate"
    MATCH = "match"
    SET_KEY = "set_key"
    JOINED = "joined"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class EvMatched:
    evse_mac: bytes
    nmk: bytes
    nid: bytes
    attenuation_db: float


@dataclass(frozen=True, slots=True)
class EvKeySet:
    nid: bytes


@dataclass(frozen=True, slots=True)
class EvFailed:
    reason: str


@dataclass(frozen=True, slots=True)
class EvToggleRequest:
    """The harness should toggle the pilot B->C->B this many times (CM_VALIDATE)."""

    count: int


EvOutput = SendFrame | EvMatched | EvKeySet | EvFailed | EvToggleRequest


@dataclass(slots=True)
class _Offer:
    evse_mac: bytes
    attenuation_db: float | None = None


@dataclass(slots=True)
class EvSlac:
    ev_mac: bytes
    rng: random.Random
    ev_timing: EvTiming = field(default_factory=EvTiming)
    validate: bool = False
    run_id_from_mac: bool = True  # Hyundai/Kia/BYD: RunID = own MAC + 00 00
    phase: EvPhase = EvPhase.IDLE
    run_id: bytes = b""
    offers: dict[bytes, _Offer] = field(default_factory=dict)
    chosen: bytes | None = None
    nmk: bytes | None = None
    nid: bytes | None = None
    _deadline: int | None = None
    _step: int = 0
    _attempts: int = 0
    _slac_attempts: int = 0
    _sounding_start_ns: int = 0
    _out: list[EvOutput] = field(default_factory=list)

    # ------------------------------------------------------------------ inputs
    def plug_in(self, now_ns: int) -> list[EvOutput]:
        """The car sees 5 % PWM: start SLAC after its start delay."""
        self._slac_attempts = 0
        self._new_run(now_ns, self.ev_timing.start_delay_ns)
        return self._take()

    def restart(self, now_ns: int) -> list[EvOutput]:
        """Start over with a new RunID mid-way, as Stellantis cars do."""
        self._new_run(now_ns, 0)
        return self._take()

    def handle_frame(self, raw: bytes, now_ns: int) -> list[EvOutput]:
        try:
            frame = decode_frame(raw)
        except SlacDecodeError:
            return []
        if frame.src == self.ev_mac or frame.dst not in (self.ev_mac, BROADCAST_MAC):
            return []
        mme = frame.mme
        if isinstance(mme, SlacParmCnf) and self.phase is EvPhase.PARM:
            if mme.run_id == self.run_id:
                self.offers.setdefault(frame.src, _Offer(frame.src))
        elif isinstance(mme, AttenCharInd) and self.phase in (EvPhase.SOUNDING, EvPhase.WAIT_ATTEN):
            if mme.run_id == self.run_id and frame.src in self.offers:
                n = max(1, len(mme.aag_db))
                self.offers[frame.src].attenuation_db = sum(mme.aag_db) / n
                rsp = AttenCharRsp(source_address=self.ev_mac, run_id=self.run_id)
                self._send(frame.src, rsp)
        elif isinstance(mme, ValidateCnf) and self.phase is EvPhase.VALIDATE:
            self._on_validate_cnf(mme, now_ns)
        elif isinstance(mme, SlacMatchCnf) and self.phase is EvPhase.MATCH:
            if mme.run_id == self.run_id and frame.src == self.chosen:
                self.nmk, self.nid = mme.nmk, mme.nid
                offer = self.offers[frame.src]
                self._out.append(
                    EvMatched(frame.src, mme.nmk, mme.nid, offer.attenuation_db or 0.0)
                )
                self.phase = EvPhase.SET_KEY
                self._send(LOCAL_MODEM_MAC, SetKeyReq(nid=mme.nid, new_key=mme.nmk))
                self._deadline = now_ns + 10 * self.ev_timing.match_response_ns
        elif (
            isinstance(mme, SetKeyCnf)
            and self.phase is EvPhase.SET_KEY
            and mme.result in (0x00, 0x01)
            and self.nid is not None
        ):
            self.phase = EvPhase.JOINED
            self._deadline = None
            self._out.append(EvKeySet(self.nid))
        return self._take()

    def next_deadline_ns(self) -> int | None:
        return self._deadline

    def handle_timer(self, now_ns: int) -> list[EvOutput]:
        if self._deadline is None or now_ns < self._deadline:
            return []
        self._deadline = None
        t = self.ev_timing
        if self.phase is EvPhase.WAIT_START:
            self.phase = EvPhase.PARM
            self._attempts = 0
            self._send_parm(now_ns)
        elif self.phase is EvPhase.PARM:
            if self.offers:
                self.phase = EvPhase.SOUNDING
                self._step = 0
                self._sounding_start_ns = now_ns
                self._sound_step(now_ns)
            elif self._attempts < t.parm_attempts:
                self._send_parm(now_ns)
            else:
                self._fail("no CM_SLAC_PARM.CNF")
        elif self.phase is EvPhase.SOUNDING:
            self._sound_step(now_ns)
        elif self.phase is EvPhase.WAIT_ATTEN:
            self._choose(now_ns)
        elif self.phase in (EvPhase.MATCH, EvPhase.VALIDATE):
            if self._attempts < t.parm_attempts and self.phase is EvPhase.MATCH:
                self._send_match(now_ns)
            else:
                self._retry_or_fail(now_ns, "no CM_SLAC_MATCH.CNF")
        elif self.phase is EvPhase.SET_KEY:
            self._fail("modem did not confirm CM_SET_KEY")
        return self._take()

    # ------------------------------------------------------------------ steps
    def _new_run(self, now_ns: int, delay_ns: int) -> None:
        self._slac_attempts += 1
        if self.run_id_from_mac and self._slac_attempts == 1:
            self.run_id = self.ev_mac + b"\x00\x00"
        else:
            self.run_id = self.rng.randbytes(8)
        self.offers = {}
        self.chosen = None
        self.phase = EvPhase.WAIT_START
        self._deadline = now_ns + delay_ns

    def _send_parm(self, now_ns: int) -> None:
        self._attempts += 1
        self._send(BROADCAST_MAC, SlacParmReq(run_id=self.run_id))
        self._deadline = now_ns + self.ev_timing.parm_collect_ns

    def _sound_step(self, now_ns: int) -> None:
        t = self.ev_timing
        n_sounds = timing.C_EV_MATCH_MNBC
        if self._step < 3:  # ISO 15118-3 C_EV_start_atten_char_inds
            self._send(
                BROADCAST_MAC,
                StartAttenCharInd(
                    num_sounds=n_sounds,
                    timeout_100ms=timing.TT_EVSE_MATCH_MNBC_100MS,
                    resp_type=1,
                    forwarding_sta=self.ev_mac,
                    run_id=self.run_id,
                ),
            )
            self._step += 1
            gap = t.batch_interval_ns if self._step < 3 else t.start_to_sound_ns
            self._deadline = now_ns + gap
            return
        k = self._step - 3
        self._send(
            BROADCAST_MAC,
            MnbcSoundInd(
                countdown=n_sounds - 1 - k,
                run_id=self.run_id,
                random_value=self.rng.randbytes(16),
            ),
        )
        self._step += 1
        if k + 1 < n_sounds:
            self._deadline = now_ns + t.batch_interval_ns
        else:
            self.phase = EvPhase.WAIT_ATTEN
            self._deadline = self._sounding_start_ns + t.atten_results_ns

    def _choose(self, now_ns: int) -> None:
        rated = [o for o in self.offers.values() if o.attenuation_db is not None]
        if not rated:
            self._retry_or_fail(now_ns, "no CM_ATTEN_CHAR.IND")
            return
        best = min(rated, key=lambda o: o.attenuation_db or 0.0)
        self.chosen = best.evse_mac
        self._attempts = 0
        if self.validate:
            self.phase = EvPhase.VALIDATE
            self._send(best.evse_mac, ValidateReq(timer=0, result=ValidateResult.READY))
            self._deadline = now_ns + self.ev_timing.match_response_ns
        else:
            self._send_match(now_ns)

    def _on_validate_cnf(self, cnf: ValidateCnf, now_ns: int) -> None:
        if cnf.result == ValidateResult.NOT_REQUIRED:
            self._send_match(now_ns)
        elif cnf.result == ValidateResult.READY:
            assert self.chosen is not None
            self._send(self.chosen, ValidateReq(timer=self.ev_timing.toggles, result=1))
            self._out.append(EvToggleRequest(self.ev_timing.toggles))
            self._deadline = (
                now_ns + timing.TT_EVSE_VALD_TOGGLE_NS + self.ev_timing.match_response_ns
            )
        elif cnf.result == ValidateResult.SUCCESS and cnf.toggle_num == self.ev_timing.toggles:
            self._send_match(now_ns)
        else:
            self._retry_or_fail(now_ns, f"validation failed ({cnf.toggle_num} toggles)")

    def _send_match(self, now_ns: int) -> None:
        assert self.chosen is not None
        self.phase = EvPhase.MATCH
        self._attempts += 1
        req = SlacMatchReq(pev_mac=self.ev_mac, evse_mac=self.chosen, run_id=self.run_id)
        self._send(self.chosen, req)
        self._deadline = now_ns + self.ev_timing.match_response_ns

    def _retry_or_fail(self, now_ns: int, reason: str) -> None:
        if self._slac_attempts < self.ev_timing.slac_attempts:
            self._new_run(now_ns, 0)
        else:
            self._fail(reason)

    def _fail(self, reason: str) -> None:
        self.phase = EvPhase.FAILED
        self._deadline = None
        self._out.append(EvFailed(reason))

    def _send(self, dst: bytes, mme: Mme) -> None:
        self._out.append(SendFrame(encode_frame(Frame(dst, self.ev_mac, mme))))

    def _take(self) -> list[EvOutput]:
        out = list(self._out)
        self._out.clear()
        return out

"""A scripted car talking to `EvseSlac` directly, frame by frame, in virtual time."""

from __future__ import annotations

import random

from evse.slac.codec import decode_frame, encode_frame
from evse.slac.evse_core import EvseSlac, PilotState
from evse.slac.evse_handler import SlacConfig
from evse.slac.messages import (
    AAG_GROUPS,
    BROADCAST_MAC,
    AttenCharRsp,
    AttenProfileInd,
    Frame,
    Mme,
    MnbcSoundInd,
    SetKeyCnf,
    SetKeyReq,
    SlacMatchReq,
    SlacParmReq,
    StartAttenCharInd,
    VsPlLnkStatusCnf,
)
from evse.slac.outputs import Output, SendFrame

MS = 1_000_000
S = 1_000_000_000
EVSE_MAC = bytes.fromhex("02000000e001")
MODEM_MAC = bytes.fromhex("0001870ea348")
CAR = bytes.fromhex("9012a10140b3")
CAR2 = bytes.fromhex("04e77e00f398")
RUN = CAR + b"\x00\x00"
RUN2 = CAR2 + b"\x00\x00"


class Station:
    """Owns an `EvseSlac`, a virtual now, and everything the core emitted."""

    def __init__(self, **config: object) -> None:
        cfg = SlacConfig(evse_mac=EVSE_MAC, **config)  # type: ignore[arg-type]
        self.core = EvseSlac(cfg, random.Random(7))
        self.now = 0
        self.outputs: list[tuple[int, Output]] = []
        self._keep(self.core.start(0))

    def _keep(self, outs: list[Output]) -> list[Output]:
        self.outputs.extend((self.now, o) for o in outs)
        return outs

    def advance(self, to_ns: int) -> None:
        """Let every timer up to `to_ns` fire, in order."""
        while True:
            d = self.core.next_deadline_ns()
            if d is None or d > to_ns:
                break
            self.now = d
            self._keep(self.core.handle_timer(d))
        self.now = to_ns

    def at(self, t_ns: int) -> Station:
        self.advance(t_ns)
        return self

    def cp(self, pilot: PilotState, pwm: bool) -> list[Output]:
        return self._keep(self.core.handle_cp(pilot, pwm, self.now))

    def plug(self, *, confirm_key: bool = True) -> list[Output]:
        """Car plugged with 5 % PWM on; the modem confirms the fresh key 2 ms later (a
        QCA7000 on the bench answers CM_SET_KEY in 1-5 ms) unless `confirm_key` is False."""
        outs = self.cp(PilotState.B, True)
        if confirm_key:
            self.advance(self.now + 2 * MS)
            outs = outs + self.set_key_cnf()
        return outs

    def rx(self, src: bytes, mme: Mme, dst: bytes = EVSE_MAC) -> list[Output]:
        return self._keep(self.core.handle_frame(encode_frame(Frame(dst, src, mme)), self.now))

    def rx_raw(self, raw: bytes) -> list[Output]:
        return self._keep(self.core.handle_frame(raw, self.now))

    # ------------------------------------------------------------------ car steps
    def parm(self, car: bytes = CAR, run: bytes = RUN) -> list[Output]:
        return self.rx(car, SlacParmReq(run_id=run), BROADCAST_MAC)

    def start_atten(self, car: bytes = CAR, run: bytes = RUN) -> list[Output]:
        return self.rx(car, StartAttenCharInd(10, 6, 1, car, run), BROADCAST_MAC)

    def sound(self, countdown: int, car: bytes = CAR, run: bytes = RUN, atten_db: int = 20) -> None:
        self.rx(car, MnbcSoundInd(countdown=countdown, run_id=run), BROADCAST_MAC)
        self.rx(MODEM_MAC, AttenProfileInd(car, (atten_db,) * AAG_GROUPS), BROADCAST_MAC)

    def sounding(self, car: bytes = CAR, run: bytes = RUN, atten_db: int = 20) -> None:
        """Real-car pacing (Ioniq 5): START x3 every 20 ms, 10 sounds every 20 ms."""
        for _ in range(3):
            self.start_atten(car, run)
            self.advance(self.now + 20 * MS)
        self.advance(self.now + 20 * MS)
        for k in range(9, -1, -1):
            self.sound(k, car, run, atten_db)
            self.advance(self.now + 20 * MS)
        self.advance(self.now + 30 * MS)  # past FINALIZE_SOUNDING after the last sound

    def atten_rsp(self, car: bytes = CAR, run: bytes = RUN) -> list[Output]:
        return self.rx(car, AttenCharRsp(source_address=car, run_id=run))

    def match(self, car: bytes = CAR, run: bytes = RUN, dst: bytes = EVSE_MAC) -> list[Output]:
        return self.rx(car, SlacMatchReq(pev_mac=car, evse_mac=dst, run_id=run), dst)

    def set_key_cnf(self, result: int = 0x01, your_nonce: int | None = None) -> list[Output]:
        """The modem's answer, echoing the nonce of our latest CM_SET_KEY.REQ by default."""
        if your_nonce is None:
            reqs = self.sent(SetKeyReq)
            your_nonce = reqs[-1][1].mme.my_nonce if reqs else 0  # type: ignore[union-attr]
        return self.rx(MODEM_MAC, SetKeyCnf(result=result, your_nonce=your_nonce))

    def link(self, up: bool) -> list[Output]:
        return self.rx(MODEM_MAC, VsPlLnkStatusCnf(link_up=up))

    def matched(self, car: bytes = CAR, run: bytes = RUN) -> None:
        """Plug-in to match confirmation with one car."""
        self.plug()
        self.parm(car, run)
        self.advance(self.now + 200 * MS)
        self.sounding(car, run)
        self.atten_rsp(car, run)
        self.advance(self.now + 900 * MS)
        self.match(car, run)

    # ------------------------------------------------------------------ inspection
    def sent(self, kind: type | None = None) -> list[tuple[int, Frame]]:
        frames = [(t, decode_frame(o.raw)) for t, o in self.outputs if isinstance(o, SendFrame)]
        return [(t, f) for t, f in frames if kind is None or isinstance(f.mme, kind)]

    def events(self, kind: type) -> list[tuple[int, object]]:
        return [(t, o) for t, o in self.outputs if isinstance(o, kind)]

    def clear(self) -> None:
        self.outputs.clear()


def state_after(st: Station, t_ns: int) -> str:
    st.advance(t_ns)
    return st.core.state


PILOT = PilotState

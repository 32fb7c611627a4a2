"""Real cars' SLAC, replayed frame by frame with their capture timing, into our EVSE core.

Each tests/data/slac/session_*.jsonl holds one capture's SLAC from the first CM_SLAC_PARM.REQ to
the CM_SLAC_MATCH.CNF, with the car's frames (BYD Atto 3 and XPENG P7 with stale bytes after
every frame), the charger modem's CM_ATTEN_PROFILE.INDs and what the charger (EVerest) sent.
We feed the car's and the modem's frames at their timestamps and compare what we answer.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from evse.slac.codec import decode_frame, encode_frame
from evse.slac.evse_core import EvseSlac, PilotState
from evse.slac.evse_handler import SlacConfig
from evse.slac.messages import (
    AttenCharInd,
    Frame,
    SetKeyCnf,
    SetKeyReq,
    SlacMatchCnf,
    SlacParmCnf,
)
from evse.slac.outputs import FrameDropped, KeySet, Output, SendFrame

DATA = Path(__file__).resolve().parents[1] / "data" / "slac"
SESSIONS = sorted(DATA.glob("session_*.jsonl"))
EVSE_KINDS = {"SlacParmCnf", "AttenCharInd", "SlacMatchCnf"}
# The EVerest site of the MG4 and XPENG captures reports every group 10 dB below the average of
# its modem's profiles: its `sounding_attenuation_adjustment` (read off the data).
ADJUSTMENT_DB = {"session_mg4": -10, "session_xpeng_p7": -10}


def _load(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()[1:]]


@pytest.mark.parametrize("path", SESSIONS, ids=[p.stem for p in SESSIONS])
@pytest.mark.req("PLC-2")
def test_real_car_session_replayed_matches_like_the_real_charger(path: Path) -> None:
    rows = _load(path)
    real = [(int(str(r["t_us"])) * 1000, decode_frame(bytes.fromhex(str(r["hex"])))) for r in rows]
    evse_mac = next(f.src for _, f in real if isinstance(f.mme, SlacParmCnf))
    adjust = ADJUSTMENT_DB.get(path.stem, 0)
    core = EvseSlac(
        SlacConfig(evse_mac=evse_mac, attenuation_adjustment_db=adjust), random.Random(0)
    )
    # 5 % PWM 20 ms before the car's first request; the modem confirms the fresh key 2 ms later
    t_pwm = real[0][0] - 20_000_000
    core.start(t_pwm)
    ours: list[tuple[int, Output]] = [(t_pwm, o) for o in core.handle_cp(PilotState.B, True, t_pwm)]
    (set_key,) = [decode_frame(o.raw) for _, o in ours if isinstance(o, SendFrame)]
    assert isinstance(set_key.mme, SetKeyReq)
    cnf = Frame(evse_mac, bytes.fromhex("0001870ea348"), SetKeyCnf(0x01, set_key.mme.my_nonce))
    t_cnf = t_pwm + 2_000_000
    ours.extend((t_cnf, o) for o in core.handle_frame(encode_frame(cnf), t_cnf))
    assert core.state == "waiting"

    def advance(to_ns: int) -> None:
        while (d := core.next_deadline_ns()) is not None and d <= to_ns:
            ours.extend((d, o) for o in core.handle_timer(d))

    for row, (t_ns, _frame) in zip(rows, real, strict=True):
        if row["kind"] in EVSE_KINDS:
            continue
        advance(t_ns)
        ours.extend((t_ns, o) for o in core.handle_frame(bytes.fromhex(str(row["hex"])), t_ns))
    advance(real[-1][0] + 1)

    dropped = [o for _, o in ours if isinstance(o, FrameDropped)]
    assert dropped == []  # every real frame was understood and expected
    sent = [(t, decode_frame(o.raw)) for t, o in ours if isinstance(o, SendFrame)]
    sent = [(t, f) for t, f in sent if not isinstance(f.mme, SetKeyReq)]

    def of(kind: type, frames: list[tuple[int, Frame]]) -> list[tuple[int, Frame]]:
        return [(t, f) for t, f in frames if isinstance(f.mme, kind)]

    # CM_SLAC_PARM.CNF: same answers, same bytes as the real charger, at the same moments
    assert [encode_frame(f) for _, f in of(SlacParmCnf, sent)] == [
        encode_frame(f) for _, f in of(SlacParmCnf, real)
    ]
    # CM_ATTEN_CHAR.IND: same averages of the same profiles, as soon as the last one is in
    for (t_ours, f_ours), (t_real, f_real) in zip(
        of(AttenCharInd, sent), of(AttenCharInd, real), strict=True
    ):
        assert isinstance(f_ours.mme, AttenCharInd) and isinstance(f_real.mme, AttenCharInd)
        assert f_ours.mme.num_sounds == f_real.mme.num_sounds
        assert (
            max(abs(a - b) for a, b in zip(f_ours.mme.aag_db, f_real.mme.aag_db, strict=True)) <= 1
        )
        assert abs(t_ours - t_real) <= 100_000_000
    # CM_SLAC_MATCH.CNF to the same car and run, with the key our modem confirmed at 5 % PWM
    ((_, ours_match),) = of(SlacMatchCnf, sent)
    (key_set,) = [o for _, o in ours if isinstance(o, KeySet)]
    assert isinstance(key_set, KeySet) and isinstance(ours_match.mme, SlacMatchCnf)
    assert ours_match.mme.nmk == set_key.mme.new_key and ours_match.mme.nid == key_set.nid
    ((_, real_match),) = of(SlacMatchCnf, real)
    assert isinstance(ours_match.mme, SlacMatchCnf) and isinstance(real_match.mme, SlacMatchCnf)
    assert (ours_match.dst, ours_match.mme.run_id) == (real_match.dst, real_match.mme.run_id)
    assert core.state == "wait_link.polling"

"""Fault injection on the EVSE SLAC core: random frames, pilot changes and time jumps."""

from __future__ import annotations

from hypothesis import given, settings, strategies as st

from evse.slac.codec import decode_frame
from evse.slac.messages import (
    AAG_GROUPS,
    BROADCAST_MAC,
    AttenCharRsp,
    AttenProfileInd,
    Mme,
    MnbcSoundInd,
    SlacMatchCnf,
    SlacMatchReq,
    SlacParmReq,
    StartAttenCharInd,
)
from evse.slac.outputs import LinkReady, SendFrame, SessionEnded, SessionEndReason
from tests.slac.driver import CAR, CAR2, EVSE_MAC, MODEM_MAC, MS, PILOT, RUN, RUN2, S, Station

RUNS = {CAR: [RUN, b"\x11" * 8], CAR2: [RUN2, b"\x22" * 8]}


@st.composite
def car_frame(draw: st.DrawFn) -> tuple[bytes, bytes, Mme]:
    car = draw(st.sampled_from([CAR, CAR2]))
    run = draw(st.sampled_from(RUNS[car]))
    kind = draw(st.integers(0, 5))
    mme: Mme
    dst = BROADCAST_MAC
    if kind == 0:
        mme = SlacParmReq(run_id=run)
    elif kind == 1:
        mme = StartAttenCharInd(10, 6, 1, car, run)
    elif kind == 2:
        mme = MnbcSoundInd(countdown=draw(st.integers(0, 9)), run_id=run)
    elif kind == 3:
        return (
            MODEM_MAC,
            BROADCAST_MAC,
            AttenProfileInd(car, (draw(st.integers(0, 90)),) * AAG_GROUPS),
        )
    elif kind == 4:
        mme, dst = AttenCharRsp(source_address=car, run_id=run), EVSE_MAC
    else:
        mme, dst = SlacMatchReq(pev_mac=car, evse_mac=EVSE_MAC, run_id=run), EVSE_MAC
    return car, dst, mme


step = st.one_of(
    st.tuples(st.just("frame"), car_frame()),
    st.tuples(st.just("wait"), st.integers(1, 2_000)),  # milliseconds
    st.tuples(st.just("modem"), st.sampled_from(["key0", "key1", "key2", "up", "down"])),
    st.tuples(st.just("cp"), st.sampled_from(["B5", "B", "C5", "A", "E"])),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(step, max_size=60))
def test_link_ready_only_ever_names_a_car_we_confirmed_a_match_to(steps: list[object]) -> None:
    """Invariant: no exception; LinkReady names the (car, RunID) of our last CM_SLAC_MATCH.CNF."""
    s = Station()
    s.plug()
    for item in steps:
        kind, arg = item  # type: ignore[misc]
        if kind == "frame":
            src, dst, mme = arg
            s.rx(src, mme, dst)
        elif kind == "wait":
            s.advance(s.now + arg * MS)
        elif kind == "modem":
            if arg.startswith("key"):
                s.set_key_cnf(int(arg[3]))
            else:
                s.link(arg == "up")
        else:
            pilot = {
                "B5": (PILOT.B, True),
                "B": (PILOT.B, False),
                "C5": (PILOT.C, True),
                "A": (PILOT.A, False),
                "E": (PILOT.E, False),
            }[arg]
            s.cp(*pilot)
        deadline = s.core.next_deadline_ns()
        assert deadline is None or deadline >= s.now
    last_confirmed: tuple[bytes, bytes] | None = None
    for _, out in s.outputs:  # emission order
        if isinstance(out, SendFrame):
            frame = decode_frame(out.raw)
            if isinstance(frame.mme, SlacMatchCnf):
                last_confirmed = (frame.dst, frame.mme.run_id)
        elif isinstance(out, LinkReady):
            assert (out.ev_mac, out.run_id) == last_confirmed


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 9_000), car_frame()), max_size=25))
def test_unrelated_frames_never_move_a_sessions_match_timeout(noise: list[object]) -> None:
    """After CM_ATTEN_CHAR.RSP, our session ends exactly TT_EVSE_match_session later unless it
    is matched, whatever the other car sends meanwhile."""
    s = Station()
    s.plug()
    s.parm()
    s.sounding()
    s.atten_rsp()
    t_rsp = s.now
    for offset_ms, (src, dst, mme) in sorted(noise, key=lambda n: n[0]):  # type: ignore[misc,index]
        if src == CAR or getattr(mme, "pev_mac", None) == CAR:
            continue  # only the neighbour car and the modem speak
        s.advance(t_rsp + offset_ms * MS)
        s.rx(src, mme, dst)
    s.advance(t_rsp + 10 * S)
    ours = [(t, o) for t, o in s.events(SessionEnded) if o.ev_mac == CAR]  # type: ignore[attr-defined]
    if s.sent(SlacMatchCnf):
        return  # the neighbour won a match first: our session was closed as not matched
    assert ours == [
        (t_rsp + 10 * S, SessionEnded(CAR, RUN, SessionEndReason.MATCH_SESSION_TIMEOUT, 20.0))
    ]

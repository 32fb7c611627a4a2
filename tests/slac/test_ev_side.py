"""The EV simulator's SLAC (evse.slac.ev) on its own and against chargers in virtual time."""

from __future__ import annotations

import random

from evse.slac.codec import decode_frame
from evse.slac.ev import EvFailed, EvMatched, EvPhase, EvSlac
from evse.slac.evse_core import PilotState
from evse.slac.messages import BROADCAST_MAC, SlacParmReq
from evse.slac.outputs import LinkReady, SendFrame
from tests.slac.virtual import VirtualSlac

S = 1_000_000_000
MS = 1_000_000
CAR = bytes.fromhex("9012a10140b3")
NEAR = bytes.fromhex("02000000e00a")
FAR = bytes.fromhex("02000000e00b")


def test_car_alone_repeats_its_parm_req_then_gives_up() -> None:
    ev = EvSlac(CAR, random.Random(0))
    outs = list(ev.plug_in(0))
    sent: list[int] = []
    failed: list[EvFailed] = []
    while (d := ev.next_deadline_ns()) is not None:
        outs = ev.handle_timer(d)
        for o in outs:
            if isinstance(o, SendFrame):
                f = decode_frame(o.raw)
                assert isinstance(f.mme, SlacParmReq) and f.dst == BROADCAST_MAC
                sent.append(d)
            elif isinstance(o, EvFailed):
                failed.append(o)
    # C_EV_match_retry (2) repeats of the request, one collection window (210 ms) apart
    assert sent == [0, 210 * MS, 420 * MS]
    assert [f.reason for f in failed] == ["no CM_SLAC_PARM.CNF"]
    assert ev.phase is EvPhase.FAILED


def test_car_hearing_two_chargers_picks_the_lower_attenuation() -> None:
    v = VirtualSlac(seed=2)
    v.add_evse("near", NEAR)
    v.add_evse("far", FAR)
    v.add_ev("car", CAR, connector="near")
    v.connect("near", "car", 12.0)
    v.connect("far", "car", 35.0)
    v.connect("near", "far", 40.0)
    v.pilot("far", PilotState.B, True, 0)
    v.plug("car", 1 * S)
    v.run_until(30 * S, until=lambda: bool(v.nodes["near"].of_type(LinkReady)))
    ((_, matched),) = [(t, o) for t, o in v.nodes["car"].log if isinstance(o, EvMatched)]
    assert isinstance(matched, EvMatched) and matched.evse_mac == NEAR
    assert not v.nodes["far"].of_type(LinkReady)

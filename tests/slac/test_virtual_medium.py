"""Chargers and cars over the simulated powerline (attenuation, loss, delay) in virtual time."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from drivers.homeplug.sim import MMTYPE_MNBC_SOUND_IND, ModemBehaviour
from evse.slac.codec import decode_frame
from evse.slac.config import slac_config_from_section
from evse.slac.ev import EvFailed, EvKeySet, EvMatched, EvPhase
from evse.slac.evse_core import PilotState
from evse.slac.evse_handler import SlacConfig
from evse.slac.messages import (
    LOCAL_MODEM_MAC,
    AttenCharInd,
    MmType,
    SetKeyCnf,
    SetKeyReq,
    SlacMatchCnf,
)
from evse.slac.outputs import (
    EfRetryRequested,
    LinkError,
    LinkErrorReason,
    LinkReady,
    MatchingStarted,
    ModemFound,
    SessionEnded,
    SessionEndReason,
)
from tests.slac.virtual import VirtualSlac

S = 1_000_000_000
MS = 1_000_000
EVSE_A = bytes.fromhex("02000000e00a")
EVSE_B = bytes.fromhex("02000000e00b")
CAR_A = bytes.fromhex("9012a10140b3")
CAR_B = bytes.fromhex("04e77e00f398")


def _linked(v: VirtualSlac, evse: str) -> bool:
    return bool(v.nodes[evse].of_type(LinkReady))


def one_car(attenuation_db: float = 20.0, **kwargs: object) -> VirtualSlac:
    v = VirtualSlac(seed=3)
    v.add_evse("evse", EVSE_A, **kwargs)  # type: ignore[arg-type]
    v.add_ev("car", CAR_A, connector="evse")
    v.connect("evse", "car", attenuation_db)
    return v


@pytest.mark.req("PLC-2")
def test_full_match_ends_in_link_up_with_the_cars_mac_and_run_id() -> None:
    v = one_car()
    v.plug("car", 1 * S)
    v.run_until(30 * S, until=lambda: _linked(v, "evse"))
    ((t, ready),) = v.nodes["evse"].of_type(LinkReady)
    assert isinstance(ready, LinkReady)
    assert ready.ev_mac == CAR_A and ready.run_id == CAR_A + b"\x00\x00"
    car = v.nodes["car"].ev
    assert car is not None and car.phase is EvPhase.JOINED and car.nid == ready.nid
    evse_modem = v.medium.stations["evse"]
    assert evse_modem.nmk == car.nmk  # both modems hold the match's NMK
    sent_keys = [decode_frame(raw) for _, raw in evse_modem.sent if raw[15:17] == b"\x08\x60"]
    assert sent_keys[0].dst == LOCAL_MODEM_MAC and isinstance(sent_keys[0].mme, SetKeyReq)
    assert t < 1 * S + 5 * S


def test_each_plug_in_gets_a_fresh_nmk() -> None:
    v = one_car()
    v.plug("car", 1 * S)
    v.run_until(30 * S, until=lambda: _linked(v, "evse"))
    first = v.medium.stations["evse"].nmk
    v.pilot("evse", PilotState.A, False, v.now_ns + S)
    v.plug("car", v.now_ns + 2 * S)
    v.run_until(v.now_ns + 30 * S, until=lambda: len(v.nodes["evse"].of_type(LinkReady)) == 2)
    assert len(v.nodes["evse"].of_type(LinkReady)) == 2
    assert v.medium.stations["evse"].nmk != first


def test_car_too_far_is_never_matched() -> None:
    v = one_car(attenuation_db=70.0)
    v.plug("car", 1 * S)
    v.run_until(20 * S)
    evse = v.nodes["evse"]
    assert not evse.of_type(LinkReady)
    ends = [o for _, o in evse.of_type(SessionEnded)]
    assert ends and all(o.reason is SessionEndReason.TOO_FAR for o in ends)  # type: ignore[attr-defined]
    assert any(isinstance(o, EvFailed) for _, o in v.nodes["car"].log)


@pytest.mark.req("PLC-2")
def test_no_car_response_retries_with_ef_then_gives_up() -> None:
    v = VirtualSlac(seed=1)
    v.add_evse("evse", EVSE_A)
    v.pilot("evse", PilotState.B, True, 0)
    v.run_until(200 * S)
    evse = v.nodes["evse"]
    retries = [t for t, _ in evse.of_type(EfRetryRequested)]
    # each 5 % PWM first sets a fresh key (the simulated modem confirms within 1 ms), then
    # waits TT_EVSE_SLAC_init (40 s); T_step_EF is 4 s
    assert retries == [40 * S + 1 * MS, 84 * S + 2 * MS]
    ((t, err),) = evse.of_type(LinkError)
    assert t == 128 * S + 3 * MS and err.reason is LinkErrorReason.INIT_TIMEOUT  # type: ignore[attr-defined]


def two_chargers(crosstalk_db: float) -> VirtualSlac:
    v = VirtualSlac(seed=5)
    v.add_evse("A", EVSE_A)
    v.add_evse("B", EVSE_B)
    v.add_ev("carA", CAR_A, connector="A")
    v.add_ev("carB", CAR_B, connector="B")
    v.connect("A", "carA", 18.0)
    v.connect("B", "carB", 22.0)
    v.connect("A", "carB", crosstalk_db)
    v.connect("B", "carA", crosstalk_db)
    v.connect("A", "B", crosstalk_db)
    v.connect("carA", "carB", crosstalk_db)
    return v


def test_two_cars_sounding_at_once_each_charger_matches_only_its_own() -> None:
    v = two_chargers(crosstalk_db=38.0)  # within the threshold: both sessions run in parallel
    v.plug("carA", 1 * S)
    v.plug("carB", 1 * S + 5 * MS)
    v.run_until(30 * S, until=lambda: _linked(v, "A") and _linked(v, "B"))
    a, b = v.nodes["A"], v.nodes["B"]
    assert {o.ev_mac for _, o in a.of_type(MatchingStarted)} == {CAR_A, CAR_B}  # type: ignore[attr-defined]
    ((_, ra),) = a.of_type(LinkReady)
    ((_, rb),) = b.of_type(LinkReady)
    assert ra.ev_mac == CAR_A and rb.ev_mac == CAR_B  # type: ignore[attr-defined]
    ended = {o.ev_mac: o.reason for _, o in a.of_type(SessionEnded)}  # type: ignore[attr-defined]
    assert ended[CAR_B] is SessionEndReason.NOT_MATCHED
    assert v.medium.stations["A"].nmk != v.medium.stations["B"].nmk


def test_neighbour_car_beyond_threshold_gets_no_attenuation_report() -> None:
    v = two_chargers(crosstalk_db=65.0)
    v.plug("carA", 1 * S)
    v.plug("carB", 1 * S)
    v.run_until(30 * S, until=lambda: _linked(v, "A") and _linked(v, "B"))
    a = v.nodes["A"]
    inds = [
        decode_frame(raw) for _, raw in v.medium.stations["A"].sent if raw[15:17] == b"\x6e\x60"
    ]
    assert {f.dst for f in inds if isinstance(f.mme, AttenCharInd)} == {CAR_A}
    assert [o.reason for _, o in a.of_type(SessionEnded) if o.ev_mac == CAR_B] == [  # type: ignore[attr-defined]
        SessionEndReason.TOO_FAR
    ]


def test_car_restarting_slac_mid_way_is_matched_on_its_new_run() -> None:
    v = one_car()
    v.plug("car", 1 * S)
    v.restart_ev("car", 1 * S + 400 * MS)  # mid-sounding, like Stellantis cars
    v.run_until(30 * S, until=lambda: _linked(v, "evse"))
    evse = v.nodes["evse"]
    car = v.nodes["car"].ev
    assert car is not None
    ((_, ready),) = evse.of_type(LinkReady)
    assert ready.run_id == car.run_id != CAR_A + b"\x00\x00"  # type: ignore[attr-defined]
    assert SessionEndReason.SUPERSEDED in [o.reason for _, o in evse.of_type(SessionEnded)]  # type: ignore[attr-defined]


def test_lost_sounds_still_match_on_the_sounds_heard() -> None:
    v = one_car()
    lost = {"n": 0}

    def drop(src: str, dst: str, mmtype: int | None) -> bool:
        if mmtype == MMTYPE_MNBC_SOUND_IND and src == "car" and lost["n"] < 4:
            lost["n"] += 1
            return True
        return False

    v.medium.drop = drop
    v.plug("car", 1 * S)
    v.run_until(30 * S, until=lambda: _linked(v, "evse"))
    inds = [
        decode_frame(raw) for _, raw in v.medium.stations["evse"].sent if raw[15:17] == b"\x6e\x60"
    ]
    ind = inds[0].mme
    assert isinstance(ind, AttenCharInd) and ind.num_sounds == 6
    assert _linked(v, "evse")


def test_all_sounds_lost_then_the_car_retries_and_matches() -> None:
    v = one_car()
    dropped = {"n": 0}

    def drop(src: str, dst: str, mmtype: int | None) -> bool:
        if mmtype == MMTYPE_MNBC_SOUND_IND and dropped["n"] < 10:
            dropped["n"] += 1
            return True
        return False

    v.medium.drop = drop
    v.plug("car", 1 * S)
    v.run_until(30 * S, until=lambda: _linked(v, "evse"))
    evse = v.nodes["evse"]
    assert [o.reason for _, o in evse.of_type(SessionEnded)] == [SessionEndReason.NO_SOUNDS]  # type: ignore[attr-defined]
    assert _linked(v, "evse")


def test_random_line_loss_is_survived_by_retries() -> None:
    v = one_car()
    v.medium.connect("evse", "car", 20.0, loss=0.15)
    v.plug("car", 1 * S)
    v.run_until(60 * S, until=lambda: _linked(v, "evse"))
    assert _linked(v, "evse")


def test_modem_echo_of_our_set_key_is_not_taken_as_confirmation() -> None:
    v = one_car(behaviour=ModemBehaviour(answers_set_key=False), echo_own=True)
    v.plug("car", 1 * S)
    v.run_until(30 * S)
    evse = v.nodes["evse"]
    assert not evse.of_type(LinkReady)
    assert [o.reason for _, o in evse.of_type(LinkError)] == [LinkErrorReason.SET_KEY_FAILED]  # type: ignore[attr-defined]


def test_validation_by_bc_toggles_end_to_end() -> None:
    v = VirtualSlac(seed=9)
    v.add_evse("evse", EVSE_A, config=SlacConfig(evse_mac=EVSE_A, validation=True))
    v.add_ev("car", CAR_A, connector="evse", validate=True)
    v.connect("evse", "car", 20.0)
    v.plug("car", 1 * S)
    v.run_until(30 * S, until=lambda: _linked(v, "evse"))
    assert _linked(v, "evse")
    assert any(isinstance(o, EvMatched) for _, o in v.nodes["car"].log)
    assert any(isinstance(o, EvKeySet) for _, o in v.nodes["car"].log)


def test_local_modem_version_is_read_with_vs_sw_ver() -> None:
    v = one_car()
    node = v.nodes["evse"]
    v.query_modem("evse", 0)
    v.run_until(1 * S)
    ((_, found),) = node.of_type(ModemFound)
    assert isinstance(found, ModemFound)
    assert (
        found.version == "SIM-QCA7000-GP" and found.modem_mac == v.medium.stations["evse"].modem_mac
    )


@settings(max_examples=12, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    own_db=st.integers(5, 30),
    cross_db=st.integers(0, 60),
    loss=st.sampled_from([0.0, 0.05, 0.2]),
    skew_ms=st.integers(0, 600),
)
def test_property_a_charger_never_links_to_the_neighbours_car(
    seed: int, own_db: int, cross_db: int, loss: float, skew_ms: int
) -> None:
    """Invariant: any LinkReady names the car on the charger's own cable, whatever the loss and
    the plug-in skew, when crosstalk is beyond the attenuation threshold (50 dB); below it, on
    a loss-free line, as long as crosstalk is 10 dB weaker than the own cable.

    (Below the threshold with loss, a car that missed its own charger's every answer and a
    charger that never heard its own car can pair up: no rule on one charger can see that.)"""
    cross = own_db + 10 + cross_db if loss == 0.0 else 51 + cross_db
    v = VirtualSlac(seed=seed)
    v.add_evse("A", EVSE_A)
    v.add_evse("B", EVSE_B)
    v.add_ev("carA", CAR_A, connector="A")
    v.add_ev("carB", CAR_B, connector="B")
    v.connect("A", "carA", own_db, loss)
    v.connect("B", "carB", own_db, loss)
    for a, b in (("A", "carB"), ("B", "carA"), ("A", "B"), ("carA", "carB")):
        v.connect(a, b, cross, loss)
    v.plug("carA", 1 * S)
    v.plug("carB", 1 * S + skew_ms * MS)
    v.run_until(40 * S, until=lambda: _linked(v, "A") and _linked(v, "B"))
    for evse, car in (("A", CAR_A), ("B", CAR_B)):
        for _, ready in v.nodes[evse].of_type(LinkReady):
            assert ready.ev_mac == car  # type: ignore[attr-defined]
    if loss == 0.0:
        assert _linked(v, "A") and _linked(v, "B")


# ---------------------------------------------------------------- key before CM_SLAC_MATCH.CNF


def _frames_of(raws: list[tuple[int, bytes]], mmtype: MmType) -> list[tuple[int, bytes]]:
    code = mmtype.value.to_bytes(2, "little")
    return [(t, raw) for t, raw in raws if raw[15:17] == code]


def test_key_is_set_and_confirmed_by_the_modem_before_match_cnf_carries_it() -> None:
    """ISO 15118-3 9.6 / EVerest ResetState: the NMK/NID handed to the car are in our local
    modem, set (CM_SET_KEY.REQ) and confirmed (CM_SET_KEY.CNF), before CM_SLAC_MATCH.CNF
    leaves, so the car can join at once. A slow modem (40 ms per answer) makes any other
    order visible."""
    slow = ModemBehaviour(reply_delay_ns=40 * MS)
    v = one_car(behaviour=slow)
    v.plug("car", 1 * S)
    v.run_until(30 * S, until=lambda: _linked(v, "evse"))
    modem = v.medium.stations["evse"]
    set_key_reqs = _frames_of(modem.sent, MmType.CM_SET_KEY_REQ)
    set_key_cnfs = _frames_of(modem.received, MmType.CM_SET_KEY_CNF)
    ((t_match, raw_match),) = _frames_of(modem.sent, MmType.CM_SLAC_MATCH_CNF)  # CM_SLAC_MATCH.CNF
    ((t_parm, _),) = _frames_of(modem.sent, MmType.CM_SLAC_PARM_CNF)  # CM_SLAC_PARM.CNF
    req, cnf, match = (decode_frame(set_key_reqs[0][1]), decode_frame(set_key_cnfs[0][1]),
                       decode_frame(raw_match))
    assert isinstance(req.mme, SetKeyReq) and isinstance(cnf.mme, SetKeyCnf)
    assert isinstance(match.mme, SlacMatchCnf)
    assert len(set_key_reqs) == 1  # one key for the session, none sent at the match
    assert set_key_reqs[0][0] < set_key_cnfs[0][0] <= t_parm < t_match
    assert cnf.mme.your_nonce == req.mme.my_nonce  # the modem's answer to this very request
    assert (match.mme.nmk, match.mme.nid) == (req.mme.new_key, req.mme.nid)
    assert modem.nmk == match.mme.nmk == v.nodes["car"].ev.nmk  # type: ignore[union-attr]


def test_modem_that_never_confirms_the_key_means_no_car_is_answered() -> None:
    """Bounded wait: 1 + set_key_retries attempts of t_set_key_cnf (1 s), then D-LINK_ERROR;
    no CM_SLAC_PARM.CNF or CM_SLAC_MATCH.CNF ever carries an unconfirmed key."""
    v = one_car(behaviour=ModemBehaviour(answers_set_key=False))
    v.plug("car", 1 * S)
    v.run_until(30 * S)
    evse = v.nodes["evse"]
    ((t, err),) = evse.of_type(LinkError)
    assert t == 1 * S + 3 * S and err.reason is LinkErrorReason.SET_KEY_FAILED  # type: ignore[attr-defined]
    sent = v.medium.stations["evse"].sent
    assert _frames_of(sent, MmType.CM_SLAC_PARM_CNF) == []
    assert _frames_of(sent, MmType.CM_SLAC_MATCH_CNF) == []
    assert evse.evse is not None and evse.evse.state == "failed"


# ---------------------------------------------------------------- local modem address


OTHER_LOCAL = bytes.fromhex("02b052000002")


def test_local_modem_address_from_config_is_where_key_and_link_polls_go() -> None:
    cfg, _ = slac_config_from_section({}, EVSE_A, OTHER_LOCAL)
    v = one_car(config=cfg, behaviour=ModemBehaviour(local_mac=OTHER_LOCAL))
    v.plug("car", 1 * S)
    v.query_modem("evse", 1 * S)
    v.run_until(30 * S, until=lambda: _linked(v, "evse"))
    assert _linked(v, "evse")
    sent = v.medium.stations["evse"].sent
    local = (MmType.CM_SET_KEY_REQ, MmType.VS_PL_LNK_STATUS_REQ, MmType.VS_SW_VER_REQ)
    to_modem = [raw for m in local for _, raw in _frames_of(sent, m)]
    assert to_modem and {raw[0:6] for raw in to_modem} == {OTHER_LOCAL}
    assert v.nodes["evse"].of_type(ModemFound)


def test_default_address_does_not_reach_a_modem_configured_elsewhere() -> None:
    """Shows the setting has an effect: without it the key is never confirmed."""
    v = one_car(behaviour=ModemBehaviour(local_mac=OTHER_LOCAL))
    v.plug("car", 1 * S)
    v.run_until(30 * S)
    errors = [o.reason for _, o in v.nodes["evse"].of_type(LinkError)]  # type: ignore[attr-defined]
    assert errors == [LinkErrorReason.SET_KEY_FAILED]

"""EVSE SLAC core against a scripted car: every ISO 15118-3 timer, RunID checks, key handling."""

from __future__ import annotations

import pytest

from evse.slac.messages import (
    LOCAL_MODEM_MAC,
    AttenCharInd,
    SetKeyReq,
    SlacMatchCnf,
    SlacParmCnf,
    ValidateCnf,
    ValidateReq,
    ValidateResult,
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
    SessionEnded,
    SessionEndReason,
)
from tests.slac.driver import CAR, CAR2, MS, PILOT, RUN, RUN2, S, Station

# ---------------------------------------------------------------- TT_EVSE_SLAC_init, C_sequ_retry


@pytest.mark.req("PLC-2")
def test_no_car_asks_for_ef_retries_then_reports_link_error() -> None:
    k = 2 * MS  # the modem confirms each session's fresh key 2 ms after the 5 % PWM
    st = Station()
    st.plug()
    st.advance(k + 40 * S - 1)
    assert st.events(EfRetryRequested) == []
    st.advance(k + 40 * S)
    assert [o.attempt for _, o in st.events(EfRetryRequested)] == [1]  # type: ignore[attr-defined]
    assert st.core.state == "ef_retry"
    # the pilot core runs E for T_step_EF and brings the 5 % PWM back: a fresh key again
    st.cp(PILOT.E, False)
    st.advance(44 * S)
    st.plug()
    assert st.core.state == "waiting"
    st.advance(44 * S + k + 40 * S)
    assert len(st.events(EfRetryRequested)) == 2
    st.cp(PILOT.E, False)
    st.advance(88 * S)
    st.plug()
    st.advance(88 * S + k + 40 * S)
    errors = st.events(LinkError)
    assert [(t, o.reason) for t, o in errors] == [(128 * S + k, LinkErrorReason.INIT_TIMEOUT)]  # type: ignore[attr-defined]
    assert st.core.state == "failed"
    assert len(st.sent(SetKeyReq)) == 3  # a fresh key each time the 5 % PWM comes on


@pytest.mark.req("PLC-1", "PLC-2")
def test_slac_does_not_start_without_5pct_pwm() -> None:
    st = Station()
    st.cp(PILOT.B, False)
    st.parm()
    assert st.sent(SlacParmCnf) == []
    assert st.core.state == "plugged"


# ---------------------------------------------------------------- TT_match_sequence


@pytest.mark.req("PLC-2")
def test_car_silent_after_parm_cnf_drops_session_after_tt_match_sequence() -> None:
    st = Station()
    st.plug()
    st.at(1 * S).parm()
    assert st.core.state == "matching"
    st.advance(1 * S + 400 * MS - 1)
    assert st.events(SessionEnded) == []
    st.advance(1 * S + 400 * MS)
    ended = st.events(SessionEnded)
    assert [(t, o.reason) for t, o in ended] == [(1 * S + 400 * MS, SessionEndReason.PARM_TIMEOUT)]  # type: ignore[attr-defined]
    assert st.core.state == "waiting"


def test_neighbour_car_frames_do_not_restart_our_sessions_timer() -> None:
    st = Station()
    st.plug()
    st.at(1 * S).parm()
    for k in range(1, 8):  # a second car keeps repeating its request every 50 ms
        st.at(1 * S + k * 50 * MS).parm(CAR2, RUN2)
    st.advance(1 * S + 400 * MS)
    ours = [o for _, o in st.events(SessionEnded) if o.ev_mac == CAR]  # type: ignore[attr-defined]
    assert len(ours) == 1 and ours[0].reason is SessionEndReason.PARM_TIMEOUT


def test_repeated_parm_req_is_answered_each_time() -> None:
    st = Station()
    st.plug()
    st.parm()
    st.at(200 * MS).parm()
    assert len(st.sent(SlacParmCnf)) == 2
    assert len(st.events(MatchingStarted)) == 1


# ---------------------------------------------------------------- TT_EVSE_match_MNBC and sounds


def test_sounding_window_closes_600ms_after_first_start_atten_even_if_sounds_stop() -> None:
    st = Station()
    st.plug()
    st.parm()
    st.at(200 * MS).start_atten()
    st.at(220 * MS).start_atten()  # repeats must not restart the window
    st.at(260 * MS).sound(9)
    st.at(280 * MS).sound(8)
    st.advance(800 * MS - 1)
    assert st.sent(AttenCharInd) == []
    st.advance(800 * MS)
    ((t, f),) = st.sent(AttenCharInd)
    assert t == 800 * MS
    assert isinstance(f.mme, AttenCharInd) and f.mme.num_sounds == 2


def test_attenuation_is_averaged_over_the_cars_own_sounds_only() -> None:
    st = Station()
    st.plug()
    st.parm()
    st.parm(CAR2, RUN2)
    st.start_atten()
    st.start_atten(CAR2, RUN2)
    for k, db in zip(range(9, -1, -1), [10, 30] * 5, strict=True):
        st.sound(k, atten_db=db)
        st.sound(k, CAR2, RUN2, atten_db=45)
    st.advance(st.now + 50 * MS)
    inds = {f.dst: f.mme for _, f in st.sent(AttenCharInd)}
    assert isinstance(inds[CAR], AttenCharInd) and set(inds[CAR].aag_db) == {20}
    assert isinstance(inds[CAR2], AttenCharInd) and set(inds[CAR2].aag_db) == {45}


def test_last_sound_finishes_sounding_early() -> None:
    st = Station()
    st.plug()
    st.parm()
    st.sounding()
    ind = st.sent(AttenCharInd)
    assert len(ind) == 1
    # ten sounds at 20 ms, last at 300 ms after START; finished within TP_EVSE_avg_atten_calc
    assert ind[0][0] - st.sent(SlacParmCnf)[0][0] < 600 * MS


def test_car_too_far_gets_no_atten_char_and_cannot_match() -> None:
    st = Station(attenuation_threshold_db=30.0)
    st.plug()
    st.parm()
    st.sounding(atten_db=42)
    assert st.sent(AttenCharInd) == []
    ((_, ended),) = st.events(SessionEnded)
    assert ended.reason is SessionEndReason.TOO_FAR and ended.attenuation_db == 42  # type: ignore[attr-defined]
    st.match()
    assert st.sent(SlacMatchCnf) == []


def test_no_profiles_from_the_modem_means_no_sounds() -> None:
    st = Station()
    st.plug()
    st.parm()
    st.start_atten()
    st.advance(700 * MS)
    ((_, ended),) = st.events(SessionEnded)
    assert ended.reason is SessionEndReason.NO_SOUNDS  # type: ignore[attr-defined]


# ---------------------------------------------------------------- TT_match_response, session


def test_atten_char_ind_repeated_twice_without_rsp_then_session_ends() -> None:
    st = Station()
    st.plug()
    st.parm()
    st.sounding()
    first = st.sent(AttenCharInd)[0][0]
    st.advance(first + 3 * 200 * MS)
    times = [t - first for t, _ in st.sent(AttenCharInd)]
    assert times == [0, 200 * MS, 400 * MS]
    ((_, ended),) = st.events(SessionEnded)
    assert ended.reason is SessionEndReason.NO_ATTEN_RSP  # type: ignore[attr-defined]


@pytest.mark.req("PLC-2")
def test_no_match_req_within_tt_evse_match_session_drops_session() -> None:
    st = Station()
    st.plug()
    st.parm()
    st.sounding()
    st.atten_rsp()
    t_rsp = st.now
    st.at(t_rsp + 5 * S).atten_rsp()  # a repeated response does not restart the timer
    st.advance(t_rsp + 10 * S - 1)
    assert st.events(SessionEnded) == []
    st.advance(t_rsp + 10 * S)
    ((t, ended),) = st.events(SessionEnded)
    assert t == t_rsp + 10 * S
    assert ended.reason is SessionEndReason.MATCH_SESSION_TIMEOUT  # type: ignore[attr-defined]


# ---------------------------------------------------------------- match, RunID, key


def test_match_cnf_carries_the_key_the_modem_confirmed_before_matching() -> None:
    """ISO 15118-3 9.6 / EVerest ResetState: the NMK/NID handed to the car are already in
    the local modem, set with CM_SET_KEY.REQ and confirmed by CM_SET_KEY.CNF, when
    CM_SLAC_MATCH.CNF leaves; the match itself sends no key."""
    st = Station()
    st.matched()
    ((t_cnf, cnf),) = st.sent(SlacMatchCnf)
    ((t_sk, sk),) = st.sent(SetKeyReq)
    ((t_set, key_set),) = st.events(KeySet)
    assert isinstance(cnf.mme, SlacMatchCnf) and isinstance(sk.mme, SetKeyReq)
    assert cnf.dst == CAR and cnf.mme.run_id == RUN
    assert sk.dst == LOCAL_MODEM_MAC and sk.mme.new_key == cnf.mme.nmk and sk.mme.nid == cnf.mme.nid
    assert t_sk < t_set < t_cnf and key_set.nid == cnf.mme.nid  # type: ignore[attr-defined]
    assert st.core.state == "wait_link.polling"


def test_a_fresh_key_for_every_plug_in() -> None:
    st = Station()
    st.matched()
    st.link(True)
    st.cp(PILOT.A, False)
    st.advance(st.now + 1 * S)
    st.matched()
    first, second = (f.mme for _, f in st.sent(SlacMatchCnf))
    assert isinstance(first, SlacMatchCnf) and isinstance(second, SlacMatchCnf)
    assert first.nmk != second.nmk and first.nid != second.nid


def test_parm_req_while_the_key_is_being_set_is_answered_once_it_is_confirmed() -> None:
    st = Station()
    st.plug(confirm_key=False)
    st.at(3 * MS).parm()
    assert st.sent(SlacParmCnf) == [] and st.core.state == "keying"
    st.at(5 * MS).set_key_cnf()
    ((t, _),) = st.sent(SlacParmCnf)
    assert t == 5 * MS and st.core.state == "matching"


def test_match_req_with_another_run_id_is_not_answered() -> None:
    st = Station()
    st.plug()
    st.parm()
    st.sounding()
    st.atten_rsp()
    st.match(run=b"\x99" * 8)
    assert st.sent(SlacMatchCnf) == []
    assert any("not acceptable" in o.reason for _, o in st.events(FrameDropped))  # type: ignore[attr-defined]


def test_match_req_addressed_to_the_neighbour_charger_is_ignored() -> None:
    st = Station()
    st.plug()
    st.parm()
    st.sounding()
    st.atten_rsp()
    st.match(dst=bytes.fromhex("02000000e002"))
    assert st.sent(SlacMatchCnf) == []


def test_repeated_match_req_gets_the_same_confirmation() -> None:
    st = Station()
    st.matched()
    st.advance(st.now + 200 * MS)
    st.match()
    first, again = st.sent(SlacMatchCnf)
    assert first[1] == again[1]


def test_both_set_key_results_0_and_1_mean_success() -> None:
    for result in (0x00, 0x01):
        st = Station()
        st.plug(confirm_key=False)
        st.set_key_cnf(result)
        assert st.core.state == "waiting"
        assert [o.modem_result for _, o in st.events(KeySet)] == [result]  # type: ignore[attr-defined]


def test_our_own_set_key_req_read_back_is_not_a_confirmation() -> None:
    st = Station()
    st.plug(confirm_key=False)
    ((_, sk),) = st.sent(SetKeyReq)
    from evse.slac.codec import encode_frame

    echo = encode_frame(sk)
    st.rx_raw(echo)
    assert st.core.state == "keying"
    assert any(o.reason == "own frame read back" for _, o in st.events(FrameDropped))  # type: ignore[attr-defined]


@pytest.mark.req("PLC-2")
def test_silent_modem_set_key_retried_then_link_error_and_no_car_answered() -> None:
    st = Station()
    st.plug(confirm_key=False)
    for k in range(14):  # the car asks every 210 ms meanwhile (Ioniq, Tesla)
        st.at(10 * MS + k * 210 * MS).parm()
    st.advance(3 * S)
    keys = st.sent(SetKeyReq)
    # three attempts with the session's NMK, then a random NMK to clear whatever the modem took
    assert [t for t, _ in keys] == [0, 1 * S, 2 * S, 3 * S]
    nmks = [f.mme.new_key for _, f in keys]  # type: ignore[union-attr]
    assert nmks[0] == nmks[2] != nmks[3]
    ((t, err),) = st.events(LinkError)
    assert t == 3 * S and err.reason is LinkErrorReason.SET_KEY_FAILED  # type: ignore[attr-defined]
    assert st.sent(SlacParmCnf) == [] and st.sent(SlacMatchCnf) == []
    assert st.core.state == "failed"


def test_bad_set_key_result_is_retried() -> None:
    st = Station()
    st.plug(confirm_key=False)
    st.set_key_cnf(0x02)
    assert len(st.sent(SetKeyReq)) == 2 and st.core.state == "keying"


# ---------------------------------------------------------------- link-up, TT_match_join


def test_link_up_only_when_the_modem_reports_it() -> None:
    st = Station()
    st.matched()
    st.advance(st.now + 1 * S)
    polls = st.sent(VsPlLnkStatusReq)
    assert len(polls) >= 10 and all(f.dst == LOCAL_MODEM_MAC for _, f in polls)
    st.link(False)
    assert st.events(LinkReady) == []
    st.link(True)
    ((_, ready),) = st.events(LinkReady)
    assert (ready.ev_mac, ready.run_id) == (CAR, RUN)  # type: ignore[attr-defined]
    assert st.core.state == "linked.watching"


@pytest.mark.req("PLC-2")
def test_no_link_within_tt_match_join_is_a_link_error_and_key_cleared() -> None:
    st = Station()
    st.matched()
    t0 = st.now
    st.advance(t0 + 12 * S)
    ((t, err),) = st.events(LinkError)
    assert t == t0 + 12 * S and err.reason is LinkErrorReason.JOIN_TIMEOUT  # type: ignore[attr-defined]
    keys = st.sent(SetKeyReq)
    assert len(keys) == 2 and keys[0][1].mme != keys[1][1].mme  # overwritten by a random NMK


@pytest.mark.req("PLC-2", "PLC-6.5")
def test_link_loss_while_linked_reports_error_and_clears_key() -> None:
    st = Station()
    st.matched()
    st.link(True)
    st.link(False)
    ((_, err),) = st.events(LinkError)
    assert err.reason is LinkErrorReason.LINK_LOST  # type: ignore[attr-defined]
    first, fresh = st.sent(SetKeyReq)  # a fresh key replaces the one the car knew
    assert first[1].mme.new_key != fresh[1].mme.new_key  # type: ignore[union-attr]
    assert st.core.state == "keying"


# ---------------------------------------------------------------- pilot coupling, pause


@pytest.mark.req("PLC-1", "PLC-2")
def test_unplug_tears_the_link_down_and_clears_the_key() -> None:
    st = Station()
    st.matched()
    st.link(True)
    st.cp(PILOT.A, False)
    ((_, term),) = st.events(LinkTerminated)
    assert term.ev_mac == CAR  # type: ignore[attr-defined]
    first, clear = st.sent(SetKeyReq)
    assert clear[1].mme != first[1].mme
    assert st.core.state == "unplugged"


@pytest.mark.req("PLC-1", "PLC-2")
def test_error_state_e_tears_the_link_down() -> None:
    st = Station()
    st.matched()
    st.link(True)
    st.cp(PILOT.E, False)
    assert len(st.events(LinkTerminated)) == 1 and st.core.state == "plugged"


def test_terminate_from_the_controller_tears_down() -> None:
    st = Station()
    st.matched()
    st.link(True)
    st.core.terminate(st.now)
    assert st.core.state == "done"


def test_pause_keeps_the_nmk_and_the_car_rejoins_without_slac() -> None:
    st = Station()
    st.matched()
    st.link(True)
    nid = st.events(LinkReady)[0][1].nid  # type: ignore[attr-defined]
    st.cp(PILOT.B, False)  # pause: PWM off, car may sleep
    assert st.core.state == "paused"
    st.advance(st.now + 60 * S)
    st.cp(PILOT.B, True)
    assert st.core.state == "rejoining.polling"
    st.link(True)
    readies = st.events(LinkReady)
    assert len(readies) == 2 and readies[1][1].nid == nid  # type: ignore[attr-defined]
    assert len(st.sent(SetKeyReq)) == 1 and len(st.sent(SlacMatchCnf)) == 1


def test_car_doing_slac_again_after_a_pause_gets_a_new_match_with_a_fresh_key() -> None:
    st = Station()
    st.matched()
    st.link(True)
    st.cp(PILOT.B, False)
    st.advance(st.now + 10 * S)
    st.cp(PILOT.B, True)
    st.parm(run=RUN2)
    assert st.core.state == "keying" and len(st.sent(SlacParmCnf)) == 1  # only the first run's
    st.advance(st.now + 2 * MS)
    st.set_key_cnf()
    assert st.core.state == "matching" and len(st.sent(SlacParmCnf)) == 2
    st.sounding(run=RUN2)
    st.atten_rsp(run=RUN2)
    st.match(run=RUN2)
    old, new = (f.mme for _, f in st.sent(SlacMatchCnf))
    (_, old_key), (_, new_key) = st.sent(SetKeyReq)
    assert isinstance(old, SlacMatchCnf) and isinstance(new, SlacMatchCnf)
    assert isinstance(new_key.mme, SetKeyReq) and old.nmk != new.nmk == new_key.mme.new_key


def test_tesla_parm_req_before_5pct_is_answered_when_pwm_comes_on() -> None:
    st = Station()
    st.cp(PILOT.B, False)
    st.at(200 * MS).parm()
    st.at(250 * MS).plug()  # key confirmed 2 ms later
    ((t, _),) = st.sent(SlacParmCnf)
    assert t == 252 * MS and st.core.state == "matching"


def test_early_parm_req_too_old_to_answer_within_tp_match_response_is_dropped() -> None:
    """Answered 152 ms after the request would break TP_match_response (100 ms): the car
    repeats it after TT_match_response and that repeat is answered at once."""
    st = Station()
    st.cp(PILOT.B, False)
    st.at(100 * MS).parm()
    st.at(250 * MS).plug()
    assert st.sent(SlacParmCnf) == [] and st.core.state == "waiting"
    assert any("too old" in o.reason for _, o in st.events(FrameDropped))  # type: ignore[attr-defined]
    st.at(310 * MS).parm()
    ((t, _),) = st.sent(SlacParmCnf)
    assert t == 310 * MS


# ---------------------------------------------------------------- restart, stale runs, parallel


def test_car_restart_mid_sounding_supersedes_its_old_run() -> None:
    st = Station()
    st.plug()
    st.parm()
    st.start_atten()
    st.sound(9)
    new_run = bytes.fromhex("1122334455667788")
    st.at(100 * MS).parm(run=new_run)
    assert [o.reason for _, o in st.events(SessionEnded)] == [SessionEndReason.SUPERSEDED]  # type: ignore[attr-defined]
    st.sound(8)  # a late sound of the old run
    assert any("no session" in o.reason for _, o in st.events(FrameDropped))  # type: ignore[attr-defined]
    st.sounding(run=new_run)
    st.atten_rsp(run=new_run)
    st.match(run=new_run)
    ((_, cnf),) = st.sent(SlacMatchCnf)
    assert isinstance(cnf.mme, SlacMatchCnf) and cnf.mme.run_id == new_run


def test_car_restart_after_match_abandons_it_and_matches_again() -> None:
    st = Station()
    st.matched()
    st.parm(run=RUN2)
    assert st.core.state == "matching"
    st.sounding(run=RUN2)
    st.atten_rsp(run=RUN2)
    st.match(run=RUN2)
    first, second = st.sent(SlacMatchCnf)
    assert isinstance(first[1].mme, SlacMatchCnf) and isinstance(second[1].mme, SlacMatchCnf)
    # the same car restarting within one plug-in gets the key the modem already holds
    assert first[1].mme.nmk == second[1].mme.nmk and len(st.sent(SetKeyReq)) == 1
    assert second[1].mme.run_id == RUN2


def test_neighbour_car_slac_after_match_is_ignored() -> None:
    st = Station()
    st.matched()
    st.parm(CAR2, RUN2)
    assert st.core.state == "wait_link.polling"


def test_parallel_sessions_are_capped() -> None:
    st = Station(max_sessions=2)
    st.plug()
    for i in range(3):
        st.parm(bytes([2, 0, 0, 0, 0xC0, i]), bytes([i]) * 8)
    assert len(st.sent(SlacParmCnf)) == 2


def test_malformed_frame_is_dropped_with_a_reason() -> None:
    st = Station()
    st.plug()
    st.rx_raw(b"\xff" * 6 + CAR + b"\x88\xe1\x01\x64\x60\x00")
    assert st.events(FrameDropped)[0][1].reason.startswith("malformed")  # type: ignore[attr-defined]
    assert st.core.state == "waiting"


# ---------------------------------------------------------------- CM_VALIDATE


def test_validate_not_configured_answers_not_required() -> None:
    st = Station()
    st.plug()
    st.parm()
    st.sounding()
    st.atten_rsp()
    st.rx(CAR, ValidateReq(timer=0, result=1))
    ((_, cnf),) = st.sent(ValidateCnf)
    assert isinstance(cnf.mme, ValidateCnf) and cnf.mme.result == ValidateResult.NOT_REQUIRED


def test_validate_counts_bc_toggles_in_the_window() -> None:
    st = Station(validation=True)
    st.plug()
    st.parm()
    st.sounding()
    st.atten_rsp()
    st.rx(CAR, ValidateReq(timer=0, result=1))
    st.rx(CAR, ValidateReq(timer=3, result=1))
    t0 = st.now
    for k in range(3):
        st.at(t0 + (2 * k + 1) * 300 * MS).cp(PILOT.C, True)
        st.at(t0 + (2 * k + 2) * 300 * MS).cp(PILOT.B, True)
    st.advance(t0 + 3500 * MS)
    ready, done = st.sent(ValidateCnf)
    assert isinstance(done[1].mme, ValidateCnf)
    assert ready[1].mme == ValidateCnf(0, ValidateResult.READY)
    assert (done[1].mme.toggle_num, done[1].mme.result) == (3, ValidateResult.SUCCESS)
    st.match()
    assert len(st.sent(SlacMatchCnf)) == 1


def test_every_callback_of_the_chart_exists_on_the_handler() -> None:
    """The engine checks this at construction; constructing a core proves the chart loads."""
    st = Station()
    assert st.core.state == "unplugged"
    assert CAR != CAR2


def test_late_answer_to_the_key_clearing_request_is_not_the_new_keys_confirmation() -> None:
    """EVerest#1424: a key change must not be confirmed by the answer to the previous one."""
    st = Station()
    st.matched()
    st.link(True)
    st.cp(PILOT.A, False)  # clears the key; this modem is slow to answer
    clear_nonce = st.sent(SetKeyReq)[-1][1].mme.my_nonce  # type: ignore[union-attr]
    st.advance(st.now + 1 * S)
    st.clear()
    st.plug(confirm_key=False)
    st.set_key_cnf(your_nonce=clear_nonce)
    assert st.core.state == "keying"
    assert any("earlier request" in o.reason for _, o in st.events(FrameDropped))  # type: ignore[attr-defined]
    st.set_key_cnf()
    assert st.core.state == "waiting"


def test_pilot_core_notices_drive_slac_like_pilot_states() -> None:
    st = Station()
    core = st.core
    core.handle_cp_notice("cp_level", {"level": "B"}, 0)
    assert core.state == "plugged"
    core.handle_cp_notice("pwm", {"on": True}, 0)
    assert core.state == "keying"
    core.handle_cp_notice("contactors", {"closed": True}, 0)
    assert core.state == "keying"
    core.handle_cp_notice("cp_level", {"level": "DIODE_FAULT"}, 0)  # a pilot fault
    assert core.state == "plugged"
    core.handle_cp_notice("cp_level", {"level": "A"}, 0)
    assert core.state == "unplugged"


def test_match_req_of_a_car_clearly_farther_than_another_sounding_car_is_refused() -> None:
    st = Station()
    st.plug()
    st.parm()
    st.parm(CAR2, RUN2)
    st.start_atten()
    st.start_atten(CAR2, RUN2)
    for k in range(9, -1, -1):
        st.sound(k, atten_db=12)
        st.sound(k, CAR2, RUN2, atten_db=30)  # the neighbour's car, heard through crosstalk
    st.advance(st.now + 50 * MS)
    st.atten_rsp(CAR2, RUN2)
    st.match(CAR2, RUN2)
    assert st.sent(SlacMatchCnf) == []
    assert any("is closer" in o.reason for _, o in st.events(FrameDropped))  # type: ignore[attr-defined]
    st.atten_rsp()
    st.match()
    ((_, cnf),) = st.sent(SlacMatchCnf)
    assert cnf.dst == CAR


def test_set_key_cnf_from_a_modem_that_does_not_echo_the_nonce_is_still_accepted() -> None:
    st = Station()
    st.plug(confirm_key=False)
    st.set_key_cnf(your_nonce=0)
    assert st.core.state == "waiting"

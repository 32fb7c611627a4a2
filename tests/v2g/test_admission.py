"""The admission core (evse/secc/admission.py) on virtual time: who owns the V2G session,
what is closed and why, and when the SECC stops listening."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from evse.secc.admission import (
    DEFAULT_MAX_PENDING,
    AdmissionConfig,
    Admit,
    Close,
    CloseCause,
    ConnectionAdmission,
    Phase,
    is_supported_app_protocol_req,
)
from evse.secc.errors import SeccLocalError
from evse.secc.timing import COMMUNICATION_SETUP_TIMEOUT_NS

from .data import real_sap_requests

S = 1_000_000_000
EXI = 0x8001
SAP = real_sap_requests()[0]
T0 = 5 * S


def closes(decisions: list[Admit | Close]) -> dict[int, CloseCause]:
    return {d.conn_id: d.cause for d in decisions if isinstance(d, Close)}


def up(config: AdmissionConfig | None = None) -> ConnectionAdmission:
    adm = ConnectionAdmission(config)
    adm.link_up(T0)
    return adm


@pytest.mark.req("PLC-4")
def test_every_real_cars_supported_app_protocol_req_is_recognised() -> None:
    reqs = real_sap_requests()
    assert len(reqs) >= 3  # DIN-only, ISO+DIN and other cars in the real sessions
    assert all(is_supported_app_protocol_req(EXI, r) is None for r in reqs)


def test_the_setup_time_is_the_seccs_18_s_below_the_cars_20_s() -> None:
    assert AdmissionConfig().setup_timeout_ns == COMMUNICATION_SETUP_TIMEOUT_NS == 18 * S
    assert AdmissionConfig().max_pending == DEFAULT_MAX_PENDING == 8


def test_nothing_is_accepted_before_the_link_is_up() -> None:
    adm = ConnectionAdmission()
    assert not adm.answers_sdp
    assert closes(adm.accepted(1, 0)) == {1: CloseCause.LINK_DOWN}


@pytest.mark.req("PLC-3")
def test_fifty_idle_connections_keep_eight_and_the_car_that_sends_sap_owns_the_session() -> None:
    adm = up()
    dropped: dict[int, CloseCause] = {}
    for cid in range(1, 51):
        dropped |= closes(adm.accepted(cid, T0 + cid))
    assert len(dropped) == 42 and set(dropped.values()) == {CloseCause.PENDING_LIMIT}
    assert adm.pending == tuple(range(43, 51))  # the newest eight
    out = adm.accepted(51, T0 + S)  # the car
    assert closes(out) == {43: CloseCause.PENDING_LIMIT}
    out = adm.first_frame(51, EXI, SAP, T0 + S)
    assert out[0] == Admit(51)
    assert closes(out) == {c: CloseCause.SESSION_OWNED for c in range(44, 51)}
    assert adm.owner == 51 and adm.phase is Phase.CLAIMED and adm.pending == ()
    assert not adm.answers_sdp


def test_the_oldest_idle_connection_goes_first_not_one_already_sending() -> None:
    adm = up(AdmissionConfig(max_pending=2))
    adm.accepted(1, T0)
    adm.accepted(2, T0)
    adm.bytes_received(1, T0)  # 1 is half-way through its supportedAppProtocolReq
    assert closes(adm.accepted(3, T0)) == {2: CloseCause.PENDING_LIMIT}
    adm.bytes_received(3, T0)
    assert closes(adm.accepted(4, T0)) == {1: CloseCause.PENDING_LIMIT}  # all busy: oldest
    assert adm.first_frame(3, EXI, SAP, T0)[0] == Admit(3)


def test_a_first_frame_that_is_not_sap_closes_only_that_connection() -> None:
    adm = up()
    adm.accepted(1, T0)
    adm.accepted(2, T0)
    adm.accepted(3, T0)
    bad = adm.first_frame(1, EXI, b"\x80\x00\x01", T0)
    assert len(bad) == 1 and isinstance(bad[0], Close) and bad[0].cause is CloseCause.NOT_SAP
    assert "undecodable EXI" in bad[0].detail
    other_type = adm.first_frame(2, 0x8002, SAP, T0)
    assert closes(other_type) == {2: CloseCause.NOT_SAP}
    assert adm.pending == (3,) and adm.phase is Phase.SETUP
    assert adm.first_frame(3, EXI, SAP, T0)[0] == Admit(3)


def test_a_din_message_instead_of_sap_is_named_in_the_reason() -> None:
    adm = up()
    adm.accepted(1, T0)
    din_session_setup = bytes.fromhex("809a0211d63d9bd4e7a2e1a8020004")
    (out,) = adm.first_frame(1, EXI, din_session_setup, T0)
    assert isinstance(out, Close) and out.cause is CloseCause.NOT_SAP


def test_idle_connections_are_closed_at_the_setup_time_then_the_secc_is_silent() -> None:
    adm = up()
    for cid in (1, 2, 3):
        adm.accepted(cid, T0 + cid * S)
    assert adm.next_deadline_ns() == T0 + 18 * S
    assert adm.handle_timer(T0 + 18 * S - 1) == []
    out = adm.handle_timer(T0 + 18 * S)
    assert closes(out) == {c: CloseCause.SETUP_TIMEOUT for c in (1, 2, 3)}
    assert "V2G2-716" in out[0].detail  # type: ignore[union-attr]
    assert adm.phase is Phase.ENDED and adm.ended_by is CloseCause.SETUP_TIMEOUT
    assert not adm.answers_sdp and adm.next_deadline_ns() is None
    refused = adm.accepted(4, T0 + 19 * S)
    assert closes(refused) == {4: CloseCause.NOT_ACCEPTING}
    assert "next plug-in" in refused[0].detail  # type: ignore[union-attr]
    adm.link_up(T0 + 60 * S)  # the next plug-in
    assert adm.answers_sdp and adm.accepted(5, T0 + 60 * S) == []
    assert adm.next_deadline_ns() == T0 + 78 * S


def test_a_car_silent_after_sap_is_closed_at_the_setup_time() -> None:
    adm = up()
    adm.accepted(1, T0)
    adm.first_frame(1, EXI, SAP, T0 + S)
    assert adm.next_deadline_ns() == T0 + 18 * S  # SAP alone does not stop the timer
    assert closes(adm.handle_timer(T0 + 18 * S)) == {1: CloseCause.SETUP_TIMEOUT}
    assert adm.owner is None and adm.phase is Phase.ENDED


def test_session_setup_res_stops_the_timer_and_later_connections_are_refused() -> None:
    adm = up()
    adm.accepted(1, T0)
    adm.first_frame(1, EXI, SAP, T0 + S)
    adm.session_established(1, T0 + 2 * S)
    assert adm.phase is Phase.ESTABLISHED and adm.next_deadline_ns() is None
    assert adm.handle_timer(T0 + 100 * S) == []
    assert closes(adm.accepted(2, T0 + 3 * S)) == {2: CloseCause.SESSION_OWNED}
    assert adm.link_up(T0 + 4 * S) == [] and adm.phase is Phase.ESTABLISHED  # owner kept


def test_when_the_sessions_connection_closes_nothing_is_accepted_until_the_next_link_up() -> None:
    adm = up()
    adm.accepted(1, T0)
    adm.first_frame(1, EXI, SAP, T0)
    adm.session_established(1, T0)
    adm.closed(1, T0 + 60 * S)
    assert adm.phase is Phase.ENDED and adm.ended_by is None and not adm.answers_sdp
    refused = adm.accepted(2, T0 + 61 * S)
    assert closes(refused) == {2: CloseCause.NOT_ACCEPTING}
    assert "session is over" in refused[0].detail  # type: ignore[union-attr]
    adm.link_up(T0 + 62 * S)
    assert adm.accepted(3, T0 + 62 * S) == []


def test_a_pending_connection_that_the_peer_closed_is_forgotten() -> None:
    adm = up()
    adm.accepted(1, T0)
    adm.closed(1, T0)
    assert adm.pending == () and adm.phase is Phase.SETUP


def test_link_down_closes_everything_and_refuses() -> None:
    adm = up()
    adm.accepted(1, T0)
    adm.accepted(2, T0)
    adm.first_frame(2, EXI, SAP, T0)
    adm.accepted(3, T0)  # refused: owned
    assert closes(adm.link_down(T0 + S)) == {2: CloseCause.LINK_DOWN}
    assert adm.phase is Phase.LINK_DOWN and adm.owner is None
    assert closes(adm.accepted(4, T0)) == {4: CloseCause.LINK_DOWN}


def test_misuse_is_a_local_error() -> None:
    adm = up()
    adm.accepted(1, T0)
    with pytest.raises(SeccLocalError):
        adm.accepted(1, T0)
    with pytest.raises(SeccLocalError):
        adm.first_frame(9, EXI, SAP, T0)
    with pytest.raises(SeccLocalError):
        AdmissionConfig(max_pending=0)
    with pytest.raises(SeccLocalError):
        AdmissionConfig(setup_timeout_ns=0)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["accept", "bytes", "sap", "junk", "close", "tick",
                                           "up", "lazy_up", "sdp"]),
                          st.integers(0, 30)), max_size=80))
def test_invariants_under_any_sequence(ops: list[tuple[str, int]]) -> None:
    """Never more than max_pending pending, at most one owner, the owner is never closed
    for room, no decision names a connection twice, and no pending connection (nor an
    owner before SessionSetupRes) waits without a deadline."""
    adm = up(AdmissionConfig(max_pending=3))
    now, next_id, alive = T0, 1, set()
    for op, n in ops:
        now += n * S // 10
        if op == "accept":
            out = adm.accepted(next_id, now)
            alive.add(next_id)
            next_id += 1
        elif op == "tick":
            out = adm.handle_timer(now)
        elif op in ("up", "lazy_up"):
            out = adm.link_up(now, on_first_contact=op == "lazy_up")
        elif op == "sdp":
            adm.sdp_request(now)
            out = []
        elif not alive:
            continue
        else:
            cid = sorted(alive)[n % len(alive)]
            if op == "bytes":
                adm.bytes_received(cid, now)
                out = []
            elif op == "close":
                out = adm.closed(cid, now)
                alive.discard(cid)
            elif adm.is_pending(cid):
                out = adm.first_frame(cid, EXI, SAP if op == "sap" else b"\x00", now)
            else:
                out = []
        named = [d.conn_id for d in out]
        assert len(named) == len(set(named))
        owner_before = adm.owner
        for d in out:
            if isinstance(d, Close):
                assert d.cause is not CloseCause.PENDING_LIMIT or d.conn_id != owner_before
                alive.discard(d.conn_id)
        assert len(adm.pending) <= 3
        assert adm.owner is None or adm.owner not in adm.pending
        assert set(adm.pending) <= alive
        if adm.pending or adm.phase is Phase.CLAIMED:
            assert adm.next_deadline_ns() is not None


def test_without_a_modem_the_setup_time_starts_at_the_cars_first_contact() -> None:
    """Bench without D-LINK_READY: the timer waits for the first SDP request or connection
    (an idle connection counts, so it is still bounded), and later contacts do not move it."""
    adm = ConnectionAdmission()
    adm.link_up(T0, on_first_contact=True)
    assert adm.answers_sdp and adm.next_deadline_ns() is None
    assert adm.handle_timer(T0 + 1000 * S) == []
    adm.sdp_request(T0 + 30 * S)
    assert adm.next_deadline_ns() == T0 + 48 * S
    adm.accepted(1, T0 + 40 * S)
    assert adm.next_deadline_ns() == T0 + 48 * S
    assert closes(adm.handle_timer(T0 + 48 * S)) == {1: CloseCause.SETUP_TIMEOUT}


def test_an_idle_connection_is_a_first_contact_too() -> None:
    adm = ConnectionAdmission()
    adm.link_up(T0, on_first_contact=True)
    adm.accepted(1, T0 + 7 * S)
    assert adm.next_deadline_ns() == T0 + 25 * S
    adm.link_up(T0 + 30 * S)  # a real D-LINK_READY arms at once
    assert adm.next_deadline_ns() == T0 + 48 * S


def test_connections_already_waiting_at_a_lazy_link_up_start_the_timer_at_once() -> None:
    """A connection accepted before the (simulated) plug-in must not escape the bound."""
    adm = up()
    adm.accepted(1, T0)
    adm.link_up(T0 + S, on_first_contact=True)
    assert adm.next_deadline_ns() == T0 + 19 * S
    assert closes(adm.handle_timer(T0 + 19 * S)) == {1: CloseCause.SETUP_TIMEOUT}

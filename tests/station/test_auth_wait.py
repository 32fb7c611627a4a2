"""Authorization after plug-in through the whole simulated station (car, pilot, SLAC, SDP,
SECC, contract, OCPP 1.6 controller, CSMS simulator), in virtual time: a driver who needs
minutes with an RFID card keeps the session (EIM 300 s, ISO 15118-2
Ongoing_WaitingForCustomerInteraction), a car whose own 60 s Ongoing timeout ends the
session first is woken when the token arrives (IEC 61851-1 / ISO 15118-3 E/F then 5 %
PWM), and the per-mode waits (EIM 300 s / PnC 55 s, ccs2_dc_reference.md C7) end the
session with AUTH_TIMEOUT. The same seed gives the same absolute time to the car
(PaymentDetailsRes.EVSETimeStamp)."""

from __future__ import annotations

from typing import Any

import pytest

from evse.contract.values import StopReason
from evse.runtime.clock import VIRTUAL_EPOCH_UNIX_S, MonotonicClock, VirtualClock, wall_time_s
from evse.runtime.config import AuthSection, StationConfig
from evse.runtime.dc_station import DcStation, SessionConfig
from evse.runtime.ocpp_side import OcppSide
from evse.secc.env import SessionEndReason
from evse.security.testpki import DEFAULT_EMAID

S = 1_000_000_000
MS = 1_000_000
#: 2020-01-01T00:00:00Z: anything earlier is "seconds since process start", not Unix time.
UNIX_2020_S = 1_577_836_800


def station(config: StationConfig | None = None, **session: Any) -> DcStation:
    st = DcStation(config or StationConfig(), SessionConfig(**session))
    st.start()
    st.sched.run_until(1 * S)
    st.plug_in()
    return st


def side(st: DcStation) -> OcppSide:
    assert isinstance(st.controller, OcppSide)
    return st.controller


def auth_answers(st: DcStation) -> list[tuple[int, str, str]]:
    """(time, ResponseCode, EVSEProcessing) of every authorization answer the car got."""
    return [(t, b.ResponseCode.value, b.EVSEProcessing.value)
            for t, kind, b in st.ev.transcript
            if kind == "res" and type(b).__name__ in ("AuthorizationResType",
                                                      "ContractAuthenticationResType")]


def first_auth_request_ns(st: DcStation) -> int:
    return next(t for t, kind, b in st.ev.transcript if kind == "req"
                and type(b).__name__ in ("AuthorizationReqType", "ContractAuthenticationReqType"))


def run_until(st: DcStation, pred: Any, limit_s: float) -> None:
    ok = st.sched.run_until_true(pred, limit_ns=round(limit_s * S))
    assert ok, f"not reached within {limit_s} s; milestones {st.log.milestones}"


def ended(st: DcStation) -> list[str]:
    return [m for _, m in st.log.milestones if m.startswith("secc session ended")]


@pytest.mark.req("P0-4", "P1-8", "PLC-5.2")
def test_eim_token_after_120_s_is_accepted_while_the_car_waits_for_the_driver() -> None:
    st = station(protocol="iso2", ev_profile="iso_waits_for_customer", auth_delay_s=120,
                 charge_s=10)
    run_until(st, lambda: st.log.ev_result is not None, 300)
    assert st.log.ev_result == "OK: charge time over"
    answers = auth_answers(st)
    t0 = first_auth_request_ns(st)
    waiting = [t for t, _, p in answers if p == "Ongoing_WaitingForCustomerInteraction"]
    finished = [t for t, _, p in answers if p == "Finished"]
    assert len(waiting) > 500  # 120 s of repeats every 200 ms
    assert max(waiting) - t0 >= 119 * S and len(finished) == 1 > 0
    assert finished[0] > max(waiting) and finished[0] - t0 < 121 * S
    assert [c for _, c, _ in answers] == ["OK"] * len(answers)
    assert ended(st) == ["secc session ended ev_stop"]  # one session, no wake needed
    csms = side(st).csms
    assert len(csms.of("Authorize")) == 1 and len(csms.of("StartTransaction")) == 1
    assert csms.violations == []
    st.close()


@pytest.mark.req("P1-8")
def test_din_car_gives_up_at_60_s_then_a_token_at_90_s_wakes_it_and_it_charges() -> None:
    st = station(protocol="din", auth_delay_s=90, charge_s=10)
    run_until(st, lambda: st.log.ev_result is not None, 120)
    assert st.log.ev_result == "FAILED: authorization Ongoing for more than 60 s"
    t_gave_up = st.sched.now_ns()
    # The car closed its connection; the session ended cleanly and the 5 % PWM stopped.
    run_until(st, lambda: not st.cp.handler.pwm_on, 5)
    assert ended(st) == ["secc session ended connection_lost"]
    assert st.cp.state.endswith("B1")
    t_token = first_auth_request_ns(st) + 90 * S
    run_until(st, lambda: st.cp.state.endswith("wake_ef"), 40)
    assert t_token <= st.sched.now_ns() < t_token + 100 * MS  # woken at the token
    assert st.sched.now_ns() - t_gave_up > 25 * S
    t_wake = st.sched.now_ns()
    # E/F for T_step_EF (4 s), then B1 -> B2: 5 % PWM again, and the car starts over.
    run_until(st, lambda: st.cp.handler.pwm_on, 10)
    assert 4 * S <= st.sched.now_ns() - t_wake <= 5 * S
    assert st.log.milestones[-1][1] == "ev starts a new session"
    run_until(st, lambda: st.log.ev_result is not None, 120)
    assert st.log.ev_result == "OK: charge time over"
    # The new session was authorized at once: the pre-authorization carried over.
    assert [p for _, _, p in auth_answers(st)] == ["Finished"]
    assert ended(st) == ["secc session ended connection_lost", "secc session ended ev_stop"]
    csms = side(st).csms
    assert len(csms.of("Authorize")) == 1
    assert len(csms.of("StartTransaction")) == 1 and len(csms.of("StopTransaction")) == 1
    assert csms.violations == []
    st.close()


def test_eim_never_authorized_ends_at_300_s_with_auth_timeout() -> None:
    st = station(protocol="iso2", ev_profile="iso_waits_for_customer", auth_delay_s=10_000)
    run_until(st, lambda: st.log.ev_result is not None, 400)
    assert st.log.ev_result == "FAILED: AuthorizationResType FAILED"
    answers = auth_answers(st)
    t0 = first_auth_request_ns(st)
    assert answers[-1][1:] == ("FAILED", "Finished")
    assert 300 * S <= answers[-1][0] - t0 <= 300 * S + 300 * MS
    assert {p for _, _, p in answers[:-1]} == {"Ongoing_WaitingForCustomerInteraction"}
    assert ended(st) == ["secc session ended auth_timeout"]
    assert st.guard.stop_reason is StopReason.AUTH_TIMEOUT
    assert st.secc is not None and st.secc.end_reason is SessionEndReason.AUTH_TIMEOUT
    st.sched.run_for(5 * S)
    assert side(st).ctrl.machine.state == "finishing"  # no wake, no transaction
    assert "StartTransaction" not in side(st).csms.actions()
    st.close()


def test_pnc_never_authorized_ends_at_55_s_with_auth_timeout() -> None:
    st = DcStation(StationConfig(), SessionConfig(protocol="iso2", ev_profile="pnc",
                                                  charge_s=10, tls=True))
    side(st).silent = True  # the controller (and so the CSMS) never answers
    st.start()
    st.sched.run_until(1 * S)
    st.plug_in()
    run_until(st, lambda: st.log.ev_result is not None, 120)
    assert st.log.ev_result == "FAILED: AuthorizationResType FAILED"
    answers = auth_answers(st)
    t0 = first_auth_request_ns(st)
    assert 55 * S <= answers[-1][0] - t0 <= 55 * S + 300 * MS
    assert {p for _, _, p in answers[:-1]} == {"Ongoing"}  # the contract is being checked
    assert st.secc is not None and st.secc.end_reason is SessionEndReason.AUTH_TIMEOUT
    assert st.guard.stop_reason is StopReason.AUTH_TIMEOUT
    st.close()


@pytest.mark.parametrize(("mode", "expected_s"), [("eim", 100.0), ("pnc", 30.0)])
def test_configured_waits_apply_to_their_own_mode(mode: str, expected_s: float) -> None:
    """Station config auth.timeout_eim_s = 100, auth.timeout_pnc_s = 30: swapping the two
    anywhere (guard, SECC chart, controller) ends the session at the other value."""
    config = StationConfig(auth=AuthSection(timeout_eim_s=100.0, timeout_pnc_s=30.0))
    if mode == "eim":
        st = station(config, protocol="iso2", ev_profile="iso_waits_for_customer",
                     auth_delay_s=10_000)
    else:
        st = DcStation(config, SessionConfig(protocol="iso2", ev_profile="pnc", tls=True))
        side(st).silent = True
        st.start()
        st.sched.run_until(1 * S)
        st.plug_in()
    run_until(st, lambda: st.log.ev_result is not None, 200)
    answers = auth_answers(st)
    assert answers[-1][1] == "FAILED"
    took = answers[-1][0] - first_auth_request_ns(st)
    assert expected_s * S <= took <= expected_s * S + 300 * MS
    assert st.guard.stop_reason is StopReason.AUTH_TIMEOUT
    assert side(st).config.auth_timeout_eim_s == 100.0
    assert side(st).config.auth_timeout_pnc_s == 30.0
    st.close()


def _payment_details_timestamp(seed: int) -> tuple[int, int]:
    st = DcStation(StationConfig(seed=seed), SessionConfig(protocol="iso2", ev_profile="pnc",
                                                           charge_s=5, tls=True))
    side(st).csms.tokens[DEFAULT_EMAID] = "Accepted"
    st.start()
    st.sched.run_until(1 * S)
    st.plug_in()
    run_until(st, lambda: st.log.ev_result is not None, 120)
    [(t, stamp)] = [(t, int(b.EVSETimeStamp)) for t, kind, b in st.ev.transcript
                    if kind == "res" and type(b).__name__ == "PaymentDetailsResType"]
    st.close()
    return t, stamp


def test_payment_details_timestamp_is_unix_time_and_deterministic() -> None:
    t, stamp = _payment_details_timestamp(seed=7)
    assert stamp > UNIX_2020_S
    assert stamp == VIRTUAL_EPOCH_UNIX_S + (t - 1 * MS) // S  # answered 1 ms before receipt
    assert _payment_details_timestamp(seed=7) == (t, stamp)


def test_clocks_map_their_origin_to_unix_time() -> None:
    assert VirtualClock().epoch_unix_ns == VIRTUAL_EPOCH_UNIX_S * S
    assert VirtualClock(epoch_unix_s=1_800_000_000).epoch_unix_ns == 1_800_000_000 * S
    real = MonotonicClock()
    now_unix_s = (real.epoch_unix_ns + real.now_ns()) / S
    assert abs(now_unix_s - wall_time_s()) < 1.0

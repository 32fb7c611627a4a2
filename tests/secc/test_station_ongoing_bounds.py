"""Every EVSEProcessing=Ongoing the SECC gives is bounded, on the whole station (DcStation,
its StationEnv, power path, pilot and contract guard) in virtual time, with a scripted car
that keeps asking past its own timeouts (tests/secc/station_car.py):

- authorization: t_auth_eim (300 s, fsm_specs/secc_*.yaml) ends in FAILED and the end;
- cable check: an isolation test that is still running at t_cable_check (60 s) ends in
  CableCheckRes FAILED, the contacts open;
- the pilot says the car is gone (PP open with the car in, CP in E) while the SECC waits:
  the session ends at once (not at the car's next request, not at the 60 s
  V2G_SECC_Sequence_Timeout, not at the TCP timeout), output safe;
- a hard station fault (e-stop) during authorization: the next AuthorizationReq is FAILED,
  not Ongoing until t_auth_eim.
"""

from __future__ import annotations

import pytest

from drivers.board.sim import EvCpState
from evse.contract.values import PlcSessionEvent, SessionEventKind, StopReason
from evse.ev.sim_env import SimEnvConfig
from evse.ports.board import PpState
from evse.runtime.config import StationConfig
from evse.runtime.dc_station import SessionConfig
from evse.secc.core import CloseConnection
from evse.secc.env import AppProtocol, SessionEndReason
from tests.secc.helpers import MS, S, ScriptedCar
from tests.secc.station_car import StationCar

PROTOCOLS = [AppProtocol.DIN70121, AppProtocol.ISO15118_2]
NEVER = SessionConfig(ocpp="none", auth_delay_s=100_000)  # the driver never taps a card


def _ids(p: AppProtocol) -> str:
    return "din" if p is AppProtocol.DIN70121 else "iso2"


def _stop_reasons(car: StationCar) -> list[StopReason | None]:
    return [v.stop_reason for v in car.published if isinstance(v, PlcSessionEvent)
            and v.event is SessionEventKind.SESSION_STOPPED]


def _car(protocol: AppProtocol, session: SessionConfig = NEVER,
         config: StationConfig | None = None) -> StationCar:
    car = StationCar(protocol, session=session, config=config)
    car.published = []  # type: ignore[attr-defined]
    publish = car.st._publish

    def spy(value: object, now_ns: int) -> None:
        car.published.append(value)  # type: ignore[attr-defined]
        publish(value, now_ns)

    car.st._publish = spy  # type: ignore[method-assign]
    car.st.env._publish = spy  # type: ignore[attr-defined]
    return car


def _authorized(car: StationCar) -> None:
    car.through_payment()
    for _ in range(100):
        if car.auth().EVSEProcessing.value == "Finished":
            return
        car.advance(200 * MS)
    raise AssertionError("not authorized")


def _to_cable_check(car: StationCar) -> None:
    _authorized(car)
    assert car.cpd().ResponseCode.value == "OK"


@pytest.mark.req("P0-4")
@pytest.mark.parametrize("protocol", PROTOCOLS, ids=_ids)
def test_authorization_ongoing_ends_in_failed_at_t_auth_eim(protocol: AppProtocol) -> None:
    car = _car(protocol)
    car.through_payment()
    t0 = car.now_ns
    codes: list[tuple[str, str]] = []
    while car.closed is None and car.now_ns - t0 < 320 * S:
        res = car.auth()
        codes.append((res.ResponseCode.value, res.EVSEProcessing.value))
        car.advance(5 * S)
    assert car.closed is not None and car.closed.reason is SessionEndReason.AUTH_TIMEOUT
    assert codes[-1] == ("FAILED", "Finished")
    assert {p for _, p in codes[:-1]} <= {"Ongoing", "Ongoing_WaitingForCustomerInteraction"}
    last_ns = car.answers("AuthorizationRes" if protocol is AppProtocol.ISO15118_2
                          else "ContractAuthenticationRes")[-1][0]
    assert 300 * S <= last_ns - t0 <= 306 * S
    car.close()


@pytest.mark.req("P0-5")
@pytest.mark.parametrize("protocol", PROTOCOLS, ids=_ids)
def test_an_isolation_test_that_never_finishes_ends_in_failed_within_t_cable_check(
        protocol: AppProtocol) -> None:
    """The IMD never reports its self-test: the car that keeps asking (past its own 40 s)
    gets CableCheckRes FAILED within t_cable_check (60 s; the power path's t_cc_self_test
    30 s ends the check first on this station), the contacts open, a fault is the stop
    reason. The SECC's own t_cable_check, the bound when the power path would keep the check
    running, is test_cable_check_ongoing_past_t_cable_check_is_failed below."""
    car = _car(protocol, SessionConfig(ocpp="none", auth_delay_s=0.5))
    car.st.world.imd_physics.self_test_duration_ns = 10**15
    _to_cable_check(car)
    t0 = car.now_ns
    answers: list[str] = []
    while car.closed is None and car.now_ns - t0 < 90 * S:
        res = car.cable_check()
        answers.append(f"{res.ResponseCode.value} {res.EVSEProcessing.value}")
        car.advance(1 * S)
    assert answers[-1] == "FAILED Finished", answers[-3:]
    assert set(answers[:-1]) == {"OK Ongoing"}
    assert car.closed is not None and car.closed.reason is SessionEndReason.CABLE_CHECK_FAULT
    assert car.answers("CableCheckRes")[-1][0] - t0 <= 60 * S
    car.advance(3 * S)
    assert not car.st.world.contactor.closed
    assert _stop_reasons(car) == [StopReason.FAULT]
    car.close()


@pytest.mark.parametrize("protocol", PROTOCOLS, ids=_ids)
def test_cable_check_ongoing_past_t_cable_check_is_failed(protocol: AppProtocol) -> None:
    """The SECC's own bound, for a power path that keeps reporting the test as running
    (SimEnv: the station's power path ends it earlier, test above): at t_cable_check the
    next CableCheckReq is FAILED with EVSE status not ready, and the session ends."""
    car = ScriptedCar(protocol, SimEnvConfig(cable_check_delay_ns=10**15))
    car.through_cpd()
    t0 = car.now_ns
    answers: list[tuple[int, str]] = []
    while car.closed is None and car.now_ns - t0 < 70 * S:
        res = car.cable_check()
        answers.append((car.now_ns - t0, f"{res.ResponseCode.value} {res.EVSEProcessing.value}"))
        car.advance(2 * S)
    assert answers[-1][1] == "FAILED Finished"
    assert 60 * S <= answers[-1][0] <= 62 * S
    assert {a for _, a in answers[:-1]} == {"OK Ongoing"}
    assert car.closed is not None and car.closed.reason is SessionEndReason.CABLE_CHECK_TIMEOUT
    assert "session_ended" in car.env.call_names()


@pytest.mark.req("PLC-1")
@pytest.mark.parametrize("protocol", PROTOCOLS, ids=_ids)
@pytest.mark.parametrize("phase", ["authorization", "cable_check"])
def test_pp_lost_while_the_secc_waits_ends_the_session_at_once(
        protocol: AppProtocol, phase: str) -> None:
    """The plug is unlatched with the car still on the pilot, between two of the car's
    Ongoing rounds: the session ends within t_pp_open_confirm (0.1 s) plus a pilot sample,
    no answer is owed, the contacts are open and the stop reason is the car leaving
    (EV_UNPLUGGED: PP breaks first when a plug is pulled, IEC 62196 / IEC 61851-1; the PP
    fault itself is still reported, plc.fault PP_INVALID)."""
    car = _car(protocol, NEVER if phase == "authorization"
               else SessionConfig(ocpp="none", auth_delay_s=0.5))
    if phase == "authorization":
        car.through_payment()
        assert car.auth().EVSEProcessing.value.startswith("Ongoing")
    else:
        _to_cable_check(car)
        assert car.cable_check().EVSEProcessing.value == "Ongoing"
    lost = car.now_ns
    car.st.world.board.set_pp(PpState.DISCONNECTED)
    for _ in range(100):
        if car.closed is not None:
            break
        car.advance(10 * MS)
    assert car.closed is not None and car.closed.reason is SessionEndReason.EV_GONE
    closed_at = next(t for t, m in car.st.log.milestones if m == "secc session ended ev_gone")
    assert closed_at - lost <= 200 * MS
    car.advance(2 * S)
    assert not car.st.world.contactor.closed
    assert _stop_reasons(car) == [StopReason.EV_UNPLUGGED]
    car.close()


@pytest.mark.parametrize("protocol", PROTOCOLS, ids=_ids)
def test_a_shorted_pilot_during_authorization_ends_the_session_at_once(
        protocol: AppProtocol) -> None:
    car = _car(protocol)
    car.through_payment()
    assert car.auth().EVSEProcessing.value.startswith("Ongoing")
    lost = car.now_ns
    car.st.world.board.set_ev_state(EvCpState.E)
    for _ in range(100):
        if car.closed is not None:
            break
        car.advance(10 * MS)
    assert car.closed is not None and car.closed.reason is SessionEndReason.EV_GONE
    assert car.now_ns - lost <= 200 * MS
    car.close()


@pytest.mark.parametrize("protocol", PROTOCOLS, ids=_ids)
def test_an_emergency_stop_during_authorization_is_failed_not_ongoing(
        protocol: AppProtocol) -> None:
    car = _car(protocol)
    car.through_payment()
    assert car.auth().EVSEProcessing.value.startswith("Ongoing")
    car.st.world.board.press_estop()
    car.advance(500 * MS)
    res = car.auth()
    assert (res.ResponseCode.value, res.EVSEProcessing.value) == ("FAILED", "Finished")
    assert isinstance(car.closed, CloseConnection)
    assert car.closed.reason is SessionEndReason.EVSE_FAULT
    assert _stop_reasons(car) == [StopReason.EMERGENCY_STOP]
    car.close()

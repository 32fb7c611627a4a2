"""Out-of-order, unknown-session and malformed requests: FAILED codes and a clean end, on
the whole station (DcStation: its StationEnv, power path, pilot, contract guard) with a
scripted external car (tests/secc/station_car.py), in virtual time. "The station was told"
is the station's own record of the SECC's `session_ended` (its session log), and a hard
fault is a real one (the e-stop on the board, an insulation fault in the IMD)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from evse.secc.core import CloseConnection
from evse.secc.env import AppProtocol, SessionEndReason
from tests.secc.helpers import MS, S
from tests.secc.station_car import StationCar


@pytest.fixture
def cars() -> Iterator[list[StationCar]]:
    made: list[StationCar] = []
    yield made
    for car in made:
        car.close()


def _car(cars: list[StationCar], protocol: AppProtocol) -> StationCar:
    car = StationCar(protocol)
    cars.append(car)
    return car


def _told(car: StationCar) -> list[str]:
    """The end reasons the station heard from its SECC (StationEnv.session_ended)."""
    return [m.removeprefix("secc session ended ") for _, m in car.st.log.milestones
            if m.startswith("secc session ended ")]


@pytest.mark.parametrize("protocol", list(AppProtocol))
def test_out_of_order_request_gets_failed_sequence_error_and_ends(
        cars: list[StationCar], protocol: AppProtocol) -> None:
    car = _car(cars, protocol)
    car.setup()
    res = car.current_demand()
    assert type(res).__name__ == "CurrentDemandResType"
    assert res.ResponseCode.value == "FAILED_SequenceError"
    assert res.EVSEMaximumPowerLimit is not None  # still complete
    assert car.closed is not None and car.closed.reason is SessionEndReason.SEQUENCE_ERROR
    assert _told(car) == ["sequence_error"]


@pytest.mark.req("PLC-5.1")
def test_unknown_session_id_gets_failed_unknown_session(cars: list[StationCar]) -> None:
    car = _car(cars, AppProtocol.ISO15118_2)
    car.setup()
    res = car.send(car.m.ServiceDiscoveryReqType(), session_id=b"\x01" * 8)
    assert res.ResponseCode.value == "FAILED_UnknownSession"
    assert car.closed is not None and car.closed.reason is SessionEndReason.UNKNOWN_SESSION
    assert _told(car) == ["unknown_session"]


def test_undecodable_exi_ends_the_session_without_hanging(cars: list[StationCar]) -> None:
    car = _car(cars, AppProtocol.DIN70121)
    car.setup()
    car.send_raw(b"\x80\xff\xff\xff\x00\x13")
    assert car.closed is not None and car.closed.reason is SessionEndReason.MALFORMED
    assert _told(car) == ["malformed"]
    before = len(car.outputs)
    car.advance(70 * S)  # no timer of the closed session answers or ends anything again
    assert len(car.outputs) == before and _told(car) == ["malformed"]


def test_physical_value_in_the_wrong_unit_is_failed(cars: list[StationCar]) -> None:
    car = _car(cars, AppProtocol.ISO15118_2)
    car.to_charging()
    res = car.current_demand(380, 100, unit_v="A")
    assert res.ResponseCode.value == "FAILED"
    assert car.closed is not None and car.closed.reason is SessionEndReason.MALFORMED
    car.advance(3 * S)
    assert not car.st.world.contactor.closed  # the output was made safe


@pytest.mark.req("PLC-4")
def test_garbage_instead_of_supported_app_protocol_closes(cars: list[StationCar]) -> None:
    car = _car(cars, AppProtocol.DIN70121)
    car.st.open_connection(car.now_ns)  # a second connection, whose first bytes are garbage
    out = car.send_raw(b"\x00\x01\x02")
    assert out and isinstance(out[-1], CloseConnection)
    assert out[-1].reason is SessionEndReason.MALFORMED
    assert _told(car) == ["malformed"]


def test_no_supported_app_protocol_within_setup_time_closes(cars: list[StationCar]) -> None:
    car = _car(cars, AppProtocol.DIN70121)
    car.st.open_connection(car.now_ns)
    opened = car.now_ns
    car.advance(17_900 * MS)
    assert car.closed is None
    car.advance(200 * MS)  # V2G_SECC_CommunicationSetup_Performance_Time 18 s
    assert car.closed is not None and car.closed.reason is SessionEndReason.SEQUENCE_TIMEOUT
    assert 18 * S <= car.now_ns - opened <= 18_100 * MS


@pytest.mark.req("PLC-6.1", "PLC-6.6")
def test_emergency_during_charging_fails_current_demand_at_once(
        cars: list[StationCar]) -> None:
    car = _car(cars, AppProtocol.ISO15118_2)
    car.to_charging()
    assert car.current_demand().ResponseCode.value == "OK"
    car.st.world.board.press_estop()
    car.advance(20 * MS)
    res = car.current_demand()
    assert res.ResponseCode.value == "FAILED"
    assert res.DC_EVSEStatus.EVSEStatusCode.value == "EVSE_EmergencyShutdown"
    assert car.closed is not None and car.closed.reason is SessionEndReason.EVSE_FAULT
    car.advance(1 * S)
    assert not car.st.world.contactor.closed


@pytest.mark.req("PLC-5.4", "PLC-6.2")
def test_isolation_fault_in_cable_check_fails_the_cable_check(cars: list[StationCar]) -> None:
    car = _car(cars, AppProtocol.DIN70121)
    car.st.world.imd_physics.inject_insulation_fault(20_000.0)  # well below 100 ohm/V
    car.through_payment()
    while car.auth().EVSEProcessing.value != "Finished":
        car.advance(200 * MS)
    car.cpd()
    for _ in range(300):
        res = car.cable_check()
        if res.EVSEProcessing.value == "Finished":
            break
        car.advance(200 * MS)
    assert res.ResponseCode.value == "FAILED"
    assert res.DC_EVSEStatus.EVSEIsolationStatus.value == "Fault"
    assert car.closed is not None and car.closed.reason is SessionEndReason.CABLE_CHECK_FAULT
    car.advance(2 * S)  # the power path discharges and opens
    assert not car.st.world.contactor.closed


def test_a_bug_in_a_callback_answers_failed_and_ends_instead_of_hanging(
        cars: list[StationCar]) -> None:
    car = _car(cars, AppProtocol.DIN70121)
    car.setup()
    core = car.st.secc
    assert core is not None and core.handler is not None and core.machine is not None

    def broken(ev: object) -> None:
        raise RuntimeError("bug")

    core.handler.answer_service_discovery = broken  # type: ignore[method-assign]
    core.machine = type(core.machine)(core.machine.spec, core.handler, timers=core._timers,
                                      name="secc")
    core.machine.start(car.now_ns)
    core.machine._model.state = "wait_service_discovery"
    res = car.discovery()
    assert res.ResponseCode.value == "FAILED"
    assert car.closed is not None and car.closed.reason is SessionEndReason.INTERNAL_ERROR
    assert _told(car) == ["internal_error"]

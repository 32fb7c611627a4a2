"""Out-of-order, unknown-session and malformed requests: FAILED codes and a clean end."""

from __future__ import annotations

import pytest

from evse.ev.sim_env import SimEnvConfig
from evse.secc.env import AppProtocol, EvseFault, SessionEndReason
from tests.secc.helpers import MS, S, ScriptedCar


def test_out_of_order_request_gets_failed_sequence_error_and_ends() -> None:
    for proto in AppProtocol:
        car = ScriptedCar(proto)
        car.setup()
        res = car.current_demand()
        assert type(res).__name__ == "CurrentDemandResType"
        assert res.ResponseCode.value == "FAILED_SequenceError"
        assert res.EVSEMaximumPowerLimit is not None  # still complete
        assert car.closed is not None and car.closed.reason is SessionEndReason.SEQUENCE_ERROR
        assert car.env.ended is SessionEndReason.SEQUENCE_ERROR


@pytest.mark.req("PLC-5.1")
def test_unknown_session_id_gets_failed_unknown_session() -> None:
    car = ScriptedCar(AppProtocol.ISO15118_2)
    car.setup()
    res = car.send(car.m.ServiceDiscoveryReqType(), session_id=b"\x01" * 8)
    assert res.ResponseCode.value == "FAILED_UnknownSession"
    assert car.closed is not None and car.closed.reason is SessionEndReason.UNKNOWN_SESSION


def test_undecodable_exi_ends_the_session_without_hanging() -> None:
    car = ScriptedCar(AppProtocol.DIN70121)
    car.setup()
    car.send_raw(b"\x80\xff\xff\xff\x00\x13")
    assert car.closed is not None and car.closed.reason is SessionEndReason.MALFORMED
    assert car.env.ended is SessionEndReason.MALFORMED
    assert car.core.next_deadline_ns() is None or car.core.closed


def test_physical_value_in_the_wrong_unit_is_failed() -> None:
    car = ScriptedCar(AppProtocol.ISO15118_2)
    car.to_charging()
    res = car.current_demand(380, 100, unit_v="A")
    assert res.ResponseCode.value == "FAILED"
    assert car.closed is not None and car.closed.reason is SessionEndReason.MALFORMED


@pytest.mark.req("PLC-4")
def test_garbage_instead_of_supported_app_protocol_closes() -> None:
    from evse.ev.sim_env import SimEnv
    from evse.secc.core import SeccCore
    env = SimEnv()
    core = SeccCore(env)
    core.connection_opened(0)
    out = core.receive(b"\x00\x01\x02", 1)
    assert core.closed and env.ended is SessionEndReason.MALFORMED
    assert out and type(out[-1]).__name__ == "CloseConnection"


def test_no_supported_app_protocol_within_setup_time_closes() -> None:
    from evse.ev.sim_env import SimEnv
    from evse.secc.core import SeccCore
    env = SimEnv()
    core = SeccCore(env)
    core.connection_opened(0)
    d = core.next_deadline_ns()
    assert d == 18 * S
    core.handle_timer(d)
    assert core.closed and env.ended is SessionEndReason.SEQUENCE_TIMEOUT


@pytest.mark.req("PLC-6.1", "PLC-6.6")
def test_emergency_during_charging_fails_current_demand_at_once() -> None:
    car = ScriptedCar(AppProtocol.ISO15118_2)
    car.to_charging()
    car.env.config.fault_at_ns = car.now_ns
    car.env.config.fault = EvseFault.EMERGENCY
    res = car.current_demand()
    assert res.ResponseCode.value == "FAILED"
    assert res.DC_EVSEStatus.EVSEStatusCode.value == "EVSE_EmergencyShutdown"
    assert car.closed is not None and car.closed.reason is SessionEndReason.EVSE_FAULT
    assert ("power_delivery", car.now_ns, (False,)) in car.env.calls


@pytest.mark.req("PLC-5.4", "PLC-6.2")
def test_isolation_fault_in_cable_check_fails_the_cable_check() -> None:
    car = ScriptedCar(AppProtocol.DIN70121, SimEnvConfig(cable_check_fault=True))
    car.through_cpd()
    for _ in range(100):
        res = car.cable_check()
        if res.EVSEProcessing.value == "Finished":
            break
        car.advance(200 * MS)
    assert res.ResponseCode.value == "FAILED"
    assert res.DC_EVSEStatus.EVSEIsolationStatus.value == "Fault"
    assert car.closed is not None and car.closed.reason is SessionEndReason.CABLE_CHECK_FAULT


def test_a_bug_in_a_callback_answers_failed_and_ends_instead_of_hanging() -> None:
    car = ScriptedCar(AppProtocol.DIN70121)
    car.setup()

    def broken(ev: object) -> None:
        raise RuntimeError("bug")

    car.core.handler.answer_service_discovery = broken  # type: ignore[union-attr,method-assign]
    car.core.machine = type(car.core.machine)(  # type: ignore[misc]
        car.core.machine.spec, car.core.handler, timers=car.core._timers,  # type: ignore[union-attr]
        name="secc")
    car.core.machine.start(car.now_ns)  # type: ignore[union-attr]
    car.core.machine._model.state = "wait_service_discovery"  # type: ignore[union-attr]
    res = car.discovery()
    assert res.ResponseCode.value == "FAILED"
    assert car.closed is not None and car.closed.reason is SessionEndReason.INTERNAL_ERROR

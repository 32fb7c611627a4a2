"""The station's external-limit input (`ems:`, OCPP 2.0.1 K11-K13): a whole DcStation in
virtual time (car, SECC, power path, controller, CSMS simulator) with an EMS that limits it,
scripted (`sim`) or over a real UDP socket (`udp_json`); and the config's file:line errors.
Each `ems.*` key has its test here (KEY_TESTS in tests/runtime/test_config_keys.py)."""

from __future__ import annotations

import asyncio
import json
import socket
from dataclasses import replace
from pathlib import Path

import pytest

from evse.controller.config import ControllerConfig
from evse.controller.core import Controller
from evse.controller.store import Store
from evse.csms_sim.core import CsmsSim
from evse.io.ocpp_ws import CsmsServer, ServerSecurity, WsSecurity, realtime_epoch_unix_s
from evse.runtime.clock import MonotonicClock
from evse.runtime.config import ConfigError, EmsSection, StationConfig, load_config
from evse.runtime.dc_station import DcStation, SessionConfig
from evse.runtime.ocpp_side import ExternalOcppSide, OcppSide
from evse.runtime.ocpp_thread import ThreadedOcppClient
from tests.controller.ws_wait import PASSWORD, until

S = 1_000_000_000


def config(tmp_path: Path, text: str) -> StationConfig:
    path = tmp_path / "station.yaml"
    path.write_text(text, encoding="utf-8")
    return load_config(path)


def station(cfg: StationConfig) -> DcStation:
    st = DcStation(cfg, SessionConfig(protocol="iso2", ocpp="2.0.1", charge_s=60))
    st.start()
    st.sched.run_until(1 * S)
    st.plug_in()
    return st


def current_at(st: DcStation, t_s: float) -> float:
    st.sched.run_until(round(t_s * S))
    return float(st.world.plant.connector_current_a)


def csms(st: DcStation):  # type: ignore[no-untyped-def]
    assert isinstance(st.controller, OcppSide)
    return st.controller.csms


SIM_STEPS = """\
ems:
  driver: sim
  steps:
    - {at_s: 30, limit_w: 20000}
    - {at_s: 45, limit_w: null}
"""


def test_ems_sim_step_is_notified_to_the_csms_and_the_cars_current_drops(
        tmp_path: Path) -> None:
    st = station(config(tmp_path, SIM_STEPS))
    full = current_at(st, 29)
    assert full > 150.0  # ~60 kW at ~370 V before the limit
    limited = current_at(st, 40)
    voltage = st.world.plant.connector_voltage_v
    assert limited * voltage <= 20_000.0 * 1.02 and limited < full / 2
    seen = csms(st).seen
    (notify,) = [s for s in seen if s.action == "NotifyChargingLimit"]
    assert notify.at_ns == 30 * S
    assert notify.payload["chargingLimit"]["chargingLimitSource"] == "EMS"
    assert notify.payload["chargingSchedule"][0]["chargingSchedulePeriod"] == [
        {"startPeriod": 0, "limit": 20_000.0}]
    rate = [s.at_ns // S for s in seen if s.action == "TransactionEvent"
            and s.payload["triggerReason"] == "ChargingRateChanged"]
    assert rate == [30]
    # released at 45 s: ClearedChargingLimit, and the car takes its current again
    assert current_at(st, 55) > 150.0
    assert [s.at_ns // S for s in csms(st).seen if s.action == "ClearedChargingLimit"] == [45]
    assert csms(st).violations == []
    st.close()


def test_ems_driver_none_or_absent_feeds_nothing(tmp_path: Path) -> None:
    st = station(config(tmp_path, "ems:\n  driver: none\n"))
    assert st.ems is None
    assert current_at(st, 40) > 150.0
    assert "NotifyChargingLimit" not in csms(st).actions()
    st.close()


def test_ems_source_is_the_reported_charging_limit_source(tmp_path: Path) -> None:
    st = station(config(tmp_path, SIM_STEPS.replace("driver: sim", "driver: sim\n  source: SO")))
    st.sched.run_until(31 * S)
    (notify,) = [p for p in csms(st).of("NotifyChargingLimit")]
    assert notify["chargingLimit"]["chargingLimitSource"] == "SO"
    st.close()


def test_ems_steps_in_amps_and_their_times(tmp_path: Path) -> None:
    st = station(config(tmp_path, "ems:\n  driver: sim\n  steps:\n"
                                  "    - {at_s: 35, limit_a: 40}\n"))
    assert current_at(st, 34) > 150.0
    assert current_at(st, 40) <= 40.5
    st.close()


def _udp_station(tmp_path: Path, port: int) -> DcStation:
    return station(config(tmp_path, f"ems:\n  driver: udp_json\n  bind: 127.0.0.1\n"
                                    f"  port: {port}\n"))


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_ems_udp_json_datagram_limits_the_charge_and_bad_ones_are_refused(
        tmp_path: Path) -> None:
    port = _free_udp_port()
    st = _udp_station(tmp_path, port)
    assert st.ems is not None and st.ems.address == ("127.0.0.1", port)
    assert current_at(st, 29) > 150.0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
        tx.sendto(b"not json", ("127.0.0.1", port))
        tx.sendto(json.dumps({"limit_kw": 5}).encode(), ("127.0.0.1", port))
        tx.sendto(json.dumps({"limit_w": 15_000}).encode(), ("127.0.0.1", port))
        limited = current_at(st, 36)
        assert limited * st.world.plant.connector_voltage_v <= 15_000.0 * 1.02
        assert len(st.ems.refused) == 2
        assert [p["chargingSchedule"][0]["chargingSchedulePeriod"][0]["limit"]
                for p in csms(st).of("NotifyChargingLimit")] == [15_000.0]
        tx.sendto(json.dumps({"limit_w": None}).encode(), ("127.0.0.1", port))
        assert current_at(st, 46) > 150.0
    assert len(csms(st).of("ClearedChargingLimit")) == 1
    assert csms(st).violations == []
    st.close()


def test_ems_bind_and_port_choose_where_the_datagrams_arrive(tmp_path: Path) -> None:
    port = _free_udp_port()
    st = _udp_station(tmp_path, port)
    assert st.ems is not None and st.ems.address == ("127.0.0.1", port)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
        other = _free_udp_port()
        tx.sendto(b'{"limit_w": 1000}', ("127.0.0.1", other))  # not our port: ignored
        st.sched.run_until(30 * S)
        assert st.ems.delivered == []
        tx.sendto(b'{"limit_w": 1000}', ("127.0.0.1", port))
        st.sched.run_until(31 * S)
    assert [c.limit for c in st.ems.delivered] == [1000.0]
    st.close()
    # the port is free again after close, and a taken port is an error at start
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as holder:
        holder.bind(("127.0.0.1", port))
        cfg = replace(StationConfig(), ems=EmsSection("udp_json", port=port))
        st2 = DcStation(cfg, SessionConfig(ocpp="2.0.1"))
        with pytest.raises(OSError):
            st2.start()
        st2.close()


@pytest.mark.parametrize(("text", "line", "message"), [
    ("ems:\n  driver: modbus\n", 2, "ems.driver must be one of"),
    ("ems:\n  driver: sim\n  limit: 3\n", 3, "unknown key ems.limit"),
    ("ems:\n  driver: udp_json\n  steps: []\n", 3, "ems.steps is used by ems.driver sim"),
    ("ems:\n  driver: sim\n  port: 5\n", 3, "ems.port is used by ems.driver udp_json"),
    ("ems:\n  driver: sim\n  steps:\n    - {at_s: 5, limit_kw: 1}\n", 4, "entries are"),
    ("ems:\n  driver: sim\n  steps:\n    - {at_s: 9, limit_w: 1}\n    - {at_s: 5, limit_w: 2}\n",
     5, "in order"),
    ("ems:\n  driver: udp_json\n  port: 70000\n", 3, "ems.port must be 1..65535"),
    ("ems:\n  driver: sim\n  source: CSO\n", 3, "ems.source must be one of"),
    ("ems:\n  driver: sim\n  failsafe_timeout_s: 5\n", 3,
     "ems.failsafe_timeout_s is used by ems.driver udp_json"),
    ("ems:\n  driver: udp_json\n  failsafe_timeout_s: -1\n", 3,
     "ems.failsafe_timeout_s must be seconds"),
    ("ems:\n  driver: udp_json\n  failsafe_limit_w: 1\n  failsafe_limit_a: 2\n", 4,
     "one fail-safe limit"),
    ("ems:\n  driver: udp_json\n  failsafe_limit_a: x\n", 3,
     "ems.failsafe_limit_a must be a number"),
    ("ems:\n  driver: udp_json\n  failsafe_duration_min_s: 90000\n", 3,
     "ems.failsafe_duration_min_s must be seconds 0..86400"),
    ("ems:\n  driver: sim\n  failsafe_duration_min_s: 60\n", 3,
     "ems.failsafe_duration_min_s is used by ems.driver udp_json"),
])
def test_ems_config_errors_name_the_file_and_line(tmp_path: Path, text: str, line: int,
                                                   message: str) -> None:
    with pytest.raises(ConfigError) as err:
        config(tmp_path, text)
    assert err.value.line == line and message in str(err.value)
    assert str(tmp_path / "station.yaml") in str(err.value)


def _send(port: int, obj: object) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
        tx.sendto(json.dumps(obj).encode(), ("127.0.0.1", port))


def test_ems_failsafe_timeout_applies_the_failsafe_limit_when_the_ems_goes_silent(
        tmp_path: Path) -> None:
    """EEBus LPC's failsafe state: the EMS restates its limit, then goes silent; after
    `failsafe_timeout_s` without a datagram the fail-safe limit applies (NotifyChargingLimit
    and ChargingRateChanged, K11/K12) and the car's current drops; the EMS's next datagram
    ends the fail-safe."""
    port = _free_udp_port()
    st = station(config(tmp_path, f"ems:\n  driver: udp_json\n  port: {port}\n"
                                  "  failsafe_timeout_s: 20\n  failsafe_limit_w: 10000\n"))
    st.sched.run_until(5 * S)
    _send(port, {"limit_w": 30_000})
    st.sched.run_until(15 * S)
    _send(port, {"limit_w": 30_000})  # the heartbeat: each datagram is the whole truth
    amps = current_at(st, 34)
    assert 25_000.0 < amps * st.world.plant.connector_voltage_v <= 30_000.0 * 1.02
    assert current_at(st, 40) * st.world.plant.connector_voltage_v <= 10_000.0 * 1.02
    notified = [(s.at_ns // S, s.payload["chargingSchedule"][0]["chargingSchedulePeriod"][0][
        "limit"]) for s in csms(st).seen if s.action == "NotifyChargingLimit"]
    assert notified == [(5, 30_000.0), (35, 10_000.0)]  # 15.1 s + 20 s, on the 100 ms poll
    assert 35 in [s.at_ns // S for s in csms(st).seen if s.action == "TransactionEvent"
                  and s.payload["triggerReason"] == "ChargingRateChanged"]
    assert st.ems is not None and st.ems.watchdog is not None and st.ems.watchdog.in_failsafe
    _send(port, {"limit_w": None})
    assert current_at(st, 50) > 150.0
    assert not st.ems.watchdog.in_failsafe
    assert [s.at_ns // S for s in csms(st).seen if s.action == "ClearedChargingLimit"] == [40]
    assert csms(st).violations == []
    st.close()


def _failsafe_min_station(tmp_path: Path) -> tuple[DcStation, int]:
    """A started station whose EMS (udp_json on a free port) has a 20 s fail-safe timeout,
    a 10 kW fail-safe limit and a 40 s Failsafe Duration Minimum."""
    port = _free_udp_port()
    cfg = config(tmp_path, f"ems:\n  driver: udp_json\n  port: {port}\n"
                           "  failsafe_timeout_s: 20\n  failsafe_limit_w: 10000\n"
                           "  failsafe_duration_min_s: 40\n")
    st = DcStation(cfg, SessionConfig(protocol="iso2", ocpp="2.0.1", charge_s=150))
    st.start()
    return st, port


def test_K13_ems_failsafe_duration_min_releases_a_failsafe_the_ems_never_ends(
        tmp_path: Path) -> None:
    """EEBus LPC's Failsafe Duration Minimum (LPC-922): the EMS goes silent, the fail-safe
    limit applies after failsafe_timeout_s and holds for failsafe_duration_min_s; the EMS
    still silent, the limit is then released (ClearedChargingLimit, K13) and the car's
    current rises again; the same silence causes no second fail-safe. An EMS that speaks
    before the minimum ends the fail-safe at once (LPC-916) and the stale release does
    nothing."""
    st, port = _failsafe_min_station(tmp_path)
    st.sched.run_until(1 * S)
    st.plug_in()
    st.sched.run_until(5 * S)
    _send(port, {"limit_w": 30_000})  # then silent: fail-safe at 25.1 s, released at 65.1 s
    volts = st.world.plant
    assert current_at(st, 60) * volts.connector_voltage_v <= 10_000.0 * 1.02
    assert current_at(st, 75) * volts.connector_voltage_v > 40_000.0
    assert st.ems is not None and st.ems.watchdog is not None
    assert not st.ems.watchdog.in_failsafe and st.ems.watchdog.autonomous
    st.sched.run_until(130 * S)
    seen = csms(st).seen
    assert [s.at_ns // S for s in seen if s.action == "NotifyChargingLimit"] == [5, 25]
    assert [s.at_ns // S for s in seen if s.action == "ClearedChargingLimit"] == [65]
    assert csms(st).violations == []
    st.close()
    # the EMS speaks again within the minimum: its limit ends the fail-safe, no release
    st, port = _failsafe_min_station(tmp_path)
    st.sched.run_until(30 * S)  # never spoke: fail-safe since 20 s
    _send(port, {"limit_w": 20_000})
    st.sched.run_until(45 * S)
    _send(port, {"limit_w": 20_000})
    st.sched.run_until(63 * S)  # past the stale release (60 s): the EMS's limit holds
    assert csms(st).of("ClearedChargingLimit") == []
    assert [n["chargingSchedule"][0]["chargingSchedulePeriod"][0]["limit"]
            for n in csms(st).of("NotifyChargingLimit")] == [10_000.0, 20_000.0]
    st.close()


def test_ems_failsafe_limit_a_and_timeout_zero(tmp_path: Path) -> None:
    """A fail-safe limit in amps applies from the start when the EMS never speaks (LPC:
    after a power-up the station waits one timeout); timeout 0 switches the fail-safe off."""
    st = station(config(tmp_path, f"ems:\n  driver: udp_json\n  port: {_free_udp_port()}\n"
                                  "  failsafe_timeout_s: 25\n  failsafe_limit_a: 40\n"))
    assert current_at(st, 24) > 150.0
    assert current_at(st, 30) <= 40.5
    (notify,) = csms(st).of("NotifyChargingLimit")
    assert notify["chargingSchedule"][0]["chargingRateUnit"] == "A"
    st.close()
    st = station(config(tmp_path, f"ems:\n  driver: udp_json\n  port: {_free_udp_port()}\n"
                                  "  failsafe_timeout_s: 0\n"))
    assert st.ems is not None and st.ems.watchdog is None
    assert current_at(st, 40) > 150.0 and csms(st).of("NotifyChargingLimit") == []
    st.close()


@pytest.mark.realtime
def test_ems_udp_json_and_its_failsafe_reach_the_csms_through_the_evse_run_thread() -> None:
    """`evse run` with `ocpp:`: the controller lives on the websocket client's own thread
    (ThreadedOcppClient) and the UDP datagram arrives on the station's loop; the limit, the
    fail-safe after the EMS's silence and the release all cross the thread boundary and
    reach a CSMS that validates every frame (our simulator's server, 2.0.1). The station
    runs in virtual time (the fail-safe's 5 s are deterministic), the client on the real
    clock, over real sockets on 127.0.0.1."""
    port = _free_udp_port()

    async def main() -> CsmsSim:
        sim = CsmsSim("2.0.1")
        clock = MonotonicClock()
        async with CsmsServer(sim, clock.now_ns,
                              security=ServerSecurity(1, "CP1", PASSWORD)) as srv:
            client = ThreadedOcppClient.spawn(
                lambda: Controller(ControllerConfig(
                    ocpp_version="2.0.1", epoch_unix_s=realtime_epoch_unix_s(clock)),
                    Store(":memory:")),
                f"ws://127.0.0.1:{srv.port}/ocpp/CP1", WsSecurity(1, "CP1", PASSWORD), clock)
            client.start()
            cfg = replace(StationConfig(), ems=EmsSection(
                "udp_json", port=port, failsafe_timeout_s=5.0, failsafe_limit=7_000.0))
            st = DcStation(cfg, SessionConfig(ocpp="2.0.1"), external_csms=client)
            try:
                assert isinstance(st.controller, ExternalOcppSide)
                await until(lambda: "StatusNotification" in sim.actions())
                st.start()
                _send(port, {"limit_w": 11_000})
                st.sched.run_until(1 * S)
                await until(lambda: len(sim.of("NotifyChargingLimit")) == 1)
                st.sched.run_until(7 * S)  # silent since 0.1 s: fail-safe at 5.1 s
                await until(lambda: len(sim.of("NotifyChargingLimit")) == 2)
                _send(port, {"limit_w": None})
                st.sched.run_until(8 * S)
                await until(lambda: bool(sim.of("ClearedChargingLimit")))
            finally:
                st.close()
                await asyncio.to_thread(client.stop)
        return sim

    sim = asyncio.run(main())
    assert [n["chargingSchedule"][0]["chargingSchedulePeriod"][0]["limit"]
            for n in sim.of("NotifyChargingLimit")] == [11_000.0, 7_000.0]
    assert sim.of("ClearedChargingLimit") == [{"chargingLimitSource": "EMS", "evseId": 0}]
    assert sim.violations == []


def test_the_cars_charging_profile_reaches_the_csms_from_a_whole_station_session() -> None:
    """K15/K17 end to end: the ISO-2 car's ChargingProfile in PowerDeliveryReq(Start) goes
    SECC -> plc.ev_charging_profile -> the 2.0.1 controller -> NotifyEVChargingSchedule,
    with the car's own entries; a car that sends none causes no such message."""
    for ev_profile, expect in (("iso_charging_plan", True), ("iso_only", False)):
        st = DcStation(StationConfig(), SessionConfig(protocol="iso2", ocpp="2.0.1",
                                                      charge_s=20, ev_profile=ev_profile))
        st.start()
        st.sched.run_until(1 * S)
        st.plug_in()
        st.sched.run_until(60 * S)
        notes = csms(st).of("NotifyEVChargingSchedule")
        violations = csms(st).violations
        result = st.ev.result
        st.close()
        assert result is not None and result.ok, result
        if not expect:
            assert notes == []
            continue
        (note,) = notes
        assert note["chargingSchedule"]["chargingSchedulePeriod"] == [
            {"startPeriod": 0, "limit": 20_000.0}, {"startPeriod": 600, "limit": 10_000.0}]
        assert violations == []

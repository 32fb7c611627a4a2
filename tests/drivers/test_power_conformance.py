"""One conformance suite for every power-module driver of the registry (drivers/registry.py).

The same tests run for each vendor, on its codec (the golden frames of
tests/data/power/golden_frames.json, hand-written from the protocol documents, hardware.md
§1.2/§1.3) and on its simulator (the one the registry names, which the simulated world puts
on the bus): a new vendor row fails here until it has golden frames, a simulator that
answers them, and a driver that regulates the simulator.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import can
import pytest

from drivers.power.group import ModuleGroupManager
from drivers.power.protocol import (
    FRAME_DLC,
    ModuleProtocol,
    ReplyCapabilities,
    ReplyStatus,
    ReplyVoltageCurrent,
)
from drivers.power.select import protocol_by_name
from drivers.registry import REGISTRY, PortKind
from drivers.sim.module_rack import rack_sim_for
from drivers.sim.module_stage import ModuleStage
from evse.ports.power import GroupMeasurement, ModuleAlarm, PowerRemoteError
from tests.drivers.world import MS, S, run, world_for
from tests.power.golden import vectors

#: registry name -> golden frame family
GOLDEN_FAMILY = {"infy": "infy_v113", "winline": "winline", "dpm1000": "dpm1000"}
VENDORS = sorted(REGISTRY[PortKind.POWER])
_FRAME_KEYS = {"name", "id", "data", "source"}


def _msg(v: dict[str, Any]) -> can.Message:
    return can.Message(arbitration_id=int(v["id"], 16), data=bytes.fromhex(v["data"]),
                       is_extended_id=True)


def _key(msg: can.Message) -> tuple[str, str]:
    return f"{msg.arbitration_id:08X}", bytes(msg.data).hex().upper()


def _requests(vendor: str) -> list[dict[str, Any]]:
    return [v for v in vectors(GOLDEN_FAMILY[vendor]) if set(v) <= _FRAME_KEYS]


def _replies(vendor: str) -> list[dict[str, Any]]:
    return [v for v in vectors(GOLDEN_FAMILY[vendor]) if not set(v) <= _FRAME_KEYS]


def _driver_frames(p: ModuleProtocol) -> set[tuple[str, str]]:
    """What the driver sends to module 1: polls, setpoints (400 V at 12.5 / 50 A), on/off."""
    frames = p.poll_requests(1, False) + p.on_off_requests(1, True) + p.on_off_requests(1, False)
    for amps in (12.5, 50.0):
        frames += p.set_output_requests(1, 400.0, amps)
    return {_key(m) for m in frames}


def test_every_power_driver_has_golden_frames() -> None:
    assert set(VENDORS) == set(GOLDEN_FAMILY)
    for vendor in VENDORS:
        assert _requests(vendor) and _replies(vendor), vendor


# ------------------------------------------------------------------------------ the codec

@pytest.mark.parametrize("vendor", VENDORS)
def test_golden_requests_are_what_the_driver_sends(vendor: str) -> None:
    sent = _driver_frames(protocol_by_name(vendor).protocol)
    for v in _requests(vendor):
        assert (v["id"], v["data"]) in sent, v["name"]


@pytest.mark.parametrize("vendor", VENDORS)
def test_golden_replies_parse_to_their_values(vendor: str) -> None:
    p = protocol_by_name(vendor).protocol
    for v in _replies(vendor):
        if "error" in v:
            with pytest.raises(PowerRemoteError):
                p.parse_reply(_msg(v))
            continue
        reply = p.parse_reply(_msg(v))
        assert reply is not None, v["name"]
        if "voltage_v" in v or "current_a" in v:
            assert isinstance(reply, ReplyVoltageCurrent), v["name"]
            assert (reply.voltage_v, reply.current_a) == (v.get("voltage_v"), v.get("current_a"))
        if "alarms" in v:
            assert isinstance(reply, ReplyStatus), v["name"]
            assert reply.alarms == {ModuleAlarm(a) for a in v["alarms"]}
            assert reply.output_off == v["output_off"]
        if "rated_power_w" in v:
            assert isinstance(reply, ReplyCapabilities)
            assert reply.rated_power_w == v["rated_power_w"]


@pytest.mark.parametrize("vendor", VENDORS)
def test_every_frame_is_8_bytes_with_a_29_bit_id(vendor: str) -> None:
    p = protocol_by_name(vendor).protocol
    frames = p.poll_requests(0, False) + p.set_output_requests(0, 500.0, 20.0)
    frames += p.on_off_requests(0, True)
    assert all(m.is_extended_id and len(m.data) == FRAME_DLC for m in frames)


@pytest.mark.parametrize("vendor", VENDORS)
def test_frames_for_another_controller_are_ignored(vendor: str) -> None:
    p = protocol_by_name(vendor).protocol
    for v in _requests(vendor):  # a request on the bus is addressed to a module, not to us
        assert p.parse_reply(_msg(v)) is None, v["name"]


# ------------------------------------------------------------------------------ the simulator

@pytest.mark.parametrize("vendor", VENDORS)
def test_the_simulator_answers_every_golden_request_with_a_frame_the_driver_parses(
        vendor: str) -> None:
    import random

    p = protocol_by_name(vendor).protocol
    buses = [can.Bus(interface="virtual", channel=f"conf-{vendor}") for _ in range(2)]
    try:
        stages = {1: ModuleStage()}
        rack = rack_sim_for(p, buses[1], stages, random.Random(1), lambda: 400.0)
        rack.latency_min_ns = rack.latency_max_ns = 0
        for i, v in enumerate(_requests(vendor)):
            buses[0].send(_msg(v))
            rack.step(i * MS)
            reply = buses[0].recv(timeout=0)
            assert reply is not None, f"no answer to {v['name']}"
            parsed = p.parse_reply(reply)
            assert parsed is not None and getattr(parsed, "address", None) == 1, v["name"]
        stage = stages[1]
        # the golden set/on/off requests reached the stage; the last on/off golden is "off"
        assert stage.voltage_set_v == pytest.approx(400.0)
        assert stage.current_set_a in (pytest.approx(12.5), pytest.approx(50.0))
        assert stage.commanded_on is False
    finally:
        for bus in buses:
            bus.shutdown()


@pytest.mark.parametrize("vendor", VENDORS)
def test_the_driver_regulates_its_simulator_in_the_station_world(
        vendor: str, tmp_path: Path) -> None:
    """The group manager over the vendor's codec, the vendor's rack simulator and the plant,
    as DcStation builds them from `power: {driver: VENDOR, modules: 3}`: every module gets
    its share of the setpoint, the modules switch on and off, the read-back is the plant's."""
    w, clock = world_for(tmp_path, f"power: {{driver: {vendor}, modules: 3}}\n")
    group: ModuleGroupManager = w.group
    seen: list[GroupMeasurement] = []
    try:
        group.set_output(400.0, 30.0, 0)
        group.enable(0)
        run(w, clock, 3 * S, lambda now: seen.extend(
            e for e in group.poll(now) if isinstance(e, GroupMeasurement)))
        assert all(s.commanded_on for s in w.stages.values())
        assert {round(s.voltage_set_v) for s in w.stages.values()} == {400}
        assert sum(s.current_set_a for s in w.stages.values()) == pytest.approx(30.0, rel=0.02)
        assert seen and seen[-1].voltage_v == pytest.approx(w.plant.module_voltage_v, abs=5.0)
        group.disable(clock.now_ns)
        run(w, clock, 4 * S, lambda now: group.poll(now))
        assert not any(s.commanded_on for s in w.stages.values())
    finally:
        w.close()

"""One conformance suite for every isolation-monitor driver of the registry.

The same behaviour is asked of the iso165C (CAN) and the isoCHA425HV (Modbus RTU) drivers,
each against the simulator the registry names, in the world DcStation builds from
`imd: {driver: NAME}`: measurements follow the insulation, a self-test passes or fails as the
device says, a silent device is a device fault; and the frames the driver puts on its wire
are the golden frames of tests/data/power/golden_frames.json (hardware.md §2).
"""

from __future__ import annotations

from pathlib import Path

import can
import pytest

from drivers.registry import REGISTRY, PortKind
from evse.ports.imd import ImdDeviceFault, ImdEvent, IsolationMeasurement, SelfTestResult
from evse.runtime.sim_world import SimWorld
from tests.drivers.world import Clock, S, run, world_for
from tests.power.golden import vectors

IMDS = sorted(REGISTRY[PortKind.IMD])
#: registry name -> golden frame family
GOLDEN_FAMILY = {"iso165c": "iso165c", "isocha425": "isocha425_rtu"}


def _events(w: SimWorld, clock: Clock, until_ns: int) -> list[ImdEvent]:
    out: list[ImdEvent] = []
    run(w, clock, until_ns, lambda now: out.extend(w.imd.poll(now)))
    return out


def _world(tmp_path: Path, name: str) -> tuple[SimWorld, Clock]:
    return world_for(tmp_path, f"imd: {{driver: {name}}}\n")


def test_every_imd_driver_has_golden_frames() -> None:
    assert set(IMDS) == set(GOLDEN_FAMILY)


@pytest.mark.parametrize("name", IMDS)
def test_measurements_follow_the_insulation(name: str, tmp_path: Path) -> None:
    w, clock = _world(tmp_path, name)
    try:
        w.imd.start(0)
        healthy = [e for e in _events(w, clock, 3 * S) if isinstance(e, IsolationMeasurement)]
        assert healthy and healthy[-1].resistance_f_ohm == pytest.approx(5e6, rel=0.01)
        w.imd_physics.inject_insulation_fault(50_000.0)
        faulty = [e for e in _events(w, clock, 8 * S) if isinstance(e, IsolationMeasurement)]
        assert faulty[-1].resistance_f_ohm < 100_000.0  # within a few averaged samples
    finally:
        w.close()


@pytest.mark.parametrize("name", IMDS)
@pytest.mark.parametrize("fail", [False, True])
def test_self_test_result_is_the_devices(name: str, fail: bool, tmp_path: Path) -> None:
    w, clock = _world(tmp_path, name)
    try:
        w.imd_physics.fail_self_test = fail
        w.imd.start(0)
        _events(w, clock, S)
        w.imd.start_self_test(500.0, clock.now_ns)
        results = [e for e in _events(w, clock, 10 * S) if isinstance(e, SelfTestResult)]
        assert [r.passed for r in results] == [not fail]
    finally:
        w.close()


@pytest.mark.parametrize("name", IMDS)
def test_a_silent_device_is_a_device_fault(name: str, tmp_path: Path) -> None:
    w, clock = _world(tmp_path, name)
    try:
        w.imd.start(0)
        _events(w, clock, 2 * S)
        w.imd_sim.silent = True
        faults = [e for e in _events(w, clock, 8 * S) if isinstance(e, ImdDeviceFault)]
        assert faults, "silence went unnoticed"
    finally:
        w.close()


def _wire(w: SimWorld, name: str) -> list[str]:
    """Every frame the driver put on its wire, as golden-file hex."""
    if name == "isocha425":
        sim = w.imd_sim
        link = sim.link  # type: ignore[union-attr]
        got: list[str] = []
        real = link.read

        def spy() -> bytes:
            data = real()
            if data:
                got.append(data.hex().upper())
            return data

        link.read = spy  # type: ignore[method-assign]
        return got
    bus = w.imd_sim.bus  # type: ignore[union-attr]
    frames: list[str] = []
    real_recv = bus.recv

    def recv(timeout: float | None = None) -> can.Message | None:
        msg = real_recv(timeout=timeout)
        if msg is not None:
            frames.append(f"{msg.arbitration_id:03X}:{bytes(msg.data).hex().upper()}")
        return msg

    bus.recv = recv  # type: ignore[method-assign]
    return frames


@pytest.mark.parametrize("name", IMDS)
def test_golden_requests_are_what_the_driver_sends(name: str, tmp_path: Path) -> None:
    w, clock = _world(tmp_path, name)
    try:
        sent = _wire(w, name)
        w.imd.start(0)
        _events(w, clock, 2 * S)
        w.imd.start_self_test(500.0, clock.now_ns)
        _events(w, clock, 4 * S)
        for v in vectors(GOLDEN_FAMILY[name]):
            if "frame" in v:  # RTU request frames, CRC included
                assert v["frame"] in sent, v["name"]
            elif set(v) <= {"name", "id", "data", "source"}:  # CAN requests
                assert f"{v['id']}:{v['data']}" in sent, v["name"]
    finally:
        w.close()

"""Every station config key changes what the station does (no key is silently ignored).

One test (or one parametrized case) per key, each loading a config file that differs from
the default in that key only and measuring what a user of the station would notice: a
contactor feedback time, a CP sample, the frames on the module bus, a meter reading.
`KEY_TESTS` maps every key to the test that proves it; `test_every_key_has_a_test` walks
config/station*.yaml, the config dataclasses and the registry's driver parameters and fails
for a key no test claims. Virtual time throughout; the simulated world is the one
`DcStation` builds (`world_config`), and `test_dc_station_builds_its_world_from_config`
proves the station really passes these sections on.
"""

from __future__ import annotations

import ast
import dataclasses
import random
from collections.abc import Callable, Iterator
from pathlib import Path

import can
import pytest

from drivers.board.sim import EvCpState
from drivers.imd.iso165c import Iso165cImd
from drivers.imd.isocha425 import IsoCha425Imd
from drivers.registry import REGISTRY, PortKind
from drivers.sim.module_rack import InfyRackSim, Reg060RackSim
from evse.ev.battery import Battery
from evse.fsm.yamlstrict import LMap, load_yaml
from evse.ports.board import BoardFault, BoardFaultKind, ContactorFeedback, CpOutputMode, CpSample
from evse.ports.imd import IsolationMeasurement
from evse.runtime.config import CaptureSection, DeviceOpenError, StationConfig, load_config
from evse.runtime.dc_station import DcStation
from evse.runtime.sim_world import SimWorld, world_config
from evse.runtime.station import Station

ROOT = Path(__file__).resolve().parents[2]
MS = 1_000_000
S = 1_000_000_000
THIS = "tests/runtime/test_config_keys.py"


def config(tmp_path: Path, text: str) -> StationConfig:
    path = tmp_path / "station.yaml"
    path.write_text(text, encoding="utf-8")
    return load_config(path)


class Clock:
    def __init__(self) -> None:
        self.now_ns = 0

    def __call__(self) -> int:
        return self.now_ns


def world(cfg: StationConfig) -> tuple[SimWorld, Clock]:
    clock = Clock()
    return SimWorld(clock, random.Random(cfg.seed), Battery(), world_config(cfg)), clock


def run(w: SimWorld, clock: Clock, until_ns: int, step_ns: int = 10 * MS,
        each: Callable[[int], None] | None = None) -> None:
    while clock.now_ns < until_ns:
        clock.now_ns += step_ns
        w.step(clock.now_ns)
        w.group.poll(clock.now_ns)
        if each is not None:
            each(clock.now_ns)


# ----------------------------------------------------------------------------- board:

def _feedback_time(cfg: StationConfig, close: bool) -> int:
    """Coil on (or off) to the ContactorFeedback the board reports, in the DC world."""
    w, clock = world(cfg)
    b = w.board
    b.set_ev_state(EvCpState.C)
    b.set_cp_output(CpOutputMode.PWM, 50)
    b.allow_power_on(True)
    events: list[ContactorFeedback] = []

    def feed(now: int) -> None:
        b.keep_alive()
        events.extend(e for e in b.poll(now) if isinstance(e, ContactorFeedback))

    try:
        run(w, clock, 200 * MS, step_ns=MS, each=feed)
        assert [e.closed for e in events] == [True]
        if close:
            return events[0].at_ns - MS  # the coil is switched on at the first poll
        events.clear()
        b.allow_power_on(False)
        start = clock.now_ns
        run(w, clock, 600 * MS, step_ns=MS, each=feed)
        assert [e.closed for e in events] == [False]
        return events[0].at_ns - start - MS
    finally:
        w.close()


def test_board_contactor_close_ms(tmp_path: Path) -> None:
    assert _feedback_time(config(tmp_path, "station: {}\n"), True) == 30 * MS
    slow = config(tmp_path, "board: {contactor_close_ms: 80}\n")
    assert _feedback_time(slow, True) == 80 * MS


def test_board_contactor_open_ms(tmp_path: Path) -> None:
    assert _feedback_time(config(tmp_path, "station: {}\n"), False) == 30 * MS
    slow = config(tmp_path, "board: {contactor_open_ms: 120}\n")
    assert _feedback_time(slow, False) == 120 * MS


def _samples(cfg: StationConfig) -> list[float]:
    w, clock = world(cfg)
    out: list[float] = []
    for i in range(1, 50):
        clock.now_ns = i * 10 * MS
        out += [e.high_v for e in w.board.poll(clock.now_ns) if isinstance(e, CpSample)]
    w.close()
    return out


def test_board_noise_v(tmp_path: Path) -> None:
    quiet = _samples(config(tmp_path, "board: {noise_v: 0}\n"))
    assert set(quiet) == {12.0}  # state A, +12 V exactly
    noisy = _samples(config(tmp_path, "board: {noise_v: 1.5}\n"))
    assert max(abs(v - 12.0) for v in noisy) > 0.3  # beyond the default +/-0.3 V
    assert max(abs(v - 12.0) for v in noisy) <= 1.5


def _keepalive_fault_at(cfg: StationConfig) -> int:
    w, clock = world(cfg)
    w.close()
    for i in range(1, 1000):
        clock.now_ns = i * 10 * MS
        for e in w.board.poll(clock.now_ns):
            if isinstance(e, BoardFault) and e.kind is BoardFaultKind.KEEPALIVE_TIMEOUT:
                return clock.now_ns
    raise AssertionError("no keep-alive fault")


def test_board_keepalive_timeout_ms(tmp_path: Path) -> None:
    assert _keepalive_fault_at(config(tmp_path, "station: {}\n")) == 3010 * MS
    assert _keepalive_fault_at(config(tmp_path, "board: {keepalive_timeout_ms: 500}\n")) == (
        510 * MS)


def test_board_driver_names_a_registry_row(tmp_path: Path) -> None:
    from evse.runtime.config import ConfigError

    assert config(tmp_path, "board: {driver: sim}\n").board.driver == "sim"
    with pytest.raises(ConfigError, match="unknown board driver 'mcu9'"):
        config(tmp_path, "board: {driver: mcu9}\n")


# ----------------------------------------------------------------------------- power:

def _module_frames(cfg: StationConfig, seconds: float = 2.0) -> list[can.Message]:
    w, clock = world(cfg)
    try:
        run(w, clock, round(seconds * S))
        return list(w.rack.received)
    finally:
        w.close()


def test_power_driver(tmp_path: Path) -> None:
    w, _ = world(config(tmp_path, "station: {}\n"))
    assert isinstance(w.rack, InfyRackSim)
    w.close()
    w, _ = world(config(tmp_path, "power: {driver: winline}\n"))
    assert isinstance(w.rack, Reg060RackSim) and w.rack.table.name == "winline"
    w.close()
    infy = {(m.arbitration_id >> 20) & 0x1FF for m in _module_frames(
        config(tmp_path, "station: {}\n"))}
    winline = {(m.arbitration_id >> 20) & 0x1FF for m in _module_frames(
        config(tmp_path, "power: {driver: winline}\n"))}
    assert winline == {0x060} and 0x060 not in infy  # PROTNO 0x060 vs Infy's own IDs


def test_power_modules(tmp_path: Path) -> None:
    def polled(text: str) -> set[int]:
        frames = _module_frames(config(tmp_path, text))
        return {m.arbitration_id >> 8 & 0xFF for m in frames}  # Infy: destination byte

    assert polled("station: {}\n") == {0, 1}
    assert polled("power: {modules: 4}\n") == {0, 1, 2, 3}


def test_power_poll_period_ms(tmp_path: Path) -> None:
    default = len(_module_frames(config(tmp_path, "station: {}\n"), 3.0))
    fast = len(_module_frames(config(tmp_path, "power: {poll_period_ms: 250}\n"), 3.0))
    assert fast > 3 * default


@pytest.mark.parametrize("section", ["power", "imd"])
def test_can_channel(tmp_path: Path, section: str) -> None:
    """A named virtual channel is a bus others can listen on (null: a private one)."""
    name = f"cfg-keys-{section}"
    listener = can.Bus(interface="virtual", channel=name)
    try:
        w, clock = world(config(tmp_path, f"{section}: {{channel: {name}}}\n"))
        w.imd.start(0)
        run(w, clock, 1100 * MS, each=lambda now: list(w.imd.poll(now)))
        w.close()
        seen = []
        while (msg := listener.recv(timeout=0)) is not None:
            seen.append(msg)
        assert seen, f"nothing on {section}.channel {name}"
        assert all(m.is_extended_id == (section == "power") for m in seen)
    finally:
        listener.shutdown()


@pytest.mark.parametrize("section", ["power", "imd"])
def test_can_bitrate_and_interface(tmp_path: Path, section: str,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[dict[str, object]] = []
    real = can.Bus

    def spy(**kwargs: object) -> can.BusABC:
        opened.append(kwargs)
        return real(**kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(can, "Bus", spy)
    world(config(tmp_path, f"{section}: {{bitrate: 250000}}\n"))[0].close()
    mine = [k for k in opened if str(k["channel"]).startswith(f"station-{section}")]
    assert len(mine) == 2 and {k["bitrate"] for k in mine} == {250000}
    assert {k["interface"] for k in mine} == {"virtual"}
    # interface: socketcan opens the named netdev (absent here: a clear error naming it)
    with pytest.raises(DeviceOpenError, match=f"{section}: cannot open socketcan channel "
                                              "'nosuchcan7'"):
        world(config(tmp_path, f"{section}: {{interface: socketcan, channel: nosuchcan7}}\n"))
    assert opened[-1]["interface"] == "socketcan" and opened[-1]["channel"] == "nosuchcan7"


# ----------------------------------------------------------------------------- imd:

def _imd_readings(cfg: StationConfig) -> tuple[SimWorld, list[IsolationMeasurement]]:
    w, clock = world(cfg)
    w.imd.start(0)
    got: list[IsolationMeasurement] = []
    run(w, clock, 3 * S, each=lambda now: got.extend(
        e for e in w.imd.poll(now) if isinstance(e, IsolationMeasurement)))
    w.close()
    return w, got


def test_imd_driver(tmp_path: Path) -> None:
    w, got = _imd_readings(config(tmp_path, "station: {}\n"))
    assert isinstance(w.imd, Iso165cImd) and got
    w, got = _imd_readings(config(tmp_path, "imd: {driver: isocha425}\n"))
    assert isinstance(w.imd, IsoCha425Imd) and got
    assert got[-1].resistance_f_ohm == pytest.approx(5_000_000.0)


def _rtu_addresses(cfg: StationConfig) -> tuple[set[int], bool]:
    """Device addresses of the RTU frames the driver wrote, and whether a reading came."""
    w, clock = world(cfg)
    link = w.imd_sim.link  # type: ignore[union-attr]
    sent: list[bytes] = []
    real_read = link.read

    def spy_read() -> bytes:
        data = real_read()
        if data:
            sent.append(data)
        return data

    link.read = spy_read  # type: ignore[method-assign]
    w.imd.start(0)
    got: list[object] = []
    run(w, clock, 2 * S, each=lambda now: got.extend(w.imd.poll(now)))
    w.close()
    return {frame[0] for frame in sent}, any(isinstance(e, IsolationMeasurement) for e in got)


def test_imd_device_address(tmp_path: Path) -> None:
    """The driver addresses the configured slave (first byte of every RTU frame), and the
    simulated device at that address answers."""
    for address in (3, 17):
        cfg = config(tmp_path, f"imd: {{driver: isocha425, device_address: {address}}}\n")
        assert _rtu_addresses(cfg) == ({address}, True)


# ----------------------------------------------------------------------------- meter:

@pytest.mark.parametrize("key,value,truth", [
    ("voltage_gain_error", 0.05, (400.0, 0.0)),
    ("voltage_offset_v", 10.0, (400.0, 0.0)),
    ("current_gain_error", 0.05, (0.0, 100.0)),
    ("current_offset_a", 5.0, (0.0, 100.0)),
])
def test_meter_accuracy(tmp_path: Path, key: str, value: float,
                        truth: tuple[float, float]) -> None:
    zero = ("voltage_gain_error: 0, voltage_offset_v: 0, current_gain_error: 0, "
            "current_offset_a: 0")

    def worst_error(text: str) -> float:
        w, _ = world(config(tmp_path, f"meter: {{{text}}}\n"))
        w.plant.connector_voltage_v, w.plant.connector_current_a = truth
        errors = []
        for i in range(200):
            r = w.meter.read(i * 20 * MS)
            errors.append(abs(r.voltage_v - truth[0]) + abs(r.current_a - truth[1]))
        w.close()
        return max(errors)

    assert worst_error(zero) == 0.0
    worst = worst_error(zero.replace(f"{key}: 0", f"{key}: {value}"))
    band = value * (max(truth) if "gain" in key else 1.0)
    assert 0.5 * band < worst <= band


def test_meter_driver(tmp_path: Path) -> None:
    from evse.runtime.config import ConfigError

    assert config(tmp_path, "meter: {driver: sim}\n").meter.driver == "sim"
    with pytest.raises(ConfigError, match="unknown meter driver"):
        config(tmp_path, "meter: {driver: eastron}\n")


# ----------------------------------------------------------------------------- station:, cp:

def _pilot(cfg: StationConfig, ev: list[tuple[int, EvCpState]], until_ns: int) -> Station:
    st = Station(cfg)
    st.start()
    for at, state in ev:
        st.scheduler.run_until(at)
        st.board.set_ev_state(state)
    st.scheduler.run_until(until_ns)
    return st


def test_station_seed(tmp_path: Path) -> None:
    a = _samples(config(tmp_path, "station: {seed: 1}\n"))
    assert a == _samples(config(tmp_path, "station: {seed: 1}\n"))
    assert a != _samples(config(tmp_path, "station: {seed: 2}\n"))


def test_station_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                      capsys: pytest.CaptureFixture[str]) -> None:
    """`evse run` announces the station by its name: the real command on a real
    IfaceStation, with its sockets and loop left out (start/run are no-ops here)."""
    from evse.cli import main
    from evse.runtime.run_iface import IfaceStation

    monkeypatch.setattr(IfaceStation, "start", lambda self: None)
    monkeypatch.setattr(IfaceStation, "run", lambda self, duration_s=None: None)
    for name in ("bench", "depot-7"):
        path = tmp_path / f"{name}.yaml"
        path.write_text(f"station: {{name: {name}}}\nplc: {{driver: none}}\n", encoding="utf-8")
        assert main(["run", "--config", str(path), "--iface", "lo", "--duration", "0"]) == 0
        assert f"station {name} on lo" in capsys.readouterr().out


def _time_to_b(cfg: StationConfig) -> int:
    st = Station(cfg)
    st.start()
    st.scheduler.run_until(S)
    st.ev_plug()
    assert st.scheduler.run_until_true(lambda: st.cp.machine.in_state("plugged.B"),
                                       limit_ns=2 * S)
    return st.scheduler.now_ns() - S


def test_cp_sample_period_ms(tmp_path: Path) -> None:
    fast = _time_to_b(config(tmp_path, "cp: {sample_period_ms: 2}\n"))
    slow = _time_to_b(config(tmp_path, "cp: {sample_period_ms: 20}\n"))
    assert fast < slow and slow >= 40 * MS  # debounce: a few samples of the period


def _pwm_since(cfg: StationConfig) -> tuple[int | None, int]:
    st = Station(cfg)
    st.start()
    st.scheduler.run_until(S)
    st.ev_plug()
    ok = st.scheduler.run_until_true(lambda: st.board.output is CpOutputMode.PWM,
                                     limit_ns=3 * S)
    return (st.scheduler.now_ns() - S if ok else None), st.board.duty_permille


def test_cp_hlc_enabled(tmp_path: Path) -> None:
    at, duty = _pwm_since(config(tmp_path, "cp: {hlc_enabled: true}\n"))
    assert at is not None and duty == 50  # 5 % PWM: high-level communication
    at_off, duty_off = _pwm_since(config(tmp_path, "cp: {hlc_enabled: false}\n"))
    assert (at_off, duty_off) != (at, duty)


def test_cp_params(tmp_path: Path) -> None:
    default, _ = _pwm_since(config(tmp_path, "station: {}\n"))
    later, _ = _pwm_since(config(tmp_path, "cp: {params: {t_hlc_pwm_delay: 1.5}}\n"))
    assert default is not None and later is not None
    assert later - default == pytest.approx(S, abs=30 * MS)


def test_cp_ventilation_available(tmp_path: Path) -> None:
    """A car in D (ventilation required) that asks for power gets it only where the site
    ventilates (IEC 61851-1 state D)."""
    def energized(text: str) -> tuple[bool, bool]:
        st = _pilot(config(tmp_path, text), [(S, EvCpState.B), (3 * S, EvCpState.D)], 5 * S)
        st.post_cp("power_on_request")
        st.scheduler.run_until(6 * S)
        refused = any(n.kind == "power_refused" for _, n in st.notices)
        return st.cp.machine.in_state("plugged.D.D2.energized"), refused

    assert energized("cp: {ventilation_available: false}\n") == (False, True)
    assert energized("cp: {ventilation_available: true}\n") == (True, False)


# ----------------------------------------------------------------------------- wiring

def test_dc_station_builds_its_world_from_config(tmp_path: Path) -> None:
    cfg = config(tmp_path, "power: {driver: dpm1000, modules: 3}\n"
                           "imd: {driver: isocha425}\nboard: {contactor_close_ms: 45}\n")
    st = DcStation(cfg)
    try:
        assert st.world.config == world_config(cfg)
        assert isinstance(st.world.rack, Reg060RackSim) and len(st.world.stages) == 3
        assert isinstance(st.world.imd, IsoCha425Imd)
        assert st.world.contactor.actuation_delay_ns == 35 * MS
    finally:
        st.close()


# ----------------------------------------------------------------------------- coverage

#: Every config key -> the test proving it changes behaviour ("file::function").
KEY_TESTS: dict[str, str] = {
    "station.name": f"{THIS}::test_station_name",
    "station.seed": f"{THIS}::test_station_seed",
    "board.driver": f"{THIS}::test_board_driver_names_a_registry_row",
    "board.noise_v": f"{THIS}::test_board_noise_v",
    "board.contactor_close_ms": f"{THIS}::test_board_contactor_close_ms",
    "board.contactor_open_ms": f"{THIS}::test_board_contactor_open_ms",
    "board.keepalive_timeout_ms": f"{THIS}::test_board_keepalive_timeout_ms",
    "power.driver": f"{THIS}::test_power_driver",
    "power.modules": f"{THIS}::test_power_modules",
    "power.interface": f"{THIS}::test_can_bitrate_and_interface",
    "power.channel": f"{THIS}::test_can_channel",
    "power.bitrate": f"{THIS}::test_can_bitrate_and_interface",
    "power.poll_period_ms": f"{THIS}::test_power_poll_period_ms",
    "imd.driver": f"{THIS}::test_imd_driver",
    "imd.interface": f"{THIS}::test_can_bitrate_and_interface",
    "imd.channel": f"{THIS}::test_can_channel",
    "imd.bitrate": f"{THIS}::test_can_bitrate_and_interface",
    "imd.device_address": f"{THIS}::test_imd_device_address",
    "meter.driver": f"{THIS}::test_meter_driver",
    "meter.voltage_gain_error": f"{THIS}::test_meter_accuracy",
    "meter.voltage_offset_v": f"{THIS}::test_meter_accuracy",
    "meter.current_gain_error": f"{THIS}::test_meter_accuracy",
    "meter.current_offset_a": f"{THIS}::test_meter_accuracy",
    "cp.sample_period_ms": f"{THIS}::test_cp_sample_period_ms",
    "cp.hlc_enabled": f"{THIS}::test_cp_hlc_enabled",
    "cp.ventilation_available": f"{THIS}::test_cp_ventilation_available",
    "cp.params": f"{THIS}::test_cp_params",
    "auth.timeout_eim_s": "tests/station/test_auth_wait.py::"
                          "test_configured_waits_apply_to_their_own_mode",
    "auth.timeout_pnc_s": "tests/station/test_auth_wait.py::"
                          "test_configured_waits_apply_to_their_own_mode",
    # the station.yaml pnc section end to end (seeded root + chain_only charges offline,
    # the store directory holds the root); the policies one by one in the controller suite
    "pnc.trust_store_dir": "tests/station/test_pnc_trust.py::"
                           "test_pnc_section_of_the_station_yaml_seeds_the_trust_store",
    "pnc.seed_roots": "tests/station/test_pnc_trust.py::"
                      "test_pnc_section_of_the_station_yaml_seeds_the_trust_store",
    "pnc.offline_policy": "tests/controller/test_trust_store.py::"
                          "test_offline_policy_chain_only_and_never",
}


def _yaml_keys(path: Path) -> Iterator[str]:
    raw = load_yaml(path)
    assert isinstance(raw, LMap)
    for section, body in raw.items():
        if isinstance(body, LMap):
            yield from (f"{section}.{k}" for k in body)


def _required_keys() -> set[str]:
    keys: set[str] = set()
    for path in sorted((ROOT / "config").glob("station*.yaml")):
        keys |= set(_yaml_keys(path))
    for kind in (PortKind.BOARD, PortKind.POWER, PortKind.IMD, PortKind.METER):
        keys.add(f"{kind.value}.driver")
        for info in REGISTRY[kind].values():
            keys |= {f"{kind.value}.{p.name}" for p in info.params}
    for section in ("board", "cp", "auth", "pnc", "power_faults", "ems"):
        cls = type(getattr(StationConfig(), section))
        keys |= {f"{section}.{f.name}" for f in dataclasses.fields(cls)}
    keys.discard("board.params")  # the chosen board driver's parameters, walked above
    # ems.failsafe_limit_w | failsafe_limit_a fill these two fields
    keys -= {"ems.failsafe_limit", "ems.failsafe_unit"}
    # Optional sections (None by default): every field they may carry.
    keys |= {f"capture.{f.name}" for f in dataclasses.fields(CaptureSection)}
    return keys


def _test_exists(ref: str) -> bool:
    file, _, name = ref.partition("::")
    tree = ast.parse((ROOT / file).read_text(encoding="utf-8"))
    return any(isinstance(n, ast.FunctionDef) and n.name == name for n in tree.body)


def test_every_key_has_a_test() -> None:
    missing = sorted(_required_keys() - set(KEY_TESTS))
    assert not missing, f"config keys no test proves: {missing}"
    gone = sorted(ref for ref in set(KEY_TESTS.values()) if not _test_exists(ref))
    assert not gone, f"KEY_TESTS names tests that do not exist: {gone}"


# ----------------------------------------------------------------- cm4 helper (appended)
# board: {driver: mcu_uart} parameters, proved against the simulated firmware on a pty.
_MCU = "tests/mcu/test_mcu_config.py"
KEY_TESTS.update({
    "board.device": f"{_MCU}::test_evse_run_with_a_missing_mcu_device_exits_2_naming_it",
    "board.baud": f"{_MCU}::test_mcu_uart_baud_sets_the_line_speed",
    "board.ack_timeout_ms":
        f"{_MCU}::test_mcu_uart_ack_timeout_and_max_resends_bound_an_unacknowledged_command",
    "board.max_resends":
        f"{_MCU}::test_mcu_uart_ack_timeout_and_max_resends_bound_an_unacknowledged_command",
    "board.link_timeout_ms":
        f"{_MCU}::test_mcu_uart_link_timeout_ms_is_when_a_mute_mcu_counts_as_lost",
    "board.handshake_timeout_ms":
        f"{_MCU}::test_evse_run_with_a_silent_mcu_exits_2_after_the_handshake_timeout",
    "board.max_watchdog_timeout_ms":
        f"{_MCU}::test_an_mcu_with_a_longer_watchdog_than_accepted_is_refused_at_start",
})
# ocpp: (evse run against the operator's CSMS), proved over a real websocket against the
# project's CSMS simulator in tests/station/test_run_ocpp.py.
_OCPP = "tests/station/test_run_ocpp.py"
_OCPP16 = f"{_OCPP}::test_evse_run_boots_at_the_csms_and_charges_a_din_car_under_ocpp_16"
_OCPP_MAINT = (f"{_OCPP}::test_evse_run_installs_firmware_in_its_maintenance_dir_and_ends_"
               "for_the_restart")
KEY_TESTS.update({
    "ocpp.url": _OCPP16,
    "ocpp.charge_point_id": _OCPP16,
    "ocpp.version": f"{_OCPP}::test_evse_run_speaks_201_over_tls_profile_2_to_the_csms",
    "ocpp.security_profile": f"{_OCPP}::test_evse_run_speaks_201_over_tls_profile_2_to_the_csms",
    "ocpp.ca_file": f"{_OCPP}::test_evse_run_speaks_201_over_tls_profile_2_to_the_csms",
    "ocpp.password_file":
        f"{_OCPP}::test_a_wrong_password_is_refused_by_the_csms_and_retried_while_the_station_runs",
    "ocpp.client_cert": f"{_OCPP}::test_evse_run_uses_its_client_certificate_under_profile_3",
    "ocpp.client_key": f"{_OCPP}::test_evse_run_uses_its_client_certificate_under_profile_3",
    "ocpp.heartbeat_s": _OCPP16,
    "ocpp.store": _OCPP16,
    "ocpp.id_token": _OCPP16,
    "ocpp.maintenance_dir": _OCPP_MAINT,
    "ocpp.restart": _OCPP_MAINT,
    "ocpp.station_cert_dir": _OCPP_MAINT,
})
# imd: {driver: isocha425} on an RS-485 tty (Modbus RTU), against the simulated IMD on a pty.
_IMD = "tests/drivers/test_isocha425_serial.py"
KEY_TESTS.update({
    "imd.device": f"{_IMD}::test_imd_device_from_config_talks_modbus_on_that_tty",
    "imd.baud": f"{_IMD}::test_imd_device_from_config_talks_modbus_on_that_tty",
})
# meter: {driver: modbus_sdm} parameters, proved against the simulated meter (pymodbus'
# server framer) in memory and on a pty.
_SDM = "tests/drivers/test_meter_modbus.py"
KEY_TESTS.update({
    "meter.device": f"{_SDM}::test_meter_device_and_baud_open_that_tty",
    "meter.baud": f"{_SDM}::test_meter_device_and_baud_open_that_tty",
    "meter.device_address":
        f"{_SDM}::test_the_meter_is_chosen_by_name_and_each_key_has_its_effect",
    "meter.poll_period_ms":
        f"{_SDM}::test_the_meter_is_chosen_by_name_and_each_key_has_its_effect",
    "meter.response_timeout_ms":
        f"{_SDM}::test_the_meter_is_chosen_by_name_and_each_key_has_its_effect",
    "meter.stale_after_ms":
        f"{_SDM}::test_the_meter_is_chosen_by_name_and_each_key_has_its_effect",
})


# power_faults: the power path's thresholds (one test sets them all) and the fault store.
_PF = ("tests/station/test_power_faults_config.py::"
       "test_every_power_faults_key_sets_its_threshold_in_the_station")
KEY_TESTS.update({f"power_faults.{k}": _PF for k in (
    "over_current_margin_a", "over_current_margin_fraction", "over_current_duration_ms",
    "temperature_derate_c", "temperature_trip_c", "meter_stale_ms", "cable_rating_a")})
KEY_TESTS["power_faults.store"] = (
    "tests/station/test_fault_store.py::"
    "test_a_latched_insulation_fault_survives_a_restart_until_the_operator_resets")


# capture: session captures (issue 13), one pcapng per plug-in.
_CAP = "tests/capture/test_capture_config.py::test_each_capture_key_changes_what_is_written"
KEY_TESTS.update({f"capture.{k}": _CAP for k in (
    "dir", "max_files", "max_session_mb", "tls_keys")})


# ----------------------------------------------------------------- ocpp helper (appended)
# ems: the external-limit input (OCPP 2.0.1 K11-K13), proved on a whole DcStation.
_EMS = "tests/runtime/test_ems_input.py"
KEY_TESTS.update({
    "ems.driver": f"{_EMS}::test_ems_driver_none_or_absent_feeds_nothing",
    "ems.source": f"{_EMS}::test_ems_source_is_the_reported_charging_limit_source",
    "ems.steps": f"{_EMS}::test_ems_steps_in_amps_and_their_times",
    "ems.bind": f"{_EMS}::test_ems_bind_and_port_choose_where_the_datagrams_arrive",
    "ems.port": f"{_EMS}::test_ems_bind_and_port_choose_where_the_datagrams_arrive",
    "ems.failsafe_timeout_s":
        f"{_EMS}::test_ems_failsafe_timeout_applies_the_failsafe_limit_when_the_ems_goes_silent",
    "ems.failsafe_limit_w":
        f"{_EMS}::test_ems_failsafe_timeout_applies_the_failsafe_limit_when_the_ems_goes_silent",
    "ems.failsafe_limit_a": f"{_EMS}::test_ems_failsafe_limit_a_and_timeout_zero",
    "ems.failsafe_duration_min_s":
        f"{_EMS}::test_K13_ems_failsafe_duration_min_releases_a_failsafe_the_ems_never_ends",
})

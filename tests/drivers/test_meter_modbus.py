"""The DC meter on Modbus RTU (drivers/meter/modbus_sdm.py, registry ``modbus_sdm``): our
codec against the simulated meter built on pymodbus' server framer (an independent RTU
implementation), in memory and over a real pty; typed errors for CRC, timeout and
exception replies; the stale signal; every config key's effect; and the whole DcStation
charging with its energy from the Modbus meter, then stopping when the meter goes silent.
Virtual time, stepped by hand."""

from __future__ import annotations

import random
import termios
from pathlib import Path

import pytest

from drivers.meter.modbus_sdm import (
    REG_IMPORT_KWH,
    MeterCrcError,
    MeterExceptionResponse,
    MeterTimeout,
    ModbusSdmMeter,
    SdmMeterSim,
)
from drivers.modbus.link import PtyDeviceLink, pipe_pair
from drivers.modbus.rtu import FC_READ_INPUT, crc16_modbus, read_request
from evse.ev.battery import Battery
from evse.ports.meter import MeterReading
from evse.runtime.config import ConfigError, DeviceOpenError, StationConfig, load_config
from evse.runtime.sim_world import SimWorld, world_config

MS = 1_000_000
S = 1_000_000_000
TRUTH = (401.5, 123.25)  # exact in float32


class Bus:
    """Driver and simulated meter on an in-memory link, stepped every millisecond."""

    def __init__(self, meter: ModbusSdmMeter | None = None, sim: SdmMeterSim | None = None,
                 **kw: int) -> None:
        self.now = 0
        a, b = pipe_pair()
        self.meter = meter or ModbusSdmMeter(a, **kw)
        self.sim = sim or SdmMeterSim(b, lambda: TRUTH)
        self.readings: list[MeterReading] = []

    def run_ms(self, ms: int) -> None:
        for _ in range(ms):
            self.now += MS
            self.sim.step(self.now)
            self.readings += self.meter.poll(self.now)


def test_the_codec_matches_the_modbus_reference_values() -> None:
    assert crc16_modbus(b"123456789") == 0x4B37  # CRC-16/MODBUS check value
    # The classic example: read 2 input registers at 0 from slave 1 -> CRC 0x0BC4 (lo first).
    assert read_request(1, FC_READ_INPUT, 0x0000, 2) == bytes.fromhex("01 04 0000 0002 71CB")


def test_readings_arrive_every_poll_period_with_the_meters_values() -> None:
    bus = Bus()
    bus.run_ms(1_000)
    assert 9 <= len(bus.readings) <= 11, len(bus.readings)
    bus.run_ms(1_050)
    r = bus.readings[-1]
    assert (r.voltage_v, r.current_a) == TRUTH
    # The import register integrates V x I (49.5 kW) since the start, in kWh on the wire;
    # it is read every ENERGY_EVERY_POLLS polls (here last at 2.0 s).
    assert r.energy_wh == pytest.approx(TRUTH[0] * TRUTH[1] * 2.0 / 3600, rel=0.02)
    assert bus.meter.stats.errors == {} and not bus.meter.stale(bus.now)


def test_a_crc_error_is_typed_and_costs_one_reading() -> None:
    bus = Bus()
    bus.run_ms(500)
    n = len(bus.readings)
    bus.sim.corrupt_next = 1
    bus.run_ms(500)
    assert bus.meter.stats.errors == {"MeterCrcError": 1}
    assert isinstance(bus.meter.errors[-1], MeterCrcError)
    assert len(bus.readings) >= n + 3


def test_an_exception_reply_is_typed_with_its_code() -> None:
    bus = Bus()
    bus.sim.exception_code = 2  # ILLEGAL DATA ADDRESS
    bus.run_ms(300)
    err = bus.meter.errors[-1]
    assert isinstance(err, MeterExceptionResponse) and err.code == 2
    assert err.address == REG_IMPORT_KWH  # the first request of a start reads the energy
    assert bus.readings == []


def test_a_silent_meter_times_out_goes_stale_and_recovers() -> None:
    bus = Bus(response_timeout_ns=150 * MS, stale_after_ns=600 * MS)
    bus.run_ms(300)
    bus.sim.silent = True
    last = bus.readings[-1].timestamp_ns
    while not bus.meter.stale(bus.now):
        bus.run_ms(1)
        assert bus.now - last < 2 * S
    assert bus.now - last == 600 * MS
    assert isinstance(bus.meter.errors[-1], MeterTimeout)
    # Every unanswered request is one timeout, each at response_timeout after it was sent.
    assert bus.meter.stats.errors["MeterTimeout"] >= 2
    bus.sim.silent = False
    bus.run_ms(250)
    assert not bus.meter.stale(bus.now) and bus.readings[-1].timestamp_ns > last


def test_over_a_real_tty_the_driver_reads_the_simulated_meter() -> None:
    from drivers.modbus.link import SerialPortLink

    pty = PtyDeviceLink()
    link = SerialPortLink(pty.device, 19_200)
    try:
        assert termios.tcgetattr(link.fileno())[4] == termios.B19200
        bus = Bus(ModbusSdmMeter(link), SdmMeterSim(pty, lambda: TRUTH))
        for _ in range(200):  # the pty needs real moments to pass the bytes
            bus.run_ms(5)
            if len(bus.readings) >= 3:
                break
        assert len(bus.readings) >= 3 and bus.readings[-1].voltage_v == TRUTH[0]
    finally:
        link.close()
        pty.close()


# ------------------------------------------------------------------ config keys

def _cfg(tmp: Path, body: str) -> StationConfig:
    p = tmp / "station.yaml"
    p.write_text(body, encoding="utf-8")
    return load_config(p)


def _world(cfg: StationConfig) -> tuple[SimWorld, list[int]]:
    clock = [0]
    w = SimWorld(lambda: clock[0], random.Random(1), Battery(), world_config(cfg))
    return w, clock


def _run(w: SimWorld, clock: list[int], ms: int) -> list[MeterReading]:
    out: list[MeterReading] = []
    for _ in range(ms):
        clock[0] += MS
        w.step(clock[0])
        out += w.meter.poll(clock[0])
    return out


def test_the_meter_is_chosen_by_name_and_each_key_has_its_effect(tmp_path: Path) -> None:
    w, clock = _world(_cfg(tmp_path, "meter: {driver: modbus_sdm}\n"))
    try:
        assert isinstance(w.meter, ModbusSdmMeter) and w.meter_sim is not None
        assert len(_run(w, clock, 1_000)) == 10  # poll_period_ms default 100
    finally:
        w.close()
    w, clock = _world(_cfg(tmp_path, "meter: {driver: modbus_sdm, poll_period_ms: 250}\n"))
    try:
        assert len(_run(w, clock, 1_000)) == 4
    finally:
        w.close()
    # device_address: the driver asks that address; a meter at another one never answers.
    w, clock = _world(_cfg(tmp_path, "meter: {driver: modbus_sdm, device_address: 7, "
                                     "response_timeout_ms: 40, stale_after_ms: 300}\n"))
    try:
        assert w.meter_sim is not None and w.meter_sim.device_address == 7
        assert _run(w, clock, 200)
        w.meter_sim.device_address = 8
        _run(w, clock, 45)
        assert isinstance(w.meter, ModbusSdmMeter)
        timeouts = w.meter.stats.errors.get("MeterTimeout", 0)
        assert timeouts >= 1
        assert not w.meter.stale(clock[0])
        _run(w, clock, 300)
        assert w.meter.stale(clock[0])  # stale_after_ms 300
    finally:
        w.close()


def test_meter_device_and_baud_open_that_tty(tmp_path: Path) -> None:
    pty = PtyDeviceLink()
    try:
        cfg = _cfg(tmp_path, f"meter: {{driver: modbus_sdm, device: {pty.device}, "
                             "baud: 38400}\n")
        w, clock = _world(cfg)
        try:
            serial = w._meter_serial
            assert serial is not None
            assert termios.tcgetattr(serial.fileno())[4] == termios.B38400
            far = SdmMeterSim(pty, lambda: TRUTH)
            got: list[MeterReading] = []
            for _ in range(200):
                clock[0] += 5 * MS
                far.step(clock[0])
                got += w.meter.poll(clock[0])
                if got:
                    break
            assert got and got[-1].current_a == TRUTH[1]
        finally:
            w.close()
    finally:
        pty.close()
    with pytest.raises(DeviceOpenError, match="/dev/ttyNOMETER9: cannot open the RS-485"):
        _world(_cfg(tmp_path, "meter: {driver: modbus_sdm, device: /dev/ttyNOMETER9}\n"))


@pytest.mark.parametrize(("body", "match"), [
    ("meter:\n  driver: modbus_sdm\n  pol_period_ms: 100\n",
     r"station.yaml:3: unknown key meter.pol_period_ms"),
    ("meter:\n  driver: modbus_sdm\n  baud: 14400\n", r"station.yaml:3: meter.baud must be one of"),
    ("meter:\n  driver: modbus_sdm\n  response_timeout_ms: 1\n",
     r"station.yaml:3: meter.response_timeout_ms must be 10..2000"),
    ("meter:\n  driver: sim\n  device_address: 3\n",
     r"station.yaml:3: meter driver 'sim' does not take meter.device_address"),
])
def test_bad_meter_keys_are_file_line_errors(tmp_path: Path, body: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        _cfg(tmp_path, body)


def test_a_station_charges_on_the_modbus_meter_and_stops_when_it_goes_silent(
    tmp_path: Path,
) -> None:
    """The whole DcStation with `meter: {driver: modbus_sdm}`: the energy and the present
    voltage come over Modbus; a silent meter while charging is the power path's
    meter_stale fault within power.meter_stale_ms (the driver says stale first)."""
    from evse.power.faults import FaultReason
    from evse.runtime.dc_station import DcStation, SessionConfig

    cfg = _cfg(tmp_path, "meter: {driver: modbus_sdm, poll_period_ms: 20}\n"
                         "power_faults: {meter_stale_ms: 1500}\n")
    st = DcStation(cfg, SessionConfig(protocol="din", ocpp="none", charge_s=300))
    try:
        st.start()
        st.sched.run_until(1 * S)
        st.plug_in()
        ok = st.sched.run_until_true(
            lambda: st.secc is not None and st.secc.state == "charging"
            and st.world.plant.connector_current_a > 50, limit_ns=60 * S)
        assert ok, st.log.milestones
        st.sched.run_for(5 * S)
        meter = st.world.meter
        assert isinstance(meter, ModbusSdmMeter) and meter.stats.readings > 50
        assert meter.stats.errors == {}
        assert st._energy_wh > 0 and meter.last is not None
        assert st._energy_wh == meter.last.energy_wh
        sim = st.world.meter_sim
        assert sim is not None
        sim.silent = True
        t_cut = st.sched.now_ns()
        ok = st.sched.run_until_true(
            lambda: any(f.reason is FaultReason.METER_STALE for f in st.power.faults),
            limit_ns=5 * S)
        assert ok, "no meter_stale fault"
        took = st.sched.now_ns() - t_cut
        assert 1_400 * MS <= took <= 1_700 * MS, took / MS
        assert meter.stale(st.sched.now_ns())
        st.sched.run_for(3 * S)
        assert st.world.plant.connector_current_a < 5.0
    finally:
        st.close()

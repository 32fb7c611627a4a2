"""The second module vendor and IMD, chosen by config alone, carry a full DC session.

scenarios/dc_session_winline.yaml names config/station-winline.yaml: three Winline modules
(PROTNO 0x060) and the Bender isoCHA425HV on Modbus RTU. `evse sim` runs it to "scenario
OK"; here we also check that the session really went through those drivers: only 0x060
frames on the module bus, all three modules polled, the cable check's isolation
readings from the Modbus device, energy in the meter."""

from __future__ import annotations

from pathlib import Path

from drivers.imd.isocha425 import IsoCha425Imd
from drivers.power import reg060
from drivers.sim.imd import IsoCha425Sim
from drivers.sim.module_rack import Reg060RackSim
from evse.runtime.dc_station import DcStation
from evse.runtime.scenario import load_scenario, run_scenario

ROOT = Path(__file__).resolve().parents[2]


def test_winline_and_isocha425_from_config_run_a_full_din_session() -> None:
    result = run_scenario(load_scenario(ROOT / "scenarios" / "dc_session_winline.yaml"))
    assert result.ok, result.failures
    st = result.station
    assert isinstance(st, DcStation)
    w = st.world
    assert isinstance(w.rack, Reg060RackSim) and w.rack.table is reg060.WINLINE
    assert isinstance(w.imd, IsoCha425Imd) and isinstance(w.imd_sim, IsoCha425Sim)
    assert w.imd_sim.registers[3026] == 0  # measurement switched off again after the session
    frames = list(w.rack.received)
    assert frames and {(m.arbitration_id >> 20) & 0x1FF for m in frames} == {reg060.PROTNO}
    assert {reg060.decode_id(m.arbitration_id).destination for m in frames} == {0, 1, 2}
    assert st.log.ev_result is not None and st.log.ev_result.startswith("OK")
    last = w.meter.last
    assert last is not None and last.energy_wh > 500.0  # 60 s at ~55 kW: ~0.9 kWh

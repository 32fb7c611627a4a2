"""The draft `slac:` section of config/slac-bench.yaml builds a working EVSE SLAC core."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import yaml

from evse.fsm import FsmUsageError
from evse.runtime.config import ConfigError, load_config
from evse.slac.codec import decode_frame
from evse.slac.config import slac_config_from_section
from evse.slac.errors import SlacUsageError
from evse.slac.evse_core import EvseSlac, PilotState
from evse.slac.messages import LOCAL_MODEM_MAC, SetKeyReq, mac_from_str
from evse.slac.outputs import SendFrame

ROOT = Path(__file__).resolve().parents[2]
MAC = bytes.fromhex("02000000e001")


def test_bench_config_slac_section_builds_a_core_with_its_overrides() -> None:
    section = yaml.safe_load((ROOT / "config" / "slac-bench.yaml").read_text())["slac"]
    cfg, params = slac_config_from_section(section, MAC)
    assert cfg.attenuation_threshold_db == 50.0 and cfg.num_sounds == 10
    assert cfg.neighbour_margin_db == 6.0 and cfg.attenuation_adjustment_db == 0
    core = EvseSlac(cfg, random.Random(0), param_overrides=params)
    assert core.machine.param_ns("t_evse_slac_init") == 40_000_000_000


@pytest.mark.parametrize(
    "section",
    [
        {"bogus": 1},
        {"num_sounds": "10"},
        {"validation": 1},
        {"params": {"t_match_join": -1}},
        {"attenuation_threshold_db": True},
    ],
)
def test_bad_slac_section_is_a_usage_error_naming_the_key(section: dict[str, object]) -> None:
    with pytest.raises(SlacUsageError):
        slac_config_from_section(section, MAC)


def test_unknown_chart_param_is_refused_by_the_engine() -> None:
    cfg, params = slac_config_from_section({"params": {"t_nonexistent": 1.0}}, MAC)
    with pytest.raises(FsmUsageError, match="unknown param"):
        EvseSlac(cfg, random.Random(0), param_overrides=params)


def test_local_modem_address_from_the_station_config_reaches_the_slac_core(
    tmp_path: Path,
) -> None:
    """`plc.local_modem_mac` is where CM_SET_KEY goes (evse run passes it to the core)."""
    path = tmp_path / "station.yaml"
    path.write_text(
        'plc: {driver: raw, local_modem_mac: "02:B0:52:00:00:02"}\nslac: {enabled: true}\n',
        encoding="utf-8",
    )
    station = load_config(path)
    assert station.plc.local_modem_mac == "02:b0:52:00:00:02"
    cfg, _ = slac_config_from_section(
        station.slac.settings, MAC, mac_from_str(station.plc.local_modem_mac)
    )
    core = EvseSlac(cfg, random.Random(0))
    core.start(0)
    (out,) = core.handle_cp(PilotState.B, True, 0)
    assert isinstance(out, SendFrame)
    frame = decode_frame(out.raw)
    assert isinstance(frame.mme, SetKeyReq) and frame.dst == bytes.fromhex("02b052000002")


def test_default_local_modem_address_is_the_qca_one() -> None:
    cfg, _ = slac_config_from_section({}, MAC)
    assert cfg.modem_mac == LOCAL_MODEM_MAC == bytes.fromhex("00b052000001")


@pytest.mark.parametrize("value", ["00:b0:52", "zz:b0:52:00:00:01", "0"])
def test_bad_local_modem_address_names_file_and_line(tmp_path: Path, value: str) -> None:
    path = tmp_path / "station.yaml"
    path.write_text(f"station: {{name: x}}\nplc:\n  local_modem_mac: {value}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert err.value.line == 3 and "plc.local_modem_mac" in err.value.message

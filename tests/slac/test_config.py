"""The draft `slac:` section of config/slac-bench.yaml builds a working EVSE SLAC core."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import yaml

from evse.fsm import FsmUsageError
from evse.slac.config import slac_config_from_section
from evse.slac.errors import SlacUsageError
from evse.slac.evse_core import EvseSlac

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

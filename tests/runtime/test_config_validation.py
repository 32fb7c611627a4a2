"""The driver sections of a station config are checked against the registry on load, and
every entry point (`evse validate`, `evse sim` through a scenario's `config:`, `evse run
--config`, day files) refuses a bad one with `file:line: message`, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from drivers.registry import REGISTRY, DriverParamError, PortKind, driver
from evse.cli import main
from evse.runtime.config import ConfigError, load_config
from evse.runtime.scenario import ScenarioError, load_scenario
from evse.runtime.validate import validate_paths

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("text,line,words", [
    # unknown driver
    ("power:\n  driver: acme\n", 2, "power.driver: unknown power driver 'acme'"),
    ("imd:\n  driver: sim100\n", 2, "unknown imd driver 'sim100'"),
    ("meter:\n  driver: eastron\n", 2, "unknown meter driver 'eastron'"),
    ("board:\n  driver: mcu9\n", 2, "unknown board driver 'mcu9'"),
    ("plc:\n  driver: usb\n", 2, "plc.driver"),
    # unknown / misspelled key
    ("power:\n  driver: infy\n  modlues: 3\n", 3, "unknown key power.modlues"),
    ("board:\n  noise: 0.1\n", 2, "unknown key board.noise"),
    # a parameter the chosen driver does not take (another driver does)
    ("imd:\n  driver: iso165c\n  device_address: 3\n", 3,
     "imd driver 'iso165c' does not take imd.device_address"),
    ("imd:\n  driver: isocha425\n  bitrate: 500000\n", 3,
     "imd driver 'isocha425' does not take imd.bitrate"),
    # wrong type
    ("power:\n  modules: two\n", 2, "power.modules must be int, got 'two'"),
    ("power:\n  modules: true\n", 2, "power.modules must be int"),
    ("power:\n  modules: 2.5\n", 2, "power.modules must be int"),
    ("board:\n  noise_v: loud\n", 2, "board.noise_v must be float"),
    ("meter:\n  voltage_offset_v: null\n", 2, "meter.voltage_offset_v must not be null"),
    # out of range / choices
    ("power:\n  modules: 0\n", 2, "power.modules must be 1..62"),
    ("power:\n  interface: pcan\n", 2, "power.interface must be one of ['virtual', 'socketcan']"),
    ("power:\n  interface: socketcan\n", 2, "power.interface socketcan needs power.channel"),
    ("board:\n  contactor_close_ms: 5\n", 2, "board.contactor_close_ms must be 10..1000 ms"),
    ("power: [infy]\n", 1, "section 'power' must be a mapping"),
    ("imd: iso165c\n", 1, "section 'imd' must be a mapping"),
])
def test_a_wrong_driver_setting_names_file_and_line(
        tmp_path: Path, text: str, line: int, words: str) -> None:
    path = tmp_path / "station.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert (err.value.line, err.value.file) == (line, str(path))
    assert words in err.value.message, err.value.message


def test_a_parameter_of_another_driver_is_named_with_who_takes_it() -> None:
    with pytest.raises(DriverParamError) as err:
        driver(PortKind.IMD, "iso165c").check({"device_address": 3})
    assert err.value.key == "device_address" and "isocha425 take it" in err.value.message


def test_every_registry_row_declares_documented_parameters_and_resolves() -> None:
    for kind, table in REGISTRY.items():
        assert table, kind
        for info in table.values():
            info.load()  # the "module:attribute" target imports
            if info.simulator is not None:
                info.load_simulator()
            assert info.doc
            for p in info.params:
                assert p.doc, f"{kind.value}.{info.name}.{p.name} has no doc"
                assert p.check(p.default, kind.value) == p.default  # defaults are valid


def test_every_entry_point_refuses_a_driver_parameter_the_driver_does_not_take(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg_dir = tmp_path / "config"
    cfg_dir.mkdir()
    bad = cfg_dir / "station-bad.yaml"
    bad.write_text("power:\n  driver: winline\nimd:\n  driver: iso165c\n  device_address: 5\n",
                   encoding="utf-8")
    where = f"{bad}:5:"
    # evse validate
    assert main(["validate", str(bad)]) == 1
    assert where in capsys.readouterr().out
    # evse sim (a scenario naming the config)
    scen_dir = tmp_path / "scenarios"
    scen_dir.mkdir()
    scenario = scen_dir / "s.yaml"
    scenario.write_text("scenario: s\nduration_s: 1\nconfig: ../config/station-bad.yaml\n"
                        "steps: []\nexpect: []\n", encoding="utf-8")
    with pytest.raises(ScenarioError) as err:
        load_scenario(scenario)
    assert str(err.value).startswith(where)
    assert main(["sim", str(scenario)]) != 0
    out = capsys.readouterr()
    assert where in out.out + out.err and "Traceback" not in out.err
    # evse run
    assert main(["run", "--config", str(bad), "--iface", "lo"]) == 2
    err_text = capsys.readouterr().err
    assert where in err_text and "Traceback" not in err_text


def test_the_shipped_configs_and_the_second_vendor_scenario_validate() -> None:
    paths = sorted((ROOT / "config").glob("station*.yaml")) + [
        ROOT / "scenarios" / "dc_session_winline.yaml"]
    assert validate_paths(paths) == []
    cfg = load_config(ROOT / "config" / "station-winline.yaml")
    assert (cfg.power.driver, cfg.imd.driver) == ("winline", "isocha425")
    assert cfg.power.integer("modules") == 3


def test_a_missing_can_device_is_a_clear_error_naming_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A valid config naming a socketcan netdev this machine lacks: `evse sim` and `evse run`
    exit 2 with the section and channel named, never a traceback (issue 13 item 1)."""
    cfg_dir = tmp_path / "config"
    cfg_dir.mkdir()
    cfg = cfg_dir / "station-can.yaml"
    cfg.write_text("power:\n  interface: socketcan\n  channel: nosuchcan9\n", encoding="utf-8")
    scenario = tmp_path / "s.yaml"
    scenario.write_text("scenario: s\nduration_s: 1\nconfig: config/station-can.yaml\n"
                        "session: {protocol: din}\nsteps: []\nexpect: []\n", encoding="utf-8")
    assert main(["sim", str(scenario), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "power: cannot open socketcan channel 'nosuchcan9'" in err
    assert "Traceback" not in err
    assert main(["run", "--config", str(cfg), "--iface", "lo", "--duration", "1"]) == 2
    err = capsys.readouterr().err
    assert "nosuchcan9" in err and "Traceback" not in err

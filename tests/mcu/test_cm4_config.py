"""config/cm4.yaml, the commented example for a Raspberry Pi CM4 charger board: valid for
`evse validate`, every device it names reaches its driver, and on a machine without that
hardware `evse run` stops at the first missing device with exit 2, naming it."""

from __future__ import annotations

from pathlib import Path

import pytest

from evse import cli
from evse.runtime.config import load_config

ROOT = Path(__file__).resolve().parents[2]
CM4 = ROOT / "config" / "cm4.yaml"


def test_evse_validate_accepts_the_cm4_example(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["validate", str(CM4)]) == 0
    assert "all specs and configs valid" in capsys.readouterr().out


def test_the_cm4_example_names_the_board_devices() -> None:
    cfg = load_config(CM4)
    assert cfg.board.driver == "mcu_uart" and cfg.board.params["device"] == "/dev/ttyAMA0"
    assert cfg.plc.driver == "raw" and cfg.plc.iface == "eth1" and cfg.slac.enabled
    assert cfg.power.params["interface"] == "socketcan" and cfg.power.params["channel"] == "can0"
    assert cfg.imd.driver == "isocha425" and cfg.imd.params["device"] == "/dev/ttyAMA3"
    assert cfg.ocpp is not None and cfg.ocpp.security_profile == 2
    assert cfg.ocpp.endpoint == "wss://csms.example.net/ocpp/CM4-DC-01"
    assert cfg.power_faults.store == "/var/lib/evse/faults.json"


def test_a_typo_in_a_copy_of_the_cm4_example_is_a_file_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    text = CM4.read_text(encoding="utf-8").replace("  link_timeout_ms:", "  link_timout_ms:")
    (tmp_path / "config").mkdir()  # validate tells configs by their folder and name
    bad = tmp_path / "config" / "cm4-typo.yaml"
    bad.write_text(text, encoding="utf-8")
    line = next(i for i, s in enumerate(text.splitlines(), 1) if "link_timout_ms" in s)
    assert cli.main(["validate", str(bad)]) == 1
    out = capsys.readouterr().out
    assert f"cm4-typo.yaml:{line}" in out and "board.link_timout_ms" in out, out


@pytest.mark.skipif(Path("/dev/ttyAMA0").exists(), reason="this machine has a UART0")
def test_evse_run_with_the_cm4_example_and_no_mcu_exits_2_naming_the_uart(
    capsys: pytest.CaptureFixture[str],
) -> None:
    rc = cli.main(["run", "--config", str(CM4), "--iface", "lo", "--duration", "0.1"])
    err = capsys.readouterr().err
    assert rc == 2 and "/dev/ttyAMA0" in err and "Traceback" not in err, err

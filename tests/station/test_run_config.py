"""`evse run`'s configuration and command line: the shipped bench configs load and validate,
mistakes in the new sections name the file and line, roles this build lacks say so."""

from __future__ import annotations

from pathlib import Path

import pytest

from evse.cli import main
from evse.runtime.config import ConfigError, load_config
from evse.runtime.validate import validate_paths

ROOT = Path(__file__).resolve().parents[2]


def test_bench_config_is_no_modem_with_tls_allowed_and_no_certificates() -> None:
    cfg = load_config(ROOT / "config" / "bench.yaml")
    assert cfg.plc.driver == "none" and not cfg.slac.enabled
    assert cfg.v2g.tls_policy == "allow" and cfg.v2g.cert_chain is None
    assert cfg.session.protocols == ("iso2", "din") and cfg.session.ocpp == "1.6"


def test_slac_bench_config_enables_slac_on_the_raw_socket() -> None:
    cfg = load_config(ROOT / "config" / "slac-bench.yaml")
    assert cfg.slac.enabled and cfg.plc.driver == "raw"
    assert cfg.slac.settings["num_sounds"] == 10


def test_validate_checks_the_bench_configs(tmp_path: Path) -> None:
    shipped = [ROOT / "config" / "bench.yaml", ROOT / "config" / "slac-bench.yaml"]
    assert validate_paths(shipped) == []
    broken = tmp_path / "config" / "bench-broken.yaml"
    broken.parent.mkdir()
    broken.write_text("v2g:\n  tls_policy: sometimes\n", encoding="utf-8")
    (problem,) = validate_paths([broken])
    assert problem.startswith(f"{broken}:2:")


@pytest.mark.parametrize("text,line,words", [
    ("v2g:\n  tls_policy: sometimes\n", 2, "tls_policy"),
    ("v2g:\n  tls_policy: force\n", 2, "needs cert_chain"),
    ("v2g:\n  cert_chain: a.pem\n", 1, "go together"),
    ("v2g:\n  max_payload_bytes: 3\n", 2, "max_payload_bytes"),
    ("v2g:\n  max_pending_connections: 0\n", 2, "max_pending_connections"),
    ("v2g:\n  communication_setup_s: 25\n", 2, "communication_setup_s"),
    ("v2g:\n  communication_setup_s: soon\n", 2, "communication_setup_s"),
    ("plc:\n  driver: usb\n", 2, "plc.driver"),
    ("slac:\n  enabled: true\n  num_sounds: -1\n", 3, "num_sounds"),
    ("slac:\n  enabled: yes please\n", 2, "slac.enabled"),
    ("session:\n  ocpp: 1.6\n", 2, "quoted"),
    ("session:\n  protocols: [din, din]\n", 2, "session.protocols"),
    ("session:\n  colour: red\n", 2, "unknown key session.colour"),
    ("auth:\n  timeout_eim_s: 0\n", 2, "auth.timeout_eim_s must be seconds 1..3600"),
    ("auth:\n  timeout_eim_s: 7200\n", 2, "auth.timeout_eim_s"),
    ("auth:\n  timeout_eim_s: true\n", 2, "auth.timeout_eim_s"),
    ("auth:\n  timeout_eim_s: 300\n  timeout_pnc_s: 90\n", 3,
     "auth.timeout_pnc_s must be seconds 1..60"),
    ("auth:\n  timeout_pnc_s: soon\n", 2, "auth.timeout_pnc_s"),
    ("auth:\n  timeout_rfid_s: 10\n", 2, "unknown key auth.timeout_rfid_s"),
    ("auth: 300\n", 1, "section 'auth' must be a mapping"),
])
def test_a_wrong_run_setting_names_file_and_line(
        tmp_path: Path, text: str, line: int, words: str) -> None:
    path = tmp_path / "bench.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert err.value.line == line and words in err.value.message


def test_run_role_with_a_malformed_link_address_exits_2_with_a_clear_error(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--role", "plc", "--link", "bogus:x", "--duration", "1"]) == 2
    err = capsys.readouterr().err
    assert "bad contract endpoint 'bogus:x'" in err and "Traceback" not in err


def test_run_with_a_broken_config_exits_2_with_file_and_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bench.yaml"
    path.write_text("v2g:\n  tls_policy: sometimes\n", encoding="utf-8")
    assert main(["run", "--config", str(path), "--iface", "lo"]) == 2
    assert f"{path}:2:" in capsys.readouterr().err


def test_run_on_a_missing_interface_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--config", str(ROOT / "config" / "bench.yaml"),
                 "--iface", "no-such-if0", "--duration", "1"]) == 2
    assert "no-such-if0" in capsys.readouterr().err


def test_v2g_admission_keys_reach_the_server(tmp_path: Path) -> None:
    """v2g.max_pending_connections and v2g.communication_setup_s set the V2G server's
    admission (evse/secc/admission.py); null keeps 8 and 18 s."""
    from evse.runtime.run_iface import IfaceStation
    from evse.secc.admission import AdmissionConfig

    path = tmp_path / "bench.yaml"
    path.write_text("v2g:\n  max_pending_connections: 3\n  communication_setup_s: 2.5\n",
                    encoding="utf-8")
    bench = IfaceStation(load_config(path), "lo")
    try:
        assert bench._net_config().admission == AdmissionConfig(
            setup_timeout_ns=2_500_000_000, max_pending=3)
    finally:
        bench.station.close()
    default = IfaceStation(load_config(ROOT / "config" / "bench.yaml"), "lo")
    try:
        assert default._net_config().admission == AdmissionConfig()
    finally:
        default.station.close()


def test_auth_waits_default_to_the_contract_bounds_and_load_from_the_file(
        tmp_path: Path) -> None:
    from evse.contract.definition import DEFINITION
    from evse.runtime.config import AuthSection

    shipped = load_config(ROOT / "config" / "station.yaml").auth
    assert shipped == AuthSection() == AuthSection(timeout_eim_s=300.0, timeout_pnc_s=55.0)
    assert round(shipped.timeout_eim_s * 1e9) == DEFINITION.bound_ns("auth_timeout_eim")
    assert round(shipped.timeout_pnc_s * 1e9) == DEFINITION.bound_ns("auth_timeout_pnc")
    path = tmp_path / "station.yaml"
    path.write_text("auth:\n  timeout_eim_s: 120\n  timeout_pnc_s: 40.5\n", encoding="utf-8")
    assert load_config(path).auth == AuthSection(timeout_eim_s=120.0, timeout_pnc_s=40.5)
    path.write_text("auth:\n  timeout_pnc_s: 30\n", encoding="utf-8")
    assert load_config(path).auth == AuthSection(timeout_eim_s=300.0, timeout_pnc_s=30.0)

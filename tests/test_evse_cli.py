"""The `evse` command: the simulated session, charts in sync, clean errors on bad input."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from evse.cli import main
from evse.fsm import load_spec
from evse.fsm.render import to_dot, to_mermaid
from evse.runtime.scenario import load_scenario, run_scenario
from evse.runtime.validate import HANDLERS, handler_class

ROOT = Path(__file__).resolve().parents[1]


def test_default_simulated_session_is_a_complete_din_session(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["sim"]) == 0
    out = capsys.readouterr().out
    for step in (
        "slac_evse wait_link.polling -> linked.watching",  # SLAC link up
        "secc   wait_session_setup -> wait_service_discovery",  # SDP + SAP + SessionSetup
        "secc   cable_check.running -> precharge",
        "secc   charging -> stopping",
        "secc   welding -> ended",
        # Unplug: the plug's PP breaks with CP; the pilot sees PP first, then CP A.
        "plugged.B.B1 -> plugged.proximity_open  (pp_lost)",
        "plugged.proximity_open -> A  (cp_a)",
    ):
        assert step in out, step
    assert "scenario OK" in out


def test_pilot_only_scenario_passes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sim", str(ROOT / "scenarios" / "cp_basic.yaml")]) == 0
    out = capsys.readouterr().out
    assert "plugged.C.C2.idle -> plugged.C.C2.energized" in out
    assert "scenario OK" in out


def test_same_seed_gives_byte_identical_trace(tmp_path: Path) -> None:
    scenario = load_scenario(ROOT / "scenarios" / "dc_session.yaml")
    scenario.duration_ns = 30_000_000_000  # SLAC, SDP, SECC, cable check: enough to differ
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    run_scenario(scenario, trace_file=a)
    run_scenario(scenario, trace_file=b)
    assert a.read_bytes() == b.read_bytes()
    assert a.stat().st_size > 1000


def test_committed_charts_match_the_specs() -> None:
    charts = ROOT / "docs" / "charts"
    for path in sorted((ROOT / "fsm_specs").glob("*.yaml")):
        spec = load_spec(path)
        assert (charts / f"{spec.name}.dot").read_text() == to_dot(spec), (
            f"docs/charts/{spec.name}.dot is stale: run `evse charts`"
        )
        assert (charts / f"{spec.name}.mmd").read_text() == to_mermaid(spec)
        svg = charts / f"{spec.name}.svg"
        assert svg.exists() and spec.sha256 in svg.read_text(), f"{svg} is stale"


def test_every_chart_has_a_handler_whose_callbacks_match_exactly() -> None:
    for path in sorted((ROOT / "fsm_specs").glob("*.yaml")):
        spec = load_spec(path)
        assert spec.name in HANDLERS, f"no handler registered for {spec.name}"
        cls = handler_class(spec.name)
        assert cls is not None
        used = {name for name, _, _ in spec.callback_uses()}
        public = {
            n for n, f in inspect.getmembers(cls, inspect.isfunction) if not n.startswith("_")
        }
        assert used - public == set(), f"{spec.name}: unknown callbacks"
        assert public - used == set(), f"{spec.name}: handler methods no chart uses"


def test_validate_accepts_the_shipped_files(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate"]) == 0


BAD_SPEC = """\
machine: bad
version: 1
doc: bad
initial: A
events:
  go: go
states:
  A:
    doc: a
    when:
      go: Nowhere
"""


@pytest.mark.parametrize(
    ("folder", "name", "text", "expect"),
    [
        ("fsm_specs", "bad.yaml", BAD_SPEC, "bad.yaml:11: unknown target state 'Nowhere'"),
        ("config", "station_bad.yaml", "board:\n  driver: sim\n  colour: red\n",
         "station_bad.yaml:3: unknown key board.colour"),
        ("scenarios", "bad.yaml", "scenario: x\nduration_s: 1\nsteps:\n  - {at: 1, do: fly}\n",
         "bad.yaml:4: unknown action 'fly'"),
    ],
)
def test_bad_input_gives_file_and_line_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], folder: str, name: str, text: str,
    expect: str,
) -> None:
    d = tmp_path / folder
    d.mkdir()
    f = d / name
    f.write_text(text)
    rc = main(["validate", str(f)])
    out = capsys.readouterr()
    assert rc == 1
    assert expect in out.out
    assert "Traceback" not in out.out + out.err


def test_sim_with_a_broken_scenario_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = tmp_path / "s.yaml"
    f.write_text("scenario: x\nduration_s: -1\nsteps: []\n")
    assert main(["sim", str(f)]) == 2
    err = capsys.readouterr().err
    assert "s.yaml:2:" in err and "Traceback" not in err


def test_sim_with_an_unsupported_tx_start_point_exits_2(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`--tx-start-point` is checked before any connection: a typo or a point the station
    cannot detect (ParkingBayOccupancy: no bay sensor) is one line, exit 2."""
    assert main(["sim", "--csms", "ws://127.0.0.1:9/CP01", "--ocpp", "2.0.1",
                 "--tx-start-point", "ParkingBayOccupancy"]) == 2
    err = capsys.readouterr().err
    assert "controller.tx_start_points: 'ParkingBayOccupancy'" in err
    assert "Traceback" not in err


def test_failed_expectation_fails_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = tmp_path / "s.yaml"
    f.write_text(
        "scenario: x\nduration_s: 2\nsteps:\n  - {at: 0.5, do: ev_plug}\n"
        "expect:\n  - {at: 1.5, state: A}\n"
    )
    assert main(["sim", "--quiet", str(f)]) == 1
    assert "expected state 'A', got 'plugged.B.B2'" in capsys.readouterr().out


def test_ev_simulator_command_runs_a_session(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ev", "--quiet"]) == 0
    assert capsys.readouterr().out.startswith("OK: charge time over")


def test_exi_command_decodes_a_din_message(capsys: pytest.CaptureFixture[str]) -> None:
    # DIN ContractAuthenticationReq, SessionID 0102030405060708 (a real car's framing).
    assert main(["exi", "decode", "--schema", "din", "809a02004080c1014181c210b8"]) == 0
    out = capsys.readouterr().out
    assert "<v2gci_h:SessionID>0102030405060708</v2gci_h:SessionID>" in out
    assert "ContractAuthenticationReq" in out

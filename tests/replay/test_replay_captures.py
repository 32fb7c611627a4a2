"""`evse replay` over real captures copied into tests/data/replay (PROVENANCE.md): every
DC session replays OK through our SECC, the others get a reason, a bad file a clear error,
and nothing ever ends in a traceback."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from evse.replay.__main__ import main
from evse.replay.pcap import ConnectionKind, read_capture

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "replay"
DC = ["iso2_dc_renegotiation.pcapng", "iso2_dc_vas.pcapng", "iso2_dc_car_a.pcap",
      "din_dc_car_a.pcap"]


def run(capsys: pytest.CaptureFixture[str], *names: str) -> tuple[int, list[str]]:
    rc = main([str(DATA / n) if not n.startswith("/") else n for n in names])
    out = capsys.readouterr().out.splitlines()
    return rc, out


def test_every_dc_session_of_the_copied_captures_replays_ok(
        capsys: pytest.CaptureFixture[str]) -> None:
    rc, out = run(capsys, *DC)
    results = [line for line in out if "#" in line.split(":")[0]]
    assert len(results) == len(DC), out
    assert all(": OK" in line for line in results), "\n".join(out)
    assert rc == 0
    assert out[-1].startswith("summary: 4 OK")


def test_renegotiation_with_a_second_cable_check_replays_to_the_end(
        capsys: pytest.CaptureFixture[str]) -> None:
    """The dSPACE order after Renegotiate (CPD, CableCheck, PreCharge, PowerDelivery) was
    FAILED_SequenceError before (issue 11)."""
    _, out = run(capsys, "iso2_dc_renegotiation.pcapng")
    assert re.search(r": OK, (\d+)/\1 requests answered", out[0]), out[0]
    rec = read_capture(DATA / "iso2_dc_renegotiation.pcapng").dc_sessions[0]
    types = [m["type"] for m in rec["car_messages"]]
    reneg = next(i for i, m in enumerate(rec["car_messages"])
                 if m["type"] == "PowerDeliveryReqType" and i > types.index("CurrentDemandReqType"))
    assert "CableCheckReqType" in types[reneg:] and "PreChargeReqType" in types[reneg:]


def test_a_service_only_the_recorded_charger_offered_is_adapted_not_broken(
        capsys: pytest.CaptureFixture[str]) -> None:
    _, out = run(capsys, "iso2_dc_vas.pcapng")
    assert ": OK" in out[0] and "ServiceID=61000" in out[0], out[0]


def test_identity_comes_from_the_capture_not_its_name(
        capsys: pytest.CaptureFixture[str]) -> None:
    _, out = run(capsys, "din_dc_car_a.pcap", "iso2_dc_car_a.pcap")
    assert "[din, EVCCID 007DFA" in out[0]  # VW group OUI, from SessionSetupReq
    assert "[iso2, EVCCID 007DFA" in out[1]


def test_ac_and_unconcluded_captures_are_skipped_with_a_reason(
        capsys: pytest.CaptureFixture[str]) -> None:
    rc, out = run(capsys, "iso2_ac_car_b.pcap", "iso2_ac_car_c.pcap")
    assert rc == 0
    assert out[0].endswith("skipped: AC session (this SECC is DC only)")
    assert "skipped: supportedAppProtocol not concluded" in out[1]
    kinds = {c.kind for c in read_capture(DATA / "iso2_ac_car_b.pcap").connections}
    assert kinds == {ConnectionKind.AC}


def test_a_file_that_is_no_capture_is_a_clear_error(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = tmp_path / "notes.pcap"
    bad.write_text("not a capture\n")
    rc, out = run(capsys, str(bad), str(tmp_path / "missing.pcap"))
    assert rc == 2
    assert out[0].startswith("notes.pcap: error: ") and "not a readable" in out[0]
    assert out[1].startswith("missing.pcap: error: ")


def test_the_cli_has_a_real_help_and_never_prints_a_traceback() -> None:
    help_out = subprocess.run([sys.executable, "-m", "evse.cli", "replay", "--help"],
                              cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert "usage: evse replay" in help_out and "BROKEN" in help_out
    assert "lead" not in help_out
    res = subprocess.run([sys.executable, "-m", "evse.cli", "replay",
                          str(DATA / "iso2_ac_car_c.pcap"), str(DATA / "PROVENANCE.md")],
                         cwd=ROOT, capture_output=True, text=True)
    assert "Traceback" not in res.stderr + res.stdout
    assert res.returncode == 2 and "PROVENANCE.md: error" in res.stdout

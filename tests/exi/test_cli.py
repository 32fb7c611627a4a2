"""`evse exi` command line (exi.cli.main): decode, encode, captures."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest
from exi_vectors import infoset, load

from exi.cli import main

PUBLIC = load("exi_public.jsonl")
REAL = load("real_world_exi.jsonl")


def _vec(schema: str, message: str) -> dict[str, str]:
    return next(v for v in PUBLIC if v["schema"] == schema and v["message"] == message)


@pytest.mark.parametrize("schema", ["app", "din", "iso2"])
def test_decode_detects_the_schema_when_not_given(schema: str,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    vec = next(v for v in PUBLIC if v["schema"] == schema)
    assert main(["decode", vec["exi_hex"]]) == 0
    assert infoset(capsys.readouterr().out) == infoset(vec["xml"])


def test_decode_with_explicit_schema_accepts_a_v2gtp_header(
        capsys: pytest.CaptureFixture[str]) -> None:
    vec = _vec("din", "CurrentDemandReq")
    payload = bytes.fromhex(vec["exi_hex"])
    v2gtp = bytes([1, 0xFE, 0x80, 0x01]) + len(payload).to_bytes(4, "big") + payload
    assert main(["decode", "--schema", "din", v2gtp.hex()]) == 0
    assert infoset(capsys.readouterr().out) == infoset(vec["xml"])


def test_encode_reads_xml_from_stdin_and_prints_hex(monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    vec = _vec("iso2", "CurrentDemandRes")
    monkeypatch.setattr(sys, "stdin", io.StringIO(vec["xml"]))
    assert main(["encode", "--schema", "iso2"]) == 0
    assert capsys.readouterr().out.strip() == vec["exi_hex"]


def test_undecodable_input_exits_nonzero_with_a_message(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["decode", "--schema", "din", "80ff"]) == 1
    assert "error" in capsys.readouterr().err


def test_pcap_decode_prints_one_document_per_message_with_direction(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from scapy.layers.inet import TCP
    from scapy.layers.inet6 import IPv6
    from scapy.layers.l2 import Ether
    from scapy.utils import wrpcap

    msgs = [v for v in REAL if v["source_path"] == REAL[0]["source_path"]][:4]
    ev, evse = "fe80::1", "fe80::2"
    pkts = []
    seq = {True: 1000, False: 5000}
    for i, v in enumerate(msgs):
        payload = bytes.fromhex(v["hex"])
        frame = bytes([1, 0xFE, 0x80, 0x01]) + len(payload).to_bytes(4, "big") + payload
        from_ev = v["direction"] == "EV->EVSE"
        src, dst = (ev, evse) if from_ev else (evse, ev)
        sport, dport = (50000, 15118) if from_ev else (15118, 50000)
        # split each frame over two segments to exercise reassembly
        for part in (frame[:5], frame[5:]):
            p = Ether() / IPv6(src=src, dst=dst) / TCP(sport=sport, dport=dport,
                                                       seq=seq[from_ev], flags="PA") / part
            p.time = 1000.0 + i
            seq[from_ev] += len(part)
            pkts.append(p)
    path = tmp_path / "session.pcap"
    wrpcap(str(path), pkts)
    assert main(["decode", "--pcap", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.count("<!-- t=") == len(msgs)
    for v in msgs:
        assert v["message"] in out
        assert v["direction"] in out

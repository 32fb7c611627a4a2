"""`evse exi decode --pcap`: a capture's V2G messages through the one capture reader
(evse/replay/pcap.py: TCP reassembly, V2GTP framing), printed by exi.cli's XML writer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evse.cli import main as evse_main

#: Real cars' messages (provenance: tests/data/exi/PROVENANCE.md).
REAL = [json.loads(line) for line in (Path(__file__).parents[1] / "data" / "exi" /
        "real_world_exi.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()]


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
    assert evse_main(["exi", "decode", "--pcap", str(path)]) == 0  # the one capture reader
    out = capsys.readouterr().out
    assert out.count("<!-- t=") == len(msgs)
    for v in msgs:
        assert v["message"] in out
        assert v["direction"] in out

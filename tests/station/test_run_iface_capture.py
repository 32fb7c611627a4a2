"""`capture:` on a real interface: `evse run`'s station writes one pcapng per plug-in of
what went over the wire, and the project's own readers (`evse replay`'s capture reader,
`evse exi decode --pcap`) and Wireshark's tshark (where installed) read it back: the
V2G messages of a TCP session, and a TLS session that decrypts from the file alone (its
key log is inside). Skipped without root or iproute2, like tests/station/test_run_iface.py."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from scapy.layers.inet import TCP
from scapy.utils import rdpcap

from evse.capture.pcapng import BLOCK_DSB, blocks, key_log_of
from evse.cli import main as evse_main
from evse.replay.pcap import ConnectionKind, messages, read_capture
from evse.secc.env import AppProtocol
from evse.security.testpki import TestPki
from tests.station.test_run_iface import (  # the same harness and car
    _REASON,
    link,  # noqa: F401 - fixture
    one_session,
    pki,  # noqa: F401 - fixture
    running_station,
    wait_for,
    write_config,
)
from tests.v2g.netns import VethLink

pytestmark = [pytest.mark.netns, pytest.mark.skipif(_REASON is not None, reason=_REASON or "")]


def _without_secrets(data: bytes) -> bytes:
    return b"".join(data[b.offset:b.offset + 12 + len(b.body)] for b in blocks(data)
                    if b.block_type != BLOCK_DSB)


def _client_randoms(path: Path) -> set[str]:
    """The 32-byte random of every TLS ClientHello in a capture (RFC 5246 §7.4.1.2)."""
    out = set()
    for pkt in rdpcap(str(path)):
        if TCP in pkt:
            data = bytes(pkt[TCP].payload)
            if data[:1] == b"\x16" and data[5:6] == b"\x01":  # handshake, ClientHello
                out.add(data[11:43].hex())
    return out


def test_tls_and_tcp_sessions_are_captured_one_file_each_and_read_back(
        link: VethLink, tmp_path: Path, pki: TestPki,  # noqa: F811
        capsys: pytest.CaptureFixture[str]) -> None:
    cfg = write_config(tmp_path / "cap.yaml", ocpp="none", certs=pki)
    with cfg.open("a", encoding="utf-8") as fh:
        fh.write("capture: {dir: captures, max_files: 10, tls_keys: true}\n")
    with running_station(link, cfg) as bench:
        one_session(link, bench, AppProtocol.ISO15118_2, tls_root=pki.v2g_root_cert)
        assert wait_for(lambda: bench.stats.replugs >= 1), bench.stats.events
        one_session(link, bench, AppProtocol.DIN70121)
        assert wait_for(lambda: bench.stats.replugs >= 2), bench.stats.events
        assert wait_for(lambda: bench.captures is not None and len(bench.captures.closed) >= 2)
    files = sorted((tmp_path / "captures").glob("session-*.pcapng"))
    assert len(files) >= 2, files
    tls_file, tcp_file = files[0], files[1]

    # TLS: the session's key is in its file, for exactly the ClientHello it holds.
    keys = key_log_of(tls_file.read_bytes()).decode()
    randoms = _client_randoms(tls_file)
    assert randoms and all(f"CLIENT_RANDOM {r} " in keys for r in randoms)
    assert "CLIENT_RANDOM" not in tcp_file.read_bytes().decode("latin-1")
    # ... and our readers decrypt it with that key: the ISO-2 session, answered OK.
    (tls_session,) = read_capture(tls_file).dc_sessions
    assert tls_session["schema"] == "iso2"
    assert [m["type"] for m in tls_session["car_messages"]][-1] == "SessionStopReqType"
    assert all(code.split(":")[1].startswith("OK") for code in tls_session["evse_first_codes"])
    tls_msgs = messages(tls_file)
    assert [m.time_s for m in tls_msgs] == sorted(m.time_s for m in tls_msgs)
    assert len(tls_msgs) == 2 * (len(tls_session["car_messages"]) + 1) - 2 * (
        tls_session["current_demands_total"] - sum(
            m["type"] == "CurrentDemandReqType" for m in tls_session["car_messages"]))
    capsys.readouterr()
    assert evse_main(["exi", "decode", "--pcap", str(tls_file)]) == 0
    decoded = capsys.readouterr().out
    assert "CurrentDemandReq" in decoded and "SessionStopRes" in decoded
    # Without the key (the file's DSB stripped) it stays a TLS connection, said so.
    stripped = tmp_path / "nokeys.pcapng"
    stripped.write_bytes(_without_secrets(tls_file.read_bytes()))
    assert [c.kind for c in read_capture(stripped).connections] == [ConnectionKind.TLS]
    wrong = b"CLIENT_RANDOM " + next(iter(randoms)).encode() + b" " + b"00" * 48 + b"\n"
    (bad,) = read_capture(stripped, wrong).connections
    assert bad.kind is ConnectionKind.TLS and "wrong key" in bad.detail

    # TCP: the replay reader finds the DIN session, every request in order, answered OK.
    cap = read_capture(tcp_file)
    (session,) = cap.dc_sessions
    types = [m["type"] for m in session["car_messages"]]
    assert session["schema"] == "din"
    # DIN 70121 names its SessionStopReq type SessionStopType
    assert types[0] == "SessionSetupReqType" and types[-1] == "SessionStopType"
    assert "CurrentDemandReqType" in types
    assert all(code.split(":")[1].startswith("OK") for code in session["evse_first_codes"])
    capsys.readouterr()
    assert evse_main(["exi", "decode", "--pcap", str(tcp_file)]) == 0  # the shipped path
    listed_tcp = capsys.readouterr().out
    assert "SessionSetupReq" in listed_tcp and "CurrentDemandRes" in listed_tcp

    tshark = shutil.which("tshark")
    if tshark is None:
        pytest.skip("tshark not installed (Debian: apt install tshark): our readers passed")
    listed = subprocess.run([tshark, "-r", str(tcp_file)], capture_output=True, text=True,
                            timeout=60, check=True).stdout
    assert "TCP" in listed and "UDP" in listed  # SDP and the V2GTP connection
    # The TLS file decrypts with what it carries (its Decryption Secrets Block): the
    # application data is V2GTP (version 0x01, inverse 0xFE, payload type EXI 0x8001).
    plain = subprocess.run([tshark, "-r", str(tls_file), "-Y", "tls.app_data",
                            "-T", "fields", "-e", "data.data"],
                           capture_output=True, text=True, timeout=60, check=True).stdout
    assert any(line.startswith("01fe8001") for line in plain.split()), plain[:500]

"""One-off extractor (run by hand, never by the test suite): pull every SDP datagram
(UDP port 15118, V2GTP payload type 0x9000/0x9001) out of the shared captures.

Usage: PYTHONPATH=. /work/venv/bin/python tests/data/v2g/extract_sdp.py CAPTURE_DIR OUT.jsonl
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from scapy.layers.inet import UDP
from scapy.layers.inet6 import IPv6
from scapy.utils import PcapReader

SDP_PORT = 15118


def main(capture_dir: Path, out_path: Path) -> None:
    rows = []
    for cap in sorted(capture_dir.iterdir()):
        if not cap.name.endswith((".pcap", ".pcapng")):
            continue
        try:
            reader = PcapReader(str(cap))
        except Exception as exc:  # noqa: BLE001 - report and go on with the next file
            print(f"skip {cap.name}: {exc}", file=sys.stderr)
            continue
        with reader:
            for number, pkt in enumerate(reader, start=1):
                if IPv6 not in pkt or UDP not in pkt:
                    continue
                udp = pkt[UDP]
                if SDP_PORT not in (udp.sport, udp.dport):
                    continue
                data = bytes(udp.payload)
                if len(data) < 8 or data[:2] != b"\x01\xfe":
                    continue
                ptype = int.from_bytes(data[2:4], "big")
                if ptype not in (0x9000, 0x9001):
                    continue
                ip6 = pkt[IPv6]
                rows.append(
                    {
                        "capture": cap.name,
                        "packet": number,
                        "message": "SECCDiscoveryReq" if ptype == 0x9000 else "SECCDiscoveryRes",
                        "src": f"[{ip6.src}]:{udp.sport}",
                        "dst": f"[{ip6.dst}]:{udp.dport}",
                        "hop_limit": ip6.hlim,
                        "v2gtp_hex": data.hex(),
                    }
                )
    with out_path.open("w") as fh:
        for row in rows:
            fh.write(json.dumps(row) + "\n")
    print(f"{len(rows)} SDP datagrams", file=sys.stderr)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))

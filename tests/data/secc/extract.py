"""Extract the car side of real DC V2G sessions from /work/shared/captures into cars.json.

Run once (never at test time):
    PYTHONPATH=. /work/venv/bin/python tests/data/secc/extract.py
The work is done by evse.replay.pcap.sessions (scapy rdpcap); see PROVENANCE.md.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from evse.replay.pcap import car_name, sessions

SRC = Path("/work/shared/captures")
OUT = Path(__file__).with_name("cars.json")


def main() -> None:
    result = []
    for path in sorted(SRC.iterdir()):
        if path.suffix not in (".pcap", ".pcapng"):
            continue
        car = car_name(path.name)
        if car is None:
            continue
        try:
            ss = sessions(path)
        except Exception as exc:  # noqa: BLE001 - report and go on with the next capture
            print(f"{path.name}: {type(exc).__name__}: {exc}", file=sys.stderr)
            continue
        for k, s in enumerate(ss):
            result.append({"car": car, "capture": path.name, "session": k, **s})
        print(f"{path.name}: {len(ss)} DC sessions", file=sys.stderr)
    OUT.write_text(json.dumps(result, indent=0))


if __name__ == "__main__":
    main()

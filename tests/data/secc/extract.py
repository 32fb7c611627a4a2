"""Extract the car side of real DC V2G sessions from /work/shared/captures into cars.json.

Run once (never at test time):
    PYTHONPATH=. /work/venv/bin/python tests/data/secc/extract.py
The work is done by evse.replay.pcap.sessions (scapy rdpcap); see PROVENANCE.md.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from evse.replay.pcap import CaptureError, sessions

SRC = Path("/work/shared/captures")
OUT = Path(__file__).with_name("cars.json")


def car_name(fname: str) -> str | None:
    """The car model a shelf file name states (the shelf's naming, SOURCES.md): a label for
    this data set only; the replay tool itself never looks at file names. None for test
    equipment captures, which cars.json leaves out."""
    if fname.startswith("everest-logfiles__"):
        parts = fname.split("__")
        if parts[2][:1].isdigit():  # no model folder (Seres)
            return parts[1]
        return f"{parts[1]} {parts[2]}".replace("_", " ")
    if fname.startswith("ioniq28__"):
        return "Hyundai Ioniq 28kWh"
    m = re.search(r"(Ioniq|ModelY|polestar2|tesla_model_x|AudiQ4)", fname)
    if fname.startswith("pyplc__") and m:
        return {"Ioniq": "Hyundai Ioniq 28kWh", "ModelY": "Tesla Model Y",
                "polestar2": "Polestar 2", "tesla_model_x": "Tesla Model X",
                "AudiQ4": "Audi Q4"}[m.group(1)] + " (pyPLC EVSE)"
    return None


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
        except CaptureError as exc:
            print(f"{path.name}: {exc}", file=sys.stderr)
            continue
        for k, s in enumerate(ss):
            result.append({"car": car, "capture": path.name, "session": k, **s})
        print(f"{path.name}: {len(ss)} DC sessions", file=sys.stderr)
    OUT.write_text(json.dumps(result, indent=0))


if __name__ == "__main__":
    main()

"""`python -m evse.replay CAPTURE.pcap [...]` (the core of `evse replay`; the lead wires it
into evse/cli.py): replays every DC session of each capture and prints where our answers
would have broken the car's sequence. Exit status 1 if any session broke."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from evse.replay.pcap import car_name, sessions
from evse.replay.replay import replay_session


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="evse replay", description=__doc__)
    ap.add_argument("captures", nargs="+", type=Path)
    args = ap.parse_args(argv)
    broken = 0
    for path in args.captures:
        found = sessions(path)
        if not found:
            print(f"{path.name}: no DC V2G session found")
        for k, rec in enumerate(found):
            rec = {"car": car_name(path.name) or "?", "capture": path.name, "session": k,
                   **rec}
            rep = replay_session(rec)
            if rep.ok:
                print(f"{path.name}#{k}: OK, {rep.steps}/{rep.total} requests answered"
                      + (f"; quirks: {', '.join(rep.quirks)}" if rep.quirks else ""))
            else:
                broken += 1
                print(f"{path.name}#{k}: BROKEN at request {rep.broke_at}: {rep.reason}")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())

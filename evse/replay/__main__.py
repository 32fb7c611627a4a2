"""Replay the car side of recorded V2G sessions against this SECC and report, per session,
whether our answers would have carried the car through its recorded sequence.

Each capture (pcap or pcapng) is read, every TCP connection carrying V2G traffic is found
and classified from its content: DIN SPEC 70121 and ISO 15118-2 DC sessions are replayed
(the car's requests, in order and at their recorded pace, with our SessionID) through the
SECC core in virtual time; the station behind it follows the recording (authorization and
the isolation test last as long as the car kept asking). Per session one line:

  OK      every request answered without a FAILED code and the SECC stayed until the car
          ended; "quirks" lists tolerated car deviations, "adapted" requests changed
          because they answer the recorded charger's offer, not ours (a value-added
          service, its SAScheduleTupleID, a ChargeParameterDiscovery it said Ongoing to).
          "ended as recorded": our FAILED answer to a request the recorded charger also
          refused or never answered (the car was out of sequence there, not we)
  BROKEN  the first request where our answer would have broken the car's sequence (a
          FAILED code, no answer, or our closing the session first), and why

TLS connections are decrypted with the key log a session capture carries (`capture:
{tls_keys: true}`) or `--keylog`. Connections that cannot be replayed get a "skipped" line
with the reason (AC, TLS without a key that decrypts it,
ISO 15118-20, no protocol agreed); a file that is not a readable capture gets an "error"
line. A summary line follows. Exit status: 0 all replayed sessions OK, 1 a session BROKEN,
2 a file could not be read.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections import Counter
from pathlib import Path

from evse.replay.pcap import CaptureError, read_capture
from evse.replay.replay import replay_session


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="evse replay", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("captures", nargs="+", type=Path, metavar="CAPTURE",
                    help="pcap/pcapng file(s) with V2G traffic (IPv6/TCP; TLS decrypted "
                    "with the file's own key log or --keylog)")
    ap.add_argument("--keylog", type=Path, default=None,
                    help="NSS key log (CLIENT_RANDOM lines) for TLS connections")
    ap.add_argument("-v", "--verbose", action="store_true",
                    help="also print undecodable car frames left out of a session")
    args = ap.parse_args(argv)
    if not args.verbose:
        # scapy warns on every truncated packet of a capture; the result lines say enough
        logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
    counts: Counter[str] = Counter()
    try:
        key_log = args.keylog.read_bytes() if args.keylog is not None else b""
    except OSError as exc:
        print(f"error: --keylog: {exc}")
        return 2
    for path in args.captures:
        try:
            cap = read_capture(path, key_log)
        except CaptureError as exc:
            counts["error"] += 1
            print(f"{path.name}: error: {exc}")
            continue
        if args.verbose:
            for w in cap.warnings:
                print(f"  {path.name}: {w}", file=sys.stderr)
        if not cap.connections:
            counts["skipped: no V2G connection"] += 1
            print(f"{path.name}: skipped: no V2G connection found")
        for c in cap.connections:
            if c.record is None:
                counts[f"skipped: {c.kind.name}"] += 1
                print(f"{path.name}: skipped: {c.kind.value}"
                      + (f" ({c.detail})" if c.detail else ""))
        for k, c in enumerate(cap.replayable):
            assert c.record is not None
            rec = {"car": f"EVCCID {c.record['evccid'] or '?'}", "capture": path.name,
                   "session": k, **c.record}
            rep = replay_session(rec)
            head = f"{path.name}#{k} [{c.record['schema']}, {rec['car']}]"
            if rep.ok and rep.as_recorded:
                counts["OK"] += 1
                print(f"{head}: OK (ended as recorded: {rep.reason}), {rep.steps}/{rep.total}"
                      " requests answered")
            elif rep.ok:
                counts["OK"] += 1
                print(f"{head}: OK, {rep.steps}/{rep.total} requests answered"
                      + (f"; quirks: {', '.join(rep.quirks)}" if rep.quirks else "")
                      + (f"; adapted: {'; '.join(rep.adapted)}" if rep.adapted else ""))
            else:
                counts["BROKEN"] += 1
                at = rep.broke_at
                where = f"request {at.index} {at.request} -> {at.response} {at.code}" if at \
                    else "start"
                print(f"{head}: BROKEN at {where}: {rep.reason}")
    print("summary: " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())))
    if counts["error"]:
        return 2
    return 1 if counts["BROKEN"] else 0


if __name__ == "__main__":
    sys.exit(main())

"""Footprint of `evse run`: import time and peak / steady RSS (issue 13).

    python bench/footprint.py [--seconds 15] [--config config/bench.yaml]

Import time: `import evse.runtime.run_iface` in a fresh interpreter (cached bytecode after
the first of three runs; the best of the last two is printed). RSS: `evse run` on one end of
a veth pair in a network namespace (root and iproute2 needed; no car connects), VmHWM
(peak) and VmRSS (steady, at the end) from /proc. Prints one line per figure.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

IMPORT = ("import time; t = time.perf_counter(); import evse.runtime.run_iface; "
          "print(time.perf_counter() - t)")


def import_time_s() -> float:
    runs = [float(subprocess.run([sys.executable, "-c", IMPORT], cwd=ROOT, check=True,
                                 capture_output=True, text=True).stdout) for _ in range(3)]
    return min(runs[1:])


def _kb(pid: int, field: str) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def rss_of_evse_run(config: Path, seconds: float) -> tuple[int, int, str]:
    from tests.v2g.netns import veth_pair

    with veth_pair() as link:
        proc = subprocess.Popen(
            ["ip", "netns", "exec", link.secc_ns, sys.executable, "-m", "evse.cli", "run",
             "--config", str(config), "--iface", link.secc_if, "--duration", str(seconds),
             "--quiet"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True)
        peak = steady = 0
        while proc.poll() is None:
            hwm, rss = _kb(proc.pid, "VmHWM"), _kb(proc.pid, "VmRSS")
            if hwm is not None and rss is not None:
                peak, steady = max(peak, hwm), rss
            time.sleep(0.2)
        out = proc.stdout.read() if proc.stdout else ""
    last = out.strip().splitlines()[-1] if out.strip() else ""
    return peak, steady, last


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=15.0)
    ap.add_argument("--config", type=Path, default=ROOT / "config" / "bench.yaml")
    args = ap.parse_args()
    print(f"import evse.runtime.run_iface: {import_time_s() * 1000:.0f} ms (cached bytecode)")
    peak, steady, last = rss_of_evse_run(args.config, args.seconds)
    print(f"evse run ({args.config.name}, {args.seconds:g} s idle): peak RSS {peak / 1024:.1f} MB,"
          f" steady RSS {steady / 1024:.1f} MB")
    print(f"evse run said: {last}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

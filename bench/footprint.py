"""Footprint of `evse run`: import time, peak / steady RSS, CPU and loop lateness (issue 13).

    python bench/footprint.py [--seconds 15] [--charge-seconds 60] [--config config/bench.yaml]

The project is byte-compiled first, as deploy/install.sh does (the service runs with
PYTHONDONTWRITEBYTECODE=1, so nothing is compiled at start-up). Import time: `import
evse.runtime.run_iface` in a fresh interpreter (best of the last two of three runs). Idle:
`evse run` on one end of a veth pair in a network namespace (root and iproute2 needed; no
car connects) for `--seconds` (600 = the issue's 10-minute run): VmHWM (peak) and VmRSS
(steady, at the end) from /proc, CPU % of one core from /proc/PID/stat from IDLE_SETTLE_S
on, and the process's own report of its worst timer lateness. Charging: the station's
composition (IfaceStation, as `evse run` builds it) on its own thread in one namespace, our
EV simulator charging over TCP from the other for `--charge-seconds`: CPU % of one core of
the station's thread alone (/proc/self/task/TID/stat, so the car's thread is not counted)
and the runner's worst lateness.
Prints one line per figure; asserts nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import select
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from evse.runtime.realtime import RunnerStats

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

IMPORT = ("import time; t = time.perf_counter(); import evse.runtime.run_iface; "
          "print(time.perf_counter() - t)")


def compile_bytecode() -> None:
    """Byte-compile the project as deploy/install.sh does at install time: the service runs
    with PYTHONDONTWRITEBYTECODE=1 (deploy/evse.service), so without this every start
    compiles from source, and compiling the generated EXI codecs alone raises the peak RSS
    by about 30 MB (measured: 122 MB peak without, 93 MB with, config/bench.yaml)."""
    import compileall

    for package in ("evse", "exi", "drivers"):
        if not compileall.compile_dir(ROOT / package, quiet=1, workers=0):
            raise SystemExit(f"compileall failed in {package}")


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


def _cpu_ticks(stat_path: str) -> int:
    """utime + stime (clock ticks) from a /proc .../stat file."""
    fields = Path(stat_path).read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


TICKS_PER_S = os.sysconf("SC_CLK_TCK")
#: Idle CPU is measured from this long after the start (imports and warm-up excluded).
IDLE_SETTLE_S = 5.0


def rss_of_evse_run(config: Path, seconds: float) -> tuple[int, int, str, float, float]:
    import socket
    import tempfile

    from tests.v2g.netns import veth_pair

    with veth_pair() as link, tempfile.TemporaryDirectory() as tmp:
        # systemd's side of Type=notify: READY=1 arrives once the station is warm and its
        # loop runs (evse/runtime/realtime.py); the time from exec to it is the ready time.
        notify_path = str(Path(tmp) / "notify")
        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        notify.bind(notify_path)
        notify.setblocking(False)
        env = dict(os.environ, NOTIFY_SOCKET=notify_path, PYTHONDONTWRITEBYTECODE="1")
        launched = time.monotonic()
        proc = subprocess.Popen(
            ["ip", "netns", "exec", link.secc_ns, sys.executable, "-m", "evse.cli", "run",
             "--config", str(config), "--iface", link.secc_if, "--duration", str(seconds),
             "--quiet"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, env=env)
        ready_s = float("nan")
        peak = steady = 0
        cpu_pct = 0.0
        started = time.monotonic()
        window: tuple[float, int] | None = None
        while proc.poll() is None:
            hwm, rss = _kb(proc.pid, "VmHWM"), _kb(proc.pid, "VmRSS")
            if hwm is not None and rss is not None:
                peak, steady = max(peak, hwm), rss
            try:
                # `ip netns exec` execs the interpreter: the same pid.
                ticks: int | None = _cpu_ticks(f"/proc/{proc.pid}/stat")
            except (OSError, IndexError):
                ticks = None
            now = time.monotonic()
            if ticks is not None and now - started >= IDLE_SETTLE_S:
                if window is None:
                    window = (now, ticks)  # start-up (imports, warm-up) is over
                elif now > window[0]:
                    cpu_pct = (ticks - window[1]) / TICKS_PER_S / (now - window[0]) * 100
            # Wait on the notify socket, not a sleep: READY=1 is timed when it arrives.
            if select.select([notify], [], [], 0.2)[0]:
                with contextlib.suppress(BlockingIOError):
                    if b"READY=1" in notify.recv(4096).split(b"\n") and ready_s != ready_s:
                        ready_s = time.monotonic() - launched
        out = proc.stdout.read() if proc.stdout else ""
        notify.close()
    last = out.strip().splitlines()[-1] if out.strip() else ""
    return peak, steady, last, cpu_pct, ready_s


def charging(config: Path, seconds: float) -> tuple[float, float, int, str]:
    """(CPU % of one core of the station's thread, worst lateness ms, CurrentDemands, the
    late turns' causes)."""
    import threading

    from evse.ev.profiles import profile
    from evse.ev.sim import EvSim
    from evse.runtime.config import load_config
    from evse.runtime.run_iface import IfaceStation
    from evse.sdp import Security
    from tests.station.test_run_iface import drive_ev
    from tests.v2g import evside
    from tests.v2g.netns import in_netns, veth_pair

    with veth_pair() as link:
        ready = threading.Event()
        holder: list[IfaceStation] = []
        tid: list[int] = []

        def run() -> None:
            with in_netns(link.secc_ns):
                bench = IfaceStation(load_config(config), link.secc_if)
                holder.append(bench)
                tid.append(threading.get_native_id())
                bench.start()
                ready.set()
                bench.run(duration_s=seconds + 60)

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        ready.wait(30)
        bench = holder[0]
        stat = f"/proc/self/task/{tid[0]}/stat"
        p = profile("din_only")
        p.charge_for_ns = int(seconds * 1e9)
        plant = bench.station.world.plant
        ev = EvSim(p, inlet_voltage_v=lambda now: plant.connector_voltage_v,
                   inlet_current_a=lambda now: plant.connector_current_a)
        ticks0, t0 = _cpu_ticks(stat), time.monotonic()
        with in_netns(link.ev_ns):
            response = evside.discover(link.ev_if, Security.NO_TLS)
            with evside.connect(response, link.ev_if, None) as sock:
                drive_ev(ev, sock, limit_s=seconds + 60)
        cpu = (_cpu_ticks(stat) - ticks0) / TICKS_PER_S / (time.monotonic() - t0) * 100
        rs = bench.runner.stats
        worst_ms = rs.worst_lateness_ns / 1e6
        causes = late_turns_text(rs)
        bench.stop()
        thread.join(10)
        bench.close()
    demands = ev.result.current_demands if ev.result is not None else 0
    return cpu, worst_ms, demands, causes


def late_turns_text(stats: RunnerStats) -> str:
    """The late turns by cause, and the worst one's breakdown (evse/runtime/realtime.py)."""
    late = stats.late_turns
    if not late:
        return "no overruns"
    w = max(late, key=lambda t: t.lateness_ns)
    return (f"worst {len(late)} overruns by cause: "
            + ", ".join(f"{k} {n}" for k, n in sorted(stats.late_causes().items()))
            + f"; worst {w.lateness_ns / 1e6:.1f} ms = our CPU {w.cpu_ns / 1e6:.1f} ms "
            f"(gc {w.gc_ns / 1e6:.1f}) + without our CPU {(w.work_ns - w.cpu_ns) / 1e6:.1f} ms "
            f"+ late wake-up {w.wake_ns / 1e6:.1f} ms, {w.switches} involuntary switches, "
            f"slowest part {w.slowest}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=15.0)
    ap.add_argument("--charge-seconds", type=float, default=60.0)
    ap.add_argument("--config", type=Path, default=ROOT / "config" / "bench.yaml")
    args = ap.parse_args()
    compile_bytecode()
    print(f"import evse.runtime.run_iface: {import_time_s() * 1000:.0f} ms (cached bytecode)")
    peak, steady, last, idle_cpu, ready_s = rss_of_evse_run(args.config, args.seconds)
    print(f"evse run ready (READY=1 on NOTIFY_SOCKET, from exec): {ready_s * 1000:.0f} ms "
          "(includes the interpreter's start and `ip netns exec`)")
    print(f"evse run ({args.config.name}, {args.seconds:g} s idle): peak RSS {peak / 1024:.1f} MB,"
          f" steady RSS {steady / 1024:.1f} MB, CPU {idle_cpu:.1f} % of one core")
    print(f"evse run said: {last}")
    cpu, worst_ms, demands, causes = charging(args.config, args.charge_seconds)
    print(f"charging ({args.charge_seconds:g} s, DIN over TCP, {demands} CurrentDemand): "
          f"station thread CPU {cpu:.1f} % of one core, worst timer lateness {worst_ms:.1f} ms")
    print(f"charging: {causes}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""EXI codec speed: median and p99 microseconds per call, plus ``import exi`` time.

Usage: PYTHONPATH=. python bench/exi_bench.py [ITERATIONS]
Targets (issue 3): <= 40 us median per CurrentDemand call, import <= 150 ms.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DATA = os.path.join(ROOT, "tests", "data", "exi")


def measure(fn: Callable[[], object], n: int) -> tuple[float, float]:
    for _ in range(min(200, n)):
        fn()
    samples = []
    for _ in range(n):
        t0 = time.perf_counter_ns()
        fn()
        samples.append(time.perf_counter_ns() - t0)
    samples.sort()
    return statistics.median(samples) / 1000, samples[int(len(samples) * 0.99)] / 1000


def _fresh(code: str, env: dict[str, str]) -> float:
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, env=env, check=True)
    return float(out.stdout) * 1000


def startup_ms(stmt: str, cached: bool) -> float:
    """Median over fresh interpreters of the time to run ``stmt`` (after ``import time``).

    cached=False compiles every module from source (this machine sets
    PYTHONDONTWRITEBYTECODE=1); cached=True uses a warmed private bytecode cache, as an
    installed package on the CM4 would.
    """
    code = f"import time; t=time.perf_counter(); {stmt}; print(time.perf_counter()-t)"
    env = {**os.environ, "PYTHONPATH": ROOT}
    if cached:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = tempfile.gettempdir() + "/exi_bench_pycache"
        _fresh(code, env)  # warm the cache
    else:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    return statistics.median(_fresh(code, env) for _ in range(5))


def main(argv: list[str]) -> int:
    n = int(argv[0]) if argv else 5000
    sys.path.insert(0, ROOT)
    import exi

    with open(os.path.join(DATA, "real_world_exi.jsonl"), encoding="utf-8") as fh:
        vecs = [json.loads(line) for line in fh]

    def pick(schema: str, message: str) -> bytes:
        for v in vecs:
            if v["schema"] == schema and v["message"] == message:
                return bytes.fromhex(v["hex"])
        raise LookupError(message)

    rows: list[tuple[str, float, float]] = []
    for schema in ("din", "iso2"):
        data = pick(schema, "CurrentDemandReq")
        med, p99 = measure(lambda s=schema, d=data: exi.decode(s, d), n)
        rows.append((f"decode {schema} CurrentDemandReq ({len(data)} B)", med, p99))
    for schema in ("din", "iso2"):
        msg = exi.decode(schema, pick(schema, "CurrentDemandRes"))
        med, p99 = measure(lambda s=schema, m=msg: exi.encode(s, m), n)
        rows.append((f"encode {schema} CurrentDemandRes", med, p99))
    # large messages (public vectors, "max" variant)
    with open(os.path.join(DATA, "exi_public.jsonl"), encoding="utf-8") as fh:
        public = {v["id"]: v for v in map(json.loads, fh)}
    for vid in ("din-ChargeParameterDiscoveryRes-000", "iso2-CertificateInstallationRes-000"):
        v = public[vid]
        data = bytes.fromhex(v["exi_hex"])
        msg = exi.decode(v["schema"], data)
        med, p99 = measure(lambda s=v["schema"], d=data: exi.decode(s, d), max(100, n // 20))
        rows.append((f"decode {vid} ({len(data)} B)", med, p99))
        med, p99 = measure(lambda s=v["schema"], m=msg: exi.encode(s, m), max(100, n // 20))
        rows.append((f"encode {vid}", med, p99))
    # one session's message set: every distinct message type of the capture (of each
    # protocol) with the most distinct types, decoded and re-encoded
    for proto in ("din", "iso2"):
        by_source: dict[str, list[dict[str, object]]] = {}
        for v in vecs:
            if v["schema"] in (proto, "app"):
                by_source.setdefault(str(v["source_path"]), []).append(v)
        session = max(by_source.values(),
                      key=lambda vs: len({str(v["message"]) for v in vs if v["schema"] == proto}))
        seen: dict[str, tuple[str, bytes]] = {}
        for v in session:
            seen.setdefault(str(v["message"]), (str(v["schema"]), bytes.fromhex(str(v["hex"]))))
        msgs = list(seen.values())

        def whole_session(msgs: list[tuple[str, bytes]] = msgs) -> None:
            for schema, data in msgs:
                exi.encode(schema, exi.decode(schema, data))

        med, p99 = measure(whole_session, max(200, n // 10))
        rows.append((f"{proto} session set ({len(msgs)} message types, decode+encode each)",
                     med, p99))
    print(f"{'case':60s} {'median us':>10s} {'p99 us':>10s}")
    for name, med, p99 in rows:
        print(f"{name:60s} {med:10.1f} {p99:10.1f}")
    first = {
        "din": "exi.decode('din', bytes.fromhex('809a02004080c1014181c210e0004080000182"
               "8480181818320000c0'))",
        "iso2": "exi.decode('iso2', bytes.fromhex('8098004011d01801f7e81d792800'))",
    }
    for cached in (False, True):
        mode = "bytecode cached" if cached else "compiled from source"
        print(f"{'import exi (ms, ' + mode + ')':60s} {startup_ms('import exi', cached):10.1f}")
        for schema, stmt in first.items():
            ms = startup_ms(f"import exi; {stmt}", cached)
            print(f"{'import + first ' + schema + ' decode (ms, ' + mode + ')':60s} {ms:10.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

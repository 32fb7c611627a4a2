"""Long fuzz run of the EXI decoder: mutated real vectors + random bytes.

Usage: PYTHONPATH=. python bench/exi_fuzz.py [N] [SEED]  (default 1,000,000 inputs)
Every input must either decode or raise exi.DecodeError; any other exception, or an
input taking longer than MAX_INPUT_S, is a finding. Exit status 1 on findings.
"""

from __future__ import annotations

import json
import os
import random
import sys
import time
import traceback

import exi

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "tests", "data", "exi")
# Per-input time budget: far above the ~100 us typical decode, far below a hang.
MAX_INPUT_S = 0.5


def load_seeds() -> list[tuple[str, bytes]]:
    seeds = []
    for fn, key in (("real_world_exi.jsonl", "hex"), ("exi_public.jsonl", "exi_hex")):
        with open(os.path.join(DATA, fn), encoding="utf-8") as fh:
            for line in fh:
                v = json.loads(line)
                seeds.append((v["schema"], bytes.fromhex(v[key])))
    return seeds


def mutate(rng: random.Random, data: bytes) -> bytes:
    b = bytearray(data)
    op = rng.randrange(6)
    if op == 0 and b:  # flip bits
        for _ in range(rng.randint(1, 4)):
            i = rng.randrange(len(b) * 8)
            b[i >> 3] ^= 0x80 >> (i & 7)
    elif op == 1 and b:  # truncate
        del b[rng.randrange(len(b)):]
    elif op == 2 and b:  # random byte
        b[rng.randrange(len(b))] = rng.randrange(256)
    elif op == 3:  # insert bytes
        i = rng.randrange(len(b) + 1)
        b[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
    elif op == 4 and len(b) > 2:  # splice from elsewhere
        i, j = sorted(rng.randrange(len(b)) for _ in range(2))
        b[i:i] = b[j:]
    else:  # set a run to 0xff (long length prefixes)
        i = rng.randrange(len(b) + 1)
        b[i:i + 4] = b"\xff\xff\xff\xff"
    return bytes(b)


def run_one(schema: str, data: bytes, mode: int) -> None:
    if mode == 0:
        exi.decode(schema, data)
    elif mode == 1:
        exi.decode_to_xml(schema, data)
    else:
        exi.decode_fragment(schema, data)


def main(argv: list[str]) -> int:
    n = int(argv[0]) if argv else 1_000_000
    seed = int(argv[1]) if len(argv) > 1 else 1
    rng = random.Random(seed)
    seeds = load_seeds()
    findings = 0
    decoded = 0
    slowest = 0.0
    t0 = time.perf_counter()
    for i in range(n):
        if i % 10 == 9:
            schema = rng.choice(("app", "din", "iso2", "xmldsig"))
            data = b"\x80" + bytes(rng.randrange(256) for _ in range(rng.randint(0, 64)))
        else:
            schema, base = rng.choice(seeds)
            data = mutate(rng, base)
            if rng.random() < 0.05:
                schema = rng.choice(("app", "din", "iso2"))
        mode = rng.randrange(3)
        start = time.perf_counter()
        try:
            run_one(schema, data, mode)
            decoded += 1
        except exi.DecodeError:
            pass
        except Exception:  # noqa: BLE001 - the point is to catch everything else
            findings += 1
            if findings <= 20:
                print(f"FINDING schema={schema} mode={mode} hex={data.hex()}")
                traceback.print_exc()
        dt = time.perf_counter() - start
        slowest = max(slowest, dt)
        if dt > MAX_INPUT_S:
            findings += 1
            print(f"SLOW {dt:.3f}s schema={schema} hex={data.hex()}")
        if (i + 1) % 100_000 == 0:
            print(f"{i + 1} inputs, {findings} findings, {time.perf_counter() - t0:.0f}s",
                  flush=True)
    total = time.perf_counter() - t0
    print(f"inputs={n} decoded_ok={decoded} decode_errors={n - decoded - findings} "
          f"findings={findings} slowest_ms={slowest * 1000:.2f} total_s={total:.0f}")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

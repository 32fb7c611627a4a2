"""The warm-up builds what the first session would otherwise build lazily (EXI grammars,
message classes and fast codecs, charts, SLAC frames) and is the flag `evse run` checks
before it sends READY (evse/runtime/run_iface.py). A fresh process: nothing is warm before."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import exi
from evse.runtime import warmup
before = (warmup.is_warm(), sorted(exi.warm_schemas()))
rep = warmup.warm_up_station()
print(before, warmup.is_warm(), sorted(exi.warm_schemas()), sorted(rep.parts_ms))
"""


@pytest.mark.realtime  # subprocess.run's timeout polls with time.sleep
def test_nothing_is_warm_before_the_warm_up_and_every_codec_is_after() -> None:
    out = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True,
                         text=True, timeout=120, check=True).stdout.strip()
    assert out == ("(False, []) True ['app', 'din', 'iso2'] ['charts', 'exi', 'slac']"), out

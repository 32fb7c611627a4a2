"""The committed generated modules are exactly what the generator makes from the XSDs."""

from __future__ import annotations

import os
import subprocess
import sys

from exi.generate import OUT_DIR, render_all


def test_regenerating_from_the_xsds_gives_the_committed_files() -> None:
    files = render_all()
    for name, content in files.items():
        with open(os.path.join(OUT_DIR, name), encoding="utf-8") as fh:
            assert fh.read() == content, f"{name} is stale: run python -m exi.generate"


def test_importing_exi_does_not_parse_xsds() -> None:
    code = ("import sys, exi; exi.grammar('din'); exi.messages('iso2'); "
            "bad = [m for m in sys.modules if m.startswith('exi._gen.') or m == 'exi._gen' or "
            "m == 'xml.etree.ElementTree']; print(bad); sys.exit(1 if bad else 0)")
    root = os.path.dirname(os.path.dirname(OUT_DIR))
    res = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True,
                         text=True, env={**os.environ, "PYTHONPATH": root}, check=False)
    assert res.returncode == 0, res.stdout + res.stderr

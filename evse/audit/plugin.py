"""pytest plugin used by `evse audit --run`: one outcome per test node, written as JSON.

Loaded with `-p evse.audit.plugin`; the result file comes from EVSE_AUDIT_RESULTS. A test
passes when its call passed and its setup/teardown did not fail; skipped at setup is skipped.
"""

from __future__ import annotations

import json
import os
from typing import Any

_results: dict[str, str] = {}


def pytest_runtest_logreport(report: Any) -> None:
    nodeid = str(report.nodeid)
    if report.failed:
        _results[nodeid] = "failed"
    elif report.skipped and nodeid not in _results:
        _results[nodeid] = "skipped"
    elif report.when == "call" and report.passed and _results.get(nodeid) != "failed":
        _results[nodeid] = "passed"


def pytest_sessionfinish(session: Any, exitstatus: int) -> None:
    path = os.environ.get("EVSE_AUDIT_RESULTS")
    if path:
        with open(path, "w", encoding="utf-8") as f:
            json.dump(_results, f, sort_keys=True)

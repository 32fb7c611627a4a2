"""A controller process for two-process tests: `python -m tests.contract.controller_process
ENDPOINT`. Waits for "go" on stdin before dialing (so a test can start it ahead of time),
runs MiniController until the PLC reports EV_UNPLUGGED, then prints the session events it
received, one `EVENT STOP_REASON` per line, and exits."""

from __future__ import annotations

import sys
import time

from evse.contract.values import Role, SessionEventKind
from evse.io.contract_link import open_stream_port
from tests.contract.session import FAST, MiniController


def main(endpoint: str) -> int:
    if sys.stdin.readline().strip() != "go":
        return 2
    port = open_stream_port(Role.CONTROLLER, endpoint, now_ns=time.monotonic_ns)
    ctrl = MiniController(port, FAST, next_limits_ns=time.monotonic_ns())
    end = time.monotonic_ns() + 30 * 1_000_000_000
    try:
        while time.monotonic_ns() < end:
            port.service(timeout_s=0.005)
            ctrl.tick(time.monotonic_ns())
            port.service(timeout_s=0.0)
            if any(k is SessionEventKind.EV_UNPLUGGED for k, _ in ctrl.session_events()):
                break
    finally:
        port.close()
    for kind, reason in ctrl.session_events():
        print(kind.value, reason.value if reason else "-")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))

"""sd_notify for the service on the board: READY=1, WATCHDOG=1 and STOPPING=1 to systemd.

The protocol (sd_notify(3), systemd.service(5) `Type=notify`, `WatchdogSec=`): the service
sends newline-separated `KEY=VALUE` assignments as one datagram to the AF_UNIX socket named
by `$NOTIFY_SOCKET` (a path, or an abstract name written with a leading '@'). With
`WatchdogSec=` systemd sets `$WATCHDOG_USEC` (and `$WATCHDOG_PID`); the service must send
WATCHDOG=1 more often than that, else systemd kills it (SIGABRT) and `Restart=on-failure`
starts it again. sd_watchdog_enabled(3) recommends feeding at half the interval.

Why the feed is a scheduler timer: WATCHDOG=1 must mean "the realtime loop turns", so it is
sent by a timer the loop itself fires, never by a helper thread. A loop stuck in a callback
stops feeding; systemd restarts the process, and the safety MCU, which stops getting
keep-alives too, has already opened the contactors (drivers/board/mcu_protocol.py
MCU_WATCHDOG_TIMEOUT). `healthy` lets the composition root withhold the feed when the loop
turns but the station is wedged.

No dependency: this is the few lines of libsystemd's sd_notify that we need.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from evse.runtime.scheduler import Scheduler, TimerHandle

NS_PER_US = 1_000


def _address(name: str) -> str:
    """'@name' is an abstract socket: its first byte on the wire is NUL."""
    return "\0" + name[1:] if name.startswith("@") else name


def watchdog_interval_ns(environ: Mapping[str, str] | None = None) -> int | None:
    """$WATCHDOG_USEC in ns, or None when the watchdog is off or meant for another process
    (sd_watchdog_enabled: WATCHDOG_PID, when set, must be ours)."""
    env = os.environ if environ is None else environ
    usec = env.get("WATCHDOG_USEC", "")
    pid = env.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    if pid and (not pid.isdigit() or int(pid) != os.getpid()):
        return None
    return int(usec) * NS_PER_US


@dataclass
class NotifyStats:
    sent: int = 0
    failed: int = 0
    watchdog_sent: int = 0
    watchdog_withheld: int = 0


class SdNotifier:
    """One datagram socket to $NOTIFY_SOCKET; a lost datagram is counted, never raised (the
    charger keeps running if systemd is restarting)."""

    def __init__(self, notify_socket: str, watchdog_ns: int | None = None) -> None:
        self.address = notify_socket
        self.watchdog_ns = watchdog_ns
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        self._sock.setblocking(False)
        self.stats = NotifyStats()
        self.healthy: Callable[[], bool] = lambda: True
        self._timer: TimerHandle | None = None
        self.ready_sent = False

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SdNotifier | None:
        env = os.environ if environ is None else environ
        name = env.get("NOTIFY_SOCKET", "")
        if not name or not (name.startswith("/") or name.startswith("@")):
            return None
        return cls(name, watchdog_interval_ns(env))

    def send(self, *assignments: str) -> bool:
        try:
            self._sock.sendto("\n".join(assignments).encode(), _address(self.address))
        except OSError:
            self.stats.failed += 1
            return False
        self.stats.sent += 1
        return True

    # --- the three the runner needs ------------------------------------------------------
    def start(self, scheduler: Scheduler, status: str = "running") -> None:
        """READY=1 and, with WatchdogSec, WATCHDOG=1 every half interval from `scheduler`'s
        own timers (so only a turning loop feeds it). Idempotent."""
        if self.ready_sent:
            return
        self.ready_sent = True
        self.send("READY=1", f"STATUS={status}", f"MAINPID={os.getpid()}")
        if self.watchdog_ns is not None:
            self._timer = scheduler.call_every(self.watchdog_ns // 2, self._feed,
                                               "systemd.watchdog")

    def _feed(self, now_ns: int) -> None:
        if not self.healthy():
            self.stats.watchdog_withheld += 1
            return
        if self.send("WATCHDOG=1"):
            self.stats.watchdog_sent += 1

    def stopping(self, scheduler: Scheduler | None = None) -> None:
        if scheduler is not None and self._timer is not None:
            scheduler.cancel_timer(self._timer)
        self._timer = None
        self.send("STOPPING=1", "STATUS=stopping")

    def close(self) -> None:
        self._sock.close()

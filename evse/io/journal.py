"""Structured logs for journald: one entry per chart transition, fault and log record, with
fields an operator can filter on (`journalctl -u evse EVSE_CHART=secc`, `EVSE_FAULT_CODE=...`).

Why not plain stdout lines: under systemd (deploy/evse.service) stdout already reaches the
journal, but as text; the native protocol keeps each value in its own field, so a fault's
code, a transition's states and the session are queryable, and PRIORITY sorts faults from
chatter. The protocol (systemd's "Native Journal Protocol"): one datagram per entry on the
AF_UNIX socket /run/systemd/journal/socket, `FIELD=value` lines; a value containing a
newline is `FIELD\\n`, its length as 64-bit little-endian, the bytes, `\\n`. Field names are
upper-case letters, digits and underscores, not starting with an underscore (those are
journald's own). No python-systemd dependency: the format is a few lines.

`journal_wanted()` is systemd's own test: JOURNAL_STREAM names the device and inode of the
stream the journal holds; when stderr is that stream, the process runs under systemd with
its output in the journal, and the native socket is used instead (no line twice).
A journal that is gone (journald restarting) or behind (its datagram queue full: systemd
raises net.unix.max_dgram_qlen to 512) loses entries, counted (`evse run` prints the count
when it stops), never blocks and never raises: logging must not stop a charge.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import struct
from collections.abc import Callable, Mapping
from typing import Any

JOURNAL_SOCKET = "/run/systemd/journal/socket"
SYSLOG_IDENTIFIER = "evse"
#: syslog priorities (sd-daemon.h): 3 err, 4 warning, 5 notice, 6 info, 7 debug.
PRIORITY_ERR, PRIORITY_WARNING, PRIORITY_NOTICE, PRIORITY_INFO = 3, 4, 5, 6
_FIELD_RE = re.compile(r"^[A-Z0-9][A-Z0-9_]*$")
_LOG_PRIORITY = {logging.CRITICAL: 2, logging.ERROR: PRIORITY_ERR,
                 logging.WARNING: PRIORITY_WARNING, logging.INFO: PRIORITY_INFO,
                 logging.DEBUG: 7}
#: Fault severities of the contract (plc.fault) as priorities.
_FAULT_PRIORITY = {"CRITICAL": 2, "ERROR": PRIORITY_ERR, "WARNING": PRIORITY_WARNING}


class JournalFieldError(ValueError):
    """A field name journald would reject."""


def encode_entry(fields: Mapping[str, object]) -> bytes:
    """One journal entry in the native protocol."""
    out = bytearray()
    for name, value in fields.items():
        if not _FIELD_RE.match(name):
            raise JournalFieldError(f"journal field name {name!r}")
        data = value if isinstance(value, bytes) else str(value).encode("utf-8", "replace")
        if b"\n" in data:
            out += name.encode() + b"\n" + struct.pack("<Q", len(data)) + data + b"\n"
        else:
            out += name.encode() + b"=" + data + b"\n"
    return bytes(out)


def journal_wanted(environ: Mapping[str, str] | None = None, stderr_fd: int = 2) -> bool:
    """True when stderr is the journal's stream (systemd's JOURNAL_STREAM test)."""
    env = os.environ if environ is None else environ
    stream = env.get("JOURNAL_STREAM", "")
    dev, _, ino = stream.partition(":")
    if not dev.isdigit() or not ino.isdigit():
        return False
    try:
        st = os.fstat(stderr_fd)
    except OSError:
        return False
    return st.st_dev == int(dev) and st.st_ino == int(ino)


class JournalSink:
    """Datagrams to journald (or to any AF_UNIX datagram socket: tests bind their own)."""

    def __init__(self, path: str = JOURNAL_SOCKET, identifier: str = SYSLOG_IDENTIFIER) -> None:
        self.path = path
        self.identifier = identifier
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.setblocking(False)
        self.sent = 0
        self.lost = 0

    def send(self, message: str, priority: int, **fields: object) -> None:
        entry = {"MESSAGE": message, "PRIORITY": priority,
                 "SYSLOG_IDENTIFIER": self.identifier, **fields}
        try:
            self.sock.sendto(encode_entry(entry), self.path)
            self.sent += 1
        except OSError:
            self.lost += 1  # journald away or full: the charge goes on

    def close(self) -> None:
        self.sock.close()


class JournalHandler(logging.Handler):
    """Python logging records as journal entries (logger, code location, exception text)."""

    def __init__(self, sink: JournalSink) -> None:
        super().__init__()
        self.sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        fields: dict[str, object] = {"LOGGER": record.name, "CODE_FILE": record.pathname,
                                     "CODE_LINE": record.lineno, "CODE_FUNC": record.funcName}
        if record.exc_info:
            fields["EVSE_EXCEPTION"] = logging.Formatter().formatException(record.exc_info)
        self.sink.send(record.getMessage(),
                       _LOG_PRIORITY.get(record.levelno, PRIORITY_INFO), **fields)


def trace_entry(t_ns: int, source: str, kind: str,
                payload: Mapping[str, Any]) -> tuple[str, int, dict[str, object]] | None:
    """The journal entry (message, priority, fields) of a trace record worth an operator's
    line: a chart transition that changes state, a station fault raised or cleared; None
    for the rest (CurrentDemand traffic, timer re-entries)."""
    base: dict[str, object] = {"EVSE_T_NS": t_ns, "EVSE_SOURCE": source}
    if kind == "transition" and payload.get("from") != payload.get("to"):
        fields = {**base, "EVSE_CHART": source, "EVSE_FROM": payload.get("from"),
                  "EVSE_TO": payload.get("to"), "EVSE_EVENT": payload.get("event")}
        return (f"{source}: {payload.get('from')} -> {payload.get('to')} "
                f"({payload.get('event')})", PRIORITY_INFO, fields)
    if kind == "fault":
        active = bool(payload.get("active"))
        code, severity = str(payload.get("code")), str(payload.get("severity"))
        fields = {**base, "EVSE_FAULT_CODE": code, "EVSE_FAULT_ACTIVE": int(active),
                  "EVSE_FAULT_SEVERITY": severity,
                  "EVSE_FAULT_LATCHED": int(bool(payload.get("latched")))}
        detail = payload.get("detail")
        if detail:
            fields["EVSE_FAULT_DETAIL"] = detail
        if active:
            return (f"fault {code} ({severity})" + (f": {detail}" if detail else ""),
                    _FAULT_PRIORITY.get(severity, PRIORITY_ERR), fields)
        return f"fault {code} cleared", PRIORITY_NOTICE, fields
    return None


TraceListener = Callable[[int, str, str, dict[str, Any]], None]


def trace_to_journal(sink: JournalSink) -> TraceListener:
    """A trace listener that sends `trace_entry`'s entries to `sink`."""
    def on_trace(t_ns: int, source: str, kind: str, payload: dict[str, Any]) -> None:
        entry = trace_entry(t_ns, source, kind, payload)
        if entry is not None:
            message, priority, fields = entry
            sink.send(message, priority, **fields)

    return on_trace

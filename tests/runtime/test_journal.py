"""Structured journal entries (evse/io/journal.py): the native protocol's bytes, systemd's
JOURNAL_STREAM test, and a station's day in the journal: one entry per state change of each
chart and per fault raised or cleared, with fields to filter on; a journal that is gone
never stops a charge."""

from __future__ import annotations

import socket
import struct
from pathlib import Path

import pytest

from evse.io.journal import (
    JournalFieldError,
    JournalHandler,
    JournalSink,
    encode_entry,
    journal_wanted,
    trace_to_journal,
)
from evse.ports.board import PpState
from tests.station.test_lifecycle import finish, plug_and_charge, run_until, station

S = 1_000_000_000


def parse(datagram: bytes) -> dict[str, str]:
    """The native protocol read back (both the FIELD=value and the binary form)."""
    out: dict[str, str] = {}
    pos = 0
    while pos < len(datagram):
        nl = datagram.index(b"\n", pos)
        line = datagram[pos:nl]
        if b"=" in line:
            name, _, value = line.partition(b"=")
            out[name.decode()] = value.decode()
            pos = nl + 1
        else:
            (size,) = struct.unpack_from("<Q", datagram, nl + 1)
            start = nl + 9
            out[line.decode()] = datagram[start:start + size].decode()
            assert datagram[start + size:start + size + 1] == b"\n"
            pos = start + size + 1
    return out


@pytest.fixture
def journald(tmp_path: Path) -> tuple[socket.socket, JournalSink]:
    path = str(tmp_path / "journal.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(path)
    server.setblocking(False)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
    return server, JournalSink(path)


def received(server: socket.socket) -> list[dict[str, str]]:
    out = []
    while True:
        try:
            out.append(parse(server.recv(1 << 16)))
        except BlockingIOError:
            return out


def test_values_with_newlines_take_the_binary_form_and_bad_names_are_refused() -> None:
    data = encode_entry({"MESSAGE": "a\nb", "PRIORITY": 3})
    assert data == b"MESSAGE\n" + struct.pack("<Q", 3) + b"a\nb\nPRIORITY=3\n"
    assert parse(data) == {"MESSAGE": "a\nb", "PRIORITY": "3"}
    for bad in ("_PID", "lower", "EVSE-X", ""):
        with pytest.raises(JournalFieldError):
            encode_entry({bad: 1})


def test_the_journal_is_used_only_when_stderr_is_the_journals_stream(tmp_path: Path) -> None:
    with (tmp_path / "stream").open("w") as fh:
        st = Path(fh.name).stat()
        fd = fh.fileno()
        assert journal_wanted({"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"}, fd)
        assert not journal_wanted({"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino + 1}"}, fd)
        assert not journal_wanted({}, fd)
        assert not journal_wanted({"JOURNAL_STREAM": "garbage"}, fd)


def test_a_session_and_a_fault_reach_the_journal_as_filterable_entries(
        journald: tuple[socket.socket, JournalSink]) -> None:
    server, sink = journald
    st = station()
    st.sched.trace.add_listener(trace_to_journal(sink))
    entries: list[dict[str, str]] = []
    # journald reads as entries come (a datagram queue holds net.unix.max_dgram_qlen)
    st.sched.trace.add_listener(lambda *_: entries.extend(received(server)))
    plug_and_charge(st)
    st.world.board.set_pp(PpState.DISCONNECTED)  # PP lost under load: a fault
    run_until(st, lambda: not st.world.contactor.closed, 1)
    st.sched.run_for(1 * S)
    finish(st)
    st.world.board.set_pp(PpState.CONNECTED)
    st.sched.run_for(1 * S)
    entries += received(server)
    assert sink.lost == 0 and len(entries) == sink.sent
    assert all(e["SYSLOG_IDENTIFIER"] == "evse" for e in entries)
    charts = {e["EVSE_CHART"] for e in entries if "EVSE_CHART" in e}
    assert {"cp", "slac_evse", "secc", "power_path", "controller"} <= charts, charts
    secc = [e for e in entries if e.get("EVSE_CHART") == "secc"]
    assert any(e["EVSE_TO"].startswith("charging") for e in secc)
    assert all(e["EVSE_FROM"] != e["EVSE_TO"] and e["PRIORITY"] == "6" for e in secc)
    raised = [e for e in entries if e.get("EVSE_FAULT_CODE") == "PP_INVALID"]
    assert [e["EVSE_FAULT_ACTIVE"] for e in raised] == ["1", "0"]  # raised, then cleared
    assert raised[0]["PRIORITY"] == "3" and raised[0]["MESSAGE"].startswith("fault PP_INVALID")
    assert raised[1]["MESSAGE"] == "fault PP_INVALID cleared"
    # A CurrentDemand loop is not a journal line per message: the whole session is short.
    assert len(entries) < 200, len(entries)


def test_a_journal_that_is_gone_loses_entries_counted_and_never_raises(tmp_path: Path) -> None:
    import logging

    sink = JournalSink(str(tmp_path / "nobody.sock"))
    log = logging.getLogger("evse.test.journal")
    log.addHandler(JournalHandler(sink))
    try:
        log.warning("nobody listens")
        sink.send("still nobody", 6, EVSE_X=1)
    finally:
        log.handlers.clear()
    assert sink.lost == 2 and sink.sent == 0


def test_log_records_carry_their_logger_and_code_location(
        journald: tuple[socket.socket, JournalSink]) -> None:
    import logging

    server, sink = journald
    log = logging.getLogger("evse.test.journal2")
    log.addHandler(JournalHandler(sink))
    try:
        log.warning("capture %s: %d frames", "x.pcapng", 3)
    finally:
        log.handlers.clear()
    (entry,) = received(server)
    assert entry["MESSAGE"] == "capture x.pcapng: 3 frames" and entry["PRIORITY"] == "4"
    assert entry["LOGGER"] == "evse.test.journal2" and entry["CODE_FILE"].endswith(
        "test_journal.py")

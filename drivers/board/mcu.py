"""The board port over the safety-MCU UART link (protocol: `drivers.board.mcu_protocol`).

Two layers, the h11/aioquic split:
- `McuLink` is sans-IO: bytes and `now_ns` in, board events and bytes out, plus its next
  deadline. It owns the handshake, the sequence numbers, the ACK/resend bookkeeping and the
  link supervision (`LINK_TIMEOUT`), and turns STATUS frames into the port's events by
  comparing each with the previous one.
- `McuBoard` is the `Board` a station uses: it puts an `McuLink` on a byte stream
  (`TtyStream`: the UART opened with `os.open` + termios, raw 8N1, non-blocking; pyserial is
  not needed for that) and reads the clock it was given when a command is issued.

Registry entry (drivers/registry.py): name ``mcu_uart`` -> `McuBoard`, params `PARAMS`
(device, baud, ack_timeout_ms, max_resends, link_timeout_ms, handshake_timeout_ms,
max_watchdog_timeout_ms), built with `McuBoard.from_params(params, clock=...)`.

Link states: CONNECTING (HELLO sent, resent every ACK_TIMEOUT) -> UP (VERSION with our
protocol version) -> LOST (no valid frame for LINK_TIMEOUT, resends exhausted, or the tty
gone). LOST raises one `BoardFault(LINK_LOST)`; the pilot latches it (chart state F).
While LOST the host keeps sending HELLO (and any command, best effort); a VERSION brings
the link back UP (the pilot's latch stays until fault_reset).
"""

from __future__ import annotations

import enum
import errno
import os
import termios
import tty
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from drivers.board.mcu_protocol import (
    ACK_TIMEOUT,
    DEFAULT_BAUD,
    HANDSHAKE_TIMEOUT,
    LINK_TIMEOUT,
    MAX_RESENDS,
    MCU_WATCHDOG_TIMEOUT,
    PROTOCOL_VERSION,
    SEQ_MODULO,
    Ack,
    AllowPower,
    Contactor,
    CpMode,
    Deframer,
    Error,
    FaultFlag,
    Hello,
    KeepAlive,
    McuDecodeError,
    Message,
    MsgType,
    PpCode,
    ResetFault,
    SetCp,
    Status,
    Version,
    encode_frame,
)
from evse.ports.board import (
    Board,
    BoardError,
    BoardEvent,
    BoardFault,
    BoardFaultKind,
    ContactorFeedback,
    CpOutputMode,
    CpSample,
    EStopChanged,
    PpChanged,
    PpState,
)

MS = 1_000_000
HOST_ID = "evse-py"

_CP_MODE = {CpOutputMode.X1: CpMode.X1, CpOutputMode.PWM: CpMode.PWM, CpOutputMode.F: CpMode.F}
_PP_STATE = {
    PpCode.UNKNOWN: PpState.UNKNOWN,
    PpCode.DISCONNECTED: PpState.DISCONNECTED,
    PpCode.CONNECTED: PpState.CONNECTED,
    PpCode.FAULT: PpState.FAULT,
}
#: MCU fault flags that become port faults (the pilot classifies the diode itself).
_FLAG_FAULT = {
    FaultFlag.KEEPALIVE_TIMEOUT: BoardFaultKind.KEEPALIVE_TIMEOUT,
    FaultFlag.CONTACTOR_FEEDBACK_DIVERGES: BoardFaultKind.CONTACTOR_FEEDBACK_DIVERGES,
    FaultFlag.CP_SIGNAL_FAULT: BoardFaultKind.CP_SIGNAL_FAULT,
}


class McuLinkError(BoardError):
    """The MCU is missing, silent, speaks another protocol version, or its tty failed."""


class LinkState(enum.Enum):
    CONNECTING = "connecting"
    UP = "up"
    LOST = "lost"


@dataclass(frozen=True, slots=True)
class McuParams:
    """What the `mcu_uart` driver accepts; each with the protocol default and its source."""

    device: str
    baud: int = DEFAULT_BAUD
    ack_timeout_ms: float = ACK_TIMEOUT.value_ns / MS
    max_resends: int = MAX_RESENDS
    link_timeout_ms: float = LINK_TIMEOUT.value_ns / MS
    handshake_timeout_ms: float = HANDSHAKE_TIMEOUT.value_ns / MS
    #: the longest MCU watchdog the host accepts (VERSION.watchdog_timeout_ms above it:
    #: refused at start, the contactors would stay closed too long after a Linux hang)
    max_watchdog_timeout_ms: float = MCU_WATCHDOG_TIMEOUT.value_ns / MS


#: Declared parameters for the driver registry: name -> (type, doc).
PARAMS: dict[str, tuple[type, str]] = {
    "device": (str, "UART device of the safety MCU, e.g. /dev/ttyAMA0"),
    "baud": (int, "line speed, 8N1 (protocol DEFAULT_BAUD 115200)"),
    "ack_timeout_ms": (float, "resend an unacknowledged command after this (ACK_TIMEOUT)"),
    "max_resends": (int, "resends before the link counts as lost (MAX_RESENDS)"),
    "link_timeout_ms": (float, "no valid frame for this long = link lost (LINK_TIMEOUT)"),
    "handshake_timeout_ms": (float, "VERSION must answer HELLO within this"),
    "max_watchdog_timeout_ms": (float, "refuse an MCU whose watchdog is longer"),
}


def params_from_mapping(params: Mapping[str, object]) -> McuParams:
    unknown = set(params) - set(PARAMS)
    if unknown:
        raise McuLinkError(f"mcu_uart: unknown parameters {sorted(unknown)}")
    if params.get("device") is None:
        raise McuLinkError("mcu_uart: parameter 'device' is required")
    values: dict[str, object] = {}
    for name, value in params.items():
        typ = PARAMS[name][0]
        if typ is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, typ) or isinstance(value, bool):
            raise McuLinkError(f"mcu_uart: {name} must be {typ.__name__}, got {value!r}")
        values[name] = value
    return McuParams(**values)  # type: ignore[arg-type]


@dataclass
class LinkStats:
    frames_rx: int = 0
    frames_tx: int = 0
    resends: int = 0
    #: Typed decode errors of what the MCU sent, by ErrorCode name.
    rx_errors: dict[str, int] = field(default_factory=dict)
    #: ERROR frames the MCU sent about what we sent, by ErrorCode name.
    mcu_errors: dict[str, int] = field(default_factory=dict)
    link_losses: int = 0


@dataclass(slots=True)
class _Pending:
    msg: Message
    seq: int
    sent_ns: int
    resends: int = 0


class McuLink:
    """Sans-IO host side of the MCU protocol."""

    def __init__(self, params: McuParams) -> None:
        self.p = params
        self._ack_ns = round(params.ack_timeout_ms * MS)
        self._link_ns = round(params.link_timeout_ms * MS)
        self.state = LinkState.CONNECTING
        self.stats = LinkStats()
        #: The last few typed errors, newest last (for logs and tests).
        self.errors: deque[McuDecodeError] = deque(maxlen=16)
        self.version: Version | None = None
        self.lost_reason = ""
        self._seq = 0
        self._deframer = Deframer()
        self._out = bytearray()
        #: One outstanding message per type: commands are absolute states, so a newer one
        #: supersedes an unacknowledged older one of the same type.
        self._pending: dict[MsgType, _Pending] = {}
        #: Commands issued before the handshake, sent once the link is UP (latest per type).
        self._queued: dict[MsgType, Message] = {}
        self._last_rx_ns: int | None = None
        self._started_ns: int | None = None
        self._status: Status | None = None
        self._events: list[BoardEvent] = []

    # --- host API --------------------------------------------------------------------------
    def start(self, now_ns: int) -> None:
        self._started_ns = now_ns
        self._send(Hello(PROTOCOL_VERSION, HOST_ID), now_ns)

    def command(self, msg: Message, now_ns: int) -> None:
        # While LOST the command still goes out (best effort, resent): an MCU that only
        # lost its TX line still hears "open the contactors". Before the first handshake the
        # MCU would refuse it (NOT_READY), so it waits for VERSION.
        if self.state is LinkState.CONNECTING:
            self._queued[msg.TYPE] = msg
        else:
            self._send(msg, now_ns)

    def data_to_send(self) -> bytes:
        out = bytes(self._out)
        self._out.clear()
        return out

    def unsent(self, data: bytes) -> None:
        """Put back what a non-blocking write could not take."""
        self._out[:0] = data

    @property
    def status(self) -> Status | None:
        return self._status

    # --- input -----------------------------------------------------------------------------
    def receive(self, data: bytes, now_ns: int) -> None:
        for item in self._deframer.feed(data):
            if isinstance(item, McuDecodeError):
                self.errors.append(item)
                name = item.code.name
                self.stats.rx_errors[name] = self.stats.rx_errors.get(name, 0) + 1
                continue
            msg, _seq = item
            self.stats.frames_rx += 1
            self._last_rx_ns = now_ns
            self._on_message(msg, now_ns)

    def connection_lost(self, reason: str, now_ns: int) -> None:
        """The transport failed (tty closed, EIO): the link is lost at once."""
        self._lose(reason, now_ns)

    def _on_message(self, msg: Message, now_ns: int) -> None:
        if isinstance(msg, Version):
            self._on_version(msg, now_ns)
        elif isinstance(msg, Ack):
            for mtype, pend in list(self._pending.items()):
                if pend.seq == msg.acked_seq:
                    del self._pending[mtype]
        elif isinstance(msg, Error):
            name = msg.code.name
            self.stats.mcu_errors[name] = self.stats.mcu_errors.get(name, 0) + 1
        elif isinstance(msg, Status) and self.state is LinkState.UP:
            # After a loss only a fresh handshake (a round trip) brings the link back: a
            # STATUS alone would let a deaf MCU flap the link UP and LOST.
            self._on_status(msg, now_ns)
        # Host-to-MCU message types arriving here are ignored: the MCU never sends them.

    def _on_version(self, msg: Version, now_ns: int) -> None:
        self._pending.pop(MsgType.HELLO, None)
        if msg.protocol_version != PROTOCOL_VERSION:
            self.version = None
            self._lose(f"MCU speaks protocol {msg.protocol_version}, we speak "
                       f"{PROTOCOL_VERSION} ({msg.firmware_id})", now_ns)
            return
        self.version = msg
        if self.state is not LinkState.UP:
            self.state = LinkState.UP
            self._last_rx_ns = now_ns
            # Queued (before the first handshake) and still unacknowledged (sent while LOST)
            # commands go out afresh, with new sequence numbers and a full resend budget.
            again = {t: p.msg for t, p in self._pending.items()}
            again.update(self._queued)
            self._queued = {}
            self._pending.clear()
            for m in again.values():
                self._send(m, now_ns)

    def _on_status(self, st: Status, now_ns: int) -> None:
        prev = self._status
        ev = self._events
        if prev is None or prev.pp_state is not st.pp_state:
            ev.append(PpChanged(_PP_STATE[st.pp_state], now_ns))
        if (prev is None and st.estop) or (prev is not None and prev.estop != st.estop):
            ev.append(EStopChanged(st.estop, now_ns))
        if (prev is None and st.contactor_closed) or (
            prev is not None and prev.contactor_closed != st.contactor_closed
        ):
            ev.append(ContactorFeedback(st.contactor_closed, now_ns))
        old_flags = FaultFlag(prev.fault_flags) if prev is not None else FaultFlag(0)
        new_flags = FaultFlag(st.fault_flags) & ~old_flags
        for flag, kind in _FLAG_FAULT.items():
            if flag in new_flags:
                ev.append(BoardFault(kind, now_ns))
        self._status = st

    # --- timers ----------------------------------------------------------------------------
    def handle_timer(self, now_ns: int) -> None:
        if self.state is LinkState.CONNECTING and self.handshake_expired(now_ns):
            self._lose("the safety MCU did not answer HELLO within "
                       f"{self.p.handshake_timeout_ms:g} ms", now_ns)
        if self.state is LinkState.LOST and MsgType.HELLO not in self._pending:
            # Reconnect: a rebooted MCU needs the handshake again; VERSION brings the link UP.
            self._send(Hello(PROTOCOL_VERSION, HOST_ID), now_ns)
        for pend in list(self._pending.values()):
            if now_ns - pend.sent_ns < self._ack_ns:
                continue
            if pend.resends >= self.p.max_resends and self.state is LinkState.UP:
                self._lose(f"no ACK for {pend.msg.TYPE.name} after {pend.resends} resends",
                           now_ns)
                return
            pend.resends += 1
            pend.sent_ns = now_ns
            self.stats.resends += 1
            self._write(pend.msg, pend.seq)
        if self.state is LinkState.UP and self._last_rx_ns is not None \
                and now_ns - self._last_rx_ns >= self._link_ns:
            self._lose(f"no valid frame for {(now_ns - self._last_rx_ns) // MS} ms", now_ns)

    def handshake_expired(self, now_ns: int) -> bool:
        started = self._started_ns
        return (self.version is None and started is not None
                and now_ns - started >= round(self.p.handshake_timeout_ms * MS))

    def next_deadline_ns(self) -> int | None:
        times = [p.sent_ns + self._ack_ns for p in self._pending.values()]
        if self.state is LinkState.UP and self._last_rx_ns is not None:
            times.append(self._last_rx_ns + self._link_ns)
        return min(times) if times else None

    def take_events(self) -> list[BoardEvent]:
        out, self._events = self._events, []
        return out

    # --- internals -------------------------------------------------------------------------
    def _lose(self, reason: str, now_ns: int) -> None:
        if self.state is LinkState.LOST:
            return
        self.state = LinkState.LOST
        self.lost_reason = reason
        self.stats.link_losses += 1
        self._pending.clear()
        self._events.append(BoardFault(BoardFaultKind.LINK_LOST, now_ns))

    def _send(self, msg: Message, now_ns: int) -> None:
        seq = self._seq
        self._seq = (self._seq + 1) % SEQ_MODULO
        self._pending[msg.TYPE] = _Pending(msg, seq, now_ns)
        self._write(msg, seq)

    def _write(self, msg: Message, seq: int) -> None:
        self._out += encode_frame(msg, seq)
        self.stats.frames_tx += 1


class ByteStream(Protocol):
    """A non-blocking byte stream (the UART, or a pipe in tests)."""

    def fileno(self) -> int: ...

    def read(self) -> bytes:
        """What is available now (b"" if nothing); raises OSError when the line is gone."""
        ...

    def write(self, data: bytes) -> int: ...

    def close(self) -> None: ...


_EOF_ERRNOS = {errno.EIO, errno.EBADF, errno.ENXIO, errno.ENODEV}


class TtyStream:
    """A serial device opened raw, 8N1, non-blocking, with os.open + termios."""

    def __init__(self, device: str, baud: int = DEFAULT_BAUD) -> None:
        speed = getattr(termios, f"B{baud}", None)
        if not isinstance(speed, int):
            raise McuLinkError(f"{device}: unsupported baud rate {baud}")
        try:
            fd = os.open(device, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        except OSError as exc:
            raise McuLinkError(f"{device}: cannot open the MCU UART: {exc.strerror}") from None
        try:
            tty.setraw(fd)
            attrs = termios.tcgetattr(fd)
            attrs[2] = (attrs[2] & ~(termios.CSTOPB | termios.PARENB | termios.CRTSCTS)) \
                | termios.CLOCAL | termios.CREAD | termios.CS8
            attrs[4] = attrs[5] = speed
            termios.tcsetattr(fd, termios.TCSANOW, attrs)
            termios.tcflush(fd, termios.TCIOFLUSH)
        except termios.error as exc:
            os.close(fd)
            raise McuLinkError(f"{device}: not a serial device: {exc}") from None
        self.device = device
        self._fd = fd

    def fileno(self) -> int:
        return self._fd

    def read(self) -> bytes:
        chunks = []
        while True:
            try:
                chunk = os.read(self._fd, 4096)
            except BlockingIOError:
                break
            if not chunk:
                raise OSError(errno.EIO, "end of file on the UART")
            chunks.append(chunk)
        return b"".join(chunks)

    def write(self, data: bytes) -> int:
        try:
            return os.write(self._fd, data)
        except BlockingIOError:
            return 0

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


class McuBoard(Board):
    """`Board` backed by the safety MCU (registry name ``mcu_uart``)."""

    def __init__(self, stream: ByteStream, clock: Callable[[], int], params: McuParams) -> None:
        self._stream = stream
        self._clock = clock
        self.params = params
        self.link = McuLink(params)
        self._last_sample: CpSample | None = None
        self._cp_commanded: tuple[CpMode, int] | None = None
        self._closed = False

    @classmethod
    def from_params(cls, params: Mapping[str, object], *, clock: Callable[[], int]) -> McuBoard:
        """Open the UART named by `params` (see PARAMS) and send HELLO; `wait_ready` or the
        first polls complete the handshake."""
        p = params_from_mapping(params)
        board = cls(TtyStream(p.device, p.baud), clock, p)
        board.start()
        return board

    def fileno(self) -> int:
        return self._stream.fileno()

    def start(self) -> None:
        self.link.start(self._clock())
        self._flush()

    # --- Board port ------------------------------------------------------------------------
    def set_cp_output(self, mode: CpOutputMode, duty_permille: int = 1000) -> None:
        self._cp_commanded = (_CP_MODE[mode],
                              duty_permille if mode is CpOutputMode.PWM else 1000)
        self._command(SetCp(_CP_MODE[mode], duty_permille))

    def allow_power_on(self, allowed: bool) -> None:
        # Both orders chosen so the coils are never requested without permission on the MCU.
        if allowed:
            self._command(AllowPower(True))
            self._command(Contactor(True))
        else:
            self._command(Contactor(False))
            self._command(AllowPower(False))

    def keep_alive(self) -> None:
        self._command(KeepAlive())

    def reset_fault(self) -> None:
        self._command(ResetFault())

    def poll(self, now_ns: int) -> list[BoardEvent]:
        self.service(now_ns)
        out = self.link.take_events()
        status = self.link.status
        # A sample taken under another CP output than the one commanded (the SET_CP is still
        # on its way, or was lost and awaits its resend) would read as a diode fault or a
        # wrong state: the pilot gets samples only once the MCU drives what it asked for.
        if status is not None and self.link.state is LinkState.UP and (
            self._cp_commanded is None
            or (status.cp_mode, status.duty_permille) == self._cp_commanded
        ):
            self._last_sample = CpSample(status.cp_high_mv / 1000, status.cp_low_mv / 1000,
                                         now_ns)
            out.append(self._last_sample)
        return out

    # --- I/O -------------------------------------------------------------------------------
    def service(self, now_ns: int) -> None:
        """Read what arrived, run the link timers, write what is due. Never blocks."""
        if self._closed:
            return
        try:
            data = self._stream.read()
        except OSError as exc:
            self.link.connection_lost(f"UART failed: {exc.strerror or exc}", now_ns)
            self._closed = True
            return
        if data:
            self.link.receive(data, now_ns)
        self.link.handle_timer(now_ns)
        self._flush()

    def wait_ready(self, timeout_ns: int | None = None,
                   wait: Callable[[int, float], None] | None = None) -> Version:
        """Block until VERSION arrives (start-up only): `wait(fd, seconds)` waits for input
        (select); raises McuLinkError naming the device when it stays silent."""
        import select

        def _select(fd: int, seconds: float) -> None:
            select.select([fd], [], [], seconds)

        waiter = wait or _select
        start = self._clock()
        limit = timeout_ns if timeout_ns is not None \
            else round(self.params.handshake_timeout_ms * MS)
        while True:
            now = self._clock()
            self.service(now)
            version = self.link.version
            if version is not None:
                if version.watchdog_timeout_ms > self.params.max_watchdog_timeout_ms:
                    raise McuLinkError(
                        f"{self.params.device}: the safety MCU's watchdog is "
                        f"{version.watchdog_timeout_ms} ms ({version.firmware_id}), longer "
                        f"than board.max_watchdog_timeout_ms "
                        f"{self.params.max_watchdog_timeout_ms:g} ms")
                return version
            if self.link.state is LinkState.LOST or self._closed:
                raise McuLinkError(f"{self.params.device}: {self.link.lost_reason}")
            if now - start >= limit:
                raise McuLinkError(
                    f"{self.params.device}: the safety MCU did not answer HELLO within "
                    f"{limit // MS} ms")
            nxt = self.link.next_deadline_ns()
            wake = start + limit if nxt is None else min(nxt, start + limit)
            waiter(self.fileno(), max(0.0, (wake - now) / 1e9))

    def close(self) -> None:
        self._closed = True
        self._stream.close()

    def _command(self, msg: Message) -> None:
        self.link.command(msg, self._clock())
        self._flush()

    def _flush(self) -> None:
        if self._closed:
            return
        data = self.link.data_to_send()
        if not data:
            return
        try:
            n = self._stream.write(data)
        except OSError as exc:
            self.link.connection_lost(f"UART write failed: {exc.strerror or exc}",
                                      self._clock())
            self._closed = True
            return
        if n < len(data):
            self.link.unsent(data[n:])

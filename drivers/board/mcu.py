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

Link states: the chart fsm_specs/mcu_link.yaml (drawn in docs/charts/mcu_link.svg):
connecting (HELLO sent, resent every ACK_TIMEOUT) -> up (VERSION with our protocol version)
-> lost (no valid frame for t_link_timeout, resends exhausted, another protocol's VERSION,
or the tty gone). Entering lost raises one `BoardFault(LINK_LOST)`; the pilot latches it
(chart state F). While lost the host keeps sending HELLO (and any command, best effort); a
VERSION brings the link back up (the pilot's latch stays until fault_reset). `McuLink`
keeps the bytes and the per-message ACK bookkeeping; `McuLinkHandler` holds the chart's
named callbacks.
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
from pathlib import Path
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
    AckResult,
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
from evse.fsm import Event, Machine, MachineSpec, load_spec
from evse.fsm.engine import TraceSink
from evse.fsm.timers import LocalTimers
from evse.ports.board import (
    RESET_REFUSED_BY_BOARD,
    Board,
    BoardError,
    BoardEvent,
    BoardFault,
    BoardFaultKind,
    ContactorFeedback,
    CpOutputMode,
    CpSample,
    EStopChanged,
    FaultResetAck,
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
    """The link's state as the driver reports it: the `tags` of fsm_specs/mcu_link.yaml
    (the chart decides; this names its states for logs and callers)."""

    CONNECTING = "connecting"
    UP = "up"
    LOST = "lost"


SPEC_PATH = Path(__file__).resolve().parents[2] / "fsm_specs" / "mcu_link.yaml"
_SPEC: list[MachineSpec] = []


def link_spec() -> MachineSpec:
    """fsm_specs/mcu_link.yaml, loaded and validated once per process."""
    if not _SPEC:
        _SPEC.append(load_spec(SPEC_PATH))
    return _SPEC[0]


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
    """Sans-IO host side of the MCU protocol: bytes, sequence numbers, the per-message ACK
    bookkeeping and the STATUS-to-event translation. The link's sequencing (connecting, up,
    lost; handshake and link-loss timers; what exhausted resends mean) is the chart
    fsm_specs/mcu_link.yaml, run with `McuLinkHandler`'s callbacks."""

    def __init__(self, params: McuParams, *, trace: TraceSink | None = None) -> None:
        self.p = params
        self._ack_ns = round(params.ack_timeout_ms * MS)
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
        self._status: Status | None = None
        self._events: list[BoardEvent] = []
        self._timers = LocalTimers()
        self._started = False
        self.handler = McuLinkHandler(self)
        self.machine = Machine(
            link_spec(), self.handler, timers=self._timers, trace=trace, name="mcu_link",
            param_overrides={"t_handshake": params.handshake_timeout_ms / 1000,
                             "t_link_timeout": params.link_timeout_ms / 1000},
        )
        spec = self.machine.spec
        self._state_of = {s.path: LinkState(spec.tags_of(s.path)[-1])
                          for s in spec.iter_states() if not s.children}

    @property
    def state(self) -> LinkState:
        """From the chart's active state, via its `tags`."""
        return self._state_of[self.machine.state]

    # --- host API --------------------------------------------------------------------------
    def start(self, now_ns: int) -> None:
        """Enter the chart's initial state (HELLO goes out)."""
        self._timers.now_ns = now_ns
        self._started = True
        self.machine.start(now_ns)

    def command(self, msg: Message, now_ns: int) -> None:
        """Issue a command; the chart says whether it goes out now or waits for VERSION."""
        if not self._started:
            self._queued[msg.TYPE] = msg
            return
        self._dispatch("command", msg, now_ns)

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
            self._dispatch("frame", msg, now_ns)
            event = _EVENT_OF.get(type(msg))
            # Host-to-MCU message types arriving here are ignored: the MCU never sends them.
            if event is not None:
                self._dispatch(event, msg, now_ns)

    def connection_lost(self, reason: str, now_ns: int) -> None:
        """The transport failed (tty closed, EIO): the link is lost at once."""
        self._dispatch("transport_lost", reason, now_ns)

    # --- timers ----------------------------------------------------------------------------
    def handle_timer(self, now_ns: int) -> None:
        for pend in list(self._pending.values()):
            if self._pending.get(pend.msg.TYPE) is not pend \
                    or now_ns - pend.sent_ns < self._ack_ns:
                continue
            if pend.resends >= self.p.max_resends:
                self._dispatch("resends_exhausted", pend, now_ns)
            else:
                self.resend(pend, now_ns)
        self._timers.now_ns = max(self._timers.now_ns, now_ns)
        self._timers.fire_due(now_ns)

    def next_deadline_ns(self) -> int | None:
        times = [p.sent_ns + self._ack_ns for p in self._pending.values()]
        chart = self._timers.next_deadline_ns()
        if chart is not None:
            times.append(chart)
        return min(times) if times else None

    def take_events(self) -> list[BoardEvent]:
        out, self._events = self._events, []
        return out

    # --- used by the chart's callbacks -----------------------------------------------------
    def send(self, msg: Message, now_ns: int) -> None:
        seq = self._seq
        self._seq = (self._seq + 1) % SEQ_MODULO
        self._pending[msg.TYPE] = _Pending(msg, seq, now_ns)
        self._write(msg, seq)

    def resend(self, pend: _Pending, now_ns: int) -> None:
        """The same frame again, with the same sequence number (a duplicate is harmless:
        commands are absolute states)."""
        pend.resends += 1
        pend.sent_ns = now_ns
        self.stats.resends += 1
        self._write(pend.msg, pend.seq)

    def publish_status(self, st: Status, now_ns: int) -> None:
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

    # --- internals -------------------------------------------------------------------------
    def _dispatch(self, name: str, data: object, now_ns: int) -> None:
        self._timers.now_ns = max(self._timers.now_ns, now_ns)
        self.machine.dispatch(Event(name, data, now_ns), now_ns)

    def _write(self, msg: Message, seq: int) -> None:
        self._out += encode_frame(msg, seq)
        self.stats.frames_tx += 1


class McuLinkHandler:
    """Named callbacks of fsm_specs/mcu_link.yaml (public methods are exactly the chart's
    actions and guards; tests/test_evse_cli.py checks the set)."""

    def __init__(self, link: McuLink) -> None:
        self._link = link

    def _now(self) -> int:
        return self._link.machine.now_ns

    # ---- guards
    def version_matches(self, ev: Event) -> bool:
        assert isinstance(ev.data, Version)
        return ev.data.protocol_version == PROTOCOL_VERSION

    def is_reset_fault(self, ev: Event) -> bool:
        return isinstance(ev.data, ResetFault)

    # ---- handshake
    def send_hello(self, ev: Event) -> None:
        self._link.send(Hello(PROTOCOL_VERSION, HOST_ID), self._now())

    def accept_version(self, ev: Event) -> None:
        assert isinstance(ev.data, Version)
        self._link._pending.pop(MsgType.HELLO, None)
        self._link.version = ev.data

    def refuse_version(self, ev: Event) -> None:
        msg = ev.data
        assert isinstance(msg, Version)
        link = self._link
        link._pending.pop(MsgType.HELLO, None)
        link.version = None
        link.lost_reason = (f"MCU speaks protocol {msg.protocol_version}, we speak "
                            f"{PROTOCOL_VERSION} ({msg.firmware_id})")

    def forget_version(self, ev: Event) -> None:
        """Another protocol's VERSION while lost: the link stays lost, with its reason."""
        self._link._pending.pop(MsgType.HELLO, None)
        self._link.version = None

    # ---- commands
    def queue_command(self, ev: Event) -> None:
        msg: Message = ev.data
        self._link._queued[msg.TYPE] = msg

    def send_command(self, ev: Event) -> None:
        self._link.send(ev.data, self._now())

    def send_held_commands(self, ev: Event) -> None:
        """Queued (before the first handshake) and still unacknowledged (sent while lost)
        commands go out afresh, with new sequence numbers and a full resend budget."""
        link = self._link
        # (accept_version, the transition's action, already settled HELLO.)
        again: dict[MsgType, Message] = {t: p.msg for t, p in link._pending.items()}
        again.update(link._queued)
        link._queued = {}
        link._pending.clear()
        for m in again.values():
            link.send(m, self._now())

    def settle_ack(self, ev: Event) -> None:
        """An ACK settles the message it names; the ACK of RESET_FAULT is the board's
        answer to the operator's reset (`FaultResetAck`)."""
        ack = ev.data
        assert isinstance(ack, Ack)
        link = self._link
        for mtype, pend in list(link._pending.items()):
            if pend.seq == ack.acked_seq:
                del link._pending[mtype]
                if isinstance(pend.msg, ResetFault):
                    ok = ack.result is AckResult.OK
                    link._events.append(FaultResetAck(
                        ok, self._now(), "" if ok else RESET_REFUSED_BY_BOARD))

    def count_mcu_error(self, ev: Event) -> None:
        assert isinstance(ev.data, Error)
        errs = self._link.stats.mcu_errors
        errs[ev.data.code.name] = errs.get(ev.data.code.name, 0) + 1

    def resend_again(self, ev: Event) -> None:
        """Not up: HELLO and best-effort commands are resent without limit."""
        assert isinstance(ev.data, _Pending)
        self._link.resend(ev.data, self._now())

    def publish_status(self, ev: Event) -> None:
        assert isinstance(ev.data, Status)
        self._link.publish_status(ev.data, self._now())

    # ---- loss
    def note_handshake_timeout(self, ev: Event) -> None:
        self._link.lost_reason = ("the safety MCU did not answer HELLO within "
                                  f"{self._link.p.handshake_timeout_ms:g} ms")

    def note_silence(self, ev: Event) -> None:
        last = self._link._last_rx_ns
        quiet = self._now() - last if last is not None else 0
        self._link.lost_reason = f"no valid frame for {quiet // MS} ms"

    def note_no_ack(self, ev: Event) -> None:
        assert isinstance(ev.data, _Pending)
        self._link.lost_reason = (f"no ACK for {ev.data.msg.TYPE.name} after "
                                  f"{ev.data.resends} resends")

    def note_transport_lost(self, ev: Event) -> None:
        self._link.lost_reason = str(ev.data)

    def report_link_lost(self, ev: Event) -> None:
        link = self._link
        link.stats.link_losses += 1
        link._events.append(BoardFault(BoardFaultKind.LINK_LOST, self._now()))

    def drop_pending(self, ev: Event) -> None:
        self._link._pending.clear()

    # ---- the operator's fault reset without an MCU to answer it
    # Only the MCU may clear its interlock (hardware.md §4.6), so a reset it cannot
    # acknowledge is refused, with the reason, at once: the operator is told, the pilot
    # stays in F, and nothing waits for an answer that cannot come.
    def refuse_reset_not_up(self, ev: Event) -> None:
        self._link._events.append(FaultResetAck(
            False, self._now(), "the safety MCU link is not up yet (no VERSION answer)"))

    def refuse_reset_lost(self, ev: Event) -> None:
        self._link._events.append(FaultResetAck(
            False, self._now(), f"the safety MCU link is lost ({self._link.lost_reason})"))

    def refuse_pending_reset(self, ev: Event) -> None:
        """Entering lost with a RESET_FAULT still unacknowledged: it is answered no."""
        if any(isinstance(p.msg, ResetFault) for p in self._link._pending.values()):
            self._link._events.append(FaultResetAck(
                False, self._now(), "the safety MCU link was lost before it answered the "
                f"reset ({self._link.lost_reason})"))


#: Which chart event each MCU-to-host message is.
_EVENT_OF: dict[type, str] = {Version: "version", Status: "status", Ack: "ack",
                              Error: "mcu_error"}


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

    def reset_fault(self) -> bool:
        """RESET_FAULT to the MCU (hardware.md §4.5: phyVERSO/Yeti `reset`); done only when
        the MCU acknowledges it: `poll` then returns `FaultResetAck` (accepted unless the
        ACK says REFUSED). Resent like every command; a lost link drops it unanswered."""
        self._command(ResetFault())
        return False

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

"""The safety MCU, simulated: the firmware's side of `drivers.board.mcu_protocol` on top of
`drivers.board.sim.SimBoard`'s physics (virtual EV, interlocks, contactor delays, welding,
e-stop cut, keep-alive watchdog), speaking the same bytes over a pty.

`McuSimulator` is sans-IO (bytes in, bytes out, `step(now_ns)`), so tests drive it in virtual
time; `PtyMcu` puts it on the master side of `os.openpty()` and hands the slave's path to the
real driver (`drivers.board.mcu.McuBoard`), which opens it like a UART.

What the simulated firmware does, as a C firmware must:
- answers HELLO with VERSION and, if the versions match, arms the watchdog (else it stays
  unarmed and answers commands with ERROR NOT_READY); a command before HELLO gets ERROR NOT_READY;
- acknowledges every valid host message with ACK(acked_seq); malformed frames get ERROR with
  the ErrorCode, counted in `rx_errors`;
- only KEEPALIVE (and HELLO) feed the watchdog; after MCU_WATCHDOG_TIMEOUT the interlock opens
  the coils by itself (SimBoard.keepalive_timeout_ns);
- sends STATUS every STATUS_PERIOD and at once when a reported value changes.
Fault injection: `drop_rx` frames silently, `corrupt_next_tx` flips a byte of the next
frame, `mute` stops all output (a cut TX line), `close()` removes the device.
"""

from __future__ import annotations

import fcntl
import os
import select
import struct
import termios
import tty
from dataclasses import dataclass, field

from drivers.board.mcu import TtyStream
from drivers.board.mcu_protocol import (
    MCU_WATCHDOG_TIMEOUT,
    PROTOCOL_VERSION,
    SEQ_MODULO,
    STATUS_PERIOD,
    Ack,
    AckResult,
    AllowPower,
    Contactor,
    CpMode,
    Error,
    ErrorCode,
    FaultFlag,
    Hello,
    KeepAlive,
    McuDecodeError,
    Message,
    PpCode,
    ResetFault,
    SetCp,
    Status,
    Version,
    WatchdogState,
    cobs_decode,
    decode_frame,
    encode_frame,
    peek_seq,
)
from drivers.board.sim import SimBoard
from evse.ports.board import CpOutputMode, CpSample, PpState

MS = 1_000_000
FIRMWARE_ID = "evse-mcu-sim 1"

_CP_OUT = {CpMode.X1: CpOutputMode.X1, CpMode.PWM: CpOutputMode.PWM, CpMode.F: CpOutputMode.F}
_CP_MODE = {v: k for k, v in _CP_OUT.items()}
_PP_CODE = {
    PpState.UNKNOWN: PpCode.UNKNOWN,
    PpState.DISCONNECTED: PpCode.DISCONNECTED,
    PpState.CONNECTED: PpCode.CONNECTED,
    PpState.FAULT: PpCode.FAULT,
}
#: PP-PE of a CCS2 (Combo 2) DC plug: 1.5 kOhm "plug present" (hardware.md §4.4).
CCS2_PP_OHM = 1500


@dataclass
class SimStats:
    frames_rx: int = 0
    frames_tx: int = 0
    rx_errors: dict[str, int] = field(default_factory=dict)


class McuSimulator:
    """Firmware behaviour over a SimBoard; `board` is the virtual world tests act on."""

    def __init__(self, board: SimBoard, *, protocol_version: int = PROTOCOL_VERSION,
                 status_period_ns: int = STATUS_PERIOD.value_ns,
                 firmware_id: str = FIRMWARE_ID) -> None:
        self.board = board
        self.protocol_version = protocol_version
        self.status_period_ns = status_period_ns
        self.firmware_id = firmware_id
        self.stats = SimStats()
        self.armed = False
        self.allow = False
        self.close_request = False
        self.resets = 0
        #: Tests: answer RESET_FAULT with ACK REFUSED (a firmware whose fault is still active).
        self.refuse_reset = False
        self.drop_rx = 0
        self.corrupt_next_tx = False
        self.mute = False
        #: Every host message applied, in order (for tests).
        self.applied: list[tuple[int, Message]] = []
        self._buf = bytearray()
        self._out = bytearray()
        self._seq = 0
        self._last_status_ns: int | None = None
        self._last_reported: tuple[object, ...] | None = None
        self._sample: CpSample | None = None

    # --- bytes in --------------------------------------------------------------------------
    def receive(self, data: bytes, now_ns: int) -> None:
        for b in data:
            if b != 0:
                self._buf.append(b)
                continue
            frame = bytes(self._buf)
            self._buf.clear()
            if frame:
                self._frame(frame, now_ns)

    def _frame(self, frame: bytes, now_ns: int) -> None:
        if self.drop_rx > 0:
            self.drop_rx -= 1
            return
        try:
            msg, seq = decode_frame(frame)
        except McuDecodeError as exc:
            name = exc.code.name
            self.stats.rx_errors[name] = self.stats.rx_errors.get(name, 0) + 1
            bad_seq = None
            if exc.code not in (ErrorCode.COBS, ErrorCode.CRC, ErrorCode.TOO_LONG):
                bad_seq = peek_seq(cobs_decode(frame)[:-2])
            self._send(Error(exc.code, bad_seq))
            return
        self.stats.frames_rx += 1
        if isinstance(msg, Hello):
            # VERSION always answers, so the host can name what it found; a firmware that
            # does not speak the host's version stays unarmed (contactors held open).
            self._send(Version(self.protocol_version, self.firmware_id,
                               MCU_WATCHDOG_TIMEOUT.value_ns // MS))
            if msg.protocol_version == self.protocol_version:
                self.armed = True
                self.board.keep_alive()
                self._last_reported = None  # a fresh host gets a STATUS at once
            return
        if not self.armed:
            self._send(Error(ErrorCode.NOT_READY, seq))
            return
        if isinstance(msg, ResetFault) and self.refuse_reset:
            self._send(Ack(seq, AckResult.REFUSED))
            return
        self._apply(msg, now_ns)
        self.applied.append((now_ns, msg))
        self._send(Ack(seq, AckResult.OK))

    def _apply(self, msg: Message, now_ns: int) -> None:
        b = self.board
        if isinstance(msg, KeepAlive):
            b.keep_alive()
        elif isinstance(msg, SetCp):
            b.set_cp_output(_CP_OUT[msg.mode], msg.duty_permille)
        elif isinstance(msg, AllowPower):
            self.allow = msg.allowed
        elif isinstance(msg, Contactor):
            self.close_request = msg.close
        elif isinstance(msg, ResetFault):
            # The simulated firmware latches nothing: its only flag (keep-alive timeout)
            # clears with the next KEEPALIVE, as SimBoard models it.
            self.resets += 1
        b.allow_power_on(self.allow and self.close_request)

    # --- time ------------------------------------------------------------------------------
    def step(self, now_ns: int) -> None:
        """Run the physics to `now_ns` and queue a STATUS when due or changed."""
        for item in self.board.poll(now_ns):
            if isinstance(item, CpSample):
                self._sample = item
        if not self.armed:
            return
        st = self._status(now_ns)
        # The EV's CP state is what a firmware classifies on every PWM period: a change is
        # reported at once, not at the next period.
        key = (self.board.ev_state, st.cp_mode, st.duty_permille, st.pp_state,
               st.contactor_closed, st.coil_on, st.estop, st.fault_flags, st.watchdog)
        due = self._last_status_ns is None or \
            now_ns - self._last_status_ns >= self.status_period_ns
        if due or key != self._last_reported:
            self._last_status_ns = now_ns
            self._last_reported = key
            self._send(st)

    def _active_flags(self) -> FaultFlag:
        flags = FaultFlag(0)
        if self.board.keepalive_lost:
            flags |= FaultFlag.KEEPALIVE_TIMEOUT
        return flags

    def _status(self, now_ns: int) -> Status:
        b = self.board
        s = self._sample
        high_mv = round(s.high_v * 1000) if s is not None else 0
        low_mv = round(s.low_v * 1000) if s is not None else 0
        wd = WatchdogState.EXPIRED if b.keepalive_lost else WatchdogState.FED
        pp = _PP_CODE[b.pp]
        return Status(
            cp_high_mv=high_mv, cp_low_mv=low_mv, pp_state=pp,
            pp_ohm=CCS2_PP_OHM if pp is PpCode.CONNECTED else None,
            contactor_closed=b.contact_closed, coil_on=b.coil_on, estop=b.estop,
            fault_flags=int(self._active_flags()), watchdog=wd,
            mcu_time_ms=(now_ns // MS) & 0xFFFF_FFFF,
            cp_mode=_CP_MODE[b.output],
            duty_permille=b.duty_permille if b.output is CpOutputMode.PWM else 1000,
        )

    def next_deadline_ns(self) -> int | None:
        if not self.armed or self._last_status_ns is None:
            return None
        return self._last_status_ns + self.status_period_ns

    # --- bytes out -------------------------------------------------------------------------
    def _send(self, msg: Message) -> None:
        frame = bytearray(encode_frame(msg, self._seq))
        self._seq = (self._seq + 1) % SEQ_MODULO
        if self.corrupt_next_tx:
            self.corrupt_next_tx = False
            frame[len(frame) // 2] ^= 0x20 if frame[len(frame) // 2] != 0x20 else 0x21
        self.stats.frames_tx += 1
        if not self.mute:
            self._out += frame

    def data_to_send(self) -> bytes:
        out = bytes(self._out)
        self._out.clear()
        return out


#: How long a synchronised write waits for the kernel to deliver it (pty bytes go through a
#: kernel work queue, so they are readable on the other side a little later).
DELIVERY_WAIT_S = 0.2
_POLL_S = 0.0005
_YIELDS = 200
#: N_TTY's read buffer is 4096 bytes; past about this much a non-reading side takes no more.
_TTY_BUFFER_FULL = 3900


def _unread(fd: int) -> int:
    buf = fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0")
    return int(struct.unpack("i", buf)[0])


def _wait_delivered(watch_fd: int, target: int) -> None:
    """Wait (bounded) until `watch_fd` has `target` unread bytes. In virtual time this keeps
    a run deterministic: what one side wrote in a tick is readable by the other in that tick,
    however loaded the machine is."""
    goal = min(target, _TTY_BUFFER_FULL)
    # The kernel worker that moves the bytes usually runs as soon as we yield the CPU.
    for _ in range(_YIELDS):
        # A reader that does not read (a hung host) fills the line discipline's buffer;
        # then nothing more arrives, as with an overrun UART, and there is nothing to wait for.
        if _unread(watch_fd) >= goal:
            return
        os.sched_yield()
    for _ in range(int(DELIVERY_WAIT_S / _POLL_S)):
        if _unread(watch_fd) >= goal:
            return
        select.select([], [], [], _POLL_S)


class _SyncedTty(TtyStream):
    """The host end of a PtyMcu whose writes return once the firmware side can read them."""

    def __init__(self, device: str, master: int, baud: int) -> None:
        super().__init__(device, baud)
        self._master = master

    def write(self, data: bytes) -> int:
        before = _unread(self._master)
        n = super().write(data)
        if n:
            _wait_delivered(self._master, before + n)
        return n


class PtyMcu:
    """The simulator on a pseudo-terminal: the driver opens `device` like the real UART."""

    def __init__(self, sim: McuSimulator | None = None) -> None:
        #: May be set after the device exists (the host driver opens it before the world
        #: whose board the firmware runs on is built).
        self.sim = sim
        self.master, self._slave = os.openpty()
        tty.setraw(self.master)
        tty.setraw(self._slave)
        os.set_blocking(self.master, False)
        self.device = os.ttyname(self._slave)
        self.closed = False
        self.overrun_bytes = 0
        #: Wait for each write to reach the other side (virtual-time tests; see
        #: `_wait_delivered`). Costs microseconds on an idle machine.
        self.synchronous = True

    def open_host(self, baud: int = 115200) -> TtyStream:
        """The host's end, opened like the real UART, with writes synchronised like ours."""
        return _SyncedTty(self.device, self.master, baud)

    def service(self, now_ns: int) -> None:
        """Read what the host wrote, step the firmware, write what it sends. Never blocks."""
        if self.closed or self.sim is None:
            return
        while True:
            try:
                data = os.read(self.master, 4096)
            except (BlockingIOError, OSError):
                break
            if not data:
                break
            self.sim.receive(data, now_ns)
        self.sim.step(now_ns)
        out = self.sim.data_to_send()
        if out:
            # A UART has no back-pressure: what a host that is not reading cannot take is
            # lost (overrun), exactly as on the wire.
            before = _unread(self._slave) if self.synchronous else 0
            try:
                n = os.write(self.master, out)
            except BlockingIOError:
                n = 0
            self.overrun_bytes += len(out) - n
            if n and self.synchronous:
                _wait_delivered(self._slave, before + n)

    def close(self) -> None:
        """Remove the device: the host's reads end (EIO) at once."""
        if not self.closed:
            self.closed = True
            os.close(self.master)
            os.close(self._slave)

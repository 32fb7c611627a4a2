"""Byte links for Modbus RTU: the abstract shape, an in-memory pair, and a termios serial port.

The RTU drivers are sans-IO on the one codec (drivers/modbus/rtu.py), so the only I/O is
`write` and a non-blocking `read` on one of these.
"""

from __future__ import annotations

import abc
import contextlib
import os
import termios


class ByteLink(abc.ABC):
    @abc.abstractmethod
    def write(self, data: bytes) -> None: ...

    @abc.abstractmethod
    def read(self) -> bytes:
        """Whatever arrived since the last call; b"" when nothing did. Never blocks."""


class _PipeEnd(ByteLink):
    def __init__(self) -> None:
        self.peer: _PipeEnd | None = None
        self._rx = bytearray()

    def write(self, data: bytes) -> None:
        assert self.peer is not None
        self.peer._rx += data

    def read(self) -> bytes:
        data, self._rx = bytes(self._rx), bytearray()
        return data


def pipe_pair() -> tuple[ByteLink, ByteLink]:
    """Two connected ends: what one writes, the other reads."""
    a, b = _PipeEnd(), _PipeEnd()
    a.peer, b.peer = b, a
    return a, b


#: isoCHA425HV factory serial settings: 19200 baud, 8 data bits, even parity, 1 stop (§2.1).
ISOCHA_BAUD = termios.B19200
#: Line speeds a Modbus RTU config may name (bit/s).
SERIAL_BAUDS = (9600, 19200, 38400, 57600, 115200)


class SerialLinkError(OSError):
    """The RS-485 device is missing or not a tty (the message names it)."""


def termios_speed(baud: int) -> int:
    speed = getattr(termios, f"B{baud}", None)
    if not isinstance(speed, int):
        raise SerialLinkError(f"unsupported baud rate {baud}")
    return speed


class SerialPortLink(ByteLink):
    """RS-485 adapter as a tty in non-blocking raw mode, 8E1. `baud` is a termios constant
    (ISOCHA_BAUD) or, from a config, bit/s (19200)."""

    def __init__(self, path: str, baud: int = ISOCHA_BAUD) -> None:
        if baud in SERIAL_BAUDS:
            baud = termios_speed(baud)
        try:
            self._fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        except OSError as exc:
            raise SerialLinkError(f"{path}: cannot open the RS-485 device: "
                                  f"{exc.strerror}") from None
        self.path = path
        try:
            attrs = termios.tcgetattr(self._fd)
        except termios.error as exc:
            os.close(self._fd)
            raise SerialLinkError(f"{path}: not a serial device: {exc}") from None
        attrs[0] = 0  # iflag: raw
        attrs[1] = 0  # oflag: raw
        attrs[2] = termios.CS8 | termios.PARENB | termios.CREAD | termios.CLOCAL  # 8E1
        attrs[3] = 0  # lflag: raw
        attrs[4] = attrs[5] = baud
        termios.tcsetattr(self._fd, termios.TCSANOW, attrs)

    def write(self, data: bytes) -> None:
        # A full TX buffer loses the request: the driver's response timeout counts it.
        with contextlib.suppress(BlockingIOError):
            os.write(self._fd, data)

    def read(self) -> bytes:
        try:
            return os.read(self._fd, 256)
        except BlockingIOError:
            return b""

    def fileno(self) -> int:
        return self._fd

    def close(self) -> None:
        os.close(self._fd)


class PtyDeviceLink(ByteLink):
    """The device end of a pseudo-terminal: a simulated Modbus slave answers here and the
    real driver opens `device` (the pty's slave path) like an RS-485 adapter."""

    def __init__(self) -> None:
        import tty

        self.master, self._slave = os.openpty()
        tty.setraw(self.master)
        os.set_blocking(self.master, False)
        self.device = os.ttyname(self._slave)
        #: Fault injection: XOR the next reply's last byte (a CRC error on the wire).
        self.corrupt_next = 0

    def write(self, data: bytes) -> None:
        if self.corrupt_next and data:
            self.corrupt_next -= 1
            data = data[:-1] + bytes([data[-1] ^ 0x5A])
        os.write(self.master, data)

    def read(self) -> bytes:
        try:
            return os.read(self.master, 256)
        except (BlockingIOError, OSError):
            return b""

    def close(self) -> None:
        os.close(self.master)
        os.close(self._slave)

"""Byte links for Modbus RTU: the abstract shape, an in-memory pair, and a termios serial port.

The Modbus backend is sans-IO on top of pymodbus' RTU framer, so the only I/O is `write` and a
non-blocking `read` on one of these.
"""

from __future__ import annotations

import abc
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


class SerialPortLink(ByteLink):
    """RS-485 adapter as a tty in non-blocking raw mode, 8E1."""

    def __init__(self, path: str, baud: int = ISOCHA_BAUD) -> None:
        self._fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        attrs = termios.tcgetattr(self._fd)
        attrs[0] = 0  # iflag: raw
        attrs[1] = 0  # oflag: raw
        attrs[2] = termios.CS8 | termios.PARENB | termios.CREAD | termios.CLOCAL  # 8E1
        attrs[3] = 0  # lflag: raw
        attrs[4] = attrs[5] = baud
        termios.tcsetattr(self._fd, termios.TCSANOW, attrs)

    def write(self, data: bytes) -> None:
        os.write(self._fd, data)

    def read(self) -> bytes:
        try:
            return os.read(self._fd, 256)
        except BlockingIOError:
            return b""

    def close(self) -> None:
        os.close(self._fd)

"""Stream adapter: runs the sans-IO `StreamLink` over a Unix socket, TCP or a UART.

The only module of the contract that touches sockets, file descriptors or blocks. It
owns one transport at a time, (re)connects with a bounded backoff, feeds received bytes
and the injected clock to the core, writes what the core wants sent, and closes the
transport when the core declares the link down. Everything protocol-related (hello,
heartbeats, acks, retransmission, validation) stays in evse.contract.link.

Use from the station's single thread (not thread-safe):

    link = ContractLinkAdapter.unix_client("/run/evse/contract.sock", Role.CONTROLLER,
                                           now_ns=clock.now_ns)
    ...
    link.service(timeout_s=0.0)            # each scheduler tick: non-blocking I/O
    for event in link.poll(clock.now_ns()):  # ContractPort API, as the in-process link
        ...
    link.publish(value, clock.now_ns())

`service(timeout_s)` blocks at most `timeout_s` (select on the transport), so a process
with nothing else to do can wait on it instead of sleeping. Reads and writes are
non-blocking (unsent bytes wait in a bounded buffer, flushed when the socket is
writable); the only blocking call is the controller's dial, bounded by
CONNECT_TIMEOUT_S, and the PLC side listens, so the PLC never blocks on the link.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import selectors
import socket
import termios
import tty
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from evse.contract.definition import DEFINITION
from evse.contract.errors import ContractUsageError
from evse.contract.events import ContractPort, PortEvent
from evse.contract.link import LinkCounters, LinkState, StreamLink
from evse.contract.values import Role, SignalValue

RECONNECT_BACKOFF_MIN_NS = DEFINITION.bound_ns("reconnect_backoff_min")
RECONNECT_BACKOFF_MAX_NS = DEFINITION.bound_ns("reconnect_backoff_max")
CONNECT_TIMEOUT_S = DEFINITION.bounds["link_connect_timeout"].seconds
# Bytes the peer has not read yet; beyond this it has stopped reading: drop and reconnect
# (a full unacked window of 1024 frames is about 130 KiB). Writes never block.
MAX_OUTBOUND_BYTES = 4 * 1024 * 1024
RECV_CHUNK_BYTES = 65536
_NS_PER_S = 1_000_000_000


def new_instance_id() -> int:
    """Random id of this process's life; a changed id tells the peer we restarted."""
    return secrets.randbits(62) + 1


class _Transport(Protocol):
    def fileno(self) -> int: ...

    def recv(self, size: int) -> bytes: ...

    def send(self, data: bytes | bytearray) -> int: ...

    def close(self) -> None: ...


class _FdTransport:
    """A UART (or pty) file descriptor with the socket-like calls the adapter uses."""

    def __init__(self, fd: int) -> None:
        self._fd = fd

    def fileno(self) -> int:
        return self._fd

    def recv(self, size: int) -> bytes:
        try:
            return os.read(self._fd, size)
        except BlockingIOError:
            return b""  # nothing yet; a UART never signals end-of-stream

    def send(self, data: bytes | bytearray) -> int:
        try:
            return os.write(self._fd, data)
        except BlockingIOError:
            return 0

    def close(self) -> None:
        os.close(self._fd)


class _Connector(Protocol):
    """How a transport is obtained: dial, accept, or open a device."""

    persistent: bool  # True for a UART: the transport is never "closed" by the peer

    def listen_fileno(self) -> int | None: ...

    def connect(self) -> _Transport | None: ...

    def accept(self) -> _Transport | None: ...

    def close(self) -> None: ...


class _SocketClient:
    persistent = False

    def __init__(self, family: socket.AddressFamily, address: str | tuple[str, int]) -> None:
        self._family = family
        self._address = address

    def listen_fileno(self) -> int | None:
        return None

    def connect(self) -> _Transport | None:
        sock = socket.socket(self._family, socket.SOCK_STREAM)
        sock.settimeout(CONNECT_TIMEOUT_S)
        try:
            sock.connect(self._address)
        except OSError:
            sock.close()
            return None
        sock.setblocking(False)
        if self._family != socket.AF_UNIX:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    def accept(self) -> _Transport | None:
        return None

    def close(self) -> None:
        return None


class _SocketServer:
    persistent = False

    def __init__(self, family: socket.AddressFamily, address: str | tuple[str, int]) -> None:
        self._family = family
        self._listener = socket.socket(family, socket.SOCK_STREAM)
        if family == socket.AF_UNIX:
            path = Path(str(address))
            with contextlib.suppress(FileNotFoundError):
                path.unlink()  # a stale socket file from a previous run
        else:
            self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(address)
        self._listener.listen(1)
        self.address = self._listener.getsockname()

    def listen_fileno(self) -> int | None:
        return self._listener.fileno()

    def connect(self) -> _Transport | None:
        return None

    def accept(self) -> _Transport | None:
        try:
            sock, _ = self._listener.accept()
        except OSError:
            return None
        sock.setblocking(False)
        if self._family != socket.AF_UNIX:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    def close(self) -> None:
        self._listener.close()


class _SerialDevice:
    persistent = True

    def __init__(self, path: str, baudrate: int) -> None:
        self._path = path
        self._baudrate = baudrate
        self._opened = False

    def listen_fileno(self) -> int | None:
        return None

    def connect(self) -> _Transport | None:
        if self._opened:
            return None
        try:
            fd = os.open(self._path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        except OSError:
            return None
        if os.isatty(fd):
            tty.setraw(fd)
            speed = getattr(termios, f"B{self._baudrate}", None)
            if speed is not None:
                attrs = termios.tcgetattr(fd)
                attrs[4] = attrs[5] = speed
                termios.tcsetattr(fd, termios.TCSANOW, attrs)
        self._opened = True
        return _FdTransport(fd)

    def accept(self) -> _Transport | None:
        return None

    def close(self) -> None:
        return None


class _OpenFd:
    """An already-open byte stream (e.g. a pty master, or a UART opened by the caller)."""

    persistent = True

    def __init__(self, fd: int) -> None:
        os.set_blocking(fd, False)
        self._fd: int | None = fd

    def listen_fileno(self) -> int | None:
        return None

    def connect(self) -> _Transport | None:
        fd, self._fd = self._fd, None
        return _FdTransport(fd) if fd is not None else None

    def accept(self) -> _Transport | None:
        return None

    def close(self) -> None:
        return None


class ContractLinkAdapter:
    """A `ContractPort` over a byte stream; reconnects forever until closed."""

    def __init__(
        self,
        link: StreamLink,
        connector: _Connector,
        now_ns: Callable[[], int],
    ) -> None:
        self.link = link
        self._connector = connector
        self._now_ns = now_ns
        self._transport: _Transport | None = None
        self._selector = selectors.DefaultSelector()
        self._out = bytearray()
        self._registered_events = 0
        listen_fd = connector.listen_fileno()
        if listen_fd is not None:
            self._selector.register(listen_fd, selectors.EVENT_READ, "listen")
        self._retry_at_ns = 0
        self._backoff_ns = RECONNECT_BACKOFF_MIN_NS
        self._closed = False

    # ----------------------------------------------------------------- constructors

    @classmethod
    def unix_client(cls, path: str | Path, role: Role, *, now_ns: Callable[[], int],
                    instance_id: int | None = None) -> ContractLinkAdapter:
        return cls(StreamLink(role, instance_id or new_instance_id()),
                   _SocketClient(socket.AF_UNIX, str(path)), now_ns)

    @classmethod
    def unix_server(cls, path: str | Path, role: Role, *, now_ns: Callable[[], int],
                    instance_id: int | None = None) -> ContractLinkAdapter:
        return cls(StreamLink(role, instance_id or new_instance_id()),
                   _SocketServer(socket.AF_UNIX, str(path)), now_ns)

    @classmethod
    def tcp_client(cls, host: str, port: int, role: Role, *, now_ns: Callable[[], int],
                   instance_id: int | None = None) -> ContractLinkAdapter:
        return cls(StreamLink(role, instance_id or new_instance_id()),
                   _SocketClient(socket.AF_INET, (host, port)), now_ns)

    @classmethod
    def tcp_server(cls, host: str, port: int, role: Role, *, now_ns: Callable[[], int],
                   instance_id: int | None = None) -> ContractLinkAdapter:
        return cls(StreamLink(role, instance_id or new_instance_id()),
                   _SocketServer(socket.AF_INET, (host, port)), now_ns)

    @classmethod
    def serial(cls, device: str, role: Role, *, now_ns: Callable[[], int],
               baudrate: int = 115200, instance_id: int | None = None) -> ContractLinkAdapter:
        return cls(StreamLink(role, instance_id or new_instance_id()),
                   _SerialDevice(device, baudrate), now_ns)

    @classmethod
    def over_fd(cls, fd: int, role: Role, *, now_ns: Callable[[], int],
                instance_id: int | None = None) -> ContractLinkAdapter:
        """Use a byte-stream descriptor the caller opened (UART set up elsewhere, pty)."""
        return cls(StreamLink(role, instance_id or new_instance_id()), _OpenFd(fd), now_ns)

    # ----------------------------------------------------------------- ContractPort

    @property
    def role(self) -> Role:
        return self.link.role

    @property
    def counters(self) -> LinkCounters:
        return self.link.counters

    @property
    def connected(self) -> bool:
        return self._transport is not None

    @property
    def server_address(self) -> object:
        """Bound address of a server (e.g. the TCP port picked for port 0)."""
        return getattr(self._connector, "address", None)

    def fileno(self) -> int:
        """One descriptor that stays valid across reconnects (the internal selector's), for
        `RealtimeRunner.add_reader(link.fileno(), lambda now_ns: link.service(0.0))`.
        Timers still need `service()` at `next_deadline_ns()` (heartbeats, retransmits)."""
        return self._selector.fileno()

    def publish(self, value: SignalValue, now_ns: int) -> None:
        self.link.publish(value, now_ns)

    def poll(self, now_ns: int) -> list[PortEvent]:
        return self.link.poll(now_ns)

    def next_deadline_ns(self) -> int | None:
        return self.link.next_deadline_ns()

    def handle_timer(self, now_ns: int) -> None:
        self.link.handle_timer(now_ns)

    # ----------------------------------------------------------------- I/O

    def service(self, timeout_s: float = 0.0) -> None:
        """Do all pending I/O; wait at most `timeout_s` for input (0 = never block)."""
        if self._closed:
            return
        now = self._now_ns()
        if self._transport is None and now >= self._retry_at_ns:
            self._dial(now)
        self._flush()
        events = self._selector.select(self._wait_s(timeout_s, now))
        ready = {key.data for key, mask in events if mask & selectors.EVENT_READ}
        if "listen" in ready:
            accepted = self._connector.accept()
            if accepted is not None:
                self._drop()  # the peer reconnected: the old transport is dead
                self._attach(accepted, self._now_ns())
        transport = self._transport
        if transport is not None and "transport" in ready:
            self._read(transport)
        now = self._now_ns()
        self.link.handle_timer(now)
        if self._transport is not None and self.link.state in (
            LinkState.DISCONNECTED, LinkState.INCOMPATIBLE
        ):
            if self._connector.persistent:
                self.link.connection_made(now)  # a UART has no connection: restart hello
            else:
                self._drop()
        self._flush()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.link.close(self._now_ns())
        self._drop()
        self._connector.close()
        self._selector.close()

    # ----------------------------------------------------------------- internals

    def _wait_s(self, timeout_s: float, now: int) -> float:
        wait_ns = round(max(timeout_s, 0.0) * _NS_PER_S)
        deadline = self.link.next_deadline_ns()
        if deadline is not None:
            wait_ns = min(wait_ns, max(deadline - now, 0))
        if self._transport is None and self._connector.listen_fileno() is None:
            wait_ns = min(wait_ns, max(self._retry_at_ns - now, 0))
        return wait_ns / _NS_PER_S

    def _dial(self, now: int) -> None:
        transport = self._connector.connect()
        if transport is None:
            if self._connector.listen_fileno() is None:
                self._retry_at_ns = now + self._backoff_ns
                self._backoff_ns = min(self._backoff_ns * 2, RECONNECT_BACKOFF_MAX_NS)
            return
        self._attach(transport, now)

    def _attach(self, transport: _Transport, now: int) -> None:
        self._transport = transport
        self._out.clear()
        self._selector.register(transport.fileno(), selectors.EVENT_READ, "transport")
        self._registered_events = selectors.EVENT_READ
        self._backoff_ns = RECONNECT_BACKOFF_MIN_NS
        self.link.connection_made(now)

    def _read(self, transport: _Transport) -> None:
        try:
            data = transport.recv(RECV_CHUNK_BYTES)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._drop()
            return
        if not data:
            if not self._connector.persistent:
                self._drop()
            return
        self.link.receive_bytes(data, self._now_ns())

    def _flush(self) -> None:
        self._out += self.link.data_to_send()
        transport = self._transport
        if transport is None:
            self._out.clear()  # frames stay in the link's window and are resent on reconnect
            return
        if self._out:
            try:
                sent = transport.send(self._out)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError:
                self._drop()
                return
            del self._out[:sent]
        if len(self._out) > MAX_OUTBOUND_BYTES:
            self._drop()  # the peer stopped reading
            return
        want = selectors.EVENT_READ | (selectors.EVENT_WRITE if self._out else 0)
        if want != self._registered_events:
            self._selector.modify(transport.fileno(), want, "transport")
            self._registered_events = want

    def _drop(self) -> None:
        transport, self._transport = self._transport, None
        if transport is None:
            return
        with contextlib.suppress(KeyError, ValueError, OSError):
            self._selector.unregister(transport.fileno())
        with contextlib.suppress(OSError):
            transport.close()
        now = self._now_ns()
        self.link.connection_lost(now)
        self.link.data_to_send()  # bytes for the dead transport; resent after reconnect
        self._retry_at_ns = now + self._backoff_ns


def open_stream_port(role: Role, endpoint: str, *, now_ns: Callable[[], int],
                     instance_id: int | None = None) -> ContractLinkAdapter:
    """The two-process station's link (`evse run --role plc|controller`).

    `endpoint` is `unix:PATH`, `tcp:HOST:PORT` or `serial:DEVICE[@BAUD]`. The PLC side
    listens and the controller side dials, so either process may start first and either
    may restart; on a UART both sides simply open their device.
    """
    scheme, _, rest = endpoint.partition(":")
    server = role is Role.PLC
    if scheme == "unix" and rest:
        make = ContractLinkAdapter.unix_server if server else ContractLinkAdapter.unix_client
        return make(rest, role, now_ns=now_ns, instance_id=instance_id)
    if scheme == "tcp" and rest.count(":") == 1:
        host, port = rest.split(":")
        if port.isdigit():
            make_tcp = ContractLinkAdapter.tcp_server if server else ContractLinkAdapter.tcp_client
            return make_tcp(host, int(port), role, now_ns=now_ns, instance_id=instance_id)
    if scheme == "serial" and rest:
        device, _, baud = rest.partition("@")
        if not baud or baud.isdigit():
            return ContractLinkAdapter.serial(device, role, now_ns=now_ns,
                                              baudrate=int(baud or 115200),
                                              instance_id=instance_id)
    raise ContractUsageError(
        f"bad contract endpoint {endpoint!r}: use unix:PATH, tcp:HOST:PORT or serial:DEV[@BAUD]"
    )


def _is_a_contract_port(port: ContractLinkAdapter) -> ContractPort:
    """Static proof (mypy) that ContractLinkAdapter implements ContractPort."""
    return port

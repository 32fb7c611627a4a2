"""The HomePlug port: one abstract surface for the real raw socket and the simulated modem.

Drivers are polled (`poll(now_ns)`), never call back into cores. Frames are whole Ethernet
frames as bytes (EtherType 0x88E1).
"""

from __future__ import annotations

import socket
from abc import ABC, abstractmethod

from drivers.homeplug.sim import PowerlineMedium, SimStation

ETH_P_HPAV = 0x88E1  # HomePlug AV EtherType; hardware.md §3.2
MIN_FRAME_LEN = 60  # Ethernet minimum without FCS; hardware.md §3.2
_PACKET_OUTGOING = 4  # linux/if_packet.h: a frame we sent, looped back to packet sockets
_RECV_BUFFER = 1518
_ETH_P_ALL = 0x0003  # linux/if_ether.h
_HPAV_BYTES = ETH_P_HPAV.to_bytes(2, "big")


class HomePlugDriverError(Exception):
    """The driver layer's exception family."""


class HomePlugInterfaceError(HomePlugDriverError):
    """Local: the configured interface cannot be opened or used (missing, no permission)."""


class HomePlugPort(ABC):
    """What the station's SLAC wiring needs from a PLC modem interface."""

    @property
    @abstractmethod
    def mac(self) -> bytes:
        """The host's own MAC on this interface (source of every frame we send)."""

    @abstractmethod
    def send(self, raw: bytes, now_ns: int) -> None: ...

    @abstractmethod
    def poll(self, now_ns: int) -> list[bytes]:
        """Every frame received since the last poll, oldest first; never blocks."""

    def fileno(self) -> int:
        """A descriptor to select on, or -1 if the port is purely virtual."""
        return -1

    def close(self) -> None:
        return None


class RawHomePlugSocket(HomePlugPort):
    """AF_PACKET socket bound to one interface and EtherType 0x88E1, non-blocking.

    On the CM4 the interface is the QCA7000's `qcaspi` netdev. A socket bound to ETH_P_ALL (as
    pyslac does; `listen_all=True`) also receives every frame we transmit (slac_notes.md §2);
    those are dropped here by packet type, and the core also ignores any frame with our source
    MAC, so neither guard alone is relied upon. Bound to 0x88E1 only (the default), the kernel
    does not loop our frames back at all.
    """

    def __init__(self, iface: str, *, drop_outgoing: bool = True, listen_all: bool = False) -> None:
        self.iface = iface
        self._drop_outgoing = drop_outgoing
        self._listen_all = listen_all
        proto = _ETH_P_ALL if listen_all else ETH_P_HPAV
        try:
            sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(proto))
        except PermissionError as exc:
            raise HomePlugInterfaceError(f"raw socket on {iface}: needs CAP_NET_RAW") from exc
        try:
            sock.bind((iface, proto))
        except OSError as exc:
            sock.close()
            raise HomePlugInterfaceError(f"cannot bind to {iface}: {exc.strerror}") from exc
        sock.setblocking(False)
        self._sock = sock
        self._mac = bytes(sock.getsockname()[4])[:6]

    @property
    def mac(self) -> bytes:
        return self._mac

    def fileno(self) -> int:
        return self._sock.fileno()

    def send(self, raw: bytes, now_ns: int) -> None:
        if len(raw) < MIN_FRAME_LEN:
            raw = raw + b"\x00" * (MIN_FRAME_LEN - len(raw))
        try:
            self._sock.send(raw)
        except OSError as exc:
            raise HomePlugInterfaceError(f"send on {self.iface}: {exc.strerror}") from exc

    def poll(self, now_ns: int) -> list[bytes]:
        frames: list[bytes] = []
        while True:
            try:
                data, addr = self._sock.recvfrom(_RECV_BUFFER)
            except BlockingIOError:
                return frames
            except OSError as exc:
                raise HomePlugInterfaceError(f"receive on {self.iface}: {exc.strerror}") from exc
            if self._drop_outgoing and len(addr) > 2 and addr[2] == _PACKET_OUTGOING:
                continue
            if self._listen_all and data[12:14] != _HPAV_BYTES:
                continue
            frames.append(data)

    def close(self) -> None:
        self._sock.close()


class SimHomePlugPort(HomePlugPort):
    """The simulated modem behind the same port (virtual time)."""

    def __init__(self, medium: PowerlineMedium, station: SimStation) -> None:
        self._medium = medium
        self._station = station

    @property
    def mac(self) -> bytes:
        return self._station.host_mac

    def send(self, raw: bytes, now_ns: int) -> None:
        self._medium.send(self._station, raw, now_ns)

    def poll(self, now_ns: int) -> list[bytes]:
        return self._medium.receive(self._station, now_ns)

    def next_delivery_ns(self) -> int | None:
        return self._medium.next_delivery_ns(self._station)

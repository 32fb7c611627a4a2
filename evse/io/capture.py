"""Session captures for Wireshark: every frame of the PLC interface, one pcapng per session.

`PacketTap` is an AF_PACKET socket on the interface (ETH_P_ALL, both directions, kernel
timestamps in ns: SO_TIMESTAMPNS), so the capture holds exactly what went over the wire:
SLAC and the local modem's management frames (HomePlug AV, EtherType 0x88E1), SDP and
V2GTP over TCP or TLS (IPv6, 0x86DD, neighbour discovery included). Other EtherTypes are
not kept. Nothing in the station waits for it: the tap is a reader on the realtime loop and
a frame costs one `recvmsg` and one `write`.

`SessionCaptures` cuts the stream into sessions: a file opens when the pilot reports a
plug-in and closes at the unplug (or when the station stops), named
`session-NNNNNN-YYYYmmddTHHMMSSZ.pcapng` with a sequence number that goes on across
restarts; the frames of the last PREROLL_NS before the plug-in was reported go in too.
While a session runs its file is `<name>.part`, written block by block, so a crash or a
power loss loses at most the last frame: at the next start a leftover `.part` is cut to
its last whole block and kept as `<name>-interrupted.pcapng`. With TLS key logging on
(bench only: the key log decrypts the session), the SECC's TLS context writes its NSS key
log to `tls-keys.log` in the capture directory (mode 0600), and the lines of the
connections whose ClientHello the session's file holds go into the closed file as a
Decryption Secrets Block before its first packet,
so the one file decrypts in Wireshark. Rotation: at most `max_files` closed captures are
kept (the oldest go first) and a session's file stops growing at `max_session_bytes` (the
frames beyond are counted in the log, not written). A capture is a witness, not a part of
the station: a write that fails (full or read-only disk) is logged and gives that
session's capture up; it never raises into the pilot's chart.

`evse replay FILE` and `evse exi decode --pcap FILE` read these files back.
"""

from __future__ import annotations

import collections
import contextlib
import datetime
import importlib.metadata
import logging
import os
import re
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from evse.capture.pcapng import (
    Direction,
    complete_prefix,
    decryption_secrets,
    enhanced_packet,
    interface_description,
    section_header,
)
from evse.capture.tls_keys import client_hello_random as tls_client_hello_random, key_log_lines

log = logging.getLogger(__name__)

ETH_P_ALL = 0x0003
ETHERTYPE_HOMEPLUG_AV = 0x88E1
ETHERTYPE_IPV6 = 0x86DD
#: EtherTypes a V2G session uses on the PLC link (ISO 15118-3 SLAC, ISO 15118-2 IPv6).
CAPTURED_ETHERTYPES = frozenset({ETHERTYPE_HOMEPLUG_AV, ETHERTYPE_IPV6})
#: linux/socket.h (asm-generic): SO_TIMESTAMPNS, also the cmsg type SCM_TIMESTAMPNS.
SO_TIMESTAMPNS = 35
#: linux/if_packet.h sockaddr_ll.sll_pkttype: a frame this host sent.
PACKET_OUTGOING = 4
#: Largest Ethernet frame we read (jumbo-safe; the QCA7000 MTU is 1500).
FRAME_MAX_BYTES = 65535
#: Frames read per readiness (the rest wait for the next turn of the loop).
READ_BURST = 64
#: Kernel receive buffer of the tap: a CurrentDemand loop is ~10 frames/s; a SLAC burst or a
#: stalled loop must not lose frames.
TAP_RCVBUF_BYTES = 1 << 20
KEY_LOG_NAME = "tls-keys.log"
#: Frames seen up to this long before a session's file opens go into it: the plug-in is
#: reported after the pilot's debounce and a scheduler turn, and a car without a pilot wire
#: (the bench) may already be talking. Bounded in count too (a busy link between sessions).
PREROLL_NS = 2_000_000_000
PREROLL_MAX_FRAMES = 256
_NAME_RE = re.compile(r"^session-(\d{6})-")
_TIMESPEC = struct.Struct("@qq")


def _application() -> str:
    """shb_userappl: which build wrote the capture (a reader comparing captures needs it)."""
    try:
        return f"evse {importlib.metadata.version('evse')}"
    except importlib.metadata.PackageNotFoundError:
        return "evse (not installed as a package)"


class CaptureError(Exception):
    """The capture cannot start (no such interface, no permission, directory unusable)."""


@dataclass(frozen=True, slots=True)
class CaptureConfig:
    """`capture:` of the station config (evse/runtime/config.py CaptureSection)."""

    directory: Path
    max_files: int = 200
    max_session_bytes: int = 64 << 20
    tls_keys: bool = False

    @property
    def key_log_path(self) -> Path | None:
        return self.directory / KEY_LOG_NAME if self.tls_keys else None


@dataclass(frozen=True, slots=True)
class TappedFrame:
    frame: bytes
    timestamp_ns: int  # Unix time, from the kernel
    direction: Direction


class PacketTap:
    """AF_PACKET socket on one interface (opened in the calling thread's netns)."""

    def __init__(self, iface: str) -> None:
        try:
            sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        except OSError as exc:
            raise CaptureError(f"capture on {iface}: cannot open a packet socket ({exc})") from exc
        try:
            sock.bind((iface, 0))
            sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, TAP_RCVBUF_BYTES)
            sock.setblocking(False)
        except OSError as exc:
            sock.close()
            raise CaptureError(f"capture on {iface}: {exc}") from exc
        self.sock = sock
        self.iface = iface

    def fileno(self) -> int:
        return self.sock.fileno()

    def read(self) -> list[TappedFrame]:
        """The frames waiting (up to READ_BURST), V2G EtherTypes only."""
        out: list[TappedFrame] = []
        for _ in range(READ_BURST):
            try:
                data, anc, _flags, addr = self.sock.recvmsg(
                    FRAME_MAX_BYTES, socket.CMSG_SPACE(_TIMESPEC.size))
            except (BlockingIOError, InterruptedError):
                break
            if len(data) < 14 or int.from_bytes(data[12:14], "big") not in CAPTURED_ETHERTYPES:
                continue
            ts = 0
            for level, kind, payload in anc:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                    sec, nsec = _TIMESPEC.unpack(payload[:_TIMESPEC.size])
                    ts = sec * 1_000_000_000 + nsec
            direction = Direction.OUTBOUND if addr[2] == PACKET_OUTGOING else Direction.INBOUND
            out.append(TappedFrame(data, ts, direction))
        return out

    def close(self) -> None:
        self.sock.close()


@dataclass
class _Open:
    name: str
    part: Path
    fh: BinaryIO  # unbuffered: each write() is one block batch on disk
    size: int
    frames: int = 0
    dropped: int = 0
    #: TLS ClientHello randoms seen in the session: its key log lines are those lines.
    client_randoms: set[bytes] = field(default_factory=set)


class SessionCaptures:
    """One pcapng per plug-in (see the module docstring)."""

    def __init__(self, config: CaptureConfig, iface: str,
                 wall_ns: Callable[[], int]) -> None:
        self.config = config
        self.iface = iface
        self._wall_ns = wall_ns
        self._open: _Open | None = None
        self._preroll: collections.deque[TappedFrame] = collections.deque(
            maxlen=PREROLL_MAX_FRAMES)
        self.closed: list[Path] = []
        self.errors = 0
        try:
            config.directory.mkdir(parents=True, exist_ok=True, mode=0o750)
        except OSError as exc:
            raise CaptureError(f"capture directory {config.directory}: {exc}") from exc
        if not os.access(config.directory, os.W_OK):
            raise CaptureError(f"capture directory {config.directory} is not writable")
        self._seq = self._last_sequence()
        self._salvage()
        key_log = config.key_log_path
        if key_log is not None:
            # Created here with owner-only rights: the TLS stack only appends to it.
            fd = os.open(key_log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            os.close(fd)
            os.chmod(key_log, 0o600)

    # ------------------------------------------------------------------ session boundaries
    # A capture is a witness, not a part of the station: a full or failing disk must not
    # stop a charge, so these three log an OSError (once per session) and give the
    # session's capture up instead of raising into the pilot's chart.
    def session_started(self) -> None:
        try:
            self._start()
        except OSError as exc:
            self._give_up(exc)

    def session_ended(self) -> Path | None:
        """Close the session's file; returns its path (None: no session was open, or it
        could not be written)."""
        try:
            return self._end()
        except OSError as exc:
            self._give_up(exc)
            return None

    def write(self, frames: list[TappedFrame]) -> None:
        try:
            self._write(frames)
        except OSError as exc:
            self._give_up(exc)

    def _give_up(self, exc: OSError) -> None:
        cur, self._open = self._open, None
        self.errors += 1
        if cur is not None:
            with contextlib.suppress(OSError):
                cur.fh.close()
        log.warning("capture %s: %s; this session is not captured",
                    cur.name if cur is not None else "(none)", exc)

    def _start(self) -> None:
        if self._open is not None:
            self._end()
        self._seq += 1
        stamp = datetime.datetime.fromtimestamp(self._wall_ns() / 1e9, datetime.UTC)
        name = f"session-{self._seq:06d}-{stamp:%Y%m%dT%H%M%SZ}"
        part = self.config.directory / f"{name}.pcapng.part"
        head = (section_header(application=_application(), os_name="Linux")
                + interface_description(self.iface))
        fh = part.open("wb", buffering=0)
        fh.write(head)
        self._open = _Open(name, part, fh, len(head))
        since = self._wall_ns() - PREROLL_NS
        early = [f for f in self._preroll if f.timestamp_ns >= since]
        self._preroll.clear()
        self._write(early)

    def _end(self) -> Path | None:
        cur, self._open = self._open, None
        if cur is None:
            return None
        cur.fh.close()
        final = self.config.directory / f"{cur.name}.pcapng"
        keys = self._key_log_for(cur.client_randoms)
        if keys:
            data = cur.part.read_bytes()
            head_end = _header_end(data)
            tmp = final.with_suffix(".pcapng.tmp")
            tmp.write_bytes(data[:head_end] + decryption_secrets(keys) + data[head_end:])
            os.replace(tmp, final)
            cur.part.unlink()
        else:
            os.replace(cur.part, final)
        if cur.dropped:
            log.warning("capture %s: %d frames beyond %d bytes not written", final.name,
                        cur.dropped, self.config.max_session_bytes)
        log.info("capture %s: %d frames", final.name, cur.frames)
        self.closed.append(final)
        self._rotate()
        return final

    def close(self) -> None:
        self.session_ended()

    # ------------------------------------------------------------------ frames
    def _write(self, frames: list[TappedFrame]) -> None:
        cur = self._open
        if cur is None:
            self._preroll.extend(frames)  # the next session's file may want them
            return
        blocks = b""
        for f in frames:
            block = enhanced_packet(f.frame, f.timestamp_ns or self._wall_ns(), f.direction)
            if cur.size + len(blocks) + len(block) > self.config.max_session_bytes:
                cur.dropped += 1
                continue
            blocks += block
            cur.frames += 1
            if self.config.tls_keys:
                random = client_hello_random(f.frame)
                if random is not None:
                    cur.client_randoms.add(random)
        if blocks:
            cur.fh.write(blocks)
            cur.size += len(blocks)

    # ------------------------------------------------------------------ files
    def _files(self) -> list[Path]:
        return sorted(p for p in self.config.directory.glob("session-*.pcapng"))

    def _last_sequence(self) -> int:
        seqs = [int(m.group(1)) for p in self.config.directory.glob("session-*")
                if (m := _NAME_RE.match(p.name))]
        return max(seqs, default=0)

    def _salvage(self) -> None:
        """A `.part` left by a crash: keep its whole blocks as `-interrupted.pcapng`."""
        for part in sorted(self.config.directory.glob("session-*.pcapng.part")):
            data = part.read_bytes()
            keep = complete_prefix(data)
            target = part.with_name(part.name.removesuffix(".pcapng.part")
                                    + "-interrupted.pcapng")
            if keep == 0:
                part.unlink()
                log.warning("capture %s: nothing whole to keep, removed", part.name)
                continue
            target.write_bytes(data[:keep])
            part.unlink()
            log.warning("capture %s: interrupted session kept as %s (%d of %d bytes)",
                        part.name, target.name, keep, len(data))

    def _rotate(self) -> None:
        files = self._files()
        for old in files[:max(0, len(files) - self.config.max_files)]:
            with contextlib.suppress(FileNotFoundError):
                old.unlink()
                log.info("capture %s removed (capture.max_files %d)", old.name,
                         self.config.max_files)

    def _key_log_for(self, randoms: set[bytes]) -> bytes:
        """The key log lines of these TLS connections (not an earlier session's, not a
        line the TLS stack is still writing)."""
        path = self.config.key_log_path
        if path is None or not randoms:
            return b""
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return b""
        return key_log_lines(data, randoms)


#: Ethernet header, IPv6 fixed header, IPv6 next header TCP (RFC 8200 §3).
_ETH_LEN, _IPV6_LEN, _IPPROTO_TCP = 14, 40, 6


def client_hello_random(frame: bytes) -> bytes | None:
    """The ClientHello random of an IPv6/TCP Ethernet frame (the TCP payload is read by
    evse/capture/tls_keys.py, as the capture reader reads it), None for any other frame."""
    if len(frame) < _ETH_LEN + _IPV6_LEN + 20 or frame[12:14] != b"\x86\xdd" or (
            frame[_ETH_LEN + 6] != _IPPROTO_TCP):
        return None
    tcp = _ETH_LEN + _IPV6_LEN
    return tls_client_hello_random(frame[tcp + (frame[tcp + 12] >> 4) * 4:])


def _header_end(data: bytes) -> int:
    """Offset after the SHB and the IDB a session file starts with."""
    (shb_len,) = struct.unpack_from("<I", data, 4)
    (idb_len,) = struct.unpack_from("<I", data, shb_len + 4)
    return int(shb_len) + int(idb_len)

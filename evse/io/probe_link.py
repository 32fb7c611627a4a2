"""`evse probe`'s socket adapter: `ProbeLink` over SDP (UDP multicast) and TCP/TLS on IFACE,
plus the command itself (`main`).

Blocking calls with bounded waits are fine here: this is the tester's car, one session at a
time, and every wait is the probe's own timeout (a broken SECC yields a verdict, not a hang).
The case logic is `evse.probe.cases`; this file only moves bytes and reads the clock.
The EV-side transport helpers come from `evse.io.v2g_net` (link-local address, the
EVCC's TLS context) through this one module, so a move of those helpers touches one import.
"""

from __future__ import annotations

import argparse
import select
import socket
import ssl
from pathlib import Path

from evse.io.v2g_net import link_local_address, make_evcc_tls_context
from evse.probe.cases import run_cases
from evse.probe.link import Closed, Frame, LinkEvent, ProbeLinkError, Silence
from evse.probe.model import ProbeOptions, S
from evse.probe.report import text_row, text_table, to_json, to_markdown
from evse.runtime.clock import MonotonicClock
from evse.sdp import (
    SDP_MULTICAST_ADDRESS,
    SDP_PORT,
    SdpClient,
    SdpDiscovered,
    SdpDiscoveryFailed,
    SdpResponse,
    Security,
    SendSdpRequest,
)
from evse.v2gtp import (
    FrameDiscarded,
    FrameReceived,
    StreamBroken,
    V2gtpStreamDecoder,
)

#: SDP discovery budget per session: V2G_EVCC_CommunicationSetup_Timeout 20 s (timing.md §3)
#: less the connect; a bench that re-plugs between sessions answers within a second.
DISCOVERY_LIMIT_NS = 15 * S
CONNECT_TIMEOUT_S = 5.0
SEND_TIMEOUT_S = 2.0


class SocketLink:
    """One SECC on `interface`; `tls_root` (the V2G root PEM) for TLS sessions."""

    def __init__(self, interface: str, tls_root: Path | None = None) -> None:
        self.interface = interface
        self.tls_root = tls_root
        self._clock = MonotonicClock()
        self._scope = 0
        self._sock: socket.socket | None = None
        self._decoder = V2gtpStreamDecoder()
        self._frames: list[LinkEvent] = []
        self.last_response: SdpResponse | None = None

    def now_ns(self) -> int:
        return self._clock.now_ns()

    def _scope_id(self) -> int:
        if not self._scope:
            self._scope = link_local_address(self.interface).scope_id
        return self._scope

    def _udp(self) -> socket.socket:
        scope = self._scope_id()
        udp = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        udp.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, scope)
        udp.bind(("::", 0, 0, scope))
        return udp

    def _target(self) -> tuple[str, int, int, int]:
        return (str(SDP_MULTICAST_ADDRESS), SDP_PORT, 0, self._scope_id())

    def sdp(self, datagram: bytes, wait_ns: int) -> bytes | None:
        with self._udp() as udp:
            udp.sendto(datagram, self._target())
            end = self.now_ns() + wait_ns
            while True:
                left = end - self.now_ns()
                if left <= 0:
                    return None
                readable, _, _ = select.select([udp], [], [], left / 1e9)
                if readable:
                    return udp.recv(2048)

    def _discover(self, tls: bool) -> SdpResponse:
        asked = Security.TLS if tls else Security.NO_TLS
        client = SdpClient(asked, accept_plain_tcp=not tls)
        give_up = self.now_ns() + DISCOVERY_LIMIT_NS
        with self._udp() as udp:
            udp.sendto(client.start(self.now_ns()).datagram, self._target())
            while self.now_ns() < give_up:
                deadline = client.next_deadline_ns()
                wait = 0.05 if deadline is None else max(0.0, (deadline - self.now_ns()) / 1e9)
                readable, _, _ = select.select([udp], [], [], wait)
                now = self.now_ns()
                outs = (client.handle_datagram(udp.recv(2048), now) if readable
                        else client.handle_timer(now))
                for out in outs:
                    if isinstance(out, SdpDiscovered):
                        return out.response
                    if isinstance(out, SdpDiscoveryFailed):
                        # A bench between two sessions is silent for a moment: start over.
                        client = SdpClient(asked, accept_plain_tcp=not tls)
                        udp.sendto(client.start(now).datagram, self._target())
                    elif isinstance(out, SendSdpRequest):
                        udp.sendto(out.datagram, self._target())
        raise ProbeLinkError(f"no SECCDiscoveryRes on {self.interface} within "
                             f"{DISCOVERY_LIMIT_NS / S:.0f} s")

    def connect(self, tls: bool) -> None:
        self.disconnect()
        response = self._discover(tls)
        self.last_response = response
        raw = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        raw.settimeout(CONNECT_TIMEOUT_S)
        try:
            raw.connect((str(response.secc_address), response.secc_port, 0, self._scope_id()))
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock: socket.socket = raw
            if response.security is Security.TLS:
                if self.tls_root is None:
                    raise ProbeLinkError("the SECC offers TLS; give --tls-root")
                sock = make_evcc_tls_context(self.tls_root).wrap_socket(raw)
            elif tls:
                raise ProbeLinkError("asked for TLS, the SECC offered plain TCP")
        except (OSError, ssl.SSLError) as exc:
            raw.close()
            raise ProbeLinkError(f"connect to [{response.secc_address}]:"
                                 f"{response.secc_port}: {exc}") from exc
        except ProbeLinkError:
            raw.close()
            raise
        sock.setblocking(False)
        self._sock = sock
        self._decoder = V2gtpStreamDecoder()
        self._frames = []

    def send(self, raw: bytes) -> None:
        sock = self._sock
        if sock is None:
            raise ProbeLinkError("send without a connection")
        sock.settimeout(SEND_TIMEOUT_S)
        try:
            sock.sendall(raw)
        except (OSError, ssl.SSLError):
            pass  # the SECC closed: recv() reports it
        finally:
            sock.setblocking(False)

    def recv(self, wait_ns: int) -> LinkEvent:
        end = self.now_ns() + wait_ns
        while not self._frames:
            sock = self._sock
            if sock is None:
                return Closed(self.now_ns(), "not connected")
            pending = isinstance(sock, ssl.SSLSocket) and sock.pending() > 0
            left = end - self.now_ns()
            if not pending:
                if left <= 0:
                    return Silence(self.now_ns())
                readable, _, _ = select.select([sock], [], [], left / 1e9)
                if not readable:
                    continue
            try:
                data = sock.recv(65536)
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
                continue
            except (OSError, ssl.SSLError) as exc:
                self._drop()
                return Closed(self.now_ns(), f"connection error: {exc}")
            now = self.now_ns()
            if not data:
                self._drop()
                return Closed(now, "SECC closed the connection")
            for event in self._decoder.feed(data, now):
                if isinstance(event, FrameReceived):
                    self._frames.append(Frame(event.payload_type, event.payload, now))
                elif isinstance(event, FrameDiscarded):
                    continue
                elif isinstance(event, StreamBroken):
                    self._frames.append(Closed(now, f"SECC sent an unframeable stream: "
                                                    f"{event.error}"))
                    self._drop()
                    break
        return self._frames.pop(0)

    def _drop(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def disconnect(self) -> None:
        self._drop()
        self._frames = []


def main(args: argparse.Namespace) -> int:
    options = ProbeOptions(
        protocol=args.protocol,
        communication_setup_ns=int(args.setup_timeout * S),
        sequence_timeout_ns=int(args.sequence_timeout * S),
        max_wait_ns=int(args.max_wait * S),
        repetitions=args.repetitions,
        charge_ns=int(args.charge_seconds * S))
    link = SocketLink(args.iface, args.tls_root)
    print(f"evse probe on {args.iface}: {args.protocol}{' over TLS' if args.tls else ''}",
          flush=True)
    results = run_cases(link, options, tls=args.tls, families=args.family,
                        good_case=not args.no_good_case,
                        on_result=lambda r: print(text_row(r), flush=True))
    print()
    print(text_table(results))
    meta: dict[str, object] = {"iface": args.iface, "protocol": args.protocol,
                               "tls": bool(args.tls)}
    if args.json:
        Path(args.json).write_text(to_json(results, meta), encoding="utf-8")
    if args.markdown:
        Path(args.markdown).write_text(to_markdown(results, meta), encoding="utf-8")
    return 0

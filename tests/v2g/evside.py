"""The EV end of the socket tests: blocking helpers around the sans-IO SdpClient and decoder.

Blocking with timeouts is fine here (it is the test's car, not the station); every wait is
bounded so a broken server fails the test instead of hanging it.
"""

from __future__ import annotations

import select
import socket
import ssl
import time

from evse.sdp import (
    SDP_MULTICAST_ADDRESS,
    SDP_PORT,
    SdpClient,
    SdpDiscovered,
    SdpDiscoveryFailed,
    SdpResponse,
    Security,
)
from evse.v2gtp import FrameReceived, PayloadType, V2gtpStreamDecoder, encode_frame

IO_TIMEOUT_S = 5.0


def discover(interface: str, security: Security, *, accept_plain_tcp: bool = True) -> SdpResponse:
    """SDP as a car does it: multicast to ff02::1 port 15118 from an ephemeral port."""
    scope = socket.if_nametoindex(interface)
    client = SdpClient(security, accept_plain_tcp=accept_plain_tcp)
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sock:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, scope)
        sock.bind(("::", 0, 0, scope))
        target = (str(SDP_MULTICAST_ADDRESS), SDP_PORT, 0, scope)
        sock.sendto(client.start(time.monotonic_ns()).datagram, target)
        give_up = time.monotonic() + IO_TIMEOUT_S
        while time.monotonic() < give_up:
            deadline = client.next_deadline_ns()
            wait_s = 0.05 if deadline is None else max(0.0, (deadline - time.monotonic_ns()) / 1e9)
            readable, _, _ = select.select([sock], [], [], wait_s)
            now = time.monotonic_ns()
            outputs = (
                client.handle_datagram(sock.recv(2048), now)
                if readable
                else client.handle_timer(now)
            )
            for out in outputs:
                if isinstance(out, SdpDiscovered):
                    return out.response
                if isinstance(out, SdpDiscoveryFailed):
                    raise AssertionError(f"SDP failed: {out.reason}")
                if hasattr(out, "datagram"):
                    sock.sendto(out.datagram, target)
    raise AssertionError("no SDP answer within the test timeout")


def connect(
    response: SdpResponse, interface: str, tls_context: ssl.SSLContext | None
) -> socket.socket:
    scope = socket.if_nametoindex(interface)
    raw = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    raw.settimeout(IO_TIMEOUT_S)
    raw.connect((str(response.secc_address), response.secc_port, 0, scope))
    if tls_context is None:
        return raw
    return tls_context.wrap_socket(raw)


def round_trip(sock: socket.socket, payload: bytes) -> bytes:
    sock.sendall(encode_frame(PayloadType.EXI, payload))
    return receive_frame(sock)


def receive_frame(sock: socket.socket) -> bytes:
    (payload,) = receive_frames(sock, 1)
    return payload


def receive_frames(sock: socket.socket, count: int) -> list[bytes]:
    decoder = V2gtpStreamDecoder()
    payloads: list[bytes] = []
    while len(payloads) < count:
        data = sock.recv(4096)
        if not data:
            raise ConnectionError("SECC closed the connection")
        for event in decoder.feed(data, now_ns=0):
            if not isinstance(event, FrameReceived):
                raise AssertionError(f"unexpected frame event {event}")
            payloads.append(event.payload)
    return payloads

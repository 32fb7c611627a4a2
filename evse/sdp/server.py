"""Sans-IO SDP server: one datagram in, at most one reply out.

The SECC answers by unicast to the requester's address and source port, from UDP 15118,
announcing the link-local address it sends from; every real charger in
tests/data/v2g/sdp_real.jsonl does exactly this.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from evse.sdp.errors import SdpLocalError, SdpRemoteError
from evse.sdp.messages import (
    SdpRequest,
    SdpResponse,
    Security,
    TransportProtocol,
    decode_request_datagram,
    encode_response_datagram,
)
from evse.sdp.policy import TlsPolicy, choose_security


@dataclass(frozen=True, slots=True)
class Endpoint:
    """An IPv6 address and UDP/TCP port (the scope stays with the I/O adapter)."""

    address: ipaddress.IPv6Address
    port: int


@dataclass(frozen=True, slots=True)
class SdpServerConfig:
    secc_address: ipaddress.IPv6Address
    tcp_port: int
    tls_port: int | None
    policy: TlsPolicy


@dataclass(frozen=True, slots=True)
class SdpReply:
    destination: Endpoint
    datagram: bytes


@dataclass(frozen=True, slots=True)
class SdpRequestAnswered:
    source: Endpoint
    request: SdpRequest
    response: SdpResponse
    received_ns: int


@dataclass(frozen=True, slots=True)
class SdpRequestIgnored:
    source: Endpoint
    error: SdpRemoteError
    received_ns: int


SdpServerEvent = SdpRequestAnswered | SdpRequestIgnored


@dataclass(frozen=True, slots=True)
class SdpServerResult:
    reply: SdpReply | None
    event: SdpServerEvent


class SdpServer:
    """Answers SECCDiscoveryReq according to the TLS policy; keeps no per-car state.

    The TCP/TLS listeners stay the same for every request (Josev restarts its TCP server on
    each SDP request, interop_failures.md §4; a car retrying SDP must find the same port).
    """

    def __init__(self, config: SdpServerConfig) -> None:
        if config.policy is TlsPolicy.FORCE and config.tls_port is None:
            raise SdpLocalError("TLS policy 'force' needs a TLS port")
        self._config = config

    @property
    def config(self) -> SdpServerConfig:
        return self._config

    def handle_datagram(self, datagram: bytes, source: Endpoint, now_ns: int) -> SdpServerResult:
        try:
            request = decode_request_datagram(datagram)
        except SdpRemoteError as exc:
            return SdpServerResult(None, SdpRequestIgnored(source, exc, now_ns))
        response = self.respond(request)
        return SdpServerResult(
            SdpReply(source, encode_response_datagram(response)),
            SdpRequestAnswered(source, request, response, now_ns),
        )

    def respond(self, request: SdpRequest) -> SdpResponse:
        cfg = self._config
        security = choose_security(
            cfg.policy, request.security, tls_available=cfg.tls_port is not None
        )
        port = cfg.tls_port if security is Security.TLS else cfg.tcp_port
        if port is None:  # unreachable: choose_security never picks TLS without a TLS port
            raise SdpLocalError("TLS chosen without a TLS port")
        # Only TCP carries a V2G session; a request for the reserved UDP value still gets the
        # TCP offer rather than silence, so the car can proceed (same "always answer" rule).
        return SdpResponse(cfg.secc_address, port, security, TransportProtocol.TCP)

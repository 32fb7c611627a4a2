"""Sans-IO SDP client: the EV side, for the EV simulator and the socket tests.

Sends SECCDiscoveryReq, waits SDP_REQ for an answer and repeats up to the limit
(timing.md §3: SDP_REQ >= 250 ms [V2G2-159], at most 50 consecutive requests [V2G2-161]).
"""

from __future__ import annotations

from dataclasses import dataclass

from evse.sdp.errors import SdpLocalError, SdpRemoteError
from evse.sdp.messages import (
    SdpRequest,
    SdpResponse,
    Security,
    TransportProtocol,
    decode_response_datagram,
    encode_request_datagram,
)

SDP_REQ_TIMEOUT_NS = 250_000_000  # [V2G2-159] SDP response wait at the EVCC; timing.md §3
SDP_MAX_REQUESTS = 50  # [V2G2-161] max consecutive SECCDiscoveryReq; timing.md §3


@dataclass(frozen=True, slots=True)
class SendSdpRequest:
    datagram: bytes
    attempt: int


@dataclass(frozen=True, slots=True)
class SdpDiscovered:
    response: SdpResponse
    attempts: int
    received_ns: int


@dataclass(frozen=True, slots=True)
class SdpDiscoveryFailed:
    reason: str
    attempts: int
    at_ns: int


@dataclass(frozen=True, slots=True)
class SdpResponseIgnored:
    error: SdpRemoteError
    received_ns: int


SdpClientOutput = SendSdpRequest | SdpDiscovered | SdpDiscoveryFailed | SdpResponseIgnored


class SdpClient:
    """One discovery run. ``accept_plain_tcp`` models cars that ask for TLS and carry on
    without it when offered TCP (Audi Q4, VW MEB, Tesla Model X; interop_failures.md §4)."""

    def __init__(
        self,
        security: Security,
        *,
        accept_plain_tcp: bool = True,
        timeout_ns: int = SDP_REQ_TIMEOUT_NS,
        max_requests: int = SDP_MAX_REQUESTS,
    ) -> None:
        if timeout_ns <= 0 or max_requests <= 0:
            raise SdpLocalError("timeout_ns and max_requests must be positive")
        self._request = SdpRequest(security, TransportProtocol.TCP)
        self._accept_plain_tcp = accept_plain_tcp
        self._timeout_ns = timeout_ns
        self._max_requests = max_requests
        self._attempts = 0
        self._deadline_ns: int | None = None
        self._done = False

    @property
    def done(self) -> bool:
        return self._done

    def start(self, now_ns: int) -> SendSdpRequest:
        if self._attempts:
            raise SdpLocalError("SdpClient.start() called twice")
        return self._send(now_ns)

    def next_deadline_ns(self) -> int | None:
        return None if self._done else self._deadline_ns

    def handle_timer(self, now_ns: int) -> list[SdpClientOutput]:
        if self._done or self._deadline_ns is None or now_ns < self._deadline_ns:
            return []
        if self._attempts >= self._max_requests:
            self._done = True
            return [SdpDiscoveryFailed("no SECCDiscoveryRes", self._attempts, now_ns)]
        return [self._send(now_ns)]

    def handle_datagram(self, datagram: bytes, now_ns: int) -> list[SdpClientOutput]:
        if self._done:
            return []
        try:
            response = decode_response_datagram(datagram)
        except SdpRemoteError as exc:
            return [SdpResponseIgnored(exc, now_ns)]
        self._done = True
        if (
            self._request.security is Security.TLS
            and response.security is Security.NO_TLS
            and not self._accept_plain_tcp
        ):
            return [SdpDiscoveryFailed("SECC offered no TLS", self._attempts, now_ns)]
        return [SdpDiscovered(response, self._attempts, now_ns)]

    def _send(self, now_ns: int) -> SendSdpRequest:
        self._attempts += 1
        self._deadline_ns = now_ns + self._timeout_ns
        return SendSdpRequest(encode_request_datagram(self._request), self._attempts)

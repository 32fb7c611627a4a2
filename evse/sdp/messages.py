"""SECCDiscoveryReq / SECCDiscoveryRes payloads (ISO 15118-2:2014 7.10.1; DIN SPEC 70121 8.7.4).

SECCDiscoveryReq: Security (1) | TransportProtocol (1)                       -> 2 bytes
SECCDiscoveryRes: SECC IP address (16) | SECC port (2) | Security (1) | TransportProtocol (1)
                                                                              -> 20 bytes
Both travel in a V2GTP frame (payload type 0x9000 / 0x9001) in one UDP datagram.
"""

from __future__ import annotations

import enum
import ipaddress
import struct
from dataclasses import dataclass

from evse.sdp.errors import SdpLocalError, SdpRemoteError
from evse.v2gtp import PayloadType, V2gtpRemoteError, decode_datagram, encode_frame

SDP_PORT = 15118  # UDP port of the SDP server (ISO 15118-2 7.10.1, IANA "v2g")
SDP_MULTICAST_ADDRESS = ipaddress.IPv6Address("ff02::1")  # link-local all-nodes, where EVs send
REQUEST_PAYLOAD_LENGTH = 2
RESPONSE_PAYLOAD_LENGTH = 20
# ISO 15118-2 7.10.1 / DIN SPEC 70121 8.7.2: the SECC's TCP port is in the IANA dynamic range.
TCP_PORT_MIN = 49152
TCP_PORT_MAX = 65535

_RESPONSE = struct.Struct(">16sHBB")


class Security(enum.IntEnum):
    TLS = 0x00  # "secured with TLS"
    NO_TLS = 0x10  # "no transport layer security"


class TransportProtocol(enum.IntEnum):
    TCP = 0x00
    UDP = 0x10  # reserved by the standard; no V2G session runs on it


@dataclass(frozen=True, slots=True)
class SdpRequest:
    security: Security
    transport: TransportProtocol


@dataclass(frozen=True, slots=True)
class SdpResponse:
    secc_address: ipaddress.IPv6Address
    secc_port: int
    security: Security
    transport: TransportProtocol


def _security(value: int) -> Security:
    try:
        return Security(value)
    except ValueError:
        raise SdpRemoteError(f"SDP Security 0x{value:02x} is neither 0x00 nor 0x10") from None


def _transport(value: int) -> TransportProtocol:
    try:
        return TransportProtocol(value)
    except ValueError:
        raise SdpRemoteError(
            f"SDP TransportProtocol 0x{value:02x} is neither 0x00 nor 0x10"
        ) from None


def parse_request_payload(payload: bytes) -> SdpRequest:
    if len(payload) != REQUEST_PAYLOAD_LENGTH:
        raise SdpRemoteError(f"SECCDiscoveryReq payload is {len(payload)} bytes, expected 2")
    return SdpRequest(_security(payload[0]), _transport(payload[1]))


def encode_request_payload(request: SdpRequest) -> bytes:
    return bytes((int(request.security), int(request.transport)))


def parse_response_payload(payload: bytes) -> SdpResponse:
    if len(payload) != RESPONSE_PAYLOAD_LENGTH:
        raise SdpRemoteError(f"SECCDiscoveryRes payload is {len(payload)} bytes, expected 20")
    raw_address, port, security, transport = _RESPONSE.unpack(payload)
    return SdpResponse(
        ipaddress.IPv6Address(raw_address), port, _security(security), _transport(transport)
    )


def encode_response_payload(response: SdpResponse) -> bytes:
    if not 0 < response.secc_port <= 0xFFFF:
        raise SdpLocalError(f"SECC port {response.secc_port} out of range")
    return _RESPONSE.pack(
        response.secc_address.packed,
        response.secc_port,
        int(response.security),
        int(response.transport),
    )


def decode_request_datagram(datagram: bytes) -> SdpRequest:
    """A whole UDP datagram -> request; V2GTP and SDP errors both surface as SdpRemoteError."""
    try:
        _, payload = decode_datagram(
            datagram,
            allowed_types=(PayloadType.SDP_REQUEST,),
            max_payload_length=REQUEST_PAYLOAD_LENGTH,
        )
    except V2gtpRemoteError as exc:
        raise SdpRemoteError(f"bad V2GTP header in SDP request: {exc}") from exc
    return parse_request_payload(payload)


def decode_response_datagram(datagram: bytes) -> SdpResponse:
    try:
        _, payload = decode_datagram(
            datagram,
            allowed_types=(PayloadType.SDP_RESPONSE,),
            max_payload_length=RESPONSE_PAYLOAD_LENGTH,
        )
    except V2gtpRemoteError as exc:
        raise SdpRemoteError(f"bad V2GTP header in SDP response: {exc}") from exc
    return parse_response_payload(payload)


def encode_request_datagram(request: SdpRequest) -> bytes:
    return encode_frame(PayloadType.SDP_REQUEST, encode_request_payload(request))


def encode_response_datagram(response: SdpResponse) -> bytes:
    return encode_frame(PayloadType.SDP_RESPONSE, encode_response_payload(response))

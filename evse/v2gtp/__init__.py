"""V2G Transfer Protocol: sans-IO framing for SDP datagrams and TCP/TLS streams."""

from evse.v2gtp.errors import (
    DatagramLengthError,
    EmptyPayloadError,
    HeaderErrorAction,
    IncorrectVersionError,
    PayloadTooLargeError,
    TruncatedStreamError,
    UnknownPayloadTypeError,
    V2gtpError,
    V2gtpLocalError,
    V2gtpRemoteError,
)
from evse.v2gtp.header import (
    DEFAULT_MAX_PAYLOAD_LENGTH,
    HEADER_LENGTH,
    STREAM_PAYLOAD_TYPES,
    PayloadType,
    V2gtpHeader,
    decode_datagram,
    encode_frame,
    parse_header,
)
from evse.v2gtp.stream import (
    FrameDiscarded,
    FrameReceived,
    StreamBroken,
    StreamEvent,
    V2gtpStreamDecoder,
)

__all__ = [
    "DEFAULT_MAX_PAYLOAD_LENGTH",
    "HEADER_LENGTH",
    "STREAM_PAYLOAD_TYPES",
    "DatagramLengthError",
    "EmptyPayloadError",
    "FrameDiscarded",
    "FrameReceived",
    "HeaderErrorAction",
    "IncorrectVersionError",
    "PayloadTooLargeError",
    "PayloadType",
    "StreamBroken",
    "StreamEvent",
    "TruncatedStreamError",
    "UnknownPayloadTypeError",
    "V2gtpError",
    "V2gtpHeader",
    "V2gtpLocalError",
    "V2gtpRemoteError",
    "V2gtpStreamDecoder",
    "decode_datagram",
    "encode_frame",
    "parse_header",
]

"""The V2GTP layer's exception family.

Every error a peer can cause carries the action the SECC takes for it, so the I/O adapter
never has to guess: the table is in ``evse/v2gtp/README.md`` with its sources.
"""

from __future__ import annotations

import enum


class HeaderErrorAction(enum.Enum):
    """What the receiving V2GTP entity does with a frame whose header it rejects."""

    CLOSE_CONNECTION = "close_connection"
    """TCP: the byte stream can no longer be framed (or must not be), so the socket is closed."""

    DISCARD_MESSAGE = "discard_message"
    """TCP: header is well formed, so skip exactly ``payload_length`` bytes and keep going."""

    DISCARD_RECEIVED = "discard_received"
    """TCP: the header cannot be trusted to delimit the message (wrong version bytes), so
    every byte received so far is dropped and the connection stays open; the next chunk
    starts a new header. The message is ignored as ISO 15118-4 TC_SECC_CMN_VTB_
    V2GTPSessionSetup_004/005 expect; a peer that keeps sending garbage meets the SECC's
    sequence / communication-setup timeout, which closes the session."""

    IGNORE_DATAGRAM = "ignore_datagram"
    """UDP (SDP): drop the datagram silently; the EVCC retries after SDP_REQ."""


class V2gtpError(Exception):
    """Root of the V2GTP layer's errors."""


class V2gtpRemoteError(V2gtpError):
    """The peer sent bytes that are not an acceptable V2GTP frame.

    ``action`` is the behaviour for a TCP stream; datagram (SDP) users always ignore.
    ``ref`` names the clause that defines the check.
    """

    action: HeaderErrorAction = HeaderErrorAction.CLOSE_CONNECTION
    ref: str = "ISO 15118-2:2014 7.8.3; DIN SPEC 70121:2014 8.7.3"

    def __init__(self, message: str, header: bytes = b"") -> None:
        super().__init__(message)
        self.header = bytes(header)


class IncorrectVersionError(V2gtpRemoteError):
    """Protocol version is not 0x01 or its inverse byte is not 0xFE.

    Nothing after a wrong version byte can be trusted (not even the length), so the message
    cannot be skipped by its length: everything received so far is dropped and the session
    goes on (the message is ignored; ISO 15118-2:2014 7.8.3, ISO 15118-4
    TC_SECC_CMN_VTB_V2GTPSessionSetup_004/005). See ``evse/v2gtp/README.md``.
    """

    action = HeaderErrorAction.DISCARD_RECEIVED


class EmptyPayloadError(V2gtpRemoteError):
    """TCP only: an EXI frame whose payload length is 0.

    An EXI document is never empty (it has at least its header byte), so a length-0 frame is
    not a message: it is ignored and the stream goes on with the bytes that follow
    (ISO 15118-4 TC_SECC_CMN_VTB_V2GTPSessionSetup_002).
    """

    action = HeaderErrorAction.DISCARD_MESSAGE


class UnknownPayloadTypeError(V2gtpRemoteError):
    """Payload type not supported on this transport (e.g. 0x8002 ISO 15118-20, or SDP on TCP).

    The version bytes were right, so the length field is trusted and exactly that many
    payload bytes are skipped; the session stays up and the SECC's sequence timer decides.
    """

    action = HeaderErrorAction.DISCARD_MESSAGE

    def __init__(self, message: str, header: bytes, payload_type: int, payload_length: int) -> None:
        super().__init__(message, header)
        self.payload_type = payload_type
        self.payload_length = payload_length


class PayloadTooLargeError(V2gtpRemoteError):
    """Payload length above the configured maximum.

    We refuse to buffer it, and skipping up to 4 GiB would keep a dead session open until the
    sequence timeout: close the TCP connection.
    """

    action = HeaderErrorAction.CLOSE_CONNECTION

    def __init__(self, message: str, header: bytes, payload_length: int, max_length: int) -> None:
        super().__init__(message, header)
        self.payload_length = payload_length
        self.max_length = max_length


class DatagramLengthError(V2gtpRemoteError):
    """UDP only: the datagram is shorter than a header, or its size disagrees with the header.

    A datagram carries exactly one frame, so a mismatch means a corrupted or truncated frame.
    """

    action = HeaderErrorAction.IGNORE_DATAGRAM


class TruncatedStreamError(V2gtpRemoteError):
    """TCP only: the peer closed the connection in the middle of a frame."""

    action = HeaderErrorAction.CLOSE_CONNECTION


class V2gtpLocalError(V2gtpError):
    """We misused the layer: oversize payload to send, feeding a closed decoder, bad config."""

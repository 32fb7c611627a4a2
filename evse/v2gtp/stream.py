"""Sans-IO V2GTP framing of a TCP/TLS byte stream.

TCP delivers bytes, not messages: one ``recv`` may hold half a header or three frames. The
decoder turns arbitrary chunks into whole frames and applies the header checks with the
action each failure prescribes. It has no timers (V2GTP defines none; the application
layer's sequence timeout covers a stalled peer) but stamps every frame with the ``now_ns``
of the chunk that completed it, because the SECC's performance time runs from that instant.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from evse.v2gtp.errors import (
    EmptyPayloadError,
    HeaderErrorAction,
    TruncatedStreamError,
    UnknownPayloadTypeError,
    V2gtpLocalError,
    V2gtpRemoteError,
)
from evse.v2gtp.header import (
    DEFAULT_MAX_PAYLOAD_LENGTH,
    HEADER_LENGTH,
    STREAM_PAYLOAD_TYPES,
    PayloadType,
    parse_header,
)


@dataclass(frozen=True, slots=True)
class FrameReceived:
    payload_type: PayloadType
    payload: bytes
    received_ns: int


@dataclass(frozen=True, slots=True)
class FrameDiscarded:
    """A frame we ignore (``error.action`` says how much was skipped); the stream goes on."""

    error: V2gtpRemoteError
    received_ns: int


@dataclass(frozen=True, slots=True)
class StreamBroken:
    """The stream cannot (or must not) be framed any further: close the connection."""

    error: V2gtpRemoteError
    received_ns: int


StreamEvent = FrameReceived | FrameDiscarded | StreamBroken


class V2gtpStreamDecoder:
    """Reassemble split and coalesced TCP segments into V2GTP frames.

    Invariant (property-tested): for any split of a valid byte stream the frames come out
    identical and in order; any bytes either frame, discard, or break the stream, and
    ``feed`` always returns (it never waits for bytes it cannot get).
    """

    def __init__(
        self,
        *,
        max_payload_length: int = DEFAULT_MAX_PAYLOAD_LENGTH,
        allowed_types: Collection[PayloadType] = STREAM_PAYLOAD_TYPES,
    ) -> None:
        if max_payload_length < 0:
            raise V2gtpLocalError("max_payload_length must be >= 0")
        self._max_payload_length = max_payload_length
        self._allowed_types = frozenset(allowed_types)
        self._buffer = bytearray()
        self._skip_remaining = 0
        self._broken: V2gtpRemoteError | None = None

    @property
    def broken(self) -> bool:
        return self._broken is not None

    @property
    def buffered_bytes(self) -> int:
        """Bytes of an incomplete frame held right now (bounded by header + max payload)."""
        return len(self._buffer)

    def feed(self, data: bytes, now_ns: int) -> list[StreamEvent]:
        if self._broken is not None:
            raise V2gtpLocalError("feed() after the stream broke; close the connection")
        events: list[StreamEvent] = []
        view = memoryview(data)
        if self._skip_remaining:
            skipped = min(self._skip_remaining, len(view))
            self._skip_remaining -= skipped
            view = view[skipped:]
        self._buffer += view
        while self._broken is None:
            event = self._next_frame(now_ns)
            if event is None:
                break
            events.append(event)
        return events

    def feed_eof(self, now_ns: int) -> list[StreamEvent]:
        """The peer closed its side; a half-received frame is a remote error."""
        if self._broken is not None or (not self._buffer and not self._skip_remaining):
            return []
        error = TruncatedStreamError(
            f"connection closed inside a frame ({len(self._buffer)} bytes buffered, "
            f"{self._skip_remaining} left to skip)",
            bytes(self._buffer[:HEADER_LENGTH]),
        )
        self._broken = error
        self._buffer.clear()
        return [StreamBroken(error, now_ns)]

    def _next_frame(self, now_ns: int) -> StreamEvent | None:
        if self._skip_remaining or len(self._buffer) < HEADER_LENGTH:
            return None
        try:
            header = parse_header(
                self._buffer,
                allowed_types=self._allowed_types,
                max_payload_length=self._max_payload_length,
            )
        except UnknownPayloadTypeError as exc:  # action DISCARD_MESSAGE: length is trusted
            return self._discard(exc, exc.payload_length, now_ns)
        except V2gtpRemoteError as exc:
            if exc.action is HeaderErrorAction.DISCARD_RECEIVED:
                self._resynchronise()
                return FrameDiscarded(exc, now_ns)
            self._broken = exc
            self._buffer.clear()
            return StreamBroken(exc, now_ns)
        if header.payload_length == 0:
            empty = EmptyPayloadError(
                f"V2GTP payload length 0 (type {int(header.payload_type):#06x}): not a message",
                bytes(self._buffer[:HEADER_LENGTH]),
            )
            return self._discard(empty, 0, now_ns)
        end = HEADER_LENGTH + header.payload_length
        if len(self._buffer) < end:
            return None
        payload = bytes(self._buffer[HEADER_LENGTH:end])
        del self._buffer[:end]
        return FrameReceived(header.payload_type, payload, now_ns)

    def _resynchronise(self) -> None:
        """Drop the untrustworthy bytes up to the next plausible header start.

        A plausible start is ``01 FE``, then (when those bytes are already here) an accepted
        payload type and a length within the maximum; an incomplete candidate at the end of
        the buffer is kept for the next chunk. So the rest of an ignored message's body is
        dropped, and a valid message that follows it in the same or a later segment is read
        normally (ISO 15118-4 TC_SECC_CMN_VTB_V2GTPSessionSetup_002..005 send the doctored
        header and its body together, then expect the next message to work).
        """
        buf = self._buffer
        start = 1
        while True:
            i = buf.find(b"\x01\xfe", start)
            if i < 0:
                keep = 1 if buf[-1:] == b"\x01" else 0
                del buf[: len(buf) - keep]
                return
            if self._plausible_header_at(i):
                del buf[:i]
                return
            start = i + 1

    def _plausible_header_at(self, i: int) -> bool:
        buf = self._buffer
        if len(buf) >= i + 4 and int.from_bytes(buf[i + 2 : i + 4], "big") not in {
                int(t) for t in self._allowed_types}:
            return False
        return not (len(buf) >= i + HEADER_LENGTH
                    and int.from_bytes(buf[i + 4 : i + 8], "big") > self._max_payload_length)

    def _discard(self, exc: V2gtpRemoteError, payload_length: int, now_ns: int) -> FrameDiscarded:
        total = HEADER_LENGTH + payload_length
        available = min(total, len(self._buffer))
        del self._buffer[:available]
        self._skip_remaining = total - available
        return FrameDiscarded(exc, now_ns)

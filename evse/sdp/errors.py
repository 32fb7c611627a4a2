"""The SDP layer's exception family (blame-typed)."""

from __future__ import annotations

from evse.v2gtp.errors import HeaderErrorAction


class SdpError(Exception):
    """Root of the SDP layer's errors."""


class SdpRemoteError(SdpError):
    """A peer's SDP datagram is unusable. The defined response is always the same: ignore it
    (no reply), because SDP runs over UDP and the requester retries after SDP_REQ
    ([V2G2-159]/[V2G2-161]; timing.md §3).
    """

    action = HeaderErrorAction.IGNORE_DATAGRAM


class SdpLocalError(SdpError):
    """Our own misuse or configuration error (e.g. TLS forced but no TLS credentials)."""

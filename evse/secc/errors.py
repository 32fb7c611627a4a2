"""The SECC layer's exceptions, typed by who is to blame."""

from __future__ import annotations


class SeccError(Exception):
    """Base of every SECC error."""


class SeccRemoteError(SeccError):
    """The car sent something we cannot accept (malformed, out of order, unknown session)."""


class SeccLocalError(SeccError):
    """Our own misuse of the SECC core (wrong call order, bad configuration)."""

"""The SLAC layer's one exception family, split by who is to blame."""

from __future__ import annotations


class SlacError(Exception):
    """Base of every error the SLAC layer raises."""


class SlacDecodeError(SlacError):
    """A received frame is not a well-formed HomePlug AV MME (the sender's fault)."""


class SlacTruncatedError(SlacDecodeError):
    """The frame ends before the MME's fixed layout does."""


class SlacUnsupportedError(SlacDecodeError):
    """Well-framed MME of a type or version this stack does not handle."""


class SlacUsageError(SlacError):
    """Our own misuse: a message built with out-of-range fields, a core driven out of order."""

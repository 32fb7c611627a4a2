"""The exception family of the EXI layer.

``DecodeError`` blames the remote peer (its bytes are malformed or outside what the
schema allows); ``EncodeError`` blames the local caller (the message it asked us to
encode is not schema-valid). Both derive from ``ExiError`` so callers can catch the
layer as a whole.
"""

from __future__ import annotations


class ExiError(Exception):
    """Base of every error raised by the ``exi`` package."""


class DecodeError(ExiError):
    """Remote fault: the EXI stream cannot be decoded with the schema grammars.

    ``bit_position`` is the offset (in bits from the start of the stream, header
    included) where decoding failed; ``state`` names the grammar state, e.g.
    ``CurrentDemandReqType#3``.
    """

    def __init__(self, message: str, *, bit_position: int, state: str) -> None:
        super().__init__(f"{message} (bit {bit_position}, state {state})")
        self.bit_position = bit_position
        self.state = state
        self.reason = message


class EncodeError(ExiError):
    """Local fault: the message is not valid for the schema.

    ``field`` is a slash-separated path of element/attribute names, e.g.
    ``V2G_Message/Body/CurrentDemandRes/EVSEPresentVoltage/Value``.
    """

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.reason = message

    def within(self, parent: str) -> EncodeError:
        """The same error, with the enclosing element's name prefixed to the field path."""
        if not parent:
            return self
        field = f"{parent}/{self.field}" if self.field else parent
        return EncodeError(self.reason, field=field)

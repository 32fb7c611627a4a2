"""The controller's exception family: who is to blame decides the class."""

from __future__ import annotations


class ControllerError(Exception):
    """Base of every error raised by evse.controller."""


class CsmsProtocolError(ControllerError):
    """The CSMS sent something invalid (bad JSON, schema violation, unknown call)."""

    def __init__(self, code: str, description: str, unique_id: str | None = None,
                 answered: tuple[str, str] | None = None) -> None:
        super().__init__(f"{code}: {description}")
        self.code = code
        self.description = description
        #: id of an invalid incoming Call (to answer with a CallError)
        self.unique_id = unique_id
        #: (unique_id, action) of our own Call whose answer was invalid
        self.answered = answered


class ControllerUsageError(ControllerError):
    """Our own misuse: an invalid outgoing payload, an unknown state, a closed store."""


class StoreError(ControllerError):
    """The persistent queue could not be read or written (disk, corruption)."""

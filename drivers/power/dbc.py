"""DBC access with address normalisation.

cantools looks messages up by the exact frame ID, but these protocols embed source,
destination and group in the 29-bit ID; so the ID is masked down to the bits that name the
message before lookup (hardware.md §5, cantools row: "No ID masking").
"""

from __future__ import annotations

import functools
from importlib import resources
from typing import Any, cast

import cantools

from evse.ports.power import PowerRemoteError


@functools.cache
def load(name: str) -> Any:
    """Load a DBC shipped in drivers/power/dbc once per process."""
    text = resources.files("drivers.power").joinpath("dbc", name).read_text(encoding="ascii")
    return cantools.database.load_string(text, database_format="dbc")


class NormalisedDbc:
    """A DBC plus the mask that reduces a bus ID to the ID stored in the file."""

    def __init__(self, name: str, id_mask: int) -> None:
        self._db = load(name)
        self._mask = id_mask

    def message_for(self, arbitration_id: int) -> Any:
        try:
            return self._db.get_message_by_frame_id(arbitration_id & self._mask)
        except KeyError as exc:
            raise PowerRemoteError(f"no DBC message for ID 0x{arbitration_id:08X}") from exc

    def message(self, name: str) -> Any:
        return self._db.get_message_by_name(name)

    def decode(self, arbitration_id: int, data: bytes) -> dict[str, float]:
        msg = self.message_for(arbitration_id)
        return cast(dict[str, float], msg.decode(bytes(data), decode_choices=False))

    def encode(self, name: str, signals: dict[str, float]) -> bytes:
        return bytes(self._db.get_message_by_name(name).encode(signals))


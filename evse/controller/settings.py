"""Configuration keys the CSMS can read and change (1.6 Get/ChangeConfiguration, 2.0.1
Get/SetVariables map onto the same keys)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from evse.controller.errors import CsmsProtocolError


@dataclass(slots=True)
class Setting:
    value: str
    readonly: bool = False
    kind: str = "str"  # str | int | bool
    reboot_required: bool = False
    on_change: Callable[[str], None] | None = None
    #: A secret (1.6 AuthorizationKey, 2.0.1 BasicAuthPassword): never stored here and
    #: never read back (1.6 security whitepaper §2.3, 2.0.1 Mutability WriteOnly).
    write_only: bool = False
    #: Extra check of a new value (False: Rejected), e.g. "security profile never lower".
    validate: Callable[[str], bool] | None = None


class Settings:
    def __init__(self) -> None:
        self._items: dict[str, Setting] = {}

    def add(self, key: str, value: object, *, readonly: bool = False,
            reboot_required: bool = False,
            on_change: Callable[[str], None] | None = None, write_only: bool = False,
            validate: Callable[[str], bool] | None = None) -> None:
        kind = "bool" if isinstance(value, bool) else "int" if isinstance(value, int) else "str"
        text = str(value).lower() if isinstance(value, bool) else str(value)
        self._items[key] = Setting("" if write_only else text, readonly, kind, reboot_required,
                                   on_change, write_only, validate)

    def keys(self) -> list[str]:
        return list(self._items)

    def has(self, key: str) -> bool:
        return key in self._items

    def item(self, key: str) -> Setting:
        return self._items[key]

    def get(self, key: str) -> str:
        return self._items[key].value

    def get_int(self, key: str) -> int:
        return int(self._items[key].value)

    def get_bool(self, key: str) -> bool:
        return self._items[key].value == "true"

    def change(self, key: str, value: str) -> str:
        """Return the 1.6 ConfigurationStatus (Accepted, Rejected, RebootRequired, NotSupported)."""
        item = self._items.get(key)
        if item is None:
            return "NotSupported"
        if item.readonly:
            return "Rejected"
        if item.kind == "int":
            try:
                if int(value) < 0:
                    return "Rejected"
            except ValueError:
                return "Rejected"
            value = str(int(value))
        elif item.kind == "bool":
            if value.lower() not in ("true", "false"):
                return "Rejected"
            value = value.lower()
        if item.validate is not None and not item.validate(value):
            return "Rejected"
        if not item.write_only:
            item.value = value
        if item.on_change is not None:
            item.on_change(value)
        return "RebootRequired" if item.reboot_required else "Accepted"


def require(cond: bool, code: str, text: str) -> None:
    if not cond:
        raise CsmsProtocolError(code, text)

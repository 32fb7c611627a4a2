"""`slac:` section of a station config -> `SlacConfig` plus chart param overrides.

The composition root calls this with the section's mapping (already parsed by the station's
strict YAML loader) and the interface's MAC; unknown keys and wrong types are the config
author's mistakes and raise `SlacUsageError` naming the key.
"""

from __future__ import annotations

from collections.abc import Mapping

from evse.slac.errors import SlacUsageError
from evse.slac.evse_handler import SlacConfig
from evse.slac.messages import LOCAL_MODEM_MAC

_INT_KEYS = ("num_sounds", "init_retries", "atten_char_retries", "set_key_retries", "max_sessions")
_SIGNED_INT_KEYS = ("attenuation_adjustment_db",)
_DB_OR_NULL_KEYS = ("attenuation_threshold_db", "neighbour_margin_db")
# `enabled` is the composition root's switch (evse run: SLAC on the raw socket or no modem);
# checked here so the whole section validates in one place, not used by the core.
_KEYS = {"enabled", "validation", "params", *_DB_OR_NULL_KEYS, *_INT_KEYS, *_SIGNED_INT_KEYS}


def slac_config_from_section(
    section: Mapping[str, object], evse_mac: bytes, modem_mac: bytes = LOCAL_MODEM_MAC
) -> tuple[SlacConfig, dict[str, float]]:
    """`modem_mac` is where modem-local MMEs go: the station config's `plc.local_modem_mac`
    (validated there with file:line), the QCA local-management address by default."""
    unknown = set(section) - _KEYS
    if unknown:
        raise SlacUsageError(f"unknown slac keys {sorted(unknown)} (allowed: {sorted(_KEYS)})")
    if "enabled" in section and not isinstance(section["enabled"], bool):
        raise SlacUsageError("slac.enabled must be true or false")
    if len(modem_mac) != 6:
        raise SlacUsageError("the local modem's address must be 6 bytes")
    kwargs: dict[str, object] = {"evse_mac": evse_mac, "modem_mac": modem_mac}
    for key in _DB_OR_NULL_KEYS:
        if key in section:
            db = section[key]
            if db is not None and (isinstance(db, bool) or not isinstance(db, int | float)):
                raise SlacUsageError(f"slac.{key} must be dB (a number) or null")
            kwargs[key] = None if db is None else float(db)
    if "validation" in section:
        if not isinstance(section["validation"], bool):
            raise SlacUsageError("slac.validation must be true or false")
        kwargs["validation"] = section["validation"]
    for key in _INT_KEYS:
        if key in section:
            value = section[key]
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise SlacUsageError(f"slac.{key} must be an integer >= 0")
            kwargs[key] = value
    for key in _SIGNED_INT_KEYS:
        if key in section:
            value = section[key]
            if isinstance(value, bool) or not isinstance(value, int):
                raise SlacUsageError(f"slac.{key} must be an integer (dB)")
            kwargs[key] = value
    params: dict[str, float] = {}
    raw_params = section.get("params", {})
    if not isinstance(raw_params, Mapping):
        raise SlacUsageError("slac.params must map chart params to seconds")
    for name, seconds in raw_params.items():
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
            raise SlacUsageError(f"slac.params.{name} must be seconds >= 0")
        params[str(name)] = float(seconds)
    return SlacConfig(**kwargs), params  # type: ignore[arg-type]

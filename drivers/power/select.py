"""Pick a module protocol by the name a station config uses, with its bus bitrate."""

from __future__ import annotations

from dataclasses import dataclass

from drivers.power import infy, reg060
from drivers.power.infy import InfyProtocol
from drivers.power.protocol import ModuleProtocol
from evse.ports.power import PowerUsageError

#: Infy V1.13 and Winline run at 125 kbps (hardware.md §1.1 table); DPM1000's bitrate is not
#: in the code (§1.1) and Sinexcel-family modules use 125 kbps, so it is assumed [unverified].
BITRATE_125K = 125_000


@dataclass(frozen=True, slots=True)
class ProtocolChoice:
    protocol: ModuleProtocol
    bitrate: int


def protocol_by_name(name: str, *, poll_period_ns: int | None = None) -> ProtocolChoice:
    """`infy`, `winline` or `dpm1000` (the power rows of drivers/registry.py), polled every
    `poll_period_ns` (None: the protocol's own period)."""
    if name == "infy":
        return ProtocolChoice(InfyProtocol(poll_period_ns=poll_period_ns or infy.POLL_PERIOD_NS),
                              BITRATE_125K)
    table = reg060.VENDOR_TABLES.get(name)
    if table is None:
        known = ["infy", *sorted(reg060.VENDOR_TABLES)]
        raise PowerUsageError(f"unknown power-module protocol {name!r}; known: {known}")
    return ProtocolChoice(
        reg060.Reg060Protocol(table, poll_period_ns=poll_period_ns or reg060.POLL_PERIOD_NS),
        BITRATE_125K)

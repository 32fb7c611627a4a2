"""Port for the connector/cable temperature sensors (PT1000/NTC on the CCS2 DC pins and the
cable, read by the board or an ADC driver). The power path derates on them and stops above a
limit (fault_table.yaml `over_temperature`)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TemperatureReading:
    """One sample of one sensor; `sensor` names it (e.g. "dc_plus_pin", "cable")."""

    sensor: str
    celsius: float
    timestamp_ns: int

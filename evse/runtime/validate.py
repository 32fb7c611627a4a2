"""`evse validate`: every chart against its handler, every config, every scenario and day
file (scenarios/day_*.yaml)."""

from __future__ import annotations

import importlib
from pathlib import Path

from evse.fsm.spec import SpecError, check_callbacks, load_spec
from evse.runtime.config import ConfigError, load_config
from evse.runtime.day import DayError, load_day
from evse.runtime.scenario import ScenarioError, load_scenario

ROOT = Path(__file__).resolve().parents[2]

#: Which handler class serves which chart: the registry `validate` and the tests check.
HANDLERS: dict[str, str] = {
    "iec61851": "evse.cp.pilot:CpHandler",
    "slac_evse": "evse.slac.evse_handler:SlacEvseHandler",
    "secc_din": "evse.secc.din:DinHandler",
    "secc_iso2": "evse.secc.iso2:Iso2Handler",
    "controller": "evse.controller.handler:ControllerHandler",
    "firmware": "evse.controller.firmware:FirmwareHandler",
    "power_path": "evse.power.controller:PowerPathHandler",
    "mcu_link": "drivers.board.mcu:McuLinkHandler",
    "ems_failsafe": "evse.controller.ems_failsafe:EmsFailsafeHandler",
    "station_faults": "evse.runtime.station_faults:StationFaultsHandler",
}


#: Files under config/ that are station configs (load_config); `evse run` benches included.
STATION_CONFIG_PREFIXES = ("station", "bench", "slac-bench", "cm4")


def handler_class(machine: str) -> type | None:
    ref = HANDLERS.get(machine)
    if ref is None:
        return None
    module, _, name = ref.partition(":")
    cls: type = getattr(importlib.import_module(module), name)
    return cls


def validate_spec_file(path: Path) -> None:
    spec = load_spec(path)
    cls = handler_class(spec.name)
    if cls is None:
        raise SpecError(str(path), 1, f"no handler registered for machine {spec.name!r}")
    check_callbacks(spec, cls)


def _default_paths() -> list[Path]:
    return (
        sorted((ROOT / "fsm_specs").glob("*.yaml"))
        + sorted((ROOT / "config").glob("*.yaml"))
        + sorted((ROOT / "scenarios").glob("*.yaml"))
    )


def validate_paths(paths: list[Path] | None = None) -> list[str]:
    """Return one `file:line: message` per invalid file (empty when all are valid)."""
    problems: list[str] = []
    for path in paths or _default_paths():
        kind = path.parent.name
        try:
            if kind == "fsm_specs":
                validate_spec_file(path)
            elif kind == "config":
                if path.name.startswith(STATION_CONFIG_PREFIXES):
                    load_config(path)
            elif kind == "scenarios" and path.name.startswith("day_"):
                load_day(path)
            elif kind == "scenarios":
                load_scenario(path)
            else:
                problems.append(f"{path}:0: not a spec, config or scenario folder")
        except (SpecError, ConfigError, ScenarioError, DayError) as exc:
            problems.append(str(exc))
    return problems

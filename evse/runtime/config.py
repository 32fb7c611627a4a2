"""Station configuration: one YAML file names the driver behind each port and overrides params.

Errors name the file and line (`ConfigError`), never a traceback: a charger integrator edits
these files by hand on site.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evse.fsm.yamlstrict import LMap, YamlError, line_of, load_yaml

DEFAULT_CONFIG = Path(__file__).resolve().parents[2] / "config" / "station.yaml"


class ConfigError(Exception):
    def __init__(self, file: str, line: int, message: str) -> None:
        super().__init__(f"{file}:{line}: {message}")
        self.file = file
        self.line = line
        self.message = message


@dataclass(frozen=True, slots=True)
class BoardConfig:
    driver: str = "sim"
    noise_v: float = 0.3
    contactor_close_ms: float = 30.0
    contactor_open_ms: float = 20.0
    keepalive_timeout_ms: float = 3000.0


@dataclass(frozen=True, slots=True)
class CpSection:
    sample_period_ms: float = 10.0
    hlc_enabled: bool = True
    ventilation_available: bool = False
    params: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StationConfig:
    name: str = "sim-dc"
    seed: int = 1
    board: BoardConfig = field(default_factory=BoardConfig)
    cp: CpSection = field(default_factory=CpSection)
    file: str = "<defaults>"


_SECTIONS = {"station", "board", "cp"}
_BOARD_DRIVERS = {"sim"}


def _section(raw: LMap, key: str, file: str, allowed: dict[str, type]) -> dict[str, Any]:
    body = raw.get(key)
    if body is None:
        return {}
    if not isinstance(body, LMap):
        raise ConfigError(file, line_of(raw, key), f"section {key!r} must be a mapping")
    out: dict[str, Any] = {}
    for k, v in body.items():
        line = line_of(body, k)
        if k not in allowed:
            raise ConfigError(file, line, f"unknown key {key}.{k} (allowed: {sorted(allowed)})")
        want = allowed[k]
        if want is float and isinstance(v, int) and not isinstance(v, bool):
            v = float(v)
        if want is dict:
            if not isinstance(v, LMap):
                raise ConfigError(file, line, f"{key}.{k} must be a mapping")
            for pk, pv in v.items():
                if not isinstance(pv, int | float) or isinstance(pv, bool) or pv < 0:
                    raise ConfigError(
                        file, line_of(v, pk), f"{key}.{k}.{pk} must be seconds >= 0"
                    )
            v = {pk: float(pv) for pk, pv in v.items()}
        elif not isinstance(v, want) or (want is not bool and isinstance(v, bool)):
            raise ConfigError(file, line, f"{key}.{k} must be {want.__name__}, got {v!r}")
        out[k] = v
    return out


def load_config(path: str | Path | None = None) -> StationConfig:
    """Load a station config (default: config/station.yaml)."""
    file = str(path or DEFAULT_CONFIG)
    try:
        raw = load_yaml(file)
    except YamlError as exc:
        raise ConfigError(exc.file, exc.line, exc.message) from exc
    if not isinstance(raw, LMap):
        raise ConfigError(file, 1, "a station config must be a mapping")
    for k in raw:
        if k not in _SECTIONS:
            raise ConfigError(file, line_of(raw, k), f"unknown section {k!r}")
    st = _section(raw, "station", file, {"name": str, "seed": int})
    board = _section(
        raw,
        "board",
        file,
        {
            "driver": str,
            "noise_v": float,
            "contactor_close_ms": float,
            "contactor_open_ms": float,
            "keepalive_timeout_ms": float,
        },
    )
    if board.get("driver", "sim") not in _BOARD_DRIVERS:
        raise ConfigError(
            file,
            line_of(raw.get("board"), "driver"),
            f"unknown board driver {board['driver']!r} (known: {sorted(_BOARD_DRIVERS)})",
        )
    cp = _section(
        raw,
        "cp",
        file,
        {
            "sample_period_ms": float,
            "hlc_enabled": bool,
            "ventilation_available": bool,
            "params": dict,
        },
    )
    if not 1.0 <= cp.get("sample_period_ms", 10.0) <= 20.0:
        # Debounce (3 samples) plus one period must stay well inside the 100 ms of
        # IEC 61851-1 Table A.6 seq. 8.1.
        raise ConfigError(
            file, line_of(raw.get("cp"), "sample_period_ms"), "cp.sample_period_ms must be 1..20"
        )
    return StationConfig(
        name=st.get("name", "sim-dc"),
        seed=st.get("seed", 1),
        board=BoardConfig(**board),
        cp=CpSection(**cp),
        file=file,
    )

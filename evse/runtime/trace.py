"""The session trace: every transition and every message that crosses a module boundary.

One JSON object per line: `{"t": <ns>, "src": ..., "kind": ..., ...payload}`. Keys are
sorted and floats printed by `repr`, so the same configuration and seed give a byte-identical
file (the determinism test compares two runs byte by byte).
"""

from __future__ import annotations

import dataclasses
import enum
import json
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, bytes | bytearray):
        return value.hex()
    if isinstance(value, set | frozenset):
        return sorted(value)
    return repr(value)


def encode_record(t_ns: int, source: str, kind: str, payload: dict[str, Any]) -> str:
    body = {"t": t_ns, "src": source, "kind": kind}
    for k, v in payload.items():
        body.setdefault(k, v)
    return json.dumps(body, sort_keys=True, separators=(",", ":"), default=_jsonable)


class StateChanges:
    """A trace sink for a chart that runs every tick (the power path's `update`): only its
    start and the transitions that change state reach `trace`; its internal transitions
    and ignored events (thousands per session) would cost more than they tell."""

    def __init__(self, trace: Trace) -> None:
        self._trace = trace

    def record(self, source: str, kind: str, payload: dict[str, Any]) -> None:
        if kind == "start" or (kind == "transition" and payload.get("from") != payload.get("to")):
            self._trace.record(source, kind, payload)


class Trace:
    """Collects trace lines; optionally streams them to a file and to listeners."""

    def __init__(self, now_ns: Callable[[], int], *, keep: bool = True) -> None:
        self._now_ns = now_ns
        self._keep = keep
        self.lines: list[str] = []
        self._file: IO[str] | None = None
        self._listeners: list[Callable[[int, str, str, dict[str, Any]], None]] = []

    def open_file(self, path: str | Path) -> None:
        self._file = Path(path).open("w", encoding="utf-8")  # noqa: SIM115 - closed in close()

    def add_listener(self, fn: Callable[[int, str, str, dict[str, Any]], None]) -> None:
        self._listeners.append(fn)

    def record(self, source: str, kind: str, payload: dict[str, Any]) -> None:
        t = self._now_ns()
        for fn in self._listeners:
            fn(t, source, kind, payload)
        if not self._keep and self._file is None:
            return
        line = encode_record(t, source, kind, payload)
        if self._keep:
            self.lines.append(line)
        if self._file is not None:
            self._file.write(line + "\n")

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def text(self) -> str:
        return "".join(line + "\n" for line in self.lines)

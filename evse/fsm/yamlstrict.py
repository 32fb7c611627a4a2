"""Strict YAML loading with line numbers.

PyYAML reads YAML 1.1: `on`, `off`, `yes`, `no` become booleans and a duplicate key silently
overwrites the first one. A chart that says `on: {cp_b: B}` would load as `{True: ...}` and a
state declared twice would lose its first half without a word. Certification reviewers read
the YAML; what runs must be exactly what they read, so this loader rejects both, and keeps the
line of every mapping and key so that every later error can name file and line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

try:  # libyaml is ~9x faster; the constructor stays in Python so line marks survive.
    _BaseLoader: type[yaml.SafeLoader] = yaml.CSafeLoader  # type: ignore[assignment]
except AttributeError:  # pragma: no cover - depends on the PyYAML build
    _BaseLoader = yaml.SafeLoader


class FileLineError(Exception):
    """Base of every error about a file a person wrote (chart, config, scenario): it names
    the file and the 1-based line, and prints as `file:line: message`."""

    def __init__(self, file: str, line: int, message: str) -> None:
        super().__init__(f"{file}:{line}: {message}")
        self.file = file
        self.line = line
        self.message = message


class YamlError(FileLineError):
    """A YAML file is malformed or ambiguous."""


class LMap(dict[str, Any]):
    """A mapping that remembers where it and each of its keys were written."""

    line: int
    key_lines: dict[str, int]


class LList(list[Any]):
    """A sequence that remembers its line."""

    line: int


def _make_loader(file: str) -> type[yaml.SafeLoader]:
    class StrictLoader(_BaseLoader):  # type: ignore[valid-type,misc]
        pass

    def construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> LMap:
        result = LMap()
        result.line = node.start_mark.line + 1
        result.key_lines = {}
        loader.flatten_mapping(node)
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if isinstance(key, bool):
                raise YamlError(
                    file,
                    line,
                    f"key {key_node.value!r} is not a string: YAML 1.1 reads it as the "
                    f"boolean {key}; quote it (use 'when:' for transition maps)",
                )
            if not isinstance(key, str):
                raise YamlError(file, line, f"key {key!r} must be a string")
            if key in result:
                raise YamlError(
                    file, line, f"duplicate key {key!r} (first at line {result.key_lines[key]})"
                )
            result[key] = loader.construct_object(value_node, deep=True)
            result.key_lines[key] = line
        return result

    def construct_sequence(loader: yaml.SafeLoader, node: yaml.SequenceNode) -> LList:
        result = LList(loader.construct_object(child, deep=True) for child in node.value)
        result.line = node.start_mark.line + 1
        return result

    StrictLoader.add_constructor(
        yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, construct_mapping
    )
    StrictLoader.add_constructor(
        yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, construct_sequence
    )
    return StrictLoader


def load_yaml(path: str | Path) -> Any:
    """Load one YAML document strictly; every problem is a `YamlError` with file and line."""
    file = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise YamlError(file, 0, f"cannot read: {exc.strerror}") from exc
    return loads_yaml(text, file)


def loads_yaml(text: str, file: str = "<string>") -> Any:
    """Like `load_yaml` for text already in memory (tests, scenario snippets)."""
    try:
        return yaml.load(text, Loader=_make_loader(file))  # noqa: S506 - strict safe loader
    except YamlError:
        raise
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 0
        raise YamlError(file, line, f"{exc.problem or exc.context}") from exc
    except yaml.YAMLError as exc:
        raise YamlError(file, 0, str(exc)) from exc


def line_of(value: Any, key: str | None = None, default: int = 0) -> int:
    """Best line for `value` (or for `key` inside it): used to point errors at the YAML."""
    if isinstance(value, LMap):
        if key is not None and key in value.key_lines:
            return value.key_lines[key]
        return value.line
    if isinstance(value, LList):
        return value.line
    return default

"""Renders everything derived from signals.yaml: typed values, docs and sequence chart.

`python -m evse.contract.render` writes evse/contract/values.py, docs/contract.md and
docs/contract_sequence.mmd; `--check` exits 1 if any of them differs from what the
definition gives (CI and tests/contract/test_render.py use it). Output is deterministic:
it depends only on the definition text, never on the clock or the environment.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from evse.contract.definition import (
    DEFINITION_PATH,
    BaseType,
    BlockStep,
    ContractDefinition,
    Direction,
    FieldDef,
    MsgStep,
    SignalDef,
    SignalStep,
    Step,
    ValidityMode,
    definition_sha256,
    load_definition,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
VALUES_PATH = Path("evse/contract/values.py")
DOC_PATH = Path("docs/contract.md")
SEQUENCE_PATH = Path("docs/contract_sequence.mmd")

_PY_SCALARS = {
    BaseType.BOOL: "bool",
    BaseType.INT: "int",
    BaseType.FLOAT: "float",
    BaseType.STR: "str",
    BaseType.BYTES: "bytes",
}


# --------------------------------------------------------------------------- values.py


def _py_type(f: FieldDef) -> str:
    item = _PY_SCALARS.get(f.type.base, f.type.name)
    text = f"tuple[{item}, ...]" if f.type.is_list else item
    return text if f.required else f"{text} | None"


def _doc_line(text: str) -> str:
    return " ".join(text.split()).replace('"""', "'''")


def _wrap(text: str, indent: str, width: int = 92) -> list[str]:
    words, lines, line = _doc_line(text).split(), [], ""
    for word in words:
        if line and len(line) + 1 + len(word) > width - len(indent):
            lines.append(indent + line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    if line:
        lines.append(indent + line)
    return lines


def _field_lines(fields: tuple[FieldDef, ...]) -> list[str]:
    out: list[str] = []
    for f in fields:
        default = "" if f.required else " = None"
        out.append(f"    {f.name}: {_py_type(f)}{default}")
        out.extend(_wrap(f.doc + (f" [{f.unit}]" if f.unit else ""), "    #: "))
    return out


def render_values(d: ContractDefinition, sha256: str) -> str:
    lines = [
        '"""Typed values of the controller <-> PLC contract.',
        "",
        "GENERATED from evse/contract/signals.yaml by `python -m evse.contract.render`;",
        "do not edit. Every value checks itself against the definition when built.",
        '"""',
        "",
        "from __future__ import annotations",
        "",
        "import enum",
        "from dataclasses import dataclass",
        "from typing import Any, ClassVar, TypeAlias",
        "",
        "from evse.contract.definition import DEFINITION_SHA256",
        "from evse.contract.errors import ContractDefinitionError",
        "from evse.contract.validate import check_record, check_signal, register_types",
        "",
        f'SOURCE_SHA256 = "{sha256}"',
        "if SOURCE_SHA256 != DEFINITION_SHA256:",
        "    raise ContractDefinitionError(",
        '        "evse/contract/values.py is stale: run `python -m evse.contract.render`"',
        "    )",
        f"CONTRACT_MAJOR = {d.version.major}",
        f"CONTRACT_MINOR = {d.version.minor}",
        "",
    ]
    for e in d.enums.values():
        lines += ["", f"class {e.name}(enum.Enum):", f'    """{_doc_line(e.doc)}"""', ""]
        lines += [f'    {v} = "{v}"' for v in e.values]
        lines.append("")
    for r in d.records.values():
        lines += [
            "",
            "@dataclass(frozen=True, slots=True, kw_only=True)",
            f"class {r.name}:",
            f'    """{_doc_line(r.doc)}"""',
            "",
            *_field_lines(r.fields),
            "",
            "    def __post_init__(self) -> None:",
            "        check_record(self)",
            "",
        ]
    for s in d.signals.values():
        arrow = "PLC -> controller" if s.direction is Direction.PLC_TO_CTRL else \
            "controller -> PLC"
        lines += [
            "",
            "@dataclass(frozen=True, slots=True, kw_only=True)",
            f"class {s.class_name}:",
            f'    """`{s.name}` ({arrow}, {s.kind.value}).',
            "",
            *_wrap(s.doc, "    "),
            '    """',
            "",
            f'    SIGNAL: ClassVar[str] = "{s.name}"',
            *_field_lines(s.fields),
            "",
            "    def __post_init__(self) -> None:",
            "        check_signal(self)",
            "",
        ]
    members = [s.class_name for s in d.signals.values()]
    lines += [
        "",
        "SignalValue: TypeAlias = (",
        f"    {members[0]}",
        *[f"    | {m}" for m in members[1:]],
        ")",
    ]
    lines += [
        '"""Any signal value of the contract."""',
        "",
        "SIGNAL_CLASSES: dict[str, type[SignalValue]] = {",
        *[f'    "{s.name}": {s.class_name},' for s in d.signals.values()],
        "}",
        "ENUM_CLASSES: dict[str, type[enum.Enum]] = {",
        *[f'    "{e.name}": {e.name},' for e in d.enums.values()],
        "}",
        "RECORD_CLASSES: dict[str, type[Any]] = {",
        *[f'    "{r.name}": {r.name},' for r in d.records.values()],
        "}",
        "register_types(ENUM_CLASSES, RECORD_CLASSES)",
        "",
    ]
    return "\n".join(lines)


# --------------------------------------------------------------------------- docs


def _range(f: FieldDef) -> str:
    parts: list[str] = []
    if f.min_value is not None and f.max_value is not None:
        if f.type.base is BaseType.INT:
            parts.append(f"{int(f.min_value)} .. {int(f.max_value)}")
        else:
            parts.append(f"{f.min_value:g} .. {f.max_value:g}")
    if f.max_len is not None:
        what = "items" if f.type.is_list else ("bytes" if f.type.base is BaseType.BYTES
                                                else "chars")
        parts.append(f"{f.min_len or 0} .. {f.max_len} {what}")
    if f.item_max_len is not None:
        parts.append(f"each <= {f.item_max_len}")
    if f.pattern is not None:
        parts.append(f"`{f.pattern}`")
    return "; ".join(parts) or "-"


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _rate(s: SignalDef) -> str:
    if s.rate.min_hz is not None and s.rate.max_hz is not None:
        hz = (f"{s.rate.min_hz:g} Hz" if s.rate.min_hz == s.rate.max_hz
              else f"{s.rate.min_hz:g}-{s.rate.max_hz:g} Hz")
        return f"{s.rate.mode.value} ({hz}): {s.rate.doc}"
    return f"{s.rate.mode.value}: {s.rate.doc}"


def _validity(d: ContractDefinition, s: SignalDef) -> str:
    v = s.validity
    if v.mode is ValidityMode.TTL and v.bound is not None:
        return f"ttl {d.bounds[v.bound].seconds:g} s (`{v.bound}`)"
    if v.mode is ValidityMode.FIELD:
        return f"ttl from field `{v.field}`"
    return str(v.mode.value)


def _dir(s: SignalDef) -> str:
    return "PLC → Controller" if s.direction is Direction.PLC_TO_CTRL else "Controller → PLC"


def render_markdown(d: ContractDefinition, sha256: str, sequence: str) -> str:
    out = [
        f"# Controller ↔ PLC contract `{d.contract}` v{d.version}",
        "",
        "<!-- GENERATED from evse/contract/signals.yaml by `python -m evse.contract.render`;"
        " do not edit. -->",
        f"<!-- source sha256 {sha256} -->",
        "",
        _cell(d.doc),
        "",
        "Sources: " + "; ".join(d.refs) + ".",
        "",
        "## Compatibility rules",
        "",
        *[f"- {_cell(rule)}" for rule in d.compatibility],
        "",
        "## Transports and delivery",
        "",
        "The same `ContractPort` API (`publish(value, now_ns)`, `poll(now_ns)`,"
        " `next_deadline_ns()`, `handle_timer(now_ns)`) is offered by two transports:",
        "",
        "- **In-process** (`evse.contract.inprocess.InProcessLink`), the default single-process"
        " station: immutable typed values are handed over as they are.",
        "- **Byte stream** (`evse.contract.link.StreamLink`, sans-IO; run over a Unix socket,"
        " TCP or a UART by `evse.io.contract_link.ContractLinkAdapter`): frames"
        " `EC 5C | length u32 | header check u16 | CBOR payload | CRC32`; a HELLO exchange"
        " checks contract name, major version and roles and carries each side's process"
        " instance id and resume point; heartbeats both ways every"
        " `link_heartbeat_interval`; a peer silent for `link_dead_timeout` is declared down"
        " and the adapter reconnects; every sample is numbered, acknowledged and resent"
        " (go-back-N on NACK, after `link_retransmit_timeout` and after a reconnect), so"
        " nothing accepted by `publish` is lost while the process lives; while the link is"
        " down a newer sample of a STATE signal replaces the waiting one, EVENT samples are"
        " all kept.",
        "- Invalid input never takes the link down: corrupt frames (framing, CRC, CBOR,"
        " envelope) are counted, logged and dropped, then recovered by retransmission;"
        " well-framed samples that break this definition (unknown signal, unknown field from a"
        " same-minor peer, wrong type, out of range, unknown enum value, missing required"
        " field, wrong direction) are counted, logged, answered with REJECT and never"
        " delivered.",
        "- A changed peer instance id means the peer restarted: `PeerRestarted` is reported"
        " and the latest samples of TTL/field/until-replaced STATE signals are republished;"
        " session-scoped facts are not replayed to a new process.",
        "",
        "The PLC-side watchdogs of section C2 are `evse.contract.guard.PlcContractGuard`:"
        " `auth_decision(now_ns)`, `effective_limits(now_ns)`, `stop_request(now_ns)`,"
        " `schedule(now_ns)`, `pnc_certificate_answer(request_id, now_ns)`; their bounds are"
        " in the table of time bounds below.",
        "",
        "## All signals",
        "",
        "| Signal | Group | Direction | Owner | Kind | Rate | Validity | Required | Fallback |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for s in d.signals.values():
        out.append(
            f"| `{s.name}` | {s.group} | {_dir(s)} | {s.owner.value} | {s.kind.value} | "
            f"{_cell(_rate(s))} | {_validity(d, s)} | {s.requirement.level.value} | "
            f"{s.fallback.action.value} |"
        )
    groups: list[str] = []
    for s in d.signals.values():
        if s.group not in groups:
            groups.append(s.group)
    for group in groups:
        out += ["", f"## Group `{group}`"]
        for s in (s for s in d.signals.values() if s.group == group):
            bounds = ", ".join(
                f"`{b}` = {d.bounds[b].seconds:g} s" for b in s.fallback.bounds
            )
            out += [
                "",
                f"### `{s.name}` → `{s.class_name}`",
                "",
                _cell(s.doc),
                "",
                f"- Direction: {_dir(s)}; owner: {s.owner.value}; kind: {s.kind.value}",
                f"- Rate: {_cell(_rate(s))}",
                f"- Validity: {_validity(d, s)}",
                f"- Required: {s.requirement.level.value} ({_cell(s.requirement.doc)})",
                f"- Fallback when missing or stale: **{s.fallback.action.value}**: "
                f"{_cell(s.fallback.doc)}" + (f" Bounds: {bounds}." if bounds else ""),
                f"- Refs: {'; '.join(s.refs)}",
                "",
                "| Field | Type | Unit | Range | Required | Meaning |",
                "|---|---|---|---|---|---|",
            ]
            out += [
                f"| `{f.name}` | {f.type.spelled()} | {f.unit or '-'} | {_cell(_range(f))} | "
                f"{'yes' if f.required else 'no'} | {_cell(f.doc)} |"
                for f in s.fields
            ]
    out += ["", "## Records", ""]
    for r in d.records.values():
        out += [
            f"### `{r.name}`", "", _cell(r.doc), "",
            "| Field | Type | Unit | Range | Required | Meaning |",
            "|---|---|---|---|---|---|",
        ]
        out += [
            f"| `{f.name}` | {f.type.spelled()} | {f.unit or '-'} | {_cell(_range(f))} | "
            f"{'yes' if f.required else 'no'} | {_cell(f.doc)} |"
            for f in r.fields
        ]
        out.append("")
    out += ["## Enumerations", "", "| Enum | Values | Meaning |", "|---|---|---|"]
    out += [
        f"| `{e.name}` | {', '.join(e.values)} | {_cell(e.doc)} |" for e in d.enums.values()
    ]
    out += [
        "",
        "## Time bounds",
        "",
        "Every watchdog, timeout and heartbeat of the contract, its link and its guard.",
        "",
        "| Bound | Value | Meaning | Source |",
        "|---|---|---|---|",
    ]
    out += [
        f"| `{b.name}` | {b.seconds:g} s | {_cell(b.doc)} | {_cell(b.ref)} |"
        for b in d.bounds.values()
    ]
    out += [
        "",
        "## Full session",
        "",
        "Rendered to `docs/contract_sequence.mmd` as well.",
        "",
        "```mermaid",
        sequence.rstrip("\n"),
        "```",
        "",
    ]
    return "\n".join(out)


def _mermaid_text(text: str) -> str:
    return " ".join(text.split()).replace(";", ",").replace("#", "")


def _sequence_lines(d: ContractDefinition, steps: tuple[Step, ...], indent: str) -> list[str]:
    out: list[str] = []
    for step in steps:
        if isinstance(step, MsgStep):
            out.append(f"{indent}{step.sender}->>{step.receiver}: {_mermaid_text(step.msg)}")
        elif isinstance(step, SignalStep):
            s = d.signals[step.signal]
            a, b = ("plc", "ctrl") if s.direction is Direction.PLC_TO_CTRL else ("ctrl", "plc")
            note = f" ({_mermaid_text(step.note)})" if step.note else ""
            out.append(f"{indent}{a}-){b}: {s.name}{note}")
        elif isinstance(step, BlockStep):
            out.append(f"{indent}{step.kind} {_mermaid_text(step.label)}")
            out += _sequence_lines(d, step.steps, indent + "    ")
            out.append(f"{indent}end")
    return out


def render_sequence(d: ContractDefinition, sha256: str) -> str:
    lines = [
        f"%% GENERATED from evse/contract/signals.yaml (sha256 {sha256}); do not edit.",
        "%% Solid arrows: messages outside the contract. Open arrows: contract signals.",
        "sequenceDiagram",
        *[f"    participant {k} as {v}" for k, v in d.participants.items()],
        *_sequence_lines(d, d.steps, "    "),
    ]
    return "\n".join(lines) + "\n"


def render_all(definition_path: Path = DEFINITION_PATH) -> dict[Path, str]:
    """Relative output path -> content, all derived from one definition file."""
    d = load_definition(definition_path)
    sha = definition_sha256(definition_path)
    sequence = render_sequence(d, sha)
    return {
        VALUES_PATH: render_values(d, sha),
        DOC_PATH: render_markdown(d, sha, sequence),
        SEQUENCE_PATH: sequence,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--check", action="store_true", help="exit 1 if outputs are stale")
    parser.add_argument("--root", type=Path, default=REPO_ROOT, help="repository root")
    args = parser.parse_args(argv)
    stale: list[str] = []
    for rel, content in render_all().items():
        target = args.root / rel
        current = target.read_text(encoding="utf-8") if target.exists() else None
        if current == content:
            continue
        if args.check:
            stale.append(str(rel))
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content, encoding="utf-8")
            print(f"wrote {rel}")
    if stale:
        print("stale (run `python -m evse.contract.render`): " + ", ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

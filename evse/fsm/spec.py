"""Chart specs: strict YAML -> frozen, validated dataclasses.

Theory of operation
-------------------
A chart file declares one machine, state-centric: each state carries its doc, entry/exit
actions, timeouts and outgoing transitions (`when:`), so a reviewer reads everything about a
state in one place. This module turns the YAML into `MachineSpec` and rejects, with file and
line, everything that would otherwise only show up in the field:

- unknown keys, missing docs, undeclared events, unknown or ambiguous targets,
- a state whose timeout has no event, or whose timeout event nothing handles,
- unreachable states, transitions shadowed by an earlier unguarded one,
- event names that would collide with what `transitions` injects into its model.

Callback names cannot be checked here (the handler is not known yet); `check_callbacks`
does it against a handler class, and `evse.fsm.engine.Machine` calls it at construction.

Target resolution: a target is a `.`-path. It is looked up among the siblings of the
declaring state first, then among the siblings of each ancestor, outward to the top level
(so `C.C1` written inside `B.B2` finds the top-level `C`... if `B` has no child `C`).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evse.fsm.yamlstrict import FileLineError, LList, LMap, YamlError, line_of, loads_yaml

_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
# transitions injects these into the model; an event with such a name would be shadowed.
_RESERVED_EVENTS = {"trigger", "state", "machine"}
_RESERVED_PREFIXES = ("is_", "to_", "may_", "_")
SEPARATOR = "."


class SpecError(FileLineError):
    """A chart spec is invalid. One error, naming the spec file and line."""


@dataclass(frozen=True, slots=True)
class ParamSpec:
    name: str
    seconds: float
    ref: str
    line: int

    @property
    def ns(self) -> int:
        return round(self.seconds * 1_000_000_000)


@dataclass(frozen=True, slots=True)
class TimeoutSpec:
    """A timer armed on entry of its state and cancelled on exit; fires `event` once."""

    after: str  # a param name, or the literal seconds as text (e.g. "2.0")
    seconds: float
    event: str
    line: int


@dataclass(frozen=True, slots=True)
class TransitionSpec:
    event: str
    source: str  # dotted path of the declaring state; "" for the global `when`
    target: str | None  # resolved dotted path; None for an internal transition
    guards: tuple[str, ...]
    unless: tuple[str, ...]
    actions: tuple[str, ...]
    line: int

    @property
    def internal(self) -> bool:
        return self.target is None


@dataclass(frozen=True, slots=True)
class StateSpec:
    name: str
    path: str
    doc: str
    entry: tuple[str, ...]
    exit: tuple[str, ...]
    timeouts: tuple[TimeoutSpec, ...]
    transitions: tuple[TransitionSpec, ...]
    initial: str | None
    children: tuple[StateSpec, ...]
    line: int
    #: Labels the owner reads back from the active state (e.g. the power path's Phase);
    #: a state has its own tags plus its ancestors'.
    tags: tuple[str, ...] = ()

    @property
    def is_composite(self) -> bool:
        return bool(self.children)


@dataclass(frozen=True, slots=True)
class MachineSpec:
    name: str
    version: int
    doc: str
    refs: tuple[str, ...]
    initial: str
    params: dict[str, ParamSpec]
    events: dict[str, str]
    states: tuple[StateSpec, ...]
    global_transitions: tuple[TransitionSpec, ...]
    file: str
    sha256: str
    event_lines: dict[str, int] = field(default_factory=dict)

    def iter_states(self) -> Iterator[StateSpec]:
        def walk(states: Iterable[StateSpec]) -> Iterator[StateSpec]:
            for s in states:
                yield s
                yield from walk(s.children)

        return walk(self.states)

    def state(self, path: str) -> StateSpec:
        for s in self.iter_states():
            if s.path == path:
                return s
        raise KeyError(path)

    def tags_of(self, path: str) -> tuple[str, ...]:
        """Tags of the state at `path` and of its ancestors, innermost first."""
        out: list[str] = []
        parts = path.split(SEPARATOR)
        for i in range(len(parts), 0, -1):
            out.extend(self.state(SEPARATOR.join(parts[:i])).tags)
        return tuple(out)

    def leaf_of(self, path: str) -> str:
        """The leaf that entering `path` ends in (following initial states)."""
        s = self.state(path)
        while s.initial is not None:
            s = self.state(f"{s.path}{SEPARATOR}{s.initial}")
        return s.path

    def all_transitions(self) -> Iterator[TransitionSpec]:
        for s in self.iter_states():
            yield from s.transitions
        yield from self.global_transitions

    def callback_uses(self) -> Iterator[tuple[str, str, int]]:
        """(callback name, kind, line) for every callback the chart names."""
        for s in self.iter_states():
            for a in s.entry:
                yield a, "action", s.line
            for a in s.exit:
                yield a, "action", s.line
        for t in self.all_transitions():
            for a in t.actions:
                yield a, "action", t.line
            for g in (*t.guards, *t.unless):
                yield g, "guard", t.line


# --------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------

_TOP_KEYS = {"machine", "version", "doc", "refs", "initial", "params", "events", "when", "states"}
_STATE_KEYS = {"doc", "entry", "exit", "timeouts", "when", "initial", "states", "tags"}
_TRANSITION_KEYS = {"to", "guard", "unless", "do", "internal"}


class _Parser:
    def __init__(self, file: str) -> None:
        self.file = file

    def err(self, line: int, message: str) -> SpecError:
        return SpecError(self.file, line, message)

    def names(self, value: Any, where: str, line: int) -> tuple[str, ...]:
        if value is None:
            return ()
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            raise self.err(line, f"{where} must be a list of callback names")
        out: list[str] = []
        for item in value:
            if not isinstance(item, str) or not _NAME_RE.match(item):
                raise self.err(line, f"{where}: {item!r} is not a valid callback name")
            out.append(item)
        return tuple(out)

    def check_keys(self, m: LMap, allowed: set[str], what: str) -> None:
        for k in m:
            if k not in allowed:
                raise self.err(
                    line_of(m, k), f"unknown key {k!r} in {what} (allowed: {sorted(allowed)})"
                )

    def parse(self, raw: Any, text: str) -> MachineSpec:
        if not isinstance(raw, LMap):
            raise self.err(1, "a chart spec must be a mapping")
        self.check_keys(raw, _TOP_KEYS, "the chart")
        for req in ("machine", "version", "doc", "initial", "events", "states"):
            if req not in raw:
                raise self.err(raw.line, f"missing required key {req!r}")
        name = raw["machine"]
        if not isinstance(name, str) or not _NAME_RE.match(name):
            raise self.err(line_of(raw, "machine"), "machine must be an identifier")
        version = raw["version"]
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise self.err(line_of(raw, "version"), "version must be a positive integer")
        doc = raw["doc"]
        if not isinstance(doc, str) or not doc.strip():
            raise self.err(line_of(raw, "doc"), "doc must be a non-empty text")
        refs_raw = raw.get("refs", [])
        if not isinstance(refs_raw, list) or not all(isinstance(r, str) for r in refs_raw):
            raise self.err(line_of(raw, "refs"), "refs must be a list of texts")

        params = self.parse_params(raw.get("params") or LMap(), line_of(raw, "params"))
        events, event_lines = self.parse_events(raw["events"], line_of(raw, "events"))
        self.params = params
        self.events = events

        states_raw = raw["states"]
        if not isinstance(states_raw, LMap) or not states_raw:
            raise self.err(line_of(raw, "states"), "states must be a non-empty mapping")
        # Pass 1: the state tree without transitions (targets need the whole tree).
        self.tree: dict[str, LMap] = {}
        self.children_of: dict[str, list[str]] = {"": []}
        self.collect(states_raw, "")
        # Pass 2: build specs with resolved targets.
        states = tuple(self.build_state(n, states_raw[n], "") for n in states_raw)
        initial = raw["initial"]
        if not isinstance(initial, str) or initial not in states_raw:
            raise self.err(
                line_of(raw, "initial"), f"initial {initial!r} is not a top-level state"
            )
        global_when = raw.get("when") or LMap()
        global_transitions = self.parse_when(global_when, "", line_of(raw, "when"))
        spec = MachineSpec(
            name=name,
            version=version,
            doc=doc.strip(),
            refs=tuple(refs_raw),
            initial=initial,
            params=params,
            events=events,
            states=states,
            global_transitions=global_transitions,
            file=self.file,
            sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
            event_lines=event_lines,
        )
        _validate(spec, self.file, raw)
        return spec

    def parse_params(self, raw: Any, line: int) -> dict[str, ParamSpec]:
        if not isinstance(raw, LMap):
            raise self.err(line, "params must be a mapping name -> {s: seconds, ref: source}")
        out: dict[str, ParamSpec] = {}
        for pname, body in raw.items():
            pline = line_of(raw, pname)
            if not _NAME_RE.match(pname):
                raise self.err(pline, f"param name {pname!r} is not an identifier")
            if not isinstance(body, LMap) or set(body) - {"s", "ref"} or "s" not in body:
                raise self.err(pline, f"param {pname!r} must be {{s: seconds, ref: source}}")
            seconds = body["s"]
            if not isinstance(seconds, int | float) or isinstance(seconds, bool) or seconds < 0:
                raise self.err(pline, f"param {pname!r}: s must be a non-negative number")
            ref = body.get("ref")
            if not isinstance(ref, str) or not ref.strip():
                raise self.err(pline, f"param {pname!r} needs a ref naming its source")
            out[pname] = ParamSpec(pname, float(seconds), ref, pline)
        return out

    def parse_events(self, raw: Any, line: int) -> tuple[dict[str, str], dict[str, int]]:
        if not isinstance(raw, LMap) or not raw:
            raise self.err(line, "events must be a non-empty mapping name -> description")
        out: dict[str, str] = {}
        lines: dict[str, int] = {}
        for ename, desc in raw.items():
            eline = line_of(raw, ename)
            if not _NAME_RE.match(ename):
                raise self.err(eline, f"event name {ename!r} is not an identifier")
            if ename in _RESERVED_EVENTS or ename.startswith(_RESERVED_PREFIXES):
                raise self.err(
                    eline, f"event name {ename!r} collides with a name the engine reserves"
                )
            if not isinstance(desc, str) or not desc.strip():
                raise self.err(eline, f"event {ename!r} needs a description")
            out[ename] = desc
            lines[ename] = eline
        return out, lines

    def collect(self, states_raw: LMap, parent: str) -> None:
        for sname, body in states_raw.items():
            sline = line_of(states_raw, sname)
            if not _NAME_RE.match(sname):
                raise self.err(sline, f"state name {sname!r} is not an identifier")
            if not isinstance(body, LMap):
                raise self.err(sline, f"state {sname!r} must be a mapping with at least a doc")
            path = f"{parent}{SEPARATOR}{sname}" if parent else sname
            self.tree[path] = body
            self.children_of.setdefault(parent, []).append(sname)
            self.children_of.setdefault(path, [])
            if "states" in body:
                sub = body["states"]
                if not isinstance(sub, LMap) or not sub:
                    raise self.err(line_of(body, "states"), "states must be a non-empty mapping")
                self.collect(sub, path)

    def resolve(self, target: str, declaring: str, line: int) -> str:
        """Resolve a target path relative to the declaring state's parent, then outward."""
        scope = declaring.rpartition(SEPARATOR)[0] if declaring else ""
        while True:
            candidate = f"{scope}{SEPARATOR}{target}" if scope else target
            if candidate in self.tree:
                return candidate
            if not scope:
                break
            scope = scope.rpartition(SEPARATOR)[0]
        raise self.err(line, f"unknown target state {target!r}")

    def build_state(self, sname: str, body: LMap, parent: str) -> StateSpec:
        path = f"{parent}{SEPARATOR}{sname}" if parent else sname
        self.check_keys(body, _STATE_KEYS, f"state {path!r}")
        doc = body.get("doc")
        if not isinstance(doc, str) or not doc.strip():
            raise self.err(body.line, f"state {path!r} needs a doc")
        children_raw = body.get("states")
        children: tuple[StateSpec, ...] = ()
        initial = body.get("initial")
        if children_raw is not None:
            children = tuple(
                self.build_state(c, children_raw[c], path) for c in children_raw
            )
            if not isinstance(initial, str) or initial not in children_raw:
                raise self.err(
                    line_of(body, "initial") if "initial" in body else body.line,
                    f"composite state {path!r} needs an initial child "
                    f"(one of {list(children_raw)})",
                )
        elif initial is not None:
            raise self.err(line_of(body, "initial"), f"state {path!r} has no children")
        timeouts = self.parse_timeouts(body.get("timeouts"), path, line_of(body, "timeouts"))
        transitions = self.parse_when(body.get("when") or LMap(), path, line_of(body, "when"))
        return StateSpec(
            name=sname,
            path=path,
            doc=doc.strip(),
            entry=self.names(body.get("entry"), f"{path}.entry", line_of(body, "entry")),
            exit=self.names(body.get("exit"), f"{path}.exit", line_of(body, "exit")),
            timeouts=timeouts,
            transitions=transitions,
            initial=initial if children else None,
            children=children,
            line=body.line,
            tags=self.names(body.get("tags"), f"{path}.tags", line_of(body, "tags")),
        )

    def parse_timeouts(self, raw: Any, path: str, line: int) -> tuple[TimeoutSpec, ...]:
        if raw is None:
            return ()
        if isinstance(raw, LMap):
            raw = [raw]
        if not isinstance(raw, list):
            raise self.err(line, f"{path}: timeouts must be a list of {{after, event}}")
        out: list[TimeoutSpec] = []
        for item in raw:
            iline = line_of(item, default=line)
            if not isinstance(item, LMap):
                raise self.err(iline, f"{path}: a timeout must be {{after: ..., event: ...}}")
            self.check_keys(item, {"after", "event"}, f"a timeout of {path!r}")
            if "after" not in item:
                raise self.err(iline, f"state {path!r} has a timeout without 'after'")
            if "event" not in item:
                raise self.err(iline, f"state {path!r} has a timeout but no timeout event")
            after = item["after"]
            if isinstance(after, str):
                if after not in self.params:
                    raise self.err(iline, f"timeout after {after!r}: no such param")
                seconds = self.params[after].seconds
                label = after
            elif isinstance(after, int | float) and not isinstance(after, bool) and after > 0:
                seconds = float(after)
                label = repr(float(after))
            else:
                raise self.err(iline, f"{path}: timeout 'after' must be a param or seconds > 0")
            event = item["event"]
            if not isinstance(event, str) or event not in self.events:
                raise self.err(iline, f"timeout event {event!r} is not declared in events")
            out.append(TimeoutSpec(label, seconds, event, iline))
        return tuple(out)

    def parse_when(self, raw: Any, path: str, line: int) -> tuple[TransitionSpec, ...]:
        if not isinstance(raw, LMap):
            raise self.err(line, f"{path or 'top level'}: when must be a mapping event -> target")
        out: list[TransitionSpec] = []
        for event, body in raw.items():
            eline = line_of(raw, event)
            if event not in self.events:
                raise self.err(eline, f"event {event!r} is not declared in events")
            items = body if isinstance(body, list) else [body]
            unguarded_seen = False
            for item in items:
                iline = line_of(item, default=eline)
                if unguarded_seen:
                    raise self.err(
                        iline,
                        f"{path or 'top level'}: transition on {event!r} is unreachable: an "
                        "earlier one has no guard",
                    )
                t = self.parse_transition(event, item, path, iline)
                if not t.guards and not t.unless:
                    unguarded_seen = True
                out.append(t)
        return tuple(out)

    def parse_transition(self, event: str, item: Any, path: str, line: int) -> TransitionSpec:
        if isinstance(item, str):
            item = LMap({"to": item})
            item.line = line
            item.key_lines = {}
        if not isinstance(item, LMap):
            raise self.err(line, f"transition on {event!r} must be a target or a mapping")
        self.check_keys(item, _TRANSITION_KEYS, f"transition on {event!r}")
        internal = item.get("internal", False)
        if not isinstance(internal, bool):
            raise self.err(line, "internal must be true or false")
        to = item.get("to")
        if internal and to is not None:
            raise self.err(line, f"transition on {event!r}: internal transitions have no 'to'")
        if not internal and not isinstance(to, str):
            raise self.err(line, f"transition on {event!r} needs 'to' (or internal: true)")
        if not path and internal:
            raise self.err(line, "a global transition cannot be internal")
        target = None if internal else self.resolve(str(to), path or "", line)
        return TransitionSpec(
            event=event,
            source=path,
            target=target,
            guards=self.names(item.get("guard"), f"guard of {event!r}", line),
            unless=self.names(item.get("unless"), f"unless of {event!r}", line),
            actions=self.names(item.get("do"), f"do of {event!r}", line),
            line=line,
        )


def _validate(spec: MachineSpec, file: str, raw: LMap) -> None:
    handled_by_state: dict[str, set[str]] = {}
    for s in spec.iter_states():
        handled_by_state[s.path] = {t.event for t in s.transitions}
    global_events = {t.event for t in spec.global_transitions}

    # A timeout event must be handled by its state, an ancestor or the global `when`.
    for s in spec.iter_states():
        for to in s.timeouts:
            scope = s.path
            handled = to.event in global_events
            while scope and not handled:
                handled = to.event in handled_by_state[scope]
                scope = scope.rpartition(SEPARATOR)[0]
            if not handled:
                raise SpecError(
                    file,
                    to.line,
                    f"state {s.path!r}: timeout event {to.event!r} is never handled "
                    "by this state or its ancestors",
                )

    # Reachability from the initial state over targets (entering a composite enters its
    # initial chain; entering a nested state enters its ancestors).
    reached: set[str] = set()

    def enter(path: str) -> None:
        parts = path.split(SEPARATOR)
        for i in range(1, len(parts) + 1):
            reached.add(SEPARATOR.join(parts[:i]))
        st = spec.state(path)
        if st.initial is not None:
            enter(f"{path}{SEPARATOR}{st.initial}")

    enter(spec.initial)
    changed = True
    while changed:
        changed = False
        for t in spec.all_transitions():
            if t.target is None or t.target in reached:
                continue
            if t.source == "" or t.source in reached:
                enter(t.target)
                changed = True
    for s in spec.iter_states():
        if s.path not in reached:
            raise SpecError(file, s.line, f"state {s.path!r} is unreachable from {spec.initial!r}")

    used_params = {to.after for s in spec.iter_states() for to in s.timeouts}
    for p in spec.params.values():
        if p.name not in used_params:
            raise SpecError(file, p.line, f"param {p.name!r} is declared but never used")


def parse_spec(text: str, file: str = "<string>") -> MachineSpec:
    """Parse and validate a chart from YAML text."""
    try:
        raw = loads_yaml(text, file)
    except YamlError as exc:
        raise SpecError(exc.file, exc.line, exc.message) from exc
    return _Parser(file).parse(raw, text)


def load_spec(path: str | Path) -> MachineSpec:
    """Load and validate `fsm_specs/NAME.yaml`."""
    file = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError(file, 0, f"cannot read: {exc.strerror}") from exc
    return parse_spec(text, file)


def check_callbacks(spec: MachineSpec, handler: object) -> None:
    """Every callback name the chart uses must be a callable attribute of the handler."""
    for name, kind, line in spec.callback_uses():
        if not callable(getattr(handler, name, None)):
            owner = handler.__name__ if isinstance(handler, type) else type(handler).__name__
            raise SpecError(
                spec.file, line, f"unknown {kind} {name!r}: {owner} has no such callback"
            )


__all__ = [
    "LList",
    "MachineSpec",
    "ParamSpec",
    "SpecError",
    "StateSpec",
    "TimeoutSpec",
    "TransitionSpec",
    "check_callbacks",
    "load_spec",
    "parse_spec",
]

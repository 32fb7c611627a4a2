"""Render charts from the spec itself (not from a running object): DOT/SVG and Mermaid.

What reviewers read is what runs: the picture is made from the same `MachineSpec` the
engine executes. Composite states are Graphviz clusters; edge labels follow UML
(`event [guard & !unless] / actions`); timer-driven edges say `after NAME (N s)`; internal
transitions and entry/exit actions are listed inside their state; global transitions hang
on an "any state" node. A footer carries machine, version and the spec's SHA-256, so a
stale picture is detectable.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from evse.fsm.spec import MachineSpec, StateSpec, TransitionSpec, load_spec


def _q(text: str) -> str:
    # "\\n" in a label is DOT's line break (the labels are built with it); any other
    # backslash is doubled. Doubling every backslash printed a literal "\\n" in every box.
    return '"' + re.sub(r"\\(?!n)", r"\\\\", text).replace('"', '\\"') + '"'


def _nid(path: str) -> str:
    return "s_" + path.replace(".", "__")


def _timer_labels(spec: MachineSpec) -> dict[tuple[str, str], str]:
    """(declaring state, event) -> 'after t_x (N s)' for events raised by state timeouts."""
    out: dict[tuple[str, str], str] = {}
    for s in spec.iter_states():
        for to in s.timeouts:
            out[(s.path, to.event)] = f"after {to.after} ({to.seconds:g} s)"
    return out


def _edge_label(t: TransitionSpec, timer: str | None) -> str:
    label = t.event if timer is None else f"{t.event}\\n{timer}"
    conds = [*t.guards, *(f"!{u}" for u in t.unless)]
    if conds:
        label += " [" + " & ".join(conds) + "]"
    if t.actions:
        label += " / " + ", ".join(t.actions)
    return label


def _timer_for(
    spec: MachineSpec, t: TransitionSpec, timers: dict[tuple[str, str], str]
) -> str | None:
    # A timeout event handled by the state that armed it, or by one of its descendants'
    # ancestors: show the timer next to the edge that consumes it.
    for (path, event), label in timers.items():
        if event == t.event and (path == t.source or path.startswith(t.source + ".")):
            return label
    return None


def _state_label(s: StateSpec) -> str:
    lines = [s.name]
    if s.entry:
        lines.append("entry / " + ", ".join(s.entry))
    if s.exit:
        lines.append("exit / " + ", ".join(s.exit))
    for to in s.timeouts:
        lines.append(f"after {to.after} ({to.seconds:g} s) -> {to.event}")
    for t in s.transitions:
        if t.internal:
            lines.append(_edge_label(t, None).replace("\\n", " "))
    return "\\n".join(lines)


def to_dot(spec: MachineSpec) -> str:
    """Graphviz DOT text for one chart (deterministic: same spec, same bytes)."""
    timers = _timer_labels(spec)
    out = [
        f"digraph {spec.name} {{",
        "  compound=true; rankdir=TB; newrank=true;",
        '  node [shape=box, style="rounded", fontname="Helvetica", fontsize=10];',
        '  edge [fontname="Helvetica", fontsize=9];',
        '  graph [fontname="Helvetica", fontsize=11];',
        '  start [shape=point, width=0.15, label=""];',
    ]

    def emit(states: tuple[StateSpec, ...], indent: str) -> None:
        for s in states:
            if s.children:
                out.append(f"{indent}subgraph cluster_{_nid(s.path)} {{")
                out.append(f"{indent}  label={_q(_state_label(s))}; style=rounded;")
                emit(s.children, indent + "  ")
                out.append(f"{indent}}}")
            else:
                out.append(f"{indent}{_nid(s.path)} [label={_q(_state_label(s))}];")

    emit(spec.states, "  ")
    out.append(f"  start -> {_nid(spec.leaf_of(spec.initial))};")

    def anchor(path: str) -> tuple[str, str | None]:
        st = spec.state(path)
        if st.children:
            return _nid(spec.leaf_of(path)), f"cluster_{_nid(path)}"
        return _nid(path), None

    for s in spec.iter_states():
        for t in s.transitions:
            if t.target is None:
                continue
            tail, ltail = anchor(t.source)
            head, lhead = anchor(t.target)
            attrs = [f"label={_q(_edge_label(t, _timer_for(spec, t, timers)))}"]
            if ltail and not t.target.startswith(t.source + "."):
                attrs.append(f"ltail={ltail}")
            if lhead and not t.source.startswith(t.target + "."):
                attrs.append(f"lhead={lhead}")
            out.append(f"  {tail} -> {head} [{', '.join(attrs)}];")
    if spec.global_transitions:
        out.append('  any [shape=note, label="any state"];')
        for t in spec.global_transitions:
            assert t.target is not None
            head, lhead = anchor(t.target)
            attrs = [f"label={_q(_edge_label(t, None))}", "style=dashed"]
            if lhead:
                attrs.append(f"lhead={lhead}")
            out.append(f"  any -> {head} [{', '.join(attrs)}];")
    footer = f"{spec.name} v{spec.version}  sha256 {spec.sha256}"
    out.append(f"  label={_q(footer)}; labelloc=b; labeljust=l;")
    out.append("}")
    return "\n".join(out) + "\n"


def _mid(path: str) -> str:
    return path.replace(".", "_")


def to_mermaid(spec: MachineSpec) -> str:
    """Mermaid stateDiagram-v2 text for one chart."""
    timers = _timer_labels(spec)
    out = ["stateDiagram-v2", f"  %% {spec.name} v{spec.version} sha256 {spec.sha256}"]

    def emit(states: tuple[StateSpec, ...], indent: str) -> None:
        for s in states:
            if s.children:
                out.append(f"{indent}state {_mid(s.path)} {{")
                out.append(f"{indent}  [*] --> {_mid(s.path + '.' + (s.initial or ''))}")
                emit(s.children, indent + "  ")
                out.append(f"{indent}}}")
            out.append(f'{indent}state "{s.name}" as {_mid(s.path)}')

    emit(spec.states, "  ")
    out.append(f"  [*] --> {_mid(spec.initial)}")
    for s in spec.iter_states():
        for t in s.transitions:
            label = _edge_label(t, _timer_for(spec, t, timers)).replace("\\n", " ")
            target = s.path if t.target is None else t.target
            out.append(f"  {_mid(s.path)} --> {_mid(target)} : {label.replace(':', ' ')}")
    for t in spec.global_transitions:
        assert t.target is not None
        for top in spec.states:
            if top.path != t.target:
                out.append(f"  {_mid(top.path)} --> {_mid(t.target)} : {_edge_label(t, None)}")
    return "\n".join(out) + "\n"


def render_all(spec_dir: Path, out_dir: Path, *, svg: bool = True) -> list[Path]:
    """Write NAME.dot, NAME.mmd and (with Graphviz installed) NAME.svg for every chart."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    dot_bin = shutil.which("dot") if svg else None
    for path in sorted(spec_dir.glob("*.yaml")):
        spec = load_spec(path)
        dot = to_dot(spec)
        (out_dir / f"{spec.name}.dot").write_text(dot, encoding="utf-8")
        (out_dir / f"{spec.name}.mmd").write_text(to_mermaid(spec), encoding="utf-8")
        written += [out_dir / f"{spec.name}.dot", out_dir / f"{spec.name}.mmd"]
        if dot_bin is not None:
            svg_path = out_dir / f"{spec.name}.svg"
            subprocess.run(
                [dot_bin, "-Tsvg", "-o", str(svg_path)], input=dot.encode(), check=True
            )
            written.append(svg_path)
    return written


def to_dot_composite(spec: MachineSpec, path: str) -> str:
    """DOT for one composite state: its sub-states in full, every transition that starts or
    ends inside it; states outside are grey stubs named by their path. The review pack's
    per-state page (`evse audit`): big charts stay readable one composite at a time."""
    top = spec.state(path)
    if not top.children:
        raise ValueError(f"{path} is not a composite state")
    timers = _timer_labels(spec)
    inside = {s.path for s in spec.iter_states() if s.path.startswith(path + ".")}
    out = [
        f"digraph {_nid(path)} {{",
        "  compound=true; rankdir=TB; newrank=true;",
        '  node [shape=box, style="rounded", fontname="Helvetica", fontsize=10];',
        '  edge [fontname="Helvetica", fontsize=9];',
        '  graph [fontname="Helvetica", fontsize=11];',
        '  start [shape=point, width=0.15, label=""];',
    ]

    def emit(states: tuple[StateSpec, ...], indent: str) -> None:
        for s in states:
            if s.children:
                out.append(f"{indent}subgraph cluster_{_nid(s.path)} {{")
                out.append(f"{indent}  label={_q(_state_label(s))}; style=rounded;")
                emit(s.children, indent + "  ")
                out.append(f"{indent}}}")
            else:
                out.append(f"{indent}{_nid(s.path)} [label={_q(_state_label(s))}];")

    out.append(f"  subgraph cluster_{_nid(path)} {{")
    out.append(f"    label={_q(_state_label(top))}; style=rounded;")
    emit(top.children, "    ")
    out.append("  }")
    assert top.initial is not None
    out.append(f"  start -> {_nid(spec.leaf_of(path + '.' + top.initial))};")
    stubs: set[str] = set()

    def anchor(p: str) -> tuple[str, str | None]:
        if p == path or p in inside:
            st = spec.state(p)
            if st.children:
                return _nid(spec.leaf_of(p)), f"cluster_{_nid(p)}"
            return _nid(p), None
        stubs.add(p)
        return "x_" + _nid(p), None

    for s in spec.iter_states():
        for t in s.transitions:
            if t.target is None:
                continue
            src_in = t.source == path or t.source in inside
            dst_in = t.target == path or t.target in inside
            if not (src_in or dst_in):
                continue
            tail, ltail = anchor(t.source)
            head, lhead = anchor(t.target)
            attrs = [f"label={_q(_edge_label(t, _timer_for(spec, t, timers)))}"]
            if ltail and not t.target.startswith(t.source + "."):
                attrs.append(f"ltail={ltail}")
            if lhead and not t.source.startswith(t.target + "."):
                attrs.append(f"lhead={lhead}")
            out.append(f"  {tail} -> {head} [{', '.join(attrs)}];")
    for p in sorted(stubs):
        out.append(f'  x_{_nid(p)} [label={_q(p)}, style="rounded,dashed", color=gray, '
                   "fontcolor=gray];")
    footer = f"{spec.name} v{spec.version} state {path}  sha256 {spec.sha256}"
    out.append(f"  label={_q(footer)}; labelloc=b; labeljust=l;")
    out.append("}")
    return "\n".join(out) + "\n"


def dot_to_svg(dot: str, svg_path: Path) -> bool:
    """Draw DOT text to an SVG file with Graphviz; False when Graphviz is not installed."""
    dot_bin = shutil.which("dot")
    if dot_bin is None:
        return False
    subprocess.run([dot_bin, "-Tsvg", "-o", str(svg_path)], input=dot.encode(), check=True)
    return True

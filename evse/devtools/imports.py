"""The import graph of the source tree, from the AST (no import, no third-party tool).

Two granularities: modules (`evse.controller.core`) and *units*, the boxes of the layering
picture in docs/architecture.md: each sub-package of `evse` (`evse.secc`, `evse.io`,
`evse.runtime`, ...), the `evse.cli` module, `exi` and each sub-package of `drivers`. Every
import counts, including those under `if TYPE_CHECKING:` and inside functions: a late import
hides a circle from Python, not from a reader. `tests/test_layering.py` checks both graphs;
this module renders the unit graph:

    python -m evse.devtools.imports             # writes docs/imports.dot and docs/imports.svg
    python -m evse.devtools.imports --no-svg    # DOT only (no Graphviz needed)
"""

from __future__ import annotations

import argparse
import ast
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

from evse.devtools.layers import KERNEL_MODULES, KERNEL_UNIT, LAYER_OF, LAYERS

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("evse", "exi", "drivers")
#: Generated code (the EXI grammars) is one unit with its package and adds no edges of its own.
SKIP_PARTS = frozenset({"_generated", "__pycache__"})


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def source_files(root: Path = ROOT) -> list[Path]:
    files: list[Path] = []
    for package in PACKAGES:
        files.extend(p for p in sorted((root / package).rglob("*.py"))
                     if not SKIP_PARTS.intersection(p.relative_to(root).parts))
    return files


def imported_names(path: Path, module: str) -> set[str]:
    """Absolute names of everything `path` imports (relative imports resolved)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                drop = node.level - 1 if is_package else node.level
                base = base[: len(base) - drop] if drop else base
                prefix = ".".join(base)
                name = f"{prefix}.{node.module}" if node.module else prefix
            else:
                name = node.module or ""
            out.add(name)
            # `from evse.runtime import clock` imports the module evse.runtime.clock
            out.update(f"{name}.{alias.name}" for alias in node.names)
    return out


def module_graph(root: Path = ROOT) -> dict[str, set[str]]:
    """module -> the modules of this tree it imports."""
    files = source_files(root)
    known = {module_name(p, root): p for p in files}
    graph: dict[str, set[str]] = {}
    for name, path in known.items():
        targets = set()
        for imported in imported_names(path, name):
            if imported in known and imported != name:
                targets.add(imported)
        graph[name] = targets
    return graph


def unit_of(module: str) -> str:
    """The box of the layering picture a module belongs to."""
    if module in KERNEL_MODULES:
        return KERNEL_UNIT
    parts = module.split(".")
    if parts[0] == "exi":
        return "exi"
    if parts[0] == "drivers":
        return ".".join(parts[:2])
    if len(parts) == 1:
        return "evse"
    return ".".join(parts[:2])


def unit_graph(modules: Mapping[str, Iterable[str]]) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for module, targets in modules.items():
        unit = unit_of(module)
        edges = graph.setdefault(unit, set())
        edges.update(unit_of(t) for t in targets if unit_of(t) != unit)
    return graph


def cycles(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """The strongly connected components with more than one node (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def visit(node: str) -> None:
        nonlocal counter
        index[node] = low[node] = counter
        counter += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def to_dot(graph: Mapping[str, Iterable[str]], layers: Mapping[str, str]) -> str:
    """DOT text, one cluster per layer (`layers`: unit -> layer name), edges pointing down."""
    lines = ["digraph imports {", "  rankdir=TB;", '  node [shape=box, fontname="Helvetica"];',
             '  edge [color="#555555"];']
    by_layer: dict[str, list[str]] = {name: [] for name, _ in LAYERS}
    for unit in sorted(graph):
        by_layer.setdefault(layers.get(unit, "unassigned"), []).append(unit)
    by_layer = {name: units for name, units in by_layer.items() if units}
    for i, (layer, units) in enumerate(by_layer.items()):
        lines.append(f'  subgraph cluster_{i} {{ label="{layer}"; style=rounded;')
        lines.extend(f'    "{u}";' for u in units)
        lines.append("  }")
    for unit in sorted(graph):
        lines.extend(f'  "{unit}" -> "{t}";' for t in sorted(graph[unit]))
    lines.append("}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m evse.devtools.imports", description=__doc__)
    p.add_argument("--out", default=str(ROOT / "docs" / "imports"),
                   help="output path without suffix (default docs/imports)")
    p.add_argument("--no-svg", action="store_true", help="write the DOT file only")
    args = p.parse_args(argv)
    graph = unit_graph(module_graph())
    dot_text = to_dot(graph, {u: LAYER_OF[u] for u in graph if u in LAYER_OF})
    out = Path(args.out)
    out.with_suffix(".dot").write_text(dot_text, encoding="utf-8")
    if not args.no_svg:
        dot = shutil.which("dot")
        if dot is None:
            print("error: Graphviz `dot` not found (use --no-svg)", file=sys.stderr)
            return 2
        subprocess.run([dot, "-Tsvg", "-o", str(out.with_suffix(".svg")),
                        str(out.with_suffix(".dot"))], check=True)
    print(f"wrote {out.with_suffix('.dot')}" + ("" if args.no_svg else " and .svg"))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

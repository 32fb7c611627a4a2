"""The import contract of docs/architecture.md, checked on the source (no import-linter
needed): cores are sans-IO, drivers see only ports, nobody reads the clock but clock.py."""

from __future__ import annotations

import ast
from pathlib import Path

from evse.devtools.imports import cycles, module_graph, to_dot, unit_graph
from evse.devtools.layers import LAYER_OF, RANK_OF, allowed

ROOT = Path(__file__).resolve().parents[1]

IO_MODULES = {"socket", "ssl", "threading", "asyncio", "selectors", "subprocess", "select"}
# evse/runtime is the kernel and the composition roots; evse/io holds the socket,
# serial and websocket adapters (checked on their own below)
CORE_EXEMPT_PARTS = {"runtime", "io", "campaign"}  # campaign: runs whole stations


def imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
    return out


def top(name: str) -> str:
    return name.split(".")[0]


def core_files() -> list[Path]:
    files = []
    for path in (ROOT / "evse").rglob("*.py"):
        rel = path.relative_to(ROOT / "evse").parts
        if rel[0] in CORE_EXEMPT_PARTS or rel[0] == "cli.py":
            continue
        if rel[0] == "fsm" and rel[-1] == "render.py":
            continue  # the renderer shells out to Graphviz; it is a tool, not a core
        if rel[0] == "devtools":
            continue  # maintainer tools (the import-graph renderer shells out to Graphviz)
        files.append(path)
    return files + list((ROOT / "exi").rglob("*.py"))


def test_cores_are_sans_io() -> None:
    for path in core_files():
        bad = {m for m in imports(path) if top(m) in IO_MODULES}
        assert not bad, f"{path.relative_to(ROOT)} imports I/O modules {sorted(bad)}"


def test_cores_never_import_runtime_or_drivers() -> None:
    for path in core_files():
        bad = {
            m for m in imports(path)
            if m.startswith(("evse.runtime", "evse.io")) or top(m) == "drivers"
        }
        assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


def test_exi_is_standalone() -> None:
    for path in (ROOT / "exi").rglob("*.py"):
        bad = {m for m in imports(path) if top(m) in {"evse", "drivers"}}
        assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


def test_drivers_see_only_ports() -> None:
    """Drivers see the ports, and the chart engine (a driver's own sequencing, such as the
    MCU link's, is a chart too: fsm_specs/mcu_link.yaml); never a core or the runtime."""
    for path in (ROOT / "drivers").rglob("*.py"):
        bad = {
            m for m in imports(path)
            if top(m) == "evse" and not m.startswith(("evse.ports", "evse.fsm"))
        }
        assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


def test_only_the_clock_module_reads_time() -> None:
    for base in ("evse", "exi", "drivers"):
        for path in (ROOT / base).rglob("*.py"):
            if path == ROOT / "evse" / "runtime" / "clock.py":
                continue
            src = path.read_text(encoding="utf-8")
            for banned in ("time.sleep(", "time.time(", "time.monotonic("):
                assert banned not in src, f"{path.relative_to(ROOT)} calls {banned}"


def test_io_adapters_use_only_the_kernel_clock() -> None:
    """An adapter moves bytes for a core; it never reaches into a composition root."""
    for path in (ROOT / "evse" / "io").rglob("*.py"):
        bad = {
            m for m in imports(path)
            if (m.startswith("evse.runtime") and m != "evse.runtime.clock") or top(m) == "drivers"
        }
        assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


# ------------------------------------------------------------------ the layering picture
# docs/architecture.md "Layers": evse/devtools/layers.py is the table, docs/imports.svg the
# picture rendered from the source by evse/devtools/imports.py.


def test_every_package_has_a_layer() -> None:
    missing = sorted(set(unit_graph(module_graph())) - set(LAYER_OF))
    assert not missing, f"add {missing} to a layer in evse/devtools/layers.py"


def test_imports_point_down_the_layers() -> None:
    bad = [
        f"{src} (layer {RANK_OF.get(src)}) imports {dst} (layer {RANK_OF.get(dst)})"
        for src, targets in sorted(unit_graph(module_graph()).items())
        for dst in sorted(targets) if not allowed(src, dst)
    ]
    assert not bad, "\n".join(bad)


def test_no_import_circles_between_modules() -> None:
    """Every import counts, even under TYPE_CHECKING or inside a function."""
    assert cycles(module_graph()) == []


def test_no_import_circles_between_packages() -> None:
    assert cycles(unit_graph(module_graph())) == []


def test_the_rendered_import_picture_is_current() -> None:
    graph = unit_graph(module_graph())
    expected = to_dot(graph, {u: LAYER_OF[u] for u in graph if u in LAYER_OF})
    assert (ROOT / "docs" / "imports.dot").read_text(encoding="utf-8") == expected, (
        "regenerate it: python -m evse.devtools.imports")


def test_the_graph_sees_late_and_type_checking_imports(tmp_path: Path) -> None:
    """A circle hidden behind a late import is still a circle for the reader."""
    pkg = tmp_path / "evse" / "demo"
    pkg.mkdir(parents=True)
    for d in ("evse", "evse/demo"):
        (tmp_path / d / "__init__.py").write_text("", encoding="utf-8")
    (pkg / "a.py").write_text("def f():\n    from evse.demo import b\n", encoding="utf-8")
    (pkg / "b.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from evse.demo.a import f\n",
        encoding="utf-8")
    (tmp_path / "exi").mkdir()
    (tmp_path / "drivers").mkdir()
    assert cycles(module_graph(tmp_path)) == [["evse.demo.a", "evse.demo.b"]]

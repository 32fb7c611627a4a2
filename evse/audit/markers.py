"""Requirement markers of the test suite, found by reading the test files (AST), not by
importing them.

Why not `pytest --collect-only`: collecting the suite imports every test module and its
fixtures (about 15 s CPU on the build machine, and it needs the optional test dependencies);
`evse audit --check` runs in CI on every push and in a test on a temporary copy of the tree,
so it must be fast and side-effect free. The markers are plain decorators with string
arguments, which the AST gives exactly. What the AST cannot see (a marker built at run time)
is refused: every `pytest.mark.req` argument must be a string literal.
`evse audit --run` then runs the marked tests under pytest and records pass/fail per node.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

from evse.audit.checklist import ITEM_ID, AuditError


@dataclass(frozen=True, slots=True)
class MarkedTest:
    test: str  # pytest node id without parameters: tests/x/test_y.py::[Class::]test_name
    items: tuple[str, ...]  # checklist IDs
    clauses: tuple[str, ...]  # other arguments: requirement clauses such as V2G2-443
    line: int


def _req_args(dec: ast.expr, file: str) -> tuple[str, ...] | None:
    if not isinstance(dec, ast.Call) or ast.unparse(dec.func) not in ("pytest.mark.req",
                                                                      "mark.req"):
        return None
    args: list[str] = []
    for a in dec.args:
        if not isinstance(a, ast.Constant) or not isinstance(a.value, str):
            raise AuditError(file, dec.lineno, "pytest.mark.req arguments must be string literals")
        args.append(a.value)
    if not args or dec.keywords:
        raise AuditError(file, dec.lineno, "pytest.mark.req needs at least one ID, no keywords")
    return tuple(args)


def _module_marks(tree: ast.Module, file: str) -> tuple[str, ...]:
    out: list[str] = []
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "pytestmark" for t in node.targets):
            values = node.value.elts if isinstance(node.value, (ast.List, ast.Tuple)) else [
                node.value]
            for v in values:
                out += _req_args(v, file) or ()
    return tuple(out)


def scan_file(path: Path, rel: str, known: set[str]) -> list[MarkedTest]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=rel)
    found: list[MarkedTest] = []
    module_args = _module_marks(tree, rel)

    def decorated(decs: list[ast.expr]) -> tuple[str, ...]:
        out: list[str] = []
        for d in decs:
            out += _req_args(d, rel) or ()
        return tuple(out)

    def add(node: ast.FunctionDef | ast.AsyncFunctionDef, prefix: str,
            inherited: tuple[str, ...]) -> None:
        args = inherited + decorated(node.decorator_list)
        if not args:
            return
        items, clauses = [], []
        for a in args:
            if ITEM_ID.match(a):
                if a not in known:
                    raise AuditError(rel, node.lineno, f"marker names unknown checklist item {a}")
                if a not in items:
                    items.append(a)
            elif a not in clauses:
                clauses.append(a)
        found.append(MarkedTest(f"{rel}::{prefix}{node.name}", tuple(items), tuple(clauses),
                                node.lineno))

    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith(
                "test"):
            add(node, "", module_args)
        elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            inherited = module_args + decorated(node.decorator_list)
            for sub in node.body:
                if isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef)) and (
                        sub.name.startswith("test")):
                    add(sub, node.name + "::", inherited)
    return found


def scan_tests(root: Path, known: set[str]) -> list[MarkedTest]:
    """Every marked test under root/tests, sorted by node id (deterministic)."""
    out: list[MarkedTest] = []
    for path in sorted((root / "tests").rglob("test_*.py")):
        out += scan_file(path, path.relative_to(root).as_posix(), known)
    return sorted(out, key=lambda m: m.test)

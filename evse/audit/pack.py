"""Build, write and check the review pack (`docs/review/`).

`build_pack` is a pure function of the tree (charts, checklist, markers, fault table, timing
constants, contract bounds) and of the last live run (`run.json`, written by `evse audit
--run`): same inputs, same bytes. Graphviz draws the SVG charts; their DOT sources are part of
the pack and are compared exactly, the SVGs by the chart SHA-256 in their footer (so a machine
without Graphviz can still check the pack).
"""

from __future__ import annotations

import ast
import importlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

from evse.audit import fault_matrix
from evse.audit.checklist import Item, load_checklist
from evse.audit.markers import MarkedTest, scan_tests
from evse.audit.svg import Band, Series, bars_against_bounds, line_panels
from evse.fsm.render import dot_to_svg, to_dot, to_dot_composite
from evse.fsm.spec import MachineSpec, load_spec

GROUPS = ("P0", "P1", "P2", "PLC")
#: Modules whose sourced `#:`-commented *_NS constants are bounds the reviewer must see.
TIMING_MODULES = (
    "evse/power/shutdown.py", "evse/power/controller.py", "evse/power/cable_check.py",
    "evse/power/welding.py", "evse/secc/timing.py", "evse/slac/timing.py", "evse/cp/pilot.py",
    "evse/contract/guard.py", "evse/controller/timers.py", "evse/secc/admission.py",
)


@dataclass(frozen=True, slots=True)
class Inputs:
    items: tuple[Item, ...]
    marked: tuple[MarkedTest, ...]
    specs: tuple[MachineSpec, ...]
    run: dict[str, Any]
    #: The last fault campaign's matrix (campaign.json, bench/fault_campaign.py --out).
    campaign: dict[str, Any] | None = None


def load_inputs(root: Path, out_dir: Path) -> Inputs:
    items = load_checklist(root)
    marked = tuple(scan_tests(root, {i.id for i in items}))
    specs = tuple(load_spec(p) for p in sorted((root / "fsm_specs").glob("*.yaml")))
    run_file = out_dir / "run.json"
    run: dict[str, Any] = json.loads(run_file.read_text()) if run_file.exists() else {}
    campaign_file = out_dir / "campaign.json"
    campaign = json.loads(campaign_file.read_text()) if campaign_file.exists() else None
    return Inputs(items, marked, specs, run, campaign)


# ---------------------------------------------------------------- coverage and status
def coverage(inp: Inputs) -> dict[str, list[str]]:
    cov: dict[str, list[str]] = {i.id: [] for i in inp.items}
    for m in inp.marked:
        for item in m.items:
            cov[item].append(m.test)
    return cov


def test_result(inp: Inputs, test: str) -> str:
    """passed / failed / skipped / not run: the worst over the test's parameters."""
    results = inp.run.get("tests", {})
    got = results.get(test)
    return str(got) if got is not None else "not run"


def item_status(inp: Inputs, tests: list[str]) -> str:
    if not tests:
        return "NO TEST"
    results = [test_result(inp, t) for t in tests]
    if "failed" in results:
        return "FAILING"
    if all(r == "not run" for r in results):
        return "not run"
    if "passed" in results:
        return "proven" if "not run" not in results else "proven (partly run)"
    return "skipped"


# ---------------------------------------------------------------- tables
def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _md_table(head: list[str], rows: Iterable[list[str]]) -> str:
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(_md_cell(c) for c in r) + " |" for r in rows]
    return "\n".join(out) + "\n"


def _html_table(head: list[str], rows: Iterable[list[str]], raw: bool = False) -> str:
    def cell(c: str) -> str:
        return c if raw else escape(c)
    out = ["<table>", "<tr>" + "".join(f"<th>{escape(h)}</th>" for h in head) + "</tr>"]
    out += ["<tr>" + "".join(f"<td>{cell(c)}</td>" for c in r) + "</tr>" for r in rows]
    out.append("</table>")
    return "\n".join(out) + "\n"


def timing_rows(root: Path, specs: tuple[MachineSpec, ...]) -> list[list[str]]:
    """Every bound: chart params, contract bounds, sourced module constants."""
    from evse.contract.definition import DEFINITION

    rows: list[list[str]] = []
    for spec in specs:
        for p in spec.params.values():
            rows.append([f"{spec.name}.{p.name}", f"{p.seconds:g} s",
                         f"fsm_specs/{spec.name}.yaml:{p.line}", p.ref])
    for b in sorted(DEFINITION.bounds.values(), key=lambda b: b.name):
        rows.append([f"contract.{b.name}", f"{b.seconds:g} s", "evse/contract/signals.yaml",
                     b.ref])
    for rel in TIMING_MODULES:
        path = root / rel
        if not path.exists():
            continue
        lines = path.read_text(encoding="utf-8").splitlines()
        module = importlib.import_module(rel[:-3].replace("/", "."))
        for node in ast.parse("\n".join(lines)).body:
            if not (isinstance(node, ast.Assign) and len(node.targets) == 1
                    and isinstance(node.targets[0], ast.Name)
                    and node.targets[0].id.endswith("_NS")):
                continue
            doc: list[str] = []
            k = node.lineno - 2
            # A `#:` block documents the run of constants right under it (e.g. a pair).
            while k >= 0 and re.match(r"^[A-Z][A-Z0-9_]* = ", lines[k]):
                k -= 1
            while k >= 0 and lines[k].lstrip().startswith("#:"):
                doc.insert(0, lines[k].lstrip()[2:].strip())
                k -= 1
            if not doc:
                continue
            value = getattr(module, node.targets[0].id, None)
            if not isinstance(value, int):
                continue
            shown = f"{value / 1e9:g} s" if value >= 1_000_000_000 else f"{value / 1e6:g} ms"
            rows.append([node.targets[0].id, shown, f"{rel}:{node.lineno}", " ".join(doc)])
    return rows


def fault_rows() -> list[list[str]]:
    from evse.controller.error_map import FAULT_MAP
    from evse.power.fault_table import load_table

    rows = []
    for reason, r in sorted(load_table().items(), key=lambda kv: kv[1].line):
        m = FAULT_MAP.get(r.fault_code)
        ocpp = "" if m is None else f"1.6 {m.error_16.value}; 2.0.1 {m.reason_201.value}"
        rows.append([reason.value, r.detection, r.fault_code.value, ocpp, r.shutdown.value,
                     f"{r.clearing.value} ({r.clear_when.value})", r.source])
    return rows


def state_rows(spec: MachineSpec, under: str | None = None) -> list[list[str]]:
    rows = []
    for s in spec.iter_states():
        if under is not None and not (s.path == under or s.path.startswith(under + ".")):
            continue
        timers = "; ".join(
            f"{t.after} = {t.seconds:g} s -> {t.event}"
            + (f" ({spec.params[t.after].ref})" if t.after in spec.params else " (literal)")
            for t in s.timeouts)
        rows.append([s.path, ", ".join(s.entry), ", ".join(s.exit), timers, s.doc.strip()])
    return rows


# ---------------------------------------------------------------- plots
def session_plot(run: dict[str, Any]) -> str | None:
    sess = run.get("session")
    if not sess:
        return None
    bands = [Band(b[0], b[1], b[2]) for b in sess["phases"]]
    volts = [Series("module setpoint V", tuple(map(tuple, sess["set_v"])), step=True),
             Series("meter V (OCPP MeterValues)", tuple(map(tuple, sess["meter_v"])),
                    markers=True)]
    amps = [Series("module setpoint A", tuple(map(tuple, sess["set_a"])), step=True),
            Series("meter A (OCPP MeterValues)", tuple(map(tuple, sess["meter_a"])),
                   markers=True)]
    return line_panels(f"{sess['title']}: voltage and current over time (virtual time)",
                       "time since start (s); shaded: SECC state", [("voltage (V)", volts),
                                                                     ("current (A)", amps)],
                       bands)


def safe_state_plot(run: dict[str, Any]) -> str | None:
    rows = run.get("safe_state")
    if not rows:
        return None
    return bars_against_bounds("Safe state (contactors open) after the fault, against its bound",
                               [(r["fault"], r["measured_ms"], r["bound_ms"]) for r in rows])


# ---------------------------------------------------------------- the pack
def _charts(inp: Inputs) -> tuple[dict[str, str], list[tuple[str, str, str]]]:
    """(files, pages) with pages as (machine, state or '', relative md path)."""
    files: dict[str, str] = {}
    pages: list[tuple[str, str, str]] = []
    for spec in inp.specs:
        base = f"charts/{spec.name}"
        files[f"{base}.dot"] = to_dot(spec)
        composites = [s for s in spec.iter_states() if s.children]
        md = [f"# Chart `{spec.name}` v{spec.version}\n", spec.doc.strip() + "\n",
              f"Source: `fsm_specs/{spec.name}.yaml`, sha256 `{spec.sha256}`.\n",
              f"![{spec.name}]({spec.name}.svg)\n"]
        if spec.refs:
            md.append("Clauses: " + "; ".join(spec.refs) + "\n")
        if composites:
            md.append("Composite states, one page each: " + ", ".join(
                f"[{s.path}]({spec.name}__{s.path.replace('.', '__')}.md)"
                for s in composites) + "\n")
        md.append("## Timers\n")
        md.append(_md_table(["param", "value", "source"],
                            [[p.name, f"{p.seconds:g} s", p.ref] for p in spec.params.values()]))
        md.append("## States\n")
        md.append(_md_table(["state", "entry", "exit", "timers (value, source)", "doc"],
                            state_rows(spec)))
        files[f"{base}.md"] = "\n".join(md)
        pages.append((spec.name, "", f"{base}.md"))
        for s in composites:
            name = f"{spec.name}__{s.path.replace('.', '__')}"
            files[f"charts/{name}.dot"] = to_dot_composite(spec, s.path)
            md = [f"# `{spec.name}` state `{s.path}`\n", s.doc.strip() + "\n",
                  f"Back to [{spec.name}]({spec.name}.md). Grey dashed boxes are states "
                  "outside this one.\n", f"![{s.path}]({name}.svg)\n", "## States\n",
                  _md_table(["state", "entry", "exit", "timers (value, source)", "doc"],
                            state_rows(spec, s.path))]
            files[f"charts/{name}.md"] = "\n".join(md)
            pages.append((spec.name, s.path, f"charts/{name}.md"))
    return files, pages


def _checklist_rows(inp: Inputs, cov: dict[str, list[str]], html: bool) -> list[list[str]]:
    rows = []
    for it in inp.items:
        tests = cov[it.id]
        status = item_status(inp, tests)
        if html:
            cls = {"NO TEST": "bad", "FAILING": "bad"}.get(status, "ok" if "proven" in status
                                                          else "warn")
            tcell = "<br>".join(
                f"{escape(t.split('::', 1)[1])} <small>({escape(test_result(inp, t))}, "
                f"{escape(t.split('::')[0])})</small>" for t in tests) or "<b>none</b>"
            charts = "<br>".join(
                f'<a href="#chart-{m}">{escape(m)}</a>: {escape(s)}' for m, s in it.charts)
            title = escape(it.title) + (f"<br><small>not covered: {escape(it.note)}</small>"
                                        if it.note else "")
            rows.append([f"<b>{escape(it.id)}</b>", title,
                         f'<span class="{cls}">{escape(status)}</span>', tcell,
                         charts, "<br>".join(escape(m) for m in it.modules)])
        else:
            title = it.title + (f"<br>*not covered: {it.note}*" if it.note else "")
            rows.append([f"**{it.id}**", title, status,
                         "<br>".join(f"`{t}` ({test_result(inp, t)})" for t in tests) or "none",
                         "<br>".join(f"{m}: `{s}`" for m, s in it.charts),
                         "<br>".join(f"`{m}`" for m in it.modules)])
    return rows


def _glance(inp: Inputs, cov: dict[str, list[str]]) -> str:
    """One line per item: what a reviewer scans first."""
    cells = []
    for it in inp.items:
        status = item_status(inp, cov[it.id])
        cls = {"NO TEST": "bad", "FAILING": "bad"}.get(status, "ok" if "proven" in status
                                                      else "warn")
        title = escape(it.title) + (f"<br><small>not covered: {escape(it.note)}</small>"
                                    if it.note else "")
        cells.append([f"<b>{escape(it.id)}</b>", title,
                      f'<span class="{cls}">{escape(status)}</span>', str(len(cov[it.id]))])
    return _html_table(["item", "requirement", "status", "tests"], cells, raw=True)


def summary(inp: Inputs, cov: dict[str, list[str]]) -> list[list[str]]:
    rows = []
    for g in GROUPS:
        its = [i for i in inp.items if i.group == g]
        st = [item_status(inp, cov[i.id]) for i in its]
        rows.append([g, str(len(its)), str(sum(1 for i in its if cov[i.id])),
                     str(sum(1 for s in st if "proven" in s)),
                     str(sum(1 for s in st if s in ("FAILING", "NO TEST")))])
    return rows


CSS = """body{font-family:Helvetica,Arial,sans-serif;margin:24px;max-width:1400px;color:#222}
table{border-collapse:collapse;margin:8px 0 24px;font-size:13px}
td,th{border:1px solid #bbb;padding:4px 6px;vertical-align:top;text-align:left}
th{background:#eee} .ok{color:#1a7f1a;font-weight:bold} .bad{color:#c00;font-weight:bold}
.warn{color:#a60;font-weight:bold} small{color:#666} img{max-width:100%;border:1px solid #ddd}
nav a{margin-right:14px} h2{border-bottom:2px solid #ccc;padding-bottom:4px;margin-top:32px}"""


def build_pack(root: Path, out_dir: Path, inp: Inputs | None = None) -> dict[str, str]:
    """relative path -> text of every generated file except the Graphviz SVGs."""
    if inp is None:
        inp = load_inputs(root, out_dir)
    cov = coverage(inp)
    files, pages = _charts(inp)
    run = inp.run
    plots: list[tuple[str, str]] = []
    sp = session_plot(run)
    if sp is not None:
        files["plots/session.svg"] = sp
        plots.append(("plots/session.svg", "A DIN SPEC 70121 session (`evse sim`, default "
                      "scenario): what the power path commanded and what the meter reported"))
    ss = safe_state_plot(run)
    if ss is not None:
        files["plots/safe_state.svg"] = ss
        plots.append(("plots/safe_state.svg", "Time from the fault to contactors open, per "
                      "fault, against its bound (whole station, virtual time)"))
    files["coverage.json"] = json.dumps(
        {"version": 1, "items": {k: v for k, v in cov.items()}}, indent=1, sort_keys=True) + "\n"
    timing = timing_rows(root, inp.specs)
    faults = fault_rows()
    head_c = ["item", "requirement", "status", "tests (last run)", "chart states", "modules"]
    head_s = ["group", "items", "with a test", "proven by the last run", "no test or failing"]
    head_t = ["bound", "value", "where", "source"]
    head_f = ["fault", "detection", "fault code", "OCPP", "shutdown", "clearing", "source"]
    run_note = (f"Last live run (`evse audit --run`): {run['when']}, "
                f"{run['counts']['passed']} passed, {run['counts']['failed']} failed, "
                f"{run['counts']['skipped']} skipped of {len(run.get('tests', {}))} marked tests."
                if run.get("counts") else "No live run recorded: run `evse audit --run`.")
    gaps = [i for i in inp.items if not cov[i.id]]
    gap_note = ("Items with no test: " + ", ".join(i.id for i in gaps) + "."
                if gaps else "Every item has at least one test.")
    # Markdown
    files["checklist.md"] = "\n".join([
        "# Checklist: reference gap list and PLC completeness\n",
        "Items from `evse/audit/checklist.yaml` (copied from ccs2_dc_reference.md); tests are "
        "those marked `@pytest.mark.req(ID)`.\n", run_note + "\n", gap_note + "\n",
        _md_table(head_s, summary(inp, cov)), _md_table(head_c, _checklist_rows(inp, cov, False))])
    files["timing.md"] = "# Timing bounds\n\nEvery chart param, contract bound and sourced " \
        "timing constant.\n\n" + _md_table(head_t, timing)
    files["faults.md"] = "# Fault matrix\n\nOne row per power-path fault " \
        "(`evse/power/fault_table.yaml`), its OCPP mapping (`evse/controller/error_map.py`).\n\n" \
        + _md_table(head_f, faults) + (
            "\n" + fault_matrix.render_markdown(inp.campaign) if inp.campaign else
            "\nNo campaign recorded: run `bench/fault_campaign.py --out "
            "docs/review/campaign.json`.\n")
    chart_links = [f"- [{m}{' / ' + s if s else ''}]({p})" for m, s, p in pages]
    files["README.md"] = "\n".join([
        "# Certification review pack\n",
        "Generated by `evse audit` from the code; `evse audit --check` fails CI when it is "
        "stale or an item loses its test. Open `index.html` for the single-page view.\n",
        run_note + "\n", gap_note + "\n", _md_table(head_s, summary(inp, cov)),
        "- [Checklist](checklist.md)\n- [Timing bounds](timing.md)\n- [Fault matrix](faults.md)\n",
        "## Charts\n", "\n".join(chart_links) + "\n",
        "## Plots\n", "\n".join(f"![{c}]({p})\n\n{c}\n" for p, c in plots)])
    # HTML: everything on one page, charts embedded, pages linked
    chart_html = []
    for spec in inp.specs:
        subs = [f'<a href="{p}">{escape(s)}</a>' for m, s, p in pages if m == spec.name and s]
        chart_html.append(
            f'<h3 id="chart-{spec.name}">{escape(spec.name)} v{spec.version}</h3>'
            f"<p>{escape(spec.doc.strip())}</p>"
            f'<p><a href="charts/{spec.name}.md">state table</a>'
            + (" &middot; composite states: " + ", ".join(subs) if subs else "") + "</p>"
            f'<img src="charts/{spec.name}.svg" alt="chart {spec.name}">')
    body = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        "<title>evse certification review pack</title>",
        f"<style>{CSS}{fault_matrix.CSS}</style></head><body>",
        "<h1>evse: CCS2 DC charger, certification review pack</h1>",
        '<nav><a href="#summary">Summary</a><a href="#checklist">Checklist</a>'
        '<a href="#plots">Plots</a><a href="#charts">Charts</a><a href="#timing">Timing</a>'
        '<a href="#faults">Faults</a><a href="README.md">Markdown</a></nav>',
        f"<p>{escape(run_note)} {escape(gap_note)}</p>",
        '<h2 id="summary">Summary</h2>', _html_table(head_s, summary(inp, cov)),
        _glance(inp, cov),
        '<h2 id="plots">Plots</h2>',
        "".join(f'<figure><img src="{p}" alt="{escape(c)}"><figcaption>{escape(c)}'
                "</figcaption></figure>" for p, c in plots) or "<p>No live run recorded.</p>",
        '<h2 id="checklist">Checklist</h2>',
        _html_table(head_c, _checklist_rows(inp, cov, True), raw=True),
        '<h2 id="charts">Charts</h2>', "\n".join(chart_html),
        '<h2 id="timing">Timing bounds</h2>', _html_table(head_t, timing),
        '<h2 id="faults">Fault matrix</h2>', _html_table(head_f, faults),
        fault_matrix.render_html(inp.campaign) if inp.campaign else "",
        "</body></html>"]
    files["index.html"] = "\n".join(body) + "\n"
    return files


def svg_targets(files: dict[str, str]) -> list[str]:
    return sorted(p for p in files if p.startswith("charts/") and p.endswith(".dot"))


def write_pack(root: Path, out_dir: Path, *, svg: bool = True) -> list[Path]:
    """Write the pack; remove generated files that are no longer part of it."""
    files = build_pack(root, out_dir)
    keep = (set(files) | {"run.json", "campaign.json"}
            | {p[:-4] + ".svg" for p in svg_targets(files)})
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in sorted(out_dir.rglob("*")):
        rel = old.relative_to(out_dir).as_posix()
        if old.is_file() and rel not in keep:
            old.unlink()
    written = []
    for rel, text in sorted(files.items()):
        path = out_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
        written.append(path)
    if svg:
        for rel in svg_targets(files):
            target = out_dir / (rel[:-4] + ".svg")
            if dot_to_svg(files[rel], target):
                written.append(target)
    return written


def lost_items(committed: dict[str, list[str]], now: dict[str, list[str]]) -> list[str]:
    """Items that had a test in the committed coverage and have none now (or vanished)."""
    return sorted(k for k, tests in committed.items() if tests and not now.get(k))


def check_pack(root: Path, out_dir: Path) -> list[str]:
    """Problems that make `evse audit --check` fail: lost items first, then stale files."""
    problems: list[str] = []
    inp = load_inputs(root, out_dir)
    files = build_pack(root, out_dir, inp)
    cov_file = out_dir / "coverage.json"
    if not cov_file.exists():
        return [f"{cov_file}: missing: run `evse audit` and commit docs/review/"]
    committed = json.loads(cov_file.read_text())["items"]
    now = json.loads(files["coverage.json"])["items"]
    for k in lost_items(committed, now):
        problems.append(f"{k}: had {len(committed[k])} test(s) ({', '.join(committed[k])}), "
                        "has none now")
    for rel, text in sorted(files.items()):
        path = out_dir / rel
        if not path.exists():
            problems.append(f"{rel}: missing from the committed pack")
        elif path.read_text(encoding="utf-8") != text:
            problems.append(f"{rel}: stale (run `evse audit` and commit docs/review/)")
    specs = {s.name: s for s in inp.specs}
    for rel in svg_targets(files):
        svg_path = out_dir / (rel[:-4] + ".svg")
        machine = Path(rel).stem.split("__")[0]
        if not svg_path.exists() or specs[machine].sha256 not in svg_path.read_text():
            problems.append(f"{rel[:-4]}.svg: missing or not drawn from the current chart")
    return problems

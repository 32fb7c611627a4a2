"""The fault matrix page of the review pack: catalogue cells x session phases, coverage and
the measured worst safe-state time per cell, from the last campaign run.

Input: `campaign.json` next to the pack (written by `bench/fault_campaign.py --out
docs/review/campaign.json`, built by evse/campaign/harness.py `matrix`). Pure: the JSON in,
Markdown and HTML out; the pack does not run the campaign itself (it takes minutes).
"""

from __future__ import annotations

from html import escape
from typing import Any

#: One cell as a reviewer reads it: n/a, not hit, hit (worst ms / bound ms), failed.
NA = "n/a"


def _cell_text(cell: dict[str, Any]) -> str:
    if "na" in cell:
        return NA
    if not cell["hits"]:
        return "-"
    worst = "" if cell["worst_ms"] is None else f"{cell['worst_ms']:.0f}"
    bound = "" if cell["bound_ms"] is None else f"/{cell['bound_ms']:.0f}"
    mark = " FAIL" if cell["failures"] else ""
    return f"{cell['hits']}x {worst}{bound}{mark}".strip()


def summary_line(data: dict[str, Any]) -> str:
    return (f"Last campaign: {data['sessions']} sessions in {data['seconds']} s "
            f"(seed {data.get('seed', '?')}), {data['cells_hit']} of {data['cells_total']} "
            f"applicable cells hit, {data['cells_na']} cells n/a, "
            f"{data.get('failing_sessions', 0)} failing sessions.")


def matrix_rows(data: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Header and rows: one row per fault, one column per phase."""
    phases: list[str] = data["phases"]
    head = ["fault", "inject", *phases]
    rows = []
    for name, row in data["faults"].items():
        inject = row["inject"] + (" (stand-in)" if row.get("stand_in") else "")
        rows.append([name, inject, *(_cell_text(row["phases"][p]) for p in phases)])
    return head, rows


def na_rows(data: dict[str, Any]) -> list[list[str]]:
    """Why each n/a cell cannot happen (grouped per fault and reason)."""
    out = []
    for name, row in data["faults"].items():
        by_why: dict[str, list[str]] = {}
        for phase, cell in row["phases"].items():
            if "na" in cell:
                by_why.setdefault(cell["na"], []).append(phase)
        out += [[name, ", ".join(ps), why] for why, ps in by_why.items()]
    return out


def render_markdown(data: dict[str, Any]) -> str:
    head, rows = matrix_rows(data)

    def table(h: list[str], rs: list[list[str]]) -> str:
        def c(t: str) -> str:
            return t.replace("|", "\\|").replace("\n", " ")
        lines = ["| " + " | ".join(c(x) for x in h) + " |", "|" + "---|" * len(h)]
        lines += ["| " + " | ".join(c(x) for x in r) + " |" for r in rs]
        return "\n".join(lines) + "\n"

    bounds = [[n, f"{b['ms']:.0f}", b["source"]] for n, b in sorted(data["bounds"].items())]
    return "\n".join([
        "## Campaign matrix (fault x session phase)\n",
        "From `evse/campaign/catalogue.yaml`, measured by `bench/fault_campaign.py` on the "
        "whole station in virtual time. A cell reads `hits x worst/bound` (ms from the "
        "injection to output off and contactors open), `-` not hit yet, `n/a` impossible "
        "(reasons below), FAIL: a cell check failed.\n",
        summary_line(data) + "\n", table(head, rows),
        "### Safe-state bounds\n", table(["bound", "ms", "source"], bounds),
        "### Cells that cannot happen\n", table(["fault", "phases", "why"], na_rows(data))])


def render_html(data: dict[str, Any]) -> str:
    head, rows = matrix_rows(data)

    def cls(text: str) -> str:
        if text == NA:
            return ' class="na"'
        if text == "-":
            return ' class="miss"'
        return ' class="fail"' if text.endswith("FAIL") else ' class="hit"'

    th = "".join(f"<th>{escape(h)}</th>" for h in head)
    trs = "".join("<tr>" + "".join(f"<td{cls(c) if i > 1 else ''}>{escape(c)}</td>"
                                   for i, c in enumerate(r)) + "</tr>" for r in rows)
    return (f'<h3 id="campaign">Campaign matrix</h3><p>{escape(summary_line(data))}</p>'
            f'<table class="matrix"><tr>{th}</tr>{trs}</table>')


CSS = (".matrix td.na{color:#999}.matrix td.miss{background:#fff4d6}"
       ".matrix td.hit{background:#e3f4e1}.matrix td.fail{background:#f8d7d7}"
       ".matrix td,.matrix th{font-size:11px;padding:2px 4px}")

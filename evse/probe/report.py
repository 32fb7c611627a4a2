"""The probe's result table: terminal text, JSON and Markdown from the same rows."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence

from evse.probe.model import CaseResult, Verdict

COLUMNS = ("family", "case", "expected", "got", "verdict", "clause")


def counts(results: Sequence[CaseResult]) -> dict[str, int]:
    c = Counter(r.verdict.value for r in results)
    return {v.value: c.get(v.value, 0) for v in Verdict}


def summary_line(results: Sequence[CaseResult]) -> str:
    c = counts(results)
    return (f"{len(results)} cases: {c['PASS']} pass, {c['FAIL']} fail, {c['SKIP']} skip, "
            f"{c['INCONCLUSIVE']} inconclusive")


def _row(r: CaseResult) -> tuple[str, ...]:
    return (r.family.value, r.case_id, r.expected, r.got, r.verdict.value, r.clause)


def text_row(r: CaseResult) -> str:
    return f"{r.verdict.value:<12} {r.family.value:<24} {r.case_id:<12} {r.got}"


def text_table(results: Sequence[CaseResult]) -> str:
    lines = [f"{'verdict':<12} {'family':<24} {'case':<12} got"]
    lines += [text_row(r) for r in results]
    lines.append(summary_line(results))
    return "\n".join(lines)


def to_json(results: Sequence[CaseResult], meta: dict[str, object]) -> str:
    return json.dumps({"meta": meta, "counts": counts(results),
                       "results": [r.as_dict() for r in results]}, indent=2,
                      ensure_ascii=False) + "\n"


def _md(cell: str) -> str:
    return cell.replace("|", "\\|").replace("\n", " ")


def to_markdown(results: Sequence[CaseResult], meta: dict[str, object]) -> str:
    head = ", ".join(f"{k}: {v}" for k, v in meta.items())
    lines = [f"# evse probe — {head}", "", summary_line(results), "",
             "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(_md(c) for c in _row(r)) + " |" for r in results]
    return "\n".join(lines) + "\n"

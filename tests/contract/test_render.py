"""Generated files (typed values, docs/contract.md, the sequence chart) match signals.yaml."""

from __future__ import annotations

from pathlib import Path

from evse.contract.definition import DEFINITION, Direction
from evse.contract.render import DOC_PATH, SEQUENCE_PATH, main, render_all

ROOT = Path(__file__).resolve().parents[2]


def test_committed_generated_files_match_the_definition() -> None:
    for rel, content in render_all().items():
        assert (ROOT / rel).read_text(encoding="utf-8") == content, \
            f"{rel} is stale: run `python -m evse.contract.render`"


def test_check_mode_reports_stale_files(tmp_path: Path, capsys: object) -> None:
    assert main(["--check", "--root", str(tmp_path)]) == 1
    assert main(["--root", str(tmp_path)]) == 0
    assert main(["--check", "--root", str(tmp_path)]) == 0


def test_doc_has_a_row_per_signal_and_every_bound_with_its_source() -> None:
    doc = render_all()[DOC_PATH]
    for name in DEFINITION.signals:
        assert f"| `{name}` |" in doc
    for bound in DEFINITION.bounds.values():
        assert f"| `{bound.name}` | {bound.seconds:g} s |" in doc and bound.ref.split(";")[0] in doc


def test_sequence_chart_draws_each_signal_in_its_defined_direction() -> None:
    chart = render_all()[SEQUENCE_PATH]
    assert chart.splitlines()[2] == "sequenceDiagram"
    for line in chart.splitlines():
        if "-)" in line:
            arrow, label = line.strip().split(": ", 1)
            sender, receiver = arrow.split("-)")
            sdef = DEFINITION.signals[label.split(" ", 1)[0]]
            expected = ("plc", "ctrl") if sdef.direction is Direction.PLC_TO_CTRL \
                else ("ctrl", "plc")
            assert (sender, receiver) == expected

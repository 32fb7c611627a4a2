"""`evse audit`: the review pack parses, links only to files that exist, is deterministic,
and `--check` fails when a checklist item loses its test (on a temporary copy of the tree)."""

from __future__ import annotations

import json
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest

from evse.audit.checklist import AuditError, load_checklist
from evse.audit.markers import scan_file
from evse.audit.pack import build_pack, check_pack, lost_items
from evse.runtime.audit import audit, session_series

ROOT = Path(__file__).resolve().parents[2]
REVIEW = ROOT / "docs" / "review"


class _Refs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.refs: list[str] = []
        self.ids: set[str] = set()
        self.open: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag not in ("img", "meta", "br"):
            self.open.append(tag)
        if a.get("id"):
            self.ids.add(str(a["id"]))
        for key in ("src", "href"):
            if a.get(key):
                self.refs.append(str(a[key]))

    def handle_endtag(self, tag: str) -> None:
        assert self.open and self.open[-1] == tag, f"</{tag}> closes <{self.open[-1:]}>"
        self.open.pop()


def test_committed_index_html_parses_and_every_reference_exists() -> None:
    p = _Refs()
    p.feed((REVIEW / "index.html").read_text(encoding="utf-8"))
    p.close()
    assert p.open == []
    images = [r for r in p.refs if r.endswith(".svg")]
    assert len(images) >= 6  # every chart at least
    for ref in p.refs:
        if ref.startswith("#"):
            assert ref[1:] in p.ids, ref
        else:
            assert (REVIEW / ref).is_file(), f"index.html references missing {ref}"


def test_every_markdown_link_of_the_pack_exists() -> None:
    import re
    for md in REVIEW.rglob("*.md"):
        for ref in re.findall(r"\]\(([^)#]+)\)", md.read_text(encoding="utf-8")):
            assert (md.parent / ref).is_file(), f"{md.relative_to(ROOT)} links missing {ref}"


def test_the_committed_pack_is_current() -> None:
    assert check_pack(ROOT, REVIEW) == []


def test_pack_generation_is_deterministic() -> None:
    assert build_pack(ROOT, REVIEW) == build_pack(ROOT, REVIEW)


def _copy_tree(tmp: Path) -> Path:
    dst = tmp / "tree"
    for part in ("tests", "fsm_specs", "evse", "docs/review", "scenarios"):
        shutil.copytree(ROOT / part, dst / part,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return dst


def test_check_fails_when_the_only_marker_of_an_item_is_removed(tmp_path: Path) -> None:
    tree = _copy_tree(tmp_path)
    out = tree / "docs" / "review"
    assert check_pack(tree, out) == []  # the copy is current
    cov = json.loads((out / "coverage.json").read_text())["items"]
    item, (test,) = next((k, v) for k, v in sorted(cov.items()) if len(v) == 1)
    file, name = test.split("::")[0], test.split("::")[-1]
    path = tree / file
    lines = path.read_text().splitlines(keepends=True)
    k = next(i for i, line in enumerate(lines) if line.lstrip().startswith(f"def {name}("))
    while f'"{item}"' not in lines[k]:
        k -= 1
        assert lines[k].lstrip().startswith("@"), f"no marker for {item} above {test}"
    rest = lines[k].replace(f'"{item}", ', "").replace(f', "{item}"', "")
    lines[k] = "" if f'"{item}"' in rest else rest
    path.write_text("".join(lines))
    problems = check_pack(tree, out)
    assert problems[0] == f"{item}: had 1 test(s) ({test}), has none now"
    assert "coverage.json: stale (run `evse audit` and commit docs/review/)" in problems
    assert audit(tree, out, check=True) == 1


def test_lost_items_are_those_that_had_a_test_and_have_none() -> None:
    committed = {"P0-1": ["a", "b"], "P0-2": ["c"], "P2-11": []}
    assert lost_items(committed, {"P0-1": ["a"], "P0-2": [], "P2-11": []}) == ["P0-2"]
    assert lost_items(committed, {"P0-1": ["a"]}) == ["P0-2"]  # an item deleted from the list


def test_a_marker_naming_an_unknown_item_is_an_error_with_its_line(tmp_path: Path) -> None:
    f = tmp_path / "test_x.py"
    f.write_text('import pytest\n\n\n@pytest.mark.req("P0-99")\ndef test_a() -> None:\n'
                 "    pass\n")
    with pytest.raises(AuditError, match=r"test_x.py:5: marker names unknown checklist item"):
        scan_file(f, "test_x.py", {"P0-1"})
    f.write_text('import pytest\nX = "P0-1"\n\n@pytest.mark.req(X)\ndef test_a() -> None:\n'
                 "    pass\n")
    with pytest.raises(AuditError, match="string literals"):
        scan_file(f, "test_x.py", {"P0-1"})


def test_clauses_and_module_marks_are_kept_apart_from_items(tmp_path: Path) -> None:
    f = tmp_path / "test_y.py"
    f.write_text('import pytest\npytestmark = pytest.mark.req("PLC-2")\n\n\nclass TestA:\n'
                 '    @pytest.mark.req("P0-1", "V2G2-443")\n    def test_b(self) -> None:\n'
                 "        pass\n")
    (m,) = scan_file(f, "test_y.py", {"P0-1", "PLC-2"})
    assert m.test == "test_y.py::TestA::test_b"
    assert m.items == ("PLC-2", "P0-1") and m.clauses == ("V2G2-443",)


def test_a_checklist_state_that_does_not_exist_is_a_file_line_error(tmp_path: Path) -> None:
    text = (ROOT / "evse" / "audit" / "checklist.yaml").read_text()
    bad = tmp_path / "checklist.yaml"
    bad.write_text(text.replace("secc_din: [charging], secc_iso2: [charging]}",
                                "secc_din: [charging_gone], secc_iso2: [charging]}", 1))
    with pytest.raises(AuditError, match="chart secc_din has no state 'charging_gone'"):
        load_checklist(ROOT, bad)


def test_every_item_of_the_reference_lists_is_in_the_checklist() -> None:
    ids = [i.id for i in load_checklist(ROOT)]
    assert ids[:11] == ["P0-1", "P0-2", "P0-3", "P0-4", "P0-5", "P0-6", "P1-7", "P1-8", "P1-9",
                        "P1-10", "P2-11"]
    assert ids[11:] == ["PLC-1", "PLC-2", "PLC-3", "PLC-4", *(f"PLC-5.{k}" for k in range(1, 9)),
                        *(f"PLC-6.{k}" for k in range(1, 7))]


def test_session_series_reads_setpoints_meter_values_and_secc_phases() -> None:
    mv = json.dumps([2, "q2", "MeterValues", {"meterValue": [{"sampledValue": [
        {"value": "371.2", "measurand": "Voltage"},
        {"value": "159.5", "measurand": "Current.Import"}]}]}])
    lines = [
        {"kind": "start", "src": "secc", "state": "wait_session_setup", "t": 1_000_000_000},
        {"cmd": "SetModuleOutput(voltage_v=500.0, current_a=2.0)", "kind": "command",
         "src": "power", "t": 2_000_000_000},
        {"event": "x", "from": "wait_session_setup", "to": "charging", "kind": "transition",
         "src": "secc", "t": 3_000_000_000},
        {"frame": mv, "kind": "tx", "src": "ocpp", "t": 4_000_000_000},
        {"cmd": "DisableModules()", "kind": "command", "src": "power", "t": 5_000_000_000},
    ]
    s = session_series([json.dumps(x) for x in lines], "t")
    assert s["set_v"] == [[2.0, 500.0], [5.0, 0.0]] and s["set_a"] == [[2.0, 2.0], [5.0, 0.0]]
    assert s["meter_v"] == [[4.0, 371.2]] and s["meter_a"] == [[4.0, 159.5]]
    assert s["phases"] == [[1.0, 3.0, "wait_session_setup"], [3.0, 5.0, "charging"]]

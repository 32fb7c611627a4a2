"""Every invalid chart gives one SpecError naming the file and the offending line."""

from __future__ import annotations

from pathlib import Path

import pytest

from evse.fsm import Event, Machine, SpecError, load_spec, parse_spec
from evse.runtime.scheduler import Scheduler

GOOD = """\
machine: demo
version: 1
doc: demo chart
initial: A
params:
  t_x: {s: 2.0, ref: "test"}
events:
  go: go
  t_x_expired: timer
states:
  A:
    doc: a
    when:
      go: B
  B:
    doc: b
    entry: [enter_b]
    timeouts:
      - {after: t_x, event: t_x_expired}
    when:
      t_x_expired: A
"""


class Handler:
    def enter_b(self, ev: Event) -> None:
        pass


def line(text: str, needle: str, nth: int = 1) -> int:
    """1-based line of the nth line containing `needle` (how a reviewer finds it)."""
    hits = [i for i, ln in enumerate(text.splitlines(), 1) if needle in ln]
    return hits[nth - 1]


def err(text: str) -> SpecError:
    with pytest.raises(SpecError) as info:
        parse_spec(text, "demo.yaml")
    return info.value


def test_good_spec_loads() -> None:
    spec = parse_spec(GOOD, "demo.yaml")
    assert [s.path for s in spec.iter_states()] == ["A", "B"]
    assert spec.params["t_x"].ns == 2_000_000_000


def test_unknown_callback_names_file_and_line() -> None:
    spec = parse_spec(GOOD.replace("entry: [enter_b]", "entry: [enter_bb]"), "demo.yaml")
    with pytest.raises(SpecError) as info:
        Machine(spec, Handler(), timers=Scheduler())
    assert info.value.file == "demo.yaml"
    assert info.value.line == line(GOOD, "doc: b")  # the state B mapping
    assert "enter_bb" in str(info.value)


def test_unknown_target_state() -> None:
    t = GOOD.replace("go: B", "go: Z")
    e = err(t)
    assert (e.line, e.message) == (line(t, "go: Z"), "unknown target state 'Z'")


def test_unreachable_state() -> None:
    text = GOOD + "  C:\n    doc: orphan\n"
    e = err(text)
    assert e.line == line(text, "doc: orphan") and "unreachable" in e.message


def test_timeout_without_event() -> None:
    t = GOOD.replace("{after: t_x, event: t_x_expired}", "{after: t_x}")
    e = err(t)
    assert e.line == line(t, "{after: t_x}") and "timeout but no timeout event" in e.message


def test_timeout_event_never_handled() -> None:
    e = err(GOOD.replace("      t_x_expired: A\n", "      go: A\n"))
    assert e.line == line(GOOD, "{after: t_x") and "never handled" in e.message


def test_duplicate_state_name() -> None:
    text = GOOD.replace("  B:\n    doc: b\n", "  B:\n    doc: b\n  B:\n    doc: b2\n", 1)
    e = err(text)
    assert e.line == line(text, "  B:", 2) and "duplicate key 'B'" in e.message


def test_yaml11_boolean_key_rejected() -> None:
    t = GOOD.replace("    when:\n      go: B", "    on:\n      go: B")
    e = err(t)
    assert e.line == line(t, "    on:") and "boolean" in e.message


def test_undeclared_event() -> None:
    t = GOOD.replace("      go: B", "      gogo: B")
    e = err(t)
    assert e.line == line(t, "gogo: B") and "not declared" in e.message


def test_unknown_key() -> None:
    t = GOOD.replace("    doc: a\n", "    doc: a\n    color: red\n")
    e = err(t)
    assert e.line == line(t, "color: red") and "unknown key 'color'" in e.message


def test_missing_doc() -> None:
    t = GOOD.replace("    doc: a\n", "    entry: []\n")
    e = err(t)
    assert e.line == line(t, "entry: []") and "needs a doc" in e.message


def test_transition_shadowed_by_unguarded_one() -> None:
    t = GOOD.replace("      go: B", "      go:\n        - {to: B}\n        - {to: A}")
    e = err(t)
    assert e.line == line(t, "{to: A}") and "unreachable" in e.message


def test_unused_param() -> None:
    t_x = '  t_x: {s: 2.0, ref: "test"}\n'
    t = GOOD.replace(t_x, t_x + "  t_y: {s: 1, ref: r}\n")
    e = err(t)
    assert e.line == line(t, "t_y") and "never used" in e.message


def test_reserved_event_name() -> None:
    t = GOOD.replace("  go: go\n", "  go: go\n  trigger: x\n")
    e = err(t)
    assert e.line == line(t, "trigger: x") and "reserves" in e.message


def test_composite_without_initial() -> None:
    text = GOOD.replace("  B:\n    doc: b\n", "  B:\n    doc: b\n    states:\n      B1: {doc: x}\n")
    e = err(text)
    assert e.line == line(text, "doc: b") and "initial child" in e.message


def test_malformed_yaml_reports_line() -> None:
    e = err(GOOD.replace("    doc: a\n", "    doc: [a\n"))
    assert e.line > 0 and e.file == "demo.yaml"


def test_every_shipped_spec_is_valid() -> None:
    specs = sorted(Path(__file__).resolve().parents[2].joinpath("fsm_specs").glob("*.yaml"))
    assert specs
    for path in specs:
        load_spec(path)

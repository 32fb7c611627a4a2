"""The fault catalogue loads strictly (file:line errors) and covers what issue 14 asks."""

from __future__ import annotations

from pathlib import Path

import pytest

from evse.campaign.catalogue import CATALOGUE_FILE, CatalogueError, load_catalogue
from evse.campaign.phases import PHASES
from evse.power.faults import FaultReason
from evse.runtime.inject import INJECTORS


def test_every_fault_table_row_and_phase_is_a_cell() -> None:
    cat = load_catalogue()
    assert {r.table for r in cat.faults.values()} >= set(FaultReason)
    for row in cat.faults.values():
        assert set(row.cells) == set(PHASES)
        assert row.cell(row.main).applicable
        for cell in row.cells.values():
            assert cell.applicable or cell.na  # n/a always says why
    assert set(INJECTORS) >= {r.inject for r in cat.faults.values()}
    # every bound names its source
    assert all(b.source for b in cat.bounds.values())


def _broken(tmp_path: Path, old: str, new: str) -> Path:
    text = CATALOGUE_FILE.read_text()
    assert old in text
    path = tmp_path / "catalogue.yaml"
    path.write_text(text.replace(old, new, 1))
    return path


@pytest.mark.parametrize(("old", "new", "message"), [
    ("    inject: estop\n", "    inject: estopp\n", "unknown injector 'estopp'"),
    ("    main: charging\n", "    main: charge\n", "unknown phase 'charge'"),
    ("    recover: reset\n", "    recover: sometimes\n", "recover must be one of"),
    ("    bound: emergency_open\n", "    bound: quick\n", "unknown bound 'quick'"),
    ("    table: emergency_stop\n", "    table: emergency_stop\n    colour: red\n",
     "unknown key 'colour'"),
    ("    car: [EVSE_EmergencyShutdown, EVSE_Malfunction, EVSE_Shutdown, FAILED, closed, none]\n",
     "    car: [shrug]\n", "unknown car answer 'shrug'"),
    ("shows_as: imd_self_test_failed, recover: reset}\n",
     "shows_as: imd_self_test_melted, recover: reset}\n",
     "no fault-table row 'imd_self_test_melted'"),
])
def test_a_bad_catalogue_names_file_and_line(tmp_path: Path, old: str, new: str,
                                             message: str) -> None:
    with pytest.raises(CatalogueError) as err:
        load_catalogue(_broken(tmp_path, old, new))
    assert message in str(err.value)
    assert str(tmp_path / "catalogue.yaml") in str(err.value) and err.value.line > 0


def test_a_fault_table_row_without_a_fault_is_refused(tmp_path: Path) -> None:
    path = _broken(tmp_path, "    table: meter_stale\n", "    table: null\n")
    with pytest.raises(CatalogueError, match="meter_stale"):
        load_catalogue(path)


def test_a_cell_can_show_as_another_fault_table_row() -> None:
    """shows_as: the row the fault is raised as in that phase (its recovery then applies
    once that row was raised); other cells keep the row's own."""
    row = load_catalogue().faults["imd_device_fault"]
    assert row.cell(PHASES[PHASES.index(row.main)]).shows_as is None
    early = [c for c in row.cells.values() if c.phase.value == "session_setup"][0]
    assert early.shows_as is FaultReason.SELF_TEST_FAILED

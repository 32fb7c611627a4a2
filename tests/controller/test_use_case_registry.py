"""The OCPP 2.0.1 use-case registry is consistent and docs/ocpp.md is generated from it."""

from __future__ import annotations

import pytest

from evse.controller import use_cases as uc


def test_registry_is_consistent_with_the_tests() -> None:
    """Every implemented row names tests that exist; every test named after a use case
    (test_h01_...) is listed under it; no ID twice."""
    assert uc.check() == []


def test_docs_ocpp_md_is_generated_from_the_registry() -> None:
    assert uc.DOC_PATH.read_text() == uc.render() + "\n", (
        "docs/ocpp.md is stale: python -m evse.controller.use_cases --write")


def test_every_certification_profile_has_its_reservation_and_core_rows() -> None:
    ids = {u.id for u in uc.USE_CASES}
    assert {"H01", "H02", "H03", "H04", "B01", "B11", "B12", "L01", "N01", "D01", "D02",
            "K01", "M05", "A02"} <= ids
    assert {u.profile for u in uc.USE_CASES} == set(uc.Profile)


def test_the_checker_refuses_a_claim_without_a_test(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(uc, "USE_CASES", (uc.UseCase(
        "K09", "Get Charging Profiles", uc.Profile.SMART_CHARGING, uc.Status.YES),))
    assert "K09: yes without a test that proves it" in uc.check()

"""The station's one isolation enum (contract IsolationStatus) mapped to each protocol's
isolationLevelType at the codec boundary (evse/secc/messages.py)."""

from __future__ import annotations

import pytest

from evse.contract.values import IsolationStatus
from evse.secc.config import SeccConfig
from evse.secc.env import AppProtocol
from evse.secc.messages import Builder, Status


@pytest.mark.parametrize(("level", "iso2", "din"), [
    (IsolationStatus.INVALID, "Invalid", "Invalid"),
    (IsolationStatus.VALID, "Valid", "Valid"),
    (IsolationStatus.WARNING, "Warning", "Warning"),
    (IsolationStatus.FAULT, "Fault", "Fault"),
    # DIN SPEC 70121 has no No_IMD: never claim Valid for a check that was not made
    (IsolationStatus.NO_IMD, "No_IMD", "Invalid"),
])
def test_isolation_reaches_the_car_in_its_protocols_words(
        level: IsolationStatus, iso2: str, din: str) -> None:
    st = Status("EVSE_Ready", "None", level, 0)
    for protocol, expected in ((AppProtocol.ISO15118_2, iso2), (AppProtocol.DIN70121, din)):
        body = Builder(protocol, SeccConfig()).status(st)
        assert body.EVSEIsolationStatus.value == expected

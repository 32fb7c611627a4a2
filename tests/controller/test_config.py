"""The controller section of a station config: typed, and typos are errors."""

from __future__ import annotations

import pytest

from evse.controller.config import config_from_mapping
from evse.controller.errors import ControllerUsageError


def test_offline_policy_and_timeouts_come_from_config() -> None:
    cfg = config_from_mapping({"ocpp_version": "2.0.1", "allow_offline_tx_for_unknown_id": True,
                               "auth_timeout_eim_s": 30, "autocharge_tokens": {"0A1B": "T"}})
    assert cfg.ocpp_version == "2.0.1" and cfg.allow_offline_tx_for_unknown_id
    assert cfg.auth_timeout_eim_s == 30.0 and cfg.autocharge_tokens == {"0A1B": "T"}


@pytest.mark.parametrize("raw", [
    {"alow_offline_tx_for_unknown_id": True},
    {"local_authorize_offline": "yes"},
    {"tx_message_attempts": True},
    {"ocpp_version": "2.1"},
])
def test_bad_settings_are_refused_with_the_key_named(raw: dict[str, object]) -> None:
    with pytest.raises(ControllerUsageError, match="controller\\."):
        config_from_mapping(raw)


def test_auth_timeouts_from_config_drive_the_chart() -> None:
    from tests.controller.harness import Rig

    rig = Rig("1.6", auth_timeout_eim_s=20.0)
    rig.plug()
    rig.ev_waits_for_auth()
    rig.run(20.1)
    assert rig.auth_statuses()[-1].value == "REJECTED"

"""`power_faults:` station config keys reach the power path's detections."""

from __future__ import annotations

from pathlib import Path

import pytest

from evse.runtime.config import ConfigError, load_config
from evse.runtime.dc_station import DcStation

MS = 1_000_000

FULL = """\
station: {name: t, seed: 1}
power_faults:
  over_current_margin_a: 7.5
  over_current_margin_fraction: 0.2
  over_current_duration_ms: 250
  temperature_derate_c: 70
  temperature_trip_c: 85
  meter_stale_ms: 1500
  cable_rating_a: 100
"""


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "station.yaml"
    p.write_text(text)
    return p


def test_every_power_faults_key_sets_its_threshold_in_the_station(tmp_path: Path) -> None:
    st = DcStation(load_config(write(tmp_path, FULL)), car=False)
    c = st.power.config
    assert (c.over_current_margin_a, c.over_current_margin_fraction) == (7.5, 0.2)
    assert c.over_current_duration_ns == 250 * MS
    assert (c.temperature_derate_c, c.temperature_trip_c) == (70.0, 85.0)
    assert c.meter_stale_ns == 1500 * MS
    # The cable rating caps what the car is offered (EVSEMaximumCurrentLimit).
    assert st.power.limits().max_current_a <= 100.0
    default = DcStation(load_config(write(tmp_path, "station: {name: t}\n")), car=False)
    assert default.power.limits().max_current_a > 100.0
    st.close()
    default.close()


@pytest.mark.parametrize(("text", "line", "message"), [
    ("power_faults:\n  meter_stale_ms: 0\n", 2, "power_faults.meter_stale_ms must be"),
    ("power_faults:\n  cable_rating_a: true\n", 2, "power_faults.cable_rating_a must be"),
    ("power_faults:\n  over_current_margin: 5\n", 2, "unknown key power_faults."),
    ("power_faults:\n  temperature_derate_c: 95\n", 2, "must be below temperature_trip_c"),
])
def test_a_bad_power_faults_key_is_an_error_at_its_line(tmp_path: Path, text: str, line: int,
                                                        message: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, text))
    assert err.value.line == line and message in err.value.message

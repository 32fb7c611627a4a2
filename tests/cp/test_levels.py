"""CP plateau classification (IEC 61851-1 Table A.4 bands) and debounce."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, strategies as st

from evse.cp.levels import CpLevel, Debouncer, classify


@pytest.mark.parametrize(
    ("high", "level"),
    [(12.0, CpLevel.A), (9.0, CpLevel.B), (6.0, CpLevel.C), (3.0, CpLevel.D),
     (0.0, CpLevel.E), (-12.0, CpLevel.F), (14.0, CpLevel.INVALID), (-5.0, CpLevel.INVALID)],
)
def test_nominal_plateaus(high: float, level: CpLevel) -> None:
    assert classify(high, -12.0, pwm_on=True, previous=CpLevel.A) is level or (
        level is CpLevel.A  # A with PWM has no diode check
    )


def test_hysteresis_keeps_previous_state_inside_band() -> None:
    # 10.5 V lies in the A/B hysteresis band: stays A coming from A, is B coming from B.
    assert classify(10.5, 10.5, pwm_on=False, previous=CpLevel.A) is CpLevel.A
    assert classify(10.5, 10.5, pwm_on=False, previous=CpLevel.B) is CpLevel.B
    assert classify(7.5, 7.5, pwm_on=False, previous=CpLevel.B) is CpLevel.B
    assert classify(7.5, 7.5, pwm_on=False, previous=CpLevel.A) is CpLevel.C


def test_missing_negative_plateau_is_a_diode_fault() -> None:
    assert classify(9.0, -9.0, pwm_on=True, previous=CpLevel.B) is CpLevel.DIODE_FAULT
    # Without PWM there is no low phase to check.
    assert classify(9.0, 9.0, pwm_on=False, previous=CpLevel.B) is CpLevel.B


def test_debounce_needs_consecutive_samples() -> None:
    d = Debouncer(3, stable=CpLevel.A)
    assert d.feed(CpLevel.B) is None
    assert d.feed(CpLevel.A) is None  # glitch interrupted
    assert d.feed(CpLevel.B) is None
    assert d.feed(CpLevel.B) is None
    assert d.feed(CpLevel.B) is CpLevel.B


@given(st.sampled_from([12.0, 9.0, 6.0, 3.0, 0.0]), st.integers(0, 2**32))
def test_noise_of_0_3_v_never_changes_a_stable_level(nominal: float, seed: int) -> None:
    """Invariant: +/-0.3 V of measurement noise never produces a debounced level change."""
    rng = random.Random(seed)
    first = classify(nominal, -12.0, pwm_on=False, previous=CpLevel.A)
    d = Debouncer(3, stable=first)
    for _ in range(200):
        v = nominal + rng.uniform(-0.3, 0.3)
        assert d.feed(classify(v, -12.0, pwm_on=False, previous=d.stable)) is None

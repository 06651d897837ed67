"""helpers._checks: the argument checks the helpers share (what "a number of seconds" is)."""

from __future__ import annotations

import math

import pytest

from helpers._checks import seconds


@pytest.mark.parametrize("value", [0.5, 3, 600])
def test_seconds_accepts_positive_numbers(value):
    assert seconds(value) == float(value)


@pytest.mark.parametrize("value, error", [
    (0, ValueError), (-1, ValueError), (math.nan, ValueError), (math.inf, ValueError),
    (True, TypeError), ("1", TypeError), (None, TypeError),
])
def test_seconds_rejects_what_is_not_a_positive_number(value, error):
    with pytest.raises(error, match="delay must be a number of seconds"):
        seconds(value, "delay")


def test_seconds_zero_ok_and_maximum():
    assert seconds(0, zero_ok=True) == 0.0
    assert seconds(30, maximum=30) == 30.0
    with pytest.raises(ValueError, match="at most 30"):
        seconds(30.5, maximum=30)

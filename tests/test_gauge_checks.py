"""The in-flight gauge and the shared seconds validator."""

from __future__ import annotations

import math
import threading

import pytest

from helpers._checks import seconds
from helpers.gauge import InFlight


def test_gauge_counts_now_most_and_total():
    gauge = InFlight()
    with gauge:
        with gauge:
            assert gauge.now == 2
        assert gauge.now == 1
    with gauge:
        pass
    assert (gauge.now, gauge.most, gauge.total) == (0, 2, 3)


def test_gauge_leave_without_enter_is_an_error_and_reset_refuses_in_flight():
    gauge = InFlight()
    with pytest.raises(RuntimeError, match="without a matching enter"):
        gauge.leave()
    gauge.enter()
    with pytest.raises(RuntimeError, match="still in flight"):
        gauge.reset()
    gauge.leave()
    gauge.reset()
    assert (gauge.most, gauge.total) == (0, 0)


def test_gauge_leaves_on_an_exception():
    gauge = InFlight()
    with pytest.raises(ZeroDivisionError):
        with gauge:
            _ = 1 / 0
    assert gauge.now == 0 and gauge.most == 1


def test_gauge_is_exact_under_threads():
    gauge, start = InFlight(), threading.Barrier(8)

    def work():
        start.wait(timeout=10)
        for _ in range(2000):
            with gauge:
                pass

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert gauge.now == 0 and gauge.total == 16000 and 1 <= gauge.most <= 8


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

"""helpers.gauge: InFlight counts what is in flight now, the most at once and the total, exactly under threads."""

from __future__ import annotations

import threading

import pytest

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

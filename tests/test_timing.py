import math
import time

import pytest

from helpers.timing import Stopwatch, about, at_least


def test_stopwatch_measures_and_is_reusable():
    watch = Stopwatch()
    assert repr(watch) == "<Stopwatch: running>" and watch.elapsed is None
    with watch:
        time.sleep(0.05)
    first = watch.elapsed
    assert 0.04 < first < 1.0
    with watch:
        pass
    assert watch.elapsed < first
    assert repr(watch) == "<Stopwatch: stopped>"


def test_stopwatch_reads_the_clock_it_is_given():
    ticks = iter([10.0, 12.5])
    with Stopwatch(clock=lambda: next(ticks)) as watch:
        pass
    assert watch.elapsed == 2.5
    with pytest.raises(TypeError, match="clock must be a function"):
        Stopwatch(clock=1.0)


def test_a_stopwatch_on_the_program_clock_does_not_count_a_wait_for_the_cpu():
    """This thread and a spinning process share one CPU: the thread waits for it about half
    the time. The program clock leaves that wait out, the wall clock does not."""
    import os
    import subprocess
    import sys

    from helpers.heartbeat import program_clock
    if not os.path.exists("/proc/thread-self/schedstat") or not hasattr(os, "sched_setaffinity"):
        pytest.skip("this OS does not report a thread's time waiting for a CPU")
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(before)})
    try:
        spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])  # same CPU
        try:
            time.sleep(0.2)  # the spinner is running
            wall, program = Stopwatch(), Stopwatch(clock=program_clock)
            with wall, program:
                end = time.thread_time() + 0.3
                while time.thread_time() < end:
                    pass
        finally:
            spinner.kill()
            spinner.wait(10)
    finally:
        os.sched_setaffinity(0, before)
    assert wall.elapsed > 0.45, "the spinner did not share the CPU"
    assert program.elapsed < 0.8 * wall.elapsed, (wall.elapsed, program.elapsed)


@pytest.mark.parametrize("elapsed, text", [
    (0.2, "about 1× one task (not 10×)"),
    (0.6, "about 1× one task (not 10×)"),      # 3× slower than ideal still reads 1×
    (0.7, "about 10× one task (not 1×)"),
    (2.0, "about 10× one task (not 1×)"),
    (0.0, "about 1× one task (not 10×)"),
])
def test_about_picks_the_nearest_choice_on_a_log_scale(elapsed, text):
    assert str(about(elapsed, unit=0.2, choices=(1, 10))) == text


def test_about_reports_ratio_and_whether_the_prediction_held():
    verdict = about(2.1, unit=0.2, choices=(1, 10), expected=10, unit_name="one fetch")
    assert repr(verdict) == "about 10× one fetch (not 1×)"
    assert math.isclose(verdict.ratio, 10.5) and verdict.holds
    assert not about(2.1, unit=0.2).holds
    assert str(about(1, 1, choices=(1, 2, 4))) == "about 1× one task (not 2× or 4×)"
    assert str(about(1, 1, choices=(1,))) == "about 1× one task"


@pytest.mark.parametrize("kwargs", [
    dict(elapsed=-1, unit=1), dict(elapsed=float("nan"), unit=1),
    dict(elapsed=1, unit=0), dict(elapsed=1, unit=1, choices=()), dict(elapsed=1, unit=1, choices=(0, 1)),
    dict(elapsed=1, unit=1, choices=(1, 1)), dict(elapsed=1, unit=1, choices=(1, 10), expected=5),
])
def test_about_rejects_bad_input(kwargs):
    with pytest.raises(ValueError):
        about(**kwargs)


def test_about_rejects_a_measurement_that_is_not_a_number():
    with pytest.raises(TypeError, match="elapsed must be a number of seconds"):
        about("1", unit=1)


def test_at_least():
    yes = at_least(40.0, 5, "a greenlet switch is cheaper than a thread hand-off")
    assert str(yes) == "yes: a greenlet switch is cheaper than a thread hand-off (by at least 5×)"
    assert yes.holds and yes.ratio == 40.0
    no = at_least(2.0, 5, "select beats epoll")
    assert str(no) == "no: select beats epoll (by less than 5×)" and not no.holds
    for ratio, factor in ((-1, 2), (float("inf"), 2), (1, 0)):
        with pytest.raises(ValueError):
            at_least(ratio, factor, "x")

"""Tests for helpers.models: the cost of one wait, and the three server models."""

from __future__ import annotations

import sys

import pytest

from helpers import _child, models
from helpers._child import Child
from helpers.models import compare_models, compare_waits, wait_costs


def test_wait_costs_has_each_method():
    costs = wait_costs(10, 2)
    assert set(costs) == {"select", "poll", "epoll"}
    assert all(0 < t < 0.01 for t in costs.values())
    with pytest.raises(ValueError):
        wait_costs(-1)


def test_compare_waits_shapes_and_plot():
    report = compare_waits((0, 10, 300))
    assert report.idle_counts == (0, 10, 300)
    text = report.text()
    assert "300 idle connections + 1 busy: yes: epoll's wait is faster than select's" in text
    assert "3 busy connections, nothing idle: select takes about 1× epoll's time (not 10×)" in text
    picture = report.plot()
    assert repr(picture) == "<WaitPlot: select, poll, epoll over 3 sizes>"
    assert picture.png().startswith(b"\x89PNG")


def test_wait_verdicts_follow_the_figures():
    def report(one_shot):
        return models.WaitReport((0, 900), {m: [1e-6, 1e-6] for m in models.METHODS},
                                 {"select": 1e-6, "epoll": 1e-6}, one_shot)
    right = report({"select": 1e-6, "epoll": 1.1e-6, "one-shot": 2.2e-6}).text()
    assert "epoll with one modify per wait takes about 1× select's time (not 4×)" in right
    assert "about 1× select's time" in report({"select": 1e-6, "epoll": 1.9e-6, "one-shot": 3.8e-6}).text()
    assert "about 4× select's time" in report({"select": 1e-6, "epoll": 2.1e-6, "one-shot": 4.2e-6}).text()
    assert "takes about 2× epoll used right (not 1× or 4×)" in right
    slow = report({"select": 1e-6, "epoll": 3.5e-6, "one-shot": 3.6e-6}).text()
    assert "epoll with one modify per wait takes about 4× select's time (not 1×)" in slow
    assert "takes about 1× epoll used right (not 2× or 4×)" in slow
    assert "900 idle connections + 1 busy: no: epoll's wait is faster than select's" in slow


def test_the_few_busy_line_can_say_select_is_faster():
    def report(select_s, epoll_s):
        return models.WaitReport((0, 900), {m: [1e-6, 1e-6] for m in models.METHODS},
                                 {"select": select_s, "epoll": epoll_s},
                                 {"select": 1e-6, "epoll": 1.1e-6, "one-shot": 2.2e-6})
    here = report(1.27e-6, 1.19e-6)  # measured here: 1.07x
    assert "3 busy connections, nothing idle: select takes 0.7–1.5× epoll's time: about the same" in \
        here.text(graded_few_busy=True)
    assert "select takes about 1× epoll's time (not 10×)" in here.text()  # chapter 05's line, unchanged
    assert "select is faster" in report(0.6e-6, 1.2e-6).text(graded_few_busy=True)
    assert "epoll is faster even here" in report(2.4e-6, 1.2e-6).text(graded_few_busy=True)


def test_compare_triggers_counts_and_verdict():
    report = models.compare_triggers(sockets=40, rounds=5, runs=1)
    text = report.text()
    assert report.messages == 50
    assert "level-triggered:  10 waits, 50 recv calls (1.0 per message)" in text
    assert "edge-triggered:   10 waits, 100 recv calls (2.0 per message)" in text
    assert 'claim "edge-triggered is more efficient than level-triggered": ' in text


@pytest.mark.parametrize(("level", "edge", "verdict"), [
    (2.0, 1.0, "yes: edge-triggered's loop takes under 0.8× level-triggered's CPU time: less, as the claim says"),
    (1.0, 1.1, "no: edge-triggered's loop takes 0.8–1.25× level-triggered's CPU time: about the same"),
    (1.0, 1.8, "no: edge-triggered's loop takes over 1.25× level-triggered's CPU time: more, the price of "
               "draining every socket until it would block"),
])
def test_the_triggers_verdict_grades_edge_against_level(level: float, edge: float, verdict: str):
    report = models.TriggerReport({"level": level, "edge": edge}, {"level": 10, "edge": 10},
                                  {"level": 50, "edge": 100}, 50)
    assert report.verdict() == verdict
    assert report.text().endswith(verdict)


def test_compare_waits_scales_down_below_1024(monkeypatch):
    monkeypatch.setattr(models, "_room_below_ceiling", lambda: 150)
    report = compare_waits((0, 100, 900))
    assert report.idle_counts == (0, 100, 150)
    assert "scaled down from 900 to 150 idle connections" in report.text()


def test_compare_models():
    report = compare_models(40)
    text = report.text()
    assert "process per connection:    40/40 byte-exact, +1 process, +1 thread" in text
    assert "thread per connection:     40/40 byte-exact, +0 process, +1 thread, +1 descriptor" in text
    assert "event per connection:      40/40 byte-exact, +0 process, +0 thread, +1 descriptor" in text
    assert report.runs["process"].per_connection("pss_kb") > report.runs["event"].per_connection("pss_kb")
    with pytest.raises(ValueError):
        compare_models(0)


def test_a_server_that_prints_no_port_is_a_clear_error_not_a_hang(monkeypatch):
    def stand_in(source: str) -> None:  # the echo server's child runs this instead
        monkeypatch.setattr(_child, "module_command", lambda name, *args: [sys.executable, "-c", source, *args])

    monkeypatch.setattr(models, "START_TIMEOUT", 0.3)
    stand_in("import time\ntime.sleep(30)")
    with Child("any") as server, pytest.raises(TimeoutError, match="printed no port within 0.3 s"):
        models._port(server, "event")
    stand_in("raise SystemExit(1)")
    with Child("any") as server, pytest.raises(RuntimeError, match="exited without printing its port"):
        models._port(server, "event")


@pytest.mark.parametrize("runs", [0, -1, 1.5, True])
def test_compare_triggers_refuses_a_run_count_below_one(runs):
    with pytest.raises(ValueError, match="runs must be a whole number of at least 1"):
        models.compare_triggers(sockets=8, rounds=1, runs=runs)

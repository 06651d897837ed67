import threading

import pytest

from helpers.trace import Bar, Tracer, bars, round_robin


def counter(name, n):
    for i in range(1, n + 1):
        yield f"{name}{i}"


def test_round_robin_interleaves_and_records_every_switch():
    tracer = round_robin({"ping": counter("p", 2), "pong": counter("q", 1)}, Tracer())
    assert tracer.order() == ["ping", "pong", "ping", "pong", "ping"]
    assert tracer.text() == "\n".join([
        " 1  ping  spawn",
        " 2  pong  spawn",
        " 3  ping  run",
        " 4  ping  pause  yield 'p1'",
        " 5  pong  run",
        " 6  pong  pause  yield 'q1'",
        " 7  ping  run",
        " 8  ping  pause  yield 'p2'",
        " 9  pong  run",
        "10  pong  exit",
        "11  ping  run",
        "12  ping  exit",
    ])
    assert str(tracer) == tracer.text()


def test_empty_and_cleared_tracer():
    tracer = Tracer()
    assert tracer.text() == "(no events)"
    tracer.note("a", "x")
    tracer.clear()
    assert tracer.events == () and tracer.text() == "(no events)"
    assert tracer.record("a", "run").step == 1  # steps restart after clear


@pytest.mark.parametrize("task, kind", [("", "run"), (None, "run"), ("a", "jump"), ("a", "RUN")])
def test_bad_events_are_rejected(task, kind):
    with pytest.raises(ValueError):
        Tracer().record(task, kind)


def test_record_is_thread_safe_and_steps_are_unique():
    tracer = Tracer()

    def work(name):
        for _ in range(500):
            tracer.note(name, "tick")

    threads = [threading.Thread(target=work, args=(f"t{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    steps = [event.step for event in tracer.events]
    assert steps == list(range(1, 2001))
    times = [event.time for event in tracer.events]
    assert times == sorted(times)


def test_bars_pair_run_with_pause_or_exit_and_close_open_runs():
    tracer = Tracer()
    tracer.record("a", "run")
    tracer.note("a", "work")
    tracer.record("a", "pause")
    tracer.record("b", "run")
    tracer.record("b", "exit")
    tracer.record("a", "run")
    tracer.note("a", "still running")
    assert bars(tracer.events) == [Bar("a", 1, 3), Bar("b", 4, 5), Bar("a", 6, 7)]
    assert bars(()) == []
    time_bars = bars(tracer.events, clock="time")
    assert all(bar.end >= bar.start >= 0 for bar in time_bars)


def test_timeline_text_form_is_stable_and_png_is_deterministic():
    def make():
        return round_robin({"ping": counter("p", 3), "pong": counter("q", 3)}, Tracer())

    first, second = make().timeline(title="demo"), make().timeline(title="demo")
    assert repr(first) == "<Timeline: 2 tasks, 8 turns, step clock>"
    png = first.png()
    assert png.startswith(b"\x89PNG") and png == second.png()
    assert first._repr_png_() == png


def test_timeline_time_clock_and_bad_clock(tmp_path):
    tracer = round_robin({"a": counter("a", 2)}, Tracer())
    timeline = tracer.timeline(clock="time")
    path = tmp_path / "t.png"
    timeline.save(str(path))
    assert path.read_bytes().startswith(b"\x89PNG")
    with pytest.raises(ValueError):
        tracer.timeline(clock="wall")


def test_empty_timeline_draws():
    assert Tracer().timeline().png().startswith(b"\x89PNG")

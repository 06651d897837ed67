import threading

import pytest

from helpers.trace import STATES, Bar, Tracer, bars, round_robin, segments


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


def waiting_trace():
    """alice waits for bob; bob sleeps, then yields once; carol comes and goes."""
    tracer = Tracer()
    tracer.record("alice", "spawn")
    tracer.record("bob", "spawn")
    tracer.record("alice", "run")  # 3
    tracer.note("alice", "ask bob")
    tracer.record("alice", "wait", "task 'bob'")  # 5
    tracer.record("bob", "run")
    tracer.record("bob", "wait", "sleep")  # 7
    tracer.record("bob", "run")
    tracer.record("bob", "pause", "sleep(0)")  # 9
    tracer.record("carol", "spawn")
    tracer.record("carol", "run")
    tracer.record("carol", "exit")  # 12
    tracer.record("bob", "run")
    tracer.record("bob", "exit", "returned 3")  # 14
    tracer.record("alice", "run")  # 15
    tracer.note("alice", "got 3")
    return tracer


def test_segments_give_each_stretch_its_state():
    tracer = waiting_trace()
    assert segments(tracer.events) == [
        Bar("alice", 1, 3, "ready"),
        Bar("bob", 2, 6, "ready"),
        Bar("alice", 3, 5, "running"),
        Bar("alice", 5, 15, "waiting"),
        Bar("bob", 6, 7, "running"),
        Bar("bob", 7, 8, "waiting"),
        Bar("bob", 8, 9, "running"),
        Bar("bob", 9, 13, "ready"),
        Bar("carol", 10, 11, "ready"),
        Bar("carol", 11, 12, "running"),
        Bar("bob", 13, 14, "running"),
        Bar("alice", 15, 16, "running"),  # still running at the end of the trace
    ]
    assert {bar.state for bar in segments(tracer.events)} == set(STATES)
    assert segments(()) == []


def test_running_segments_are_exactly_the_bars():
    for tracer in (waiting_trace(), round_robin({"a": counter("a", 3), "b": counter("b", 1)}, Tracer())):
        for clock in ("step", "time"):
            running = [bar for bar in segments(tracer.events, clock) if bar.state == "running"]
            assert sorted(running, key=lambda bar: bar.start) == sorted(bars(tracer.events, clock),
                                                                        key=lambda bar: bar.start)


def test_segments_of_a_trace_without_spawn_or_run():
    tracer = Tracer()
    tracer.record("main", "pause", "switch to child")  # a greenlet trace begins mid-run
    tracer.record("child", "run")
    tracer.record("child", "exit", "returned to main")
    tracer.record("main", "run")
    tracer.record("main", "wait", "sleep")  # open at the end, but empty: left out
    assert segments(tracer.events) == [Bar("main", 1, 4, "ready"), Bar("child", 2, 3, "running"),
                                       Bar("main", 4, 5, "running")]


def test_old_kinds_print_as_before_and_wait_aligns():
    tracer = waiting_trace()
    lines = tracer.text().splitlines()
    assert lines[4] == " 5  alice  wait   task 'bob'"
    assert lines[8] == " 9  bob    pause  sleep(0)"
    assert lines[11] == "12  carol  exit"


def test_timeline_draws_each_state_differently():
    from matplotlib.collections import LineCollection
    from matplotlib.patches import Rectangle

    timeline = waiting_trace().timeline()
    ax = timeline.figure.axes[0]
    boxes = [patch for patch in ax.patches if isinstance(patch, Rectangle)]
    solid = [box for box in boxes if not box.get_hatch()]
    hatched = [box for box in boxes if box.get_hatch()]
    assert len(solid) == 6 and len(hatched) == 4  # running bars; ready bars
    assert all(box.get_height() < solid[0].get_height() for box in hatched)
    dashed = [line for line in ax.collections if isinstance(line, LineCollection)]
    assert len(dashed) == 2  # alice waits for bob, bob waits for his timer
    legend = timeline.figure.legends[0]
    assert [text.get_text() for text in legend.get_texts()] == [
        "running", "ready (another task runs)", "waiting (I/O, timer)"]


def test_legend_names_only_the_states_drawn():
    only_running = Tracer()
    only_running.record("a", "run")
    only_running.record("a", "exit")
    legend = only_running.timeline().figure.legends[0]
    assert [text.get_text() for text in legend.get_texts()] == ["running"]
    assert Tracer().timeline().figure.legends == []


def test_note_labels_are_readable_and_stay_inside_the_axes():
    tracer = Tracer()
    for task in ("top", "bottom"):
        tracer.record(task, "run")
        tracer.note(task, "a label at the left edge")
        tracer.record(task, "wait", "sleep")
        tracer.record(task, "run")
        tracer.note(task, "a label at the right edge")
        tracer.record(task, "exit")
    timeline = tracer.timeline(title="edges")
    figure = timeline.figure
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    renderer = FigureCanvasAgg(figure).get_renderer()
    ax = figure.axes[0]
    box = ax.get_window_extent(renderer)
    labels = [text for text in ax.texts if text.get_text().startswith("a label")]
    assert len(labels) == 4
    for label in labels:
        assert label.get_fontsize() * figure.dpi / 72 >= 12  # pixels: readable on screen
        extent = label.get_window_extent(renderer)
        assert box.x0 <= extent.x0 and extent.x1 <= box.x1, label.get_text()
        assert box.y0 <= extent.y0 and extent.y1 <= box.y1, label.get_text()
    for tick in ax.get_yticklabels():
        assert tick.get_fontsize() * figure.dpi / 72 >= 12

import gc
import threading

import gevent
import greenlet
import pytest

from helpers.greenlets import default_name, hub_error_reports, trace_switches
from helpers.trace import Tracer


def ping_pong(tracer: Tracer, names=None):
    """main -> ping -> pong -> ping -> main, with values passed along."""
    main = greenlet.getcurrent()

    def ping():
        return pong.switch("ball") + "!"

    def pong(ball):
        return ping.switch(ball.upper())

    ping, pong = greenlet.greenlet(ping), greenlet.greenlet(pong)
    names = {ping: "ping", pong: "pong"} if names is None else names(ping, pong)
    with trace_switches(tracer, names) as switches:
        result = ping.switch()
    assert result == "BALL!"
    pong.throw()  # pong was left waiting; end it here, not at garbage collection
    return switches, main


def test_each_switch_becomes_pause_and_run_and_a_finished_greenlet_exits():
    tracer = Tracer()
    switches, _ = ping_pong(tracer)
    assert tracer.text() == "\n".join([
        "1  main  pause  switch to ping",
        "2  ping  run",
        "3  ping  pause  switch to pong",
        "4  pong  run",
        "5  pong  pause  switch to ping",
        "6  ping  run",
        "7  ping  exit   returned to main",
        "8  main  run",
    ])
    assert switches.count == 4
    assert tracer.order() == ["ping", "pong", "ping", "main"]


def test_throw_is_recorded_and_unnamed_greenlets_are_left_out():
    tracer = Tracer()
    main = greenlet.getcurrent()
    waiting = greenlet.greenlet(lambda: main.switch())
    unnamed = greenlet.greenlet(lambda: main.switch())
    with trace_switches(tracer, {waiting: "w"}) as switches:
        waiting.switch()
        unnamed.switch()
        with pytest.raises(ValueError):
            waiting.throw(ValueError("stop"))
        unnamed.throw()
    assert [(e.task, e.kind, e.detail) for e in tracer.events] == [
        ("main", "pause", "switch to w"), ("w", "run", ""),
        ("w", "pause", "switch to main"), ("main", "run", ""),
        ("main", "pause", "switch to an untraced greenlet"),
        ("main", "run", ""),
        ("main", "pause", "throw into w"), ("w", "run", ""),
        ("w", "exit", "raised into main"), ("main", "run", ""),
        ("main", "pause", "throw into an untraced greenlet"),
        ("main", "run", ""),
    ]
    assert switches.count == 8


def test_previous_trace_function_is_restored_and_called_when_nested():
    seen = []
    old = greenlet.settrace(lambda event, args: seen.append(event))
    try:
        outer, inner = Tracer(), Tracer()
        with trace_switches(outer, lambda g: None):
            ping_pong(inner)
        assert greenlet.gettrace() is not None and len(seen) == 6  # 4 switches + pong's throw and exit
        assert outer.order() == ["main", "main"] and inner.order() == ["ping", "pong", "ping", "main"]
    finally:
        greenlet.settrace(old)
    assert greenlet.gettrace() is None


def test_restored_even_when_the_block_raises():
    before = greenlet.gettrace()
    with pytest.raises(KeyError):
        with trace_switches(Tracer()):
            raise KeyError("boom")
    assert greenlet.gettrace() is before


def test_a_bad_name_is_reported_when_the_block_ends():
    with pytest.raises(ValueError, match="non-empty str"):
        ping_pong(Tracer(), names=lambda ping, pong: (lambda g: 42 if g is ping else None))
    assert greenlet.gettrace() is None


@pytest.mark.parametrize("tracer, names, error", [
    ([], None, TypeError), (Tracer(), {"ping": "x"}, TypeError), (Tracer(), 3, TypeError),
])
def test_bad_arguments_raise_clear_errors(tracer, names, error):
    with pytest.raises(error):
        trace_switches(tracer, names)


def test_the_same_tracer_cannot_be_entered_twice_but_can_be_reused():
    switches = trace_switches(Tracer())
    with switches:
        with pytest.raises(RuntimeError):
            switches.__enter__()
    with switches:
        pass
    assert greenlet.gettrace() is None


def test_traces_are_per_thread():
    tracer = Tracer()
    done = threading.Event()

    def other_thread():
        ping_pong(Tracer())  # its own trace function, in its own thread
        done.set()

    # A suspended greenlet of this thread left by an earlier test is killed when the garbage
    # collector finds it: a real "throw" in this thread, which would land in this trace.
    gc.collect()
    gc.disable()
    try:
        with trace_switches(tracer):
            thread = threading.Thread(target=other_thread)
            thread.start()
            thread.join(timeout=10)
    finally:
        gc.enable()
    assert done.is_set() and tracer.events == ()


def test_gevent_default_names_main_hub_and_assigned_names():
    tracer = Tracer()
    with trace_switches(tracer):
        named = gevent.spawn(gevent.sleep, 0.01)
        named.name = "sleeper"
        anonymous = gevent.spawn(gevent.sleep, 0.01)
        gevent.joinall([named, anonymous], timeout=5)
    assert set(tracer.tasks()) == {"main", "hub", "sleeper"}
    assert default_name(anonymous) is None
    assert default_name(greenlet.getcurrent()) == "main"


def test_hub_error_reports_collects_instead_of_printing(capsys):
    with hub_error_reports() as reports:
        failing = gevent.spawn(lambda: 1 / 0)
        failing.join(timeout=5)
    assert reports == ["ZeroDivisionError: division by zero"]
    assert capsys.readouterr().err == ""
    assert "exception_stream" not in vars(gevent.get_hub())  # back to the default
    with hub_error_reports() as reports:
        gevent.spawn(lambda: None).join(timeout=5)
    assert reports == []


def test_gevent_switches_into_the_hub_are_waits_except_sleep_0_and_idle():
    tracer = Tracer()

    def worker():
        gevent.sleep(0)      # ready at once: pause
        gevent.idle()        # ready at once: pause
        gevent.sleep(0.01)   # a timer: wait

    with trace_switches(tracer):
        job = gevent.spawn(worker)
        job.name = "w"
        job.join(timeout=5)  # main waits for w
    kinds = [(e.kind, e.detail) for e in tracer.events if e.task == "w" and e.kind != "run"]
    assert kinds == [("pause", "switch to hub"), ("pause", "switch to hub"), ("wait", "switch to hub"),
                     ("exit", "returned to hub")]
    assert [e.kind for e in tracer.events if e.task == "main"][0] == "wait"

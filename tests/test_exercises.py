"""Tests for helpers.exercises with throwaway exercises (chapter 99) registered per test."""

from __future__ import annotations

import importlib
import signal
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

import helpers.checks
from helpers import exercises
from helpers.exercises import Result, Wrong, check, evaluate, exercise, hint, registered

LINE = "Exercise 99.1 (The answer): "


@pytest.fixture(autouse=True)
def answer_exercise():
    """Register exercise 99.1 for the test; afterwards the registry is as it was."""
    saved = dict(exercises._REGISTRY)
    shown = dict(exercises._HINTS_SHOWN)
    exercises._HINTS_SHOWN.clear()

    @exercise("99.1", title="The answer", hint=("what is six times seven?", "return that number"))
    def check_answer(answer):
        got = answer()
        if got != 42:
            raise Wrong(f"answer() should return 42, got {got!r}")
        return "answer() returns 42."

    yield check_answer
    exercises._REGISTRY.clear()
    exercises._REGISTRY.update(saved)
    exercises._HINTS_SHOWN.clear()
    exercises._HINTS_SHOWN.update(shown)


@pytest.fixture
def python_sigint():
    """Python's own SIGINT handler for the test, whatever the validation was started with (a
    background job or nohup ignores SIGINT; a kernel always has Python's handler)."""
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, before)


@pytest.fixture
def alarm_state():
    """Save and restore SIGALRM's handler and timer (pytest-timeout uses them too)."""
    handler = signal.getsignal(signal.SIGALRM)
    delay, interval = signal.getitimer(signal.ITIMER_REAL)
    yield
    signal.setitimer(signal.ITIMER_REAL, 0)
    signal.signal(signal.SIGALRM, handler)
    if delay:
        signal.setitimer(signal.ITIMER_REAL, delay, interval)


@pytest.fixture
def chapter_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A temporary extra directory of helpers.checks for chapter modules written by a test."""
    monkeypatch.setattr(helpers.checks, "__path__", [*helpers.checks.__path__, str(tmp_path)])
    importlib.invalidate_caches()
    yield tmp_path
    for name in [n for n in sys.modules if n.startswith("helpers.checks.ch9")]:
        del sys.modules[name]
        if hasattr(helpers.checks, name.rpartition(".")[2]):
            delattr(helpers.checks, name.rpartition(".")[2])


def forever():
    while True:
        pass


# --- every status and its line -------------------------------------------------------


def test_solved():
    result = evaluate("99.1", lambda: 42)
    assert result == Result("99.1", "The answer", "solved", "answer() returns 42.")
    assert str(result) == LINE + "solved! answer() returns 42."


def test_wrong():
    result = evaluate("99.1", lambda: 41)
    assert result.status == "wrong"
    assert str(result) == LINE + "not yet right: answer() should return 42, got 41"


def test_error_shows_type_and_message_without_traceback():
    result = evaluate("99.1", lambda: int("forty-two"))
    assert result.status == "error"
    assert str(result) == (
        LINE + "your code raised ValueError: invalid literal for int() with base 10: 'forty-two'"
    )


def test_error_without_a_message():
    def answer():
        raise RuntimeError

    assert str(evaluate("99.1", answer)) == LINE + "your code raised RuntimeError"


def test_sys_exit_in_learner_code_is_an_error_not_an_exit():
    assert str(evaluate("99.1", lambda: sys.exit(3))) == LINE + "your code raised SystemExit: 3"


def not_implemented():
    raise NotImplementedError("write this function")


@pytest.mark.parametrize("answer", [..., None, not_implemented], ids=["Ellipsis", "None", "stub"])
def test_unsolved(answer):
    result = evaluate("99.1", answer)
    assert result.status == "unsolved"
    assert str(result) == LINE + 'not solved yet. Stuck? Call hint("99.1").'


def test_check_prints_exactly_one_line(capsys):
    assert check("99.1", lambda: 42) is None
    assert capsys.readouterr() == (LINE + "solved! answer() returns 42.\n", "")
    for _ in range(2):  # unsolved never shows a hint, however often it is checked
        check("99.1", ...)
        assert capsys.readouterr().out == LINE + 'not solved yet. Stuck? Call hint("99.1").\n'


FIRST = 'Hint 1 of 2 for 99.1: what is six times seven? (hint("99.1") again for a stronger one)'
SECOND = "Hint 2 of 2 for 99.1: return that number"


def test_hints_come_in_stages_when_asked(capsys):
    for _ in range(4):
        hint("99.1")
    assert capsys.readouterr().out.splitlines() == [
        FIRST, SECOND + " (that is the last hint)",
        SECOND + " (that was the last hint, again)", SECOND + " (that was the last hint, again)"]


def test_a_wrong_attempt_shows_the_first_stage_once(capsys):
    check("99.1", lambda: 41)
    assert capsys.readouterr().out.splitlines() == [
        LINE + "not yet right: answer() should return 42, got 41", FIRST]
    check("99.1", lambda: int("x"))  # the first stage was shown: no repeat
    assert len(capsys.readouterr().out.splitlines()) == 1
    hint("99.1")  # ...and asking goes on to the next stage
    assert capsys.readouterr().out == SECOND + " (that is the last hint)\n"


def test_code_that_raised_shows_the_first_stage_too(capsys):
    check("99.1", lambda: int("x"))
    assert capsys.readouterr().out.splitlines()[1] == FIRST


def test_a_single_hint_is_one_stage(capsys):
    exercise("99.3", title="One", hint="just this")(lambda answer: "ok")
    assert registered()["99.3"].hints == ("just this",)
    hint("99.3")
    assert capsys.readouterr().out == "Hint 1 of 1 for 99.3: just this (that is the last hint)\n"


def test_hint_of_an_unknown_exercise_is_a_clear_error():
    with pytest.raises(KeyError, match="no exercise 99.8"):
        hint("99.8")


def test_result_is_frozen():
    with pytest.raises(AttributeError):
        evaluate("99.1", lambda: 42).status = "wrong"  # type: ignore[misc]


def test_a_checker_must_return_a_str():
    @exercise("99.2", title="Broken checker", hint="none")
    def check_broken(answer):
        return None

    with pytest.raises(TypeError, match="99.2"):
        evaluate("99.2", 1)


def test_a_real_keyboard_interrupt_propagates(alarm_state):
    before = signal.getsignal(signal.SIGALRM)

    def answer():
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        evaluate("99.1", answer)
    assert signal.getsignal(signal.SIGALRM) is before


def test_check_turns_an_interrupt_into_one_line(capsys, alarm_state):
    def answer():
        raise KeyboardInterrupt

    check("99.1", answer)
    assert capsys.readouterr() == (LINE + "interrupted — not checked.\n", "")


def test_a_real_sigint_during_a_check_is_one_line(capsys, alarm_state, python_sigint):

    def answer():
        signal.raise_signal(signal.SIGINT)
        forever()

    check("99.1", answer)
    assert capsys.readouterr() == (LINE + "interrupted — not checked.\n", "")


def test_an_interrupt_inside_gevent_s_hub_prints_no_traceback(capsys, alarm_state, python_sigint):
    gevent = pytest.importorskip("gevent")

    def stuck():
        # The interrupt lands in the hub (as the stop button does while a greenlet waits).
        gevent.get_hub().loop.run_callback(lambda: signal.raise_signal(signal.SIGINT))
        gevent.sleep(5)

    check("99.1", stuck)
    assert capsys.readouterr() == (LINE + "interrupted — not checked.\n", "")
    assert gevent.hub.Hub.NOT_ERROR == (gevent.GreenletExit, SystemExit)  # restored


def test_the_time_limit_inside_gevent_s_hub_prints_no_traceback(capsys):
    gevent = pytest.importorskip("gevent")
    check("99.1", lambda: gevent.sleep(5), time_limit=0.3)
    out, err = capsys.readouterr()
    assert out.splitlines()[0] == LINE + "your code took longer than 0.3 s: is there an endless loop?"
    assert err == ""


# --- the time limit ----------------------------------------------------------------------


def test_endless_loop_becomes_an_error_quickly():
    started = time.monotonic()
    result = evaluate("99.1", forever, time_limit=0.5)
    assert 0.5 <= time.monotonic() - started < 3.0
    assert result.status == "error"
    assert str(result) == LINE + "your code took longer than 0.5 s: is there an endless loop?"


def test_default_time_limit_is_in_the_line():
    def slow():
        raise exercises._TimeLimit  # as if 10 s had passed

    assert str(evaluate("99.1", slow)).endswith("took longer than 10 s: is there an endless loop?")


def test_except_exception_in_learner_code_does_not_swallow_the_limit():
    def stubborn():
        while True:
            try:
                sum(range(1000))
            except Exception:
                pass

    started = time.monotonic()
    assert evaluate("99.1", stubborn, time_limit=0.5).status == "error"
    assert time.monotonic() - started < 3.0


def test_endless_loop_in_a_greenlet_is_stopped_too():
    gevent = pytest.importorskip("gevent")

    def answer():
        gevent.spawn(forever).join()

    started = time.monotonic()
    result = evaluate("99.1", answer, time_limit=0.5)
    assert result.status == "error", str(result)
    assert time.monotonic() - started < 3.0


def test_previous_handler_and_timer_are_restored(alarm_state):
    def previous_handler(signum, frame):
        raise AssertionError("the previous timer fired during the check")

    signal.signal(signal.SIGALRM, previous_handler)
    signal.setitimer(signal.ITIMER_REAL, 100.0, 7.0)
    for answer in (lambda: 42, forever, lambda: 41, not_implemented):
        evaluate("99.1", answer, time_limit=0.3)
    assert signal.getsignal(signal.SIGALRM) is previous_handler
    delay, interval = signal.getitimer(signal.ITIMER_REAL)
    assert 95.0 < delay <= 100.0
    assert interval == pytest.approx(7.0)


def test_a_previous_timer_that_came_due_fires_right_after_the_check(alarm_state):
    fired = []
    signal.signal(signal.SIGALRM, lambda signum, frame: fired.append(time.monotonic()))
    signal.setitimer(signal.ITIMER_REAL, 0.2)
    ended = []

    def busy_for_half_a_second():
        end = time.monotonic() + 0.5
        while time.monotonic() < end:
            pass
        ended.append(time.monotonic())
        return 42

    assert evaluate("99.1", busy_for_half_a_second, time_limit=5).status == "solved"
    deadline = time.monotonic() + 2.0
    while not fired and time.monotonic() < deadline:
        time.sleep(0.01)
    # It came due during the check, but fired once, only after the learner's code had
    # finished (it is re-armed to fire at once, so it may land before evaluate returns).
    assert len(fired) == 1 and fired[0] >= ended[0]


def test_no_time_limit_outside_the_main_thread():
    results = []

    def slow():
        time.sleep(0.3)
        return 42

    worker = threading.Thread(target=lambda: results.append(evaluate("99.1", slow, time_limit=0.1)))
    worker.start()
    worker.join()
    assert [r.status for r in results] == ["solved"]


@pytest.mark.parametrize("time_limit, error", [
    (0, ValueError), (-1, ValueError), (601, ValueError), (float("nan"), ValueError),
    ("10", TypeError), (True, TypeError),
])
def test_bad_time_limit_is_rejected(time_limit, error):
    with pytest.raises(error):
        evaluate("99.1", lambda: 42, time_limit=time_limit)


# --- ids and the registry ----------------------------------------------------------------


BAD_IDS = ["1.1", "00", "00.0", "00.01", "100.1", "ab.c", " 00.1", "00.1 ", "00-1", ""]


@pytest.mark.parametrize("bad", BAD_IDS)
def test_bad_ids_are_rejected(bad):
    with pytest.raises(ValueError, match="looks like '00.1'"):
        exercise(bad, title="t", hint="h")
    with pytest.raises(ValueError, match="looks like '00.1'"):
        evaluate(bad, 42)


@pytest.mark.parametrize("bad", [1.1, None, 99])
def test_ids_must_be_str(bad):
    with pytest.raises(TypeError):
        exercise(bad, title="t", hint="h")
    with pytest.raises(TypeError):
        evaluate(bad, 42)


@pytest.mark.parametrize("kwargs", [{"title": "", "hint": "h"}, {"title": "t", "hint": " "},
                                    {"title": None, "hint": "h"}, {"title": "t", "hint": ()},
                                    {"title": "t", "hint": ("h", "")}, {"title": "t", "hint": 5}])
def test_title_and_hint_are_required(kwargs):
    with pytest.raises(ValueError):
        exercise("99.5", **kwargs)


def test_an_id_cannot_be_registered_twice(answer_exercise):
    with pytest.raises(ValueError, match="99.1 is already registered"):
        exercise("99.1", title="Again", hint="h")(lambda answer: "ok")
    # Re-registering the same checker (a module reloaded) is fine.
    exercise("99.1", title="The answer", hint="return 42")(answer_exercise)


def test_unknown_id_lists_the_chapters_ids():
    exercise("99.2", title="Two", hint="h")(lambda answer: "ok")
    with pytest.raises(KeyError) as unknown:
        evaluate("99.7", 42)
    assert unknown.value.args[0] == "there is no exercise 99.7; chapter 99 has: 99.1, 99.2"
    with pytest.raises(KeyError) as unknown:
        check("98.1", 42)
    assert unknown.value.args[0] == "there is no exercise 98.1; chapter 98 has: none"


def test_registered_sorts_ids_by_number_and_returns_a_copy():
    for number in ("99.10", "99.2"):
        exercise(number, title=number, hint="h")(lambda answer: "ok")
    ours = [number for number in registered() if number.startswith("99.")]
    assert ours == ["99.1", "99.2", "99.10"]
    registered().clear()
    assert "99.1" in registered()


def test_a_chapter_module_is_imported_on_first_use(chapter_dir: Path):
    (chapter_dir / "ch97.py").write_text(textwrap.dedent("""
        from helpers.exercises import exercise

        @exercise("97.1", title="Lazy", hint="h")
        def check_lazy(answer):
            return f"got {answer}."
    """))
    assert "helpers.checks.ch97" not in sys.modules
    assert str(evaluate("97.1", 5)) == "Exercise 97.1 (Lazy): solved! got 5."
    assert "helpers.checks.ch97" in sys.modules
    assert registered()["97.1"].title == "Lazy"


def test_registered_imports_every_chapter_module(chapter_dir: Path):
    (chapter_dir / "ch95.py").write_text(
        "from helpers.exercises import exercise\n"
        "exercise('95.1', title='Found', hint='h')(lambda answer: 'ok')\n"
    )
    (chapter_dir / "notes.py").write_text("raise AssertionError('not a chapter module')\n")
    assert registered()["95.1"].title == "Found"


def test_a_broken_chapter_module_is_reported_not_hidden(chapter_dir: Path):
    (chapter_dir / "ch96.py").write_text("import switchyard_no_such_module\n")
    with pytest.raises(ModuleNotFoundError, match="switchyard_no_such_module"):
        evaluate("96.1", 42)


def test_same_order_names_the_first_difference_the_length_and_the_form():
    from helpers.exercises import same_order

    def wrong(answer):
        with pytest.raises(Wrong) as caught:
            same_order(answer, ["a", "b", "c"], item="turn", example="['a', ...]",
                       mismatch="you said {said}, but {ran} ran then")
        return str(caught.value)

    same_order(["a", "b", "c"], ["a", "b", "c"], item="turn", example="", mismatch="")
    assert wrong(["a", "c", "b"]) == "turn 2: you said 'c', but 'b' ran then"
    assert wrong(["a", "b"]) == "the first 2 turns are right, but there are 3 turns in all, not 2"
    assert wrong("abc") == "give a list like ['a', ...], not 'abc'"


def test_check_records_in_a_workspace_only_and_never_fails_because_of_it(tmp_path, monkeypatch, capsys):
    """nbval runs notebooks/ (no workspace): check() prints exactly what it did before."""
    from helpers import workspace as ws
    from tools.chapters import NOTEBOOKS

    workspace = tmp_path / "workspace"
    ws.sync(workspace, NOTEBOOKS)
    monkeypatch.setitem(exercises._HINTS_SHOWN, "99.1", 0)
    monkeypatch.chdir(NOTEBOOKS)
    check("99.1", lambda: 41)
    outside = capsys.readouterr().out
    assert not (NOTEBOOKS / ".switchyard").exists()

    monkeypatch.setitem(exercises._HINTS_SHOWN, "99.1", 0)
    monkeypatch.chdir(workspace)
    check("99.1", lambda: 41)
    assert capsys.readouterr().out == outside  # the same lines: recording prints nothing
    entry = ws.load_progress(workspace)[0]["exercises"]["99.1"]
    assert (entry["attempts"], entry["solved"], entry["hints"]) == (1, False, 1)  # the wrong attempt showed hint 1

    (workspace / ".switchyard" / "progress.json").write_text("\x00garbage")
    check("99.1", lambda: 41)
    out = capsys.readouterr().out
    assert "Exercise 99.1" in out and "(progress: progress.json was unreadable" in out

    progress = workspace / ".switchyard" / "progress.json"
    progress.unlink()
    progress.mkdir()  # cannot be read or written as a file at all
    check("99.1", lambda: 41)
    out = capsys.readouterr().out
    assert out.startswith("Exercise 99.1") and "progress not recorded" in out

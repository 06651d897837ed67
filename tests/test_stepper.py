"""helpers.stepper: the logic (press sequence -> displayed state) and the widget, no browser."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers.stepper import Step, Stepper, StepperWidget, parse_value, step_through


def averager():
    total = count = 0
    average = None
    while True:
        value = yield average
        total += value
        count += 1
        average = total / count


def tally(start):
    total = start
    try:
        while (value := (yield total)) is not None:
            total += value
    finally:
        cleanup.append("tally's finally ran")
    return total


def stubborn():
    try:
        yield "first"
    except GeneratorExit:
        pass  # wrong: swallows the request to finish...
    yield "still here"  # ...and yields again


cleanup: list[str] = []
LINE = averager.__code__.co_firstlineno  # the def line; the yield is 4 lines below


def test_a_new_generator_shows_its_source_state_and_arguments():
    stepper = Stepper(tally(5))
    assert stepper.state == "GEN_CREATED"
    assert stepper.line == tally.__code__.co_firstlineno
    assert stepper.locals == {"start": 5}
    text = stepper.text()
    assert text.splitlines()[0] == "generator tally: GEN_CREATED, not started: the first next() runs it from the top"
    assert f"-> {tally.__code__.co_firstlineno:>3}  def tally(start):" in text
    assert text.splitlines()[-1] == "locals: start=5"


def test_a_press_sequence_gives_the_displayed_state():
    stepper = Stepper(averager())
    steps = [stepper.next(), stepper.send(10), stepper.send(20)]
    assert [step.describe() for step in steps] == [
        "next() -> yielded None", "send(10) -> yielded 10.0", "send(20) -> yielded 15.0"]
    assert stepper.state == "GEN_SUSPENDED" and stepper.line == LINE + 4
    assert stepper.text() == "\n".join([
        f"generator averager: GEN_SUSPENDED, paused at line {LINE + 4}",
        "last press: send(20) -> yielded 15.0",
        f"   {LINE:>3}  def averager():",
        f"   {LINE + 1:>3}      total = count = 0",
        f"   {LINE + 2:>3}      average = None",
        f"   {LINE + 3:>3}      while True:",
        f"-> {LINE + 4:>3}          value = yield average",
        f"   {LINE + 5:>3}          total += value",
        f"   {LINE + 6:>3}          count += 1",
        f"   {LINE + 7:>3}          average = total / count",
        "locals: total=30, count=2, average=15.0, value=20",
    ])
    assert stepper.history == steps


def test_send_before_start_is_refused_and_the_generator_is_untouched():
    stepper = Stepper(averager())
    step = stepper.send(1)
    assert step.outcome == "raised" and isinstance(step.value, TypeError)
    assert step.describe() == "send(1) -> raised TypeError: can't send non-None value to a just-started generator"
    assert stepper.state == "GEN_CREATED"
    assert stepper.send(None).describe() == "send(None) -> yielded None"  # priming with None works


def test_return_value_throw_and_close():
    cleanup.clear()
    stepper = Stepper(tally(1))
    stepper.next()
    assert stepper.send(2).value == 3
    step = stepper.send(None)
    assert (step.outcome, step.value, step.state) == ("returned", 3, "GEN_CLOSED")
    assert step.describe() == "send(None) -> returned 3 (raised StopIteration, .value = 3)"
    assert cleanup == ["tally's finally ran"]
    assert stepper.line is None and stepper.locals == {}
    assert "locals: (none)" in stepper.text() and "->" not in stepper.text().split("\n", 2)[2]

    thrown = Stepper(tally(0))
    thrown.next()
    step = thrown.throw(ValueError("bad value"))
    assert step.describe() == ("throw(ValueError('bad value')) -> raised ValueError: bad value  "
                               "[the exception ended the generator: every later press finds it finished]")
    assert thrown.state == "GEN_CLOSED"

    caught = Stepper(averager())
    caught.next()
    assert caught.throw(KeyError).describe().startswith("throw(KeyError()) -> raised KeyError  [the exception")

    closing = Stepper(tally(0))
    closing.next()
    cleanup.clear()
    assert closing.close().describe() == "close() -> closed"
    assert cleanup == ["tally's finally ran"] and closing.state == "GEN_CLOSED"


def test_a_generator_that_ignores_generatorexit():
    stepper = Stepper(stubborn())
    stepper.next()
    step = stepper.close()
    assert step.describe() == "close() -> raised RuntimeError: generator ignored GeneratorExit"
    assert stepper.state == "GEN_SUSPENDED"  # it yielded again, so it is still alive
    assert stepper.next().outcome == "returned"  # let it finish (no warning when collected)


def test_generatorexit_thrown_by_hand_comes_back_out():
    stepper = Stepper(averager())
    stepper.next()
    step = stepper.throw(GeneratorExit)
    assert (step.outcome, type(step.value), step.state) == ("raised", GeneratorExit, "GEN_CLOSED")


def test_pressing_a_finished_generator_gives_a_clear_message_never_a_crash():
    stepper = Stepper(tally(0))
    stepper.next()
    stepper.send(None)
    assert [step.describe() for step in (stepper.next(), stepper.send(5), stepper.throw(ValueError("x")),
                                         stepper.close())] == [
        "next() -> returned None (raised StopIteration, .value = None)  "
        "[already finished: it raises StopIteration again, nothing ran]",
        "send(5) -> returned None (raised StopIteration, .value = None)  "
        "[already finished: it raises StopIteration again, nothing ran]",
        "throw(ValueError('x')) -> raised ValueError: x  "
        "[already finished: the exception came straight back out, nothing ran]",
        "close() -> closed  [already finished: close() does nothing]",
    ]
    assert stepper.state == "GEN_CLOSED" and len(stepper.history) == 6


def test_a_generator_that_drives_itself_is_reported_not_raised():
    holder = {}

    def selfish():
        yield holder["stepper"].next().describe()

    holder["stepper"] = stepper = Stepper(selfish())
    assert stepper.next().value == "next() -> raised ValueError: generator already executing"


@pytest.mark.parametrize("bad", [[1, 2], iter([1, 2]), None, averager])
def test_bad_input_is_a_clear_type_error(bad):
    with pytest.raises(TypeError, match="Stepper needs a generator object") as error:
        Stepper(bad)
    if bad is averager:
        assert "call the generator function first" in str(error.value)
    with pytest.raises(TypeError, match="Stepper needs a generator object"):
        step_through(bad)


def test_throw_needs_an_exception():
    stepper = Stepper(averager())
    with pytest.raises(TypeError, match="throw needs an exception"):
        stepper.throw("boom")
    assert stepper.history == []


def test_source_not_available():
    namespace: dict = {}
    exec("def made():\n    yield 1\n", namespace)
    stepper = Stepper(namespace["made"]())
    assert "(source not available)" in stepper.text()
    assert stepper.next().value == 1


@pytest.mark.parametrize("text, value", [("10", 10), (" 2.5 ", 2.5), ("", None), ("None", None),
                                         ("'tea'", "tea"), ("[1, 2]", [1, 2])])
def test_parse_value_reads_literals(text, value):
    assert parse_value(text) == value


@pytest.mark.parametrize("text", ["tea", "1 +", "__import__('os')"])
def test_parse_value_explains_what_it_cannot_read(text):
    with pytest.raises(ValueError, match="with quotes for a string"):
        parse_value(text)


# --------------------------------------------------------------------------- the widget

def test_the_widget_shows_the_initial_state_before_any_press():
    widget = step_through(tally(5))
    assert isinstance(widget, StepperWidget)
    assert "GEN_CREATED" in widget.pane.value and "def tally(start):" in widget.pane.value
    assert "background:#fff59d" in widget.pane.value  # the def line is highlighted
    bundle = widget._repr_mimebundle_()
    assert bundle["text/plain"] == Stepper(tally(5)).text()
    assert "application/vnd.jupyter.widget-view+json" in bundle


def test_clicking_buttons_updates_the_pane():
    widget = step_through(averager())
    widget.buttons["next"].click()
    widget.value_box.value = "10"
    widget.buttons["send"].click()
    assert widget.message.value == "<code>send(10) -&gt; yielded 10.0</code>"
    assert "GEN_SUSPENDED" in widget.pane.value and "<code>average</code></td><td><code>10.0" in widget.pane.value
    widget.exception_choice.value = "KeyError"
    widget.buttons["throw"].click()
    assert "raised KeyError: &#x27;thrown in by the stepper&#x27;" in widget.message.value
    assert "GEN_CLOSED" in widget.pane.value
    widget.buttons["close"].click()
    assert "already finished: close() does nothing" in widget.message.value
    # the text form stays the creation-time state: stable for nbval whatever was pressed
    assert widget._repr_mimebundle_()["text/plain"] == Stepper(averager()).text()


def test_a_value_the_widget_cannot_read_is_not_sent():
    widget = step_through(averager())
    widget.press("next")
    widget.value_box.value = "tea"
    assert widget.press("send") is None
    assert "not sent" in widget.message.value and "with quotes for a string" in widget.message.value
    assert [step.action for step in widget.stepper.history] == ["next()"]
    with pytest.raises(ValueError, match="no button 'jump'"):
        widget.press("jump")


def test_step_is_a_plain_record():
    step = Step("next()", "yielded", 1, "GEN_SUSPENDED")
    assert step.describe() == "next() -> yielded 1"
    assert Step("close()", "closed", None, "GEN_CLOSED").describe() == "close() -> closed"


# --------------------------------------------------------------------------- prints, and chapter 01's example

def chatty():
    print("chatty: started")
    while True:
        try:
            got = yield
        except ValueError as error:
            print(f"chatty: caught {error}")
            print("chatty: carrying on")
            continue
        print(f"chatty: got {got!r}")


def test_what_the_generator_prints_is_kept_with_its_press_not_lost(capsys):
    stepper = Stepper(chatty())
    steps = [stepper.next(), stepper.send(3), stepper.throw(ValueError("bad"))]
    assert capsys.readouterr().out == ""  # caught, not printed somewhere else
    assert [step.printed for step in steps] == [
        "chatty: started\n", "chatty: got 3\n", "chatty: caught bad\nchatty: carrying on\n"]
    assert steps[2].describe() == "\n".join([
        "throw(ValueError('bad')) -> yielded None",
        "    printed: chatty: caught bad",
        "    printed: chatty: carrying on"])
    assert "last press: throw(ValueError('bad')) -> yielded None\n    printed: chatty: caught bad" in stepper.text()


def test_the_widget_shows_the_generator_s_prints():
    widget = step_through(chatty())
    widget.press("next")
    widget.press("throw")
    assert widget.message.value == ("<code>throw(ValueError(&#x27;thrown in by the stepper&#x27;)) -&gt; "
                                    "yielded None</code><br><code> &nbsp; &nbsp;printed: chatty: caught thrown "
                                    "in by the stepper</code><br><code> &nbsp; &nbsp;printed: chatty: carrying "
                                    "on</code>")
    assert "printed: chatty: started" in widget.pane.value  # in the press log too


CHAPTER_01 = Path(__file__).resolve().parent.parent / "notebooks" / "01_generators.ipynb"


def chapter_01_example():
    """The generator function chapter 01's widget cell defines (the cell minus its last line)."""
    cells = json.loads(CHAPTER_01.read_text())["cells"]
    source = next("".join(cell["source"]) for cell in cells
                  if cell["cell_type"] == "code" and "step_through(" in "".join(cell["source"]))
    *definition, last = source.rstrip().splitlines()
    namespace: dict = {}
    exec("\n".join(definition), namespace)
    name = last.removeprefix("step_through(").removesuffix("())")
    return namespace[name]


def test_chapter_01_s_example_survives_the_natural_presses():
    example = chapter_01_example()
    stepper = Stepper(example())
    presses = [stepper.next(), stepper.next(), stepper.next(), stepper.send(5), stepper.next(),
               stepper.throw(ValueError("not a number")), stepper.send(2)]
    assert all(step.outcome == "yielded" for step in presses), [step.describe() for step in presses]
    assert [step.value for step in presses] == [0, 0, 0, 5, 5, 5, 7]
    assert presses[1].printed and presses[5].printed  # next() and the caught throw both say something
    assert "not a number" in presses[5].printed
    widget = step_through(example())
    for name in ("next", "next", "throw", "next"):
        assert widget.press(name).outcome == "yielded"
    assert "thrown in by the stepper" in widget.message.value or "printed" in widget.pane.value
    assert widget.press("close").describe().startswith("close() -> closed")

"""helpers.pep380: the chapter 02 table of cases, and running two delegators through the same presses."""

from __future__ import annotations

import gc

import pytest

from helpers.pep380 import CASES, Case, compare, describe, press, run, stubborn, table, with_cleanup
from helpers.trace import Tracer
from tests.solutions.ch02 import pep380


def real(subiterable):
    return (yield from subiterable)


def by_hand(subiterable):
    """Wrong on purpose: re-yields with a for loop, so send() never reaches the subgenerator."""
    result = None
    for value in subiterable:  # noqa: UP028 (the hand-written loop is the point)
        yield value
    return result


def logging_adder(log):
    total = 0
    while (number := (yield total)) is not None:
        log.append(f"got {number}")
        total += number
    return total


SMALL = [
    Case("plain", lambda log: iter([1, 2]), ["next", "next", "next"]),
    Case("send", logging_adder, ["next", ("send", 1), ("send", 2), ("send", None)]),
    Case("stubborn", stubborn, ["next", "close"]),
]


def test_identical_delegators_match_on_every_row():
    rows = compare(SMALL, real, pep380)
    assert all(row.same for row in rows)
    assert [(row.case, row.press, row.real) for row in rows] == [
        ("plain", "next()", "yielded 1"), ("plain", "next()", "yielded 2"), ("plain", "next()", "returned None"),
        ("send", "next()", "yielded 0"), ("send", "send(1)", "yielded 1"), ("send", "send(2)", "yielded 3"),
        ("send", "send(None)", "returned 3"), ("send", "(subiterator's log)", "got 1; got 2"),
        ("stubborn", "next()", "yielded 'first'"),
        ("stubborn", "close()", "raised RuntimeError: generator ignored GeneratorExit"),
        ("stubborn", "(subiterator's log)", "ignored GeneratorExit"),
    ]


def test_a_different_delegator_is_caught_and_shown():
    rows = compare(SMALL[1:2], real, by_hand)
    assert [row.same for row in rows] == [True, False, False, False, False]
    assert table(rows, other_title="by hand", width=12).splitlines() == [
        "    press                real yield from  by hand       same?",
        "send:",
        "    next()               yielded 0        yielded 0     yes",
        "    send(1)              yielded 1        returned No…  NO",
        "    send(2)              yielded 3        returned No…  NO",
        "    send(None)           returned 3       returned No…  NO",
        "    (subiterator's log)  got 1; got 2                   NO",
    ]


def test_nothing_is_left_paused_and_nothing_complains_later(recwarn):
    def forgets_close(subiterable):  # never closes the stubborn subgenerator
        yield next(iter(subiterable))

    steps, log = run(forgets_close, SMALL[2])
    assert [step.result for step in steps] == ["yielded 'first'", "closed"]
    assert log == []  # what the subgenerator saw during the presses, not during the clean-up
    gc.collect()  # a paused stubborn generator would print "Exception ignored in ..." here


@pytest.mark.parametrize("bad_press", ["jump", ("send",), ("throw", ValueError), ("throw", "boom"), 5])
def test_bad_presses_are_refused_up_front(bad_press):
    with pytest.raises(ValueError, match="a press is"):
        Case("bad", logging_adder, ["next", bad_press])


def test_bad_cases_and_delegators():
    with pytest.raises(TypeError, match="make must be a function"):
        Case("bad", [1, 2], ["next"])
    with pytest.raises(ValueError, match="at least one case"):
        compare([], real, pep380)
    with pytest.raises(TypeError, match="Case"):
        compare(["plain"], real, pep380)
    with pytest.raises(TypeError, match="Stepper needs a generator object"):
        compare(SMALL, real, lambda sub: list(sub))


def with_a_loop(subiterable):
    for value in subiterable:  # noqa: UP028 (the for loop is what the chapter compares)
        yield value


def test_the_chapter_table_expansion_and_yield_from_agree_on_every_row():
    rows = compare(CASES, real, pep380)
    assert len({case.name for case in CASES}) == len(CASES) == 11
    assert len(rows) == 32 and all(row.same for row in rows)
    result = {(row.case, row.press): row.real for row in rows}
    assert result["plain iterator, send", "send(5)"].startswith("raised AttributeError: 'list_iterator'")
    assert result["plain iterator, throw", "throw(ValueError('bad'))"] == "raised ValueError: bad"
    assert result["immediate return", "next()"] == "returned 'nothing to yield'"
    assert result["throw, caught", "(subiterator's log)"] == "caught ValueError('bad')"
    assert result["throw, subgenerator returns", "throw(ValueError('bad'))"] == "returned 'stopped by ValueError'"
    assert result["close", "(subiterator's log)"] == "finally ran"
    assert result["close, subgenerator ignores it", "close()"] == "raised RuntimeError: generator ignored GeneratorExit"


def test_the_chapter_table_tells_a_for_loop_from_yield_from():
    differing = {row.case for row in compare(CASES, real, with_a_loop) if not row.same}
    assert differing == {"plain iterator, send", "immediate return", "send", "throw, caught",
                         "throw, subgenerator returns", "close", "close, subgenerator ignores it"}


def test_describe_lists_every_case_and_each_subiterator_once():
    lines = describe(CASES).splitlines()
    assert lines[0].split() == ["case", "subiterator", "presses"]
    assert lines[7] == ("throw, caught                   forgiving        "
                        "next(), send(3), throw(ValueError('bad')), send(None)")
    assert lines[12] == ""
    assert lines[13].split() == ["subiterator", "what", "it", "does"]
    assert [line.split()[0] for line in lines[14:]] == [
        "plain_iterator", "returns_at_once", "adder", "forgiving", "stops_on_error", "with_cleanup", "stubborn"]
    assert lines[-1] == ("stubborn         catches GeneratorExit, logs it, and yields again "
                         "(which close() does not allow)")


def test_describe_without_a_docstring_and_bad_input():
    text = describe([Case("lambda", lambda log: iter([]), ["next"])])
    assert text.splitlines()[-1] == "<lambda>     (no docstring)"
    with pytest.raises(ValueError, match="at least one case"):
        describe([])
    with pytest.raises(TypeError, match="Case"):
        describe(["close"])


def test_press_notes_the_callers_side_of_the_conversation():
    tracer = Tracer()
    gen = real(with_cleanup([]))
    press(tracer, "next()", lambda: next(gen))
    press(tracer, "close()", gen.close)
    press(tracer, "next()", lambda: next(gen))
    assert [(event.task, event.detail) for event in tracer.events] == [
        ("caller", "next()"), ("caller", "got 'working'"), ("caller", "close()"), ("caller", "got None"),
        ("caller", "next()"), ("caller", "StopIteration, value None")]


def test_press_lets_other_errors_through_and_refuses_bad_input():
    tracer = Tracer()
    gen = real(iter([1, 2]))
    next(gen)
    with pytest.raises(AttributeError, match="send"):  # a list iterator has no send()
        press(tracer, "send(5)", lambda: gen.send(5))
    assert [event.detail for event in tracer.events] == ["send(5)"]
    with pytest.raises(ValueError, match="label"):
        press(tracer, "", lambda: None)
    with pytest.raises(TypeError, match="action"):
        press(tracer, "next()", gen)  # the generator itself, not a function that presses it

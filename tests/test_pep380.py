"""helpers.pep380: running two delegators through the same presses and comparing them."""

from __future__ import annotations

import gc

import pytest

from helpers.exercises import evaluate
from helpers.pep380 import Case, compare, run, table
from tests.solutions.ch02 import pep380, stub


def real(subiterable):
    return (yield from subiterable)


def by_hand(subiterable):
    """Wrong on purpose: re-yields with a for loop, so send() never reaches the subgenerator."""
    result = None
    for value in subiterable:  # noqa: UP028 (the hand-written loop is the point)
        yield value
    return result


def adder(log):
    total = 0
    while (number := (yield total)) is not None:
        log.append(f"got {number}")
        total += number
    return total


def stubborn(log):
    try:
        yield "first"
    except GeneratorExit:
        log.append("ignored GeneratorExit")
    yield "still here"


CASES = [
    Case("plain", lambda log: iter([1, 2]), ["next", "next", "next"]),
    Case("send", adder, ["next", ("send", 1), ("send", 2), ("send", None)]),
    Case("stubborn", stubborn, ["next", "close"]),
]


def test_identical_delegators_match_on_every_row():
    rows = compare(CASES, real, pep380)
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
    rows = compare(CASES[1:2], real, by_hand)
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

    steps, log = run(forgets_close, CASES[2])
    assert [step.result for step in steps] == ["yielded 'first'", "closed"]
    assert log == []  # what the subgenerator saw during the presses, not during the clean-up
    gc.collect()  # a paused stubborn generator would print "Exception ignored in ..." here


def test_the_chapter_02_stub_is_unsolved_not_wrong():
    """Exercise 02.2's stub runs (all but close() works): it must read "not solved yet"."""
    assert evaluate("02.2", stub).status == "unsolved"


@pytest.mark.parametrize("press", ["jump", ("send",), ("throw", ValueError), ("throw", "boom"), 5])
def test_bad_presses_are_refused_up_front(press):
    with pytest.raises(ValueError, match="a press is"):
        Case("bad", adder, ["next", press])


def test_bad_cases_and_delegators():
    with pytest.raises(TypeError, match="make must be a function"):
        Case("bad", [1, 2], ["next"])
    with pytest.raises(ValueError, match="at least one case"):
        compare([], real, pep380)
    with pytest.raises(TypeError, match="Case"):
        compare(["plain"], real, pep380)
    with pytest.raises(TypeError, match="Stepper needs a generator object"):
        compare(CASES, real, lambda sub: list(sub))

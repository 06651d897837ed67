"""Exercises of chapter 01 (Generators): a coroutine fed by send(), an iterator class, a return value."""

from __future__ import annotations

import inspect
import math
from collections.abc import Iterator

from helpers.exercises import Wrong, exercise


def _generator_from(make, *args):
    """Call the learner's generator function; complain clearly if it does not give a generator."""
    if not callable(make):
        raise Wrong(f"pass the function itself, not {make!r}")
    gen = make(*args)
    if not inspect.isgenerator(gen):
        raise Wrong(f"calling it should give a generator (a function with `yield` in it), "
                    f"not {type(gen).__name__}")
    return gen


@exercise("01.1", title="A running average",
          hint=("The average needs two numbers that must survive from one send to the next: where can a generator "
                "keep them, so that a second running_average() starts afresh?",
                "A single yield expression both hands out a value and receives the next number sent. Pitfalls: "
                "priming must yield None, and numbers kept outside the generator are shared by every "
                "running_average()."))
def running_average(make) -> str:
    gen = _generator_from(make)
    first = next(gen)
    if first is not None:
        raise Wrong(f"priming with next() should yield None (no numbers yet), not {first!r}")
    expected = 0.0
    for count, number in enumerate([10, 20, 30, 5], 1):
        expected += (number - expected) / count
        got = gen.send(number)
        if not isinstance(got, (int, float)) or not math.isclose(got, expected):
            raise Wrong(f"after sending {number} (number {count}) it should yield {expected:g}, not {got!r}")
    other = _generator_from(make)
    next(other)
    if other.send(4) != 4:
        raise Wrong("a second running_average() should start from scratch: sending 4 into a new "
                    "one should yield 4.0 (keep the total in local variables, not globals)")
    gen.close()
    other.close()
    return "10 -> 10.0, 20 -> 15.0, 30 -> 20.0, 5 -> 16.25, and each one keeps its own total."


@exercise("01.2", title="Countdown, as an iterator class",
          hint=("Which two methods does a for loop call on your object, and how does the second one say that "
                "nothing is left?",
                "The iterator protocol: __iter__ and __next__, and StopIteration to say it is over. Pitfalls: the "
                "position lives in the object, the countdown stops after 1 (not 0), and a finished countdown must "
                "say it is over again on every later call."))
def countdown_class(cls) -> str:
    if not isinstance(cls, type):
        raise Wrong(f"pass the class itself (class Countdown: ...), not {cls!r}")
    counter = cls(3)
    if inspect.isgenerator(counter):
        raise Wrong("Countdown(3) is a generator: write a class with __iter__ and __next__ instead")
    if not isinstance(counter, Iterator):
        raise Wrong("Countdown(3) is not an Iterator: it needs both __iter__ and __next__")
    if iter(counter) is not counter:
        raise Wrong("iter(Countdown(3)) should return the object itself (an iterator is its own iterable)")
    got = list(counter)
    if got != [3, 2, 1]:
        raise Wrong(f"list(Countdown(3)) should be [3, 2, 1], not {got!r}")
    again = list(counter)
    if again:
        raise Wrong(f"an iterator that has finished stays finished: a second list() gave {again!r}, not []")
    if list(cls(0)) != []:
        raise Wrong(f"list(Countdown(0)) should be [], not {list(cls(0))!r}")
    return "3, 2, 1, then StopIteration, and it stays finished."


@exercise("01.3", title="A tab that returns its orders",
          hint=("When a generator ends, where does its return value go, and what in the tab decides that it ends?",
                "A return inside a generator ends it, and the value rides in StopIteration.value. Pitfall: the "
                "yield expression's value is either an order or None; None closes the tab and is not an order."))
def tab(make) -> str:
    gen = _generator_from(make)
    first = next(gen)
    if first != 0:
        raise Wrong(f"priming with next() should yield 0 (no orders yet), not {first!r}")
    for count, order in enumerate(["tea", "dumplings"], 1):
        got = gen.send(order)
        if got != count:
            raise Wrong(f"after sending {order!r} it should yield {count} (orders so far), not {got!r}")
    try:
        got = gen.send(None)
    except StopIteration as stop:
        if stop.value != ["tea", "dumplings"]:
            raise Wrong(f"send(None) should end it with StopIteration.value == ['tea', 'dumplings'], "
                        f"not {stop.value!r}") from None
    else:
        gen.close()
        raise Wrong(f"send(None) should end the tab (return the orders), but it yielded {got!r}")
    return "it counted the orders and handed back ['tea', 'dumplings'] in StopIteration.value."

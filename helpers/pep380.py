"""Run two delegating generators through the same presses and say whether they behave the same.

Chapter 02 writes PEP 380's expansion of ``RESULT = yield from EXPR`` as an ordinary
generator function, and checks it against real ``yield from`` on a table of cases;
exercise 02.2 checks the learner's version of it the same way. Both call this module:

    CASES                         the chapter's table of cases (exercise 02.2 reuses some)
    describe(cases)               the cases as text: name, subiterator, presses
    Case(name, make, presses)     a subiterator factory ``make(log)`` and the presses to make
    compare(cases, real, other)   run every case against both delegators -> rows
    table(rows, ...)              the rows as aligned text, with a computed "same?" column
    press(tracer, label, action)  the caller's side of a traced conversation with a delegator

A *delegator* is a generator function taking one subiterator, e.g.
``def real(sub): return (yield from sub)``. Each case builds a fresh subiterator for each
delegator (``make(log)``; the subiterator may append what it saw to ``log``), presses the
delegator with :class:`helpers.stepper.Stepper` (so nothing raises out of a press), and
records, after every press, what came out and the delegator's state. Two runs are the
same when those records and the logs are equal. The subiterator factories of ``CASES``
(``plain_iterator``, ``adder``, ...) are public so that the checks and tests reuse them;
the first line of each docstring is what :func:`describe` shows.

Everything runs in the calling thread and finishes when the presses do.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from helpers.stepper import Step, Stepper

__all__ = [
    "CASES", "Case", "Row", "adder", "compare", "describe", "forgiving", "plain_iterator", "press",
    "returns_at_once", "run", "stops_on_error", "stubborn", "table", "with_cleanup",
]

Press = str | tuple[str, object]  # "next", "close", ("send", value) or ("throw", exception instance)


@dataclass(frozen=True)
class Case:
    """One line of the table: a name, a subiterator factory ``make(log)`` and the presses."""

    name: str
    make: Callable[[list], Iterator]
    presses: Sequence[Press]

    def __post_init__(self) -> None:
        if not callable(self.make):
            raise TypeError(f"case {self.name!r}: make must be a function make(log) -> iterator")
        for press in self.presses:
            if not _valid(press):
                raise ValueError(f"case {self.name!r}: a press is 'next', 'close', ('send', value) "
                                 f"or ('throw', exception instance), not {press!r}")


@dataclass(frozen=True)
class Row:
    """One press of one case, as done to both delegators."""

    case: str
    press: str
    real: str
    other: str
    same: bool


def _valid(press: Press) -> bool:
    if press in ("next", "close"):
        return True
    return isinstance(press, tuple) and len(press) == 2 and (
        press[0] == "send" or (press[0] == "throw" and isinstance(press[1], BaseException)))


def _press(stepper: Stepper, press: Press) -> Step:
    if isinstance(press, str):  # "next" or "close": Case let no other string through
        return stepper.next() if press == "next" else stepper.close()
    kind, argument = press
    if kind == "send":
        return stepper.send(argument)
    assert isinstance(argument, BaseException), "Case checks that a throw press holds an exception"
    return stepper.throw(type(argument)(*argument.args))  # a fresh copy of the exception each run


def run(delegator: Callable[[Iterator], Generator[Any, Any, Any]], case: Case) -> tuple[list[Step], list]:
    """Press ``delegator(case.make(log))`` as the case says; return the steps and the log."""
    log: list = []
    sub = case.make(log)
    stepper = Stepper(delegator(sub))  # TypeError if the delegator is not a generator function
    steps = [_press(stepper, press) for press in case.presses]
    seen = list(log)
    _finish(stepper.generator)
    _finish(sub)
    return steps, seen


def _finish(iterator: object) -> None:
    """Leave no generator paused: one that ignores GeneratorExit would otherwise complain
    ("Exception ignored in ...") whenever Python collects it, in some later cell."""
    for _ in range(3):
        if not inspect.isgenerator(iterator) or inspect.getgeneratorstate(iterator) != "GEN_SUSPENDED":
            return
        try:
            iterator.close()
        except Exception:  # e.g. RuntimeError: generator ignored GeneratorExit; it yielded again
            pass


def compare(cases: Sequence[Case], real: Callable, other: Callable) -> list[Row]:
    """Run every case against ``real`` and ``other``; one :class:`Row` per press, plus one
    for the subiterator's log when either run logged anything."""
    if not cases:
        raise ValueError("compare needs at least one case")
    rows: list[Row] = []
    for case in cases:
        if not isinstance(case, Case):
            raise TypeError(f"cases are Case(name, make, presses), not {case!r}")
        real_steps, real_log = run(real, case)
        other_steps, other_log = run(other, case)
        for a, b in zip(real_steps, other_steps):
            rows.append(Row(case.name, a.action, a.result, b.result,
                            (a.result, a.state) == (b.result, b.state)))
        if real_log or other_log:
            rows.append(Row(case.name, "(subiterator's log)", "; ".join(map(str, real_log)),
                            "; ".join(map(str, other_log)), real_log == other_log))
    return rows


def table(rows: Sequence[Row], real_title: str = "real yield from", other_title: str = "expansion",
          width: int = 40) -> str:
    """The rows as aligned text under a heading line per case. Results longer than ``width``
    characters are cut with "…" (the "same?" column compares them whole)."""
    def cut(text: str) -> str:
        return text if len(text) <= width else text[:width - 1] + "…"

    lines = [("press", real_title, other_title, "same?")]
    lines += [(row.press, cut(row.real), cut(row.other), "yes" if row.same else "NO") for row in rows]
    widths = [max(len(line[column]) for line in lines) for column in range(4)]

    def aligned(line: tuple[str, ...]) -> str:
        return ("    " + "  ".join(cell.ljust(w) for cell, w in zip(line, widths))).rstrip()

    out = [aligned(lines[0])]
    previous = None
    for row, line in zip(rows, lines[1:]):
        if row.case != previous:
            out.append(f"{row.case}:")
            previous = row.case
        out.append(aligned(line))
    return "\n".join(out)


def press(tracer, label: str, action: Callable[[], object]) -> None:
    """The caller's side of a conversation with a delegator, noted in ``tracer`` on the lane
    "caller": first ``label`` (what the caller does, e.g. ``"send(10)"``), then what came back
    (``got 10.0``, or ``StopIteration, value 20.0`` when the delegator returned). Any other
    exception from ``action`` propagates."""
    if not isinstance(label, str) or not label:
        raise ValueError(f"label must be a non-empty string saying what the caller does, not {label!r}")
    if not callable(action):
        raise TypeError(f"action must be a function of no arguments, e.g. lambda: gen.send(10); got {action!r}")
    tracer.note("caller", label)
    try:
        tracer.note("caller", f"got {action()!r}")
    except StopIteration as stop:
        tracer.note("caller", f"StopIteration, value {stop.value!r}")


# The subiterators of chapter 02's table. Each takes the log it may append to.

def plain_iterator(log: list) -> Iterator:
    """iter([1, 2]): a list iterator, with no send, throw or close"""
    return iter([1, 2])


def returns_at_once(log: list) -> Generator[None, None, str]:
    """returns 'nothing to yield' before yielding anything"""
    return "nothing to yield"
    yield  # unreachable, but makes this a generator function


def adder(log: list) -> Generator[int, int | None, int]:
    """yields the total of the numbers sent in so far; returns it when sent None"""
    total = 0
    while (number := (yield total)) is not None:
        total += number
    return total


def forgiving(log: list) -> Generator[int, int | None, int]:
    """an adder that catches a thrown ValueError, logs it, and carries on"""
    total = 0
    while True:
        try:
            number = yield total
        except ValueError as error:
            log.append(f"caught {error!r}")
            continue
        if number is None:
            return total
        total += number


def stops_on_error(log: list) -> Generator[str, None, str | None]:
    """yields 'working'; a ValueError thrown in makes it return"""
    try:
        yield "working"
    except ValueError:
        return "stopped by ValueError"
    return None  # not thrown into: it finishes like any generator


def with_cleanup(log: list) -> Iterator:
    """yields twice; its finally block logs 'finally ran'"""
    try:
        yield "working"
        yield "still working"
    finally:
        log.append("finally ran")


def stubborn(log: list) -> Iterator:
    """catches GeneratorExit, logs it, and yields again (which close() does not allow)"""
    try:
        yield "first"
    except GeneratorExit:
        log.append("ignored GeneratorExit")
    yield "still here"


CASES: list[Case] = [
    Case("plain iterator", plain_iterator, ["next", "next", "next"]),
    Case("plain iterator, send", plain_iterator, ["next", ("send", 5)]),
    Case("plain iterator, throw", plain_iterator, ["next", ("throw", ValueError("bad"))]),
    Case("plain iterator, close", plain_iterator, ["next", "close", "next"]),
    Case("immediate return", returns_at_once, ["next"]),
    Case("send", adder, ["next", ("send", 1), ("send", 2), ("send", None)]),
    Case("throw, caught", forgiving, ["next", ("send", 3), ("throw", ValueError("bad")), ("send", None)]),
    Case("throw, uncaught", adder, ["next", ("throw", KeyError("k")), "next"]),
    Case("throw, subgenerator returns", stops_on_error, ["next", ("throw", ValueError("bad"))]),
    Case("close", with_cleanup, ["next", "close", "next"]),
    Case("close, subgenerator ignores it", stubborn, ["next", "close"]),
]


def _label(press: Press) -> str:
    if isinstance(press, str):  # "next" or "close"
        return f"{press}()"
    kind, argument = press
    return f"{kind}({argument!r})"


def _summary(make: Callable) -> str:
    doc = inspect.getdoc(make)
    return doc.splitlines()[0] if doc else "(no docstring)"


def describe(cases: Sequence[Case]) -> str:
    """The cases as text: one line per case (its name, its subiterator, the presses), then one
    line per subiterator saying what it does (the first line of its docstring)."""
    if not cases:
        raise ValueError("describe needs at least one case")
    for case in cases:
        if not isinstance(case, Case):
            raise TypeError(f"cases are Case(name, make, presses), not {case!r}")
    makers = {case.make: getattr(case.make, "__name__", repr(case.make)) for case in cases}

    def aligned(lines: list[tuple[str, ...]]) -> list[str]:
        widths = [max(len(line[column]) for line in lines) for column in range(len(lines[0]) - 1)]
        return [("  ".join(cell.ljust(w) for cell, w in zip(line, widths)) + "  " + line[-1]).rstrip()
                for line in lines]

    out = aligned([("case", "subiterator", "presses")]
                  + [(case.name, makers[case.make], ", ".join(map(_label, case.presses))) for case in cases])
    out.append("")
    out += aligned([("subiterator", "what it does")] + [(name, _summary(make)) for make, name in makers.items()])
    return "\n".join(out)

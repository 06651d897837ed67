"""Run two delegating generators through the same presses and say whether they behave the same.

Chapter 02 writes PEP 380's expansion of ``RESULT = yield from EXPR`` as an ordinary
generator function, and checks it against real ``yield from`` on a table of cases;
exercise 02.2 checks the learner's version of it the same way. Both call this module:

    Case(name, make, presses)     a subiterator factory ``make(log)`` and the presses to make
    compare(cases, real, other)   run every case against both delegators -> rows
    table(rows, ...)              the rows as aligned text, with a computed "same?" column

A *delegator* is a generator function taking one subiterator, e.g.
``def real(sub): return (yield from sub)``. Each case builds a fresh subiterator for each
delegator (``make(log)``; the subiterator may append what it saw to ``log``), presses the
delegator with :class:`helpers.stepper.Stepper` (so nothing raises out of a press), and
records, after every press, what came out and the delegator's state. Two runs are the
same when those records and the logs are equal.

Everything runs in the calling thread and finishes when the presses do.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from helpers.stepper import Step, Stepper

__all__ = ["Case", "Row", "compare", "run", "table"]

Press = object  # "next", "close", ("send", value) or ("throw", exception instance)


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
    if press == "next":
        return stepper.next()
    if press == "close":
        return stepper.close()
    kind, argument = press
    if kind == "send":
        return stepper.send(argument)
    return stepper.throw(type(argument)(*argument.args))  # a fresh copy of the exception each run


def run(delegator: Callable[[Iterator], Iterator], case: Case) -> tuple[list[Step], list]:
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

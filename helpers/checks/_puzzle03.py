"""The program of exercise 03.2, on its own: chapter 03 prints its source for the learner to read.

It rebinds its two functions' names to the greenlets that run them, the idiom chapter 03 teaches,
which a type checker reads as a function without ``.switch``: pyproject.toml exempts this module,
and only it, from those two checks, so the source the learner reads stays as it is.
"""

from __future__ import annotations

import greenlet

__all__ = ["puzzle"]


def puzzle(log: list[str]) -> None:
    """The program of exercise 03.2: two greenlets that switch to each other, writing to ``log``."""

    def first():
        log.append("first: a")
        second.switch()
        log.append("first: b")
        second.switch()
        log.append("first: c")

    def second():
        log.append("second: x")
        first.switch()
        log.append("second: y")

    first, second = greenlet.greenlet(first), greenlet.greenlet(second)
    first.switch()
    log.append("main: done")

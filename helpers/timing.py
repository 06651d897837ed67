"""Measure on the learner's machine, print verdicts that are stable on any machine.

The course proves its claims by measuring them, but nbval compares printed text, and
raw seconds differ on every run. So a cell keeps the raw figure in a variable (for a
plot or for the curious) and prints a *verdict* with a generous band:

    with Stopwatch() as watch:
        run ten tasks concurrently
    verdict = about(watch.elapsed, unit=0.2, choices=(1, 10), unit_name="one task")
    print(verdict)          # about 1× one task (not 10×)
    verdict.ratio           # 1.04 on this machine, today

:func:`about` answers "which of these far-apart hypotheses is the measurement nearest
to?", comparing on a log scale, so 1× vs 10× flips only if the machine is more than
3× slower than it should be. :func:`at_least` answers "is A at least k times B?":
pick k well below the typical value so that a loaded machine still says yes.

For notebooks: :class:`Stopwatch`, :func:`about`, :func:`at_least`, and the
:class:`Verdict` they return. Who calls it: notebook cells and other helpers, in any
thread; nothing here blocks or prints.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from helpers._checks import seconds

__all__ = ["Stopwatch", "Verdict", "about", "at_least"]


class Stopwatch:
    """Measures the seconds a ``with`` block takes; reusable.

    By default on the wall clock (``time.perf_counter``). ``clock`` takes any function that
    returns seconds, e.g. ``helpers.heartbeat.program_clock`` (wall time minus the time this
    thread waited for a CPU), so that a busy machine does not lengthen what is measured.
    """

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        if not callable(clock):
            raise TypeError(f"clock must be a function returning seconds, not {clock!r}")
        self.clock = clock
        self._start: float | None = None
        self.elapsed: float | None = None

    def __enter__(self) -> Stopwatch:
        self.elapsed = None
        self._start = self.clock()
        return self

    def __exit__(self, *exc_info) -> None:
        assert self._start is not None, "a Stopwatch is left only after it is entered"
        self.elapsed = self.clock() - self._start

    def __repr__(self) -> str:
        return "<Stopwatch: running>" if self.elapsed is None else "<Stopwatch: stopped>"


@dataclass(frozen=True)
class Verdict:
    """A stable sentence about a measurement, plus the raw numbers behind it."""

    text: str
    ratio: float
    holds: bool

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return self.text


def _times(value: float) -> str:
    return f"{value:g}×"


def about(elapsed: float, unit: float, choices: Sequence[float] = (1, 10), *,
          unit_name: str = "one task", expected: float | None = None) -> Verdict:
    """Say which of ``choices`` (multiples of ``unit``) the measured ``elapsed`` is nearest to.

    Nearest is measured on a log scale: with choices (1, 10), anything under about
    3.2× reads "about 1×". ``expected`` (one of the choices) sets ``holds``: whether the
    measurement came out as the lesson predicts; it defaults to the first choice.
    """
    elapsed = seconds(elapsed, "elapsed", zero_ok=True)
    unit = seconds(unit, "unit")
    if not choices or any(not (isinstance(c, (int, float)) and c > 0) for c in choices):
        raise ValueError(f"choices must be positive multiples, not {choices!r}")
    if len(set(choices)) != len(choices):
        raise ValueError(f"choices must be distinct, not {choices!r}")
    expected = choices[0] if expected is None else expected
    if expected not in choices:
        raise ValueError(f"expected must be one of the choices {choices!r}")
    ratio = elapsed / unit
    nearest = min(choices, key=lambda c: abs(math.log(max(ratio, 1e-9) / c)))
    others = [_times(c) for c in choices if c != nearest]
    text = f"about {_times(nearest)} {unit_name}"
    if others:
        text += f" (not {' or '.join(others)})"
    return Verdict(text, ratio, nearest == expected)


def at_least(ratio: float, factor: float, claim: str) -> Verdict:
    """Judge ``claim`` true when ``ratio >= factor``: "yes: <claim> (at least 5×)" or "no: ...".

    Use a ``factor`` well below the typical ratio, so the verdict survives a busy machine.
    """
    if not (isinstance(ratio, (int, float)) and ratio >= 0 and math.isfinite(ratio)):
        raise ValueError(f"ratio must be a finite number >= 0, not {ratio!r}")
    if not (isinstance(factor, (int, float)) and factor > 0):
        raise ValueError(f"factor must be a positive number, not {factor!r}")
    holds = ratio >= factor
    answer = "yes" if holds else "no"
    return Verdict(f"{answer}: {claim} (by {'at least' if holds else 'less than'} {_times(factor)})",
                   ratio, holds)

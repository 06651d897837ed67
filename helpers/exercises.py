"""Self-checking exercises: a task, a stub the learner edits, and ``check("00.1", answer)``.

Who calls it: notebook check cells call ``check(number, answer)``, which prints one line
(solved / not solved yet / not yet right / your code raised ...). The checkers live
in ``helpers/checks/chNN.py``, one module per chapter, registered with ``@exercise``;
that module is imported the first time a number of its chapter is checked. The unit
tests call ``evaluate`` and ``registered`` to prove every reference solution passes.

A checker is a function ``checker(answer) -> str``: it exercises the learner's answer
(often by calling it), returns a success message, or raises ``Wrong`` saying what is
wrong, concretely (expected ... got ...). The learner's ``...`` or ``None``, or a
NotImplementedError from the stub, counts as "not solved yet" and shows the hint.

What blocks: ``check`` and ``evaluate`` run the checker, and so the learner's code, in
the calling thread and wait for it.

On timeout: in the main thread of a POSIX system (where Jupyter runs cells) the checker
gets ``time_limit`` seconds, enforced with SIGALRM; an endless loop becomes the line
"your code took longer than 10 s: is there an endless loop?" instead of a hung
kernel. The previous SIGALRM handler and timer are restored afterwards, always. In
another thread or on Windows the checker runs without a limit.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

from helpers._checks import seconds

__all__ = ["Exercise", "Result", "Wrong", "check", "evaluate", "exercise", "registered", "same_order"]

Checker = Callable[[Any], str]
Status = Literal["solved", "unsolved", "wrong", "error"]

ID_PATTERN = re.compile(r"(\d\d)\.([1-9]\d*)")  # "NN.k": chapter NN, exercise k
MAX_TIME_LIMIT = 600.0
CHECKS_PACKAGE = "helpers.checks"

# What the learner reads after "Exercise NN.k (title): ".
_LEAD = {
    "solved": "solved!",
    "unsolved": "not solved yet. Hint:",
    "wrong": "not yet right:",
    "error": "your code",
}


class Wrong(Exception):
    """Raised by a checker; the message tells the learner what is wrong (expected vs got)."""


def same_order(answer: object, truth: list[str], *, item: str, example: str, mismatch: str) -> None:
    """For checks of a predicted order: raise :class:`Wrong` at the first difference.

    ``item`` names one entry ("turn", "line"), ``example`` shows the expected form, and
    ``mismatch`` words a difference, with ``{said}`` and ``{ran}`` in it.
    """
    if not isinstance(answer, list) or not all(isinstance(entry, str) for entry in answer):
        raise Wrong(f"give a list like {example}, not {answer!r}")
    for number, (said, ran) in enumerate(zip(answer, truth), 1):
        if said != ran:
            raise Wrong(f"{item} {number}: " + mismatch.format(said=repr(said), ran=repr(ran)))
    if len(answer) != len(truth):
        raise Wrong(f"the first {min(len(answer), len(truth))} {item}s are right, but there are "
                    f"{len(truth)} {item}s in all, not {len(answer)}")


class _TimeLimit(KeyboardInterrupt):
    """The checker ran out of time. A KeyboardInterrupt, so that a learner's
    ``except Exception:``, gevent's hub and asyncio's tasks all let it through."""


@dataclass(frozen=True)
class Exercise:
    """One registered exercise: its number ("NN.k"), title, hint and checker."""

    number: str
    title: str
    hint: str
    checker: Checker


@dataclass(frozen=True)
class Result:
    """The outcome of checking one answer; ``str()`` is the line the learner sees.

    ``message`` is what follows the status words: the success message (solved), the
    hint (unsolved), the checker's complaint (wrong), or what the code did (error).
    """

    number: str
    title: str
    status: Status
    message: str

    def __str__(self) -> str:
        return f"Exercise {self.number} ({self.title}): {_LEAD[self.status]} {self.message}".rstrip()


_REGISTRY: dict[str, Exercise] = {}


def exercise(number: str, *, title: str, hint: str) -> Callable[[Checker], Checker]:
    """Register the decorated function as the checker of exercise ``number`` ("NN.k")."""
    _parse_id(number)
    if not isinstance(title, str) or not title.strip():
        raise ValueError(f"exercise {number}: title must be a non-empty str, not {title!r}")
    if not isinstance(hint, str) or not hint.strip():
        raise ValueError(f"exercise {number}: hint must be a non-empty str, not {hint!r}")

    def register(checker: Checker) -> Checker:
        if not callable(checker):
            raise TypeError(f"exercise {number}: @exercise decorates a function, not {checker!r}")
        old = _REGISTRY.get(number)
        if old is not None and _origin(old.checker) != _origin(checker):
            raise ValueError(f"exercise {number} is already registered by {_origin(old.checker)}")
        _REGISTRY[number] = Exercise(number, title, hint, checker)
        return checker

    return register


def evaluate(number: str, answer: object, *, time_limit: float = 10.0) -> Result:
    """Check ``answer`` against exercise ``number`` and return the outcome (prints nothing)."""
    found = _lookup(number)
    time_limit = seconds(time_limit, "time_limit", maximum=MAX_TIME_LIMIT)

    def result(status: Status, message: str) -> Result:
        return Result(found.number, found.title, status, message)

    if answer is ... or answer is None:
        return result("unsolved", found.hint)
    try:
        with _limited(time_limit):
            message = found.checker(answer)
    except _TimeLimit:
        return result("error", f"took longer than {time_limit:g} s: is there an endless loop?")
    except NotImplementedError:
        return result("unsolved", found.hint)
    except Wrong as wrong:
        return result("wrong", str(wrong))
    except (Exception, SystemExit) as error:
        name = type(error).__name__
        return result("error", f"raised {name}: {error}" if str(error) else f"raised {name}")
    if not isinstance(message, str):
        raise TypeError(f"the checker of {found.number} returned {message!r}, not a str")
    return result("solved", message)


def check(number: str, answer: object, *, time_limit: float = 10.0) -> None:
    """Check ``answer`` against exercise ``number`` and print the one-line verdict."""
    print(evaluate(number, answer, time_limit=time_limit))


def registered() -> dict[str, Exercise]:
    """Import every ``helpers/checks/chNN.py`` and return all exercises, sorted by id."""
    package = importlib.import_module(CHECKS_PACKAGE)
    for module in pkgutil.iter_modules(package.__path__):
        if re.fullmatch(r"ch\d\d", module.name):
            importlib.import_module(f"{CHECKS_PACKAGE}.{module.name}")
    return {number: _REGISTRY[number] for number in sorted(_REGISTRY, key=_parse_id)}


def _parse_id(number: object) -> tuple[int, int]:
    """("NN.k") -> (NN, k), or a clear error."""
    if not isinstance(number, str):
        raise TypeError(f"an exercise id is a str like '00.1', not {number!r}")
    match = ID_PATTERN.fullmatch(number)
    if match is None:
        raise ValueError(f"an exercise id looks like '00.1' (chapter.number), not {number!r}")
    return int(match[1]), int(match[2])


def _lookup(number: str) -> Exercise:
    """The exercise ``number``, importing its chapter's checks module on first use."""
    _parse_id(number)
    chapter = number[:2]
    if number not in _REGISTRY:
        try:
            importlib.import_module(f"{CHECKS_PACKAGE}.ch{chapter}")
        except ModuleNotFoundError as missing:
            if missing.name != f"{CHECKS_PACKAGE}.ch{chapter}":
                raise  # the checks module exists but is broken: say so
    if number not in _REGISTRY:
        known = ", ".join(k for k in sorted(_REGISTRY, key=_parse_id) if k[:2] == chapter)
        raise KeyError(f"there is no exercise {number}; chapter {chapter} has: {known or 'none'}")
    return _REGISTRY[number]


def _origin(checker: Checker) -> str:
    return f"{getattr(checker, '__module__', '?')}.{getattr(checker, '__qualname__', '?')}"


def _can_limit() -> bool:
    return hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()


@contextmanager
def _limited(seconds: float) -> Iterator[None]:
    """Raise _TimeLimit in the block after ``seconds`` (main thread, POSIX; else no limit)."""
    if not _can_limit():
        yield
        return
    # Take over SIGALRM: stop the previous timer first so it cannot hit our handler.
    old_delay, old_interval = signal.setitimer(signal.ITIMER_REAL, 0)
    old_handler = signal.getsignal(signal.SIGALRM)
    taken_at = time.monotonic()

    def restore() -> None:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, signal.SIG_DFL if old_handler is None else old_handler)
        if old_delay > 0:  # the previous timer goes on; if it is overdue, it fires now
            left = old_delay - (time.monotonic() - taken_at)
            signal.setitimer(signal.ITIMER_REAL, max(left, 0.001), old_interval)

    def on_alarm(signum: int, frame: object) -> None:
        restore()  # first, so state is restored even if the alarm lands in the finally below
        raise _TimeLimit

    signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        restore()

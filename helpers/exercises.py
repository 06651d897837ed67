"""Self-checking exercises: a task, a stub the learner edits, and ``check("00.1", answer)``.

Who calls it: notebook check cells call ``check(number, answer)``, which prints one line
(solved / not solved yet / not yet right / your code raised ... / interrupted). The
checkers live in ``helpers/checks/chNN.py``, one module per chapter, registered with
``@exercise``; that module is imported the first time a number of its chapter is
checked. The unit tests call ``evaluate`` and ``registered`` to prove every reference
solution passes.

A checker is a function ``checker(answer) -> str``: it exercises the learner's answer
(often by calling it), returns a success message, or raises ``Wrong`` saying what is
wrong, concretely (expected ... got ...). The learner's ``...`` or ``None``, or a
NotImplementedError from the stub, counts as "not solved yet": the line says only that,
and how to ask for a hint.

Hints come in stages (``hint=`` is one str, or a tuple of them, gentlest first) and only
when wanted: ``hint("04.1")`` prints the next stage each time it is called, and a wrong
attempt (or code that raised) prints the first stage once, under its verdict. Hints
nudge; they never contain the solution's code (tests/test_every_exercise.py checks that no
hint holds a line of the reference solution). What was shown is remembered per kernel.

In the learner's own copies (``python3 course.py lab``), each check and each hint shown is
recorded in their workspace (``helpers.workspace.record``): ``show_progress()`` prints it.
Elsewhere, nbval on ``notebooks/`` included, nothing is recorded and nothing printed.

Interrupting a check (the kernel's stop button, Ctrl-C) prints one line, "Exercise NN.k
(...): interrupted — not checked.", instead of a traceback through these helpers.

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
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

from helpers._checks import seconds

__all__ = ["Exercise", "Result", "Wrong", "check", "evaluate", "exercise", "hint", "registered", "same_order"]

Checker = Callable[[Any], str]
Status = Literal["solved", "unsolved", "wrong", "error", "interrupted"]

ID_PATTERN = re.compile(r"(\d\d)\.([1-9]\d*)")  # "NN.k": chapter NN, exercise k
MAX_TIME_LIMIT = 600.0
CHECKS_PACKAGE = "helpers.checks"

# What the learner reads after "Exercise NN.k (title): ".
_LEAD = {
    "solved": "solved!",
    "unsolved": "not solved yet.",
    "wrong": "not yet right:",
    "error": "your code",
    "interrupted": "interrupted —",
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
    """One registered exercise: its number ("NN.k"), title, hint stages and checker."""

    number: str
    title: str
    hints: tuple[str, ...]
    checker: Checker

    @property
    def hint(self) -> str:
        """The first (gentlest) hint stage."""
        return self.hints[0]


@dataclass(frozen=True)
class Result:
    """The outcome of checking one answer; ``str()`` is the line the learner sees.

    ``message`` is what follows the status words: the success message (solved), how to
    ask for a hint (unsolved), the checker's complaint (wrong), what the code did (error),
    or "not checked." (interrupted).
    """

    number: str
    title: str
    status: Status
    message: str

    def __str__(self) -> str:
        return f"Exercise {self.number} ({self.title}): {_LEAD[self.status]} {self.message}".rstrip()


_REGISTRY: dict[str, Exercise] = {}
_HINTS_SHOWN: dict[str, int] = {}  # exercise -> how many hint stages this kernel has shown


def exercise(number: str, *, title: str, hint: str | tuple[str, ...] | list[str]) -> Callable[[Checker], Checker]:
    """Register the decorated function as the checker of exercise ``number`` ("NN.k").

    ``hint`` is one hint, or a tuple of hint stages from gentlest to strongest.
    """
    _parse_id(number)
    if not isinstance(title, str) or not title.strip():
        raise ValueError(f"exercise {number}: title must be a non-empty str, not {title!r}")
    stages = (hint,) if isinstance(hint, str) else tuple(hint) if isinstance(hint, (tuple, list)) else ()
    if not stages or not all(isinstance(stage, str) and stage.strip() for stage in stages):
        raise ValueError(f"exercise {number}: hint must be a non-empty str or a tuple of them, not {hint!r}")

    def register(checker: Checker) -> Checker:
        if not callable(checker):
            raise TypeError(f"exercise {number}: @exercise decorates a function, not {checker!r}")
        old = _REGISTRY.get(number)
        if old is not None and _origin(old.checker) != _origin(checker):
            raise ValueError(f"exercise {number} is already registered by {_origin(old.checker)}")
        _REGISTRY[number] = Exercise(number, title, stages, checker)
        return checker

    return register


def evaluate(number: str, answer: object, *, time_limit: float = 10.0) -> Result:
    """Check ``answer`` against exercise ``number`` and return the outcome (prints nothing)."""
    found = _lookup(number)
    time_limit = seconds(time_limit, "time_limit", maximum=MAX_TIME_LIMIT)

    def result(status: Status, message: str) -> Result:
        return Result(found.number, found.title, status, message)

    unsolved = f'Stuck? Call hint("{found.number}").'
    if answer is ... or answer is None:
        return result("unsolved", unsolved)
    try:
        with _limited(time_limit), _quiet_hub():
            message = found.checker(answer)
    except _TimeLimit:
        return result("error", f"took longer than {time_limit:g} s: is there an endless loop?")
    except NotImplementedError:
        return result("unsolved", unsolved)
    except Wrong as wrong:
        return result("wrong", str(wrong))
    except (Exception, SystemExit) as error:
        name = type(error).__name__
        return result("error", f"raised {name}: {error}" if str(error) else f"raised {name}")
    if not isinstance(message, str):
        raise TypeError(f"the checker of {found.number} returned {message!r}, not a str")
    return result("solved", message)


def check(number: str, answer: object, *, time_limit: float = 10.0) -> None:
    """Check ``answer`` against exercise ``number`` and print the one-line verdict.

    After a wrong attempt (or code that raised) the first hint stage follows, once per
    kernel. An interrupt (KeyboardInterrupt) while the answer runs becomes the line
    "... interrupted — not checked." instead of a traceback.
    """
    found = _lookup(number)
    try:
        result = evaluate(number, answer, time_limit=time_limit)
    except KeyboardInterrupt:
        result = Result(found.number, found.title, "interrupted", "not checked.")
    print(result)
    _record(found.number, status=result.status)
    if result.status in ("wrong", "error") and _HINTS_SHOWN.get(found.number, 0) == 0:
        print(_next_hint(found))


def hint(number: str) -> None:
    """Print the next hint stage of exercise ``number`` (gentlest first; the last one repeats)."""
    print(_next_hint(_lookup(number)))


def _next_hint(found: Exercise) -> str:
    stages = found.hints
    shown = _HINTS_SHOWN.get(found.number, 0)
    stage = min(shown + 1, len(stages))
    _HINTS_SHOWN[found.number] = stage
    _record(found.number, hints=stage)
    if stage < len(stages):
        more = f' (hint("{found.number}") again for a stronger one)'
    elif shown >= len(stages):
        more = " (that was the last hint, again)"
    else:
        more = " (that is the last hint)"
    return f"Hint {stage} of {len(stages)} for {found.number}: {stages[stage - 1]}{more}"


def _record(number: str, **what: Any) -> None:
    """Record a check or a hint in the learner's progress (helpers.workspace), if the kernel
    runs in their workspace; nothing otherwise (nbval on notebooks/). Never fails a check."""
    try:
        from helpers.workspace import record
        note = record(number, **what)
    except Exception as error:  # a full disk, a read-only folder: the check goes on
        note = f"(progress not recorded: {type(error).__name__}: {error})"
    if note:
        print(note)


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


@contextmanager
def _quiet_hub() -> Iterator[None]:
    """While a check runs, gevent's hubs (if gevent is in use) do not print a traceback for
    an interrupt or the time limit that lands in them; they still hand it to the caller."""
    gevent_hub = sys.modules.get("gevent.hub")
    hub_class = getattr(gevent_hub, "Hub", None)
    if hub_class is None:
        yield
        return
    before = hub_class.NOT_ERROR
    hub_class.NOT_ERROR = (*before, KeyboardInterrupt)
    try:
        yield
    finally:
        hub_class.NOT_ERROR = before


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

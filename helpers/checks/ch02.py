"""Exercises of chapter 02 (yield from): collecting return values, close() in the expansion, a scheduler."""

from __future__ import annotations

import inspect

from helpers.exercises import Wrong, exercise
from helpers.pep380 import CASES, Case, compare, table, with_cleanup


def summer(count):
    """Receives ``count`` numbers through send(), yields the running sum, returns the sum."""
    total = 0
    for _ in range(count):
        total += yield total
    return total


@exercise("02.1", title="Collect the subgenerators' return values",
          hint="for each subgenerator: `result = yield from sub`, append result to a list; "
               "return the list at the end")
def collect(answer) -> str:
    if not callable(answer):
        raise Wrong(f"pass the function itself, not {answer!r}")
    empty = answer([])
    if not inspect.isgenerator(empty):
        raise Wrong("collect must be a generator function (it delegates with `yield from`)")
    try:
        next(empty)
    except StopIteration as stop:
        if stop.value != []:
            raise Wrong(f"with no subgenerators it should return [] at once, not {stop.value!r}") from None
    else:
        empty.close()
        raise Wrong("with no subgenerators it should return [] at once, but it yielded")
    gen = answer([summer(2), summer(1), summer(3)])
    outs = [next(gen)]
    try:
        for number in [1, 2, 10, 1, 1, 1]:
            outs.append(gen.send(number))
    except StopIteration as stop:
        result = stop.value
    except TypeError as error:
        raise Wrong(f"a sent number did not reach the subgenerator ({error}): a for loop that "
                    "re-yields does not pass send() through; `yield from` does") from None
    else:
        gen.close()
        raise Wrong(f"after the last subgenerator returned, collect should return; it yielded {outs[-1]!r}")
    if outs != [0, 1, 0, 0, 1, 2]:
        raise Wrong(f"the values yielded along the way should be [0, 1, 0, 0, 1, 2], not {outs!r}")
    if result != [3, 10, 3]:
        raise Wrong(f"it should return the subgenerators' return values [3, 10, 3], not {result!r}")
    return "sends reached each subgenerator in turn, and it returned [3, 10, 3]."


def _delegate(subiterable):
    return (yield from subiterable)


def _returns_on_exit(log):
    try:
        yield "working"
    except GeneratorExit:
        log.append("cleaned up and returned")
        return "too late"


# Five cases of the chapter's table (helpers.pep380.CASES) that close() or the other branches
# of the expansion decide, and two that only exercise 02.2 needs.
_CHAPTER_CASES = {case.name: case for case in CASES}
CLOSE_CASES = [_CHAPTER_CASES[name] for name in (
    "close", "plain iterator, close", "close, subgenerator ignores it", "send", "throw, uncaught")] + [
    Case("close, before the subgenerator starts", with_cleanup, ["close", "next"]),
    Case("close, subgenerator returns", _returns_on_exit, ["next", "close"]),
]


@exercise("02.2", title="close() in the PEP 380 expansion",
          hint="in `except GeneratorExit`: look up _i.close (a plain iterator may have none: "
               "AttributeError), call it if it exists, then re-raise the GeneratorExit")
def close_semantics(answer) -> str:
    if not inspect.isgeneratorfunction(answer):
        raise Wrong("pass your expansion, a generator function taking the subiterable")
    rows = compare(CLOSE_CASES, _delegate, answer)
    if any(row.other.startswith("raised NotImplementedError") for row in rows):
        raise NotImplementedError  # the stub's close() branch: not solved yet
    differing = [row for row in rows if not row.same]
    if differing:
        cases = {row.case for row in differing}
        shown = [row for row in rows if row.case in cases]
        raise Wrong("it behaves differently from real `yield from`:\n"
                    + table(shown, other_title="yours", width=60))
    return f"all {len(CLOSE_CASES)} cases behave as real `yield from` does."


def _counting_task(log, name, steps, result):
    for step in range(1, steps + 1):
        log.append(f"{name}{step}")
        yield
    return result


@exercise("02.3", title="A round-robin run that collects results",
          hint="keep a queue of (name, task); pop the first, next() it; on StopIteration store "
               "its .value under its name, otherwise put it back at the end")
def run_all(answer) -> str:
    if not callable(answer):
        raise Wrong(f"pass the function itself, not {answer!r}")
    log: list[str] = []
    tasks = {"a": _counting_task(log, "a", 3, "A"), "b": _counting_task(log, "b", 1, "B"),
             "c": _counting_task(log, "c", 2, None)}
    results = answer(tasks)
    expected_log = ["a1", "b1", "c1", "a2", "c2", "a3"]
    if log != expected_log:
        raise Wrong(f"the tasks should take turns: {expected_log}, but they ran as {log}")
    if results != {"a": "A", "b": "B", "c": None}:
        raise Wrong(f"it should return each task's return value by name, {{'a': 'A', 'b': 'B', "
                    f"'c': None}}, not {results!r}")
    if list(results) != ["b", "c", "a"]:
        raise Wrong(f"record results as tasks finish (b, then c, then a), not in the order {list(results)}")
    if answer({}) != {}:
        raise Wrong("with no tasks it should return {}")
    return "a, b, c took turns, and their results came back as they finished."

"""Exercises of chapter 02 (yield from): collecting return values, a session that cleans up after
its worker, a round-robin run that collects results."""

from __future__ import annotations

import inspect

from helpers.exercises import Wrong, exercise


def summer(count):
    """Receives ``count`` numbers through send(), yields the running sum, returns the sum."""
    total = 0
    for _ in range(count):
        total += yield total
    return total


@exercise("02.1", title="Collect the subgenerators' return values",
          hint=("A for loop over a subgenerator re-yields its values, but a value sent to collect never reaches it, "
                "and its return value is lost. Which construct passes send() through and gives back the return "
                "value?",
                "A yield from expression forwards every send() and evaluates to what the subgenerator returned. "
                "Pitfall: keep every subgenerator's return value, not only the last one."))
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


def worker(log: list[str]):
    """Exercise 02.2's subgenerator: adds up the numbers sent in, skips a ValueError thrown in,
    returns the total when sent None, and always logs its own clean-up."""
    total = 0
    try:
        while True:
            try:
                number = yield total
            except ValueError:
                log.append("worker: skipped a bad value")
                continue
            if number is None:
                return total
            total += number
    finally:
        log.append("worker: cleaned up")


def _run(answer, presses: list) -> tuple[list[str], list[str]]:
    """Press ``presses`` on answer(worker(log), log); return what each press gave, and the log."""
    log: list[str] = []
    gen = answer(worker(log), log)
    if not inspect.isgenerator(gen):
        raise Wrong("session(sub, log) must be a generator function (it delegates with `yield from`)")
    seen = []
    for press in presses:
        try:
            if press == "close":
                gen.close()
                seen.append("closed")
            elif isinstance(press, type):
                seen.append(f"yielded {gen.throw(press('thrown in'))!r}")
            else:
                seen.append(f"yielded {gen.send(press)!r}")
        except StopIteration as stop:
            seen.append(f"returned {stop.value!r}")
        except KeyError:
            seen.append("raised KeyError")
        if not seen[-1].startswith("yielded"):
            break
    gen.close()
    return seen, log


# (what the case shows, the presses: None = next(), a number = send, an exception class = throw, "close")
SESSION_CASES: list[tuple[str, list, list[str], list[str]]] = [
    ("send and throw reach the worker, its return value comes back",
     [None, 2, ValueError, 3, None],
     ["yielded 0", "yielded 2", "yielded 2", "yielded 5", "returned 5"],
     ["open", "worker: skipped a bad value", "worker: cleaned up", "closed"]),
    ("closed half-way", [None, 1, "close"], ["yielded 0", "yielded 1", "closed"],
     ["open", "worker: cleaned up", "closed"]),
    ("an error the worker does not catch", [None, KeyError], ["yielded 0", "raised KeyError"],
     ["open", "worker: cleaned up", "closed"]),
]


@exercise("02.2", title="A session that cleans up after its worker",
          hint=("Which statement runs its code however a block is left: by a return, by an exception, or by close() "
                "half-way?",
                "A finally clause, and yield from does all the forwarding. Pitfalls: an except GeneratorExit "
                "misses a normal return and a raise; by the time your clean-up runs, yield from has already closed "
                "the worker; and the worker's result is still yours to return."))
def session(answer) -> str:
    if not callable(answer):
        raise Wrong(f"pass the function itself, not {answer!r}")
    for what, presses, want_seen, want_log in SESSION_CASES:
        seen, log = _run(answer, presses)
        if seen != want_seen:
            raise Wrong(f"{what}: the presses gave {seen}, not {want_seen}")
        if log != want_log:
            raise Wrong(f"{what}: the log is {log}, not {want_log}")
    return ("sends and throws reached the worker, its total came back, and \"closed\" came after its "
            "clean-up every time.")


def _counting_task(log, name, steps, result):
    for step in range(1, steps + 1):
        log.append(f"{name}{step}")
        yield
    return result


@exercise("02.3", title="A round-robin run that collects results",
          hint=("The chapter's Scheduler.run already takes turns. What should it do, instead of nothing, when a "
                "task's next() raises StopIteration?",
                "The StopIteration that ends a generator carries its return value in .value. Pitfall: running one "
                "task to its end before the next is not round-robin; the others must keep their turns."))
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

"""Exercises of chapter 00 (Start here): reading and shaping a switch order."""

from __future__ import annotations

from helpers.exercises import Wrong, exercise, same_order
from helpers.trace import Tracer, round_robin


def steps(name: str, count: int):
    """A task that takes ``count`` steps, yielding after each."""
    for number in range(1, count + 1):
        yield f"{name} step {number}"


@exercise("00.1", title="Predict the switch order",
          hint=("Count turns, not steps: a task gets a turn for each step, and one more turn in which "
                "it runs off its end and finds it is done.",
                "a has 3 steps, so 4 turns; b has 2 turns; c has 3: 9 turns in all. The queue goes a, b, "
                "c for as long as all three are in it, and a finished task leaves the queue."))
def predict_order(answer) -> str:
    tracer = round_robin({"a": steps("a", 3), "b": steps("b", 1), "c": steps("c", 2)}, Tracer())
    truth = tracer.order()
    same_order(answer, truth, item="turn", example="['a', 'b', ...] (task names)",
               mismatch="you said {said}, but {ran} ran then")
    return f"{len(truth)} turns, all in the right order."


@exercise("00.2", title="Make the cooks finish in a given order",
          hint=("When a task finishes depends only on how many steps it takes: the fewer its steps, "
                "the sooner it is done.",
                "Give bob the fewest steps and alice the most, each task made with steps(name, count); "
                "make_tasks returns the three of them in a dict, keyed by name."))
def finish_order(make_tasks) -> str:
    if not callable(make_tasks):
        raise Wrong("pass the function itself: check('00.2', make_tasks)")
    tasks = make_tasks()
    if not isinstance(tasks, dict) or sorted(tasks) != ["alice", "bob", "carol"]:
        raise Wrong(f"make_tasks() must return a dict with the keys 'alice', 'bob' and 'carol', not {tasks!r}")
    tracer = round_robin(tasks, Tracer())
    finished = [event.task for event in tracer.events if event.kind == "exit"]
    if finished != ["bob", "carol", "alice"]:
        raise Wrong(f"they finished in the order {finished}, not ['bob', 'carol', 'alice']")
    return "bob, then carol, then alice: the trace agrees."

"""Exercises of chapter 00 (Start here): reading and shaping a switch order."""

from __future__ import annotations

from helpers.exercises import Wrong, exercise, same_order
from helpers.trace import Tracer, round_robin


def steps(name: str, count: int):
    """A task that takes ``count`` steps, yielding after each."""
    for number in range(1, count + 1):
        yield f"{name} step {number}"


@exercise("00.1", title="Predict the switch order",
          hint=("A task that has taken its last step is not finished yet: how many turns does it need before "
                "round_robin takes it out of the queue?",
                "Each task needs one turn more than it has steps: the last turn finds it done, and only then does "
                "it leave the queue. The others keep their order. Pitfall: forgetting those extra turns."))
def predict_order(answer) -> str:
    tracer = round_robin({"a": steps("a", 3), "b": steps("b", 1), "c": steps("c", 2)}, Tracer())
    truth = tracer.order()
    same_order(answer, truth, item="turn", example="['a', 'b', ...] (task names)",
               mismatch="you said {said}, but {ran} ran then")
    return f"{len(truth)} turns, all in the right order."


@exercise("00.2", title="Make the cooks finish in a given order",
          hint=("Three tasks queued together and run one step per turn: which one is done first, the one queued "
                "first or the one with the least to do?",
                "Only the step counts you give steps(name, count) decide the finishing order. Pitfall: two equal "
                "counts let the queue order break the tie, and the queue order here is alice, bob, carol."))
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

"""Exercises of chapter 03 (greenlet): values through switch, reading a switch order, switching from deep inside."""

from __future__ import annotations

from helpers.checks._puzzle03 import puzzle
from helpers.exercises import Wrong, exercise, same_order
from helpers.greenlets import trace_switches
from helpers.trace import Tracer


def _switches_during(call):
    """Run ``call()``; return its result and how many greenlet switches happened meanwhile."""
    with trace_switches(Tracer(), lambda g: None) as switches:
        result = call()
    return result, switches.count


@exercise("03.1", title="Ping-pong with values",
          hint=("When ping passes a value to switch() on pong, where does that value come out, and how does pong's "
                "answer get back to ping?",
                "switch() carries a value both ways: it arrives as the other side's switch() result (the first "
                "time, as its function's argument). Pitfall: ping's function must end after `rounds` rounds, so "
                "that control goes back to main; pong never has to end."))
def ping_pong(answer) -> str:
    if not callable(answer):
        raise Wrong("pass the function itself: check('03.1', ping_pong)")
    for rounds in (1, 3, 5):
        got, switches = _switches_during(lambda rounds=rounds: answer(rounds))
        want = list(range(1, 2 * rounds + 1))
        if got != want:
            raise Wrong(f"ping_pong({rounds}) should return {want}, got {got!r}")
        if switches < 2 * rounds:
            raise Wrong(f"ping_pong({rounds}) returned the right list, but only {switches} greenlet "
                        f"switches happened, not at least {2 * rounds}: let two greenlets pass the values")
    return "the values went back and forth through switch(), one switch per value."


@exercise("03.2", title="Predict the print order",
          hint=("When a greenlet's function returns, which greenlet runs next: the one that last switched to it, or "
                "another one?",
                "A greenlet that finishes goes back to its parent (here main), not to whoever switched to it last; "
                "and a greenlet nobody switches back to never finishes its function."))
def predict(answer) -> str:
    truth: list[str] = []
    puzzle(truth)
    same_order(answer, truth, item="line", example="['first: a', ...] (the lines in order)",
               mismatch="you said {said}, but the program wrote {ran}")
    return f"all {len(truth)} lines in the right order (and 'first: c' never happens)."


class _Bomb(list):
    """A nested list that explodes when someone looks inside: proves the walk is lazy."""

    def __iter__(self):
        raise RuntimeError("looked inside the rest of the tree too early: the walk is not lazy")


@exercise("03.3", title="Switch from deep inside a recursive walk",
          hint=("Why can't a generator yield a leaf from three recursive calls deep, and what can a greenlet do "
                "there that a generator cannot?",
                "A switch works from any depth of plain recursion, and greenlet.getcurrent() names the greenlet "
                "that wants the leaf. Pitfalls: a finished greenlet returns to its parent, which must be the "
                "consumer asking now; and the end of the walk must end the iteration as every iterator does "
                "(chapter 01), not hand out None."))
def deep_leaves(answer) -> str:
    if not callable(answer):
        raise Wrong("pass the function itself: check('03.3', leaves)")
    cases = [([1, [2, [3, [4]]], 5], [1, 2, 3, 4, 5]), ([], []), ([[[["deep"]]]], ["deep"]),
             (["a", [], ["b", ["c"]], "d"], ["a", "b", "c", "d"])]
    for tree, want in cases:
        got, switches = _switches_during(lambda tree=tree: list(answer(tree)))
        if got != want:
            raise Wrong(f"list(leaves({tree!r})) should be {want!r}, got {got!r}")
    if switches < 2:
        raise Wrong("the leaves are right, but no greenlet switched: walk the tree in a greenlet "
                    "and switch each leaf out from the recursion")
    walker = answer([1, _Bomb([2])])
    try:
        first = next(iter(walker))
    except RuntimeError as error:
        raise Wrong(f"taking the first leaf of [1, [2]] {error}") from None
    if first != 1:
        raise Wrong(f"the first leaf of [1, [2]] should be 1, got {first!r}")
    return "lazy, in order, switched out from deep inside the recursion."

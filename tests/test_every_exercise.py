"""Every registered exercise: its reference solution passes, its wrong answers and stub don't.

The ids are collected when this module is imported, from ``helpers/checks/chNN.py``;
the answers come from ``tests/solutions/chNN.py`` (SOLUTIONS and WRONG, see there).
With no chapter checks yet, each test below is one "skipped" item (empty parameter set).
"""

from __future__ import annotations

import ast
import builtins
import importlib
import inspect
import pkgutil
import re
import textwrap
from types import ModuleType

import pytest

import tests.solutions
from helpers.exercises import evaluate, registered

EXERCISES = registered()
# Marked with their chapter: `python3 course.py test 04` runs exercise 04.k's tests.
IDS = [pytest.param(number, id=number, marks=pytest.mark.chapter(number[:2])) for number in EXERCISES]


def solutions_of(number: str) -> ModuleType:
    """The module tests/solutions/chNN.py for exercise "NN.k"."""
    return importlib.import_module(f"tests.solutions.ch{number[:2]}")


@pytest.mark.parametrize("number", IDS)
def test_checker_lives_in_its_chapter_module(number: str):
    assert EXERCISES[number].checker.__module__ == f"helpers.checks.ch{number[:2]}"


@pytest.mark.parametrize("number", IDS)
def test_has_a_solution_and_wrong_answers(number: str):
    module = solutions_of(number)
    assert number in module.SOLUTIONS, f"{module.__name__}.SOLUTIONS has no entry {number!r}"
    wrong = module.WRONG.get(number)
    assert isinstance(wrong, list) and wrong, f"{module.__name__}.WRONG[{number!r}] needs answers"


@pytest.mark.parametrize("number", IDS)
def test_solution_is_solved(number: str):
    result = evaluate(number, solutions_of(number).SOLUTIONS[number])
    assert result.status == "solved", str(result)


@pytest.mark.parametrize("number", IDS)
def test_other_right_answers_are_solved(number: str):
    for index, answer in enumerate(getattr(solutions_of(number), "ALSO_RIGHT", {}).get(number, [])):
        result = evaluate(number, answer)
        assert result.status == "solved", f"ALSO_RIGHT[{number!r}][{index}]: {result}"


@pytest.mark.parametrize("number", IDS)
def test_wrong_answers_are_not_solved(number: str):
    for index, answer in enumerate(solutions_of(number).WRONG[number]):
        result = evaluate(number, answer)
        assert result.status != "solved", f"WRONG[{number!r}][{index}] passed: {result}"


@pytest.mark.parametrize("number", IDS)
def test_stub_is_unsolved(number: str):
    result = evaluate(number, ...)
    assert result.status == "unsolved", str(result)


def test_solutions_are_only_for_registered_exercises():
    for found in pkgutil.iter_modules(tests.solutions.__path__):
        if re.fullmatch(r"ch\d\d", found.name):
            module = importlib.import_module(f"tests.solutions.{found.name}")
            stale = (set(module.SOLUTIONS) | set(module.WRONG)
                     | set(getattr(module, "CHAPTER_CODE", {}))) - set(EXERCISES)
            assert not stale, f"{module.__name__} has answers for unknown exercises {sorted(stale)}"


def code_of(solution: object) -> list[str]:
    """The reference solution's code as fragments to look for, whitespace removed: each
    source line (comments dropped) and each statement or expression in it (``yield from
    sub`` inside ``results.append((yield from sub))``), leaving out short ones ("try:",
    "pass", "range(n)") and bare names of the API (``gevent.Timeout``, ``asyncio.Semaphore``,
    ``homeloop.Future()``), which a hint may name. A data answer (a list) gives its repr."""
    if isinstance(solution, (list, tuple, dict, str, int, float)):
        return ["".join(repr(solution).split())]
    try:
        source = textwrap.dedent(inspect.getsource(solution))
    except (OSError, TypeError):
        return []
    fragments = ["".join(line.split("#", 1)[0].split()) for line in source.splitlines()]
    for node in ast.walk(ast.parse(source)):
        name_only = isinstance(node, (ast.Constant, ast.Name, ast.Attribute)) or (
            isinstance(node, ast.Call) and not node.args and not node.keywords)
        if isinstance(node, (ast.stmt, ast.expr)) and not name_only:
            code = "".join(ast.unparse(node).split())
            fragments.append(code[1:-1] if code.startswith("(") and code.endswith(")") else code)
    return sorted({fragment for fragment in fragments if len(fragment) >= 12})


@pytest.mark.parametrize("number", IDS)
def test_hints_never_contain_the_solutions_code(number: str):
    solution = solutions_of(number).SOLUTIONS[number]
    lines = code_of(solution)
    for stage, text in enumerate(EXERCISES[number].hints, 1):
        flat = "".join(text.replace("`", "").split())
        leaked = [line for line in lines if line in flat]
        assert not leaked, f"hint {stage} of {number} holds the solution's code {leaked}: {text!r}"


@pytest.mark.parametrize("number", IDS)
def test_hints_come_in_at_least_two_stages(number: str):
    assert len(EXERCISES[number].hints) >= 2


def test_every_written_chapter_up_to_04_has_two_exercises_or_more():
    for chapter in ("00", "01", "02", "03", "04"):
        assert sum(number[:2] == chapter for number in EXERCISES) >= 2, chapter


@pytest.mark.parametrize("number", IDS)
def test_the_first_hint_is_a_question(number: str):
    first = EXERCISES[number].hints[0]
    assert first.rstrip().endswith("?"), f"the first hint of {number} should ask a question: {first!r}"


def api_of(solution: object) -> list[str]:
    """The API the reference solution uses, each name once, in the order its source first uses it:
    attributes (``heappush`` of ``heapq.heappush``, ``set_result`` of ``future.set_result``), calls of
    names it did not define itself (``deque(...)``, not its own ``worker()`` or its parameter
    ``fetch``) and keyword arguments (``return_exceptions``). Builtins called by name (``len``), the
    solution's own attributes (``self.timers``) and dunder names are left out. A data answer has none."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(solution)))
    except (OSError, TypeError):
        return []
    own = set(dir(builtins))
    for node in ast.walk(tree):
        if isinstance(node, ast.arg):
            own.add(node.arg)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            own.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            own.add(node.id)
    used = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and not (isinstance(node.value, ast.Name) and node.value.id == "self"):
            used.append((node.end_lineno, node.end_col_offset, node.attr))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id not in own:
            used.append((node.lineno, node.col_offset, node.func.id))
        elif isinstance(node, ast.keyword) and node.arg:
            used.append((node.lineno, node.col_offset, node.arg))
    return list(dict.fromkeys(name for *_, name in sorted(used) if not name.startswith("__")))


def names_in_order(names: list[str], text: str) -> bool:
    """Whether ``text`` names every one of ``names``, in that order, as words (``set_result`` also
    as "set result")."""
    start = 0
    for name in names:
        found = re.compile(r"\b" + "[ _]".join(map(re.escape, name.split("_"))) + r"\b").search(text, start)
        if found is None:
            return False
        start = found.end()
    return True


def test_names_in_order_finds_a_recipe_and_not_a_mention():
    names = ["Future", "get_loop", "call_later", "set_result"]
    assert api_of(solutions_of("06.2").SOLUTIONS["06.2"]) == names  # sleep(): no `seconds`, no `future`
    assert api_of(solutions_of("09.3").SOLUTIONS["09.3"]) == ["gather", "return_exceptions", "set"]
    assert api_of(["main", "b"]) == []  # a data answer
    assert names_in_order(names, "Make a homeloop.Future(), ask homeloop.get_loop() to complete it later "
                                 "(call_later with its set_result), then await it")
    assert not names_in_order(names, "A homeloop.Future suspends whoever awaits it until its result is set, "
                                     "and the loop's call_later can run a callback later.")
    assert not names_in_order(names, "set_result, call_later, get_loop, Future")  # all named, but not as a recipe


@pytest.mark.parametrize("number", IDS)
def test_hints_do_not_spell_out_the_solutions_calls_in_order(number: str):
    """All stages read together (what a learner sees after asking for every one) must not walk through
    the reference solution's API in its order: naming the mechanism is a hint, the sequence of calls is
    the answer. Checked when the solution uses two names or more."""
    names = api_of(solutions_of(number).SOLUTIONS[number])
    hints = " ".join(EXERCISES[number].hints)
    assert len(names) < 2 or not names_in_order(names, hints), (
        f"the hints of {number} name the solution's calls {names} in the order it makes them: {hints!r}")

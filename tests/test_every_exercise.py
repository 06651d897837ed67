"""Every registered exercise: its reference solution passes, its wrong answers and stub don't.

The ids are collected when this module is imported, from ``helpers/checks/chNN.py``;
the answers come from ``tests/solutions/chNN.py`` (SOLUTIONS and WRONG, see there).
With no chapter checks yet, each test below is one "skipped" item (empty parameter set).
"""

from __future__ import annotations

import ast
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

"""Every registered exercise: its reference solution passes, its wrong answers and stub don't.

The ids are collected when this module is imported, from ``helpers/checks/chNN.py``;
the answers come from ``tests/solutions/chNN.py`` (SOLUTIONS and WRONG, see there).
With no chapter checks yet, each test below is one "skipped" item (empty parameter set).
"""

from __future__ import annotations

import importlib
import pkgutil
import re
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
            stale = (set(module.SOLUTIONS) | set(module.WRONG)) - set(EXERCISES)
            assert not stale, f"{module.__name__} has answers for unknown exercises {sorted(stale)}"

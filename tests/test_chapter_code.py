"""The chapter's own code must not pass its exercises: an exercise needs the idea in a new setting.

For every exercise of every chapter, ``tests/solutions/chNN.py`` keeps in ``CHAPTER_CODE``
the chapter's code closest to the exercise (a cell reproduced as an answer, renamed where needed);
each of those answers must be refused by the check.
"""

from __future__ import annotations

import importlib

import pytest

from helpers.exercises import evaluate, registered

EXERCISES = registered()
IDS = [pytest.param(number, id=number, marks=pytest.mark.chapter(number[:2]))
       for number in EXERCISES]


@pytest.mark.parametrize("number", IDS)
def test_chapter_code_does_not_pass(number: str):
    module = importlib.import_module(f"tests.solutions.ch{number[:2]}")
    answers = getattr(module, "CHAPTER_CODE", {}).get(number)
    assert answers is not None, f"{module.__name__}.CHAPTER_CODE has no entry {number!r}"
    assert isinstance(answers, list) and answers, f"CHAPTER_CODE[{number!r}] needs the chapter's code"
    for index, answer in enumerate(answers):
        result = evaluate(number, answer)
        # Refused for a reason ("wrong" or an error), not merely "not solved yet".
        assert result.status in ("wrong", "error"), f"CHAPTER_CODE[{number!r}][{index}] was not refused: {result}"

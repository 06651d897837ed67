"""Chapter 08's exercises: the chapter's own code, fitted to each exercise, does not pass it."""

import pytest

from helpers.exercises import evaluate
from tests.solutions import ch08


@pytest.mark.parametrize("number, answer", [(number, answer) for number, answers in ch08.CHAPTER_CODE.items()
                                            for answer in answers])
def test_the_chapters_own_code_is_not_an_answer(number, answer):
    result = evaluate(number, answer)
    assert result.status != "solved", f"{answer.__name__} passes {number}: the exercise needs a new idea"


def test_every_exercise_of_the_chapter_has_its_chapter_code():
    assert sorted(ch08.CHAPTER_CODE) == sorted(ch08.SOLUTIONS)


@pytest.mark.parametrize("number, answer, words", [
    ("08.1", ch08.chapter_http_get, "chunked"),
    ("08.1", ch08.length_only, "chunked"),
    ("08.1", ch08.chunked_but_every_status_has_a_body, "has no body"),
    ("08.2", ch08.chapter_codec, "meta tag"),
    ("08.2", ch08.decode_gbk_as_gbk, "gb18030"),
    ("08.3", ch08.chapter_crawl, "never raise"),
])
def test_wrong_answers_are_told_why(number, answer, words):
    result = evaluate(number, answer)
    assert result.status in ("wrong", "error"), str(result)
    assert words in str(result), str(result)

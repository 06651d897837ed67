"""Chapter 08's exercises: the chapter's own code, fitted to each exercise, does not pass it."""

import pytest

from helpers.exercises import evaluate
from tests.solutions import ch08


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

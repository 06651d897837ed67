"""Chapter 09's exercises: the other right answers pass, and what each wrong answer is told."""

import gc

import pytest

from helpers.exercises import evaluate
from tests.solutions import ch09


@pytest.mark.parametrize("number, answer", [(number, answer) for number, answers in ch09.ALSO_RIGHT.items()
                                            for answer in answers])
def test_other_right_answers_are_solved(number, answer):
    result = evaluate(number, answer)
    assert result.status == "solved", str(result)


@pytest.mark.parametrize("number, answer, words", [
    ("09.1", ch09.cached_get_no_lock, "stampede"),
    ("09.1", ch09.cached_get_global_lock, "one lock for everything"),
    ("09.1", ch09.cached_get_any_page, "look up the URL"),
    ("09.1", ch09.cached_get_lock_after_check, "stampede"),
    ("09.2", ch09.run_pool_left_running, "still running"),
    ("09.2", ch09.run_pool_semaphore, "different tasks"),
    ("09.2", ch09.run_pool_unordered, "order of jobs"),
    ("09.2", ch09.run_pool_one_worker, "3 workers run 3 at a time"),
    ("09.3", ch09.download_all_first, "after the last one"),
    ("09.3", ch09.download_all_serial, "start them all at once"),
    ("09.3", ch09.download_all_never_set, "never woke up"),
    ("09.3", ch09.download_all_list, "return {url: page}"),
    ("09.3", ch09.download_all_raises, "must not stop the others"),
    ("09.3", ch09.download_all_after_last_success, "never woke up"),
    ("09.1", ch09.cached_get_keeps_locks, "still holds a lock"),
    ("09.1", ch09.cached_get_swallows_errors, "let the error reach the caller"),
    ("09.1", ch09.cached_get_caches_the_error, "cache nothing on a failure"),
    ("09.4", ch09.take_waiting_first, "look at the shelf before you wait"),
    ("09.4", ch09.take_whatever_comes, "returns the item it waited for"),
    ("09.4", ch09.take_polling, "never waited on the condition"),
    ("09.4", ch09.take_polling_slowly, "never waited on the condition"),
    ("09.4", ch09.take_leaving_it, "take the item off the shelf"),
])
def test_wrong_answers_are_told_why(number, answer, words):
    result = evaluate(number, answer)
    assert result.status == "wrong", str(result)
    assert words in result.message, str(result)


@pytest.mark.parametrize("number", ["09.1", "09.2", "09.3", "09.4"])
def test_a_stub_leaves_no_unretrieved_task_exception(number, caplog):
    async def stub(*args):
        raise NotImplementedError

    assert evaluate(number, stub).status == "unsolved"
    gc.collect()  # an unretrieved task exception is logged when its task is collected
    assert "never retrieved" not in caplog.text  # asyncio's logger; in a notebook it lands on stderr

"""Chapter 07's async check runner, and the other right answers of its exercises."""

import asyncio
import threading

import pytest

from helpers.checks._async import run_async
from helpers.exercises import Wrong, registered


@pytest.mark.parametrize("number", ["07.1", "07.2", "07.3"])
def test_hints_come_in_stages_a_question_first(number):
    stages = registered()[number].hints
    assert len(stages) >= 2
    assert stages[0].rstrip().endswith("?")
    assert "Semaphore" not in " ".join(stages)  # no asyncio chapter has used one yet


def test_run_async_returns_the_value_and_leaves_no_thread():
    async def program():
        await asyncio.sleep(0.01)
        return 42

    assert run_async(program) == 42
    assert not [thread for thread in threading.enumerate() if thread.name == "ch07-check"]


def test_run_async_raises_the_programs_errors_unchanged():
    async def program():
        raise KeyError("inside")

    with pytest.raises(KeyError, match="inside"):
        run_async(program)


def test_a_timeout_error_of_the_program_is_not_taken_for_the_check_running_late():
    async def program():
        async with asyncio.timeout(0.01):
            await asyncio.sleep(1)

    with pytest.raises(TimeoutError):
        run_async(program, timeout=2)


def test_a_program_running_too_long_is_cancelled_and_reported():
    async def program():
        await asyncio.sleep(30)

    with pytest.raises(Wrong, match="longer than 0.1 s"):
        run_async(program, timeout=0.1)


def test_works_inside_a_running_loop_like_a_notebook_cell():
    async def cell():
        async def program():
            await asyncio.sleep(0.01)
            return "from the worker's loop"
        return run_async(program)

    assert asyncio.run(cell()) == "from the worker's loop"

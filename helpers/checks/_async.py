"""What the checks of the asyncio chapters (07, 08, 09) share (private to the checks package).

    run_async(program, timeout)  ``await program()`` in a fresh event loop in a worker thread
                                 "ch07-check", joined before it returns; the value, or the error
    needs_async(answer, call)    Wrong unless ``answer`` is an ``async def`` function
    others_left()                the tasks of the running loop other than the current one

Why a thread: ``helpers.exercises`` calls a checker as a plain function, and in a notebook it
is called from a cell that runs inside the kernel's event loop, where ``asyncio.run`` refuses to
start a second loop. The kernel's loop waits while the worker runs; nothing is left running.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from helpers.exercises import Wrong

__all__ = ["GRACE", "needs_async", "others_left", "run_async"]

T = TypeVar("T")

GRACE = 2.0  # seconds the worker thread gets beyond the program's own timeout


class _Overtime(Exception):
    """The program ran past run_async's timeout (not a TimeoutError of the learner's code)."""


def run_async(program: Callable[[], Awaitable[T]], timeout: float = 5.0) -> T:
    """Run ``await program()`` to its end in a fresh event loop in a worker thread; return its value.

    Blocks the calling thread (in a notebook: the kernel's loop) until the program is done.
    After ``timeout`` seconds the program is cancelled and :class:`Wrong` is raised; a
    :class:`Wrong` or any other exception the program raises is raised here unchanged.
    Works with or without a running loop in the calling thread (a cell, or a unit test).
    """
    box: dict[str, Any] = {}

    async def guarded() -> T:
        try:
            async with asyncio.timeout(timeout) as limit:
                return await program()
        except TimeoutError:
            if limit.expired():
                raise _Overtime from None
            raise

    def target() -> None:
        try:
            box["value"] = asyncio.run(guarded())
        except BaseException as error:  # handed to the calling thread
            box["error"] = error

    worker = threading.Thread(target=target, name="ch07-check", daemon=True)
    worker.start()
    worker.join(timeout + GRACE)
    if worker.is_alive():
        raise Wrong(f"your code was still running {timeout + GRACE:g} s after it was cancelled: "
                    "does it catch CancelledError and carry on?")
    error = box.get("error")
    if isinstance(error, _Overtime):
        raise Wrong(f"the check's program took longer than {timeout:g} s: is something waiting forever?")
    if error is not None:
        raise error
    return box["value"]


def needs_async(answer: object, call: str) -> None:
    """Raise Wrong unless ``answer`` is an ``async def`` function (``call`` shows how to pass it)."""
    if not callable(answer):
        raise Wrong(f"pass the function itself: {call}")
    if not inspect.iscoroutinefunction(answer):
        raise Wrong(f"{getattr(answer, '__name__', 'your function')} must be an `async def` function")


def others_left() -> list[asyncio.Task]:
    """The tasks of the running event loop other than the one calling this."""
    current = asyncio.current_task()
    return [task for task in asyncio.all_tasks() if task is not current]

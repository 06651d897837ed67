"""Exercises of chapter 11 (the showdown): measure an asyncio round trip yourself, find where a
process pool starts to pay, and pick a model for jobs the chapter's map does not list as such.

11.1 runs the learner's coroutine function on an event loop of its own, in a thread of its own
(the kernel's loop is busy running the cell), and compares its figure with the reference
ping-pong measured right after it, the same way, in the same thread: a same-run ratio, so a
busy machine slows both alike. 11.2 gives a fake ``measure`` with known pool costs (nothing is
timed). 11.3 compares answers with what each job spends its time on.
"""

from __future__ import annotations

import asyncio
import inspect
import math
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from helpers._model_names import MODELS
from helpers.exercises import Wrong, exercise

_T = TypeVar("_T")

ROUNDS = 2_000


def _callable(answer: object, call: str) -> None:
    if not callable(answer):
        raise Wrong(f"pass the function itself: {call}")


async def _reference(rounds: int) -> float:
    """Two tasks handing control back and forth ``rounds`` times; CPU seconds per round trip."""
    async def player() -> None:
        for _ in range(rounds):
            await asyncio.sleep(0)

    start = time.thread_time()
    await asyncio.gather(asyncio.create_task(player()), asyncio.create_task(player()))
    return (time.thread_time() - start) / rounds


def _run_in_own_loop(make: Callable[[int], Coroutine[Any, Any, _T]], rounds: int) -> tuple[_T, int]:
    """Run ``make(rounds)`` on a new event loop in a new thread; (its result, tasks it created)."""
    out: dict = {}

    def main() -> None:
        loop = asyncio.new_event_loop()
        created = []

        def factory(loop, coro, **kwargs):
            task = asyncio.Task(coro, loop=loop, **kwargs)
            created.append(task)
            return task

        loop.set_task_factory(factory)
        try:
            out["value"] = loop.run_until_complete(make(rounds))
            out["tasks"] = len(created) - 1  # the one run_until_complete made for the main coroutine
        except BaseException as error:  # noqa: BLE001 (handed to the caller's thread)
            out["error"] = error
        finally:
            loop.close()

    thread = threading.Thread(target=main, name="exercise-11.1", daemon=True)
    thread.start()
    thread.join(8)
    if thread.is_alive():
        raise Wrong(f"ping_pong({rounds}) did not finish within 8 s: does every task end after {rounds} rounds?")
    if "error" in out:
        raise out["error"]
    return out["value"], out["tasks"]


@exercise("11.1", title="Measure an asyncio round trip yourself",
          hint=("What does one round trip need: how many tasks, what does each await to let the other run, "
                "and which clock leaves out the time this thread waited for a core?",
                "Two tasks, each looping rounds times around the smallest await there is; gather them; read "
                "time.thread_time() before and after, and divide by the number of round trips, not batches."))
def round_trip(answer) -> str:
    _callable(answer, "check('11.1', ping_pong)")
    if not inspect.iscoroutinefunction(answer):
        raise Wrong("ping_pong must be a coroutine function (async def ping_pong(rounds): ...)")
    got, tasks = _run_in_own_loop(answer, ROUNDS)
    if tasks < 2:
        raise Wrong(f"ping_pong created {tasks} task(s): a round trip hands control between two tasks "
                    "(asyncio.create_task, or gather on two coroutines)")
    if not isinstance(got, (int, float)) or isinstance(got, bool) or not got > 0:
        raise Wrong(f"ping_pong({ROUNDS}) returned {got!r}: return the seconds one round trip took (a float > 0)")
    reference = min(_run_in_own_loop(_reference, ROUNDS)[0] for _ in range(3))
    ratio = got / reference
    if ratio > 20:
        raise Wrong(f"ping_pong({ROUNDS}) says one round trip takes {ratio:.0f}× what two tasks measured here: "
                    "did you divide by the number of round trips?")
    if not 0.3 <= ratio <= 3:
        raise Wrong(f"ping_pong({ROUNDS}) returned {got:.3g} s per round trip, {ratio:.2g}× what two tasks "
                    "handing control back and forth take here: is each round trip two task steps, timed "
                    "with a CPU clock?")
    return (f"{got * 1e6:.2g} µs of CPU per round trip, {ratio:.2g}× the reference measured just now: compare "
            "it with the asyncio bar of the switch-cost plot.")


# --- 11.2: where a process pool starts to pay --------------------------------------------------


def _pool_model(start: float, per_chunk: float, per_item: float, workers: int):
    """A fake ``measure(size, chunksize)`` for 100 jobs of ``size`` µs of CPU each: the pool pays
    ``start`` once, ``per_chunk`` to pickle and send each chunk (one feeder, in turn) and
    ``per_item`` to pickle each argument and result."""
    jobs = 100

    def measure(size: float, chunksize: int) -> tuple[float, float]:
        if isinstance(chunksize, bool) or not isinstance(chunksize, int) or chunksize < 1:
            raise Wrong(f"measure(size, chunksize) takes a chunksize that is an int >= 1, not {chunksize!r}")
        serial = jobs * size * 1e-6
        chunks = math.ceil(jobs / chunksize)
        feeding = chunks * per_chunk + jobs * per_item
        computing = math.ceil(chunks / workers) * chunksize * size * 1e-6
        return serial, start + max(feeding, computing) + per_chunk
    return measure


SIZES = [1, 3, 10, 30, 100, 300, 1_000, 3_000, 10_000, 30_000, 100_000]
CHUNKSIZES = [1, 5, 25, 50, 100]
CASES = (  # (start, per_chunk, per_item, workers): two machines, two break-evens
    (0.02, 2e-4, 2e-5, 4),
    (0.05, 1e-3, 1e-4, 2),
)


def _truth(measure) -> tuple[int, int]:
    for size in SIZES:
        best = min(CHUNKSIZES, key=lambda c: (measure(size, c)[1], c))
        serial, pool = measure(size, best)
        if pool < serial:
            return size, best
    return -1, 0


@exercise("11.2", title="Where a process pool starts to pay",
          hint=("For one job size, which chunksize gives the pool its best chance, and why would that answer "
                "change with the size of a job?",
                "Go through the sizes from small to large; for each, try every chunksize and keep the one whose "
                "pool time is lowest; stop at the first size where that pool time beats the serial time."))
def break_even(answer) -> str:
    _callable(answer, "check('11.2', break_even)")
    for case in CASES:
        measure = _pool_model(*case)
        want = _truth(measure)
        got = answer(measure, list(SIZES), list(CHUNKSIZES))
        if got is None:
            raise Wrong("break_even(...) returned None: return (size, chunksize)")
        if not isinstance(got, tuple) or len(got) != 2:
            raise Wrong(f"break_even(...) returned {got!r}: return a pair (size, chunksize)")
        if tuple(got) != want:
            size, chunksize = got
            if size in SIZES and chunksize in CHUNKSIZES:
                serial, pool = measure(size, chunksize)
                if pool >= serial:
                    raise Wrong(f"at size {size} with chunksize {chunksize} the pool takes {pool:.3g} s against "
                                f"{serial:.3g} s serial: it does not pay there yet")
            raise Wrong(f"on a machine whose pool costs {case[0]} s to start, {case[1]:g} s per chunk and "
                        f"{case[2]:g} s per item, the pool first pays at size {want[0]} (chunksize {want[1]}); "
                        f"you answered {got!r}")
    return ("the smallest job that pays, with the chunksize that spreads the pickling: measure it on your "
            "machine with helpers.procs.burn and ProcessPoolExecutor.map(..., chunksize=...).")


# --- 11.3: pick a model ----------------------------------------------------------------------------

JOBS = {
    "10,000 mostly idle websocket clients on one server": {"asyncio", "uvloop", "gevent"},
    "resize 500 photos with Pillow (its resize releases the GIL) on a machine with 8 cores": {"process", "thread"},
    "20 calls into a blocking database driver you cannot change": {"thread"},
    "SHA-256 of 40 files of 1 GB each, inside an asyncio server that must keep answering": {"thread"},
    "a pure-Python scoring function over a million records, on 8 cores, standard CPython": {"process"},
}
MODEL_NAMES = set(MODELS)  # chapter 11's own names (helpers._model_names)
WHY = {
    "10,000 mostly idle websocket clients on one server": "waiting connections want the cheapest sleeper that "
    "does I/O: the figures put a connection on an event loop at a few KB",
    "resize 500 photos with Pillow (its resize releases the GIL) on a machine with 8 cores": "that is CPU work, "
    "but in C that releases the GIL: threads run it on every core, and so do processes",
    "20 calls into a blocking database driver you cannot change": "a call you cannot change blocks whatever "
    "thread runs it: only the OS can switch away from it",
    "SHA-256 of 40 files of 1 GB each, inside an asyncio server that must keep answering": "hashlib releases "
    "the GIL on large buffers, so threads (asyncio.to_thread) hash on other cores, and a gigabyte never has "
    "to be pickled to another process",
    "a pure-Python scoring function over a million records, on 8 cores, standard CPython": "pure Python holds "
    "the GIL: only processes run it on 8 cores (threads would on a free-threaded build)",
}


@exercise("11.3", title="Pick a model for each job",
          hint=("For each job: does it spend its time waiting, in Python code, or in C code that releases the GIL? "
                "And would another process have to be sent its data?",
                "Idle connections want the cheapest sleeper; pure-Python CPU work wants processes; C work that "
                "releases the GIL runs on several cores from threads, without pickling; a blocking call you "
                "cannot change wants something the OS can switch away from."))
def pick(answer) -> str:
    if not isinstance(answer, dict):
        raise Wrong("answer with a dict {job: model}, one entry per job of the list")
    if all(model is ... for model in answer.values()):
        raise NotImplementedError  # the stub, untouched
    missing = [job for job in JOBS if job not in answer]
    if missing:
        raise Wrong(f"no model for the job {missing[0]!r}")
    for job, model in answer.items():
        if model not in MODEL_NAMES:
            raise Wrong(f"{model!r} (for {job!r}) is not one of the models: {sorted(MODEL_NAMES)}")
    for job, right in JOBS.items():
        if answer[job] not in right:
            raise Wrong(f"{answer[job]!r} for {job!r}: what does that job spend its time on, and what would "
                        "another process have to be sent?")
    return "each job has a model that fits what it spends its time on: " + "; ".join(WHY.values()) + "."

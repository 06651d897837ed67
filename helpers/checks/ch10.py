"""Exercises of chapter 10 (processes and coroutines): predict a pool, a parallel map, a process
pool behind an event loop.

Every pool these checks make comes from the fork context and is shut down and joined before the
checker returns; the jobs are module functions of ``helpers.procs`` (they sleep, they do not
compute, so the checks take the same time on a busy machine). 10.3's answer is an ``async def``
function: it runs in a fresh event loop in a worker thread, joined before the checker returns
(a notebook cell already runs inside the kernel's loop, where ``asyncio.run`` refuses to start).
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import math
import multiprocessing
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import psutil

from helpers import procs
from helpers.exercises import Wrong, exercise
from helpers.heartbeat import asyncio_heartbeat
from helpers.timing import about

UNIT = 0.1      # seconds one short job of the checks sleeps (procs.pid_square: 2 units for even x)
GRACE = 5.0     # seconds a check's worker thread gets beyond its program's timeout


def _children() -> set[int]:
    """Pids of this process's live children, except multiprocessing's own helper processes."""
    found = set()
    for child in psutil.Process().children(recursive=True):
        try:
            line = " ".join(child.cmdline())
            if child.status() == psutil.STATUS_ZOMBIE or "resource_tracker" in line or "forkserver" in line:
                continue
        except psutil.Error:
            continue
        found.add(child.pid)
    return found


@exercise("10.1", title="Predict a pool",
          hint=("Workers take jobs as they free up: with equal jobs, they go in rounds.",
                "Each round takes one unit; count the rounds, and mind the last, partly filled one."))
def predict_pool(answer) -> str:
    if not callable(answer):
        raise Wrong("pass the function itself: check('10.1', pool_time)")
    cases = [(5, 10, 2.0), (5, 11, 1.0), (3, 3, 0.5), (4, 1, 1.0), (2, 7, 0.25), (8, 0, 1.0)]
    for workers, jobs, unit in cases:
        expected = math.ceil(jobs / workers) * unit
        got = answer(workers, jobs, unit)
        if not isinstance(got, (int, float)) or isinstance(got, bool) or not math.isclose(got, expected):
            raise Wrong(f"pool_time({workers}, {jobs}, {unit}) should be {expected:g} "
                        f"({math.ceil(jobs / workers)} rounds of {unit:g} s), got {got!r}")
    with multiprocessing.get_context("fork").Pool(3) as pool:
        start = time.perf_counter()
        pending = [pool.apply_async(procs.slow_square, (x, UNIT)) for x in range(7)]
        for result in pending:
            result.get(timeout=10)
        elapsed = time.perf_counter() - start
        pool.close()
        pool.join()
    verdict = about(elapsed, UNIT, (3, 7), unit_name="unit")
    return (f"Pool(5) × 10 jobs × 2 s: {answer(5, 10, 2.0):g} s. A real Pool(3) ran 7 jobs of one unit "
            f"in {verdict.text.split(' (')[0]}, as pool_time(3, 7, unit) says.")


@exercise("10.2", title="A parallel map",
          hint=("A Pool (or a ProcessPoolExecutor) with `workers` processes has a method that applies "
                "a function to every item and keeps the order of the items.",
                "Start the pool in a `with` block (or close and join it) so that no worker outlives the call."))
def parallel_map_check(answer) -> str:
    if not callable(answer):
        raise Wrong("pass the function itself: check('10.2', parallel_map)")
    before = _children()
    items = list(range(8))
    # Longer jobs than the other checks: the time measured includes starting and joining the
    # learner's pool, which takes most of a second on a busy machine.
    unit = 2.5 * UNIT
    func = functools.partial(procs.pid_square, unit=unit)
    start = time.perf_counter()
    got = answer(func, items, 4)
    elapsed = time.perf_counter() - start
    left = _children() - before
    if not isinstance(got, list):
        raise Wrong(f"return a list, got {type(got).__name__}")
    if len(got) != len(items):
        raise Wrong(f"8 items in, 8 results out: got {len(got)}")
    values = [value for value, _ in got]
    if values != [x * x for x in items]:
        raise Wrong(f"the results must be in the order of the items: expected {[x * x for x in items]}, "
                    f"got {values}")
    pids = {pid for _, pid in got}
    if os.getpid() in pids:
        raise Wrong("some results were computed in this process (the kernel): use worker processes")
    if len(pids) < 2:
        raise Wrong("every result came from one process: use `workers` processes at once")
    serial = 12 * unit  # four odd items of one unit, four even items of two; at once: 3 units
    if elapsed > serial * 0.75:
        raise Wrong(f"it took about as long as one job after another ({serial:g} s): run them at the same time")
    if left:
        raise Wrong(f"{len(left)} worker process(es) were still running after parallel_map returned: "
                    "close and join the pool")
    return f"8 items, results in order, computed by {min(len(pids), 4)} worker processes at once; none left running."


async def _run_all_program(answer) -> dict[str, Any]:
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=4, mp_context=context) as pool:
        for warm in [pool.submit(procs.square, x) for x in range(4)]:  # start the workers first
            warm.result(timeout=10)
        func = functools.partial(procs.pid_square, unit=UNIT)
        start = time.perf_counter()
        async with asyncio_heartbeat(interval=0.02) as heart:
            got = await answer(pool, func, [0, 1, 2, 3])
        elapsed = time.perf_counter() - start
    return {"got": got, "elapsed": elapsed, "silence": heart.longest_gap / heart.interval}


def _run_in_thread(answer) -> dict[str, Any]:
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(asyncio.wait_for(_run_all_program(answer), 20))
        except BaseException as error:  # handed to the calling thread
            box["error"] = error

    worker = threading.Thread(target=target, name="ch10-check", daemon=True)
    worker.start()
    worker.join(20 + GRACE)
    if worker.is_alive():
        raise Wrong("your code was still running 25 s after the check started: is something waiting forever?")
    if isinstance(box.get("error"), TimeoutError):
        raise Wrong("run_all did not finish within 20 s: is something waiting forever?")
    if "error" in box:
        raise box["error"]
    return box["value"]


@exercise("10.3", title="Keep the loop free",
          hint=("Ask the running loop to run each call in the executor you were given: that gives an "
                "awaitable per call, and the loop stays free while the processes work.",
                "Wait for all those awaitables together, in the order of `args` (not one after the other)."))
def run_all_check(answer) -> str:
    if not callable(answer):
        raise Wrong("pass the function itself: check('10.3', run_all)")
    if not inspect.iscoroutinefunction(answer):
        raise Wrong(f"{getattr(answer, '__name__', 'your function')} must be an `async def` function")
    outcome = _run_in_thread(answer)
    got = outcome["got"]
    if not isinstance(got, list) or len(got) != 4:
        raise Wrong(f"return a list of 4 results, got {got!r}")
    values = [value for value, _ in got]
    if values != [0, 1, 4, 9]:
        raise Wrong(f"the results must be in the order of args: expected [0, 1, 4, 9], got {values}")
    if os.getpid() in {pid for _, pid in got}:
        raise Wrong("the calls ran in this process (threads?): use the process pool you were given")
    if outcome["silence"] > 5:
        raise Wrong(f"the heartbeat went silent for {outcome['silence']:.0f}× its interval: something "
                    "blocked the event loop while the processes worked; await instead")
    verdict = about(outcome["elapsed"], UNIT, (2, 6), unit_name="unit", expected=2)
    if not verdict.holds:
        raise Wrong(f"the four calls took {verdict.text}: they ran one after the other; start them all, "
                    "then wait for all")
    return "4 calls on 4 processes at once, results in order, and the event loop never stopped beating."

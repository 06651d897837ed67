"""Exercises of chapter 10 (processes and coroutines): predict a pool with uneven jobs, a parallel
map that does not read its items ahead, a server whose handler computes in a process pool.

Every pool these checks make comes from the fork context and is shut down and joined before the
checker returns; the jobs are module functions of ``helpers.procs`` (they sleep, they do not
compute, so the checks take the same time on a busy machine). 10.3's answer is an ``async def``
connection handler: the check serves four clients with it from a fresh event loop in a worker
thread, joined before the checker returns (a notebook cell already runs inside the kernel's loop,
where ``asyncio.run`` refuses to start).
"""

from __future__ import annotations

import ast
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
BEAT = 0.02     # seconds between two beats of 10.3's heartbeat
SERVE_UNIT = 4 * UNIT  # 10.3's jobs: long beside connecting, pickling and waking processes on a busy machine


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


def _schedule(workers: int, durations: list[float]) -> float:
    """When a pool of ``workers`` that hands ``durations`` out in order (first free worker) is done."""
    free_at = [0.0] * workers
    for duration in durations:
        first = min(range(workers), key=free_at.__getitem__)
        free_at[first] += duration
    return max(free_at, default=0.0)


@exercise("10.1", title="Predict a pool with uneven jobs",
          hint=("A worker that finishes early does not wait for the others: when does it start its next "
                "job, and which job is next?",
                "Keep, for every worker, the time at which it becomes free. Give each job, in order, to the "
                "worker that becomes free first, and move that worker's time on by the job's length; the pool "
                "is done when the last worker is."))
def predict_pool(answer) -> str:
    if not callable(answer):
        raise Wrong("pass the function itself: check('10.1', pool_time)")
    try:
        params = len(inspect.signature(answer).parameters)
    except (TypeError, ValueError):
        params = 2
    if params != 2:
        raise Wrong("pool_time takes two arguments: pool_time(workers, durations)")
    cases: list[tuple[int, list[float]]] = [
        (2, [3, 1, 1, 1]), (2, [1, 1, 1, 3]), (3, [2, 2, 2, 2]), (3, [1, 2, 3, 4, 5]),
        (2, [5, 1, 1, 1, 1, 1]), (4, [1.5]), (2, []), (1, [0.5, 0.25])]
    for workers, durations in cases:
        expected = _schedule(workers, durations)
        got = answer(workers, list(durations))
        if not isinstance(got, (int, float)) or isinstance(got, bool) or not math.isclose(got, expected):
            raise Wrong(f"pool_time({workers}, {durations}) should be {expected:g}, got {got!r}")
    # A real pool: procs.pid_square sleeps 2 units for even x, 1 for odd; x = 1, 3, 5, 0 in this order.
    order, durations = [1, 3, 5, 0], [1, 1, 1, 2]
    with multiprocessing.get_context("fork").Pool(2) as pool:
        pool.map(procs.square, range(2))  # both workers are up before the clock starts
        start = time.perf_counter()
        pending = [pool.apply_async(procs.pid_square, (x, UNIT)) for x in order]
        for result in pending:
            result.get(timeout=10)
        elapsed = time.perf_counter() - start
        pool.close()
        pool.join()
    predicted = answer(2, durations)
    verdict = about(elapsed, UNIT, (2, 3, 4), unit_name="units", expected=3)
    said = verdict.text.split(" (")[0].replace("× units", " units")
    if not verdict.holds:
        return (f"every case right. A real Pool(2) ran jobs of 1, 1, 1, 2 units in {said}, not the {predicted:g} "
                "your function predicts: this machine is very busy right now (run the check again).")
    return (f"every case right, and a real Pool(2) ran jobs of 1, 1, 1, 2 units in {said}, "
            f"as pool_time(2, [1, 1, 1, 2]) = {predicted:g} says.")


class _ReadAhead(Exception):
    """The answer took an item from the check's iterator further ahead than the bound allows."""


class _Items:
    """The items of 10.2: an iterator that counts what was taken, and refuses to be read too far ahead."""

    def __init__(self, count: int, bound: int) -> None:
        self.count, self.bound = count, bound
        self.taken = 0      # items handed to the answer
        self.given = 0      # results the answer gave back
        self.most = 0       # the most items taken and not yet given back

    def __iter__(self):
        return self

    def __next__(self) -> int:
        if self.taken == self.count:
            raise StopIteration
        self.taken += 1
        self.most = max(self.most, self.taken - self.given)
        if self.taken - self.given > self.bound:
            raise _ReadAhead(f"it took item {self.taken} of {self.count} while it had given back only "
                             f"{self.given} results: {self.taken - self.given} items in hand, more than "
                             f"2 × workers = {self.bound}")
        return self.taken - 1


@exercise("10.2", title="A parallel map that does not read ahead",
          hint=("Pool.map and Pool.imap both take every item before the first result comes back. Which "
                "pool call hands in one job at a time and gives you back a handle on its result?",
                "Keep the handles of the jobs in flight oldest first (a deque); once it holds 2 × workers, "
                "give back the oldest result before you take the next item, and at the end give back the "
                "rest in order. ProcessPoolExecutor's submit returns such a handle."))
def bounded_map_check(answer) -> str:
    if not callable(answer):
        raise Wrong("pass the function itself: check('10.2', bounded_map)")
    workers, count = 3, 18
    items = _Items(count, 2 * workers)
    before = _children()
    # Jobs of 2.5 units (5 for even x): long beside starting a pool and pickling, on a busy machine.
    unit = 2.5 * UNIT
    func = functools.partial(procs.pid_square, unit=unit)
    start = time.perf_counter()
    try:
        results = answer(func, items, workers)
    except _ReadAhead as error:
        raise Wrong(str(error)) from None
    if not inspect.isgenerator(results) and not hasattr(results, "__next__"):
        raise Wrong(f"bounded_map should give results one by one (a generator, with yield), "
                    f"not return a {type(results).__name__}")
    got = []
    try:
        for value in results:
            items.given += 1
            got.append(value)
    except _ReadAhead as error:
        raise Wrong(str(error)) from None
    finally:
        close = getattr(results, "close", None)
        if close is not None:
            close()
    elapsed = time.perf_counter() - start
    left = _children() - before
    if len(got) != count:
        raise Wrong(f"{count} items in, {count} results out: got {len(got)}")
    values = [value for value, _ in got]
    if values != [x * x for x in range(count)]:
        raise Wrong(f"the results must come in the order of the items: expected {[x * x for x in range(count)]}, "
                    f"got {values}")
    pids = {pid for _, pid in got}
    if os.getpid() in pids:
        raise Wrong("some results were computed in this process (the kernel): use worker processes")
    if len(pids) < 2:
        raise Wrong("every result came from one process: keep `workers` processes busy at once")
    serial = 27 * unit  # nine odd items of one unit, nine even items of two
    if elapsed > serial * 0.6:
        raise Wrong(f"it took about as long as one job after another ({serial:g} s): keep the workers busy "
                    "at the same time")
    if left:
        raise Wrong(f"{len(left)} worker process(es) were still running after the last result: "
                    "shut the pool down when the items run out")
    return (f"{count} results in order from {min(len(pids), workers)} worker processes at once, never more than "
            f"{items.most} items in hand (the bound: {items.bound}); none left running.")


async def _serve_clients(answer, pool, func, numbers: list[int]) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    errors: list[BaseException] = []

    def caught(_loop, context) -> None:
        error = context.get("exception") or RuntimeError(context.get("message"))
        if not isinstance(error, asyncio.CancelledError):  # handlers still waiting when the check ends
            errors.append(error)

    loop.set_exception_handler(caught)

    async def handler(reader, writer):
        try:
            await answer(reader, writer, pool, func)
        except Exception as error:  # the learner's handler raised: reported, not logged
            errors.append(error)
            writer.close()

    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]

    async def client(x: int) -> str:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(f"{x}\n".encode())
            await writer.drain()
            line = await asyncio.wait_for(reader.readline(), 10)
            writer.write_eof()
            rest = await asyncio.wait_for(reader.read(), 5)  # the handler must close when the client does
            return line.decode() + rest.decode()
        finally:
            writer.close()

    start = time.perf_counter()
    try:
        async with asyncio_heartbeat(interval=BEAT) as heart:
            replies = await asyncio.gather(*(client(x) for x in numbers), return_exceptions=True)
        elapsed = time.perf_counter() - start
    finally:
        server.close()
    return {"replies": replies, "elapsed": elapsed, "silence": heart.longest_gap / heart.interval,
            "errors": errors}


async def _serve_program(answer) -> dict[str, Any]:
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=4, mp_context=context) as pool:
        for warm in [pool.submit(procs.square, x) for x in range(4)]:  # start the workers first
            warm.result(timeout=10)
        func = functools.partial(procs.pid_square, unit=SERVE_UNIT)
        return await _serve_clients(answer, pool, func, [1, 3, 5, 7])


def _run_in_thread(program) -> dict[str, Any]:
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(asyncio.wait_for(program, 20))
        except BaseException as error:  # handed to the calling thread
            box["error"] = error

    worker = threading.Thread(target=target, name="ch10-check", daemon=True)
    worker.start()
    worker.join(20 + GRACE)
    if worker.is_alive():
        raise Wrong("your code was still running 25 s after the check started: is something waiting forever?")
    if isinstance(box.get("error"), TimeoutError):
        raise Wrong("the check did not finish within 20 s: is something waiting forever?")
    if "error" in box:
        raise box["error"]
    return box["value"]


@exercise("10.3", title="A server that computes in processes",
          hint=("Your handler runs inside the event loop: while it waits for `func` to finish, what happens "
                "to the other clients, and to the loop?",
                "For each line the client sends: have the running loop run `func` in the pool you were given, "
                "await that, then write the result and a newline and drain. Stop, and close the writer, when "
                "the client has nothing more to send."))
def serve_check(answer) -> str:
    if not callable(answer):
        raise Wrong("pass the function itself: check('10.3', handle)")
    if not inspect.iscoroutinefunction(answer):
        raise Wrong(f"{getattr(answer, '__name__', 'your function')} must be an `async def` function")
    try:
        params = len(inspect.signature(answer).parameters)
    except (TypeError, ValueError):
        params = 4
    if params != 4:
        raise Wrong("handle takes four arguments: handle(reader, writer, pool, func)")
    program = _serve_program(answer)
    try:
        outcome = _run_in_thread(program)
    finally:
        program.close()  # never awaited if the thread could not start it: no warning later
    if outcome["errors"]:
        error = outcome["errors"][0]
        if isinstance(error, NotImplementedError):
            raise error  # the stub, untouched: "not solved yet"
        raise Wrong(f"your handler raised {type(error).__name__}: {error}")
    expected = {1: 1, 3: 9, 5: 25, 7: 49}
    pids = set()
    for x, reply in zip(expected, outcome["replies"]):
        if isinstance(reply, BaseException):
            raise Wrong(f"the client that sent {x} got no full reply ({type(reply).__name__}): write the result "
                        "and a newline, and close the connection when the client is done")
        try:
            value = ast.literal_eval(reply.strip())
        except (ValueError, SyntaxError):
            raise Wrong(f"the client that sent {x} got {reply!r}: reply with str(func(x)) and a newline") from None
        if not (isinstance(value, tuple) and len(value) == 2 and value[0] == expected[x]):
            raise Wrong(f"the client that sent {x} got {reply!r}, expected func({x}) = ({expected[x]}, <pid>)")
        pids.add(value[1])
    if os.getpid() in pids:
        raise Wrong("func ran in this process (directly, or in threads): run it in the process pool you were given")
    if outcome["silence"] * BEAT > SERVE_UNIT / 2:  # a blocked loop is silent for a whole job
        raise Wrong(f"the heartbeat went silent for {outcome['silence']:.0f}× its interval: something blocked "
                    "the event loop while the processes worked; await instead")
    verdict = about(outcome["elapsed"], SERVE_UNIT, (1, 4), unit_name="unit")
    if not verdict.holds:
        raise Wrong(f"four clients took {verdict.text} for jobs of one unit each: they were served one after "
                    "the other")
    return ("four clients served at once by one event loop, each answer computed in a worker process, "
            "and the heartbeat never stopped.")

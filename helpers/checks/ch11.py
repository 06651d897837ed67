"""Exercises of chapter 11 (the showdown): measure an asyncio round trip yourself, find where a
process pool starts to pay, and pick a model for jobs the chapter's map does not list as such.

11.1 runs the learner's coroutine function on an event loop of its own, in a thread of its own
(the kernel's loop is busy running the cell), and compares its figure with the reference
ping-pong measured right after it, the same way, in the same thread: a same-run ratio, so a
busy machine slows both alike. 11.2 gives a fake ``measure`` with known pool costs (nothing is
timed). 11.3 gives five jobs from practice, none a line of the chapter's map, and says for each wrong
pick why it does not fit that job.
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
# Five jobs, none of them a line of the chapter's map: each needs the map's reasons applied anew (what
# the job spends its time on, whether the code that waits can change, whether C code lets go of the
# GIL, what another process would have to be sent). For every job, every model of MODELS is either
# right or has a reason of its own for that job (tests/test_ch11_checks.py checks both).

HASH = "SHA-256 of each 50 MB upload as it arrives in this process, on 8 cores"
TOML = "parse 10,000 TOML files with tomllib (pure Python), one small summary each, on 8 cores"
POLLS = "10,000 idle long polls in a Flask app whose blocking code (requests, PyMySQL) must stay as is"
CALLS = "a script making 1,000 calls with requests, each waiting about a second for a slow API"
PROXY = "an asyncio proxy at 100% of a one-core machine; the profile blames the event loop itself"

_ONE_THREAD = ("generator", "select loop", "home loop", "asyncio", "uvloop", "greenlet", "gevent")
_OWN_LOOPS = ("generator", "select loop", "home loop")
_NO_HUB = ("greenlets switch only where your code says so: nothing turns a blocking socket call into a "
           "switch, so the first call that waits stops all the others. What would have to change inside "
           "requests' socket calls?")
_NOT_SEEN = ("requests (and PyMySQL) read their own sockets and block in them: a loop of your own never "
             "sees those sockets, so nothing can switch while one call waits")


def _reasons(groups: dict[str | tuple[str, ...], str]) -> dict[str, str]:
    """{model or models: reason} -> {model: reason}."""
    return {model: reason for key, reason in groups.items()
            for model in ((key,) if isinstance(key, str) else key)}


JOBS: dict[str, frozenset[str]] = {  # job -> the models that fit it
    HASH: frozenset({"thread"}),
    TOML: frozenset({"process"}),
    POLLS: frozenset({"gevent"}),
    CALLS: frozenset({"thread", "gevent"}),
    PROXY: frozenset({"uvloop"}),
}
REASONS: dict[str, dict[str, str]] = {  # job -> {a model that does not fit: why not, for this job}
    HASH: _reasons({
        "process": "a worker process would first be sent the 50 MB: pickled, copied through a pipe and "
                   "unpickled, which costs several times the hash itself (measure it: send 50 MB of bytes "
                   "to a ProcessPoolExecutor). Does hashlib's C code hold the GIL while it hashes?",
        _ONE_THREAD: "hashing is CPU work: in one thread the uploads are hashed one after another on one core, "
                     "and each hash stops everything else that thread runs",
    }),
    TOML: _reasons({
        "thread": "tomllib is written in Python, so a parse holds the GIL: threads take turns on one core "
                  "(the core race above shows it); only a free-threaded build would change that",
        _ONE_THREAD: "parsing is CPU work in Python: one thread parses on one core, one file after another",
    }),
    POLLS: _reasons({
        ("asyncio", "uvloop"): "the app's code blocks (requests, PyMySQL): on an event loop each blocking call "
                               "stops every other client, and making that code await is the rewrite the job rules out",
        "thread": "a thread per long poll would work, but the echo bench above measured a thread per "
                  "connection at several times gevent's memory per connection, and these 10,000 clients are "
                  "idle nearly all the time: what else can switch away from blocking code on Python's sockets?",
        "process": "a process per long poll: about a megabyte each, 10,000 of them, to wait",
        "greenlet": _NO_HUB,
        _OWN_LOOPS: _NOT_SEEN,
    }),
    CALLS: _reasons({
        ("asyncio", "uvloop"): "requests blocks: called in a coroutine it stops the loop, so the 1,000 calls run "
                               "one after another; a loop helps only code that awaits",
        "process": "each call waits, it does not compute: a process per call costs about a megabyte to wait on "
                   "one socket, and a small pool of processes waits for only as many calls at a time",
        "greenlet": _NO_HUB,
        _OWN_LOOPS: _NOT_SEEN,
    }),
    PROXY: _reasons({
        "asyncio": "it runs on asyncio already: the profile says the loop's own work is the cost, so the same "
                   "loop gives the same rate. Which part could be replaced without touching your code?",
        "thread": "threads share the GIL and this one core: more of them add switches, not CPU",
        "process": "with one core a second process shares it, and its loop spends the same CPU per request: a "
                   "fleet of processes pays off once there are more cores",
        ("gevent", "greenlet"): "the proxy is written for asyncio: moving it to greenlets is a rewrite, and "
                                "nothing says their loop does less work per event",
        _OWN_LOOPS: "a loop of your own is a rewrite that does, in Python, the very work the profile blames",
    }),
}
WHY = {  # job -> why its models fit, said once the exercise is solved
    HASH: "hashlib lets go of the GIL while it hashes a large buffer, so threads hash on 8 cores and no upload "
          "is copied to another process",
    TOML: "tomllib holds the GIL, and a worker is sent a file name and returns a small summary: processes get "
          "8 cores for almost nothing",
    POLLS: "gevent's monkey patching turns the blocking calls on Python's sockets into greenlet switches, a few "
           "KB per client, with the code unchanged (gunicorn's gevent worker does this)",
    CALLS: "1,000 waits are cheap on threads (a pool, or one thread each) and on gevent (patched before "
           "requests is imported); a thread costs more memory, but 1,000 of them fit",
    PROXY: "uvloop replaces the loop with one written in Cython over libuv, one line at start-up, and your code "
           "stays as it is",
}
MODEL_NAMES = set(MODELS)  # chapter 11's own names (helpers._model_names)


def _sentence(text: str) -> str:
    return text if text.endswith((".", "?")) else text + "."


def _unknown_model(job: str, model: str) -> Wrong:
    """A clear message for a name that is not one of MODELS ("threads", "Process", "uv loop")."""
    squeezed = "".join(model.lower().replace("-", " ").replace("_", " ").split())
    near = [name for name in MODELS if squeezed in {name.replace(" ", "") + end for end in ("", "s", "es")}]
    if near:
        return Wrong(f"{model!r} for {job!r}: the model is called {near[0]!r}")
    return Wrong(f"{model!r} (for {job!r}) is not one of the models: {', '.join(map(repr, MODELS))}")


@exercise("11.3", title="Pick a model for each job",
          hint=("For each job: does it spend its time waiting, running Python code, or running C code that lets "
                "go of the GIL? Can the code that waits be changed? What would another process have to be sent?",
                "Sort the jobs first: two wait on the network, two compute, one is limited by its event loop. "
                "For the waiting ones, ask whether the blocking code can be made to await, and how many waits "
                "there are at once. For the computing ones, ask whether the work is Python or C, and compare "
                "what a worker would be sent with the work it would do.",
                "Blocking code that must stay as it is can be switched away from by the OS, or by gevent if its "
                "sockets are Python's; memory per wait decides between them. Python code needs more processes "
                "for more cores, worth it when little is sent; C code that lets go of the GIL uses more cores "
                "from threads. A loop that is the bottleneck on one core: what else could run your coroutines?"))
def pick(answer) -> str:
    if not isinstance(answer, dict):
        raise Wrong(f"answer with a dict {{job: model}}, one entry per job of the list, not {type(answer).__name__}")
    if answer and all(model is ... for model in answer.values()):
        raise NotImplementedError  # the stub, untouched
    for job in answer:
        if job not in JOBS:
            missing = [wanted for wanted in JOBS if wanted not in answer]
            also = f" (no model yet for {missing[0]!r})" if missing else ""
            raise Wrong(f"{job!r} is not one of the jobs: keep each job's text as it was given{also}")
    for job in JOBS:
        if job not in answer:
            raise Wrong(f"no model for the job {job!r}")
        model = answer[job]
        if model is ... or model is None:
            raise Wrong(f"no model yet for {job!r}: replace its ... with one of MODELS")
        if not isinstance(model, str):
            raise Wrong(f"{model!r} for {job!r}: give one model's name, a str from MODELS such as 'thread'")
        if model not in MODEL_NAMES:
            raise _unknown_model(job, model)
    misfits = [_sentence(f"{answer[job]!r} for {job!r}: {REASONS[job][answer[job]]}")
               for job in JOBS if answer[job] not in JOBS[job]]
    if misfits:
        count = f"{len(misfits)} of {len(JOBS)} picks do not fit yet. " if len(misfits) > 1 else ""
        raise Wrong(count + " ".join(misfits))
    return "each model fits what its job spends its time on: " + "; ".join(WHY.values()) + "."

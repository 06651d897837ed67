"""Exercises of chapter 11 (the showdown): best of several batches, a timer heap whose sleepers
finish together, and picking a model for a job.

Nothing here measures the machine: 11.1 gets a fake batch function with known times, 11.2 sleeps
for a fraction of a second, 11.3 compares answers with the chapter's map.
"""

from __future__ import annotations

import time

from helpers.exercises import Wrong, exercise


def _callable(answer: object, call: str) -> None:
    if not callable(answer):
        raise Wrong(f"pass the function itself: {call}")


def _fake_batch(times: list[float], calls: list[int]):
    """A batch function that reports the given seconds, one per call, and records its arguments."""
    asked = len(times)

    def batch(n: int) -> float:
        calls.append(n)
        if not times:
            raise Wrong(f"the batch function was called more than the {asked} batches asked for")
        return times.pop(0)

    return batch


@exercise("11.1", title="Best of several batches",
          hint=("Call the batch function once per batch, each time with the same number of round trips.",
                "Which batch is the least disturbed by other programs: the slowest, the average, or the "
                "fastest? And the batch function returns seconds for a whole batch, not for one round trip."))
def best_of(answer) -> str:
    _callable(answer, "check('11.1', per_round_trip)")
    for times, rounds in (([0.5, 0.2, 0.9, 0.3], 100), ([0.004, 0.006, 0.003], 1000), ([2.0], 4)):
        calls: list[int] = []
        batch = _fake_batch(list(times), calls)
        got = answer(batch, rounds, len(times))
        if calls != [rounds] * len(times):
            raise Wrong(f"per_round_trip(batch, {rounds}, {len(times)}) should call batch({rounds}) "
                        f"{len(times)} times; it made the calls {calls}")
        want = min(times) / rounds
        if not isinstance(got, (int, float)) or abs(got - want) > want * 1e-9:
            raise Wrong(f"batches took {times} s for {rounds} round trips each: expected {want:g} s per "
                        f"round trip, got {got!r}")
    return "the fastest batch, divided by its round trips: the least disturbed figure."


@exercise("11.2", title="Sleepers on a timer heap",
          hint=("Keep the timers in a heap ordered by deadline (heapq); the loop sleeps until the earliest "
                "one, fires it, and goes on.",
                "Deadlines are absolute times (time.monotonic() + delay), computed once at the start: "
                "then the whole run lasts as long as the longest delay, not their sum. Equal deadlines "
                "fire in the order they were given: put a counter in each heap entry."))
def timer_heap(answer) -> str:
    _callable(answer, "check('11.2', run_timers)")
    timers = [(0.15, "c"), (0.05, "a"), (0.1, "b1"), (0.0, "now"), (0.1, "b2"), (0.2, "last"), (0.1, "b0")]
    start = time.monotonic()
    got = answer(list(timers))
    elapsed = time.monotonic() - start
    want = ["now", "a", "b1", "b2", "b0", "c", "last"]
    if got is None:
        raise Wrong("run_timers(...) returned None: return the names in the order they fired")
    if list(got) != want:
        raise Wrong(f"timers {timers} should fire in the order {want}, got {list(got)!r} (equal delays "
                    "fire in the order given)")
    if elapsed < 0.19:
        raise Wrong(f"it returned after {elapsed:.2f} s: the last timer is due after 0.2 s, so the loop "
                    "must wait for it (sleep until each deadline)")
    if elapsed > 0.45:
        raise Wrong(f"it took {elapsed:.2f} s for delays whose longest is 0.2 s: the sleepers should wait "
                    "at the same time (deadlines from the start), not one after another")
    return "seven sleepers in 0.2 s, in deadline order: as long as the slowest, not their sum."


JOBS = {
    "10,000 mostly idle websocket clients on one server": {"asyncio", "uvloop", "gevent"},
    "resize 500 photos on a machine with 8 cores": {"process"},
    "20 calls into a blocking database driver you cannot change": {"thread"},
    "read a 10 GB log file lazily, one line at a time, inside one function": {"generator"},
}
MODEL_NAMES = {"generator", "greenlet", "gevent", "select loop", "home loop", "asyncio", "uvloop", "thread", "process"}


@exercise("11.3", title="Pick a model for each job",
          hint=("Look at the closing map above, and at which models need a thread, a process, or neither.",
                "Waiting connections want the cheapest sleeper that does I/O; CPU-bound work wants cores; "
                "a blocking library you cannot change wants something the OS can switch away from."))
def pick(answer) -> str:
    if not isinstance(answer, dict):
        raise Wrong("answer with a dict {job: model}, one entry per job of the list JOBS")
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
            raise Wrong(f"{answer[job]!r} for {job!r}: look again at what that job spends its time on")
    return "each job has a model that fits what it spends its time on."

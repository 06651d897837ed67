"""Reference solutions (and answers that must fail) for chapter 11's exercises."""

import heapq
import itertools
import time


def per_round_trip(batch, rounds, batches):
    return min(batch(rounds) for _ in range(batches)) / rounds


def per_round_trip_mean(batch, rounds, batches):  # the average keeps every disturbance in
    return sum(batch(rounds) for _ in range(batches)) / batches / rounds


def per_round_trip_slowest(batch, rounds, batches):
    return max(batch(rounds) for _ in range(batches)) / rounds


def per_batch(batch, rounds, batches):  # seconds per batch, not per round trip
    return min(batch(rounds) for _ in range(batches))


def one_batch(batch, rounds, batches):
    return batch(rounds) / rounds


def run_timers(timers):
    start = time.monotonic()
    order = itertools.count()
    heap = [(start + delay, next(order), name) for delay, name in timers]
    heapq.heapify(heap)
    fired = []
    while heap:
        deadline, _, name = heapq.heappop(heap)
        time.sleep(max(0.0, deadline - time.monotonic()))
        fired.append(name)
    return fired


def run_timers_sorted(timers):  # sorted() is stable too: ties keep the given order
    start = time.monotonic()
    fired = []
    for delay, name in sorted(timers, key=lambda timer: timer[0]):
        time.sleep(max(0.0, start + delay - time.monotonic()))
        fired.append(name)
    return fired


def run_timers_one_after_another(timers):  # each sleep starts when the previous ends: the sum
    fired = []
    for delay, name in sorted(timers, key=lambda timer: timer[0]):
        time.sleep(delay)
        fired.append(name)
    return fired


def run_timers_ties_by_name(timers):  # equal deadlines fire by name, not in the order given
    start = time.monotonic()
    heap = [(start + delay, name) for delay, name in timers]
    heapq.heapify(heap)
    fired = []
    while heap:
        deadline, name = heapq.heappop(heap)
        time.sleep(max(0.0, deadline - time.monotonic()))
        fired.append(name)
    return fired


def run_timers_no_sleep(timers):  # the right order, at once: nobody waited
    return [name for _, name in sorted(timers, key=lambda timer: timer[0])]


PICKS = {
    "10,000 mostly idle websocket clients on one server": "asyncio",
    "resize 500 photos on a machine with 8 cores": "process",
    "20 calls into a blocking database driver you cannot change": "thread",
    "read a 10 GB log file lazily, one line at a time, inside one function": "generator",
}

SOLUTIONS = {
    "11.1": per_round_trip,
    "11.2": run_timers,
    "11.3": PICKS,
}

ALSO_RIGHT = {
    "11.2": [run_timers_sorted],
    "11.3": [{**PICKS, "10,000 mostly idle websocket clients on one server": "gevent"}],
}

WRONG = {
    "11.1": [per_round_trip_mean, per_round_trip_slowest, per_batch, one_batch],
    "11.2": [run_timers_one_after_another, run_timers_ties_by_name, run_timers_no_sleep],
    "11.3": [
        {**PICKS, "10,000 mostly idle websocket clients on one server": "thread"},
        {**PICKS, "resize 500 photos on a machine with 8 cores": "asyncio"},
        {**PICKS, "20 calls into a blocking database driver you cannot change": "asyncio"},
        {**PICKS, "read a 10 GB log file lazily, one line at a time, inside one function": "process"},
        list(PICKS.values()),
    ],
}

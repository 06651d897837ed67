"""Reference solutions (and answers that must fail) for chapter 11's exercises.

CHAPTER_CODE holds, for each exercise, what a learner gets by copying the chapter's own cells
(the generator round trip of section 3, the map's first picks): none of it may pass.
"""

import asyncio
import time


async def ping_pong(rounds):
    async def player():
        for _ in range(rounds):
            await asyncio.sleep(0)

    start = time.thread_time()
    await asyncio.gather(player(), player())
    return (time.thread_time() - start) / rounds


async def ping_pong_process_time(rounds):  # every thread's CPU: the same figure when the others are idle
    async def player():
        for _ in range(rounds):
            await asyncio.sleep(0)

    start = time.process_time()
    await asyncio.gather(asyncio.create_task(player()), asyncio.create_task(player()))
    return (time.process_time() - start) / rounds


async def ping_pong_per_batch(rounds):  # seconds for the whole batch, not per round trip
    async def player():
        for _ in range(rounds):
            await asyncio.sleep(0)

    start = time.thread_time()
    await asyncio.gather(player(), player())
    return time.thread_time() - start


async def ping_pong_one_task(rounds):  # one task yielding to nobody: no hand-off at all
    start = time.thread_time()
    for _ in range(rounds):
        await asyncio.sleep(0)
    return (time.thread_time() - start) / rounds


def ping_pong_not_async(rounds):  # a plain function cannot await
    return 5e-6


async def ping_pong_sleeps(rounds):  # real sleeps: waiting, not switching
    async def player():
        for _ in range(rounds // 100):
            await asyncio.sleep(0.001)

    start = time.perf_counter()
    await asyncio.gather(player(), player())
    return (time.perf_counter() - start) / (rounds // 100)


def break_even(measure, sizes, chunksizes):
    for size in sizes:
        best = min(chunksizes, key=lambda c: measure(size, c)[1])
        serial, pool = measure(size, best)
        if pool < serial:
            return size, best
    return -1, 0


def break_even_chunksize_one(measure, sizes, chunksizes):  # pool.map's default chunksize only
    for size in sizes:
        serial, pool = measure(size, 1)
        if pool < serial:
            return size, 1
    return -1, 0


def break_even_biggest_chunks(measure, sizes, chunksizes):  # one chunk per job list: one worker computes all
    for size in sizes:
        serial, pool = measure(size, max(chunksizes))
        if pool < serial:
            return size, max(chunksizes)
    return -1, 0


def break_even_last(measure, sizes, chunksizes):  # the largest size, not the first that pays
    found = (-1, 0)
    for size in sizes:
        best = min(chunksizes, key=lambda c: measure(size, c)[1])
        if measure(size, best)[1] < measure(size, best)[0]:
            found = (size, best)
    return found


HASH = "SHA-256 of each 50 MB upload as it arrives in this process, on 8 cores"
TOML = "parse 10,000 TOML files with tomllib (pure Python), one small summary each, on 8 cores"
POLLS = "10,000 idle long polls in a Flask app whose blocking code (requests, PyMySQL) must stay as is"
CALLS = "a script making 1,000 calls with requests, each waiting about a second for a slow API"
PROXY = "an asyncio proxy at 100% of a one-core machine; the profile blames the event loop itself"

PICKS = {HASH: "thread", TOML: "process", POLLS: "gevent", CALLS: "thread", PROXY: "uvloop"}

SOLUTIONS = {
    "11.1": ping_pong,
    "11.2": break_even,
    "11.3": PICKS,
}

ALSO_RIGHT = {
    "11.1": [ping_pong_process_time],
    "11.3": [{**PICKS, CALLS: "gevent"}, dict(reversed(PICKS.items()))],
}

WRONG = {
    "11.1": [ping_pong_per_batch, ping_pong_one_task, ping_pong_not_async, ping_pong_sleeps],
    "11.2": [break_even_chunksize_one, break_even_biggest_chunks, break_even_last],
    "11.3": [
        {**PICKS, HASH: "process"},     # 50 MB sent to a worker costs more than hashing it
        {**PICKS, TOML: "thread"},      # pure Python holds the GIL
        {**PICKS, POLLS: "asyncio"},    # the blocking code would stop the loop
        {**PICKS, POLLS: "thread"},     # 10,000 idle threads, where greenlets run the same code
        {**PICKS, CALLS: "asyncio"},    # requests blocks the loop
        {**PICKS, CALLS: "greenlet"},   # no hub, nothing patched
        {**PICKS, PROXY: "asyncio"},    # the loop it has is the cost
        {**PICKS, PROXY: "process"},    # one core
        list(PICKS.values()),
        {**PICKS, HASH: "threads"},     # not a name of MODELS
        {**PICKS, HASH: ...},           # one job left unanswered
        {job: model for job, model in PICKS.items() if job != PROXY},
    ],
}


# --- the chapter's own code, copied into the exercises: must not pass ------------------------------


def _generator_round_trip(rounds):  # section 3's cell: a generator's send, timed
    import timeit

    def echo():
        value = None
        while True:
            value = yield value

    task = echo()
    next(task)
    return min(timeit.repeat("send(1)", globals={"send": task.send}, number=rounds, repeat=5)) / rounds


async def _generator_round_trip_async(rounds):  # the same, dressed as a coroutine function
    return _generator_round_trip(rounds)


def _map_break_even(measure, sizes, chunksizes):  # the map's CPU-bound line: "processes", whatever the size
    return sizes[0], chunksizes[0]


# The closing map (chapter 11, cell 36) as stored: each line's job and its first-ranked model, in
# MODELS' names (the map says "threads", "processes"). tests/test_ch11_checks.py reads them back from
# the stored output and from helpers.showdown.choose() on other figures.
MAP_FIRST = {
    "10,000 mostly idle connections on one server": "asyncio",
    "20 calls into a blocking driver you cannot change": "thread",
    "CPU-bound pure-Python work": "process",
    "a lazy pipeline inside one function": "generator",
}
IDLE, BLOCKING, CPU, PIPELINE = MAP_FIRST
# For each job, the map's lines it sounds like (the nearest first): a learner who copies from the map.
NEAREST = {
    HASH: (CPU,),
    TOML: (CPU,),
    POLLS: (IDLE, BLOCKING),
    CALLS: (BLOCKING, IDLE),
    PROXY: (IDLE, CPU),
}
COPIED_FROM_THE_MAP = {job: MAP_FIRST[lines[0]] for job, lines in NEAREST.items()}

CHAPTER_CODE = {
    "11.1": [_generator_round_trip, _generator_round_trip_async],
    "11.2": [_map_break_even],
    # the map's first pick for the line each job sounds like
    "11.3": [COPIED_FROM_THE_MAP],
}

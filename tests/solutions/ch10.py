"""Reference solutions (and answers that must fail) for chapter 10's exercises."""

import asyncio
import collections
import heapq
import math
import multiprocessing
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, ThreadPoolExecutor, as_completed, wait

from helpers import procs


def pool_time(workers, durations):
    free_at = [0] * workers  # a heap: when each worker is free again
    for duration in durations:
        heapq.heappush(free_at, heapq.heappop(free_at) + duration)
    return max(free_at)


def pool_time_loop(workers, durations):  # the same schedule without a heap
    free_at = [0] * workers
    for duration in durations:
        first = free_at.index(min(free_at))
        free_at[first] += duration
    return max(free_at)


def pool_time_rounds(workers, durations):  # the chapter's rule with the longest job as the unit
    return math.ceil(len(durations) / workers) * max(durations, default=0)


def pool_time_balanced(workers, durations):  # as if the work could be cut into equal shares
    return sum(durations) / workers


def pool_time_round_robin(workers, durations):  # job i to worker i % workers, as if dealt out in advance
    return max((sum(durations[i::workers]) for i in range(workers)), default=0)


def pool_time_longest(workers, durations):  # forgets that jobs queue behind each other
    return max(durations, default=0)


def pool_time_sorted(workers, durations):  # hands out the longest jobs first: a better plan, not the pool's
    return pool_time(workers, sorted(durations, reverse=True))


def pool_time_chapter(workers, jobs, unit):  # chapter 10's own rule, for equal jobs (c20)
    return math.ceil(jobs / workers) * unit


def bounded_map(func, items, workers):
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
        in_flight = collections.deque()
        for item in items:
            in_flight.append(pool.submit(func, item))
            if len(in_flight) >= 2 * workers:
                yield in_flight.popleft().result()
        while in_flight:
            yield in_flight.popleft().result()


def bounded_map_pool(func, items, workers):  # the same with a Pool's apply_async
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        in_flight = collections.deque()
        for item in items:
            in_flight.append(pool.apply_async(func, (item,)))
            if len(in_flight) >= 2 * workers:
                yield in_flight.popleft().get(timeout=30)
        while in_flight:
            yield in_flight.popleft().get(timeout=30)
        pool.close()
        pool.join()


def map_reads_all(func, items, workers):  # Pool.map makes a list of the items first
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        yield from pool.map(func, items)


def map_imap(func, items, workers):  # imap's feeder thread reads every item ahead
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        yield from pool.imap(func, items)


def map_serial(func, items, workers):  # in this process, one at a time
    for item in items:
        yield func(item)


def map_threads(func, items, workers):  # bounded and in order, but threads of this process
    with ThreadPoolExecutor(workers) as pool:
        in_flight = collections.deque()
        for item in items:
            in_flight.append(pool.submit(func, item))
            if len(in_flight) >= 2 * workers:
                yield in_flight.popleft().result()
        while in_flight:
            yield in_flight.popleft().result()


def map_unordered(func, items, workers):  # bounded, but results in the order they finish
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
        in_flight = set()
        for item in items:
            in_flight.add(pool.submit(func, item))
            if len(in_flight) >= 2 * workers:
                done, in_flight = wait(in_flight, return_when=FIRST_COMPLETED)
                yield from (future.result() for future in done)
        for future in as_completed(in_flight):
            yield future.result()


def map_one_at_a_time(func, items, workers):  # bounded and in order, but one job at a time
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
        for item in items:
            yield pool.submit(func, item).result()


def map_returns_a_list(func, items, workers):  # right results, but all at the end
    return list(bounded_map(func, items, workers))


def chapter_pool_map(func, items, workers):  # chapter 10's way (the race's in_processes, c34)
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        runs = pool.map(func, items)
        pool.close()
        pool.join()
    return runs


def chapter_apply_async(func, items, workers):  # chapter 10's apply_async cell (c19), as a function
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        pending = [pool.apply_async(func, (item,)) for item in items]
        results = [result.get(timeout=10) for result in pending]
        pool.close()
        pool.join()
    return results


async def handle(reader, writer, pool, func):
    loop = asyncio.get_running_loop()
    while line := await reader.readline():
        result = await loop.run_in_executor(pool, func, int(line))
        writer.write(f"{result}\n".encode())
        await writer.drain()
    writer.close()


async def handle_async_for(reader, writer, pool, func):  # a reader is also an async iterator of lines
    loop = asyncio.get_running_loop()
    async for line in reader:
        writer.write(b"%s\n" % str(await loop.run_in_executor(pool, func, int(line))).encode())
        await writer.drain()
    writer.close()
    await writer.wait_closed()


async def handle_direct(reader, writer, pool, func):  # computes in the event loop itself
    while line := await reader.readline():
        writer.write(f"{func(int(line))}\n".encode())
        await writer.drain()
    writer.close()


async def handle_blocking_result(reader, writer, pool, func):  # the pool computes, the loop waits blocked
    while line := await reader.readline():
        writer.write(f"{pool.submit(func, int(line)).result()}\n".encode())
        await writer.drain()
    writer.close()


async def handle_threads(reader, writer, pool, func):  # the loop's default executor: threads of this process
    loop = asyncio.get_running_loop()
    while line := await reader.readline():
        writer.write(f"{await loop.run_in_executor(None, func, int(line))}\n".encode())
        await writer.drain()
    writer.close()


async def handle_never_closes(reader, writer, pool, func):  # answers, but keeps every connection open
    loop = asyncio.get_running_loop()
    while line := await reader.readline():
        writer.write(f"{await loop.run_in_executor(pool, func, int(line))}\n".encode())
        await writer.drain()
    await asyncio.sleep(3600)


async def handle_one_at_a_time(reader, writer, pool, func):  # one lock for all clients: served in turn
    async with _TURN:
        await handle(reader, writer, pool, func)


_TURN = asyncio.Lock()  # a Lock binds to a loop only when first contended (3.10+)


async def crunch(pool, sizes):  # chapter 10's own code (the cell with run_in_executor and gather)
    loop = asyncio.get_running_loop()
    return await asyncio.gather(*(loop.run_in_executor(pool, procs.burn, size) for size in sizes))


async def echo(reader, writer):  # chapter 10's own handler (the fleet's echo)
    while data := await reader.read(65536):
        writer.write(data)
        await writer.drain()
    writer.close()


async def echo_with_pool(reader, writer, pool, func):  # the chapter's echo, given the arguments it ignores
    await echo(reader, writer)


SOLUTIONS = {
    "10.1": pool_time,
    "10.2": bounded_map,
    "10.3": handle,
}

ALSO_RIGHT = {
    "10.1": [pool_time_loop],
    "10.2": [bounded_map_pool],
    "10.3": [handle_async_for],
}

WRONG = {
    "10.1": [pool_time_rounds, pool_time_balanced, pool_time_round_robin, pool_time_longest, pool_time_sorted,
             "pool_time"],
    "10.2": [map_reads_all, map_imap, map_serial, map_threads, map_unordered, map_one_at_a_time,
             map_returns_a_list],
    "10.3": [handle_direct, handle_blocking_result, handle_threads, handle_never_closes, handle_one_at_a_time,
             "handle"],
}

# The chapter's own code, offered as the answer: an exercise must need the idea in a new setting.
CHAPTER_CODE = {
    "10.1": [pool_time_chapter, pool_time_rounds],
    "10.2": [chapter_pool_map, chapter_apply_async],
    "10.3": [crunch, echo, echo_with_pool],
}

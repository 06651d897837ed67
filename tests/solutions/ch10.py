"""Reference solutions (and answers that must fail) for chapter 10's exercises."""

import asyncio
import math
import multiprocessing
from concurrent.futures import ThreadPoolExecutor


def pool_time(workers, jobs, unit):
    return math.ceil(jobs / workers) * unit


def pool_time_divided(workers, jobs, unit):  # 11 jobs on 5 workers are 3 rounds, not 2.2
    return jobs / workers * unit


def pool_time_serial(workers, jobs, unit):  # what apply (one at a time) would take
    return jobs * unit


def pool_time_floor(workers, jobs, unit):  # forgets the last, partly filled round
    return jobs // workers * unit


def parallel_map(func, items, workers):
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        return pool.map(func, items)


def parallel_map_async(func, items, workers):
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        pending = [pool.apply_async(func, (item,)) for item in items]
        results = [result.get(timeout=30) for result in pending]
        pool.close()
        pool.join()
        return results


def map_serial(func, items, workers):  # in this process, one at a time
    return [func(item) for item in items]


def map_threads(func, items, workers):  # at the same time, but in this process
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(func, items))


def map_unordered(func, items, workers):  # results in the order they finish
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        return list(pool.imap_unordered(func, items))


def map_one_at_a_time(func, items, workers):  # a pool used like `apply`
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        return [pool.apply(func, (item,)) for item in items]


async def run_all(pool, func, args):
    loop = asyncio.get_running_loop()
    return await asyncio.gather(*(loop.run_in_executor(pool, func, arg) for arg in args))


async def run_all_blocking(pool, func, args):  # pool.map blocks the event loop meanwhile
    return list(pool.map(func, args))


async def run_all_one_by_one(pool, func, args):  # awaits each call before starting the next
    loop = asyncio.get_running_loop()
    return [await loop.run_in_executor(pool, func, arg) for arg in args]


async def run_all_threads(pool, func, args):  # the loop's default executor: threads of this process
    loop = asyncio.get_running_loop()
    return await asyncio.gather(*(loop.run_in_executor(None, func, arg) for arg in args))


async def run_all_unordered(pool, func, args):
    loop = asyncio.get_running_loop()
    futures = [loop.run_in_executor(pool, func, arg) for arg in args]
    return [await future for future in asyncio.as_completed(futures)]


def run_all_not_async(pool, func, args):
    return list(pool.map(func, args))


SOLUTIONS = {
    "10.1": pool_time,
    "10.2": parallel_map,
    "10.3": run_all,
}

ALSO_RIGHT = {
    "10.2": [parallel_map_async],
}

WRONG = {
    "10.1": [pool_time_divided, pool_time_serial, pool_time_floor, "pool_time"],
    "10.2": [map_serial, map_threads, map_unordered, map_one_at_a_time],
    "10.3": [run_all_blocking, run_all_one_by_one, run_all_threads, run_all_unordered, run_all_not_async],
}

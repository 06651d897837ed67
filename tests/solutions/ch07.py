"""Reference solutions (and answers that must fail) for chapter 07's exercises."""

import asyncio


async def fastest(fetch, mirrors):
    tasks = [asyncio.create_task(fetch(mirror)) for mirror in mirrors]
    try:
        for finished in asyncio.as_completed(tasks):
            try:
                return await finished
            except OSError as error:
                last = error
        raise last
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def fastest_with_wait(fetch, mirrors):
    pending = {asyncio.create_task(fetch(mirror)) for mirror in mirrors}
    try:
        while pending:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if task.exception() is None:
                    return task.result()
        raise task.exception()
    finally:
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)


async def fastest_first_completed(fetch, mirrors):  # the first to finish may have failed
    tasks = [asyncio.create_task(fetch(mirror)) for mirror in mirrors]
    done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    await asyncio.wait(pending)
    return done.pop().result()


async def fastest_not_cancelling(fetch, mirrors):  # the slower mirrors go on downloading
    tasks = [asyncio.create_task(fetch(mirror)) for mirror in mirrors]
    for finished in asyncio.as_completed(tasks):
        try:
            return await finished
        except OSError as error:
            last = error
    raise last


async def fastest_not_waiting(fetch, mirrors):  # cancelled, but not stopped yet on return
    tasks = [asyncio.create_task(fetch(mirror)) for mirror in mirrors]
    for finished in asyncio.as_completed(tasks):
        try:
            result = await finished
        except OSError:
            continue
        for task in tasks:
            task.cancel()
        return result
    raise OSError("all down")


async def fetch_with_retry(fetch, attempts, timeout, backoff):
    for attempt in range(attempts):
        try:
            async with asyncio.timeout(timeout):
                return await fetch()
        except (TimeoutError, OSError):
            if attempt == attempts - 1:
                raise
        await asyncio.sleep(backoff * 2 ** attempt)


async def retry_constant_backoff(fetch, attempts, timeout, backoff):
    for attempt in range(attempts):
        try:
            return await asyncio.wait_for(fetch(), timeout)
        except (TimeoutError, OSError):
            if attempt == attempts - 1:
                raise
        await asyncio.sleep(backoff)


async def retry_everything(fetch, attempts, timeout, backoff):
    for attempt in range(attempts):
        try:
            return await asyncio.wait_for(fetch(), timeout)
        except Exception:
            if attempt == attempts - 1:
                raise
        await asyncio.sleep(backoff * 2 ** attempt)


async def retry_returning_none(fetch, attempts, timeout, backoff):
    for attempt in range(attempts):
        try:
            return await asyncio.wait_for(fetch(), timeout)
        except (TimeoutError, OSError):
            await asyncio.sleep(backoff * 2 ** attempt)
    return None


async def bounded_gather(jobs, limit):
    gate = asyncio.Semaphore(limit)

    async def one(job):
        async with gate:
            return await job()

    return await asyncio.gather(*(one(job) for job in jobs))


async def bounded_workers(jobs, limit):
    results = [None] * len(jobs)
    numbers = iter(range(len(jobs)))

    async def worker():
        for number in numbers:
            results[number] = await jobs[number]()

    async with asyncio.TaskGroup() as group:
        for _ in range(limit):
            group.create_task(worker())
    return results


async def gather_unbounded(jobs, limit):
    return await asyncio.gather(*(job() for job in jobs))


async def one_at_a_time(jobs, limit):
    return [await job() for job in jobs]


async def bounded_unordered(jobs, limit):
    gate = asyncio.Semaphore(limit)

    async def one(job):
        async with gate:
            return await job()

    return [await next_done for next_done in asyncio.as_completed([one(job) for job in jobs])]


def not_async(jobs, limit):
    return []


SOLUTIONS = {
    "07.1": fastest,
    "07.2": fetch_with_retry,
    "07.3": bounded_gather,
}

ALSO_RIGHT = {
    "07.1": [fastest_with_wait],
    "07.3": [bounded_workers],
}

WRONG = {
    "07.1": [fastest_first_completed, fastest_not_cancelling, fastest_not_waiting, "fastest"],
    "07.2": [retry_constant_backoff, retry_everything, retry_returning_none, not_async],
    "07.3": [gather_unbounded, one_at_a_time, bounded_unordered, not_async],
}

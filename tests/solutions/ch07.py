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


async def retry_swallowing_bugs(fetch, attempts, timeout, backoff):  # a ValueError vanishes into None
    for attempt in range(attempts):
        try:
            async with asyncio.timeout(timeout):
                return await fetch()
        except (TimeoutError, OSError):
            if attempt == attempts - 1:
                raise
        except Exception:
            return None
        await asyncio.sleep(backoff * 2 ** attempt)


async def retry_wrapping_bugs(fetch, attempts, timeout, backoff):  # a ValueError comes out as an OSError
    for attempt in range(attempts):
        try:
            async with asyncio.timeout(timeout):
                return await fetch()
        except (TimeoutError, OSError):
            if attempt == attempts - 1:
                raise
        except Exception as error:
            raise OSError("fetch failed") from error
        await asyncio.sleep(backoff * 2 ** attempt)


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


# The chapter's own code, adapted to each exercise's signature: none of it may pass.
async def chapter_first_of(fetch, mirrors):  # cells 'first of N mirrors': trusts the first answer
    tasks = [asyncio.create_task(fetch(mirror)) for mirror in mirrors]
    try:
        done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        return done.pop().result()
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.wait(tasks)


async def chapter_wait_for(fetch, attempts, timeout, backoff):  # the wait_for cell: one try, no retry
    return await asyncio.wait_for(fetch(), timeout)


async def chapter_timeout_block(fetch, attempts, timeout, backoff):  # the asyncio.timeout cell
    async with asyncio.timeout(timeout):
        return await fetch()


async def chapter_gather(jobs, limit):  # the gather cell: everything at once
    return await asyncio.gather(*(job() for job in jobs))


async def chapter_as_completed(jobs, limit):  # the as_completed cell: in the order they finish
    tasks = [asyncio.create_task(job()) for job in jobs]
    return [await next_one for next_one in asyncio.as_completed(tasks)]


async def bounded_worker_queue(jobs, limit):
    queue = asyncio.Queue()
    for number in range(len(jobs)):
        queue.put_nowait(number)
    results = [None] * len(jobs)

    async def worker():
        while not queue.empty():
            number = queue.get_nowait()
            results[number] = await jobs[number]()

    await asyncio.gather(*(worker() for _ in range(limit)))
    return results


SOLUTIONS = {
    "07.1": fastest,
    "07.2": fetch_with_retry,
    "07.3": bounded_workers,
}

CHAPTER_CODE = {
    "07.1": [chapter_first_of],
    "07.2": [chapter_wait_for, chapter_timeout_block],
    "07.3": [chapter_gather, chapter_as_completed],
}

ALSO_RIGHT = {
    "07.1": [fastest_with_wait],
    "07.3": [bounded_gather, bounded_worker_queue],
}

WRONG = {
    "07.1": [fastest_first_completed, fastest_not_cancelling, fastest_not_waiting, "fastest"],
    "07.2": [retry_constant_backoff, retry_everything, retry_returning_none, retry_swallowing_bugs,
             retry_wrapping_bugs, not_async],
    "07.3": [gather_unbounded, one_at_a_time, bounded_unordered, not_async],
}

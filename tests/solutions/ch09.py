"""Reference solutions (and answers that must fail) for chapter 09's exercises."""

import asyncio


async def cached_get(fetch, url, cache, locks):
    if url in cache:
        return cache[url]
    async with locks[url]:
        if url not in cache:
            cache[url] = await fetch(url)
    locks.pop(url, None)
    return cache[url]


async def cached_get_keeps_locks(fetch, url, cache, locks):  # the chapter's lock per key: a lock per URL for ever
    async with locks[url]:
        if url not in cache:
            cache[url] = await fetch(url)
        return cache[url]


async def cached_get_lock_then_look(fetch, url, cache, locks):  # makes a lock even on a hit, and drops it
    async with locks[url]:
        if url not in cache:
            cache[url] = await fetch(url)
    locks.pop(url, None)
    return cache[url]


async def cached_get_swallows_errors(fetch, url, cache, locks):
    if url in cache:
        return cache[url]
    async with locks[url]:
        if url not in cache:
            try:
                cache[url] = await fetch(url)
            except ConnectionError:
                return None
    locks.pop(url, None)
    return cache[url]


async def cached_get_caches_the_error(fetch, url, cache, locks):
    if url in cache:
        return cache[url]
    async with locks[url]:
        if url not in cache:
            try:
                cache[url] = await fetch(url)
            except ConnectionError as error:
                cache[url] = error
                raise
    locks.pop(url, None)
    return cache[url]


async def cached_get_no_lock(fetch, url, cache, locks):  # the stampede
    if url not in cache:
        cache[url] = await fetch(url)
    return cache[url]


async def cached_get_global_lock(fetch, url, cache, locks):  # correct, but serialises every URL
    async with locks["every url"]:
        if url not in cache:
            cache[url] = await fetch(url)
        return cache[url]


async def cached_get_any_page(fetch, url, cache, locks):  # the sources' lookup
    async with locks[url]:
        for page in cache.values():
            return page
        cache[url] = await fetch(url)
        return cache[url]


async def cached_get_lock_after_check(fetch, url, cache, locks):  # checks outside, fetches inside
    if url not in cache:
        async with locks[url]:
            cache[url] = await fetch(url)
    return cache[url]


async def run_pool(jobs, workers):
    queue = asyncio.Queue()
    results = [None] * len(jobs)
    for position, job in enumerate(jobs):
        queue.put_nowait((position, job))

    async def worker():
        while True:
            item = await queue.get()
            if item is None:
                return
            position, job = item
            results[position] = await job()

    tasks = [asyncio.create_task(worker()) for _ in range(workers)]
    for _ in tasks:
        queue.put_nowait(None)
    await asyncio.gather(*tasks)
    return results


async def run_pool_cancel(jobs, workers):
    queue = asyncio.Queue()
    results = [None] * len(jobs)
    for item in enumerate(jobs):
        queue.put_nowait(item)

    async def worker():
        while True:
            position, job = await queue.get()
            try:
                results[position] = await job()
            finally:
                queue.task_done()

    tasks = [asyncio.create_task(worker()) for _ in range(workers)]
    await queue.join()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return results


async def run_pool_left_running(jobs, workers):  # join() and return: the workers wait in get() forever
    queue = asyncio.Queue()
    results = [None] * len(jobs)
    for item in enumerate(jobs):
        queue.put_nowait(item)

    async def worker():
        while True:
            position, job = await queue.get()
            results[position] = await job()
            queue.task_done()

    for _ in range(workers):
        asyncio.create_task(worker())
    await queue.join()
    return results


async def run_pool_semaphore(jobs, workers):  # bounded, but one task per job: not a worker pool
    gate = asyncio.Semaphore(workers)

    async def one(job):
        async with gate:
            return await job()

    return await asyncio.gather(*(one(job) for job in jobs))


async def run_pool_unordered(jobs, workers):
    queue, results = asyncio.Queue(), []
    for job in jobs:
        queue.put_nowait(job)

    async def worker():
        while not queue.empty():
            job = queue.get_nowait()
            results.append(await job())

    await asyncio.gather(*(worker() for _ in range(workers)))
    return results


async def run_pool_one_worker(jobs, workers):
    return await run_pool(jobs, 1)


async def download_all(fetch, urls, ready):
    results = await asyncio.gather(*(fetch(url) for url in urls), return_exceptions=True)
    ready.set()
    return {url: page for url, page in zip(urls, results) if not isinstance(page, Exception)}


async def download_all_counting(fetch, urls, ready):
    pages, over = {}, []

    async def one(url):
        try:
            pages[url] = await fetch(url)
        except Exception:
            pass
        finally:
            over.append(url)
            if len(over) == len(urls):
                ready.set()

    await asyncio.gather(*(one(url) for url in urls))
    return pages


async def download_all_first(fetch, urls, ready):  # the sources: set after every page
    pages = {}

    async def one(url):
        try:
            pages[url] = await fetch(url)
        except ConnectionError:
            pass
        ready.set()

    await asyncio.gather(*(one(url) for url in urls))
    return pages


async def download_all_serial(fetch, urls, ready):
    pages = {}
    for url in urls:
        try:
            pages[url] = await fetch(url)
        except ConnectionError:
            pass
    ready.set()
    return pages


async def download_all_never_set(fetch, urls, ready):
    results = await asyncio.gather(*(fetch(url) for url in urls), return_exceptions=True)
    return {url: page for url, page in zip(urls, results) if not isinstance(page, Exception)}


async def download_all_list(fetch, urls, ready):
    results = await asyncio.gather(*(fetch(url) for url in urls), return_exceptions=True)
    ready.set()
    return results


async def download_all_raises(fetch, urls, ready):  # the first failure leaves gather; the others run on
    try:
        pages = await asyncio.gather(*(fetch(url) for url in urls))
    finally:
        ready.set()
    return dict(zip(urls, pages))


async def download_all_after_last_success(fetch, urls, ready):  # counts pages only: never all in
    pages = {}

    async def one(url):
        try:
            pages[url] = await fetch(url)
        except ConnectionError:
            return
        if len(pages) == len(urls):
            ready.set()

    await asyncio.gather(*(one(url) for url in urls))
    return pages


# --- the chapter's own code, fitted to each exercise's signature: it must not pass ---------------


async def chapter_single_flight(fetch, url, cache, locks):  # cell `get_page_once`: caches the task
    if url not in cache:
        cache[url] = asyncio.ensure_future(fetch(url))
    return await cache[url]


async def chapter_worker_pool(jobs, workers):  # cell `worker`: results in the order they finish, sentinels
    queue, done = asyncio.Queue(), []

    async def worker():
        while True:
            job = await queue.get()
            try:
                if job is None:
                    return
                done.append(await job())
            finally:
                queue.task_done()

    tasks = [asyncio.create_task(worker()) for _ in range(workers)]
    for job in jobs:
        await queue.put(job)
    await queue.join()
    for _ in tasks:
        await queue.put(None)
    await asyncio.gather(*tasks)
    return done


async def chapter_fetch_into(fetch, urls, ready):  # cell `fetch_into` with total: set after the last *page*
    pages = {}

    async def fetch_into(url):
        pages[url] = await fetch(url)
        if len(pages) == len(urls):
            ready.set()

    await asyncio.gather(*(fetch_into(url) for url in urls))
    return pages


async def chapter_consumer(cond, shelf, wanted):  # cell `consumer`: wait_for an item, take the first one
    async with cond:
        await cond.wait_for(lambda: shelf)
        return shelf.pop(0)


def not_async(*args):
    return None


async def take(cond, shelf, wanted):
    async with cond:
        await cond.wait_for(lambda: wanted in shelf)
        shelf.remove(wanted)
        return wanted


async def take_with_wait_loop(cond, shelf, wanted):
    async with cond:
        while wanted not in shelf:
            await cond.wait()
        shelf.remove(wanted)
        return wanted


async def take_waiting_first(cond, shelf, wanted):  # waits even when the item is already there
    async with cond:
        await cond.wait()
        while wanted not in shelf:
            await cond.wait()
        shelf.remove(wanted)
        return wanted


async def take_whatever_comes(cond, shelf, wanted):  # the sources: wake up and take the last item
    async with cond:
        await cond.wait_for(lambda: len(shelf) > 0)
        return shelf.pop()


async def take_polling(cond, shelf, wanted):
    while wanted not in shelf:
        await asyncio.sleep(0.005)
    shelf.remove(wanted)
    return wanted


async def take_polling_slowly(cond, shelf, wanted):  # looks rarely, but never waits on the condition
    while wanted not in shelf:
        await asyncio.sleep(0.05)
    shelf.remove(wanted)
    return wanted


async def take_leaving_it(cond, shelf, wanted):
    async with cond:
        await cond.wait_for(lambda: wanted in shelf)
        return wanted


SOLUTIONS = {"09.1": cached_get, "09.2": run_pool, "09.3": download_all, "09.4": take}
ALSO_RIGHT = {"09.1": [cached_get_lock_then_look], "09.2": [run_pool_cancel], "09.3": [download_all_counting],
              "09.4": [take_with_wait_loop]}
WRONG = {
    "09.1": [cached_get_no_lock, cached_get_global_lock, cached_get_any_page, cached_get_lock_after_check,
             cached_get_keeps_locks, cached_get_swallows_errors,
             cached_get_caches_the_error, not_async],
    "09.2": [run_pool_left_running, run_pool_semaphore, run_pool_unordered, run_pool_one_worker, not_async],
    "09.3": [download_all_first, download_all_serial, download_all_never_set, download_all_list,
             download_all_raises, download_all_after_last_success, not_async],
    "09.4": [take_waiting_first, take_whatever_comes, take_polling, take_polling_slowly, take_leaving_it,
             not_async],
}

CHAPTER_CODE = {
    "09.1": [cached_get_keeps_locks, chapter_single_flight],
    "09.2": [chapter_worker_pool],
    "09.3": [chapter_fetch_into],
    "09.4": [chapter_consumer],
}

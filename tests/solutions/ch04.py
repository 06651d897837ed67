"""Reference solutions (and answers that must fail) for chapter 04's exercises."""

import gevent
import gevent.lock
import gevent.pool

from helpers.checks.ch04 import host


def crawl(urls, fetch, per_host):
    pools = {}
    jobs = []
    for url in urls:
        if host(url) not in pools:
            pools[host(url)] = gevent.pool.Pool(per_host)
        jobs.append(pools[host(url)].spawn(fetch, url))
    gevent.joinall(jobs, raise_error=True)
    return [job.value for job in jobs]


def crawl_with_semaphores(urls, fetch, per_host):
    """Another right answer: one semaphore per host, one greenlet per url."""
    limits = {host(url): gevent.lock.BoundedSemaphore(per_host) for url in urls}

    def polite_fetch(url):
        with limits[host(url)]:
            return fetch(url)

    jobs = [gevent.spawn(polite_fetch, url) for url in urls]
    gevent.joinall(jobs, raise_error=True)
    return [job.value for job in jobs]


def crawl_one_pool(urls, fetch, per_host):
    return gevent.pool.Pool(per_host).map(fetch, urls)  # one limit for all hosts together


def crawl_host_after_host(urls, fetch, per_host):
    pages = {}
    for name in dict.fromkeys(host(url) for url in urls):
        mine = [url for url in urls if host(url) == name]
        pages.update(zip(mine, gevent.pool.Pool(per_host).map(fetch, mine)))
    return [pages[url] for url in urls]


def crawl_unbounded(urls, fetch, per_host):
    jobs = [gevent.spawn(fetch, url) for url in urls]
    gevent.joinall(jobs, timeout=10)
    return [job.value for job in jobs]


def crawl_grouped_by_host(urls, fetch, per_host):
    pools = {host(url): gevent.pool.Pool(per_host) for url in urls}
    jobs = {url: pools[host(url)].spawn(fetch, url) for url in urls}
    gevent.joinall(list(jobs.values()))
    return [jobs[url].value for url in sorted(urls, key=host)]


def crawl_serial(urls, fetch, per_host):
    return [fetch(url) for url in urls]


def follow(fetch, url, seconds):
    pages = []
    with gevent.Timeout(seconds, False):  # silent: ends the block for this timer only
        while url is not None:
            page, url = fetch(url)
            pages.append(page)
    return pages


def follow_checking_identity(fetch, url, seconds):
    pages = []
    deadline = gevent.Timeout(seconds)
    deadline.start()
    try:
        while url is not None:
            page, url = fetch(url)
            pages.append(page)
    except gevent.Timeout as timeout:
        if timeout is not deadline:
            raise
    finally:
        deadline.close()
    return pages


def follow_timer_per_page(fetch, url, seconds):
    pages = []
    while url is not None:
        with gevent.Timeout(seconds, False):
            page, url = fetch(url)
            pages.append(page)
            continue
        break
    return pages


def follow_leaving_it_running(fetch, url, seconds):
    pages = []

    def walk(url):
        while url is not None:
            page, url = fetch(url)
            pages.append(page)

    gevent.spawn(walk, url).join(timeout=seconds)  # stops waiting, but the walk goes on
    return list(pages)


def follow_catching_any_timeout(fetch, url, seconds):
    pages = []
    try:
        with gevent.Timeout(seconds):
            while url is not None:
                page, url = fetch(url)
                pages.append(page)
    except gevent.Timeout:  # also fetch's own timer's
        pass
    return pages


def follow_losing_the_pages(fetch, url, seconds):
    pages = []
    with gevent.Timeout(seconds, False):
        while url is not None:
            page, url = fetch(url)
            pages.append(page)
        return pages
    return []


def cooperative(items, every):
    for count, item in enumerate(items, 1):
        yield item
        if count % every == 0:
            gevent.idle()  # the others get a turn, timers too


def cooperative_sleeping_zero(items, every):  # sleep(0) lets the ready greenlets run: right too
    for count, item in enumerate(items, 1):
        yield item
        if count % every == 0:
            gevent.sleep(0)


def cooperative_sleeping_a_little(items, every):  # a positive sleep turns the loop: right too
    for count, item in enumerate(items, 1):
        yield item
        if count % every == 0:
            gevent.sleep(0.001)


def cooperative_hogging(items, every):
    yield from items


def cooperative_every_item(items, every):
    for item in items:
        yield item
        gevent.sleep(0)


def cooperative_eager(items, every):
    rows = []
    for count, item in enumerate(items, 1):
        rows.append(item)
        if count % every == 0:
            gevent.sleep(0)
    return rows  # the switches all happen before the loop sees its first row


def cooperative_fixed(items, every):
    for count, item in enumerate(items, 1):
        yield item
        if count % 1000 == 0:  # ignores `every`
            gevent.sleep(0)


def cooperative_loses_rows(items, every):
    for count, item in enumerate(items, 1):
        if count % every == 0:
            gevent.sleep(0)
        else:
            yield item


SOLUTIONS = {
    "04.1": crawl,
    "04.2": follow,
    "04.3": cooperative,
}

# Other right answers, which must pass too.
ALSO_RIGHT = {
    "04.1": [crawl_with_semaphores],
    "04.2": [follow_checking_identity],
    "04.3": [cooperative_sleeping_zero, cooperative_sleeping_a_little],
}

WRONG = {
    "04.1": [crawl_one_pool, crawl_host_after_host, crawl_unbounded, crawl_grouped_by_host, crawl_serial,
             "crawl"],
    "04.2": [follow_timer_per_page, follow_leaving_it_running, follow_catching_any_timeout, follow_losing_the_pages,
             "follow"],
    "04.3": [cooperative_hogging, cooperative_every_item, cooperative_eager, cooperative_fixed,
             cooperative_loses_rows, 42],
}


# The chapter's own code, reproduced as an answer: it must not pass (the exercise needs a new idea).
def chapter_pool_map(urls, fetch, per_host):  # the Pool cell: one pool, map in order
    return gevent.pool.Pool(per_host).map(fetch, urls)


def chapter_with_timeout(fetch, url, seconds):  # the with_timeout cell, one call per page
    pages = []
    while url is not None:
        page, url = gevent.with_timeout(seconds, fetch, url, timeout_value=(None, None))
        if page is None:
            break
        pages.append(page)
    return pages


def chapter_cruncher(items, every):  # the starving cruncher's fix: an idle() every 1000 rounds
    for rounds, item in enumerate(items, 1):
        if rounds % 1000 == 0:
            gevent.idle()
        yield item


CHAPTER_CODE = {
    "04.1": [chapter_pool_map],
    "04.2": [chapter_with_timeout],
    "04.3": [chapter_cruncher],
}

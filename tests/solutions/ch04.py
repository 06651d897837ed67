"""Reference solutions (and answers that must fail) for chapter 04's exercises."""

import gevent
import gevent.pool


def crawl(urls, fetch, size):
    return gevent.pool.Pool(size).map(fetch, urls)


def crawl_serial(urls, fetch, size):
    return [fetch(url) for url in urls]


def crawl_unbounded(urls, fetch, size):
    jobs = [gevent.spawn(fetch, url) for url in urls]
    gevent.joinall(jobs, timeout=10)
    return [job.value for job in jobs]


def crawl_unordered(urls, fetch, size):
    return list(gevent.pool.Pool(size).imap_unordered(fetch, urls))


def fetch_or_none(fetch, url, seconds):
    with gevent.Timeout(seconds, False):
        return fetch(url)
    return None


def fetch_leaving_it_running(fetch, url, seconds):
    job = gevent.spawn(fetch, url)
    job.join(timeout=seconds)
    return job.value if job.ready() else None  # ...but the fetch goes on in the background


def fetch_swallowing_errors(fetch, url, seconds):
    try:
        with gevent.Timeout(seconds):
            return fetch(url)
    except BaseException:
        return None


def crunch(n):
    total = 0
    for i in range(n):
        total += i * i
        if i % 1000 == 0:
            gevent.sleep(0)  # let the others run
    return total


def crunch_hogging(n):
    return sum(i * i for i in range(n))


def crunch_wrong_sum(n):
    return crunch(n + 1)


SOLUTIONS = {
    "04.1": crawl,
    "04.2": fetch_or_none,
    "04.3": crunch,
}

WRONG = {
    "04.1": [crawl_serial, crawl_unbounded, crawl_unordered, crawl(["/a"], str, 1)],
    "04.2": [fetch_leaving_it_running, fetch_swallowing_errors, "fetch"],
    "04.3": [crunch_hogging, crunch_wrong_sum, 42],
}

"""Exercises of chapter 04 (gevent): a bounded crawler, a timeout-safe fetch, a cruncher that shares.

The checkers run the learner's code in this kernel's gevent hub, with fake "fetches" that
only sleep (gevent.sleep), so they need no network and leave nothing running.
"""

from __future__ import annotations

import gevent

from helpers.exercises import Wrong, exercise
from helpers.gauge import InFlight


class FakeSite:
    """A fake fetch: ``fetch(url)`` sleeps a little and returns ``"page of <url>"``; gauges who is in flight."""

    def __init__(self, delays: dict[str, float]) -> None:
        self.delays = delays
        self.in_flight = InFlight()
        self.fetched: list[str] = []

    def fetch(self, url: str) -> str:
        with self.in_flight:
            gevent.sleep(self.delays[url])
        self.fetched.append(url)
        return f"page of {url}"


@exercise("04.1", title="A bounded crawler with Pool",
          hint="make a gevent.pool.Pool(size) and use pool.map(fetch, urls): at most `size` fetches run "
               "at once, and results come back in the order of urls")
def bounded_crawler(answer) -> str:
    if not callable(answer):
        raise Wrong("pass the function itself: check('04.1', crawl)")
    urls = [f"/page/{n}" for n in range(1, 13)]
    site = FakeSite({url: 0.01 * (1 + (7 * n) % 5) for n, url in enumerate(urls)})  # uneven delays
    with gevent.Timeout(10, Wrong("crawl(...) took longer than 10 s")):
        got = answer(urls, site.fetch, 4)
    want = [f"page of {url}" for url in urls]
    if not isinstance(got, list):
        raise Wrong(f"crawl(...) should return a list, got {type(got).__name__}")
    if sorted(map(str, got)) == sorted(want) and got != want:
        raise Wrong("every page is there, but not in the order of urls: return them in that order")
    if got != want:
        raise Wrong(f"crawl(urls, fetch, 4) should return {want[:2]} ... ({len(want)} pages), got {got!r}")
    if site.in_flight.most > 4:
        raise Wrong(f"{site.in_flight.most} fetches ran at once: the limit was 4")
    if site.in_flight.most < 4:
        raise Wrong(f"at most {site.in_flight.most} fetch(es) ran at once: with a limit of 4 and 12 pages, "
                    "4 should run together")
    return "12 pages in order, never more than 4 in flight, and 4 at a time."


@exercise("04.2", title="A timeout-safe fetch",
          hint="wrap the call in `with gevent.Timeout(seconds, False):` (silent), and return None when "
               "the block was cut short; a Timeout object of your own is fine too, but catch only it")
def timeout_safe(answer) -> str:
    if not callable(answer):
        raise Wrong("pass the function itself: check('04.2', fetch_or_none)")
    stopped = []

    def slow(url):
        try:
            gevent.sleep(5)
        finally:
            stopped.append(url)  # runs when the timeout interrupts the sleep
        return "too late"

    def fast(url):
        gevent.sleep(0.01)
        return f"page of {url}"

    def broken(url):
        raise ValueError(f"bad url {url}")

    with gevent.Timeout(3, Wrong("fetch_or_none(fast, ...) took longer than 3 s")):
        got = answer(fast, "/page/1", 1.0)
    if got != "page of /page/1":
        raise Wrong(f"a fetch that answers in time should give its page, got {got!r}")
    with gevent.Timeout(3, Wrong("fetch_or_none(slow, '/page/2', 0.1) was still waiting after 3 s")):
        got = answer(slow, "/page/2", 0.1)
    if got is not None:
        raise Wrong(f"a fetch slower than the timeout should give None, got {got!r}")
    gevent.sleep(0)  # give an abandoned fetch one chance to show it is still running
    if stopped != ["/page/2"]:
        raise Wrong("you returned None, but the slow fetch was left running in the background: "
                    "interrupt it (a Timeout raised inside it), don't just stop waiting")
    try:
        got = answer(broken, "/page/3", 1.0)
    except ValueError:
        pass
    else:
        raise Wrong(f"a fetch that raises ValueError should raise it, not return {got!r}: catch only the timeout")
    return "in time: the page; too slow: None and the fetch interrupted; other errors pass through."


def _sum_of_squares(n: int) -> int:
    return (n - 1) * n * (2 * n - 1) // 6


@exercise("04.3", title="A cruncher that shares",
          hint="add `if i % 1000 == 0: gevent.sleep(0)` inside the loop: a voluntary switch lets the hub "
               "run the others")
def sharing_cruncher(answer) -> str:
    if not callable(answer):
        raise Wrong("pass the function itself: check('04.3', crunch)")
    n = 200_000
    beats = []
    running = [True]

    def heartbeat():
        while running[0]:
            beats.append(1)
            gevent.sleep(0)

    beat = gevent.spawn(heartbeat)
    try:
        gevent.sleep(0)  # the heartbeat starts beating
        before = len(beats)
        got = answer(n)
        during = len(beats) - before
    finally:
        running[0] = False
        beat.join(timeout=1)
        beat.kill(timeout=1)
    if got != _sum_of_squares(n):
        raise Wrong(f"crunch({n}) should return {_sum_of_squares(n)}, got {got!r}")
    if during < 10:
        raise Wrong(f"the heartbeat beat {during} time(s) while crunch({n}) ran: it starved. "
                    "Let the others run now and then")
    return f"right sum, and the heartbeat kept beating ({'many' if during >= 50 else 'some'} beats) while it ran."

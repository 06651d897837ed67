"""Exercises of chapter 04 (gevent): a crawler polite to each host, one deadline for a chain, any loop made to share.

The checkers run the learner's code in this kernel's gevent hub, with fake "fetches" that
only sleep (gevent.sleep), so they need no network and leave nothing running.
"""

from __future__ import annotations

import time
from typing import Literal

import gevent
import greenlet

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


def host(url: str) -> str:
    """The host of a url of exercise 04.1: ``host("b.test/page/3") == "b.test"``."""
    return url.split("/", 1)[0]


# Exercise 04.1's pages: three hosts, interleaved, with uneven delays.
CRAWL_URLS = [f"{name}.test/page/{n}" for name, n in [
    ("a", 1), ("b", 1), ("c", 1), ("a", 2), ("b", 2), ("a", 3),
    ("c", 2), ("a", 4), ("b", 3), ("a", 5), ("b", 4), ("a", 6)]]


@exercise("04.1", title="A crawler that is polite to each host",
          hint=("The chapter's Pool put one limit on every fetch at once. Here each host gets its own limit, and a "
                "busy host must not hold up the others: how many limits do you need, and where do you keep them?",
                "A gevent.pool.Pool (or a BoundedSemaphore) bounds how many greenlets run at once; you need one "
                "per host. Pitfalls: hosts one after another is too slow, and the results must follow the order of "
                "urls, not of hosts or of finishing."))
def polite_crawler(answer) -> str:
    if not callable(answer):
        raise Wrong("pass the function itself: check('04.1', crawl)")
    delays = {url: 0.01 * (1 + (7 * n) % 5) for n, url in enumerate(CRAWL_URLS)}
    site = FakeSite(delays)
    per_host = {name: InFlight() for name in ("a.test", "b.test", "c.test")}

    def fetch(url: str) -> str:
        with per_host[host(url)]:
            return site.fetch(url)

    with gevent.Timeout(10, Wrong("crawl(...) took longer than 10 s")):
        got = answer(list(CRAWL_URLS), fetch, 2)
    want = [f"page of {url}" for url in CRAWL_URLS]
    if not isinstance(got, list):
        raise Wrong(f"crawl(...) should return a list, got {type(got).__name__}")
    if sorted(map(str, got)) == sorted(want) and got != want:
        raise Wrong("every page is there, but not in the order of urls: return them in that order")
    if got != want:
        raise Wrong(f"crawl(urls, fetch, 2) should return {want[:2]} ... ({len(want)} pages), got {got!r}")
    crowded = {name: gauge.most for name, gauge in per_host.items() if gauge.most > 2}
    if crowded:
        raise Wrong(f"at most 2 fetches per host at once, but {crowded} ran together")
    if per_host["a.test"].most < 2:
        raise Wrong("a.test has 6 pages and a limit of 2, but its fetches ran one at a time")
    if site.in_flight.most <= 2:
        raise Wrong(f"at most {site.in_flight.most} fetches ran at once in all: the hosts waited for each "
                    "other; a limit per host should let the other hosts go on")
    return "12 pages in order, never more than 2 per host, and the hosts did not wait for each other."


@exercise("04.2", title="One deadline for a chain of pages",
          hint=("A timer around each fetch limits one page. What should the timer measure here, and what must "
                "happen to the pages fetched before it fired? And when a Timeout reaches you, whose is it: yours, "
                "or one that fetch started for itself?",
                "One gevent.Timeout for the whole walk. Its silent form (False as the exception) or an identity "
                "check on the caught Timeout tells yours from fetch's own. Pitfall: the pages already fetched must "
                "come back when the timer fires."))
def chain_deadline(answer) -> str:
    if not callable(answer):
        raise Wrong("pass the function itself: check('04.2', follow)")
    started, finished = [], []

    def chain(length: int, delay: float):
        def fetch(url: str):
            number = int(url.rsplit("/", 1)[1])
            started.append(url)
            gevent.sleep(delay)
            finished.append(url)
            return f"page {number}", (f"/page/{number + 1}" if number < length else None)
        return fetch

    with gevent.Timeout(3, Wrong("follow(fetch, '/page/1', 1.0) on a chain of 3 quick pages took over 3 s")):
        got = answer(chain(3, 0.01), "/page/1", 1.0)
    if got != ["page 1", "page 2", "page 3"]:
        raise Wrong(f"a chain of 3 quick pages, well within the time, should give "
                    f"['page 1', 'page 2', 'page 3'], got {got!r}")
    started.clear()
    finished.clear()
    begin = time.monotonic()
    with gevent.Timeout(3, Wrong("follow(fetch, '/page/1', 0.5) was still going after 3 s")):
        got = answer(chain(5, 0.2), "/page/1", 0.5)
    took = time.monotonic() - begin
    if isinstance(got, list) and len(got) == 5:
        raise Wrong("five pages of 0.2 s each, with 0.5 s for the whole chain: you fetched all five. Each fetch "
                    "was within the time, but the chain was not: one deadline must cover them all")
    if got != ["page 1", "page 2"]:
        raise Wrong(f"pages of 0.2 s with 0.5 s for the whole chain should give the 2 pages fetched in time, "
                    f"['page 1', 'page 2'], got {got!r}")
    if took > 0.5 + 0.25:
        raise Wrong(f"the chain had 0.5 s, but follow returned after {took:.2f} s: interrupt the page in "
                    "progress, don't wait for it")
    gevent.sleep(0.25)  # a fetch left running in the background would finish now
    if finished != ["/page/1", "/page/2"]:
        raise Wrong(f"after follow returned, these fetches finished: {finished[2:]}: the page in progress at "
                    "the deadline must be interrupted, not left running")

    def own_timer(url: str):
        with gevent.Timeout(0.01):  # fetch's own, shorter timer: its Timeout is an error of fetch
            gevent.sleep(1)

    with gevent.Timeout(3, Wrong("follow with a fetch that times out on its own was still going after 3 s")):
        try:
            got = answer(own_timer, "/page/1", 1.0)
        except gevent.Timeout:
            pass
        else:
            raise Wrong(f"fetch raised a gevent.Timeout of its own (its own 0.01 s timer, long before your "
                        f"deadline), and you returned {got!r}: catch only your own timer's Timeout")

    def broken(url: str):
        raise ValueError(f"bad url {url}")

    try:
        got = answer(broken, "/page/1", 1.0)
    except ValueError:
        pass
    else:
        raise Wrong(f"a fetch that raises ValueError should raise it, not return {got!r}")
    return ("one deadline for the whole chain, the pages fetched in time kept, the last one interrupted, "
            "other errors through.")


@exercise("04.3", title="Make any loop share",
          hint=("The loop's body cannot change, so the stepping aside must happen while the loop asks for its next "
                "item. Which kind of function from chapter 01 runs your code between one item and the next?",
                "A generator is paused at its yield while the loop's body runs; gevent.idle gives the hub a turn, "
                "timers included, as the chapter's cruncher does. Pitfalls: a list built in advance steps aside "
                "before the loop even starts, and stepping aside on every item pays for a switch each time."))
def cooperative_loop(answer) -> str:
    if not callable(answer):
        raise Wrong("pass the function itself: check('04.3', cooperative)")
    for rows, every in ((95, 10), (60, 25)):
        log = _run_counting_switches(answer, list(range(rows)), every)
        items = [entry for entry in log if entry != "beat"]
        if items != list(range(rows)):
            raise Wrong(f"the loop over cooperative(rows, {every}) should see the {rows} rows unchanged, "
                        f"in order; it saw {_brief(items)}")
        beats = log.count("beat")
        runs = [len(run) for run in " ".join("x" if entry != "beat" else "|" for entry in log)
                .replace(" ", "").split("|")]
        if beats == 0:
            raise Wrong(f"the loop never stepped aside while {rows} rows went by: the other greenlets starve")
        if max(runs) > every + 1:
            raise Wrong(f"the loop handled {max(runs)} rows in a row without stepping aside "
                        f"(every={every}): hand out the rows one at a time, and step aside every {every}")
        if beats > rows // every + 2:
            raise Wrong(f"the loop stepped aside {beats} times for {rows} rows with every={every}: that is "
                        f"a switch after (nearly) every row, not after every {every}th")
    return "rows unchanged and in order, and the loop stepped aside once every `every` rows."


def _brief(items: list) -> str:
    return repr(items) if len(items) <= 6 else f"{items[:5]!r}... ({len(items)} in all)"


def _run_counting_switches(answer, rows: list[int], every: int) -> list:
    """Loop over answer(rows, every) in this greenlet; return the log: each row as the loop sees
    it, and "beat" each time the loop steps aside, i.e. this greenlet switches to gevent's hub.

    Switches are counted with ``greenlet.settrace`` (the previous trace function keeps being
    called), so every way of stepping aside counts once per call, whatever the clock says:
    ``gevent.sleep(0)``, ``gevent.idle()``, a positive ``gevent.sleep``. A heartbeat greenlet
    would not do: one that spins on ``sleep(0)`` keeps the loop from ever going idle (``idle()``
    would wait forever), and one that beats on a timer misses ``sleep(0)``, which may hand
    control back before the hub looks at its timers.
    """
    log: list = []
    me = greenlet.getcurrent()

    def on_switch(event: Literal["switch", "throw"], args: tuple[greenlet.greenlet, greenlet.greenlet]) -> None:
        if args[0] is me:
            log.append("beat")
        if previous is not None:
            previous(event, args)

    previous = greenlet.settrace(on_switch)
    try:
        with gevent.Timeout(5, Wrong("the loop over cooperative(...) took longer than 5 s")):
            for row in answer(rows, every):
                log.append(row)  # the loop's body: it never steps aside by itself
    finally:
        greenlet.settrace(previous)
    return log

"""Exercises of chapter 09 (asyncio synchronisation): a cache without a stampede that drops its locks
and caches no failure, a worker pool that shuts down, an Event set after the last download even when
some fail, a Condition hand-off.

The answers are ``async def`` functions, run by the asyncio chapters'
:func:`helpers.checks._async.run_async` in a fresh event loop in a worker thread (joined before the
checker returns). Fake fetches only sleep (``asyncio.sleep``): no network. Each checker counts what
it needs itself (calls per URL, calls in flight with :class:`helpers.gauge.InFlight`, the tasks that
ran the jobs) instead of trusting the answer.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Awaitable, Callable
from typing import Literal

from helpers.checks._async import needs_async, others_left, run_async
from helpers.exercises import Wrong, exercise
from helpers.gauge import InFlight


class Pages:
    """A fake site: ``await fetch(url)`` sleeps ``seconds[url]`` (default 0.05), returns ``"page <url>"``.

    ``failing[url] = n``: the first n calls for ``url`` raise ConnectionError after their sleep.
    """

    def __init__(self, seconds: dict[str, float] | None = None, failing: dict[str, int] | None = None) -> None:
        self.seconds = seconds or {}
        self.failing = failing or {}
        self.calls: collections.Counter[str] = collections.Counter()
        self.finished = 0  # calls over, whether they returned or raised
        self.flying = InFlight()

    async def fetch(self, url: str) -> str:
        self.calls[url] += 1
        try:
            with self.flying:
                await asyncio.sleep(self.seconds.get(url, 0.05))
            if self.calls[url] <= self.failing.get(url, 0):
                raise ConnectionError(f"{url}: connection reset")
            return f"page {url}"
        finally:
            self.finished += 1


@exercise("09.1", title="A cache without a stampede, that cleans up after itself",
          hint=("Between looking in the cache and storing into it, where can another task asking for the same URL "
                "slip in? And once the page is stored, who still needs that URL's lock?",
                "A lock per URL makes a second caller for that URL wait, and once it gets in, the page may be "
                "there already. Pitfalls: a lock kept for every URL ever seen grows without end (one removed from "
                "locks still works for the tasks that hold it), and a failed fetch stores nothing and reaches its "
                "caller."))
def no_stampede(answer) -> str:
    needs_async(answer, "check('09.1', cached_get)")

    async def program() -> str:
        pages = Pages(failing={"bad": 1})
        cache: dict[str, str] = {"x": "page x"}
        locks: collections.defaultdict[str, asyncio.Lock] = collections.defaultdict(asyncio.Lock)
        urls = ["a", "b", "c"] * 3
        got = await asyncio.gather(*(answer(pages.fetch, url, cache, locks) for url in urls))
        want = [f"page {url}" for url in urls]
        if got != want:
            wrong = next(i for i, (said, right) in enumerate(zip(got, want)) if said != right)
            raise Wrong(f"cached_get(fetch, {urls[wrong]!r}, ...) returned {got[wrong]!r}, not {want[wrong]!r}: "
                        "look up the URL you were asked for")
        twice = {url: count for url, count in pages.calls.items() if count > 1}
        if twice:
            raise Wrong(f"a stampede: three tasks asked for each URL at once and fetch ran {twice} times; "
                        "fetch must run once per URL")
        if pages.flying.most < 3:
            raise Wrong(f"the fetches of 'a', 'b' and 'c' ran {pages.flying.most} at a time, not 3 at once: "
                        "different URLs must not wait for each other (one lock for everything?)")
        if any(cache.get(url) != f"page {url}" for url in "abc"):
            raise Wrong(f"store each page in cache[url]: the cache holds {sorted(cache)}")
        kept = sorted(url for url in locks if url in cache)
        if kept:
            raise Wrong(f"the pages of {kept} are cached, yet locks still holds a lock for them: remove a URL's "
                        "lock once its page is stored (and don't make one for a cache hit)")
        await answer(pages.fetch, "a", cache, locks)
        if pages.calls["a"] != 1:
            raise Wrong("'a' was cached, yet a later call fetched it again")
        if "a" in locks:
            raise Wrong("a cache hit for 'a' left a lock in locks: look in the cache before touching locks")
        try:
            said = await answer(pages.fetch, "bad", cache, locks)
        except ConnectionError:
            pass
        else:
            raise Wrong(f"fetch('bad') raised ConnectionError, but cached_get returned {said!r}: let the error "
                        "reach the caller"[:300])
        if "bad" in cache:
            raise Wrong(f"fetch('bad') failed, yet the cache holds {cache['bad']!r} for it: cache nothing on a "
                        "failure"[:300])
        again = await answer(pages.fetch, "bad", cache, locks)
        if again != "page bad" or pages.calls["bad"] != 2:
            raise Wrong(f"after a failure, the next call should fetch again and return 'page bad'; it returned "
                        f"{again!r} after {pages.calls['bad']} fetch(es)"[:300])
        return ("9 concurrent calls, 3 fetches (one per URL, all 3 at once), no lock left behind, a cache hit, "
                "and a failure that reached its caller and was tried again.")

    return run_async(program)


@exercise("09.2", title="A worker pool that shuts down",
          hint=("How will a worker know that there is nothing more to take, and how will run_pool know where each "
                "result belongs?",
                "asyncio.Queue hands each item to one worker; a worker waiting in get() waits for ever unless told "
                "to stop (a sentinel per worker, or join() and then cancel). Pitfall: results land in the order "
                "jobs finish unless each job carries its position."))
def pool(answer) -> str:
    needs_async(answer, "check('09.2', run_pool)")

    async def program() -> str:
        flying = InFlight()
        runners: set[asyncio.Task] = set()

        def job(number: int) -> Callable[[], Awaitable[int]]:
            async def run() -> int:
                me = asyncio.current_task()
                assert me is not None  # a coroutine that is running runs in a task
                runners.add(me)
                with flying:
                    await asyncio.sleep(0.01 * (1 + (5 * number) % 4))  # uneven lengths
                return number * 10
            return run

        got = await answer([job(number) for number in range(12)], 3)
        want = [number * 10 for number in range(12)]
        if isinstance(got, list) and sorted(got) == want and got != want:
            raise Wrong("every result is there, but not in the order of jobs: return them in that order")
        if got != want:
            raise Wrong(f"run_pool(jobs, 3) should return {want[:4]} ..., got {got!r}")
        if flying.total != 12:
            raise Wrong(f"each job must run once: {flying.total} runs for 12 jobs")
        if flying.most != 3:
            raise Wrong(f"{flying.most} job(s) ran at once: 3 workers run 3 at a time")
        if len(runners) != 3:
            raise Wrong(f"the jobs ran in {len(runners)} different tasks: 3 worker tasks should run them all, "
                        "taking jobs from a queue")
        left = others_left()
        if left:
            raise Wrong(f"{len(left)} task(s) were still running when run_pool returned: tell the workers to "
                        "stop, and wait until they have ended")
        return "12 results in order, run by 3 worker tasks, 3 at a time, and no worker left running."

    return run_async(program)


@exercise("09.3", title="Ready when the last download is over, even if some fail",
          hint=("When is the last download over if some of them raise, and what does gather do with the first error "
                "unless you tell it otherwise?",
                "gather can hand back errors as results instead of raising the first one, and then it returns only "
                "when every download is over. Pitfalls: an Event set after one download wakes the reader while "
                "others still run, and an error is not a page."))
def ready_after_last(answer) -> str:
    needs_async(answer, "check('09.3', download_all)")

    async def program() -> str:
        seconds = {"/1": 0.02, "/2": 0.12, "/3": 0.06, "/4": 0.04, "/5": 0.01}
        pages = Pages(seconds, failing={"/2": 1, "/5": 1})  # the first and the last to finish fail
        ready = asyncio.Event()
        woke_with: list[int] = []

        async def watcher() -> None:
            await ready.wait()
            woke_with.append(pages.finished)

        watching = asyncio.create_task(watcher())
        try:
            got = await asyncio.wait_for(answer(pages.fetch, list(seconds), ready), 2)
            await asyncio.wait_for(asyncio.shield(watching), 0.5)
        except TimeoutError:
            raise Wrong("the task waiting on `ready` never woke up: call ready.set() when every download is over, "
                        "the failed ones too") from None
        except ConnectionError as error:
            raise Wrong(f"download_all raised ConnectionError: {error}: a failed download must not stop the "
                        "others, nor reach the caller") from None
        finally:
            watching.cancel()
        if woke_with != [len(seconds)]:
            raise Wrong(f"the waiting task woke up when {woke_with[0]} of {len(seconds)} downloads were over: "
                        "set the event after the last one, not before")
        if sorted(pages.calls.elements()) != sorted(seconds):
            raise Wrong(f"fetch each URL once: the calls were {dict(pages.calls)}")
        if pages.flying.most != len(seconds):
            raise Wrong(f"the downloads ran {pages.flying.most} at a time: start them all at once")
        want = {url: f"page {url}" for url in ("/1", "/3", "/4")}
        if got != want:
            raise Wrong(f"return {{url: page}} for the downloads that worked, e.g. {{'/1': 'page /1', ...}}, "
                        f"not {got!r}"[:300])
        return "5 downloads at once, 2 of them failing; the waiting task woke up when all 5 were over."

    return run_async(program)


class Shelf(list):
    """A list that counts how often ``item in shelf`` is asked (a polling answer asks very often)."""

    looks = 0

    def __contains__(self, item: object) -> bool:
        self.looks += 1
        return super().__contains__(item)


class CountedCondition(asyncio.Condition):
    """An asyncio.Condition that counts its waits (``wait_for`` waits through ``wait``)."""

    waits = 0

    async def wait(self) -> Literal[True]:
        self.waits += 1
        return await super().wait()


@exercise("09.4", title="Wait for your own item",
          hint=("If your item is already on the shelf, should you wait at all? And if it is not, what will tell you "
                "that the shelf has changed?",
                "Condition.wait_for(predicate) checks before it waits and again after every notify, while you hold "
                "the condition (async with). Pitfalls: taking whatever came last instead of your item, and leaving "
                "your item on the shelf."))
def own_item(answer) -> str:
    needs_async(answer, "check('09.4', take)")

    async def program() -> str:
        cond, shelf = CountedCondition(), Shelf(["tea"])
        wanted = ["tea", "cake", "soup"]
        takers = [asyncio.create_task(answer(cond, shelf, item)) for item in wanted]
        tea_at_once = None
        for item in ["soup", "bun", "cake"]:  # nobody wants the bun
            await asyncio.sleep(0.1)
            if tea_at_once is None:
                tea_at_once = takers[0].done()
            async with cond:
                shelf.append(item)
                cond.notify_all()
        done, pending = await asyncio.wait(takers, timeout=1)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)
        errors = [error for task in done if (error := task.exception()) is not None]  # each one retrieved
        if errors:
            raise errors[0]
        if pending:
            waiting = [item for item, task in zip(wanted, takers) if task in pending]
            raise Wrong(f"the takers of {waiting} were still waiting 1 s after their item was on the shelf"
                        + (" ('tea' was there from the start)" if "tea" in waiting else ""))
        if not tea_at_once:
            raise Wrong("'tea' was on the shelf from the start, yet its taker was still waiting 0.1 s later: "
                        "look at the shelf before you wait")
        got = [task.result() for task in takers]
        if got != wanted:
            raise Wrong(f"each taker returns the item it waited for: expected {wanted}, got {got}")
        if list(shelf) != ["bun"]:
            raise Wrong(f"take the item off the shelf: the shelf should end as ['bun'], not {list(shelf)}")
        if not cond.waits:
            raise Wrong("the takers never waited on the condition: that is polling (or luck); await "
                        "cond.wait_for(...) so that a notify wakes them")
        if shelf.looks > 12:
            raise Wrong(f"the takers looked at the shelf {shelf.looks} times in 0.3 s: that is polling; "
                        "let the condition wake them when something changes")
        return "each taker got its own item, 'tea' at once, the others after a notify, without polling."

    return run_async(program)

"""Exercises of chapter 07 (asyncio tasks): first success of N mirrors, a retry with timeout and
backoff, a bounded gather.

The answers are ``async def`` functions. ``helpers.exercises`` calls a checker as a plain
function, and in a notebook it is called from a cell that runs inside the kernel's event
loop, where ``asyncio.run`` refuses to start a second loop. So each checker here runs its
test program with :func:`helpers.checks._async.run_async` (shared with chapters 08 and 09):
a fresh event loop in a worker thread, joined before the checker returns (nothing is left
running; the kernel's loop waits meanwhile). Fake fetches only sleep (``asyncio.sleep``): no
network.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from helpers.checks._async import needs_async, others_left, run_async
from helpers.exercises import Wrong, exercise
from helpers.gauge import InFlight


class Mirrors:
    """Fake mirrors: ``await fetch(name)`` sleeps, then returns ``"file from <name>"`` or raises OSError."""

    def __init__(self, plan: dict[str, tuple[float, bool]]) -> None:
        self.plan = plan  # name -> (seconds, succeeds)
        self.started: list[str] = []
        self.cancelled: list[str] = []

    async def fetch(self, name: str) -> str:
        seconds, succeeds = self.plan[name]
        self.started.append(name)
        try:
            await asyncio.sleep(seconds)
        except asyncio.CancelledError:
            self.cancelled.append(name)
            raise
        if not succeeds:
            raise OSError(f"{name} is down")
        return f"file from {name}"


@exercise("07.1", title="The first good answer of N mirrors",
          hint=("The chapter's first_of returns whatever finishes first. What should happen when the first mirror "
                "to finish is one that failed?",
                "as_completed (or wait with FIRST_COMPLETED, in a loop) hands you the tasks as they finish; an "
                "OSError from one of them is not the end of the search.",
                "Pitfalls: cancel() only asks a task to stop, so the cancelled tasks must be awaited before you "
                "return; and the cancelling must also happen when you fail or are cancelled yourself."))
def first_success(answer) -> str:
    needs_async(answer, "check('07.1', fastest)")

    async def program() -> str:
        mirrors = Mirrors({"down": (0.01, False), "near": (0.1, True), "far": (0.3, True),
                           "broken": (0.05, False), "dead": (30, True)})
        try:
            got = await answer(mirrors.fetch, list(mirrors.plan))
        except OSError as error:
            raise Wrong(f"fastest(...) raised {error!r}: a mirror that fails is skipped, the next one to "
                        "finish may succeed") from None
        if sorted(mirrors.started) != sorted(mirrors.plan):
            raise Wrong(f"ask every mirror at once: only {mirrors.started} were asked")
        if got != "file from near":
            raise Wrong(f"the first mirror to answer well is 'near' (0.1 s): expected 'file from near', got {got!r}")
        if sorted(mirrors.cancelled) != ["dead", "far"]:
            left = sorted({"far", "dead"} - set(mirrors.cancelled))
            raise Wrong(f"when fastest(...) returned, {left} had not stopped: cancel the slower mirrors, and "
                        "wait until they are cancelled before you return")
        if others_left():
            raise Wrong(f"{len(others_left())} task(s) were still running when fastest(...) returned")
        everyone_fails = Mirrors({"a": (0.02, False), "b": (0.01, False)})
        try:
            got = await answer(everyone_fails.fetch, ["a", "b"])
        except OSError:
            pass
        else:
            raise Wrong(f"when every mirror fails, raise OSError (one of theirs), not return {got!r}")
        return "'near' won in about 0.1 s; 'far' and 'dead' were cancelled and had stopped; all down: OSError."

    return run_async(program)


class Flaky:
    """A fake fetch: hangs on the first ``hangs`` calls, then raises ``then`` or returns "page"."""

    def __init__(self, hangs: int, then: BaseException | None = None) -> None:
        self.hangs, self.then = hangs, then
        self.starts: list[float] = []
        self.cancelled = 0

    async def fetch(self) -> str:
        loop = asyncio.get_running_loop()
        self.starts.append(loop.time())
        if len(self.starts) <= self.hangs:
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                self.cancelled += 1
                raise
        if self.then is not None:
            raise self.then
        return "page"


@exercise("07.2", title="Retry with a timeout and a growing backoff",
          hint=("Which errors are bad luck worth another try, and which are bugs that a retry would only repeat "
                "(and hide)?",
                "asyncio.timeout (or wait_for) puts a deadline on one call; TimeoutError and OSError are the bad "
                "luck, anything else goes straight out.",
                "Pitfalls: after the last attempt the caller gets that attempt's own error (a bare raise keeps "
                "it), not None and not a new exception; and the wait doubles from one attempt to the next."))
def retry(answer) -> str:
    needs_async(answer, "check('07.2', fetch_with_retry)")
    timeout, backoff = 0.05, 0.1

    async def program() -> str:
        flaky = Flaky(hangs=2)
        got = await answer(flaky.fetch, 4, timeout, backoff)
        if got != "page":
            raise Wrong(f"the third try answers 'page': expected 'page', got {got!r}")
        if len(flaky.starts) != 3:
            raise Wrong(f"two tries hang, the third answers: expected 3 calls, got {len(flaky.starts)}")
        if flaky.cancelled != 2:
            raise Wrong(f"each hanging try must be cut off by its timeout (cancelled): {flaky.cancelled} of 2 were")
        first, second = (later - earlier for earlier, later in zip(flaky.starts, flaky.starts[1:]))
        if first < 0.9 * (timeout + backoff):
            raise Wrong(f"after the first timeout, wait `backoff` ({backoff} s) before trying again")
        if second < 0.9 * (timeout + 2 * backoff):
            raise Wrong(f"the second wait must be twice the first (backoff × 2**k): {backoff} s, then {2 * backoff} s")
        never = Flaky(hangs=99)
        try:
            got = await answer(never.fetch, 3, timeout, 0.01)
        except TimeoutError:
            pass
        else:
            raise Wrong(f"when every try times out, raise the last TimeoutError, not return {got!r}")
        if len(never.starts) != 3:
            raise Wrong(f"attempts=3 means 3 calls in all, got {len(never.starts)}")
        down = Flaky(hangs=0, then=OSError("connection refused"))
        try:
            await answer(down.fetch, 2, timeout, 0.01)
        except OSError:
            pass
        else:
            raise Wrong("a fetch that always raises OSError must end in that OSError")
        if len(down.starts) != 2:
            raise Wrong(f"an OSError is worth a retry: expected 2 calls with attempts=2, got {len(down.starts)}")
        bug = Flaky(hangs=0, then=ValueError("bad url"))
        try:
            got = await answer(bug.fetch, 3, timeout, 0.01)
        except ValueError:
            pass
        except Exception as error:
            raise Wrong(f"fetch raised ValueError('bad url'), and your function raised {error!r} instead: "
                        "let an error that is not worth a retry out unchanged") from None
        else:
            raise Wrong(f"fetch raised ValueError('bad url') and your function returned {got!r}: an error "
                        "that is not worth a retry must propagate to the caller, not be swallowed")
        if len(bug.starts) != 1:
            raise Wrong(f"a ValueError is a bug, not bad luck: do not retry it (it was called {len(bug.starts)} times)")
        return "timeouts and OSErrors retried after 0.1 s, then 0.2 s; the last error raised; bugs not retried."

    return run_async(program)


@exercise("07.3", title="A bounded gather",
          hint=("gather starts one task per job. How many tasks would you need if each task ran several jobs, one "
                "after the other?",
                "`limit` worker tasks sharing one source of jobs (an iterator, or an asyncio.Queue): a job one "
                "worker takes is gone for the others, and while its await suspends, another worker takes the next.",
                "Pitfall: the results must come back in the order of jobs, whatever order they finish in, so a "
                "worker must know each job's position."))
def bounded(answer) -> str:
    needs_async(answer, "check('07.3', bounded_gather)")

    async def program() -> str:
        flying = InFlight()

        def job(number: int) -> Callable[[], Awaitable[int]]:
            async def run() -> int:
                with flying:
                    await asyncio.sleep(0.01 * (1 + (7 * number) % 4))  # uneven lengths
                return number * number
            return run

        jobs = [job(number) for number in range(10)]
        got = await answer(jobs, 3)
        want = [number * number for number in range(10)]
        if isinstance(got, list) and sorted(got) == want and got != want:
            raise Wrong("every result is there, but not in the order of jobs: return them in that order")
        if got != want:
            raise Wrong(f"bounded_gather(jobs, 3) should return {want[:4]} ..., got {got!r}")
        if flying.total != 10:
            raise Wrong(f"each job must run once: {flying.total} runs for 10 jobs")
        if flying.most > 3:
            raise Wrong(f"{flying.most} jobs ran at once: the limit was 3")
        if flying.most < 3:
            raise Wrong(f"at most {flying.most} job(s) ran at once: with a limit of 3, 3 should run together")
        if others_left():
            raise Wrong(f"{len(others_left())} task(s) were still running when bounded_gather returned")
        return "10 results in order, never more than 3 jobs at once, and 3 at a time."

    return run_async(program)

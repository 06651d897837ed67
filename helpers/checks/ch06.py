"""Exercises of chapter 06 (build your own event loop): timers, sleep(), cancelling a task, a predicted trace.

The checkers run the learner's code on :mod:`helpers.homeloop` loops in the calling thread,
each run bounded by the loop's own deadline; they use no network and close every loop they open.
06.2 and 06.3 run on this module's own loop with timers (``_TimerLoop``), so they can be done
before 06.1.
"""

from __future__ import annotations

import heapq
import itertools
import time
import types

from helpers import homeloop
from helpers.asynctrace import LoopRecorder
from helpers.exercises import Wrong, exercise, same_order
from helpers.trace import Tracer

EARLY = 0.005  # seconds a timer may seem early (clock granularity)
LATE = 0.25    # seconds a timer may be late on a busy machine


class _CountingSelector:
    """Wraps a selector and counts select() calls: a loop waiting quietly makes few."""

    def __init__(self, selector) -> None:
        self._selector = selector
        self.selects = 0

    def select(self, timeout=None):
        self.selects += 1
        return self._selector.select(timeout)

    def __getattr__(self, name):
        return getattr(self._selector, name)


class _TimerLoop(homeloop.Loop):
    """A home-made loop with call_later, for the checks of 06.2 and 06.3."""

    def __init__(self, recorder=None) -> None:
        super().__init__(recorder)
        self._timers: list = []
        self._order = itertools.count()

    def call_later(self, delay, callback, *args):
        heapq.heappush(self._timers, (time.monotonic() + delay, next(self._order), callback, args))

    def run_once(self, timeout):
        now = time.monotonic()
        while self._timers and self._timers[0][0] <= now:
            _, _, callback, args = heapq.heappop(self._timers)
            self.call_soon(callback, *args)
        if self._timers:
            timeout = min(timeout, self._timers[0][0] - now)
        super().run_once(max(timeout, 0.0))


def _sleep(seconds):
    """The reference sleep (a Future completed by a timer), used by the checks of 06.3."""
    future, loop = homeloop.Future(), homeloop.get_loop()
    assert isinstance(loop, _TimerLoop), "the checks that sleep run on this module's loop with timers"
    loop.call_later(seconds, future.set_result, None)
    return future


@exercise("06.1", title="Timers for the home-made loop",
          hint=("When is the next timer due, and how long may the selector wait without making it late? And how do "
                "you find the earliest of many timers without sorting them every round?",
                "heapq keeps the earliest entry first without sorting the rest. Pitfalls: the earliest timer is "
                "not always the one scheduled first; two timers due at the same moment must not make Python "
                "compare their callbacks; and the time left until a timer is never below zero."))
def timers(answer) -> str:
    if not (isinstance(answer, type) and issubclass(answer, homeloop.Loop)):
        raise Wrong("pass your class itself, a subclass of homeloop.Loop: check('06.1', TimerLoop)")
    fired = []
    with answer() as loop:
        counting = loop.selector = _CountingSelector(loop.selector)
        done = homeloop.Future(loop)
        start = time.monotonic()

        def fire(name, delay):
            fired.append((name, delay, time.monotonic() - start))
            if len(fired) == 3:
                done.set_result(None)

        for name, delay in [("c", 0.3), ("a", 0.1), ("b", 0.2)]:
            loop.call_later(delay, fire, name, delay)
        try:
            loop.run_until_complete(done, deadline=3)
        except homeloop.LoopDeadline:
            raise Wrong(f"three timers of 0.1 to 0.3 s had not all run after 3 s (ran: {fired})") from None
    order = [name for name, _, _ in fired]
    if order != ["a", "b", "c"]:
        raise Wrong(f"timers of 0.3, 0.1 and 0.2 s (scheduled in that order) ran in the order {order}: "
                    "they should run in the order of their times, a, b, c")
    for name, delay, at in fired:
        if at < delay - EARLY:
            raise Wrong(f"timer {name!r} of {delay} s ran after {at:.3f} s: too early")
        if at > delay + LATE:
            raise Wrong(f"timer {name!r} of {delay} s ran after {at:.2f} s: late. Does the selector wait "
                        "past the next timer? Shorten its timeout")
    if counting.selects > 60:
        raise Wrong(f"the loop called select() {counting.selects} times in 0.3 s: it spins instead of "
                    "waiting quietly until the next timer")
    return "timers run in the order of their times, on time, and the loop waits quietly in between."


@exercise("06.2", title="sleep() for the home-made loop",
          hint=("A task waits by awaiting something that will be done later. What could that be, and who could make "
                "it done once the time has passed?",
                "A homeloop.Future suspends whoever awaits it until its result is set, and the loop's call_later "
                "(06.1) can run a callback later. Pitfalls: time.sleep stops every task, and a loop that keeps "
                "checking the clock never lets the selector wait."))
def sleep(answer) -> str:
    if not callable(answer):
        raise Wrong("pass the function itself: check('06.2', sleep)")
    woke = []

    async def sleeper(name, seconds):
        started = time.monotonic()
        result = await answer(seconds)
        woke.append((name, seconds, time.monotonic() - started))
        return result

    async def main():
        tasks = [homeloop.Task(sleeper(name, seconds), name) for name, seconds in
                 [("slow", 0.3), ("quick", 0.1), ("medium", 0.2), ("zero", 0)]]
        return [await task for task in tasks]

    with _TimerLoop() as loop:
        counting = loop.selector = _CountingSelector(loop.selector)
        started = time.monotonic()
        try:
            results = loop.run_until_complete(main(), deadline=3)
        except homeloop.LoopDeadline:
            raise Wrong(f"sleeps of 0.1 to 0.3 s were not over after 3 s (woke: {woke})") from None
        except TypeError as error:
            raise Wrong(f"`await sleep(0.1)` failed: {error}. Make sleep an async def") from None
        elapsed = time.monotonic() - started
    if elapsed > 0.5:
        raise Wrong(f"sleeps of 0.3, 0.1, 0.2 and 0 s in four tasks took {elapsed:.2f} s, about their sum: "
                    "your sleep blocks the whole loop (time.sleep?) instead of letting the others run")
    if counting.selects > 60:
        raise Wrong(f"the loop called select() {counting.selects} times during sleeps of 0.3 s: your sleep keeps "
                    "the loop spinning instead of letting it wait quietly until the time has come")
    order = [name for name, _, _ in woke]
    if order != ["zero", "quick", "medium", "slow"]:
        raise Wrong(f"tasks sleeping 0.3, 0.1, 0.2 and 0 s woke in the order {order}: expected zero, quick, "
                    "medium, slow")
    for _, seconds, slept in woke:
        if slept < seconds - EARLY:
            raise Wrong(f"sleep({seconds}) returned after {slept:.3f} s: too early")
    if results != [None] * 4:
        raise Wrong(f"sleep should return None, got {results[0]!r}")
    return "each task slept its time while the others ran; four sleeps took about the longest one."


@exercise("06.3", title="Cancel a task",
          hint=("Where is the task right now, as far as the loop knows, and who is going to wake it? What would "
                "that wake-up do if it still came after you had thrown something in?",
                "A step can throw an error in instead of sending a value (Task._step), and task.waiting_for with "
                "remove_done_callback unhooks the wake-up. Pitfalls: a done task is left alone; a future already "
                "done has queued its wake-up, which cannot be taken back and must run first."))
def cancellation(answer) -> str:
    if not callable(answer):
        raise Wrong("pass the function itself: check('06.3', cancel)")

    def sleeper(log):
        async def sleeping():
            try:
                await _sleep(0.3)
                log.append("slept to the end")
                return "woke"
            except homeloop.Cancelled:
                log.append("cancelled at its await")
                raise
            finally:
                log.append("finally")
        return sleeping()

    async def outcome(task):
        try:
            return f"returned {await task!r}"
        except homeloop.Cancelled:
            return "raised Cancelled"

    async def sleeping_then_cancelled(log, started):
        task = homeloop.Task(sleeper(log), "sleeper")
        if started:
            await _sleep(0.05)  # the sleeper now waits in its sleep
        me = homeloop.get_loop().current
        said = answer(task)
        if homeloop.get_loop().current is not me:
            raise Wrong("cancel(task) ran the task's step inside the caller's: queue it with the task's loop "
                        "(call_soon), so that it runs in a step of its own")
        return said, await outcome(task)

    for started in (True, False):
        when = "a task waiting in a 0.3 s sleep" if started else "a task not started yet"
        log: list[str] = []
        coro = sleeping_then_cancelled(log, started)
        with _TimerLoop() as loop:
            begin = time.monotonic()
            try:
                said, how = loop.run_until_complete(coro, deadline=3)
            except homeloop.LoopDeadline:
                raise Wrong(f"cancel on {when}: awaiting the task had not finished after 3 s: the task must "
                            "go on running, with Cancelled raised inside it, so that it can finish") from None
            except (Wrong, NotImplementedError):
                raise
            except Exception as error:
                raise Wrong(f"cancel on {when}: awaiting the task raised {error!r}, not Cancelled: throw "
                            "homeloop.Cancelled into the running coroutine (don't close it)") from None
            took = time.monotonic() - begin
            try:
                loop.run_for(0.35)  # the sleep's timer fires now: the cancelled task must not be woken by it
            except Exception as error:
                raise Wrong(f"cancel on {when}: when the future it had waited for was done after all, the loop "
                            f"failed with {error!r}: the task was still hanging on that future. Take its "
                            "wake-up off the future") from None
        if said is not True:
            raise Wrong(f"cancel on {when} should return True, got {said!r}")
        if how != "raised Cancelled" or log != ["cancelled at its await", "finally"]:
            raise Wrong(f"cancel on {when}: the task {how}, and inside it: {log}. Expected Cancelled raised "
                        "at its await (so its except and finally run), and out of `await task`")
        if took > 0.25:
            raise Wrong(f"cancel on {when}: awaiting it took {took:.2f} s, as long as the sleep: it was not "
                        "interrupted")

    async def quick():
        return 5

    async def done_then_cancelled():
        task = homeloop.Task(quick(), "quick")
        await task
        said = answer(task)
        await _sleep(0.01)
        return said, await outcome(task)

    with _TimerLoop() as loop:
        said, how = loop.run_until_complete(done_then_cancelled(), deadline=3)
    if said is not False or how != "returned 5":
        raise Wrong(f"cancel on a task that had returned 5 should return False and leave it alone; it returned "
                    f"{said!r} and the task then {how}")
    return "Cancelled raised at the task's await, in a step of its own; its finally ran; done tasks left alone."


@types.coroutine
def _let_others_run():
    yield


async def _a(box):
    box.set_result("hello")


async def _b(box):
    return await box


async def _c():
    await _let_others_run()


async def _main():
    box = homeloop.Future()
    tasks = [homeloop.Task(_b(box), "b"), homeloop.Task(_c(), "c"), homeloop.Task(_a(box), "a")]
    for task in tasks:
        await task


def _turns() -> list[str]:
    tracer = Tracer()
    with homeloop.Loop(recorder=LoopRecorder(tracer)) as loop:
        loop.run_until_complete(_main(), deadline=3)
    return tracer.order()


@exercise("06.4", title="Predict the trace",
          hint=("Which steps are queued when main makes the three tasks, and in what order? When a future is set, "
                "does the task waiting for it run at once?",
                "A task's first step is queued when the task is made, in that order; a future's done-callback is "
                "queued behind whatever is ready already; a bare yield queues the task again at the back."))
def predicted_turns(answer) -> str:
    truth = _turns()
    same_order(answer, truth, item="turn", example='["main", "b", ...]',
               mismatch="you said {said}, but {ran} ran")
    return f"{len(truth)} turns, in the order the loop ran them."

"""Reference solutions (and answers that must fail) for chapter 06's exercises."""

import heapq
import itertools
import time
import types

from helpers import homeloop


class TimerLoop(homeloop.Loop):
    def __init__(self, recorder=None):
        super().__init__(recorder)
        self.timers = []  # (when, number, callback, args), earliest first
        self.numbers = itertools.count()  # breaks ties: equal times run in the order scheduled

    def call_later(self, delay, callback, *args):
        heapq.heappush(self.timers, (time.monotonic() + delay, next(self.numbers), callback, args))

    def run_once(self, timeout):
        now = time.monotonic()
        while self.timers and self.timers[0][0] <= now:
            _, _, callback, args = heapq.heappop(self.timers)
            self.call_soon(callback, *args)
        if self.timers:
            timeout = min(timeout, max(0.0, self.timers[0][0] - now))
        super().run_once(timeout)


class TimersAtOnce(homeloop.Loop):
    """Runs every timer at the next round: ignores the delay."""

    def call_later(self, delay, callback, *args):
        self.call_soon(callback, *args)


class TimersInOrderScheduled(TimerLoop):
    """Keeps timers in a list in the order scheduled, and runs the first when it is due."""

    def call_later(self, delay, callback, *args):
        self.timers.append((time.monotonic() + delay, next(self.numbers), callback, args))

    def run_once(self, timeout):
        now = time.monotonic()
        while self.timers and self.timers[0][0] <= now:
            _, _, callback, args = self.timers.pop(0)
            self.call_soon(callback, *args)
        if self.timers:
            timeout = min(timeout, max(0.0, min(t[0] for t in self.timers) - now))
        homeloop.Loop.run_once(self, timeout)


class TimersWithoutShorterWait(TimerLoop):
    """Queues due timers, but lets the selector wait its whole timeout: timers run late."""

    def run_once(self, timeout):
        now = time.monotonic()
        while self.timers and self.timers[0][0] <= now:
            _, _, callback, args = heapq.heappop(self.timers)
            self.call_soon(callback, *args)
        homeloop.Loop.run_once(self, timeout)


class TimersSpinning(TimerLoop):
    """Never waits: polls the selector with a zero timeout, at 100% CPU."""

    def run_once(self, timeout):
        super().run_once(0)


async def sleep(seconds):
    future = homeloop.Future()
    homeloop.get_loop().call_later(seconds, future.set_result, None)
    await future


async def sleep_blocking(seconds):
    time.sleep(seconds)


async def sleep_not_waiting(seconds):
    future = homeloop.Future()
    homeloop.get_loop().call_later(seconds, future.set_result, None)


def sleep_plain_function(seconds):
    time.sleep(seconds)


def cancel(task):
    if task.done():
        return False

    def throw_in():
        if task.done():  # it finished meanwhile
            return
        future = task.waiting_for
        if future is not None and future.done():  # its wake-up is queued already: let it run first
            task.loop.call_soon(throw_in)
            return
        if future is not None:  # it must not be woken by that future any more
            future.remove_done_callback(task._wakeup)
            task.waiting_for = None
        task._step(None, homeloop.Cancelled(f"{task.name} was cancelled"))

    task.loop.call_soon(throw_in)
    return True


def cancel_by_closing(task):
    task.coro.close()  # its finally runs, but the task never finishes: whoever awaits it waits for ever
    return True


def cancel_by_setting_the_error(task):
    task.set_exception(homeloop.Cancelled())  # the awaiter sees it; the coroutine never does
    return True


def cancel_at_once(task):
    if task.done():
        return False
    task._step(None, homeloop.Cancelled())  # inside the caller's step, and still hanging on its future
    return True


def cancel_without_unhooking(task):
    if task.done():
        return False
    task.loop.call_soon(task._step, None, homeloop.Cancelled())  # the old future will wake it again
    return True


def cancel_even_when_done(task):
    def throw_in():
        future = task.waiting_for
        if future is not None:
            future.remove_done_callback(task._wakeup)
            task.waiting_for = None
        if not task.done():
            task._step(None, homeloop.Cancelled())

    task.loop.call_soon(throw_in)
    return True


SOLUTIONS = {
    "06.1": TimerLoop,
    "06.2": sleep,
    "06.3": cancel,
    "06.4": ["main", "b", "c", "a", "c", "b", "main"],
}

WRONG = {
    "06.1": [TimersAtOnce, TimersInOrderScheduled, TimersWithoutShorterWait, TimersSpinning, homeloop.Loop,
             "TimerLoop"],
    "06.2": [sleep_blocking, sleep_not_waiting, sleep_plain_function, 0.1],
    "06.3": [cancel_by_closing, cancel_by_setting_the_error, cancel_at_once, cancel_without_unhooking,
             cancel_even_when_done, "cancel"],
    "06.4": [["main", "b", "c", "a", "b", "c", "main"], ["main", "b", "c", "a", "main"], "main b c a c b main"],
}


# The chapter's own code, reproduced as an answer: it must not pass (the exercise needs a new idea).
class ChapterTimerLoop(homeloop.Loop):  # step 1a's countdown: a callback that queues itself again
    def call_later(self, delay, callback, *args):
        when = time.monotonic() + delay

        def not_yet():
            if time.monotonic() >= when:
                callback(*args)
            else:
                self.call_soon(not_yet)

        self.call_soon(not_yet)


@types.coroutine
def _let_others_run():
    yield  # a bare yield: "let the others run, then me"


async def chapter_sleep(seconds):  # the same idea as a coroutine: let the others run until it is time
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        await _let_others_run()


def chapter_close(task):  # what the loop's close() does to an unfinished task
    task.coro.close()
    return True


CHAPTER_CODE = {
    "06.1": [ChapterTimerLoop],
    "06.2": [chapter_sleep],
    "06.3": [chapter_close],
    "06.4": [["main", "consumer", "producer", "consumer", "main"]],  # the order of "Same order as asyncio"
}
WRONG["06.2"].append(chapter_sleep)  # a sleep that keeps the loop spinning

"""Reference solutions (and answers that must fail) for chapter 06's exercises."""

import heapq
import itertools
import time

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


async def gather(*coros):
    tasks = [homeloop.Task(coro) for coro in coros]
    return [await task for task in tasks]


async def gather_serial(*coros):
    return [await coro for coro in coros]


async def gather_in_finishing_order(*coros):
    results = []
    tasks = [homeloop.Task(coro) for coro in coros]
    for task in tasks:
        task.add_done_callback(lambda task: results.append(task.result()))
    for task in tasks:
        await task
    return results


async def gather_swallowing_errors(*coros):
    tasks = [homeloop.Task(coro) for coro in coros]
    results = []
    for task in tasks:
        try:
            results.append(await task)
        except Exception as error:
            results.append(error)
    return results


SOLUTIONS = {
    "06.1": TimerLoop,
    "06.2": sleep,
    "06.3": gather,
    "06.4": ["main", "b", "c", "a", "c", "b", "main"],
}

WRONG = {
    "06.1": [TimersAtOnce, TimersInOrderScheduled, TimersWithoutShorterWait, TimersSpinning, homeloop.Loop,
             "TimerLoop"],
    "06.2": [sleep_blocking, sleep_not_waiting, sleep_plain_function, 0.1],
    "06.3": [gather_serial, gather_in_finishing_order, gather_swallowing_errors, ["a", "b", "c"]],
    "06.4": [["main", "b", "c", "a", "b", "c", "main"], ["main", "b", "c", "a", "main"], "main b c a c b main"],
}

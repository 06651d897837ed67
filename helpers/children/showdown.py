"""The measuring side of ``helpers.showdown``, run as ``python -m helpers.children.showdown ...``.

Who calls it: only :mod:`helpers.showdown`, in a fresh interpreter of its own process group
(killed as a group when it is done, or when it overruns its timeout), so that the notebook's
kernel stays small and each model's memory is its own. Two commands; each prints one JSON
object per line on stdout and nothing else:

    sleepers MODEL COUNT TRACED   start COUNT sleepers of MODEL (each asleep for 60 s), read this
                                  process's memory (and its children's) while all of them sleep,
                                  then start TRACED more under tracemalloc; print one line
    switch ROUNDS BATCHES MODEL.. for each MODEL, the best of BATCHES batches of ROUNDS round trips
                                  (A hands control to B, B hands it back), the models taking turns
                                  batch by batch; one line per batch done, then one per model

The sleepers never wake: the interpreter ends (and its process group is killed) once they
are counted. Sleeping is what each model offers: a thread waits on an Event with a timeout, a
process sleeps in ``time.sleep``, a generator yields a ``("sleep", seconds)`` request to a
round-robin scheduler that keeps a heap of deadlines, a greenlet parks in such a heap too,
gevent sleeps with ``gevent.sleep``, the select loop keeps a heap of timer callbacks beside
its selector (the select loop of chapter 05 has no timers of its own), chapter 06's home-made
loop (which has no timers either) runs tasks that await a Future kept in such a heap, and
asyncio and uvloop tasks await ``asyncio.sleep``.
"""

from __future__ import annotations

import gc
import heapq
import itertools
import json
import os
import statistics
import struct
import sys
import threading
import time
import tracemalloc
from collections.abc import Callable
from typing import Protocol

from helpers import _system

__all__: list[str] = []

NAP = 60.0  # seconds every sleeper sleeps: far longer than the measurement


# --- sleepers: one class per model, start(n) starts n more of them -------------------------------


class Threads:
    def __init__(self) -> None:
        self.wake = threading.Event()  # never set: each thread sleeps its full NAP

    def start(self, n: int) -> int:
        for started in range(n):
            try:
                threading.Thread(target=self.wake.wait, args=(NAP,), daemon=True).start()
            except RuntimeError:  # "can't start new thread": the limit of this machine
                return started
        return n


class Processes:
    def __init__(self) -> None:
        import multiprocessing

        self.context = multiprocessing.get_context("fork")
        self.children: list = []

    def start(self, n: int) -> int:
        for started in range(n):
            try:
                child = self.context.Process(target=time.sleep, args=(NAP,), daemon=True)
                child.start()
            except OSError:  # out of processes or memory
                return started
            self.children.append(child)
        return n

    def children_kb(self) -> int:
        time.sleep(0.2)  # let the children reach their sleep (their pages copied by then)
        return sum(_system.private_kb(child.pid) for child in self.children)


class Generators:
    """Chapter 02's round-robin scheduler, with a heap of sleeping generators."""

    def __init__(self) -> None:
        self.sleeping: list = []
        self.numbers = itertools.count()

    @staticmethod
    def sleeper(seconds):
        yield ("sleep", seconds)

    def start(self, n: int) -> int:
        now = time.monotonic()
        for _ in range(n):
            task = self.sleeper(NAP)
            _request, seconds = next(task)  # run it to its first yield
            heapq.heappush(self.sleeping, (now + seconds, next(self.numbers), task))
        return n


class Greenlets:
    """Raw greenlets parked in a heap of deadlines (what a hub does, without the I/O)."""

    def __init__(self) -> None:
        import greenlet

        self.greenlet = greenlet.greenlet
        self.sleeping: list = []
        self.numbers = itertools.count()

    def start(self, n: int) -> int:
        sleeping, numbers, main = self.sleeping, self.numbers, self.greenlet.getcurrent()

        def sleeper(seconds):
            heapq.heappush(sleeping, (time.monotonic() + seconds, next(numbers), self.greenlet.getcurrent()))
            main.switch()  # park: back to the scheduler until woken

        for _ in range(n):
            self.greenlet(sleeper).switch(NAP)  # starts it: it runs until it parks
        return n


class Gevent:
    def __init__(self) -> None:
        import gevent

        self.gevent = gevent
        self.greenlets: list = []

    def start(self, n: int) -> int:
        self.greenlets.extend(self.gevent.spawn(self.gevent.sleep, NAP) for _ in range(n))
        self.gevent.sleep(0)  # let every new greenlet run until it sleeps
        return n


class SelectLoop:
    """A selectors loop with a heap of timer callbacks: a sleeper is a callback due in NAP seconds."""

    def __init__(self) -> None:
        import selectors

        self.selector = selectors.DefaultSelector()
        self.timers: list = []
        self.numbers = itertools.count()
        self.woken = 0

    def call_later(self, delay, callback, *args) -> None:
        heapq.heappush(self.timers, (time.monotonic() + delay, next(self.numbers), callback, args))

    def start(self, n: int) -> int:
        def wake(number):
            self.woken += 1

        for number in range(n):
            self.call_later(NAP, wake, number)
        self.selector.select(0)  # one turn of the loop
        return n


class HomeLoop:
    """Chapter 06's home-made loop (no timers): each task awaits a Future kept in a heap of deadlines."""

    def __init__(self) -> None:
        from helpers import homeloop

        self.homeloop = homeloop
        self.loop = homeloop.Loop()
        self.sleeping: list = []
        self.numbers = itertools.count()

    def start(self, n: int) -> int:
        homeloop, loop, sleeping, numbers = self.homeloop, self.loop, self.sleeping, self.numbers

        async def sleeper(seconds):
            future = homeloop.Future(loop)
            heapq.heappush(sleeping, (time.monotonic() + seconds, next(numbers), future))
            await future

        for _ in range(n):
            homeloop.Task(sleeper(NAP), loop=loop)
        loop.run_once(0)  # every task's first step: it reaches its await
        return n


class Asyncio:
    def __init__(self, uvloop: bool = False) -> None:
        import asyncio

        self.loop: asyncio.AbstractEventLoop  # uvloop's Loop is one too
        if uvloop:  # only asked for where it imports (showdown.uvloop_available)
            import uvloop as uvloop_module

            self.loop = uvloop_module.new_event_loop()
        else:
            self.loop = asyncio.new_event_loop()
        self.asyncio = asyncio
        self.tasks: list = []

    def start(self, n: int) -> int:
        asyncio, loop = self.asyncio, self.loop

        async def spawn():
            self.tasks.extend(asyncio.create_task(asyncio.sleep(NAP)) for _ in range(n))
            await asyncio.sleep(0)  # let every new task take its first step (and set its timer)

        loop.run_until_complete(spawn())
        return n


class _Sleepers(Protocol):
    def start(self, n: int) -> int: ...


SLEEPERS: dict[str, Callable[[], _Sleepers]] = {
    "thread": Threads, "process": Processes, "generator": Generators, "greenlet": Greenlets,
    "gevent": Gevent, "select loop": SelectLoop, "home loop": HomeLoop,
    "asyncio": Asyncio, "uvloop": lambda: Asyncio(uvloop=True),
}


def sleepers(model: str, count: int, traced: int) -> dict:
    sleepers = SLEEPERS[model]()
    gc.collect()
    rss0, vm0 = _system.status_kb("VmRSS"), _system.status_kb("VmSize")
    start, cpu = time.perf_counter(), time.process_time()
    started = sleepers.start(count)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    rss1, vm1 = _system.status_kb("VmRSS"), _system.status_kb("VmSize")
    children = sleepers.children_kb() if hasattr(sleepers, "children_kb") else 0
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    more = sleepers.start(traced) if started == count else 0
    traced_bytes = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    return {"model": model, "asked": count, "started": started, "seconds": elapsed, "cpu_seconds": cpu,
            "rss_kb": rss1 - rss0 + children, "vm_kb": vm1 - vm0, "traced": more, "traced_bytes": traced_bytes}


# --- switch cost: one round trip = A hands control to B, B hands it back -------------------------


def _clocks() -> tuple[float, float]:
    """(wall, CPU) now: CPU time counts every thread of this process, and never time spent waiting."""
    return time.perf_counter(), time.process_time()


def _since(start: tuple[float, float]) -> tuple[float, float]:
    wall, cpu = _clocks()
    return wall - start[0], cpu - start[1]


def switch_generator(rounds: int) -> tuple[float, float]:
    def echo():
        value = None
        while True:
            value = yield value

    task = echo()
    next(task)
    send = task.send
    start = _clocks()
    for i in range(rounds):
        send(i)
    return _since(start)


def switch_greenlet(rounds: int) -> tuple[float, float]:
    import greenlet

    main = greenlet.getcurrent()

    def echo(value):
        while True:
            value = main.switch(value)

    other = greenlet.greenlet(echo)
    switch = other.switch
    start = _clocks()
    for i in range(rounds):
        switch(i)
    elapsed = _since(start)
    other.throw(greenlet.GreenletExit)
    return elapsed


def _switch_asyncio(rounds: int, new_loop) -> tuple[float, float]:
    import asyncio

    async def player(n):
        for _ in range(n):
            await asyncio.sleep(0)  # one step ends: the loop runs the other task's step, then ours

    async def match():
        start = _clocks()
        await asyncio.gather(player(rounds), player(rounds))
        return _since(start)

    loop = new_loop()
    try:
        return loop.run_until_complete(match())
    finally:
        loop.close()


def switch_asyncio(rounds: int) -> tuple[float, float]:
    import asyncio

    return _switch_asyncio(rounds, asyncio.new_event_loop)


def switch_uvloop(rounds: int) -> tuple[float, float]:
    import uvloop

    return _switch_asyncio(rounds, uvloop.new_event_loop)


def switch_home_loop(rounds: int) -> tuple[float, float]:
    from helpers import homeloop

    class Yield:  # asyncio.sleep(0) for the home-made loop: a bare yield means "the others first"
        def __await__(self):
            yield

    async def player(n):
        for _ in range(n):
            await Yield()

    with homeloop.Loop() as loop:
        start = _clocks()
        homeloop.Task(player(rounds), loop=loop)
        homeloop.Task(player(rounds), loop=loop)
        loop.run(deadline=60)
        return _since(start)


def switch_thread(rounds: int) -> tuple[float, float]:
    ping, pong = threading.Lock(), threading.Lock()
    ping.acquire()
    pong.acquire()

    def echo():
        for _ in range(rounds):
            ping.acquire()  # wait for the main thread's hand-off
            pong.release()  # hand back

    other = threading.Thread(target=echo, daemon=True)
    other.start()
    start = _clocks()  # process_time counts both threads' CPU, not their time asleep on a lock
    for _ in range(rounds):
        ping.release()
        pong.acquire()
    elapsed = _since(start)
    other.join(5)
    return elapsed


def switch_process(rounds: int) -> tuple[float, float]:
    to_child, from_parent = os.pipe()
    to_parent, from_child = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: echo every byte back, then send the CPU time that took, and leave
        try:
            os.read(to_child, 1)  # the first byte: the parent's clocks are running
            cpu = time.process_time()
            os.write(from_child, b"x")
            for _ in range(rounds - 1):
                os.write(from_child, os.read(to_child, 1))
            os.write(from_child, struct.pack("d", time.process_time() - cpu))
        finally:
            os._exit(0)
    try:
        start = _clocks()
        for _ in range(rounds):
            os.write(from_parent, b"x")
            os.read(to_parent, 1)
        wall, cpu = _since(start)
        child_cpu = struct.unpack("d", os.read(to_parent, 8))[0]
        return wall, cpu + child_cpu  # both sides' CPU: the parent's clock cannot see the child's
    finally:
        os.waitpid(pid, 0)
        for fd in (to_child, from_parent, to_parent, from_child):
            os.close(fd)


SWITCHES = {
    "generator": switch_generator, "greenlet": switch_greenlet, "home loop": switch_home_loop,
    "asyncio": switch_asyncio, "uvloop": switch_uvloop, "thread": switch_thread, "process": switch_process,
}
# Round trips per batch, as a multiple of ROUNDS: every batch of every model lasts a few ms (a
# generator send costs tens of ns, a thread or process round trip tens of µs).
SCALE = {"generator": 20, "greenlet": 4, "home loop": 1, "asyncio": 1, "uvloop": 1, "thread": 0.1, "process": 0.1}


def rounds_for(model: str, rounds: int) -> int:
    return max(int(rounds * SCALE[model]), 2)


def main(argv: list[str]) -> None:
    command = argv[0]
    if command == "sleepers":
        model, count, traced = argv[1], int(argv[2]), int(argv[3])
        print(json.dumps(sleepers(model, count, traced)), flush=True)
        os._exit(0)  # sleepers never wake; the caller kills the process group
    elif command == "switch":
        rounds, batches, models = int(argv[1]), int(argv[2]), argv[3:]
        walls: dict[str, list[float]] = {model: [] for model in models}
        cpus: dict[str, list[float]] = {model: [] for model in models}
        for batch in range(batches):  # the models take turns: a burst of load hits them all alike
            for model in models:
                n = rounds_for(model, rounds)
                wall, cpu = SWITCHES[model](n)
                walls[model].append(wall / n)
                cpus[model].append(cpu / n)
            print(json.dumps({"batch": batch + 1}), flush=True)
        for model in models:
            print(json.dumps({"model": model, "rounds": rounds_for(model, rounds), "batches": batches,
                              "seconds": min(walls[model]), "median": statistics.median(walls[model]),
                              "cpu": min(cpus[model]), "cpu_median": statistics.median(cpus[model])}),
                  flush=True)
    else:
        raise SystemExit(f"unknown command {command!r}")


if __name__ == "__main__":
    from helpers.children import restore_ctrl_c

    restore_ctrl_c()
    main(sys.argv[1:])

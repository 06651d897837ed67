"""A heartbeat probe: does one task keep running while other work runs, or is it starved?

A heartbeat is a task that wakes every ``interval`` seconds and records a beat. While other
work runs in the same thread, the longest gap between beats says whether the scheduler let the
heartbeat run: about 1× the interval when the work shares (it waits or yields now and then),
far more when it hogs the thread (pure computation, or a blocking call inside a greenlet or a
coroutine). Chapter 04 (a CPU-bound greenlet), chapter 07 (a blocking call in asyncio) and
chapter 11 print that gap as a verdict::

    with gevent_heartbeat(interval=0.02) as heart:   # a greenlet beats every 0.02 s
        crunch()                                     # the work, run right here
    print("longest silence:", heart.silence(choices=(1, 20)))
    # longest silence: about 20× heartbeat interval (not 1×)
    print(heart.kept_beating())   # no: not one beat while the block ran

    async with asyncio_heartbeat(interval=0.02) as heart:   # the same with an asyncio task
        await work()

Or beat by hand, from any loop of your own: ``heart = Heartbeat(0.02)``, call
``heart.beat()`` every turn, and wrap the work in ``with heart.window(): ...``.

Which clock: starvation is a property of the program, not of the machine. A wall clock also
counts the time the operating system keeps the whole process off the CPU because other
processes want it, so on a loaded machine even a well-behaved program shows long silences
(chapter 04 printed "about 20×" instead of 1× when four notebooks were validated at once on
2 cores). The probe therefore measures on :func:`program_clock`: wall time minus the time this
thread spent *waiting for a CPU* (Linux reports it per thread, in nanoseconds, in
``/proc/thread-self/schedstat``). It advances while the thread computes, sleeps, waits for I/O
or for a lock, i.e. whenever the delay is the program's doing; it stands still while the
thread is ready but the OS runs someone else. Where that file is missing (macOS, Windows) it
falls back to the wall clock, and ``Heartbeat.clock`` says ``"wall"``: verdicts are then right
on an idle machine only. Work that must last "0.4 s of computation" should measure itself on
the CPU clock (``time.thread_time()``), so that its length, too, does not depend on the load.

Threads: a :class:`Heartbeat` measures the thread that created it; ``beat()`` and
``window()`` raise RuntimeError in another thread. Greenlets and asyncio tasks of one thread
are what it is for. Blocking: ``gevent_heartbeat`` and ``asyncio_heartbeat`` wait (at most
``timeout`` seconds) for the first beat on entry and for the beating task to end on exit;
nothing else blocks. Nothing here prints.

For notebooks: :class:`Heartbeat`, :func:`gevent_heartbeat`, :func:`asyncio_heartbeat`,
:func:`program_clock`.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

from helpers._checks import seconds
from helpers.timing import Verdict, about

__all__ = ["Heartbeat", "asyncio_heartbeat", "gevent_heartbeat", "program_clock"]

MAX_INTERVAL = 60.0
MAX_TIMEOUT = 600.0
_SCHEDSTAT = "/proc/thread-self/schedstat"  # "<ns on cpu> <ns waiting for a cpu> <timeslices>"
_READ_TRIES = 5


def _cpu_wait() -> float | None:
    """Seconds this thread has spent ready to run but waiting for a CPU, or None if unknown."""
    try:
        fd = os.open(_SCHEDSTAT, os.O_RDONLY)
    except OSError:
        return None
    try:
        fields = os.read(fd, 200).split()
    except OSError:
        return None
    finally:
        os.close(fd)
    try:
        waited, slices = int(fields[1]), int(fields[2])
    except (IndexError, ValueError):
        return None
    # A thread that runs has had at least one time slice; 0 means the kernel keeps no account.
    return waited / 1e9 if slices > 0 else None


_HAS_CPU_WAIT = _cpu_wait() is not None


def program_clock() -> float:
    """Seconds on this thread's program clock: wall time minus its time spent waiting for a CPU.

    Only differences between two readings in the same thread mean something. The clock stands
    still while the operating system keeps this thread off the CPU in favour of other processes;
    it runs on while the thread computes, sleeps or waits for I/O. Falls back to
    ``time.perf_counter()`` where the operating system does not report the waiting time.
    """
    if not _HAS_CPU_WAIT:
        return time.perf_counter()
    for _ in range(_READ_TRIES):
        before = _cpu_wait()
        now = time.perf_counter()
        after = _cpu_wait()
        if before is None or after is None:
            break
        if before == after:  # not taken off the CPU between the two reads: `now` matches them
            return now - before
    return time.perf_counter() - (_cpu_wait() or 0.0)


class Heartbeat:
    """Beats of one task and the window of work they are judged over.

    ``beat()`` records a beat (on :func:`program_clock`); ``window()`` marks the work being
    judged. Afterwards ``beats`` counts the beats inside the window, ``longest_gap`` is the
    longest stretch inside it without a beat (its edges count as beats) and ``silence()`` says
    how many intervals that is. ``gaps`` keeps every stretch, in seconds, for a plot.
    """

    def __init__(self, interval: float) -> None:
        self.interval = seconds(interval, "interval", maximum=MAX_INTERVAL)
        self.clock = "program" if _HAS_CPU_WAIT else "wall"
        self._thread = threading.get_ident()
        self._beats: list[float] = []
        self._start: float | None = None
        self._end: float | None = None

    def _same_thread(self, what: str) -> None:
        if threading.get_ident() != self._thread:
            raise RuntimeError(f"{what} in another thread: a Heartbeat measures the thread that created it")

    def beat(self) -> None:
        """Record one beat, now."""
        self._same_thread("beat()")
        self._beats.append(program_clock())

    @contextmanager
    def window(self) -> Iterator[Heartbeat]:
        """Judge the beats from entering this block to leaving it (once per Heartbeat)."""
        self._same_thread("window()")
        if self._start is not None:
            raise RuntimeError("this Heartbeat has judged its window already: make a new one")
        self._start = program_clock()
        try:
            yield self
        finally:
            self._end = program_clock()

    def _edges(self) -> tuple[float, float]:
        if self._start is None:
            raise RuntimeError("no window yet: run the work inside `with heart.window():`")
        return self._start, self._end if self._end is not None else program_clock()

    @property
    def beats(self) -> int:
        """How many beats fell inside the window."""
        start, end = self._edges()
        return sum(1 for t in self._beats if start <= t <= end)

    @property
    def gaps(self) -> list[float]:
        """Every stretch without a beat inside the window, in seconds of the probe's clock."""
        start, end = self._edges()
        times = [start, *(t for t in self._beats if start <= t <= end), end]
        return [later - earlier for earlier, later in zip(times, times[1:])]

    @property
    def longest_gap(self) -> float:
        """The longest stretch without a beat inside the window, in seconds."""
        return max(self.gaps)

    def silence(self, choices: tuple[float, ...] = (1, 10), *, expected: float | None = None) -> Verdict:
        """The longest gap as a verdict: "about 1× heartbeat interval (not 10×)".

        ``choices`` are multiples of the interval to pick from (on a log scale, see
        ``helpers.timing.about``); ``expected`` (one of them) sets the verdict's ``holds``.
        """
        return about(self.longest_gap, unit=self.interval, choices=choices,
                     unit_name="heartbeat interval", expected=expected)

    def kept_beating(self) -> Verdict:
        """Whether the heartbeat beat at all inside the window: "yes: ..." or "no: not one beat ...".

        A question of order, not of timing: a block that never lets the heartbeat's task run
        (a blocking call in a coroutine) leaves no beat, however quick the machine; a block that
        waits lets the loop run the heartbeat's timer, which falls due first, however slow the
        machine. So the answer does not change with the load, where ``silence()`` may. The
        verdict's ``ratio`` is the number of beats; ``holds`` is whether there was one.
        """
        beats = self.beats
        text = "yes: it beat while the block ran" if beats else "no: not one beat while the block ran"
        return Verdict(text, float(beats), beats > 0)

    def beats_text(self, enough: int = 5) -> str:
        """The beat count as stable text: "0", "a few" or "at least <enough>"."""
        if isinstance(enough, bool) or not isinstance(enough, int):
            raise TypeError(f"enough must be an int, not {enough!r}")
        if enough < 2:
            raise ValueError(f"enough must be 2 or more, not {enough!r}")
        beats = self.beats
        return "0" if beats == 0 else f"at least {enough}" if beats >= enough else "a few"

    def __repr__(self) -> str:
        if self._start is None:
            return f"<Heartbeat every {self.interval:g} s: {len(self._beats)} beats, no window yet>"
        return f"<Heartbeat every {self.interval:g} s: {self.beats} beats in the window, {self.clock} clock>"


@contextmanager
def gevent_heartbeat(interval: float = 0.02, *, timeout: float = 10.0) -> Iterator[Heartbeat]:
    """Beat every ``interval`` s in a gevent greenlet while the ``with`` block runs; judge the block.

    The block runs in the caller's greenlet, so the heartbeat gets a turn only when the block
    waits or lets the hub's loop turn (``gevent.idle()``, a positive ``gevent.sleep``): its
    timer fires only then, and ``gevent.sleep(0)`` alone may hand the block back before the loop
    turns (gevent's documentation says so). On entry, waits for the first beat; on exit, kills
    the beating greenlet and waits for it to end (each at most ``timeout`` seconds).
    """
    import gevent
    import gevent.event

    heart = Heartbeat(interval)
    timeout = seconds(timeout, "timeout", maximum=MAX_TIMEOUT)
    started = gevent.event.Event()

    def beat_forever() -> None:
        while True:
            heart.beat()
            started.set()
            gevent.sleep(heart.interval)

    beater = gevent.spawn(beat_forever)
    try:
        if not started.wait(timeout=timeout):
            raise TimeoutError(f"the heartbeat greenlet did not beat within {timeout:g} s")
        with heart.window():
            yield heart
    finally:
        beater.kill(block=True, timeout=timeout)
    if not beater.dead:
        raise RuntimeError(f"the heartbeat greenlet did not end within {timeout:g} s")


@asynccontextmanager
async def asyncio_heartbeat(interval: float = 0.02, *, timeout: float = 10.0) -> AsyncIterator[Heartbeat]:
    """Beat every ``interval`` s in an asyncio task while the ``async with`` block runs; judge the block.

    The block runs in the caller's task, so the heartbeat gets a turn only where the block's
    chain of awaits actually suspends (a future not done yet, or ``asyncio.sleep(0)``); an
    ``await`` that finds its answer ready gives it none. On entry, waits for the first beat; on exit, cancels the
    beating task and waits for it to end (each at most ``timeout`` seconds).
    """
    heart = Heartbeat(interval)
    timeout = seconds(timeout, "timeout", maximum=MAX_TIMEOUT)
    started = asyncio.Event()

    async def beat_forever() -> None:
        while True:
            heart.beat()
            started.set()
            await asyncio.sleep(heart.interval)

    beater = asyncio.create_task(beat_forever(), name="heartbeat")
    try:
        try:
            await asyncio.wait_for(started.wait(), timeout)
        except TimeoutError:
            raise TimeoutError(f"the heartbeat task did not beat within {timeout:g} s") from None
        with heart.window():
            yield heart
    finally:
        beater.cancel()
        await asyncio.wait([beater], timeout=timeout)
    if not beater.done():
        raise RuntimeError(f"the heartbeat task did not end within {timeout:g} s")

"""Worker functions and rigging for chapter 10 (processes and coroutines).

Why a module: a worker process must find the function it is asked to run. Under the
``fork`` start method it inherits a copy of the notebook, functions and all; under
``spawn`` and ``forkserver`` it starts from a fresh interpreter and finds a function by
importing the module it was defined in. A function defined in a notebook cell lives in
``__main__``, which a fresh interpreter cannot import, so the chapter keeps the functions
its pools run here, where every start method finds them.

For notebooks:

- ``square``, ``slow_square``, ``where_am_i``: tiny pool jobs;
- ``burn(n)``: the CPU-bound job (pure Python arithmetic, no I/O, no sleep);
  ``traced_burn(n)`` does the same work and also records *when* it was computing, as
  :class:`Spans`; :func:`most_at_once` and :func:`overlap_share` read those spans back:
  how many jobs computed at the same instant, and for what share of the run;
- :func:`usable_cpus`: the CPUs this process may run on (``os.sched_getaffinity`` where
  the system has it, else ``os.cpu_count()``);
- :func:`cpu_seconds`: CPU seconds used so far by this process and its *reaped* children
  (``os.times``), to turn a run into "CPU-seconds per wall-second";
- :func:`echo_fleet`: an echo server made of ``workers`` forked processes, each running
  its own asyncio event loop on its own listening socket bound to one shared port with
  ``SO_REUSEPORT`` (the kernel spreads incoming connections over them). It counts the
  connections each worker served, by worker index.

Blocking and cleanup: ``echo_fleet`` blocks on entry until every worker listens (at most
``timeout`` s) and on exit until every worker has stopped (SIGTERM, then SIGKILL after a
grace) and been reaped. Nothing here prints; worker processes never print either.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import socket
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from helpers.fresh import ProgramResult, run_program
from helpers.heartbeat import program_clock

__all__ = ["Fleet", "Spans", "burn", "cpu_seconds", "echo_fleet", "most_at_once", "overlap_share",
           "pid_square", "run_script", "slow_square", "square", "traced_burn", "usable_cpus", "where_am_i"]

CHUNK = 2_000          # iterations of burn between two looks at the clock in traced_burn
GAP = 0.001            # seconds: two looks further apart than this mean "was not computing between"
GRACE = 3.0            # seconds a fleet worker gets to stop after SIGTERM


# --- pool jobs -------------------------------------------------------------------------------

def square(x: int) -> int:
    """x * x (the smallest job a pool can run)."""
    return x * x


def slow_square(x: int, unit: float) -> int:
    """x * x after sleeping ``unit`` seconds: a job that takes one unit of time."""
    time.sleep(unit)
    return x * x


def pid_square(x: int, unit: float = 0.05) -> tuple[int, int]:
    """``(x * x, pid of the process that computed it)``, after sleeping ``unit`` s (2 units for even x)."""
    time.sleep(unit * (2 if x % 2 == 0 else 1))
    return x * x, os.getpid()


def where_am_i(parent_pid: int) -> str:
    """"parent" when called in the process ``parent_pid``, else "worker"."""
    return "parent" if os.getpid() == parent_pid else "worker"


def burn(n: int) -> int:
    """A CPU-bound job: ``n`` rounds of integer arithmetic; returns a checksum (same n, same value)."""
    total = 0
    for i in range(n):
        total = (total + i * i) % 1_000_003
    return total


# --- a program that is a real file --------------------------------------------------------

def run_script(source: str, *, timeout: float = 10.0) -> ProgramResult:
    """Run ``source`` like ``python program.py`` in a fresh interpreter, with program.py really on disk.

    :func:`helpers.fresh.run_program` with one difference that matters for ``spawn``: the file
    ``program.py`` exists in the program's working directory, so a spawned worker can import
    it again (as ``__mp_main__``), exactly as it does with a script you run yourself. Blocks;
    on timeout the program and every process it started are killed and ProgramTimeout raised.
    """
    with tempfile.TemporaryDirectory(prefix="switchyard-script-", ignore_cleanup_errors=True) as folder:
        with open(os.path.join(folder, "program.py"), "w", encoding="utf-8") as file:
            file.write(source)
        return run_program(source, timeout=timeout, cwd=folder)


# --- who computed when -----------------------------------------------------------------------

@dataclass(frozen=True)
class Spans:
    """The result of :func:`traced_burn`: its checksum, and the wall-clock intervals it computed in.

    ``spans`` are ``(start, end)`` pairs on ``time.perf_counter()``, which on Linux is the
    system-wide monotonic clock: spans measured in different processes can be compared.
    """

    checksum: int
    spans: tuple[tuple[float, float], ...] = field(repr=False)
    pid: int = field(repr=False, default=0)
    program_seconds: float = 0.0  # the job's length on helpers.heartbeat.program_clock
    cpu_seconds: float = 0.0      # the CPU time its thread used (time.thread_time)

    @property
    def held_back(self) -> float:
        """Share (0 to 1) of the job's time it was ready to compute, not waiting for a CPU, yet not computing.

        Time the operating system kept it off the CPU does not count (the program clock stands
        still then): what is left is time the *program* made it wait, e.g. for the GIL.
        """
        if self.program_seconds <= 0:
            return 0.0
        return min(1.0, max(0.0, self.program_seconds - self.cpu_seconds) / self.program_seconds)

    @property
    def computing(self) -> float:
        """Seconds spent computing (the sum of the spans)."""
        return sum(end - start for start, end in self.spans)


def traced_burn(n: int) -> Spans:
    """``burn(n)``, looking at the clock every CHUNK rounds to record when it was really computing.

    Two looks less than GAP apart mean the job computed in between; a longer gap means it was
    held off the CPU (another process ran, or another thread held the GIL).
    """
    spans: list[tuple[float, float]] = []
    now = time.perf_counter
    clock0, cpu0 = program_clock(), time.thread_time()
    start = last = now()
    total, done = 0, 0
    while done < n:
        for i in range(done, min(done + CHUNK, n)):
            total = (total + i * i) % 1_000_003
        done = min(done + CHUNK, n)
        t = now()
        if t - last > GAP:
            if last > start:
                spans.append((start, last))
            start = t
        last = t
    if last > start:
        spans.append((start, last))
    cpu, clock = time.thread_time() - cpu0, program_clock() - clock0
    return Spans(total, tuple(spans), os.getpid(), clock, cpu)


def _edges(runs: Sequence[Spans]) -> list[tuple[float, int]]:
    edges = [(start, 1) for run in runs for start, _ in run.spans]
    edges += [(end, -1) for run in runs for _, end in run.spans]
    return sorted(edges, key=lambda edge: (edge[0], edge[1]))  # an end before a start at one instant


def most_at_once(runs: Sequence[Spans], lasting: float = 2 * GAP) -> int:
    """The most jobs that were computing at the same time, for ``lasting`` seconds or more.

    Shorter overlaps are the spans' blind spot, not computing: a job that was held off the CPU
    for less than GAP looks as if it computed all along. Two threads show it when one of them
    ends its job within GAP of taking the GIL: the other resumes at once, and its span covers
    the last moments of the first (seen once in about a hundred runs on Python 3.13).
    """
    most = current = 0
    previous = None
    for t, step in _edges(runs):
        if previous is not None and t - previous >= lasting:
            most = max(most, current)  # ``current`` jobs computed from ``previous`` to ``t``
        current += step
        previous = t
    return most


def overlap_share(runs: Sequence[Spans]) -> float:
    """The share (0 to 1) of the whole run during which two jobs or more were computing at once."""
    edges = _edges(runs)
    if not edges:
        return 0.0
    together, current, previous = 0.0, 0, edges[0][0]
    for t, step in edges:
        if current >= 2:
            together += t - previous
        current += step
        previous = t
    whole = edges[-1][0] - edges[0][0]
    return together / whole if whole > 0 else 0.0


def usable_cpus() -> int:
    """How many CPUs this process may run on (its affinity mask where the system has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def cpu_seconds() -> float:
    """CPU seconds (user + system) of this process and of its children that have been reaped."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


# --- an event loop per process ---------------------------------------------------------------

@dataclass
class Fleet:
    """A running echo fleet: where to connect, and (after the ``with`` block) who served what."""

    address: tuple[str, int]
    workers: int
    served: dict[int, int] = field(default_factory=dict)   # worker index -> connections served
    exitcodes: list[int | None] = field(default_factory=list)

    def serving_workers(self) -> int:
        """How many workers served at least one connection."""
        return sum(1 for count in self.served.values() if count)


async def _serve(index: int, port: int, ready, counts) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
            with counts.get_lock():
                counts[index] += 1
        except ConnectionError:
            pass
        finally:
            writer.close()

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(("127.0.0.1", port))
    server = await asyncio.start_server(echo, sock=sock, backlog=4096)
    ready.set()
    await stop.wait()
    server.close()


def _fleet_worker(index: int, port: int, ready, counts) -> None:
    # Forked from a process whose own event loop was running (a notebook kernel): forget that
    # loop and its signal wake-up descriptor, then run a loop of our own.
    asyncio._set_running_loop(None)
    signal.set_wakeup_fd(-1)
    asyncio.run(_serve(index, port, ready, counts))


def _stop(procs: list) -> list[int | None]:
    for proc in procs:
        if proc.is_alive():
            proc.terminate()
    deadline = time.monotonic() + GRACE
    for proc in procs:
        proc.join(max(0.0, deadline - time.monotonic()))
        if proc.is_alive():
            proc.kill()
            proc.join(GRACE)
    return [proc.exitcode for proc in procs]


@contextmanager
def echo_fleet(workers: int = 2, *, timeout: float = 10.0) -> Iterator[Fleet]:
    """An echo server of ``workers`` forked processes, one asyncio loop each, sharing one port.

    The port is reserved by a socket of this process (bound with SO_REUSEPORT, never listening,
    so no connection is queued on it); each worker binds its own SO_REUSEPORT socket to that
    port and listens. Linux spreads new connections over the listening sockets by a hash of the
    client's address and port. Yields a :class:`Fleet`; on exit every worker gets SIGTERM, its
    loop closes the server, and it is joined (SIGKILL after GRACE s); ``served`` and
    ``exitcodes`` are then filled in. Linux only (SO_REUSEPORT with load balancing, and fork).
    """
    if isinstance(workers, bool) or not isinstance(workers, int) or not 1 <= workers <= 16:
        raise ValueError(f"workers must be an int from 1 to 16, not {workers!r}")
    if not hasattr(socket, "SO_REUSEPORT"):
        raise OSError("this system has no SO_REUSEPORT: the fleet needs Linux")
    ctx = multiprocessing.get_context("fork")
    counts = ctx.Array("i", workers)
    reserve = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    procs: list = []
    fleet = None
    try:
        reserve.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        reserve.bind(("127.0.0.1", 0))
        port = reserve.getsockname()[1]
        readies = [ctx.Event() for _ in range(workers)]
        for index in range(workers):
            proc = ctx.Process(target=_fleet_worker, args=(index, port, readies[index], counts),
                               name=f"echo-worker-{index}", daemon=True)
            proc.start()
            procs.append(proc)
        deadline = time.monotonic() + timeout
        for index, ready in enumerate(readies):
            if not ready.wait(max(0.0, deadline - time.monotonic())):
                raise TimeoutError(f"echo worker {index} was not listening after {timeout:g} s")
        fleet = Fleet(("127.0.0.1", port), workers)
        yield fleet
    finally:
        exitcodes = _stop(procs)
        reserve.close()
        if fleet is not None:
            fleet.exitcodes = exitcodes
            fleet.served = {index: counts[index] for index in range(workers)}

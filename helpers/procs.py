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
  how many jobs computed at the same instant, and for what share of the run (:func:`together`:
  when); :func:`at_once_line` and :func:`held_back_line` say it as the lines chapter 10 prints;
- :func:`usable_cpus`: the CPUs this process may run on (``os.sched_getaffinity`` where
  the system has it, else ``os.cpu_count()``);
- :func:`cpu_seconds`: CPU seconds used so far by this process and its *reaped* children
  (``os.times``), to turn a run into "CPU-seconds per wall-second";
- :func:`spans_picture`: the spans of each way drawn one row per job, as a PNG that carries
  the spans it draws (:func:`picture_spans` reads them back, so a test can check the picture);
- :func:`core_race`: the same job in ``jobs`` threads of this process and ``jobs`` processes
  of a pool, *at the same time* and for the same time; :func:`core_verdict` turns the CPU time
  each side got, per second it could run, into a graded sentence; :func:`competed` says
  whether a round's threads were both there to compete (a crowded machine can keep one off
  the CPU). Jobs: :func:`burn_for` (pure Python), :func:`hash_for` (``hashlib.sha256`` of a
  1 MiB buffer: C code that releases the GIL) and :func:`hash_small_for` (the same on 1 KiB
  buffers, where hashlib keeps the GIL);
- :func:`fork_context`: the fork start method, or one clear line saying why this system
  cannot give it (:class:`NeedsFork`);
- :func:`fleet_of`: ``workers`` forked processes, each running a worker function written in
  the notebook on one shared port (``SO_REUSEPORT``), stopped with SIGTERM and reaped;
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
import hashlib
import io
import json
import math
import multiprocessing
import os
import signal
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from helpers import _figures
from helpers.fresh import ProgramResult, run_program
from helpers.heartbeat import program_clock
from helpers.timing import Verdict

__all__ = ["CoreRace", "Fleet", "NeedsFork", "Share", "Spans", "SpansPicture", "at_once_line", "burn", "burn_for",
           "chapter_context", "competed", "core_race", "core_verdict", "cpu_seconds", "echo_fleet", "fleet_of",
           "fork_context", "hash_for", "hash_small_for", "held_back_line", "most_at_once", "overlap_share",
           "picture_spans", "pid_square", "run_script", "slow_square", "spans_picture", "square", "together",
           "traced_burn", "usable_cpus", "where_am_i"]

CHUNK = 2_000          # iterations of burn between two looks at the clock in traced_burn
GAP = 0.001            # seconds: two looks further apart than this mean "was not computing between"
GRACE = 3.0            # seconds a fleet worker gets to stop after SIGTERM
LEAD = 0.3             # seconds between handing out a race's jobs and the start of its window
SWITCHES = 4           # a race's threads competed in a round if each could run this many GIL switch intervals
RETRIES = 3            # a race runs up to RETRIES x rounds rounds to get `rounds` rounds in which they did
HASH_BUFFER = bytes(1 << 20)  # what hash_for hashes, again and again: 1 MiB
PICTURE_KEY = "switchyard-spans"  # the PNG text chunk where spans_picture keeps what it drew


# --- what the chapter needs ------------------------------------------------------------------

class NeedsFork(ValueError):
    """This system cannot start processes with fork; the message says what the chapter needs.

    A ValueError, like the one ``multiprocessing.get_context("fork")`` raises there, but with
    one line a learner can act on. In a notebook it shows as that line alone, no traceback.
    """

    def _render_traceback_(self) -> list[str]:  # IPython shows this instead of a traceback
        return [f"{type(self).__name__}: {self}"]


SKIPPED = "skipped: this cell needs the fork start method (see the start-method cell above)"


def skip_cell(lines: list[str]) -> list[str]:
    """An IPython input transformer: the cell's code replaced by one line saying it was skipped."""
    return [f"print({SKIPPED!r})\n"]


def chapter_context(methods: Sequence[str] | None = None, platform: str = sys.platform, shell=None):
    """Chapter 10's fork context; where there is none, None, after ONE line saying why.

    Then every later cell of the notebook prints one "skipped" line instead of running (an IPython
    input transformer, added to ``shell`` or the running IPython), so Run All ends without a
    NameError from cells that use the context. Outside IPython only the line is printed.
    """
    try:
        return fork_context(methods, platform)
    except NeedsFork as why:
        print(f"{why}: every later cell of this chapter says 'skipped'")
        if shell is None:
            try:
                shell = get_ipython()  # type: ignore[name-defined]  # noqa: F821 (IPython's builtin)
            except NameError:
                shell = None
        if shell is not None and skip_cell not in shell.input_transformers_cleanup:
            shell.input_transformers_cleanup.append(skip_cell)
        return None


def fork_context(methods: Sequence[str] | None = None, platform: str = sys.platform):
    """The ``fork`` multiprocessing context, or :class:`NeedsFork` with why this system has none.

    ``methods`` defaults to ``multiprocessing.get_all_start_methods()``; both arguments exist so
    that a test can ask what Windows would hear.
    """
    methods = list(multiprocessing.get_all_start_methods() if methods is None else methods)
    if "fork" not in methods:
        raise NeedsFork(f"this chapter needs the fork start method (Linux or macOS); {platform} offers only "
                        f"{', '.join(methods) or 'none'}: read it here, or run it on Linux (Binder works)")
    return multiprocessing.get_context("fork")


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
    blocked: int | None = None    # times its thread gave up the CPU of its own accord; None: unknown

    @property
    def held_back(self) -> float:
        """Share (0 to 1) of the job's time it was ready to compute, not waiting for a CPU, yet not computing.

        Time the operating system kept it off the CPU does not count (the program clock stands
        still then): what is left is time the *program* made it wait, e.g. for the GIL. A wait for
        the GIL (or any lock, or I/O) puts the thread to sleep, which the kernel counts as a
        *voluntary* context switch (``blocked``). A job whose thread never did that was never held
        back, whatever the clocks say: on a crowded machine they disagree by a little for every
        time the job was preempted (interrupts handled and time the hypervisor took while the job
        was on the CPU count as neither its CPU time nor its wait for a CPU), which is how a
        process read as held back 10% of its time under a load of 19 on 2 cores.
        """
        if self.program_seconds <= 0 or self.blocked == 0:
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
    blocked0 = _voluntary_switches()
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
    blocked1 = _voluntary_switches()
    blocked = None if blocked0 is None or blocked1 is None else blocked1 - blocked0
    return Spans(total, tuple(spans), os.getpid(), clock, cpu, blocked)


def _voluntary_switches() -> int | None:
    """How many times this thread has gone to sleep (voluntary context switches), or None if unknown.

    Linux counts them per thread (``getrusage(RUSAGE_THREAD)``); elsewhere there is no per-thread count.
    """
    try:
        import resource
        return resource.getrusage(resource.RUSAGE_THREAD).ru_nvcsw
    except (ImportError, AttributeError, OSError):
        return None


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


def together(runs: Sequence[Spans], lasting: float = 2 * GAP) -> list[tuple[float, float]]:
    """The intervals, ``lasting`` seconds or longer, during which two jobs or more were computing at once."""
    found: list[tuple[float, float]] = []
    current, previous = 0, None
    for t, step in _edges(runs):
        if previous is not None and current >= 2 and t - previous >= lasting:
            if found and found[-1][1] == previous:
                found[-1] = (found[-1][0], t)  # one stretch, through a third job's start or end
            else:
                found.append((previous, t))
        current += step
        previous = t
    return found


HELD_YES, HELD_NO = 0.25, 0.10  # mean held-back share: "yes" from HELD_YES, "no" under HELD_NO


def at_once_line(name: str, runs: Sequence[Spans]) -> str:
    """"<name>  jobs computing at the same instant, at most: one" (or the number), from the spans."""
    most = most_at_once(runs)
    return f"{name:9}  jobs computing at the same instant, at most: {'one' if most == 1 else most}"


def held_back_line(name: str, runs: Sequence[Spans]) -> str:
    """"<name>  jobs held back by each other: yes / no / unclear", from the jobs' mean held-back share.

    Two threads taking turns on the GIL are held back about half the time (more on a busy
    machine); processes about never: "yes" from HELD_YES, "no" under HELD_NO, "unclear" between.
    """
    if not runs:
        raise ValueError("runs must hold the Spans of at least one job")
    held = sum(run.held_back for run in runs) / len(runs)
    answer = "yes" if held >= HELD_YES else "no" if held < HELD_NO else "unclear"
    if answer == "yes" and len(runs) >= 2:  # taking turns: one computes, the others wait
        share = _TURNS.get(len(runs), f"{len(runs) - 1}/{len(runs)}")
        answer += f" (one of {len(runs)} computes at a time: each waits about {share} of its time, or more)"
    return f"{name:9}  jobs held back by each other: {answer}"


_TURNS = {2: "half", 3: "two thirds", 4: "three quarters"}


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


# --- the spans, drawn ----------------------------------------------------------------------

def _relative(runs: Sequence[Spans]) -> list[list[list[float]]]:
    starts = [start for run in runs for start, _ in run.spans]
    origin = min(starts) if starts else 0.0
    return [[[round(s - origin, 5), round(e - origin, 5)] for s, e in run.spans] for run in runs]


@dataclass(frozen=True)
class SpansPicture:
    """The spans of each way (asyncio, threads, processes...), one row per job, each way from its own start.

    Shown in a notebook as a PNG; the PNG also carries, as text, the spans it draws, so that
    :func:`picture_spans` can read a stored picture back and a test can check what it shows.
    """

    ways: Mapping[str, Sequence[Spans]]

    def png(self) -> bytes:
        from matplotlib.figure import Figure

        drawn = {name: _relative(runs) for name, runs in self.ways.items()}
        figure = Figure(figsize=(7, 1.1 * len(drawn) + 0.6))
        axes = figure.subplots(len(drawn), 1, sharex=True, squeeze=False)[:, 0]
        for ax, (name, rows) in zip(axes, drawn.items()):
            for row, spans in enumerate(rows):
                ax.broken_barh([(s, e - s) for s, e in spans], (row + 0.1, 0.8), color=f"C{row}")
            runs = [Spans(0, tuple((s, e) for s, e in spans)) for spans in rows]
            both = together(runs)
            ax.broken_barh([(s, e - s) for s, e in both], (-0.45, 0.35), color="crimson")
            ax.set_ylim(-0.6, len(rows))
            title = f"{name}: at most {most_at_once(runs)} of {len(rows)} jobs computing at the same instant"
            if both:
                share = overlap_share(runs)
                title += f" (red: {share:.0%} of the run)" if share >= 0.01 else " (red: under 1% of the run)"
            ax.set_title(title, fontsize=9, loc="left")
            ax.set_yticks([])
        axes[-1].set_xlabel("seconds from each way's first start (one row per job; a bar: the job was computing)")
        figure.tight_layout()
        return _figures.png(figure, {PICTURE_KEY: json.dumps(drawn)})

    def _repr_png_(self) -> bytes:
        return self.png()

    def __repr__(self) -> str:
        return f"<SpansPicture: {', '.join(self.ways)}; one row per job>"


def spans_picture(ways: Mapping[str, Sequence[Spans]]) -> SpansPicture:
    """A picture of ``ways`` (name -> the :class:`Spans` of its jobs) that a notebook shows as a PNG."""
    if not ways or any(not runs or not all(isinstance(run, Spans) for run in runs) for runs in ways.values()):
        raise ValueError("ways must map each name to a non-empty list of Spans (from traced_burn)")
    return SpansPicture(dict(ways))


def picture_spans(png: bytes) -> dict[str, list[Spans]]:
    """The spans a :class:`SpansPicture` PNG draws (times from each way's start), read back from the PNG."""
    from PIL import Image

    with Image.open(io.BytesIO(png)) as image:
        text = getattr(image, "text", {}).get(PICTURE_KEY)
    if text is None:
        raise ValueError("this PNG carries no spans: it was not drawn by procs.spans_picture")
    return {name: [Spans(0, tuple((s, e) for s, e in spans)) for spans in rows]
            for name, rows in json.loads(text).items()}


# --- threads and processes, in the same run ----------------------------------------------------

@dataclass(frozen=True)
class Share:
    """What one job of a race got in the common window: CPU time, and time it could have run.

    ``ready_seconds`` is the job's time in the window on the program clock: wall time minus the
    time the operating system kept it waiting for a CPU (other programs' turn). So
    ``cpu_seconds / ready_seconds`` is near 1 for a job nothing in its own program held back, on
    a busy machine or an idle one, and at most 1/2 for one of two threads taking turns on the GIL
    (less on a busy machine, where the GIL's holder may itself wait for a CPU).
    """

    cpu_seconds: float
    ready_seconds: float
    rounds: int
    pid: int

    @property
    def rate(self) -> float:
        """CPU-seconds per second the job could run (0 to 1)."""
        # CPU time is time it could run, whatever the clocks' small disagreements say.
        return self.cpu_seconds / max(self.ready_seconds, self.cpu_seconds) if self.cpu_seconds > 0 else 0.0


def _clocks_from(start: float) -> tuple[float, float, float]:
    """Sleep until ``start`` (if it is still ahead); return when the job begins and its two clocks there.

    The clocks are read *before* the sleep and moved on by the time slept: a thread that wakes at
    ``start`` and must then wait for the GIL has that wait counted as time it could have run
    (reading them after the sleep would start its window only once it got the GIL). One sleep, not
    several short ones: the program clock stands still while a waking thread waits for a CPU, and
    only the last wake-up's wait may fall outside the estimate (it is then rightly left out).
    """
    cpu, clock, now = time.thread_time(), program_clock(), time.perf_counter()
    if start > now:
        time.sleep(start - now)
    return max(start, now), cpu, clock + max(0.0, start - now)


def burn_for(start: float, seconds: float) -> Share:
    """Pure-Python arithmetic (as :func:`burn`) for ``seconds`` from ``start`` (a ``time.perf_counter()``
    time; a job that arrives later begins at once and still gets its ``seconds``)."""
    begin, cpu0, clock0 = _clocks_from(start)
    total = rounds = 0
    while time.perf_counter() < begin + seconds:
        for i in range(CHUNK):
            total = (total + i * i) % 1_000_003
        rounds += 1
    return Share(time.thread_time() - cpu0, program_clock() - clock0, rounds, os.getpid())


def hash_for(start: float, seconds: float) -> Share:
    """``hashlib.sha256`` of a 1 MiB buffer, again and again, for ``seconds`` from ``start``.

    C code that releases the GIL while it hashes a large buffer, so threads doing it are not
    held back by each other.
    """
    begin, cpu0, clock0 = _clocks_from(start)
    rounds = 0
    while time.perf_counter() < begin + seconds:
        hashlib.sha256(HASH_BUFFER).digest()
        rounds += 1
    return Share(time.thread_time() - cpu0, program_clock() - clock0, rounds, os.getpid())


SMALL_BUFFER = bytes(1 << 10)  # what hash_small_for hashes: 1 KiB, under hashlib's 2 KiB threshold


def hash_small_for(start: float, seconds: float) -> Share:
    """``hashlib.sha256`` of a 1 KiB buffer, again and again, for ``seconds`` from ``start``.

    The same C code as :func:`hash_for`, on buffers too small for hashlib to release the GIL
    (it does so from 2 KiB): threads doing it take turns.
    """
    begin, cpu0, clock0 = _clocks_from(start)
    rounds = 0
    while time.perf_counter() < begin + seconds:
        for _ in range(100):
            hashlib.sha256(SMALL_BUFFER).digest()
        rounds += 1
    return Share(time.thread_time() - cpu0, program_clock() - clock0, rounds, os.getpid())


WORK = {"burn_for": "pure-Python arithmetic", "hash_for": "sha256 of 1 MiB buffers (C code)",
        "hash_small_for": "sha256 of 1 KiB buffers (C code)"}


def core_verdict(threads_rate: float, processes_rate: float, jobs: int, usable: int,
                 work: str = "pure-Python arithmetic") -> Verdict:
    """Grade a race: how many CPUs' worth each side used, per second its jobs could run.

    Each rate is the sum over a side's ``jobs`` jobs of CPU-seconds per second the job could
    run (:attr:`Share.rate`): ``jobs`` when nothing held them back, 1 when they took turns on
    one lock. Each is graded to the nearer (on a log scale) of 1 and ``jobs``; the sentence
    says what that pair of grades means, and whether this machine lets them run at the same
    instant (``usable`` CPUs). ``ratio`` is processes_rate / threads_rate; ``holds`` is
    whether the processes graded higher than the threads.
    """
    for name, rate in (("threads_rate", threads_rate), ("processes_rate", processes_rate)):
        if not (isinstance(rate, (int, float)) and math.isfinite(rate) and rate > 0):
            raise ValueError(f"{name} must be a positive number, not {rate!r}")
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 2:
        raise ValueError(f"jobs must be an int >= 2, not {jobs!r}")
    if isinstance(usable, bool) or not isinstance(usable, int) or usable < 1:
        raise ValueError(f"usable must be an int >= 1, not {usable!r}")

    def grade(rate: float) -> int:
        return 1 if abs(math.log(rate)) <= abs(math.log(rate / jobs)) else jobs

    threads, processes = grade(threads_rate), grade(processes_rate)
    cores = (f"{jobs} cores" if usable >= jobs
             else f"{jobs} cores on a machine that has them (here: one CPU, so they take turns on it)")
    if threads == 1 and processes == jobs:
        so = (f"the threads took turns on one GIL, the processes never waited for each other: "
              f"only processes put this work on {cores}")
    elif threads == jobs and processes == jobs:
        so = (f"neither side waited for itself: this work runs outside the GIL, so threads, as well as "
              f"processes, put it on {cores}")
    elif threads == 1 and processes == 1:
        so = "both sides took turns: something besides the GIL held the processes back (one shared lock?)"
    else:
        so = "the processes took turns and the threads did not: not what the GIL predicts; run it again"
    other = {1: jobs, jobs: 1}
    text = (f"{work}, {jobs} jobs at once for the same seconds; CPU-seconds per second they could run:\n"
            f"  {jobs} threads:   about {threads} (not {other[threads]})\n"
            f"  {jobs} processes: about {processes} (not {other[processes]})\n"
            f"  so {so}")
    return Verdict(text, processes_rate / threads_rate, processes > threads)


@dataclass(frozen=True)
class CoreRace:
    """The result of :func:`core_race`: each job's :class:`Share`, per side, per round."""

    work: str
    seconds: float                          # one round's window
    threads: tuple[tuple[Share, ...], ...]  # one tuple of shares per round
    processes: tuple[tuple[Share, ...], ...]
    usable: int

    @property
    def jobs(self) -> int:
        return len(self.threads[0])

    @staticmethod
    def _best(rounds: tuple[tuple[Share, ...], ...]) -> float:
        # A side's rate can only be lowered by what happens outside it (a stall, a page fault on a
        # loaded machine), never raised past what its program allows: its best round measures that.
        return max(sum(share.rate for share in shares) for shares in rounds)

    @property
    def contested(self) -> tuple[tuple[Share, ...], ...]:
        """The rounds in which the threads competed (:func:`competed`). On a crowded machine a
        thread can spend nearly all of a round waiting for a CPU: beside 40 spinning processes,
        two threads with 0.3 s windows could run for 9 ms and 2 ms, never met at the GIL, each
        read about 1, and the sum said "no GIL held them back" (2 of 6 races read so)."""
        return tuple(shares for shares in self.threads if competed(shares))

    @property
    def threads_rate(self) -> float:
        """CPUs' worth the threads used, per second they could run (sum of their rates, best round
        in which they competed, or of all rounds if they never did)."""
        return self._best(self.contested or self.threads)

    @property
    def processes_rate(self) -> float:
        """CPUs' worth the processes used, per second they could run (sum of their rates, best round)."""
        return self._best(self.processes)

    @property
    def per_wall_second(self) -> dict[str, float]:
        """Raw CPU-seconds per wall-second of each side, all rounds (what the machine's load also decides)."""
        wall = self.seconds * len(self.threads)
        return {"threads": sum(s.cpu_seconds for shares in self.threads for s in shares) / wall,
                "processes": sum(s.cpu_seconds for shares in self.processes for s in shares) / wall}

    def verdict(self) -> Verdict:
        return core_verdict(self.threads_rate, self.processes_rate, self.jobs, self.usable, self.work)


def competed(shares: tuple[Share, ...]) -> bool:
    """Whether every thread of a round could run (compute, or wait for the GIL) for ``SWITCHES`` GIL
    switch intervals (``sys.getswitchinterval()``, 5 ms by default): a thread that could run for
    less was hardly ever asked to give the GIL up, so its share says nothing about the GIL."""
    return all(share.ready_seconds >= SWITCHES * sys.getswitchinterval() for share in shares)


def _race_round(pool, job: Callable[[float, float], Share], jobs: int, seconds: float):
    start = time.perf_counter() + LEAD
    pending = [pool.apply_async(job, (start, seconds)) for _ in range(jobs)]
    in_threads: list[Share | None] = [None] * jobs
    together = threading.Barrier(jobs)  # the threads begin together, even if one starts late

    def work(i: int) -> None:
        together.wait(seconds + LEAD + 30)
        in_threads[i] = job(start, seconds)

    threads = [threading.Thread(target=work, args=(i,), name=f"race-{i}", daemon=True) for i in range(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds + LEAD + 30)
    in_processes = [result.get(timeout=seconds + LEAD + 30) for result in pending]
    if any(share is None for share in in_threads):
        raise RuntimeError("a thread of the race did not finish in time")
    return tuple(in_threads), tuple(in_processes)


def core_race(job: Callable[[float, float], Share] = burn_for, jobs: int = 2, seconds: float = 0.5,
              rounds: int = 3, mp=None) -> CoreRace:
    """Run ``job`` in ``jobs`` threads of this process and ``jobs`` pool processes, all at once.

    In each of ``rounds`` rounds, every job computes for ``seconds``, all starting LEAD s after the
    jobs are handed out (a job that arrives later, on a very busy machine, begins when it arrives;
    the threads wait for each other so that they always compete), so both sides meet the same load.
    A round in which a thread spent nearly all the window waiting for a CPU does not count for the
    threads (see :attr:`CoreRace.contested`): up to ``RETRIES * rounds`` rounds are run to get
    ``rounds`` that do. ``job`` is :func:`burn_for` or :func:`hash_for` (any module function
    ``job(start, stop) -> Share`` works). Blocks about ``rounds * (seconds + LEAD)`` s (up to
    ``RETRIES`` times that on a crowded machine) plus the pool's start; every thread and process
    is joined before it returns.
    """
    if isinstance(jobs, bool) or not isinstance(jobs, int) or not 2 <= jobs <= 8:
        raise ValueError(f"jobs must be an int from 2 to 8, not {jobs!r}")
    if not (isinstance(seconds, (int, float)) and 0.05 <= seconds <= 10):
        raise ValueError(f"seconds must be a number from 0.05 to 10, not {seconds!r}")
    if isinstance(rounds, bool) or not isinstance(rounds, int) or not 1 <= rounds <= 10:
        raise ValueError(f"rounds must be an int from 1 to 10, not {rounds!r}")
    if not callable(job):
        raise ValueError(f"job must be a function like procs.burn_for, not {job!r}")
    context = fork_context() if mp is None else mp
    with context.Pool(jobs) as pool:
        pool.map(square, range(jobs))  # every worker is up before the first window opens
        results = []
        for _ in range(rounds * RETRIES):  # until `rounds` rounds in which the threads competed
            results.append(_race_round(pool, job, jobs, seconds))
            if sum(1 for threads, _ in results if competed(threads)) >= rounds:
                break
        pool.close()
        pool.join()
    name = WORK.get(getattr(job, "__name__", ""), getattr(job, "__name__", "the job"))
    return CoreRace(name, float(seconds), tuple(t for t, _ in results), tuple(p for _, p in results), usable_cpus())


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


def _fleet_entry(worker: Callable, index: int, port: int, ready, served) -> None:
    # Forked from a process whose own event loop was running (a notebook kernel): forget that
    # loop and its signal wake-up descriptor, so the worker can run a loop of its own.
    asyncio._set_running_loop(None)
    signal.set_wakeup_fd(-1)
    worker(index, port, ready, served)


@contextmanager
def fleet_of(worker: Callable, workers: int = 2, *, timeout: float = 10.0) -> Iterator[Fleet]:
    """``workers`` forked processes, each running ``worker(index, port, ready, served)``, sharing one port.

    The notebook writes ``worker``: it must bind its own SO_REUSEPORT socket to 127.0.0.1:``port``,
    listen, call ``ready.set()``, serve until SIGTERM, and may count connections in
    ``served[index]``. Like :func:`echo_fleet` (which is this with the worker in the module):
    blocks until every worker is ready (``timeout`` s), and on exit sends SIGTERM, joins, SIGKILLs
    after GRACE s; ``served`` and ``exitcodes`` are filled in. Needs fork and SO_REUSEPORT.
    """
    if not callable(worker):
        raise ValueError(f"worker must be a function worker(index, port, ready, served), not {worker!r}")
    if isinstance(workers, bool) or not isinstance(workers, int) or not 1 <= workers <= 16:
        raise ValueError(f"workers must be an int from 1 to 16, not {workers!r}")
    if not hasattr(socket, "SO_REUSEPORT"):
        raise OSError("this system has no SO_REUSEPORT: the fleet needs Linux")
    ctx = fork_context()
    counts = ctx.Array("i", workers)
    reserve = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    procs: list = []
    fleet = None
    try:
        reserve.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        reserve.bind(("127.0.0.1", 0))  # holds the port, never listens: no connection waits on it
        port = reserve.getsockname()[1]
        readies = [ctx.Event() for _ in range(workers)]
        for index in range(workers):
            proc = ctx.Process(target=_fleet_entry, args=(worker, index, port, readies[index], counts),
                               name=f"fleet-worker-{index}", daemon=True)
            proc.start()
            procs.append(proc)
        deadline = time.monotonic() + timeout
        for index, ready in enumerate(readies):
            while not ready.wait(min(0.05, max(0.0, deadline - time.monotonic()))):
                if not procs[index].is_alive():
                    raise RuntimeError(f"worker {index} ended (exit code {procs[index].exitcode}) before "
                                       "it was ready: did it raise?")
                if time.monotonic() >= deadline:
                    raise TimeoutError(f"worker {index} did not call ready.set() within {timeout:g} s")
        fleet = Fleet(("127.0.0.1", port), workers)
        yield fleet
    finally:
        exitcodes = _stop(procs)
        reserve.close()
        if fleet is not None:
            fleet.exitcodes = exitcodes
            fleet.served = {index: counts[index] for index in range(workers)}


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

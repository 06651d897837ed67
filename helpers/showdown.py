"""Chapter 11's showdown: thousands of sleepers and the cost of one switch, on every model.

Who calls it: chapter 11's notebook (and tests/test_showdown.py).

    sleepers(setting="fast", progress=True)   start thousands of sleepers of each model, each model in
                                              a fresh interpreter; a SleepReport: ``text()`` (stable
                                              verdicts), ``plot()`` (a figure), ``rows`` (raw figures)
    switch_costs(setting="fast", progress=True)
                                              seconds per round trip (A hands control to B, B hands it
                                              back) of every model, best of several batches; a
                                              SwitchReport with the same three faces
    choose(sleep_report, switch_report, echo_report=None)
                                              the closing map: which model for which job, with the
                                              figures just measured, as stable text

The models: ``MODELS``, the sleepers and switches of ``helpers/children/showdown.py`` (read it: each
model's sleeper and round trip is a few lines there), named in ``helpers._model_names`` with the
echo bench's servers. ``SETTINGS`` holds "fast" (what the validation runs: 10,000 sleepers per
coroutine model, 2,000 threads, 50 processes, 24 batches) and "full" (for learners: 30,000 sleepers
per coroutine model, 10,000 threads, 300 processes, 50 batches); each model's interpreter is killed
past the setting's ``timeout``.

What is measured, per sleeper: the memory it adds (RSS; virtual size too, which a thread's stack
inflates; the share tracemalloc saw) and the CPU to start it; per round trip: CPU and wall-clock
seconds, best of the batches. The text grades ratios of those figures in bands (``graded``,
``MEMORY_BANDS``) whose edges sit far from what the reference machine measured. Those figures
are that machine's, not the learner's: they live in the comments beside the bands and the
settings, saying where and when they were measured, and in ``tests/test_showdown.py``.

Measuring: every model runs in its own interpreter (``python -m helpers.children.showdown``), in a
process group of its own, killed as a group when it is done or when it overruns the setting's
timeout (then the row says "timed out"). The kernel only reads one JSON line per model, so its
own memory does not grow, and each model's memory is its own. Times are the best of several
batches, the least disturbed by other programs; the printed text gives orders of magnitude and
ratios with wide bands (chosen from what this machine measured under load), never raw seconds.

Threads: everything runs in the caller's thread and blocks it; nothing prints.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from helpers import _figures
from helpers._child import Child
from helpers._model_names import MODELS, SERVED_BY, SWITCH_MODELS, kind
from helpers.progress import progress as progress_bar
from helpers.timing import Verdict

__all__ = ["MODELS", "SETTINGS", "SWITCH_MODELS", "Map", "Pick", "Setting", "SleepReport", "SwitchReport", "choose",
           "compare_round_trips", "graded", "memory_band", "overlap", "sleepers", "switch_costs", "uvloop_available",
           "uvloop_changes"]

KB = 1024


@dataclass(frozen=True)
class Setting:
    """How much to measure: sleepers per model (threads and processes apart), and switch batches."""

    count: int         # sleepers of each coroutine model
    threads: int       # sleeping threads
    processes: int     # sleeping processes (their memory per process is extrapolated)
    traced: int        # more sleepers started under tracemalloc (processes: a tenth of this, at most)
    rounds: int        # round trips per batch (threads and processes: a tenth)
    batches: int       # best of this many batches (the models take turns, batch by batch)
    timeout: float     # seconds one model's interpreter may run before it is killed


# Measured on the 2-core reference machine (Python 3.11, 2026-12-01), idle or loaded: "fast" starts the
# sleepers in 6 to 10 s and measures switch costs in 1 to 2 s, no child above 120 MB; "full" takes about
# 45 s in all, its largest child (gevent's) near 300 MB.
SETTINGS = {
    "fast": Setting(count=10_000, threads=2_000, processes=50, traced=500, rounds=500, batches=24, timeout=40),
    "full": Setting(count=30_000, threads=10_000, processes=300, traced=2_000, rounds=20_000, batches=50,
                    timeout=120),
}

CHILD = "showdown"  # helpers/children/showdown.py
PROC = Path("/proc/self/status")  # memory is read from /proc: Linux only
NEEDS_LINUX = "skipped: this measurement reads memory from /proc, which only Linux has"
ROOT = Path(__file__).resolve().parent.parent


def uvloop_available() -> bool:
    """True when uvloop imports here (a dependency of the helpers, but it has no Windows build)."""
    try:
        import uvloop  # noqa: F401 (imported to see whether it can be)
    except ImportError:
        return False
    return True


def _setting(setting: str | Setting) -> Setting:
    if isinstance(setting, Setting):
        return setting
    if setting not in SETTINGS:
        raise ValueError(f"setting must be one of {sorted(SETTINGS)} or a Setting, not {setting!r}")
    return SETTINGS[setting]


def _models(models: Sequence[str], known: Sequence[str]) -> list[str]:
    unknown = [m for m in models if m not in known]
    if unknown or not models:
        raise ValueError(f"models must be some of {list(known)}, not {list(models)!r}")
    return [m for m in known if m in models and (m != "uvloop" or uvloop_available())]


def _child_lines(args: Sequence[str], expect: int, timeout: float) -> Iterator[dict]:
    """Run the child with ``args``; yield the ``expect`` JSON lines it prints; then (or at the timeout)
    kill its group. (Sleeping processes inherit its stdout: waiting for EOF would wait for them.)"""
    deadline = time.monotonic() + timeout  # before the start: a caller descheduled meanwhile still times out
    with Child(CHILD, *args, stdin=subprocess.DEVNULL, cwd=ROOT) as child:
        for _ in range(expect):
            line = child.readline(deadline - time.monotonic())
            if line is None:
                if child.ended:
                    return
                raise TimeoutError(f"the measuring interpreter overran its {timeout:g} s and was killed")
            yield json.loads(line)


# --- graded verdicts: a ratio measured in one run, and the band it fell in -----------------------


def band_words(edges: Sequence[float], index: int) -> str:
    """The band ``index`` of ``edges`` in words: "under 3×", "3–30×", "over 1000×"."""
    if index == 0:
        return f"under {edges[0]:g}×"
    if index == len(edges):
        return f"over {edges[-1]:g}×"
    return f"{edges[index - 1]:g}–{edges[index]:g}×"


def graded(ratio: float, edges: Sequence[float], sentences: Sequence[str], *, holds_from: int = 1) -> Verdict:
    """The sentence of the band ``ratio`` falls in: one sentence per band (``len(edges) + 1``).

    ``edges`` are ascending ratios; ``{band}`` in a sentence becomes the band's words. The
    conclusion is whichever sentence the measurement picks, so other figures print another
    conclusion. ``holds`` is True from band ``holds_from`` up (the claim's direction).
    """
    if len(sentences) != len(edges) + 1 or list(edges) != sorted(edges) or not edges:
        raise ValueError("graded() needs ascending edges and one sentence per band (len(edges) + 1)")
    if not (isinstance(ratio, (int, float)) and math.isfinite(ratio) and ratio >= 0):
        raise ValueError(f"ratio must be a finite number >= 0, not {ratio!r}")
    index = sum(1 for edge in edges if ratio >= edge)
    return Verdict(sentences[index].format(band=band_words(edges, index)), ratio, index >= holds_from)


# (upper bound in KB, words): RSS per sleeper. Measured on the 2-core reference machine (3.11-3.13,
# 2026-12-06), per sleeper: select loop 0.2, generator 0.3 | home loop 1.2, asyncio 1.3, uvloop 1.6 |
# greenlet 6.1, gevent 8.3 | thread 16 (+8.5 MB virtual) | process 1,100-1,400 (its private pages).
# Every edge sits at least 1.38× from every figure (the nearest: 11.5 against gevent's 8.3; tests/test_showdown.py).
MEMORY_BANDS = ((0.6, "hundreds of bytes"), (3.5, "a KB or two"), (11.5, "several KB"), (250, "tens of KB"),
                (5000, "about a megabyte"), (math.inf, "megabytes"))


def memory_band(kb: float) -> str:
    """KB as an order of magnitude in words (edges far from the figures the reference machine measured)."""
    return next(words for bound, words in MEMORY_BANDS if kb < bound)


# What tracemalloc missed of a sleeper (RSS minus what it saw), in KB. The shares it saw sit too close to
# split robustly (select loop 0.82 against gevent 0.5: no edge is 1.4x from both); the KB it missed do not.
# Measured on the reference machine (2026-12-06): generator 0.01, select loop 0.04, the loops 0.12-0.16 |
# greenlet 4.0, gevent 4.2, thread 13 | process 1,100 or more. Every edge sits at least 5x from every figure.
MISSED_EDGES = (0.8, 100)
MISSED_WORDS = ("under 1 KB", "1–100 KB", "over 100 KB")


def missed_words(kb: float) -> str:
    """KB per sleeper that tracemalloc missed, in words (edges far from the reference machine's figures)."""
    return MISSED_WORDS[sum(1 for edge in MISSED_EDGES if kb >= edge)]


# --- sleepers ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SleepRow:
    """One model's sleepers: how many were asked and started, seconds to start them, memory grown."""

    model: str
    asked: int
    started: int
    seconds: float       # wall-clock seconds to start them
    rss_kb: float        # growth of the interpreter's RSS (processes: plus each child's private pages)
    vm_kb: float         # growth of its virtual size (threads reserve a stack each)
    traced: int          # sleepers started under tracemalloc
    traced_bytes: int
    failure: str = ""    # "timed out ..." when the interpreter was killed
    cpu_seconds: float = math.nan  # CPU seconds of this process to start them (time waiting for a core excluded)

    @property
    def ok(self) -> bool:
        return not self.failure and self.started > 0

    @property
    def per_task_seconds(self) -> float:
        return self.seconds / max(self.started, 1)

    @property
    def per_task_cpu(self) -> float:
        return self.cpu_seconds / max(self.started, 1)

    @property
    def rss_per_task_kb(self) -> float:
        return self.rss_kb / max(self.started, 1)

    @property
    def vm_per_task_kb(self) -> float:
        return self.vm_kb / max(self.started, 1)

    @property
    def traced_per_task_kb(self) -> float:
        return self.traced_bytes / KB / max(self.traced, 1)

    @property
    def missed_per_task_kb(self) -> float:
        """KB of the RSS per sleeper that tracemalloc did not see (what lives outside Python objects)."""
        return max(0.0, self.rss_per_task_kb - self.traced_per_task_kb)

    @property
    def seen_share(self) -> float:
        """The share of the RSS per sleeper that tracemalloc saw."""
        return self.traced_per_task_kb / self.rss_per_task_kb if self.rss_kb > 0 else math.nan


def _verdict_thread_memory(ratio: float) -> Verdict:
    return graded(ratio, (1.5, 4, 40), (
        "no: a sleeping thread holds about as much memory (RSS) as a sleeping asyncio task ({band})",
        "a sleeping thread holds {band} the memory (RSS) of a sleeping asyncio task: a little more",
        "a sleeping thread holds {band} the memory (RSS) of a sleeping asyncio task: an order of magnitude",
        "a sleeping thread holds {band} the memory (RSS) of a sleeping asyncio task: orders of magnitude"),
        holds_from=2)


def _verdict_thread_start(ratio: float) -> Verdict:
    return graded(ratio, (1.5, 3, 30), (
        "no: starting a thread costs about as much CPU as starting an asyncio task ({band})",
        "starting a thread costs {band} the CPU of starting an asyncio task: a little more",
        "starting a thread costs {band} the CPU of starting an asyncio task: several times more",
        "starting a thread costs {band} the CPU of starting an asyncio task: orders of magnitude more"),
        holds_from=2)


def _verdict_process_memory(ratio: float) -> Verdict:
    return graded(ratio, (3, 20, 300), (
        "a sleeping process holds about as much memory as a sleeping thread ({band})",
        "a sleeping process holds {band} the memory of a sleeping thread: several times more",
        "a sleeping process holds {band} the memory of a sleeping thread: tens of times more",
        "a sleeping process holds {band} the memory of a sleeping thread: hundreds of times more"),
        holds_from=2)


def _verdict_processes_fit(ratio: float, started: int) -> Verdict:
    return graded(ratio, (1, 3), (
        f"10,000 processes would fit in the 1 GB a notebook gets (extrapolated from {started:,}; {{band}} of it)",
        f"10,000 processes would need {{band}} the 1 GB a notebook gets (extrapolated from {started:,}): "
        "just too many",
        f"10,000 processes would need {{band}} the 1 GB a notebook gets (extrapolated from {started:,}): "
        "far too many"))


@dataclass(frozen=True)
class SleepReport:
    """Every model's SleepRow (``rows``, in MODELS order) under ``setting``."""

    setting: Setting
    rows: tuple[SleepRow, ...]

    def row(self, model: str) -> SleepRow | None:
        return next((row for row in self.rows if row.model == model), None)

    def text(self) -> str:
        s = self.setting
        if self.rows and all(row.failure == NEEDS_LINUX for row in self.rows):
            return f"sleepers: {NEEDS_LINUX}"
        lines = [f"sleepers measured on this machine, each model in a fresh interpreter: {s.count:,} of each "
                 f"coroutine model, {s.threads:,} threads, {s.processes:,} processes",
                 f"{'model':<12} {'started':>15}  {'memory per sleeper (RSS)':<26} what tracemalloc missed of it"]
        for row in self.rows:
            if not row.ok:
                lines.append(f"{row.model:<12} {row.failure or 'none started'}")
                continue
            rss = memory_band(row.rss_per_task_kb)
            if row.model == "thread":
                rss += " + MBs virtual"
            seen = missed_words(row.missed_per_task_kb)
            if row.model == "process":
                seen += " (the child is not seen)"
            lines.append(f"{row.model:<12} {f'{row.started:,}/{row.asked:,}':>15}  {rss:<26} {seen}")
        lines.append(self.missed())
        lines += [str(v) for v in self.verdicts()]
        return "\n".join(lines)

    def missed(self) -> str:
        """Which models' sleepers tracemalloc misses a KB or more of (computed: MISSED_EDGES[0])."""
        rows = [row for row in self.rows if row.ok and row.rss_kb > 0]
        missed = [row.model for row in rows if row.missed_per_task_kb >= MISSED_EDGES[0]]
        if not rows:
            return "tracemalloc: not measured"
        if not missed:
            return f"tracemalloc missed under {MISSED_EDGES[0]:g} KB of every model's sleeper here"
        return (f"tracemalloc missed {MISSED_EDGES[0]:g} KB or more of each sleeper of {len(missed)} "
                f"model{'s' if len(missed) > 1 else ''}: {', '.join(missed)} (what they hold outside Python "
                "objects: C stacks, a child process)")

    def claim_many(self) -> str:
        """The verdict on "one CPU can run tens of thousands of coroutines", from the asyncio row."""
        row = self.row("asyncio")
        if row is None or not row.ok:
            return "asyncio: not measured"
        total = row.started * row.per_task_seconds  # 10,000 tasks: 0.1-0.5 s here, idle or loaded
        held = row.started == row.asked and row.started >= 10_000 and total < 10
        full = SETTINGS["full"].count
        more = f' (SETTING = "full" starts {full:,})' if row.asked < full else ""
        return "\n".join([
            'claim: "one CPU can run tens of thousands of coroutines"',
            f"measured: {row.started:,} of {row.asked:,} asyncio tasks asleep at once in one thread, "
            f"{memory_band(row.rss_per_task_kb)} each, all started in "
            + ("well under 10 s" if total < 10 else "10 s or more"),
            f"held here: {'yes' if held else 'no'}" + more,
        ])

    def thread_limit(self) -> str:
        """What this measurement says about how many threads this machine starts."""
        row = self.row("thread")
        if row is None or not row.ok:
            return "threads: not measured"
        if row.started < row.asked:
            return f"threads: the limit here is {row.started:,} (the next one could not start)"
        further = (f"the 'full' setting tries {SETTINGS['full'].threads:,}" if row.asked < SETTINGS["full"].threads
                   else "this chapter tries no more")
        return f"threads: all {row.started:,} started; the limit was not reached ({further})"

    def ratios(self) -> dict[str, float]:
        """The same-run ratios behind the verdicts."""
        out: dict[str, float] = {}
        aio, thread, process = self.row("asyncio"), self.row("thread"), self.row("process")
        if aio and thread and aio.ok and thread.ok:
            out["RSS thread/asyncio"] = thread.rss_per_task_kb / aio.rss_per_task_kb
            if math.isfinite(thread.cpu_seconds) and math.isfinite(aio.cpu_seconds) and aio.cpu_seconds > 0:
                out["start CPU thread/asyncio"] = thread.per_task_cpu / aio.per_task_cpu
        if process and process.ok and thread and thread.ok:
            out["RSS process/thread"] = process.rss_per_task_kb / thread.rss_per_task_kb
            out["10,000 processes / 1 GB"] = process.rss_per_task_kb * 10_000 / KB / KB
        return out

    def verdicts(self) -> list[Verdict | str]:
        out: list[Verdict | str] = [self.thread_limit()]
        r = self.ratios()
        thread, process = self.row("thread"), self.row("process")
        if "RSS thread/asyncio" in r:
            assert thread is not None  # ratios() gives this one only with a thread row
            out.append(_verdict_thread_memory(r["RSS thread/asyncio"]))
            if "start CPU thread/asyncio" in r:
                out.append(_verdict_thread_start(r["start CPU thread/asyncio"]))
            out.append(f"each thread also reserves {memory_band(thread.vm_per_task_kb)} of address space "
                       "(virtual memory) for its stack: RSS counts only the pages it touched")
        if "RSS process/thread" in r:
            assert process is not None  # ratios() gives this one only with a process row
            out.append(_verdict_process_memory(r["RSS process/thread"]))
            out.append(_verdict_processes_fit(r["10,000 processes / 1 GB"], process.started))
        return out

    def plot(self) -> Picture:
        return Picture(self._draw, report=self)

    def _draw(self, figure) -> None:
        rows = [row for row in self.rows if row.ok]
        if not rows:
            figure.text(0.5, 0.5, "nothing measured here", ha="center")
            return
        names = [row.model for row in rows]
        axes = figure.subplots(1, 2)
        ax = axes[0]
        ax.barh(names, [(row.per_task_cpu if math.isfinite(row.cpu_seconds) else row.per_task_seconds) * 1e6
                        for row in rows], color="tab:blue")
        ax.set_xscale("log")
        ax.set_xlabel("µs of CPU to start one sleeper")
        ax.invert_yaxis()
        ax = axes[1]
        ys = range(len(rows))
        ax.barh([y - 0.2 for y in ys], [row.rss_per_task_kb for row in rows], height=0.4, label="RSS",
                color="tab:orange")
        ax.barh([y + 0.2 for y in ys], [row.traced_per_task_kb for row in rows], height=0.4,
                label="tracemalloc", color="tab:green")
        ax.set_yticks(list(ys), names)
        ax.set_xscale("log")
        ax.set_xlabel("KB per sleeper")
        ax.invert_yaxis()
        ax.legend(fontsize=8)
        for axis in axes:
            axis.grid(alpha=0.3, axis="x")
        figure.suptitle("Thousands of sleepers, measured on this machine (log scales)", fontsize=10)


def sleepers(setting: str | Setting = "fast", models: Sequence[str] = MODELS, *, progress: bool = True) -> SleepReport:
    """Start ``setting``'s sleepers of each model, one fresh interpreter per model; see the module docstring."""
    s = _setting(setting)
    chosen = _models(models, MODELS)
    if not PROC.exists():
        return SleepReport(s, tuple(SleepRow(m, 0, 0, math.nan, 0, 0, 0, 0, NEEDS_LINUX) for m in chosen))
    rows = []
    bar = progress_bar(len(chosen), "sleepers", text=f"(a bar of {len(chosen)} models while they run)", show=progress)
    with bar:
        for model in chosen:
            count = {"thread": s.threads, "process": s.processes}.get(model, s.count)
            traced = max(1, s.traced // 100) if model == "process" else s.traced
            try:
                found = list(_child_lines(["sleepers", model, str(count), str(traced)], 1, s.timeout))
                rows.append(SleepRow(**found[0]))
            except TimeoutError as error:
                rows.append(SleepRow(model, count, 0, math.nan, 0, 0, 0, 0, str(error)))
            bar.advance(note=model)
    return SleepReport(s, tuple(rows))


# --- switch cost ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SwitchRow:
    """One model's round trip: seconds per round trip of the best batch (wall clock and CPU time), and
    of the median batch (the window the plot draws between the two)."""

    model: str
    rounds: int
    batches: int
    seconds: float             # wall clock, best batch
    median: float = math.nan   # wall clock, median batch
    cpu: float = math.nan      # CPU time (every thread and process of the round trip), best batch
    cpu_median: float = math.nan

    @property
    def ok(self) -> bool:
        return math.isfinite(self.seconds) and self.seconds > 0


LABELS = {"generator": "generator send", "greenlet": "greenlet switch", "home loop": "home-loop round trip",
          "asyncio": "asyncio round trip", "uvloop": "uvloop round trip", "thread": "thread round trip (locks)",
          "process": "process round trip (pipes)"}
WHAT = {"generator": "send() goes in, yield comes back out",
        "greenlet": "the main greenlet switches to another, which switches back",
        "home loop": "two Tasks of chapter 06's loop, each a bare yield: two task steps",
        "asyncio": "two tasks, each await asyncio.sleep(0): two task steps and two turns of the loop",
        "uvloop": "the same two tasks on uvloop's loop",
        "thread": "two threads pass two Locks back and forth (two OS wake-ups)",
        "process": "two processes pass a byte through two pipes (two OS wake-ups)"}


# CPU per round trip measured on the 2-core reference machine (Python 3.11, 3.12 within a few percent;
# 2026-12-01), best of batches, idle: generator 0.05 µs, greenlet 0.7, uvloop 2.3, asyncio 4.9, home loop
# 9-13, process 9-15, thread 14-20; a loaded machine doubled the loops' and threads' figures at worst.
# The verdicts below grade ratios of these (thread / model); their edges sit away from the ratios.


SWITCH_EDGES = {"thread/generator": (3, 30, 100, 1000), "thread/greenlet": (2, 8, 80), "thread/asyncio": (0.8, 1.6, 8),
                "asyncio/uvloop": (1.2, 4)}


def _verdict_generator(ratio: float) -> Verdict:
    return graded(ratio, SWITCH_EDGES["thread/generator"], (
        "no: a generator send costs about as much CPU as a thread round trip ({band})",
        "a thread round trip costs {band} a generator send: a few sends fit in one thread round trip",
        "a thread round trip costs {band} a generator send: tens of sends fit in one thread round trip",
        "a thread round trip costs {band} a generator send: hundreds of sends fit in one thread round trip",
        "a thread round trip costs {band} a generator send: thousands of sends fit in one thread round trip"),
        holds_from=2)


def _verdict_greenlet(ratio: float) -> Verdict:
    return graded(ratio, SWITCH_EDGES["thread/greenlet"], (
        "no: a greenlet switch costs about as much CPU as a thread round trip ({band})",
        "a thread round trip costs {band} a greenlet switch: a few times more",
        "a thread round trip costs {band} a greenlet switch: an order of magnitude more",
        "a thread round trip costs {band} a greenlet switch: orders of magnitude more"),
        holds_from=2)


def _verdict_asyncio(ratio: float) -> Verdict:
    return graded(ratio, SWITCH_EDGES["thread/asyncio"], (
        "an asyncio round trip costs more CPU than a thread round trip (the thread is {band} of it)",
        "a thread round trip costs {band} an asyncio round trip: about the same",
        "a thread round trip costs {band} an asyncio round trip: dearer, by a few times, not by orders of magnitude",
        "a thread round trip costs {band} an asyncio round trip: an order of magnitude or more"),
        holds_from=2)


def _verdict_uvloop(ratio: float) -> Verdict:
    return graded(ratio, SWITCH_EDGES["asyncio/uvloop"], (
        "uvloop's round trip is no cheaper than asyncio's (asyncio's costs {band} uvloop's)",
        "asyncio's round trip costs {band} uvloop's: uvloop's loop is cheaper, by less than an order of magnitude",
        "asyncio's round trip costs {band} uvloop's: uvloop's loop is several times cheaper"))


@dataclass(frozen=True)
class SwitchReport:
    """Seconds per round trip of every model (``rows``), best of ``setting.batches`` batches."""

    setting: Setting
    rows: tuple[SwitchRow, ...]

    def _row(self, model: str) -> SwitchRow | None:
        row = next((row for row in self.rows if row.model == model), None)
        return row if row is not None and row.ok else None

    def seconds(self, model: str) -> float:
        """Wall-clock seconds per round trip of the best batch (nan if not measured)."""
        row = self._row(model)
        return row.seconds if row else math.nan

    def cpu(self, model: str) -> float:
        """CPU seconds per round trip of the best batch (nan if not measured): what the verdicts compare."""
        row = self._row(model)
        return row.cpu if row and math.isfinite(row.cpu) else math.nan

    def text(self) -> str:
        lines = [f"one round trip (A hands control to B, B hands it back), CPU time of the best of "
                 f"{self.setting.batches} batches, the models taking turns batch by batch:"]
        for row in self.rows:
            state = "" if row.ok else ": not measured (its interpreter was killed)"
            lines.append(f"  {LABELS[row.model]:<26} {WHAT[row.model]}{state}")
        lines += [str(v) for v in self.verdicts()]
        lines.append("figures: switch_report.plot() (best and median batch), switch_report.rows")
        return "\n".join(lines)

    def ratios(self) -> dict[str, float]:
        """The same-run CPU-time ratios behind the verdicts."""
        gen, green, aio, uv, thread = map(self.cpu, ("generator", "greenlet", "asyncio", "uvloop", "thread"))
        pairs = {"thread/generator": (thread, gen), "thread/greenlet": (thread, green),
                 "thread/asyncio": (thread, aio), "asyncio/uvloop": (aio, uv)}
        return {name: a / b for name, (a, b) in pairs.items() if math.isfinite(a) and math.isfinite(b) and b > 0}

    def verdicts(self) -> list[Verdict]:
        r = self.ratios()
        makers = (("thread/generator", _verdict_generator), ("thread/greenlet", _verdict_greenlet),
                  ("thread/asyncio", _verdict_asyncio), ("asyncio/uvloop", _verdict_uvloop))
        return [make(r[name]) for name, make in makers if name in r]

    def claim_no_overhead(self) -> str:
        """The verdict on "coroutines have no thread context-switch overhead", from the bands hit."""
        r = self.ratios()
        found = [(name, key, make(r[key])) for name, key, make in (
            ("generators", "thread/generator", _verdict_generator), ("greenlets", "thread/greenlet", _verdict_greenlet),
            ("asyncio", "thread/asyncio", _verdict_asyncio)) if key in r]
        if not found:
            return 'claim: "coroutines switch without the overhead of a thread context switch"\nnot measured here'
        held = [name for name, _, v in found if v.holds]
        not_held = [name for name, _, v in found if not v.holds]
        # the least of the held bands' lower edges: what every held model's figure is at least
        least = min((max(e for e in SWITCH_EDGES[key] if r[key] >= e) for _, key, v in found if v.holds), default=0)
        if not not_held:
            answer = f"yes, for {', '.join(held)}: a thread round trip costs at least {least:g}× each of their switches"
        elif not held:
            answer = f"no: here a thread round trip costs about as much as a switch of {', '.join(not_held)}"
        else:
            answer = (f"yes for {', '.join(held)}; no for {', '.join(not_held)}, whose switch costs "
                      "about as much CPU as a thread round trip here")
        return "\n".join(['claim: "coroutines switch without the overhead of a thread context switch"',
                          *(f"measured: {v}" for _, _, v in found), f"held here: {answer}"])

    def plot(self) -> Picture:
        return Picture(self._draw, report=self)

    def _draw(self, figure) -> None:
        rows = [row for row in self.rows if row.ok]
        if not rows:
            figure.text(0.5, 0.5, "nothing measured here", ha="center")
            return
        ax = figure.subplots()
        best = [row.cpu * 1e6 if math.isfinite(row.cpu) else row.seconds * 1e6 for row in rows]
        median = [max(b, row.cpu_median * 1e6) if math.isfinite(row.cpu_median) else b for b, row in zip(best, rows)]
        colors = [{"threads": "tab:red", "processes": "tab:purple"}.get(kind(row.model), "tab:blue") for row in rows]
        labels = [LABELS[row.model] for row in rows]
        ax.barh(labels, best, color=colors)
        ax.barh(labels, [m - b for b, m in zip(best, median)], left=best, color=colors, alpha=0.3)
        for y, (value, high) in enumerate(zip(best, median)):
            ax.text(high * 1.1, y, f"{_duration(value / 1e6)} (median {_duration(high / 1e6)})", va="center",
                    fontsize=8)
        ax.set_xscale("log")
        ax.set_xlim(right=max(median) * 30)
        ax.invert_yaxis()
        ax.set_xlabel("µs of CPU per round trip (log scale): best batch, pale bar to the median batch")
        ax.grid(alpha=0.3, axis="x")
        ax.set_title("The cost of one round trip, measured on this machine", fontsize=10)


def switch_costs(setting: str | Setting = "fast", models: Sequence[str] = SWITCH_MODELS, *,
                 progress: bool = True) -> SwitchReport:
    """Seconds per round trip of each model, in one fresh interpreter; see the module docstring."""
    s = _setting(setting)
    chosen = _models(models, SWITCH_MODELS)
    rows = []
    bar = progress_bar(s.batches, "switch costs", text=f"(a bar of {s.batches} batches while they run)", show=progress)
    with bar:
        try:
            for found in _child_lines(["switch", str(s.rounds), str(s.batches), *chosen], s.batches + len(chosen),
                                      s.timeout):
                if "batch" in found:
                    bar.advance()
                else:
                    rows.append(SwitchRow(**found))
        except TimeoutError:
            pass
    done = {row.model for row in rows}
    rows += [SwitchRow(model, 0, 0, math.nan) for model in chosen if model not in done]
    return SwitchReport(s, tuple(rows))


def compare_round_trips(slower: float, faster: float, slower_name: str, faster_name: str) -> str:
    """Your own two figures (seconds per round trip, same clock, same run) as a graded sentence."""
    if not (slower > 0 and faster > 0):
        raise ValueError("both figures must be seconds > 0")
    ratio = slower / faster
    return str(graded(ratio, (0.5, 2, 10, 100), (
        f"a {slower_name} costs {{band}} a {faster_name}: the {faster_name} is the dearer one here",
        f"a {slower_name} costs {{band}} a {faster_name}: about the same",
        f"a {slower_name} costs {{band}} a {faster_name}: a few times more",
        f"a {slower_name} costs {{band}} a {faster_name}: an order of magnitude more",
        f"a {slower_name} costs {{band}} a {faster_name}: orders of magnitude more")))


def overlap(elapsed: float, one: float, count: int, what: str) -> Verdict:
    """``count`` waits of ``one`` s each took ``elapsed`` s: as long as the slowest, or the sum?

    The two answers are 1× and ``count``×; the edges cut the distance between them (on a log
    scale) in thirds, so a loaded machine that slows the start of a thousand tasks does not
    turn "the slowest" into "the sum" (1,000 waits: edges 10× and 100×).
    """
    edges = (round(count ** (1 / 3), 1), round(count ** (2 / 3), 1))
    return graded(elapsed / one, edges, (
        f"{what} took {{band}} one request: near the slowest, far from the sum ({count:,}×)",
        f"{what} took {{band}} one request: between the slowest and the sum ({count:,}×)",
        f"{what} took {{band}} one request: nearer the sum ({count:,}×) than the slowest: they did not overlap"))


def uvloop_changes(sleep: SleepReport, switch: SwitchReport) -> str:
    """What uvloop changed here, from both reports: the loop's step, not the tasks it runs."""
    aio, uv = sleep.row("asyncio"), sleep.row("uvloop")
    step_aio, step_uv = switch.cpu("asyncio"), switch.cpu("uvloop")
    if not (aio and uv and aio.ok and uv.ok and math.isfinite(step_aio) and math.isfinite(step_uv)):
        return "uvloop: not measured here"
    start = graded(uv.per_task_cpu / aio.per_task_cpu, (0.3, 3), (
        "starting a sleeping task on uvloop costs {band} asyncio's: less than a third",
        "starting a sleeping task on uvloop costs about as much CPU as on asyncio ({band}): "
        "the Task objects are asyncio's own",
        "starting a sleeping task on uvloop costs {band} asyncio's: more than three times"))
    return "\n".join([
        "changes: " + str(_verdict_uvloop(step_aio / step_uv)),
        f"same: {start}",
        f"same: memory per sleeping task: {memory_band(uv.rss_per_task_kb)} on uvloop, "
        f"{memory_band(aio.rss_per_task_kb)} on asyncio",
    ])


def picture_report(png: bytes) -> SleepReport | SwitchReport:
    """The SleepReport or SwitchReport a stored ``plot()`` PNG draws, read back from its text chunk."""
    import io

    from PIL import Image

    with Image.open(io.BytesIO(png)) as image:
        text = getattr(image, "text", {}).get(PICTURE_KEY)
    if text is None:
        raise ValueError("this PNG carries no report: it was not drawn by a sleep or switch report's plot()")
    carried = json.loads(text)
    setting = Setting(**carried["setting"])
    if carried["kind"] == "SleepReport":
        return SleepReport(setting, tuple(SleepRow(**row) for row in carried["rows"]))
    return SwitchReport(setting, tuple(SwitchRow(**row) for row in carried["rows"]))


def _duration(seconds: float) -> str:
    if seconds < 1e-6:
        return f"{seconds * 1e9:.3g} ns"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.3g} µs"
    return f"{seconds * 1e3:.3g} ms"


# --- the closing map --------------------------------------------------------------------------

# Where the figures tie (same band), the map prefers the model with more behind it in production.
PREFERENCE = ("asyncio", "uvloop", "gevent", "processes", "threads", "select", "homeloop")


@dataclass(frozen=True)
class Pick:
    """One job of the map: the models ranked (best first) with the figure that ranked each, and why."""

    job: str
    ranking: tuple[tuple[str, str], ...]   # (model, what was measured for it)
    why: str

    @property
    def model(self) -> str:
        return self.ranking[0][0]

    def __str__(self) -> str:
        first, *rest = self.ranking
        line = f"- {self.job}: {first[0]} ({first[1]})"
        if rest:
            line += "; then " + ", ".join(f"{m} ({what})" for m, what in rest)
        return line + (f". {self.why}" if self.why else "")


@dataclass(frozen=True)
class Map:
    """The closing map: ``picks`` (one per job), printed as text; ``model(job_start)`` for tests."""

    picks: tuple[Pick, ...]
    source: str

    def model(self, job_start: str) -> str:
        return next(p.model for p in self.picks if p.job.startswith(job_start))

    def __str__(self) -> str:
        return "\n".join([f"Which model for which job, ranked by the figures measured above ({self.source}):",
                          *map(str, self.picks)])

    __repr__ = __str__


def _gil_state() -> str:
    """"free-threaded" on a build running without the GIL (3.13t/3.14t), else "gil"."""
    enabled = getattr(sys, "_is_gil_enabled", None)
    return "free-threaded" if enabled is not None and not enabled() else "gil"


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def choose(sleep: SleepReport, switch: SwitchReport, echo: object | None = None, *, race: object | None = None,
           cores: int | None = None, gil: str | None = None) -> Map:
    """Which model for which job, each job's models ranked by the figures of these reports.

    Ranks by bands (orders of magnitude), not raw figures, so noise does not reorder models whose
    figures are alike; ties go to ``PREFERENCE``. ``race`` (a ``helpers.procs.CoreRace``: the same
    CPU-bound job in threads and in processes at once) ranks the CPU-bound job by how many CPUs'
    worth each side used; without it, ``cores`` (default: the CPUs this process may use) and ``gil``
    ("gil" or "free-threaded"; default: this interpreter's) decide it.
    """
    cores = _cores() if cores is None else cores
    gil = _gil_state() if gil is None else gil
    picks = [_pick_connections(sleep, echo), _pick_blocking(sleep, switch), _pick_cpu(sleep, cores, gil, race),
             _pick_pipeline(switch)]
    measured = ["sleepers", "switch costs"] + (["the echo bench"] if echo is not None else []) + (
        ["a core race"] if race is not None else [])
    source = ", ".join(measured[:-1]) + " and " + measured[-1]
    return Map(tuple(p for p in picks if p is not None), source)


def _pick_connections(sleep: SleepReport, echo) -> Pick:
    """Many mostly idle connections: least memory per connection first, a far longer tail last."""
    job = "10,000 mostly idle connections on one server"
    memory: dict[str, float] = {}
    tails: dict[str, float] = {}
    if echo is not None and hasattr(echo, "memory_per_connection"):
        memory = {m: kb for m, kb in echo.memory_per_connection().items() if m in PREFERENCE}
        for m in memory:
            row = echo.top(m)
            if row is not None and row["p99"] > 0:
                tails[m] = row["p99"]
        from helpers.echobench import CONNECTION_BANDS, memory_words
        bands = [bound for bound, _ in CONNECTION_BANDS]
        words = memory_words
        unit = "per connection"
    if not memory:  # no echo bench: what a sleeping task costs stands in for a connection
        for m in PREFERENCE:
            row = sleep.row(SERVED_BY[m])  # the echo server's model: its sleeper stands in
            if row is not None and row.ok:
                memory[m] = row.rss_per_task_kb
        bands = [bound for bound, _ in MEMORY_BANDS]
        words = memory_band
        unit = "per sleeping task"
    # Thread-per-connection goes last when the echo bench's tail verdict says its p99 was "far longer"
    # than the event loops' (a same-run ratio, round by round), whatever its memory. That ratio moves with
    # the machine's load (0.8-0.9 quiet, over 12x in 1 of 24 runs with four validations at once) while
    # memory per connection does not, so the map names the tail only where it changed the order: where
    # threads were last by memory anyway, a crowded machine does not change the map. Other models'
    # tails are not ranked: one model's p99 alone moves with whatever else the machine runs.
    from helpers.echobench import TAIL_EDGES
    tail_ratio = echo.ratios().get("p99 threads/event loops", 0.0) if tails else 0.0
    # production servers only: a bare select loop and the home-made loop lack timers, cancellation, TLS
    candidates = [m for m in memory if m not in ("select", "homeloop")]

    def key(m: str, tail: bool = True) -> tuple:
        slow = tail and m == "threads" and tail_ratio >= TAIL_EDGES[-1]
        return (slow, sum(1 for b in bands if memory[m] >= b), PREFERENCE.index(m))

    ranked = sorted(candidates, key=key)
    if not ranked:  # nothing measured here (no /proc): say so, as the blocking job does
        return Pick(job, (("asyncio", "not measured here"),), "")
    moved = ranked != sorted(candidates, key=lambda m: key(m, tail=False))
    ranking = tuple((m, f"{words(memory[m])} {unit}" + (f", p99 over {TAIL_EDGES[-1]:g}× the event loops'"
                                                          if moved and key(m)[0] else ""))
                    for m in ranked)
    return Pick(job, ranking, "Ranked by memory per connection; threads go last if their p99 was far longer "
                              "than the event loops'; a bare select loop is cheaper still but has no timers, "
                              "cancellation or TLS")


def _pick_blocking(sleep: SleepReport, switch: SwitchReport) -> Pick:
    """Blocking calls into a library you cannot change: only the OS can switch away from them."""
    job = "20 calls into a blocking driver you cannot change"
    thread, process = sleep.row("thread"), sleep.row("process")
    options = []
    if thread and thread.ok:
        options.append(("threads", thread.rss_per_task_kb))
    if process and process.ok:
        options.append(("processes", process.rss_per_task_kb))
    if not options:
        return Pick(job, (("threads", "not measured"),), "")
    ranked = sorted(options, key=lambda o: (sum(1 for b, _ in MEMORY_BANDS if o[1] >= b), o[0] != "threads"))
    hand_off = switch.cpu("thread")
    aio = switch.cpu("asyncio")
    extra = ""
    if math.isfinite(hand_off) and math.isfinite(aio):
        edges = SWITCH_EDGES["thread/asyncio"]
        band = band_words(edges, sum(1 for e in edges if hand_off / aio >= e))
        extra = f"; a thread round trip cost {band} an asyncio round trip"
    return Pick(job, tuple((m, f"{memory_band(kb)} each") for m, kb in ranked),
                "gevent helps only if the driver's sockets are Python's (monkey patching), asyncio not at all; "
                "beside a loop use asyncio.to_thread" + extra)


LATER = ("On 3.14, InterpreterPoolExecutor runs each job in a subinterpreter with its own GIL, in one process; "
         "on a free-threaded build (3.13t/3.14t) threads run Python code on several cores. C code that releases "
         "the GIL (hashlib, zlib, image libraries) runs on several cores from threads anyway")


def _pick_cpu(sleep: SleepReport, cores: int, gil: str, race: object | None = None) -> Pick:
    """CPU-bound Python code: what can run it on several cores here."""
    job = f"CPU-bound pure-Python work, on the {cores} CPU{'s' if cores != 1 else ''} here"
    process = sleep.row("process")
    each = f"{memory_band(process.rss_per_task_kb)} each" if process and process.ok else "not measured"
    if race is not None and cores >= 2:
        return _pick_cpu_raced(job, each, race)
    if cores < 2:
        return Pick(job, (("processes", each), ("threads", "one core at a time")),
                    "With one CPU no model runs it faster than one process does; move it off the event loop "
                    "(run_in_executor) so the loop keeps answering")
    if gil == "free-threaded":
        return Pick(job, (("threads", "no GIL in this build: every core"), ("processes", each)),
                    "This is a free-threaded build (3.13t/3.14t): threads run Python code on several cores, "
                    "without a process's memory or pickling")
    return Pick(job, (("processes", each), ("threads", "one core at a time: the GIL")),
                "Not raced here: ranked by this build's GIL (chapter 10's core race measures it). " + LATER)


def _pick_cpu_raced(job: str, each: str, race) -> Pick:
    """The CPU-bound job ranked by a core race: CPU-seconds per second its jobs could run, per side."""
    jobs = race.jobs

    def grade(rate: float) -> int:  # the nearer of 1 and ``jobs`` on a log scale, as core_verdict grades it
        return 1 if abs(math.log(max(rate, 1e-9))) <= abs(math.log(max(rate, 1e-9) / jobs)) else jobs

    grades = {"processes": grade(race.processes_rate), "threads": grade(race.threads_rate)}
    # more CPUs' worth first; a tie goes to threads, which need no second interpreter or pickling
    ranked = sorted(grades, key=lambda m: (-grades[m], m != "threads"))

    def what(m: str) -> str:
        cpus = ("about 1 CPU's worth" if grades[m] == 1 else f"about {grades[m]} CPUs' worth") + f" from {jobs} jobs"
        if m == "processes":
            return f"{cpus}, {each}"
        return cpus + (": they took turns on the GIL" if grades[m] == 1 else ": no GIL held them back")
    measured = (f"Raced just now ({race.work}, {jobs} jobs a side, at once): the figures are CPU-seconds per "
                "second each job could run, summed per side")
    return Pick(job, tuple((m, what(m)) for m in ranked), f"{measured}. {LATER}")


def _pick_pipeline(switch: SwitchReport) -> Pick:
    """A lazy pipeline inside one function: the cheapest hand-over of control."""
    job = "a lazy pipeline inside one function (read, filter, count)"
    figures = {m: switch.cpu(m) for m in ("generator", "greenlet", "asyncio")}
    figures = {m: v for m, v in figures.items() if math.isfinite(v)}
    if not figures:
        return Pick(job, (("generator", "not measured"),), "")
    cheapest = min(figures.values())
    edges = (3, 30, 3000)  # on the reference machine (2026-12-06): greenlet 14× a generator send, asyncio 110×

    def what(m: str) -> str:
        if figures[m] == cheapest:
            return "the cheapest switch measured"
        return f"{band_words(edges, sum(1 for e in edges if figures[m] / cheapest >= e))} its cost"

    ranked = sorted(figures, key=lambda m: (sum(1 for e in edges if figures[m] / cheapest >= e), m != "generator"))
    return Pick(job, tuple((m, what(m)) for m in ranked), "No scheduler needed: the consumer pulls each item")


# --- pictures ---------------------------------------------------------------------------------


PICTURE_KEY = "switchyard-showdown"  # the PNG text chunk where a report's picture keeps the report it drew


class Picture(_figures.LazyFigure):
    """A matplotlib Figure drawn on demand by ``draw(figure)``, shown as a PNG by Jupyter (no pyplot state).

    ``report`` (a SleepReport or SwitchReport) rides along in the PNG as a text chunk, so that
    :func:`picture_report` reads back what a stored picture drew.
    """

    def __init__(self, draw, size: tuple[float, float] = (8, 3.6), report: object | None = None) -> None:
        self._drawing, self._size, self._report = draw, size, report

    def png(self) -> bytes:
        if self._report is None:
            return super().png()
        report = self._report
        carried = {"kind": type(report).__name__, "setting": dataclasses.asdict(report.setting),  # type: ignore[attr-defined]
                   "rows": [dataclasses.asdict(row) for row in report.rows]}  # type: ignore[attr-defined]
        return _figures.png(self.figure, {PICTURE_KEY: json.dumps(carried)})

    def _draw(self):
        from matplotlib.figure import Figure

        figure = Figure(figsize=self._size, dpi=80)
        self._drawing(figure)
        figure.tight_layout()
        return figure

    def __repr__(self) -> str:
        return "<a figure: run the cell in Jupyter to see it>"


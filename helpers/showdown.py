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

The models: ``MODELS``, the sleepers and switches of ``helpers._showdown_child`` (read it: each
model's sleeper and round trip is a few lines there). ``SETTINGS`` holds "fast" (what the
validation runs: sleepers in 6 to 10 s, switch costs in 1 to 2 s on the 2-core reference machine,
idle or loaded; no child above 120 MB) and "full" (for learners: 30,000 sleepers per coroutine
model, 10,000 threads, 300 processes, 50 batches: about 45 s in all there, the largest child,
gevent's, near 300 MB).

Measured on the reference machine (3.11; 3.12 within a few percent), per sleeper: select loop
0.2 KB RSS, generator 0.3, home loop 1.2, asyncio 1.3, uvloop 1.6, greenlet 6, gevent 8, thread 16
(+8.5 MB virtual), process 1.1-1.4 MB (its private pages); per round trip: generator 0.05 µs,
greenlet 0.7, uvloop 2.3, asyncio 4.9, home loop 9-13, process 9-15, thread 14-20 (idle; a loaded
machine doubles the loops' and threads' figures at worst, best of batches).

Measuring: every model runs in its own interpreter (``python -m helpers._showdown_child``), in a
process group of its own, killed as a group when it is done or when it overruns the setting's
timeout (then the row says "timed out"). The kernel only reads one JSON line per model, so its
own memory does not grow, and each model's memory is its own. Times are the best of several
batches, the least disturbed by other programs; the printed text gives orders of magnitude and
ratios with wide bands (chosen from what this machine measured under load), never raw seconds.

Threads: everything runs in the caller's thread and blocks it; nothing prints.
"""

from __future__ import annotations

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
from helpers.fresh import kill_group
from helpers.progress import progress as progress_bar
from helpers.timing import Verdict, about, at_least

__all__ = ["MODELS", "SETTINGS", "SWITCH_MODELS", "Setting", "SleepReport", "SwitchReport", "choose",
           "memory_band", "sleepers", "switch_costs", "switch_line", "uvloop_available", "uvloop_changes"]

MODELS = ("generator", "select loop", "home loop", "asyncio", "uvloop", "greenlet", "gevent", "thread", "process")
SWITCH_MODELS = ("generator", "greenlet", "home loop", "asyncio", "uvloop", "thread", "process")
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


SETTINGS = {
    "fast": Setting(count=10_000, threads=2_000, processes=50, traced=500, rounds=500, batches=24, timeout=40),
    "full": Setting(count=30_000, threads=10_000, processes=300, traced=2_000, rounds=20_000, batches=50,
                    timeout=120),
}

CHILD = "helpers._showdown_child"
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
    proc = subprocess.Popen([sys.executable, "-m", CHILD, *args], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=ROOT,
                            start_new_session=True)
    deadline = time.monotonic() + timeout
    try:
        import selectors

        with selectors.DefaultSelector() as selector:
            selector.register(proc.stdout, selectors.EVENT_READ)
            buffer = b""
            while expect > 0:
                left = deadline - time.monotonic()
                if left <= 0 or not selector.select(left):
                    raise TimeoutError(f"the measuring interpreter overran its {timeout:g} s and was killed")
                chunk = os.read(proc.stdout.fileno(), 65536)
                if not chunk:
                    return
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines[:expect]:
                    yield json.loads(line)
                expect -= len(lines)
    finally:
        kill_group(proc)
        proc.stdout.close()


# --- bands: orders of magnitude in words, far from what this machine measures -------------------

# (upper bound in KB, words): RSS and tracemalloc per sleeper. Measured here (3.11 and 3.12):
# select loop 0.2, generator 0.3, home loop 1.2, asyncio 1.2-1.3, uvloop 1.5, greenlet 6, gevent 8,
# thread 16 (+8.5 MB virtual), process 1,100-1,300 (its private pages); tracemalloc: greenlet 2.07,
# thread 2.92 (3.12) to 3.02 (3.11), gevent 4.1-4.2: so the second bound is 2.5, not 3.
MEMORY_BANDS = ((0.7, "hundreds of bytes"), (2.5, "a KB or two"), (11, "several KB"), (150, "tens of KB"),
                (600, "hundreds of KB"), (6000, "about a megabyte"), (math.inf, "megabytes"))


def memory_band(kb: float) -> str:
    return next(words for bound, words in MEMORY_BANDS if kb < bound)


# The order of magnitude of one round trip, and the window each model's figure must fall in
# (measured here, best of batches, idle and under load: generator 0.05-0.09 µs, greenlet 0.7-1.4,
# uvloop 2.3-3.2, asyncio 5-11, home loop 9-19, thread 15-25, process 9-17).
ORDERS = {
    "generator": ("tens of ns", 0.01e-6, 0.5e-6),
    "greenlet": ("about a µs", 0.15e-6, 6e-6),
    "home loop": ("µs to tens of µs", 1e-6, 200e-6),
    "asyncio": ("µs to tens of µs", 1e-6, 200e-6),
    "uvloop": ("µs to tens of µs", 0.5e-6, 200e-6),
    "thread": ("tens of µs", 3e-6, 2e-3),
    "process": ("tens of µs", 3e-6, 2e-3),
}


def _kind(model: str) -> str:
    return {"thread": "threads", "process": "processes"}.get(model, "coroutines")


# --- sleepers ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SleepRow:
    """One model's sleepers: how many were asked and started, seconds to start them, memory grown."""

    model: str
    asked: int
    started: int
    seconds: float
    rss_kb: float        # growth of the interpreter's RSS (processes: plus each child's private pages)
    vm_kb: float         # growth of its virtual size (threads reserve a stack each)
    traced: int          # sleepers started under tracemalloc
    traced_bytes: int
    failure: str = ""    # "timed out ..." when the interpreter was killed

    @property
    def ok(self) -> bool:
        return not self.failure and self.started > 0

    @property
    def per_task_seconds(self) -> float:
        return self.seconds / max(self.started, 1)

    @property
    def rss_per_task_kb(self) -> float:
        return self.rss_kb / max(self.started, 1)

    @property
    def vm_per_task_kb(self) -> float:
        return self.vm_kb / max(self.started, 1)

    @property
    def traced_per_task_kb(self) -> float:
        return self.traced_bytes / KB / max(self.traced, 1)


@dataclass(frozen=True)
class SleepReport:
    """Every model's SleepRow (``rows``, in MODELS order) under ``setting``."""

    setting: Setting
    rows: tuple[SleepRow, ...]

    def row(self, model: str) -> SleepRow | None:
        return next((row for row in self.rows if row.model == model), None)

    def text(self) -> str:
        s = self.setting
        lines = [f"sleepers measured on this machine, each model in a fresh interpreter: {s.count:,} of each "
                 f"coroutine model, {s.threads:,} threads, {s.processes:,} processes",
                 f"{'model':<12} {'started':>15}  {'memory per sleeper (RSS)':<26} Python objects (tracemalloc)"]
        for row in self.rows:
            if not row.ok:
                lines.append(f"{row.model:<12} {row.failure or 'none started'}")
                continue
            rss = memory_band(row.rss_per_task_kb)
            if row.model == "thread":
                rss += " + MBs virtual"
            traced = memory_band(row.traced_per_task_kb)
            if row.model == "process":
                traced += " (the child's memory is not seen)"
            lines.append(f"{row.model:<12} {f'{row.started:,}/{row.asked:,}':>15}  {rss:<26} {traced}")
        lines += [str(v) for v in self.verdicts()]
        return "\n".join(lines)

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

    def verdicts(self) -> list[Verdict | str]:
        out: list[Verdict | str] = [self.thread_limit()]
        asyncio_row, thread, process = self.row("asyncio"), self.row("thread"), self.row("process")
        if asyncio_row and thread and asyncio_row.ok and thread.ok:
            out.append(at_least(thread.rss_per_task_kb / asyncio_row.rss_per_task_kb, 4,
                                "a sleeping thread holds more memory (RSS) than a sleeping asyncio task"))
            out.append(at_least(thread.per_task_seconds / asyncio_row.per_task_seconds, 4,
                                "starting a thread takes longer than starting an asyncio task"))
            out.append(f"each thread also reserves {memory_band(thread.vm_per_task_kb)} of address space "
                       "(virtual memory) for its stack: RSS counts only the pages it touched")
        if process and process.ok and thread and thread.ok:
            out.append(at_least(process.rss_per_task_kb / thread.rss_per_task_kb, 10,
                                "a sleeping process holds more memory than a sleeping thread"))
            gigabytes = process.rss_per_task_kb * 10_000 / KB / KB
            out.append(at_least(gigabytes, 2, f"10,000 processes would need more than the 1 GB a notebook gets "
                                              f"(extrapolated from {process.started:,})"))
        return out

    def plot(self) -> Picture:
        return Picture(self._draw)

    def _draw(self, figure) -> None:
        rows = [row for row in self.rows if row.ok]
        names = [row.model for row in rows]
        axes = figure.subplots(1, 2)
        ax = axes[0]
        ax.barh(names, [row.per_task_seconds * 1e6 for row in rows], color="tab:blue")
        ax.set_xscale("log")
        ax.set_xlabel("µs to start one sleeper")
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
    rows = []
    bar = progress_bar(len(chosen), "sleepers") if progress else _Silent()
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
    model: str
    rounds: int
    batches: int
    seconds: float  # per round trip, best batch

    @property
    def ok(self) -> bool:
        return math.isfinite(self.seconds) and self.seconds > 0


LABELS = {"generator": "generator send", "greenlet": "greenlet switch", "home loop": "home-loop task step",
          "asyncio": "asyncio task step", "uvloop": "uvloop task step", "thread": "thread hand-off (lock)",
          "process": "process hand-off (pipe)"}


@dataclass(frozen=True)
class SwitchReport:
    """Seconds per round trip of every model (``rows``), best of ``setting.batches`` batches."""

    setting: Setting
    rows: tuple[SwitchRow, ...]

    def seconds(self, model: str) -> float:
        row = next((row for row in self.rows if row.model == model), None)
        return row.seconds if row is not None and row.ok else math.nan

    def text(self) -> str:
        lines = ["one round trip (A hands control to B, B hands it back), best of "
                 f"{self.setting.batches} batches, measured on this machine:"]
        lines += ["  " + switch_line(row.model, row.seconds) for row in self.rows]
        lines += [str(v) for v in self.verdicts()]
        return "\n".join(lines)

    def claim_no_overhead(self) -> str:
        """The verdict on "coroutines have no thread context-switch overhead"."""
        verdicts = self.verdicts()[:3]
        held = [v.holds for v in verdicts]
        answer = ("yes for generators and greenlets; asyncio's task step costs about as much as a thread "
                  "hand-off" if held == [True, True, True] else "no: see the lines above")
        return "\n".join(['claim: "coroutines switch without the overhead of a thread context switch"',
                          *(f"measured: {v}" for v in verdicts), f"held here: {answer}"])

    def verdicts(self) -> list[Verdict]:
        gen, green, aio, uv, thread = map(self.seconds, ("generator", "greenlet", "asyncio", "uvloop", "thread"))
        out = []
        if math.isfinite(thread) and math.isfinite(gen):
            out.append(at_least(thread / gen, 30, "a generator send is cheaper than a thread hand-off"))
        if math.isfinite(thread) and math.isfinite(green):
            out.append(at_least(thread / green, 4, "a greenlet switch is cheaper than a thread hand-off"))
        if math.isfinite(thread) and math.isfinite(aio):
            out.append(Verdict("a thread hand-off costs " + about(thread, aio, (1, 1000),
                                                                   unit_name="an asyncio task step").text,
                               thread / aio, thread / aio < 31.6))
        if math.isfinite(aio) and math.isfinite(uv):
            out.append(at_least(aio / uv, 1.3, "uvloop's task step is cheaper than asyncio's"))
        return out

    def plot(self) -> Picture:
        return Picture(self._draw)

    def _draw(self, figure) -> None:
        rows = [row for row in self.rows if row.ok]
        ax = figure.subplots()
        values = [row.seconds * 1e6 for row in rows]
        ax.barh([LABELS[row.model] for row in rows], values,
                color=[{"threads": "tab:red", "processes": "tab:purple"}.get(_kind(row.model), "tab:blue")
                       for row in rows])
        for y, value in enumerate(values):
            ax.text(value * 1.1, y, _duration(value / 1e6), va="center", fontsize=8)
        ax.set_xscale("log")
        ax.set_xlim(right=max(values) * 8)
        ax.invert_yaxis()
        ax.set_xlabel("µs per round trip (log scale)")
        ax.grid(alpha=0.3, axis="x")
        ax.set_title("The cost of one switch, measured on this machine", fontsize=10)


def switch_costs(setting: str | Setting = "fast", models: Sequence[str] = SWITCH_MODELS, *,
                 progress: bool = True) -> SwitchReport:
    """Seconds per round trip of each model, in one fresh interpreter; see the module docstring."""
    s = _setting(setting)
    chosen = _models(models, SWITCH_MODELS)
    rows = []
    bar = progress_bar(s.batches, "switch costs") if progress else _Silent()
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


def switch_line(model: str, seconds: float) -> str:
    """One model's round trip as an order of magnitude, and whether it fell in the window expected here."""
    words, low, high = ORDERS[model]
    if not math.isfinite(seconds):
        return f"{LABELS[model]:<24} not measured (its interpreter was killed)"
    inside = "yes" if low <= seconds <= high else "NO"
    return f"{LABELS[model]:<24} {words:<17} (between {_duration(low)} and {_duration(high)}: {inside})"


def uvloop_changes(sleep: SleepReport, switch: SwitchReport) -> str:
    """What uvloop changed here, from both reports: the loop's step, not the tasks it runs."""
    aio, uv = sleep.row("asyncio"), sleep.row("uvloop")
    step_aio, step_uv = switch.seconds("asyncio"), switch.seconds("uvloop")
    if not (aio and uv and aio.ok and uv.ok and math.isfinite(step_aio) and math.isfinite(step_uv)):
        return "uvloop: not measured here"
    start = about(uv.per_task_seconds, aio.per_task_seconds, (1, 10), unit_name="asyncio's")
    return "\n".join([
        "changes: " + str(at_least(step_aio / step_uv, 1.3, "uvloop's task step is cheaper than asyncio's")),
        f"same: starting a sleeping task on uvloop takes {start.text}: the Task objects are asyncio's own",
        f"same: memory per sleeping task: {memory_band(uv.rss_per_task_kb)} on uvloop, "
        f"{memory_band(aio.rss_per_task_kb)} on asyncio",
    ])


def _duration(seconds: float) -> str:
    if seconds < 1e-6:
        return f"{seconds * 1e9:.3g} ns"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.3g} µs"
    return f"{seconds * 1e3:.3g} ms"


# --- the closing map --------------------------------------------------------------------------


def choose(sleep: SleepReport, switch: SwitchReport, echo: object | None = None) -> str:
    """Which model for which job, each line backed by a band just measured (stable text)."""
    def mem(model: str) -> str:
        row = sleep.row(model)
        return memory_band(row.rss_per_task_kb) if row and row.ok else "not measured"

    def order(model: str) -> str:
        return ORDERS[model][0] if math.isfinite(switch.seconds(model)) else "not measured"

    lines = [
        "Which model for which job (figures measured on this machine just now):",
        f"- tens of thousands of waiting connections or timers: asyncio ({mem('asyncio')} per task, a step of "
        f"{order('asyncio')}) or uvloop for a faster loop; gevent ({mem('gevent')} per greenlet) when the code "
        "is blocking-style and can be monkey-patched in its own process",
        f"- a few dozen blocking calls into a library you cannot change: threads ({mem('thread')} each plus a "
        f"reserved stack; a hand-off costs {order('thread')}), or asyncio.to_thread beside a loop",
        f"- CPU-bound work on several cores: processes ({mem('process')} each; chapter 10), "
        "fed by a loop through run_in_executor",
        f"- a lazy pipeline inside one function: generators ({mem('generator')} each, {order('generator')} "
        "per send); no scheduler needed",
        f"- timers and callbacks with no framework: a select loop with a timer heap ({mem('select loop')} each)",
        "- learning how it all works: chapter 06's home-made loop; in production, asyncio (or uvloop), which "
        "adds timers, cancellation and transports",
    ]
    if echo is not None and getattr(echo, "rows", None):
        lines.append(_echo_line(echo))
    return "\n".join(lines)


def _echo_line(echo) -> str:
    """The map's line on serving many clients, from an EchoReport's rows (helpers.echobench)."""
    def at_most(model: str) -> dict | None:
        rows = [r for r in echo.rows if r.get("model") == model and r.get("ok")]
        return max(rows, key=lambda r: r["clients"]) if rows else None

    loop, threads = at_most("asyncio"), at_most("threads")
    if loop is None or threads is None:
        return "- serving many clients: the echo bench did not run both asyncio and threads here"
    one = "in the one thread it started with" if loop.get("threads") == 1 else "with a few threads"
    per = ("a thread per connection" if threads.get("threads", 0) >= threads["clients"]
           else "fewer threads than connections")
    return (f"- serving many clients at once: asyncio served {loop['clients']:,} clients {one}; the threaded "
            f"server needed {per} (echo bench above)")


# --- pictures ---------------------------------------------------------------------------------


class Picture:
    """A matplotlib Figure drawn on demand, shown as a PNG by Jupyter (no pyplot state)."""

    def __init__(self, draw, size: tuple[float, float] = (8, 3.6)) -> None:
        self._draw, self._size, self._figure = draw, size, None

    @property
    def figure(self):
        if self._figure is None:
            from matplotlib.figure import Figure

            figure = Figure(figsize=self._size, dpi=80)
            self._draw(figure)
            figure.tight_layout()
            self._figure = figure
        return self._figure

    def png(self) -> bytes:
        return _figures.png(self.figure)

    def _repr_png_(self) -> bytes:
        return self.png()

    def __repr__(self) -> str:
        return "<a figure: run the cell in Jupyter to see it>"


class _Silent:
    def __enter__(self) -> _Silent:
        return self

    def __exit__(self, *exc_info: object) -> None:
        pass

    def advance(self, n: int = 1, note: str = "") -> None:
        pass

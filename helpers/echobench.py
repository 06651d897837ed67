"""Chapter 11's showdown on the network: one echo workload against an echo server of every model.

Who calls it: chapter 11's notebook::

    from helpers.echobench import MODELS, SETTINGS, echo_bench
    report = echo_bench(models=MODELS, clients=(1, 10, 100, 1000), setting="fast", progress=True)
    print(report.text())     # stable: byte-exact per model, then graded verdicts (ratios, never seconds)
    report.table()           # the raw figures, one row per model and client count
    report.plot()            # p50/p99 latency and memory per connection against clients, log axes

The workload, the same for every model, OPEN LOOP: N client connections are opened first (in
batches no bigger than the listen backlog); then requests of 64 bytes leave on a fixed schedule
(``rate`` requests per second in all, for ``duration`` seconds, spread round-robin over the N
connections, the schedule running on from slice to slice so that every connection sends in
every step; the load generator checks it), whether or not the server has answered the earlier
ones. Before the schedule, one request on every connection, closed loop, warms it up (a server
still accepting connections would otherwise count that in the tail). Latency runs from each
request's *intended* send time to its reply, so a server that falls behind shows the queueing
in its p99 (a closed loop, where the next request waits for the last reply, would hide it:
"coordinated omission"). Every reply is checked byte for byte. While the N connections are still
open, the server's processes, threads, descriptors and memory (PSS of its whole process tree)
are read from /proc: the growth over the idle server, per connection, is what one connection
costs in the server's user-space memory (the kernel's socket buffers and its own bookkeeping are
not in it).

The models (``MODELS``), each a server in a FRESH interpreter of its own process group
(``python -m helpers.children.echo_server KIND``): ``threads`` (a thread per connection),
``forking`` (a fork per connection: the naive process model), ``processes`` (chapter 10's
pre-forked fleet: two processes, one asyncio loop each, sharing a port with SO_REUSEPORT),
``gevent`` (StreamServer, a greenlet per connection), ``select`` (chapter 05's selectors loop),
``homeloop`` (chapter 06's home-made loop), ``asyncio`` (``start_server`` and streams) and
``uvloop`` (the same on uvloop; skipped, with the reason, where it does not import). The clients
run in ANOTHER fresh interpreter (``python -m helpers.children.echo_load``), one epoll loop. Every
server is started first; then, client count by client count, the models take turns.

CPUs: where this process may run on two CPUs or more, the load generator is pinned to one and
every server to another (``os.sched_setaffinity``, inherited by their threads and processes), and
the report says so; with one CPU they share it, and the report says that instead.

Settings (``SETTINGS``): ``"fast"`` (what the validation runs: 2,000 requests per second for five
slices of 0.1 s per model and client count, longer where five slices would carry fewer
requests than there are connections: 0.1 s at 1,000; ``slice_seconds``) and ``"full"`` (five
slices of 1 s, for learners). p50 and p99 are taken over every request of a step's slices; the tail
verdict compares the models round by round (one slice of each model per round) and takes the
median over the rounds, so a burst of load that hits one slice does not decide it. A
run lasts its schedule (``slices × duration`` per model and client count) plus starting the
servers and connecting the clients; the wall times of the reference machine are in a comment
beside ``SETTINGS``, with where and when they were measured.

Memory: a forked server costs hundreds of KB per connection, so before each step the server's
memory per connection measured at the previous step is projected; a step that would pass
``SERVER_BUDGET_MB`` is not run, and the report says so (``forking`` at 1,000 clients).

Timeouts: a step that gets no reply at all within its deadline stops that server (its row says
``timeout``; its remaining steps are not run); a server that answers but falls behind the
schedule keeps its figures and says how far behind it fell. Every child is reaped and every
socket closed when ``echo_bench`` returns, raises or is interrupted (KeyboardInterrupt). Nothing
prints; ``progress=True`` shows one widget bar in a kernel (:mod:`helpers.progress`).

Linux only (it reads /proc, its clients use epoll): elsewhere every row is "skipped" with one line
saying why, and the report prints that line per model.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import select
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from helpers import _figures, _system
from helpers._child import Child
from helpers._model_names import ECHO_SERVERS
from helpers.progress import Progress
from helpers.progress import progress as _progress
from helpers.showdown import graded
from helpers.timing import Verdict

__all__ = ["MODELS", "SETTINGS", "EchoReport", "Setting", "echo_bench", "memory_words", "picture_report"]

MODELS = ECHO_SERVERS  # named, with the model each serves with, in helpers._model_names
EVENT_DRIVEN = ("gevent", "select", "homeloop", "asyncio", "uvloop")  # one thread serves them all
LOOPS = ("asyncio", "uvloop", "processes", "select", "gevent", "homeloop")  # an event loop in each process
MAX_CLIENTS = 5000          # descriptors: 20,000 here; the load generator holds one per client
SERVER_BUDGET_MB = 400      # the most memory a server may be expected to take (Binder gives 1 GB in all)
START_TIMEOUT = 30.0        # seconds for a fresh interpreter to print its port (gevent's import, a loaded machine)
_KINDS = set(MODELS)        # what the child accepts (tests add their own)


@dataclass(frozen=True)
class Setting:
    """How much work each step does: ``rate`` requests per second in all, for ``duration`` seconds,
    of ``size`` bytes; ``step_timeout`` seconds per step at most (the schedule plus a grace)."""

    rate: float
    duration: float      # seconds per slice
    slices: int = 3      # per model and client count, the models taking turns slice by slice
    size: int = 64
    batch: int = 1000
    step_timeout: float = 10.0


# Measured on the 2-core reference machine (Python 3.11, 2026-12-06): "fast", eight models at 1, 100 and
# 1,000 clients, about 15 s in all; "full" about 3 minutes.
SETTINGS = {
    "fast": Setting(rate=2000, duration=0.1, slices=5),
    "full": Setting(rate=2000, duration=1.0, slices=5, step_timeout=30.0),
}

ROW_KEYS = ("model", "clients", "round_trips", "seconds", "throughput", "p50", "p99", "ok")

# Memory per connection in the server, in words (KB): measured on the 2-core reference machine (2026-12-06)
# at 1,000 clients, select 0.1-0.7, the home loop 1.3-2.1, asyncio and uvloop 3.4-4.9, gevent and the fleet
# 8-9 | threads 24-25 | at 100, forking 1,000. Every edge sits at least 1.5× from those figures.
CONNECTION_BANDS = ((14, "a few KB or less"), (150, "tens of KB"), (5000, "hundreds of KB"), (math.inf, "megabytes"))


def memory_words(kb: float) -> str:
    """KB per connection as an order of magnitude in words."""
    return next(words for bound, words in CONNECTION_BANDS if kb < bound)


def _start_child(name: str, *args: str, cpu: int | None) -> Child:
    """A server or the load generator, on CPU ``cpu`` if given."""
    env = {"PYTHONHASHSEED": "0"}
    if cpu is not None:
        env["SWITCHYARD_PIN_CPU"] = str(cpu)
    return Child(name, *args, env=env)


# --- the report ----------------------------------------------------------------------------


MEMORY = "not run (memory)"


def _per_connection_kb(row: dict) -> float:
    return row["added_kb"] / row["clients"]


class Table(list):
    """The rows (dicts of raw figures); printed, a fixed-width table."""

    def __str__(self) -> str:
        head = f"{'model':<10}{'clients':>8}{'answered':>9}{'per s':>7}{'p50 ms':>8}{'p99 ms':>8}{'rounds':>8}" \
               f"{'CPU µs/req':>11}{'KB/conn':>9}{'threads':>8}{'procs':>6}  status"
        lines = [head]
        for r in self:
            lines.append(
                f"{r['model']:<10}{r['clients']:>8,}{r['round_trips']:>9,}{r['throughput']:>7,.0f}"
                f"{r['p50'] * 1e3:>8.2f}{r['p99'] * 1e3:>8.2f}{round_p99(r) * 1e3:>8.2f}"
                f"{r['cpu_per_request'] * 1e6:>11.1f}"
                f"{_per_connection_kb(r):>9.1f}{r['threads']:>8,}{r['processes']:>6,}  {r['status']}")
        return "\n".join(lines)

    __repr__ = __str__


TAIL_EDGES = (0.25, 4, 12)  # p99 of threads against the event loops' median p99, round by round


def _verdict_tail(ratio: float, clients: int) -> Verdict:
    # Measured on the reference machine (2026-12-06), median over five rounds: 0.81-0.92 on a quiet machine,
    # 0.65-1.11 with four benches at once, 0.53-0.85 beside 120 busy processes (load average 170). Pooled
    # over the rounds instead, the same runs gave 0.32-5.5, and over 12 in 6 of 24 runs of the chapter with
    # four validations at once: one slow slice decided it.
    head = (f"at {clients:,} clients thread-per-connection's p99 was {{band}} the event loops' (their median, "
            "round by round)")
    return graded(ratio, TAIL_EDGES, (
        head + ": shorter, the threads answered the slowest requests sooner",
        head + ": about the same; at this rate the threads keep up, and what they cost is memory",
        head + ": longer, by several times: its requests wait for a thread to be woken and to get the GIL",
        head + ": far longer, its requests queue for the GIL and the OS scheduler"), holds_from=2)


def round_p99(row: dict) -> float:
    """A row's p99 as the tail verdict sees it: the median of its slices' p99s (one per round), so one
    slow slice does not set it; the pooled p99 where the row carries no slices."""
    slices = row.get("p99_slices") or ()
    return statistics.median(slices) if slices else row["p99"]


def _tail_ratio(threads: dict, loops: list[dict]) -> float:
    """Threads' p99 against the event loops' median p99, round by round, then the median over the rounds.

    Round ``i`` holds slice ``i`` of every model (they took turns), so the two sides of each ratio met
    the same moment's load; the pooled p99s are compared where the rows carry no slices.
    """
    rounds = [i for i in range(len(threads.get("p99_slices", ())))
              if all(len(r.get("p99_slices", ())) > i for r in loops)]
    ratios = [threads["p99_slices"][i] / tails for i in rounds
              if (tails := statistics.median(r["p99_slices"][i] for r in loops)) > 0]
    if ratios:
        return statistics.median(ratios)
    pooled = sorted(r["p99"] for r in loops if r["p99"] > 0)
    return threads["p99"] / pooled[len(pooled) // 2] if pooled else 0.0


def _verdict_median(ratio: float, clients: int) -> Verdict:
    # Measured on the reference machine (2026-12-06): 1.03-1.16 under load, once 0.38 (see verdicts()).
    head = f"at {clients:,} clients thread-per-connection's median latency (p50) was {{band}} the event loops'"
    return graded(ratio, (0.6, 1.7, 5), (
        head + ": shorter",
        head + ": about the same, so a typical request does not feel the threads",
        head + ": longer, so even a typical request waits for a thread to be woken",
        head + ": far longer, so a typical request queues"), holds_from=2)


def _verdict_cpu(ratio: float, clients: int) -> Verdict:
    return graded(ratio, (0.6, 3, 10), (
        f"at {clients:,} clients a request cost the threads server {{band}} the CPU it cost asyncio: less",
        f"at {clients:,} clients a request cost the threads server {{band}} the CPU it cost asyncio: comparable, "
        "a thread wake-up is not what limits it at this rate",
        f"at {clients:,} clients a request cost the threads server {{band}} the CPU it cost asyncio: several "
        "times more (a thread wake-up per request)",
        f"at {clients:,} clients a request cost the threads server {{band}} the CPU it cost asyncio: far more"),
        holds_from=2)


def _verdict_memory(ratio: float, clients: int) -> Verdict:
    return graded(ratio, (2, 20, 200), (
        f"at {clients:,} clients a connection cost the threads server about the memory it cost asyncio ({{band}})",
        f"at {clients:,} clients a connection cost the threads server {{band}} the memory it cost asyncio: "
        "several times more (a thread's stack and its bookkeeping)",
        f"at {clients:,} clients a connection cost the threads server {{band}} the memory it cost asyncio: "
        "tens of times more",
        f"at {clients:,} clients a connection cost the threads server {{band}} the memory it cost asyncio: "
        "hundreds of times more"), holds_from=1)


def _verdict_fork(ratio: float) -> Verdict:
    return graded(ratio, (3, 10, 300), (
        "a forked connection cost about the memory of a thread's ({band})",
        "a forked connection cost {band} the memory of a thread's: several times more",
        "a forked connection cost {band} the memory of a thread's: tens of times more (its copied pages)",
        "a forked connection cost {band} the memory of a thread's: hundreds of times more"), holds_from=2)


@dataclass
class EchoReport:
    """What ``echo_bench`` measured: ``rows`` (raw figures), ``text()`` (stable), ``table()``, ``plot()``."""

    rows: list[dict]
    models: tuple[str, ...]
    clients: tuple[int, ...]
    setting: str
    notes: list[str]
    cores: int
    pinning: str = ""

    def _row(self, model: str, clients: int) -> dict | None:
        for row in self.rows:
            if row["model"] == model and row["clients"] == clients:
                return row
        return None

    def ran(self, model: str) -> list[dict]:
        return [r for r in self.rows if r["model"] == model and r["status"] != "skipped"]

    def table(self) -> Table:
        """The raw figures: one dict per model and client count (requests answered and per second,
        latency p50/p99 in seconds from the intended send time, server CPU per request, memory per
        connection, what the server held while all clients were connected)."""
        return Table(dict(r) for r in self.rows)

    def _good(self, model: str, clients: int) -> dict | None:
        row = self._row(model, clients)
        return row if row is not None and row["round_trips"] > 0 and row["status"] not in ("timeout",) else None

    def top(self, model: str, least: int = 100) -> dict | None:
        """The model's row at the most clients it answered (at least ``least``), or None."""
        rows = [r for r in self.rows
                if r["model"] == model and r["clients"] >= least and self._good(model, r["clients"])]
        return max(rows, key=lambda r: r["clients"]) if rows else None

    def memory_per_connection(self) -> dict[str, float]:
        """KB per connection of each model, at the most clients it held (100 or more)."""
        return {m: _per_connection_kb(row) for m in self.models if (row := self.top(m)) is not None}

    def ratios(self) -> dict[str, float]:
        """The same-run ratios behind the verdicts (those that could be computed)."""
        out: dict[str, float] = {}
        top = max(self.clients)
        a, t = self._good("asyncio", top), self._good("threads", top)
        loops = sorted(row["p99"] for m in LOOPS if (row := self._good(m, top)) is not None and row["p99"] > 0)
        medians = sorted(row["p50"] for m in LOOPS if (row := self._good(m, top)) is not None and row["p50"] > 0)
        if t and loops and top >= 100:
            # round by round against the median of the event loops' tails, then the median over the rounds:
            # a burst of load meets one loop's slice, or one round, and is outvoted (pooled where the rows
            # carry no slices, as in a report read back from a picture made before they did)
            out["p99 threads/event loops"] = _tail_ratio(t, [r for m in LOOPS if (r := self._good(m, top))])
        if t and medians and top >= 100:
            out["p50 threads/event loops"] = t["p50"] / medians[len(medians) // 2]
        if a and t and top >= 100:
            if a["cpu_per_request"] > 0:
                out["CPU per request threads/asyncio"] = t["cpu_per_request"] / a["cpu_per_request"]
            if _per_connection_kb(a) > 0:
                out["memory per connection threads/asyncio"] = _per_connection_kb(t) / _per_connection_kb(a)
        f, t = self.top("forking"), self.top("threads")
        if f and t and _per_connection_kb(t) > 0:
            out["memory per connection forking/threads"] = _per_connection_kb(f) / _per_connection_kb(t)
        return out

    def tail(self) -> Verdict | None:
        """Thread-per-connection's p99 against the event loops' at the most clients, graded (None if not
        measured). Not in ``text()``: it moves with whatever else the machine runs (see ``verdicts``)."""
        ratio = self.ratios().get("p99 threads/event loops")
        return None if ratio is None else _verdict_tail(ratio, max(self.clients))

    def text(self) -> str:
        """Stable lines: per model whether every client was served byte-exact, then the verdicts."""
        chosen = SETTINGS[self.setting]
        lines = [f"echo workload: {', '.join(f'{n:,}' for n in self.clients)} clients, {chosen.size}-byte requests, "
                 f"open loop: {chosen.rate:,.0f} requests per second on a fixed schedule, latency from the "
                 f"intended send time ({self.setting} setting)"]
        for model in self.models:
            rows = [r for r in self.rows if r["model"] == model]
            if all(r["status"] == "skipped" for r in rows):
                lines.append(f"{model + ':':<11}skipped: {rows[0]['note']}")
                continue
            bad = [r for r in rows if not r["ok"] and r["status"] != MEMORY]
            spared = [f"{r['clients']:,}" for r in rows if r["status"] == MEMORY]
            line = f"{model + ':':<11}every client served byte-exact: "
            if bad:
                line += "no (" + "; ".join(f"{r['clients']:,} clients: {r['status']}" for r in bad) + ")"
            else:
                line += "yes"
            if spared:
                line += f" (not run at {', '.join(spared)} clients: memory)"
            lines.append(line)
        lines.extend(self.verdicts())
        lines.append(f"measured on this machine: {self.pinning}" if self.pinning else
                     f"measured on this machine: {self.cores} cores")
        lines.extend(f"note: {note}" for note in self.notes)
        return "\n".join(lines)

    def verdicts(self) -> list[str]:
        """The claims, each graded from ratios measured in this run (never seconds)."""
        lines = []
        ran = [m for m in self.models if any(r["ok"] for r in self.rows if r["model"] == m)]
        failed = [r for r in self.rows if r["status"] not in ("byte-exact", "skipped", MEMORY)]
        if ran:
            lines.append(f"every model served every client byte-exact: {'no' if failed else 'yes'}")
            measured = [r for r in self.rows if r["round_trips"] > 0]
            short = sorted({f"{r['clients']:,}" for r in measured if r["senders"] < r["clients"]}, key=len)
            lines.append("at every client count each connection sent requests in the step (the schedule runs on "
                         "from slice to slice): " + (f"no (not at {', '.join(short)})" if short else "yes"))
        top = max(self.clients)
        good = {m: row for m in EVENT_DRIVEN if (row := self._good(m, top)) is not None}
        event = list(good)
        if event and top >= 100:
            flat = all(row["threads_added"] == 0 and row["processes_added"] == 0 for row in good.values())
            lines.append(f"at {top:,} clients the event-driven servers ({', '.join(event)}) held every connection "
                         f"in the thread they started with, no thread or process added: {'yes' if flat else 'no'}")
        fleet = self._good("processes", top)
        if fleet and top >= 100:
            lines.append(f"at {top:,} clients the pre-forked fleet held every connection in its "
                         f"{fleet['processes'] - 1} worker processes, one loop each, none added: "
                         f"{'yes' if fleet['processes_added'] == 0 and fleet['threads_added'] == 0 else 'no'}")
        for model, what in (("threads", "threads"), ("forking", "processes")):
            r = self.top(model)
            if r is not None:
                added = r[f"{what}_added"]
                lines.append(f"at {r['clients']:,} clients the {model} server added one of its {what} per "
                             f"connection: {'yes' if added >= r['clients'] else 'no'}")
        memory = self.memory_per_connection()
        if memory:
            lines.append("memory per connection (the server's growth at the most clients it held): "
                         + ", ".join(f"{m} {memory_words(kb)}" for m, kb in memory.items()))
        r = self.ratios()
        if "memory per connection threads/asyncio" in r:
            lines.append(str(_verdict_memory(r["memory per connection threads/asyncio"], top)))
        if "memory per connection forking/threads" in r:
            lines.append(str(_verdict_fork(r["memory per connection forking/threads"])))
        # CPU per request (in table() and ratios()) gets no printed verdict: at this rate its ratio
        # between threads and asyncio swung from 0.76 to 2.0 between runs here, too close to any band.
        # The median (p50) of threads against the event loops' is graded (_verdict_median) but not printed:
        # with other programs busy on the machine its ratio at 1,000 clients was 1.16 in one run and 0.38
        # two minutes later (the loops' p50 rose from about 1 ms to 2-8 ms), so a printed band would flip.
        # The tail (p99) is graded by tail(), printed beside the table, not here: on this 2-core machine it
        # was "about the same" (0.81-0.94) on a quiet machine and "longer, by several times" (4-12x) in 2 of
        # 24 runs of the chapter with four validations at once. It depends on what else the machine runs.
        behind = sorted({r["model"] for r in self.rows if r["status"].startswith("fell behind")})
        if ran:  # late replies show in p50/p99 (from the intended send time); this counts the missing ones
            lines.append("every request of the schedule answered before the step's deadline: "
                         + (f"every model but {', '.join(behind)}" if behind else "every model"))
        return lines

    def plot(self) -> EchoFigure:
        """p50/p99 latency against clients, one line per model, and memory per connection (a picture)."""
        return EchoFigure(self)


PICTURE_KEY = "switchyard-echo"  # the PNG text chunk where an EchoFigure keeps the report it drew


class EchoFigure(_figures.LazyFigure):
    """The picture of an EchoReport, two panels: ``figure`` (matplotlib), shown as a PNG by Jupyter.

    The PNG also carries, as text, the report it draws (its rows and what ``text()`` needs), so
    that :func:`picture_report` can read a stored picture back and a test can check that it
    agrees with the table and the verdicts stored beside it.
    """

    SIZE, DPI = (10, 4.6), 80  # inches, dots per inch

    def __init__(self, report: EchoReport) -> None:
        self.report = report

    def png(self) -> bytes:
        r = self.report
        drawn = {"rows": r.rows, "models": r.models, "clients": r.clients, "setting": r.setting, "notes": r.notes,
                 "cores": r.cores, "pinning": r.pinning}
        return _figures.png(self.figure, {PICTURE_KEY: json.dumps(drawn)})

    def _draw(self):
        from matplotlib.figure import Figure

        figure = Figure(figsize=self.SIZE, dpi=self.DPI)
        _draw_echo(figure, self.report)
        return figure

    def __repr__(self) -> str:
        # The text form it had as a matplotlib Figure subclass, the one stored notebooks hold.
        width, height = self.SIZE
        return f"<EchoFigure size {width * self.DPI:g}x{height * self.DPI:g} with 2 Axes>"


def picture_report(png: bytes) -> EchoReport:
    """The EchoReport an EchoFigure PNG draws, read back from the PNG's text chunk."""
    import io

    from PIL import Image

    with Image.open(io.BytesIO(png)) as image:
        text = getattr(image, "text", {}).get(PICTURE_KEY)
    if text is None:
        raise ValueError("this PNG carries no echo report: it was not drawn by EchoReport.plot()")
    drawn = json.loads(text)
    return EchoReport(drawn["rows"], tuple(drawn["models"]), tuple(drawn["clients"]), drawn["setting"],
                      drawn["notes"], drawn["cores"], drawn["pinning"])


def _draw_echo(figure, report: EchoReport) -> None:
    left, right = figure.subplots(1, 2)
    for index, model in enumerate(report.models):
        rows = [r for r in report.rows if r["model"] == model and r["round_trips"] > 0]
        if not rows:
            continue
        color = f"C{index}"
        xs = [r["clients"] for r in rows]
        left.plot(xs, [r["p50"] * 1e3 for r in rows], marker="o", color=color, label=model)
        left.plot(xs, [round_p99(r) * 1e3 for r in rows], marker="x", linestyle="--", color=color)
    left.set_xscale("log")
    left.set_yscale("log")
    from matplotlib.ticker import FormatStrFormatter  # plain numbers (0.6, 2) where the range is narrow
    left.yaxis.set_major_formatter(FormatStrFormatter("%g"))
    left.yaxis.set_minor_formatter(FormatStrFormatter("%g"))
    left.set_xlabel("clients at once")
    left.set_ylabel("latency from intended send, ms\n(o p50, x p99: median of the rounds)")
    left.grid(alpha=0.3)
    if left.lines:
        left.legend(fontsize=7, ncol=4, loc="upper center", bbox_to_anchor=(0.5, -0.18))
    left.set_title(f"Echo latency, open loop at {SETTINGS[report.setting].rate:,.0f} requests/s", fontsize=9)
    memory = report.memory_per_connection()
    names = list(memory)
    right.barh(names, [max(memory[m], 0.01) for m in names],
               color=[f"C{report.models.index(m)}" for m in names])
    for y, m in enumerate(names):
        top = report.top(m)
        assert top is not None  # memory_per_connection() has only the models with a top row
        right.text(max(memory[m], 0.01) * 1.1, y, f"{memory[m]:.3g} KB (at {top['clients']:,})",
                   va="center", fontsize=8)
    right.set_xscale("log")
    right.set_xlim(right=max([*memory.values(), 1]) * 20)
    right.invert_yaxis()
    right.set_xlabel("server memory per connection, KB (log)")
    right.grid(alpha=0.3, axis="x")
    right.set_title("What one connection costs the server", fontsize=9)
    figure.tight_layout()


# --- the run ---------------------------------------------------------------------------------


def _validate(models: object, clients: object, setting: object) -> tuple[tuple[str, ...], tuple[int, ...]]:
    if isinstance(models, str):
        models = (models,)
    if not isinstance(models, Iterable):
        raise ValueError(f"models must be names from {', '.join(MODELS)}, not {models!r}")
    models = tuple(models)
    if not models:
        raise ValueError(f"models must name at least one of {', '.join(MODELS)}")
    for model in models:
        if model not in _KINDS:
            raise ValueError(f"unknown model {model!r}: the models are {', '.join(MODELS)}")
    if len(set(models)) != len(models):
        raise ValueError(f"a model is named twice in {models!r}")
    if isinstance(clients, int):
        clients = (clients,)
    if not isinstance(clients, Iterable):
        raise ValueError(f"clients must be client counts such as (1, 10, 100, 1000), not {clients!r}")
    clients = tuple(clients)
    if not clients:
        raise ValueError("clients must hold at least one client count, e.g. (1, 10, 100, 1000)")
    for n in clients:
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_CLIENTS:
            raise ValueError(f"every client count must be an int from 1 to {MAX_CLIENTS:,}, not {n!r}")
    if setting not in SETTINGS:
        raise ValueError(f"unknown setting {setting!r}: the settings are {', '.join(map(repr, SETTINGS))}")
    return models, tuple(sorted(set(clients)))


def _row(model: str, clients: int, status: str, note: str = "", **figures) -> dict:
    row = {"model": model, "clients": clients, "round_trips": 0, "seconds": 0.0, "throughput": 0.0,
           "p50": 0.0, "p99": 0.0, "ok": False, "status": status, "note": note, "mean": 0.0,
           "threads": 0, "processes": 0, "fds": 0, "server_mb": 0.0, "added_kb": 0, "threads_added": 0,
           "processes_added": 0, "cpu_per_request": 0.0, "offered": 0, "behind": 0,
           "senders": 0}
    row.update(figures)
    return row


def _pinning() -> tuple[int | None, int | None, str]:
    """(CPU for the load generator, CPU for the servers, the sentence saying so)."""
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except AttributeError:  # no sched_getaffinity (macOS): nothing is pinned
        return None, None, "the load generator and the servers share this machine's cores (no CPU pinning here)"
    if len(cpus) < 2:
        return None, None, ("one CPU: the load generator and the servers take turns on it, so every latency "
                            "includes waiting for the other")
    return cpus[0], cpus[1], (f"{len(cpus)} CPUs: the load generator ran on one, every server on another "
                              "(os.sched_setaffinity), so neither waited for the other's core; the fleet's "
                              "two worker processes shared that one CPU too")


def echo_bench(models: Sequence[str] = MODELS, clients: Sequence[int] = (1, 10, 100, 1000),
               setting: str = "fast", progress: bool = True) -> EchoReport:
    """Run the echo workload against every model at every client count; return an EchoReport.

    Blocks the caller until done: the setting's schedule (``slices × duration`` seconds per model
    and client count) plus starting the servers and connecting the clients. The models take turns
    at each client count, so a burst of load from other programs hits them alike. Raises
    ValueError for an unknown model or setting, or a client count out of range.
    """
    models, clients = _validate(models, clients, setting)
    if not _system.HAVE_PROC or not hasattr(select, "epoll"):
        why = "the bench reads each server's memory from /proc and its clients use epoll: Linux only"
        return EchoReport([_row(m, n, "skipped", why) for m in models for n in clients], models, clients, setting,
                          [], _usable_cpus(), "")
    bar = _progress(len(models) * len(clients), "echo bench",
                    text=f"(a bar of {len(models) * len(clients)} steps while they run)", show=progress)
    with contextlib.ExitStack() as stack:  # on the way out: every child stopped, then the bar
        stack.enter_context(bar)
        bench = stack.enter_context(_Bench(models, clients, setting, bar))
        bench.start_servers()
        for n in clients:
            bench.step(n)
    return bench.report()


class _Bench:
    """One run of :func:`echo_bench`: the children it started, the rows they measured, the notes.

    A context manager: on exit (returned, raised or interrupted) every child it started is stopped.
    """

    def __init__(self, models: tuple[str, ...], clients: tuple[int, ...], setting: str,
                 bar: Progress) -> None:
        self.models, self.clients, self.setting, self.bar = models, clients, setting, bar
        self.chosen = SETTINGS[setting]
        self.rows: dict[tuple[str, int], dict] = {}
        self.notes: list[str] = []
        self.load_cpu, self.server_cpu, self.pinning = _pinning()
        self.load: Child | None = None
        self.servers: dict[str, Child] = {}
        self.ports: dict[str, int] = {}
        self.idle: dict[str, _system.Census] = {}
        self.stopped: dict[str, str] = {}
        self.per_connection_kb: dict[str, float] = {}

    def __enter__(self) -> _Bench:
        return self

    def __exit__(self, *exc_info: object) -> None:
        for child in [*self.servers.values(), self.load]:
            if child is not None:
                child.stop()

    def _start_load(self) -> None:
        self.load = _start_child("echo_load", cpu=self.load_cpu)

    def _advance(self, n: int = 1, note: str = "") -> None:
        self.bar.advance(n, note=note)

    def start_servers(self) -> None:
        """Every model's server at once (their imports overlap); then each one's port, or why it has none."""
        for model in self.models:
            self.servers[model] = _start_child("echo_server", model, cpu=self.server_cpu)
        for model in self.models:
            first = self.servers[model].readline(START_TIMEOUT)
            if first is None or first.startswith("skip:"):
                self._skip(model, first)
                continue
            self.ports[model] = int(first)
        for model in self.ports:
            self.idle[model] = _system.census(self.servers[model].proc.pid)

    def _skip(self, model: str, first: str | None) -> None:
        """``model``'s server said it cannot run here (``first``), or said nothing in time (None)."""
        reason = first[len("skip:"):].strip() if first else f"the server did not start within {START_TIMEOUT:g} s"
        status = "skipped" if first else "timeout"
        for n in self.clients:
            self.rows[model, n] = _row(model, n, status, reason)
        if status == "timeout":
            self.notes.append(f"{model}: {reason}")
        self.servers[model].stop()
        del self.servers[model]
        self._advance(len(self.clients), note=f"{model}: {status}")

    def step(self, n: int) -> None:
        """Every model that may run at ``n`` clients, slice by slice in turns; then a row each."""
        running = self._runnable(n)
        if self.load is None and running:
            self._start_load()
        for model in running:  # every connection opened, accepted and answering before the schedule starts
            self._warm(model, n)
        slices: dict[str, list[dict]] = {model: [] for model in running}
        cpu: dict[str, float] = {model: 0.0 for model in running}
        for index in range(self.chosen.slices):  # the models take turns, slice by slice
            for model in [m for m in running if m not in self.stopped]:
                done = self._slice(model, n, last=index == self.chosen.slices - 1)
                if done is not None:
                    cpu[model] += done[1]
                    slices[model].append(done[0])
        summarised = []
        for model in running:
            if model in slices and slices[model] and (model, n) not in self.rows:
                self._summarise(model, n, slices[model], cpu[model])
                summarised.append(model)
            self._advance(note=f"{model} × {n:,}: {self.rows[model, n]['status']}")
        # Close only once every row is read: a close that fails stops the load generator, and with
        # it every model's connections, which a row read after it would miss.
        for model in summarised:
            self._close(model)

    def _runnable(self, n: int) -> list[str]:
        """The models to run at ``n`` clients; the others (stopped, or over the memory budget) get their row."""
        running = []
        for model in self.ports:
            if model in self.stopped:
                self.rows[model, n] = _row(model, n, "not run", self.stopped[model])
            elif self.idle[model].pss_kb + self.per_connection_kb.get(model, 0.0) * n > SERVER_BUDGET_MB * 1024:
                self.rows[model, n] = _row(
                    model, n, MEMORY, f"each connection cost {memory_words(self.per_connection_kb[model])} of the "
                                      f"server's memory: {n:,} would pass the {SERVER_BUDGET_MB} MB a server may "
                                      "take here")
                self.notes.append(f"{model} at {n:,} clients: not run: {self.rows[model, n]['note']}")
            else:
                running.append(model)
                continue
            self._advance(note=f"{model} × {n:,}: {self.rows[model, n]['status']}")
        return running

    def _warm(self, model: str, n: int) -> None:
        """Open ``model``'s ``n`` connections and send one request on each, closed loop, so that a server
        still accepting connections does not count that in the schedule's latencies."""
        chosen = self.chosen
        assert self.load is not None  # step() started it first
        answer = self.load.ask({"cmd": "run", "group": model, "port": self.ports[model], "clients": n, "rounds": 1,
                                "size": chosen.size, "batch": chosen.batch, "timeout": chosen.step_timeout},
                               chosen.step_timeout + 5)
        if answer is None or answer["error"] or answer["round_trips"] < n:
            self._stop_server(model, n, answer if answer is None or answer["error"] else
                              {**answer, "error": f"warm-up: {answer['round_trips']} of {n} answered"})

    def _slice(self, model: str, n: int, last: bool = False) -> tuple[dict, float] | None:
        """One slice of the schedule against ``model`` at ``n`` clients: the load generator's answer and the
        server's CPU seconds; None if the server failed (then it is stopped and its row says why).
        ``last``: the step's last slice, where the load generator checks that every connection has sent."""
        chosen = self.chosen
        assert self.load is not None  # step() started it before the first slice
        before = _system.cpu_ns(self.servers[model].proc.pid)
        answer = self.load.ask({"cmd": "open", "group": model, "port": self.ports[model], "clients": n,
                                "rate": chosen.rate, "duration": slice_seconds(chosen, n), "size": chosen.size,
                                "batch": chosen.batch, "timeout": chosen.step_timeout, "every": last},
                               chosen.step_timeout + 5)
        if answer is None or not answer["round_trips"]:
            self._stop_server(model, n, answer)
            return None
        return answer, (_system.cpu_ns(self.servers[model].proc.pid) - before) / 1e9

    def _stop_server(self, model: str, n: int, answer: dict | None) -> None:
        """``model`` gave no answer (None) or no reply at ``n`` clients: its row says so, it runs no more."""
        why = "no answer" if answer is None else (answer["error"] or "no reply")
        status = "timeout" if answer is None or "Timeout" in why else why
        failed = "timed out" if status == "timeout" else "failed"
        self.stopped[model] = f"the server {failed} at {n:,} clients"
        self.rows[model, n] = _row(model, n, status, why)
        self.notes.append(f"{model} at {n:,} clients: {status if status == 'timeout' else 'failed'} "
                          f"({why}); its server was stopped")
        self.servers.pop(model).stop()
        assert self.load is not None  # it gave ``answer`` a moment ago
        if answer is None:
            self.load.stop()
            self._start_load()
        else:
            self.load.ask({"cmd": "close", "group": model}, self.chosen.step_timeout)

    def _summarise(self, model: str, n: int, slices: list[dict], cpu: float) -> None:
        """``model``'s row at ``n`` clients, read while its connections are still open."""
        now = _system.census(self.servers[model].proc.pid)
        self.rows[model, n] = _summary(model, n, slices, cpu, self.idle[model], now)
        self.per_connection_kb[model] = self.rows[model, n]["added_kb"] / n

    def _close(self, model: str) -> None:
        """Close ``model``'s connections; if the load generator does not answer, stop it (its connections go
        with it, so the models after this one have nothing left to close; step() starts a fresh one)."""
        if self.load is not None and self.load.ask({"cmd": "close", "group": model}, self.chosen.step_timeout) is None:
            self.load.stop()
            self.load = None

    def report(self) -> EchoReport:
        ordered = [self.rows[model, n] for model in self.models for n in self.clients]
        return EchoReport(ordered, self.models, self.clients, self.setting, self.notes, _usable_cpus(), self.pinning)


def _usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def slice_seconds(chosen: Setting, clients: int) -> float:
    """Seconds of one slice at ``clients``: the setting's duration, longer where the step's slices would
    carry fewer requests than there are connections (the schedule goes on from slice to slice, so
    every connection then sends at least once in the step)."""
    return max(chosen.duration, (math.ceil(clients / chosen.slices) + 0.5) / chosen.rate)


def _summary(model: str, n: int, slices: list[dict], cpu: float, idle, held) -> dict:
    """One model at one client count, from its slices: p50 and p99 over every request of every slice
    (the load generator pools them), requests per second, CPU and memory over all of them."""
    answered = sum(a["round_trips"] for a in slices)
    seconds = sum(a["seconds"] for a in slices)
    last = slices[-1]
    errors = [a["error"] for a in slices if a["error"]]
    behind = sum(a["behind"] for a in slices)
    offered = sum(a["offered"] for a in slices)
    figures = dict(round_trips=answered, seconds=seconds, throughput=answered / seconds if seconds > 0 else 0.0,
                   p50=last.get("p50_all", last["p50"]), p99=last.get("p99_all", last["p99"]),
                   p99_best_slice=min(a["p99"] for a in slices), p99_worst_slice=max(a["p99"] for a in slices),
                   p99_slices=[a["p99"] for a in slices],
                   senders=last.get("senders", 0),
                   mean=sum(a["mean"] * a["round_trips"] for a in slices) / max(answered, 1),
                   offered=offered, behind=behind, cpu_per_request=cpu / answered if answered else 0.0,
                   threads=held.threads, processes=held.processes, fds=held.fds, server_mb=held.pss_kb / 1024,
                   added_kb=max(0, held.pss_kb - idle.pss_kb),
                   threads_added=held.threads - idle.threads, processes_added=held.processes - idle.processes)
    wrong = sum(a["wrong"] for a in slices)
    if behind:
        return _row(model, n, f"fell behind: {behind:,} of {offered:,} unanswered", "; ".join(errors), **figures)
    ok = not errors and wrong == 0 and sum(a["exact"] for a in slices) == offered
    status = "byte-exact" if ok else (errors[0] if errors else f"{wrong} wrong replies")
    return _row(model, n, status, ok=ok, **figures)



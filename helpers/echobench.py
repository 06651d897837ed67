"""Chapter 11's showdown on the network: one echo workload against an echo server of every model.

Who calls it: chapter 11's notebook::

    from helpers.echobench import MODELS, SETTINGS, echo_bench
    report = echo_bench(models=MODELS, clients=(1, 10, 100, 1000), setting="fast", progress=True)
    print(report.text())     # stable: byte-exact per model, then verdicts (ratios, never seconds)
    report.table()           # the raw figures, one row per model and client count
    report.plot()            # throughput and p50/p99 latency against clients, log axes

The workload, the same for every model: N client connections are opened first (in batches no
bigger than the listen backlog), then each does R request/response round trips of a small
payload (64 bytes), closed loop (the next request leaves when the reply is in), all N at once;
every reply is checked byte for byte and every round trip timed. While the N connections are
still open, the server's processes, threads, descriptors and memory (PSS) are read from /proc.

The models (``MODELS``), each a server in a FRESH interpreter of its own process group
(``python -m helpers._echobench_child KIND``): ``threads`` (a thread per connection),
``processes`` (a fork per connection), ``gevent`` (StreamServer, a greenlet per connection;
gevent is imported only in that child), ``select`` (chapter 05's selectors loop), ``homeloop``
(chapter 06's home-made loop and its awaitable socket calls), ``asyncio`` (``start_server``
and streams), ``uvloop`` (the same streams server on uvloop; skipped, with the reason, where
uvloop does not import). The clients run in ANOTHER fresh interpreter
(``python -m helpers._echobench_load``), one epoll loop, so the kernel only coordinates.

Settings (``SETTINGS``): ``"fast"`` (what the validation runs: 2,000 round trips per step,
every model at 1, 10, 100 and 1,000 clients in 9 to 16 s on the 2-core reference machine, 23 s
with four benches at once; kernel and children peaked at 200 MB) and ``"full"`` (ten times the
round trips, for learners: about 1.5 minutes there). On 2 cores the clients and the server
share the machine: the load generator needs about one core, so no server gets more than about
the other one.

Memory: a forked server per connection costs about 1 MB here (its copied pages), so before each
step the server's memory per connection measured at the previous step is projected; a step that
would pass ``SERVER_BUDGET_MB`` (400 MB) is not run, and the report says so (``processes`` at
1,000 clients, here).

Timeouts: each step (one model, one client count) has a deadline; a server or load generator
that overruns is killed with its process group (``helpers.fresh.kill_group``), its row says
``timeout`` and the report names it; the model's remaining steps are not run. Every child is
reaped and every socket closed when ``echo_bench`` returns, raises or is interrupted
(KeyboardInterrupt). Nothing prints; ``progress=True`` shows one widget bar in a kernel
(:mod:`helpers.progress`), over the model × clients steps.
"""

from __future__ import annotations

import json
import math
import os
import select
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from helpers import _figures
from helpers.fresh import kill_group
from helpers.models import _census, _kb_band
from helpers.progress import progress as _progress
from helpers.timing import at_least

__all__ = ["MODELS", "SETTINGS", "EchoReport", "Setting", "echo_bench"]

MODELS = ("threads", "processes", "gevent", "select", "homeloop", "asyncio", "uvloop")
EVENT_DRIVEN = ("gevent", "select", "homeloop", "asyncio", "uvloop")  # one thread serves them all
MAX_CLIENTS = 5000          # descriptors: 20,000 here; the load generator holds one per client
SERVER_BUDGET_MB = 400      # the most memory a server may be expected to take (Binder gives 1 GB in all)
GROWTH_SLACK_KB = 512       # a server's memory may grow this much whatever the clients (buffers, lazy imports)
START_TIMEOUT = 30.0        # seconds for a fresh interpreter to print its port (gevent's import, a loaded machine)
_KINDS = set(MODELS)        # what the child accepts (tests add their own)


@dataclass(frozen=True)
class Setting:
    """How much work each step does: ``round_trips`` in all (spread over the clients, at least
    ``min_rounds`` per client) of ``size`` bytes; ``step_timeout`` seconds per step at most."""

    round_trips: int
    min_rounds: int
    size: int = 64
    batch: int = 1000
    step_timeout: float = 20.0

    def rounds(self, clients: int) -> int:
        return max(self.min_rounds, math.ceil(self.round_trips / clients))


SETTINGS = {
    "fast": Setting(round_trips=2000, min_rounds=2),
    "full": Setting(round_trips=20000, min_rounds=20, step_timeout=120.0),
}

ROW_KEYS = ("model", "clients", "round_trips", "seconds", "throughput", "p50", "p99", "ok")


# --- the children ----------------------------------------------------------------------------


class _Child:
    """A fresh interpreter in its own process group that talks in lines."""

    def __init__(self, module: str, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", module, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, start_new_session=True, env={**os.environ, "PYTHONHASHSEED": "0"})
        self._buffer = b""

    def readline(self, timeout: float) -> str | None:
        """The next line, or None if none came within ``timeout`` s (or the child ended)."""
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        poller = select.poll()  # not select(): a kernel may hold descriptors past 1023
        poller.register(fd, select.POLLIN)
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not poller.poll(left * 1000):
                return None
            chunk = os.read(fd, 65536)
            if not chunk:
                return None
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return line.decode()

    def send(self, text: str) -> None:
        self.proc.stdin.write(text.encode() + b"\n")
        self.proc.stdin.flush()

    def ask(self, command: dict, timeout: float) -> dict | None:
        try:
            self.send(json.dumps(command))
        except OSError:
            return None
        line = self.readline(timeout)
        return json.loads(line) if line else None

    def stop(self) -> None:
        try:
            self.proc.stdin.close()  # EOF: the polite way to say "stop"
        except OSError:
            pass
        kill_group(self.proc)
        self.proc.stdout.close()


# --- the report ----------------------------------------------------------------------------


MEMORY = "not run (memory)"


def _added_kb(row: dict) -> float:
    return row["added_kb"] / row["clients"]


class Table(list):
    """The rows (dicts of raw figures); printed, a fixed-width table."""

    def __str__(self) -> str:
        head = f"{'model':<10}{'clients':>8}{'round trips':>12}{'per s':>9}{'p50 ms':>9}{'p99 ms':>9}" \
               f"{'threads':>8}{'procs':>7}{'MB':>6}  ok"
        lines = [head]
        for r in self:
            lines.append(
                f"{r['model']:<10}{r['clients']:>8,}{r['round_trips']:>12,}{r['throughput']:>9,.0f}"
                f"{r['p50'] * 1e3:>9.2f}{r['p99'] * 1e3:>9.2f}{r['threads']:>8,}{r['processes']:>7,}"
                f"{r['server_mb']:>6.0f}  {r['status']}")
        return "\n".join(lines)

    __repr__ = __str__


@dataclass
class EchoReport:
    """What ``echo_bench`` measured: ``rows`` (raw figures), ``text()`` (stable), ``plot()``."""

    rows: list[dict]
    models: tuple[str, ...]
    clients: tuple[int, ...]
    setting: str
    notes: list[str]
    cores: int

    def _row(self, model: str, clients: int) -> dict | None:
        for row in self.rows:
            if row["model"] == model and row["clients"] == clients:
                return row
        return None

    def ran(self, model: str) -> list[dict]:
        return [r for r in self.rows if r["model"] == model and r["status"] != "skipped"]

    def table(self) -> Table:
        """The raw figures: one dict per model and client count (seconds, round trips/s, latency
        in seconds, what the server held while all clients were connected)."""
        return Table(dict(r) for r in self.rows)

    def text(self) -> str:
        """Stable lines: per model whether every client was served byte-exact, then the verdicts."""
        lines = [f"echo workload: {', '.join(f'{n:,}' for n in self.clients)} clients, "
                 f"{SETTINGS[self.setting].size}-byte round trips, closed loop ({self.setting} setting)"]
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
        lines.append(f"measured on this machine: {self.cores} cores, shared by the servers and the load generator "
                     "(one Python process that needs about one core), so no server had more than about "
                     + ("one core to itself" if self.cores <= 2 else f"{self.cores - 1} cores"))
        lines.extend(f"note: {note}" for note in self.notes)
        return "\n".join(lines)

    def _good(self, model: str, clients: int) -> dict | None:
        row = self._row(model, clients)
        return row if row is not None and row["ok"] else None

    def ratios(self) -> dict[str, float]:
        """The raw ratios behind the verdicts (those that could be computed)."""
        out: dict[str, float] = {}
        top = max(self.clients)
        for model in self.models:
            done = [r for r in self.rows if r["model"] == model and r["ok"]]
            if len(done) >= 2 and done[0]["clients"] == 1 and done[-1]["clients"] >= 100:
                out[f"wait {model}"] = done[-1]["mean"] / done[0]["mean"]
        p, t = self._good("processes", 100), self._good("threads", 100)
        if p and t:
            out["memory processes/threads"] = _added_kb(p) / max(_added_kb(t), 1.0)
        a, t = self._good("asyncio", top), self._good("threads", top)
        if a and t and top >= 1000:
            out["throughput asyncio/threads"] = a["throughput"] / t["throughput"]
            out["p99 threads/asyncio"] = t["p99"] / a["p99"]
        a, h = self._good("asyncio", 100), self._good("homeloop", 100)
        if a and h:
            out["throughput asyncio/homeloop"] = a["throughput"] / h["throughput"]
        pairs = [(self._good("uvloop", n), self._good("asyncio", n)) for n in self.clients if n >= 10]
        pairs = [(u, a) for u, a in pairs if u and a]
        if pairs:
            ratios = sorted(u["throughput"] / a["throughput"] for u, a in pairs)
            out["throughput uvloop/asyncio"] = ratios[len(ratios) // 2]
        return out

    def verdicts(self) -> list[str]:
        """The claims, each with whether it held here (ratios with generous bands, never seconds)."""
        lines = []
        ran = [m for m in self.models if any(r["ok"] for r in self.rows if r["model"] == m)]
        failed = [r for r in self.rows if r["status"] not in ("byte-exact", "skipped", MEMORY)]
        if ran:
            lines.append(f"every model served every client byte-exact: {'no' if failed else 'yes'}")
        top = max(self.clients)
        event = [m for m in EVENT_DRIVEN if self._good(m, top)]
        if event and top >= 100:
            flat = all(self._good(m, top)["threads_added"] == 0 and self._good(m, top)["processes_added"] == 0
                       for m in event)
            lines.append(f"at {top:,} clients the event-driven servers ({', '.join(event)}) held every connection "
                         f"in the thread they started with, no thread or process added: {'yes' if flat else 'no'}")
        for model, what in (("threads", "threads"), ("processes", "processes")):
            done = [r for r in self.rows if r["model"] == model and r["ok"]]
            if done and done[-1]["clients"] >= 100:
                r = done[-1]
                added = r[f"{what}_added"]
                lines.append(f"at {r['clients']:,} clients the {model} server added one of its {what} per "
                             f"connection: {'yes' if added >= r['clients'] else 'no'}")
        ratios = self.ratios()
        waits = {k.split()[1]: v for k, v in ratios.items() if k.startswith("wait ")}
        if waits:
            held = all(v >= 10 for v in waits.values())
            lines.append(f"with many clients at once every round trip waits its turn: mean latency at the most clients "
                         f"is at least 10× that at 1 client, for {', '.join(waits)}: {'yes' if held else 'no'}")
        if "memory processes/threads" in ratios:
            lines.append("at 100 clients, memory per connection: " + str(at_least(
                ratios["memory processes/threads"], 5, "a forked process costs more than a thread")))
        if "throughput asyncio/homeloop" in ratios or "throughput uvloop/asyncio" in ratios:
            lines.append("throughput: no verdict: the servers share the cores with a Python load generator, and on "
                         "the reference machine (2 cores, four validations at once) the ratios between models swung "
                         "from run to run (asyncio against the home-made loop from under 2× to about 10×, uvloop "
                         "against asyncio from below 1× to about 3×); see report.table() and report.plot()")
        return lines

    def plot(self):
        """Throughput and p50/p99 latency against clients, one line per model, log axes (a Figure)."""
        return _figure(self)


def _figure(report: EchoReport):
    from matplotlib.figure import Figure

    class EchoFigure(Figure):
        def _repr_png_(self) -> bytes:
            return _figures.png(self)

    figure = EchoFigure(figsize=(10, 4), dpi=80)
    left, right = figure.subplots(1, 2)
    for index, model in enumerate(report.models):
        rows = [r for r in report.rows if r["model"] == model and r["ok"]]
        if not rows:
            continue
        color = f"C{index}"
        xs = [r["clients"] for r in rows]
        left.plot(xs, [r["throughput"] for r in rows], marker="o", color=color, label=model)
        right.plot(xs, [r["p50"] * 1e3 for r in rows], marker="o", color=color, label=f"{model} p50")
        right.plot(xs, [r["p99"] * 1e3 for r in rows], marker="x", linestyle="--", color=color)
    for ax, label in ((left, "round trips per second"), (right, "latency, ms (o p50, x p99)")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("clients at once")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    left.set_title(f"Echo throughput on this machine ({report.cores} cores, clients included)", fontsize=9)
    right.set_title("Round-trip latency", fontsize=9)
    left.legend(fontsize=8)
    figure.tight_layout()
    return figure


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
           "processes_added": 0}
    row.update(figures)
    return row


def echo_bench(models: Sequence[str] = MODELS, clients: Sequence[int] = (1, 10, 100, 1000),
               setting: str = "fast", progress: bool = True) -> EchoReport:
    """Run the echo workload against every model at every client count; return an EchoReport.

    Blocks the caller until done (9 to 16 s in the fast setting on the reference machine). Raises ValueError for an
    unknown model or setting, or a client count under 1.
    """
    models, clients = _validate(models, clients, setting)
    chosen = SETTINGS[setting]
    rows: list[dict] = []
    notes: list[str] = []
    load: _Child | None = None
    server: _Child | None = None
    bar = _progress(len(models) * len(clients), "echo bench") if progress else None
    try:
        if bar is not None:
            bar.__enter__()
        for model in models:
            server = _Child("helpers._echobench_child", model)
            first = server.readline(START_TIMEOUT)
            if first is None or first.startswith("skip:"):
                reason = first[len("skip:"):].strip() if first else \
                    f"the server did not start within {START_TIMEOUT:g} s"
                status = "skipped" if first else "timeout"
                rows.extend(_row(model, n, status, reason) for n in clients)
                if status == "timeout":
                    notes.append(f"{model}: {reason}")
                server.stop()
                server = None
                if bar is not None:
                    bar.advance(len(clients), note=f"{model}: {status}")
                continue
            port = int(first)
            before = _census(server.proc.pid)
            stopped = ""
            per_connection_kb = 0.0  # the server's memory per connection, from the last step
            for n in clients:
                if not stopped and before.pss_kb + per_connection_kb * n > SERVER_BUDGET_MB * 1024:
                    rows.append(_row(model, n, MEMORY,
                                     f"each connection cost {_kb_band(per_connection_kb)} of the server's memory: "
                                     f"{n:,} would pass the {SERVER_BUDGET_MB} MB a server may take here"))
                    notes.append(f"{model} at {n:,} clients: not run: {rows[-1]['note']}")
                    if bar is not None:
                        bar.advance(note=f"{model} × {n:,}: not run (memory)")
                    continue
                if stopped:
                    rows.append(_row(model, n, "not run", stopped))
                    if bar is not None:
                        bar.advance(note=f"{model} × {n:,}: not run")
                    continue
                if load is None:
                    load = _Child("helpers._echobench_load")
                rounds = chosen.rounds(n)
                answer = load.ask({"cmd": "run", "port": port, "clients": n, "rounds": rounds,
                                   "size": chosen.size, "batch": chosen.batch,
                                   "timeout": chosen.step_timeout}, chosen.step_timeout + 5)
                error = (answer or {}).get("error") or ""
                if answer is None or "TimeoutError" in error or "timeout" in error:
                    why = f"no answer within {chosen.step_timeout:g} s" if answer is None else answer["error"]
                    rows.append(_row(model, n, "timeout", why))
                    notes.append(f"{model} at {n:,} clients: timeout ({why}); its server was stopped")
                    stopped = f"the server timed out at {n:,} clients"
                    load.stop()
                    load = None
                    server.stop()
                    server = None
                    if bar is not None:
                        bar.advance(note=f"{model} × {n:,}: timeout")
                    continue
                held = _census(server.proc.pid)
                per_connection_kb = max(0, held.pss_kb - before.pss_kb - GROWTH_SLACK_KB) / n
                closed = load.ask({"cmd": "close"}, chosen.step_timeout)
                if closed is None:
                    load.stop()
                    load = None
                ok = answer["error"] is None and answer["exact"] == n * rounds and answer["wrong"] == 0
                status = "byte-exact" if ok else (answer["error"] or f"{answer['wrong']} wrong replies")
                seconds = answer["seconds"]
                rows.append(_row(
                    model, n, status, round_trips=answer["round_trips"], seconds=seconds,
                    throughput=answer["round_trips"] / seconds if seconds > 0 else 0.0,
                    p50=answer["p50"], p99=answer["p99"], mean=answer["mean"], ok=ok,
                    threads=held.threads, processes=held.processes, fds=held.fds,
                    server_mb=held.pss_kb / 1024, added_kb=held.pss_kb - before.pss_kb,
                    threads_added=held.threads - before.threads,
                    processes_added=held.processes - before.processes))
                if bar is not None:
                    bar.advance(note=f"{model} × {n:,}")
            if server is not None:
                server.stop()
                server = None
    except BaseException as error:
        if bar is not None:
            bar.__exit__(type(error), error, error.__traceback__)
            bar = None
        raise
    finally:
        for child in (server, load):
            if child is not None:
                child.stop()
    if bar is not None:
        bar.__exit__(None, None, None)
    return EchoReport(rows, models, clients, setting, notes, len(os.sched_getaffinity(0)))

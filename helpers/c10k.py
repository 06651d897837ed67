"""The C10K lab: descriptor limits, select()'s 1024 ceiling, and 10,000 connections on one thread.

Who calls it: chapter 05's notebook, cell by cell:

    fd_limits()                    (soft, hard) RLIMIT_NOFILE of the kernel, after raising soft to hard
    lab_skip()                     "" where the limits fit the lab's cells, else the line they print
                                   instead (macOS: no hard limit; any system: a soft limit below 2,000)
    emfile_demo()                  a fresh interpreter lowers its soft limit, runs out, raises it again
    high_descriptor(1500)          a socket whose descriptor number is >= 1024 (a context manager)
    select_ceiling()               the first descriptor number select() refuses (1024 on Linux)
    plan_connections(10_000)       how many connections fit here, and why fewer if fewer (used by
                                   hold_connections; not in ``__all__``)
    hold_connections(kind, n)      n clients (in a second process) connect, all held at once, each
                                   echoes one line; ``kind``: a notebook's own ``serve(listener, stop)``
                                   (run with ``helpers.selectdemo.serve_in_thread``), "selectors"
                                   (helpers.selserver, one thread, epoll) or "asyncio" (helpers.echo,
                                   its tracer switched off); returns a HoldReport with verdicts

Threads: the server under test runs on its own thread in the kernel (a notebook's own
``serve(listener, stop)``, ``helpers.selserver`` or ``helpers.echo``); a sampler thread
"switchyard-memory" reads this process's resident memory every few milliseconds while the swarm
runs; the clients run in a fresh interpreter
(``helpers.swarm``, ``where="process"``). Everything is stopped and joined before a call returns.
Nothing prints; reports print stable verdicts (log-scale bands), raw figures stay in attributes.
"""

from __future__ import annotations

import contextlib
import fcntl
import math
import os
import resource
import select
import selectors
import socket
import threading
import tracemalloc
import weakref
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from helpers import _system
from helpers.echo import EchoServer
from helpers.fresh import run_program
from helpers.selectdemo import Listener, ThreadedServer
from helpers.selserver import SelectorEchoServer
from helpers.swarm import SwarmReport, echo_payloads, swarm
from helpers.trace import Tracer

__all__ = ["emfile_demo", "fd_limits", "high_descriptor", "hold_connections", "lab_skip",  # what notebooks use
           "select_ceiling"]

KINDS = {"selectors": "selectors/epoll server (one thread)",
         "asyncio": "asyncio server (helpers.echo, its tracer off)"}
MEMORY_BUDGET = 1024 * 2**20   # what Binder guarantees a learner's kernel and its children
BYTES_PER_CONNECTION = 40 * 1024  # generous: server + client + kernel socket buffers, per connection
SPARE_FDS = 200                # descriptors left for the kernel's own use
SAMPLE_EVERY = 0.005           # seconds between memory samples
LAB_FDS = 2_000                # the fewest descriptors the lab's cells need (numbers past 1,500)
MEMORY_SAMPLE = 1000           # clients of the tracemalloc run that measures memory per connection


def fd_limits() -> tuple[int, int]:
    """Raise this process's soft RLIMIT_NOFILE to its hard limit (always allowed; capped at 1 << 20, and
    where the system refuses that, the highest value it accepts); return (soft, hard)."""
    return _system.raise_fd_limit()


def lab_skip() -> str:
    """"" when this process's descriptor limits fit the lab's cells; else the one line each of them
    prints instead of running: where the hard limit is infinite (macOS) the cells' Linux statements do
    not apply, and below LAB_FDS descriptors ``high_descriptor(1500)`` alone would fail."""
    soft, hard = fd_limits()
    if hard == resource.RLIM_INFINITY:
        return (f"skipped: this system sets no hard descriptor limit (RLIM_INFINITY, as macOS does) and keeps "
                f"the soft one at {soft:,}; the C10K lab's cells are written for Linux's limits")
    if soft < LAB_FDS:
        return (f"skipped: this process may open only {soft:,} descriptors (hard limit {hard:,}); the C10K "
                f"lab's cells need {LAB_FDS:,} or more")
    return ""


_EMFILE_PROGRAM = """\
import resource, socket
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
if hard == resource.RLIM_INFINITY:
    raise SystemExit(print("skipped: this system sets no hard descriptor limit (RLIM_INFINITY) to go back to"))
resource.setrlimit(resource.RLIMIT_NOFILE, (LOW, hard))
print(f"soft limit lowered to {LOW}")
socks = []
try:
    while True:
        socks.append(socket.socket())
except OSError as error:
    print(f"opened fewer than {LOW} sockets ({LOW} minus stdin, stdout, stderr...), then OSError: {error}")
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
print("soft limit raised back to the hard limit: allowed without privileges")
more = [socket.socket() for _ in range(MORE)]
print(f"opened {len(more):,} more sockets")
try:
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard + 1, hard))
except ValueError as error:
    print(f"soft above hard: ValueError: {error}")
for sock in socks + more:
    sock.close()
"""


def emfile_demo(low: int = 64, more: int = 1000) -> str:
    """Run, in a fresh interpreter: lower the soft limit to ``low``, open sockets until EMFILE,
    raise the soft limit back to the hard one, open ``more``; return what it printed."""
    source = _EMFILE_PROGRAM.replace("LOW", str(int(low))).replace("MORE", str(int(more)))
    return run_program(source, timeout=30).check_returncode().stdout


@contextlib.contextmanager
def high_descriptor(at_least: int = 1500) -> Iterator[socket.socket]:
    """A TCP socket whose descriptor number is ``at_least`` or more (needs a soft limit above it)."""
    fd_limits()
    base = socket.socket()
    try:
        number = fcntl.fcntl(base.fileno(), fcntl.F_DUPFD_CLOEXEC, at_least)
    finally:
        base.close()
    sock = socket.socket(fileno=number)
    try:
        yield sock
    finally:
        sock.close()


def select_ceiling(low: int = 1020, high: int = 1100) -> int | None:
    """The first descriptor number in [low, high) that select.select() refuses (ValueError), or None."""
    fd_limits()
    base = socket.socket()
    try:
        for wanted in range(low, high):
            number = fcntl.fcntl(base.fileno(), fcntl.F_DUPFD_CLOEXEC, wanted)
            try:
                if number != wanted:
                    continue  # that number is in use here
                try:
                    select.select([number], [], [], 0)
                except ValueError:
                    return number
            finally:
                os.close(number)
    finally:
        base.close()
    return None


# --- how many fit ---------------------------------------------------------------------------


def plan_connections(wanted: int = 10_000) -> tuple[int, str]:
    """(connections to run, a stable sentence saying why), for a server here and clients in a second process.

    The server side needs one descriptor per connection in this process, the clients one each in
    theirs (the same hard limit); memory must stay under the 1 GB a Binder learner has.
    """
    soft, hard = fd_limits()
    fits = {
        "this kernel's descriptor limit": soft - _system.open_fds() - SPARE_FDS,
        "the clients' descriptor limit": hard - SPARE_FDS,
        "the 1 GB memory budget": MEMORY_BUDGET // 2 // BYTES_PER_CONNECTION,
    }
    available = _system.mem_available()
    if available is not None:
        fits["the memory available"] = available // 2 // BYTES_PER_CONNECTION
    reason, room = min(fits.items(), key=lambda item: item[1])
    if room >= wanted:
        return wanted, f"{wanted:,} connections fit here (descriptors and memory)"
    room = max(100, room // 100 * 100)
    return room, f"scaled down from {wanted:,} to {room:,} connections: that is what {reason} allows"


# --- memory while a swarm runs --------------------------------------------------------------


class _PeakRss:
    """Samples this process's resident memory in a thread "switchyard-memory" until the block ends."""

    def __enter__(self) -> _PeakRss:
        self.before = self.peak = _system.rss_bytes()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="switchyard-memory", daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(SAMPLE_EVERY):
            self.peak = max(self.peak, _system.rss_bytes())

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self.peak = max(self.peak, _system.rss_bytes())


class _PythonMemory:
    """The peak of Python's own allocations (tracemalloc) during the block: ``before`` and ``peak``."""

    def __enter__(self) -> _PythonMemory:
        self._was_tracing = tracemalloc.is_tracing()
        if not self._was_tracing:
            tracemalloc.start(1)
        tracemalloc.reset_peak()
        self.before = tracemalloc.get_traced_memory()[0]
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.peak = tracemalloc.get_traced_memory()[1]
        if not self._was_tracing:
            tracemalloc.stop()


# --- the lab ------------------------------------------------------------------------------


def band(value: float, choices: Sequence[float], label) -> str:
    """'about X (not Y or Z)': the choice nearest ``value`` on a log scale, each choice shown by ``label``."""
    nearest = min(choices, key=lambda c: abs(math.log(max(value, 1e-12) / c)))
    others = [label(c) for c in choices if c != nearest]
    return f"about {label(nearest)}" + (f" (not {' or '.join(others)})" if others else "")


def _ms(value: float) -> str:
    return f"{value * 1000:g} ms"


def _kb(value: float) -> str:
    return f"{value:g} B" if value < 1024 else f"{value / 1024:g} KB"


TIME_LIMIT = 5e-3  # s per connection: measured 0.2 to 1.2 ms here (loaded): "under 5 ms" holds on a busy machine
MEMORY_BANDS = (128, 1024, 8 * 1024, 64 * 1024)  # bytes per connection, 8x apart


@dataclass(frozen=True)
class HoldReport:
    """One C10K run, and its verdicts (``text()``).

    "Open at once" is counted on the clients' side (``swarm(..., hold=True)``: no client sends until
    all are connected). ``server_max_concurrent``, the most the server had accepted and not yet
    closed, is usually the same but not always: the first clients may be served and gone before
    the server has accepted the last ones from its queue.

    Raw figures: ``swarm.elapsed`` (s, the whole swarm), ``bytes_per_connection`` (the peak of
    Python allocations in this kernel per held connection, measured with tracemalloc on a sample
    run: what the server keeps per connection; the OS's socket buffers come on top),
    ``kernel_peak_rss`` (bytes, this kernel's resident memory at its peak during the big run),
    ``swarm.client_peak_rss_kb`` (the clients' process).
    """

    kind: str
    wanted: int
    why: str
    swarm: SwarmReport
    bytes_per_connection: float
    server_max_concurrent: int
    kernel_peak_rss: int = 0
    server_accepted: int = 0

    @property
    def connections(self) -> int:
        return self.swarm.clients

    @property
    def seconds_per_connection(self) -> float:
        return self.swarm.elapsed / self.connections

    @property
    def ok(self) -> bool:
        return self.swarm.ok and self.server_accepted == self.connections

    def text(self) -> str:
        r = self.swarm
        lines = [
            f"{KINDS.get(self.kind, self.kind)}: {self.why}",
            f"connections open at once: {r.most_in_flight:,}, all accepted by the one server thread: "
            f"{self.server_accepted == r.clients}",
            f"lines echoed byte-exact: {r.exact:,} of {r.clients:,}; failures: "
            + (", ".join(f"{k} {v:,}" for k, v in sorted(r.failures.items())) or "none"),
            f"time per connection: {'under' if self.seconds_per_connection < TIME_LIMIT else 'over'} "
            f"{_ms(TIME_LIMIT)} (connect, hold, echo one line, close)",
            f"server's Python memory per connection: {band(self.bytes_per_connection, MEMORY_BANDS, _kb)}",
        ]
        lines.extend(f"note: {note}" for note in r.notes)
        return "\n".join(lines)


class _Untraced(Tracer):
    """A tracer that records nothing: the C10K run measures the server, not the course's timeline."""

    def record(self, task: str, kind: str, detail: str = "") -> None:  # type: ignore[override]
        return None


class _CountingListener(Listener):
    """A Listener that counts what it accepted and holds the sockets only weakly (10,000 of them
    kept alive by the stage would count as the server's memory)."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0
        self.open: weakref.WeakSet[socket.socket] = weakref.WeakSet()

    def accept(self) -> tuple[socket.socket, Any]:
        conn, address = socket.socket.accept(self)
        self.count += 1
        self.open.add(conn)
        return conn, address

    def close_all(self) -> int:
        left = sum(1 for conn in list(self.open) if conn.fileno() != -1)
        for conn in list(self.open):
            conn.close()
        self.close()
        return left


@dataclass(frozen=True)
class _Stats:
    connections: int
    max_concurrent: int


class _NotebookServer:
    """A notebook's ``serve(listener, stop)`` in a thread (as serve_in_thread runs it), for the lab."""

    def __init__(self, serve: Callable[[socket.socket, socket.socket], Any]) -> None:
        self._server = ThreadedServer(serve, timeout=10.0)
        self._server.listener.close()
        self._listener = self._server.listener = _CountingListener()
        self.address = self._server.address = self._listener.getsockname()

    def __enter__(self) -> _NotebookServer:
        self._server.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.close()
        if self._server.error is not None:
            raise RuntimeError(f"the server under test failed: {self._server.error!r}") from self._server.error

    @property
    def stats(self) -> _Stats:
        return _Stats(self._listener.count, 0)


def _server(kind: object, name: str) -> Any:
    if callable(kind):
        return _NotebookServer(kind)
    if kind == "selectors":
        return SelectorEchoServer(f"c10k-{name}")
    return EchoServer(f"c10k-{name}", tracer=_Untraced())


def _label(kind: str | Callable[[socket.socket, socket.socket], Any]) -> str:
    if callable(kind):
        return f"your {getattr(kind, '__name__', 'server')} (one thread, {selectors.DefaultSelector.__name__})"
    return KINDS[kind]


def hold_connections(kind: str | Callable[[socket.socket, socket.socket], Any] = "selectors",
                     wanted: int = 10_000, *, timeout: float = 45.0,
                     sample: int = MEMORY_SAMPLE) -> HoldReport:
    """Start a ``kind`` server here, connect ``wanted`` clients from a second process (scaled down if
    they do not fit), hold them all, echo one line on each, stop everything; return the report.

    Memory per connection comes from a first, smaller run of ``sample`` clients under tracemalloc
    (which slows allocation down 2 to 3 times, so the big run is timed without it); the big run
    records this kernel's peak resident memory.
    """
    if not callable(kind) and kind not in KINDS:
        raise ValueError(f"kind must be one of {sorted(KINDS)} or a function serve(listener, stop), not {kind!r}")
    n, why = plan_connections(wanted)
    sample = min(sample, n)
    with _server(kind, "sample") as server, _PythonMemory() as python:
        sampled = swarm(server.address, echo_payloads(sample), hold=True, where="process", timeout=timeout)
    if not sampled.ok:
        raise RuntimeError(f"the {sample:,}-client memory sample failed:\n{sampled.text()}")
    with _server(kind, "hold") as server, _PeakRss() as rss:
        report = swarm(server.address, echo_payloads(n), hold=True, where="process", timeout=timeout)
        stats = server.stats
    return HoldReport(_label(kind), wanted, why, report, (python.peak - python.before) / sample, stats.max_concurrent,
                      rss.peak, stats.connections)

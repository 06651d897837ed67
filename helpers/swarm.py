"""A client swarm for every server of the course: N clients connect, send, read, and one report says how it went.

Who calls it: notebook cells and tests, against any server (thread-, selectors-, gevent- or
asyncio-based, in the kernel or in a fresh interpreter)::

    report = swarm(server.address, echo_payloads(1000))
    print(report.text(unit=0.05, unit_name="one client"))
    report.ok                       # True: every client served, byte-exact, no failure

Each client connects, sends its payload, half-closes (``half_close=True``: "I am done
sending"), reads the reply until EOF or until it has as many bytes as it expects, and compares
them byte for byte. ``hold=True`` keeps every client connected, sending nothing, until all have
connected: then "most in flight at once" really is all of them. The report counts connected,
served (a full reply), byte-exact, most in flight at once, failures by kind ("refused", "reset",
"timeout", "no reply", "short reply", "wrong bytes", ...), and keeps the slowest client's and the
whole run's seconds for :meth:`SwarmReport.text` to turn into a verdict (never raw times).

Threads and blocking: all clients are non-blocking sockets driven by one ``selectors`` loop
(epoll here) in ONE worker thread "switchyard-swarm", so 10,000 clients cost one thread and a few
MB. ``swarm()`` blocks the caller until the run is over, at most ``timeout`` seconds (plus the
start of an interpreter with ``where="process"``), waiting with ``sleep``: pass ``gevent.sleep``
when a gevent server runs in the caller's own thread, so that it gets the CPU while the swarm
thread works. ``await aswarm(...)`` does the same for an asyncio server on the caller's loop
(the notebook kernel's). Nothing here prints; every socket is closed when the run ends, also when
the server drops, stalls or resets connections, or the caller is interrupted.

Descriptors: each client holds one descriptor, and a server in the same process holds one more
per connection; the limit here is 20,000 (soft and hard). ``where="process"`` runs the clients
in a fresh interpreter (``python -m helpers.children.swarm``, killed with its process group if it
overruns), so a server in this process and 10,000 clients both fit. Clients connect in batches
(default ``min(1000, somaxconn)``), a batch once the previous one has connected and, for a server
on this machine, once its accept queue has room (read from the kernel, as ``ss -lt`` does): a
burst past a full queue would wait for SYN retransmits (1 s, then 3 s) or be reset. For a server
elsewhere, keep ``batch`` at most its listen backlog. When the descriptor limit or
the memory is too small, the swarm runs fewer clients at once and says so in the report's
notes, or (``hold=True``, where all must be open at once) refuses with the figures.
"""

from __future__ import annotations

import asyncio
import base64
import errno
import json
import os
import selectors
import socket
import string
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from helpers import _system
from helpers._checks import seconds
from helpers._child import TERM_GRACE, close_pipes, kill_group, module_command, start
from helpers.gauge import InFlight
from helpers.timing import about

# child_main is for helpers/children/swarm.py (the clients' process), the rest for notebooks
__all__ = ["Payload", "SwarmReport", "aswarm", "child_main", "echo_payloads", "swarm"]

MAX_TIMEOUT = 600.0
DEFAULT_BATCH = 1000
UNKNOWN_SOMAXCONN = 128    # a common default of the kernel's listen backlog cap, where /proc does not say
CHUNK = 64 * 1024          # the most bytes one send or recv moves
POLL = 0.005               # seconds between looks at the worker while the caller waits
SPARE_FDS = 64             # descriptors left free for everything else the process does
CHILD_FDS = 32             # descriptors a fresh interpreter has open before its clients
BYTES_PER_CLIENT = 16 * 1024  # a connected socket's memory, both ends, beyond its payload (generous)
CHILD_GRACE = 20.0         # seconds for the fresh interpreter to start and report, beyond timeout
WHERE = ("threads", "process")
LOOPBACK = ("127.0.0.1", "::1", "localhost")
GATE_WAIT = 0.005          # seconds between looks at a full accept queue


@dataclass(frozen=True)
class Payload:
    """What one client sends, and the reply it expects (``None``: any non-empty reply, read until EOF)."""

    send: bytes
    expect: bytes | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.send, bytes):
            raise TypeError(f"send must be bytes, not {type(self.send).__name__}")
        if self.expect is not None and not isinstance(self.expect, bytes):
            raise TypeError(f"expect must be bytes or None, not {type(self.expect).__name__}")


def _count(value: object, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, not {value!r}")
    return value


def echo_payloads(n: int, *, size: int = 64, lines: int = 1) -> list[Payload]:
    """``n`` distinct payloads of ``lines`` text lines of ``size`` bytes each, expecting themselves back.

    Line ``j`` of client ``i`` starts ``c<i> l<j> `` and ends with a newline, so no two payloads
    are equal and a reply sent to the wrong client, reordered or cut short is caught.
    """
    n = _count(n, "n")
    size = _count(size, "size")
    lines = _count(lines, "lines")
    longest = len(f"c{n - 1} l{lines - 1} ") + 1
    if size < longest:
        raise ValueError(f"size must be at least {longest} bytes to label {n} clients' lines, not {size}")
    letters = string.ascii_lowercase
    payloads = []
    for i in range(n):
        text = []
        for j in range(lines):
            label = f"c{i} l{j} "
            fill = size - 1 - len(label)
            start = (i + j) % 26
            filler = (letters[start:] + letters[:start]) * (fill // 26 + 1)
            text.append(label + filler[:fill] + "\n")
        data = "".join(text).encode("ascii")
        payloads.append(Payload(data, data))
    return payloads


@dataclass(frozen=True)
class SwarmReport:
    """How a swarm went: counts, failures by kind, and raw seconds kept for verdicts.

    clients: clients asked for; connected: connects that succeeded; served: clients that got a
    full reply; exact: replies equal byte for byte to the expected ones; checked: clients that
    expected a reply; most_in_flight: the most clients connected at once (client side);
    failures: kind -> count, one kind per failed client; slowest: seconds of the slowest served
    client (connect to last byte); elapsed: seconds of the whole run; notes: what the swarm had
    to change (fewer clients at once) and why; client_peak_rss_kb: peak memory of the clients'
    process with ``where="process"`` (None in threads).
    """

    clients: int
    connected: int
    served: int
    exact: int
    checked: int
    most_in_flight: int
    failures: Counter = field(default_factory=Counter)
    slowest: float = 0.0
    elapsed: float = 0.0
    timeout: float = 30.0
    where: str = "threads"
    notes: tuple[str, ...] = ()
    client_peak_rss_kb: int | None = None

    @property
    def ok(self) -> bool:
        """Every client connected and served, every checked reply byte-exact, no failure."""
        return (self.connected == self.served == self.clients and self.exact == self.checked
                and not +self.failures)

    def text(self, unit: float | None = None, *, unit_name: str = "one client",
             choices: Sequence[float] = (1, 10)) -> str:
        """Stable lines for a cell to print: the counts, the failures, and time as a verdict.

        Without ``unit`` the time line only says whether the run ended within its timeout; with
        ``unit`` (seconds one client should take) it says which of ``choices`` × unit the whole
        run and the slowest client were nearest to (:func:`helpers.timing.about`).
        """
        failed = ", ".join(f"{kind} {count:,}" for kind, count in sorted(self.failures.items()) if count)
        lines = [
            f"clients: {self.clients:,}",
            f"connected: {self.connected:,}",
            f"served (full reply): {self.served:,}",
            f"byte-exact: {self.exact:,} of {self.checked:,} checked",
            f"most in flight at once: {self.most_in_flight:,}",
            f"failures: {failed or 'none'}",
        ]
        if unit is None:
            ran_out = self.failures.get("timeout", 0) > 0
            lines.append(f"time: {'ran out at' if ran_out else 'within'} the {self.timeout:g} s timeout")
        else:
            lines.append(f"time: {about(self.elapsed, unit, choices, unit_name=unit_name)}")
            if self.served:
                lines.append(f"slowest client: {about(self.slowest, unit, choices, unit_name=unit_name)}")
        lines.extend(f"note: {note}" for note in self.notes)
        return "\n".join(lines)


# --- arguments -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Plan:
    address: tuple[str, int]
    payloads: tuple[Payload, ...]
    hold: bool
    half_close: bool
    timeout: float
    batch: int


def _flag(value: object, name: str) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, not {value!r}")
    return value


def _plan(address: object, payloads: object, hold: object, half_close: object, where: object,
          timeout: object, batch: object, sleep: object) -> tuple[_Plan, str]:
    if not (isinstance(address, tuple) and len(address) == 2 and isinstance(address[0], str)
            and isinstance(address[1], int) and not isinstance(address[1], bool)):
        raise TypeError(f"address must be a (host, port) tuple such as ('127.0.0.1', 8000), not {address!r}")
    if not 0 < address[1] < 65536:
        raise ValueError(f"the port must be 1 to 65535, not {address[1]!r}")
    if isinstance(payloads, (bytes, str, Payload)) or not isinstance(payloads, Iterable):
        raise TypeError(f"payloads must be a list of Payload (see echo_payloads()), not {payloads!r:.60}")
    payloads = tuple(payloads)
    if not payloads:
        raise ValueError("payloads must hold at least one Payload: one per client")
    for payload in payloads:
        if not isinstance(payload, Payload):
            raise TypeError(f"every payload must be a Payload, not {payload!r:.60}")
    hold_flag, half_close_flag = _flag(hold, "hold"), _flag(half_close, "half_close")
    if where not in WHERE:
        raise ValueError(f"where must be 'threads' or 'process', not {where!r}")
    timeout = seconds(timeout, "timeout", maximum=MAX_TIMEOUT)
    if batch is None:
        batch = min(DEFAULT_BATCH, _system.somaxconn() or UNKNOWN_SOMAXCONN)
    batch = _count(batch, "batch")
    if not callable(sleep):
        raise TypeError(f"sleep must be a function such as time.sleep or gevent.sleep, not {sleep!r}")
    return _Plan(address, payloads, hold_flag, half_close_flag, timeout, batch), where


# --- how many fit ----------------------------------------------------------------------------


def _capacity(plan: _Plan, fd_limit: int, open_fds: int, per_connection: int,
              where_text: str) -> tuple[int, tuple[str, ...]]:
    """How many clients may be open at once here; refuses (ValueError) when ``hold`` needs more."""
    n = len(plan.payloads)
    fd_room = max(0, (fd_limit - open_fds - SPARE_FDS) // per_connection)
    biggest = max(len(p.send) + len(p.expect or b"") for p in plan.payloads)
    memory = _system.mem_available()
    mem_room = n if memory is None else max(0, memory // 2 // (biggest + BYTES_PER_CLIENT))
    room = min(fd_room, mem_room)
    if room >= n:
        return n, ()
    if fd_room <= mem_room:
        why = (f"{n:,} clients need {n * per_connection:,} descriptors {where_text}, but only "
               f"{fd_room * per_connection:,} of its limit of {fd_limit:,} are free")
    else:
        assert memory is not None  # without a figure mem_room is n, which fd_room is below
        why = (f"{n:,} clients need about {n * (biggest + BYTES_PER_CLIENT) // 2**20:,} MB, but only "
               f"{memory // 2**21:,} MB (half of what is available) may be used")
    if room < 1 or plan.hold:
        hint = " (run the clients in a second process: where='process')" if per_connection == 2 else ""
        raise ValueError(f"too many clients at once: {why}{hint}")
    return room, (f"at most {room:,} clients at once: {why}",)


# --- the engine: one selectors loop, run in the worker thread or in the child --------------

_CONNECTING, _HOLDING, _SENDING, _READING = range(4)


class _Client:
    __slots__ = ("connected", "payload", "phase", "received", "sent", "sock", "started")

    def __init__(self, sock: socket.socket, payload: Payload, started: float) -> None:
        self.sock = sock
        self.payload = payload
        self.started = started
        self.phase = _CONNECTING
        self.sent = 0
        self.received = bytearray()
        self.connected = False


def _kind(error: OSError) -> str:
    code = error.errno
    if code is None:
        return "error None"
    if code == errno.ECONNREFUSED:
        return "refused"
    # ENOTCONN: a connected client's socket that a reset has already torn down (its next
    # shutdown or send finds it no longer connected), seen under load when the RST came first.
    if code in (errno.ECONNRESET, errno.EPIPE, errno.ECONNABORTED, errno.ENOTCONN):
        return "reset"
    if code == errno.ETIMEDOUT:
        return "timeout"
    if code in (errno.EMFILE, errno.ENFILE):
        return "no descriptors"
    if code == errno.EADDRNOTAVAIL:
        return "no ports"
    if code in (errno.ENETUNREACH, errno.EHOSTUNREACH):
        return "unreachable"
    return f"error {errno.errorcode.get(code, code)}"


class _Engine:
    """Every client of ``plan`` on one selectors loop, at most ``room`` open at once: ``run()`` gives the raw counts.

    A batch starts when the previous one has connected (or failed) and, for a server on this
    machine, when its accept queue has room for it. With ``hold``, connected clients only listen
    until every client has connected (or failed); then all send.
    """

    def __init__(self, plan: _Plan, room: int, stop: threading.Event) -> None:
        self.plan, self.room, self.stop = plan, room, stop
        self.local = plan.address[0] in LOOPBACK
        self.n = len(plan.payloads)
        self.sel = selectors.DefaultSelector()
        self.gauge = InFlight()
        self.failures: Counter[str] = Counter()
        self.clients: dict[int, _Client] = {}  # by descriptor: the open ones
        self.holding: list[_Client] = []
        self.counts = {"connected": 0, "served": 0, "exact": 0}
        self.slowest = 0.0
        self.next_index = self.connecting = 0
        self.released = not plan.hold

    def run(self) -> dict[str, Any]:
        start = time.monotonic()
        deadline = start + self.plan.timeout
        try:
            while self.next_index < self.n or self.clients:
                now = time.monotonic()
                if now >= deadline or self.stop.is_set():
                    break
                wait = self._launch_batch()
                if not self.released and self.next_index == self.n and not self.connecting:
                    self._release()
                for key, mask in self.sel.select(min(deadline - now, wait)):
                    client = key.data
                    try:
                        self._step(client, mask)
                    except BlockingIOError:
                        pass
                    except OSError as error:
                        if client.sock.fileno() in self.clients:
                            self._fail(client, _kind(error))
        finally:
            self._close_all()
        return {"clients": self.n, **self.counts, "checked": sum(p.expect is not None for p in self.plan.payloads),
                "most_in_flight": self.gauge.most, "failures": dict(self.failures), "slowest": self.slowest,
                "elapsed": time.monotonic() - start}

    def _launch_batch(self) -> float:
        """Start the next batch if its turn has come; return how long the loop may wait for events."""
        plan, wait = self.plan, 0.05
        if not self.connecting and self.next_index < self.n and len(self.clients) < self.room:
            now_allowed = min(plan.batch, self.room - len(self.clients), self.n - self.next_index)
            queue = _system.listen_queue(plan.address[1]) if self.local else None
            if queue is not None:
                now_allowed = min(now_allowed, queue[1] - queue[0])
                wait = GATE_WAIT  # look again soon: the server is accepting
            for _ in range(max(0, now_allowed)):
                self._launch(self.next_index)
                self.next_index += 1
        return wait

    def _release(self) -> None:
        """Every client has connected (or failed): all send now."""
        self.released = True
        for client in self.holding:
            if client.sock.fileno() in self.clients:
                self._begin_sending(client)
        self.holding.clear()

    def _close_all(self) -> None:
        for client in list(self.clients.values()):
            self._fail(client, "timeout")  # still open at the deadline (or on stop)
        self.failures["timeout"] += self.n - self.next_index  # never started
        self.sel.close()
        if not self.failures["timeout"]:
            del self.failures["timeout"]

    def _close(self, client: _Client) -> None:
        del self.clients[client.sock.fileno()]
        self.sel.unregister(client.sock)
        client.sock.close()
        if client.connected:
            self.gauge.leave()

    def _fail(self, client: _Client, kind: str) -> None:
        self.failures[kind] += 1
        self._close(client)

    def _begin_sending(self, client: _Client) -> None:
        client.phase = _SENDING
        self.sel.modify(client.sock, selectors.EVENT_READ | selectors.EVENT_WRITE, client)

    def _finish(self, client: _Client) -> None:
        reply, expect = client.received, client.payload.expect
        if not reply:
            return self._fail(client, "no reply")
        if expect is not None and len(reply) < len(expect):
            return self._fail(client, "short reply")
        self.counts["served"] += 1
        self.slowest = max(self.slowest, time.monotonic() - client.started)
        if expect is not None:
            if reply == expect:
                self.counts["exact"] += 1
            else:
                self.failures["long reply" if reply.startswith(expect) else "wrong bytes"] += 1
        self._close(client)

    def _connected(self, client: _Client) -> None:
        client.connected = True
        self.counts["connected"] += 1
        self.gauge.enter()
        if self.released:
            self._begin_sending(client)
        else:
            client.phase = _HOLDING  # listen only: a server that closes now is noticed
            self.sel.modify(client.sock, selectors.EVENT_READ, client)
            self.holding.append(client)

    def _launch(self, index: int) -> None:
        address = self.plan.address
        try:
            sock = socket.socket(socket.AF_INET6 if ":" in address[0] else socket.AF_INET)
        except OSError as error:
            self.failures[_kind(error)] += 1
            return
        client = _Client(sock, self.plan.payloads[index], time.monotonic())
        try:
            sock.setblocking(False)
            code = sock.connect_ex(address)
        except OSError as error:
            sock.close()
            self.failures[_kind(error)] += 1
            return
        self.clients[sock.fileno()] = client
        if code in (errno.EINPROGRESS, errno.EAGAIN):
            self.sel.register(sock, selectors.EVENT_WRITE, client)
            self.connecting += 1
        else:
            self.sel.register(sock, selectors.EVENT_READ, client)
            if code:
                self._fail(client, _kind(OSError(code, os.strerror(code))))
            else:
                self._connected(client)

    def _step(self, client: _Client, mask: int) -> None:
        """One readiness event of ``client``: connected, or bytes to read, or room to send."""
        sock = client.sock
        if client.phase == _CONNECTING:
            self.connecting -= 1
            code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if code:
                return self._fail(client, _kind(OSError(code, os.strerror(code))))
            return self._connected(client)
        if mask & selectors.EVENT_READ:
            data = sock.recv(CHUNK)
            if not data:
                return self._finish(client)
            client.received += data
            expect = client.payload.expect
            if expect is not None and len(client.received) >= len(expect):
                return self._finish(client)
        if mask & selectors.EVENT_WRITE and client.phase == _SENDING:
            self._send(client)

    def _send(self, client: _Client) -> None:
        sock, send = client.sock, client.payload.send
        if client.sent < len(send):
            client.sent += sock.send(memoryview(send)[client.sent:client.sent + CHUNK])
        if client.sent == len(send):
            if self.plan.half_close:
                sock.shutdown(socket.SHUT_WR)
            client.phase = _READING
            self.sel.modify(sock, selectors.EVENT_READ, client)


def _engine(plan: _Plan, room: int, stop: threading.Event) -> dict[str, Any]:
    """Run every client of ``plan``, at most ``room`` open at once; return the raw counts (see :class:`_Engine`)."""
    return _Engine(plan, room, stop).run()


# --- where the engine runs ------------------------------------------------------------------


def _in_threads(plan: _Plan, stop: threading.Event) -> dict[str, Any]:
    limit = _system.raise_fd_limit()[0]
    here = _system.listening_here(plan.address[1]) if plan.address[0] in LOOPBACK else False
    where_text = ("in this process (the server listens here too: 2 per connection)" if here
                  else "in this process")
    room, notes = _capacity(plan, limit, _system.open_fds(), 2 if here else 1, where_text)
    result = _engine(plan, room, stop)
    result["notes"] = list(notes)
    return result


def _encode(plan: _Plan) -> str:
    def b64(data: bytes | None) -> str | None:
        return None if data is None else base64.b64encode(data).decode("ascii")

    return json.dumps({
        "address": list(plan.address), "hold": plan.hold, "half_close": plan.half_close,
        "timeout": plan.timeout, "batch": plan.batch,
        "payloads": [[b64(p.send), b64(p.expect)] for p in plan.payloads],
    })


def _decode(text: str) -> _Plan:
    data = json.loads(text)

    def unb64(value: str | None) -> bytes | None:
        return None if value is None else base64.b64decode(value)

    return _Plan((data["address"][0], data["address"][1]),
                 tuple(Payload(base64.b64decode(send), unb64(expect)) for send, expect in data["payloads"]),
                 data["hold"], data["half_close"], data["timeout"], data["batch"])


def child_main() -> None:
    """The fresh interpreter's side (``python -m helpers.children.swarm``): JSON plan in, JSON result out."""
    plan = _decode(sys.stdin.read())
    limit = _system.raise_fd_limit()[0]
    try:
        room, notes = _capacity(plan, limit, _system.open_fds(), 1, "in the clients' process")
    except ValueError as refusal:
        result: dict[str, Any] = {"refused": str(refusal)}
    else:
        result = _engine(plan, room, threading.Event())
        result["notes"] = list(notes)
        result["peak_rss_kb"] = _system.peak_rss_kb()
    sys.stdout.write(json.dumps(result))
    sys.stdout.flush()


def _in_process(plan: _Plan, stop: threading.Event) -> dict[str, Any]:
    _capacity(plan, _system.fd_hard_limit(), CHILD_FDS, 1,
              "in the clients' process")  # refuse before starting anything
    with tempfile.TemporaryFile() as plan_file:  # stdin from a file: no pipe to keep feeding
        plan_file.write(_encode(plan).encode("ascii"))
        plan_file.seek(0)
        proc = start(module_command("swarm"), stdin=plan_file, stderr=subprocess.PIPE, env={"PYTHONHASHSEED": "0"})
    deadline = time.monotonic() + plan.timeout + CHILD_GRACE
    try:
        while True:
            try:
                out, err = proc.communicate(timeout=0.1)
                break
            except subprocess.TimeoutExpired:
                if stop.is_set():
                    raise InterruptedError("the swarm was stopped") from None
                if time.monotonic() > deadline:
                    raise TimeoutError(f"the clients' process did not report within {plan.timeout:g} s "
                                       f"+ {CHILD_GRACE:g} s to start, so it was killed") from None
    finally:
        kill_group(proc)
        close_pipes(proc)
    try:
        result = json.loads(out)
    except ValueError:
        tail = "\n".join(err.decode("utf-8", "replace").rstrip().splitlines()[-15:])
        raise RuntimeError(f"the clients' process failed (return code {proc.returncode}):\n{tail}") from None
    if "refused" in result:
        raise ValueError(result["refused"])
    return result


class _Run:
    """The worker thread "switchyard-swarm" running one swarm; the caller polls ``done``."""

    def __init__(self, plan: _Plan, where: str) -> None:
        self.plan, self.where = plan, where
        self.stop = threading.Event()
        self.done = threading.Event()
        self.result: dict[str, Any] | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._main, name="switchyard-swarm", daemon=True)
        self.thread.start()

    def _main(self) -> None:
        try:
            run = _in_threads if self.where == "threads" else _in_process
            self.result = run(self.plan, self.stop)
        except BaseException as error:  # handed to the caller's thread, never printed here
            self.error = error
        finally:
            self.done.set()

    @property
    def wait_limit(self) -> float:
        """Seconds after which the caller stops waiting: the run's own bounds plus a margin."""
        return self.plan.timeout + (CHILD_GRACE + 2 * TERM_GRACE if self.where == "process" else 0) + 10.0

    def abandon(self) -> None:
        """The caller was interrupted: stop the worker (it closes every socket) and join it."""
        self.stop.set()
        self.thread.join(10.0)

    def report(self) -> SwarmReport:
        self.thread.join(10.0)
        if self.error is not None:
            raise self.error
        if self.result is None:
            raise TimeoutError(f"the swarm did not finish within {self.wait_limit:g} s")
        raw = self.result
        return SwarmReport(
            clients=raw["clients"], connected=raw["connected"], served=raw["served"], exact=raw["exact"],
            checked=raw["checked"], most_in_flight=raw["most_in_flight"], failures=Counter(raw["failures"]),
            slowest=raw["slowest"], elapsed=raw["elapsed"], timeout=self.plan.timeout, where=self.where,
            notes=tuple(raw["notes"]), client_peak_rss_kb=raw.get("peak_rss_kb"),
        )


def swarm(address: tuple[str, int], payloads: Iterable[Payload], *, hold: bool = False, half_close: bool = True,
          where: str = "threads", timeout: float = 30.0, batch: int | None = None,
          sleep: Callable[[float], object] = time.sleep) -> SwarmReport:
    """Run one client per payload against ``address``; block until done (at most ``timeout`` s) and report.

    ``where="threads"``: the clients run in one worker thread of this process; ``"process"``:
    in a fresh interpreter (a server here and 10,000 clients there fit the descriptor limit).
    ``hold=True``: no client sends until every client has connected. ``half_close``: shut the
    sending side after the payload. ``batch``: clients that connect at once (keep it at most the
    server's listen backlog). ``sleep``: how the caller waits (``gevent.sleep`` lets a gevent
    server in this thread run meanwhile). Clients still busy at ``timeout`` count as "timeout".
    """
    plan, where = _plan(address, payloads, hold, half_close, where, timeout, batch, sleep)
    run = _Run(plan, where)
    limit = time.monotonic() + run.wait_limit
    try:
        if sleep is time.sleep:
            run.done.wait(run.wait_limit)
        else:
            while not run.done.is_set() and time.monotonic() < limit:
                sleep(POLL)
    except BaseException:
        run.abandon()
        raise
    return run.report()


async def aswarm(address: tuple[str, int], payloads: Iterable[Payload], *, hold: bool = False,
                 half_close: bool = True, where: str = "threads", timeout: float = 30.0,
                 batch: int | None = None) -> SwarmReport:
    """:func:`swarm` for a coroutine: ``await aswarm(...)`` lets an asyncio server on this loop serve meanwhile."""
    plan, where = _plan(address, payloads, hold, half_close, where, timeout, batch, time.sleep)
    run = _Run(plan, where)
    limit = time.monotonic() + run.wait_limit
    try:
        while not run.done.is_set() and time.monotonic() < limit:
            await asyncio.sleep(POLL)
    except BaseException:
        run.abandon()
        raise
    return run.report()

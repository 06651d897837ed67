"""Rigging for chapter 05's select / poll / epoll servers: where a cell's server runs, and who talks to it.

Chapter 05's lesson IS the server loop, so the loop is written in the notebook; this module only
gives it a stage, so that no cell can hang or leave a socket behind:

    staged_clients(payloads)   clients that connected, sent and half-closed BEFORE the server runs:
                               a cell then runs a (buggy) loop inline, for a bounded number of turns,
                               and reads what each client got back (deterministic: all the data is
                               already in the kernel when the loop starts)
    serve_in_thread(serve)     run a cell-defined ``serve(listener, stop)`` in a background thread;
                               ``stop`` is a socket that becomes readable when the server must return
                               (the self-pipe trick); the caller hits ``server.address`` with
                               ``helpers.swarm``; leaving the block wakes the loop and joins the thread
    stubborn_client(address)   a client that sends 1 MB before it reads a byte: partial sends happen
    rude_clients(address)      clients that reset their connection mid-request, and clients that send
                               and never read (they measure how much a server takes from them:
                               back-pressure), in a background thread for the length of a block
    delayed_echo(delay)        a peer that echoes each message after ``delay`` s (one I/O wait of known
                               length, for the synchronous / threaded / event-driven timelines)
    waiting_at_once(events)    the most tasks of a Tracer that were waiting at the same moment, from the
                               order of their events (no clock: a loaded machine cannot change it)
    spin_share(), cpu_share(cpu, wall, spin)
                               the CPU share a pure spin gets right now, and a loop's CPU seconds per
                               wall second graded against it (about 1×, or about 0.001×)
    HAVE_EPOLL, NO_EPOLL       whether ``select.epoll`` exists here, and the message to print if not

Every listening socket is a :class:`Listener`: it remembers the connections it accepted and closes
those the server forgot to close when the stage ends. Nothing here prints; errors raised by a
server thread are kept in ``server.error`` for the cell to show.
"""

from __future__ import annotations

import heapq
import itertools
import os
import select
import selectors
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from helpers._checks import seconds
from helpers.servers import BACKLOG, HOST
from helpers.timing import Verdict, about

__all__ = ["HAVE_EPOLL", "NO_EPOLL", "Listener", "RudeClients", "StagedClients", "ThreadedServer", "DelayedEcho",
           "StubbornResult", "cpu_share", "delayed_echo", "reset_connection", "rude_clients", "serve_in_thread",
           "spin_share", "staged_clients", "stubborn_client", "taken_verdict", "waiting_at_once"]

HAVE_EPOLL = hasattr(select, "epoll")
NO_EPOLL = ("select.epoll does not exist on this platform: epoll is Linux-only (macOS and the BSDs have "
            "kqueue, Windows has neither). This cell needs Linux; everything else in the chapter runs "
            "with selectors.DefaultSelector, which picks the best this platform has.")
READ_CHUNK = 64 * 1024


class Listener(socket.socket):
    """A listening TCP socket on 127.0.0.1 (port picked by the OS) that remembers what it accepted."""

    def __init__(self, send_buffer: int | None = None, receive_buffer: int | None = None) -> None:
        super().__init__(socket.AF_INET, socket.SOCK_STREAM)
        self.accepted: list[socket.socket] = []
        try:
            if send_buffer is not None:  # accepted connections inherit it (Linux): sends fill up sooner
                self.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, send_buffer)
            if receive_buffer is not None:  # likewise: a server that stops reading stops its clients sooner
                self.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
            self.bind((HOST, 0))
            self.listen(BACKLOG)
            self.setblocking(False)
        except BaseException:
            super().close()
            raise

    def accept(self) -> tuple[socket.socket, Any]:
        conn, address = super().accept()
        self.accepted.append(conn)
        return conn, address

    def close_all(self) -> int:
        """Close the listener and every accepted connection still open; return how many were left open."""
        left = sum(1 for conn in self.accepted if conn.fileno() != -1)
        for conn in self.accepted:
            conn.close()
        self.accepted.clear()
        self.close()
        return left


# --- clients staged before an inline server runs ---------------------------------------------------


class StagedClients:
    """A listener and clients that have already connected, sent their payload and half-closed."""

    def __init__(self, listener: Listener, clients: list[socket.socket]) -> None:
        self.listener = listener
        self.clients = clients
        self.left_open = 0  # connections the server had not closed when the block ended

    def replies(self, timeout: float = 1.0) -> list[bytes]:
        """What each client has received so far, reading until EOF or ``timeout`` s of silence."""
        timeout = seconds(timeout)
        got = []
        for sock in self.clients:
            data = b""
            sock.settimeout(timeout)
            try:
                while chunk := sock.recv(READ_CHUNK):
                    data += chunk
            except (TimeoutError, ConnectionError):
                pass
            got.append(data)
        return got


@contextmanager
def staged_clients(payloads: Iterable[bytes]) -> Iterator[StagedClients]:
    """Yield a :class:`StagedClients`: a :class:`Listener` and one connected client per payload.

    Each client has sent its payload and shut its sending side before the block starts (the
    kernel queues the connections and buffers the bytes), so an inline server loop sees the same
    thing on every run. On exit every socket is closed, the server's forgotten ones included
    (their count is kept in ``left_open``).
    """
    payloads = list(payloads)
    if not all(isinstance(p, bytes) for p in payloads):
        raise TypeError("payloads must be bytes")
    listener = Listener()
    clients: list[socket.socket] = []
    stage = StagedClients(listener, clients)
    try:
        for payload in payloads:
            sock = socket.create_connection(listener.getsockname(), timeout=5)
            clients.append(sock)
            sock.sendall(payload)
            sock.shutdown(socket.SHUT_WR)
        yield stage
    finally:
        for sock in clients:
            sock.close()
        stage.left_open = listener.close_all()


# --- a cell-defined server in a background thread ---------------------------------------------------


class ThreadedServer:
    """A cell's ``serve(listener, stop)`` running in thread "switchyard-select-demo".

    ``address``: where clients connect. After the block: ``result`` (what serve returned),
    ``error`` (the exception it raised, or None), ``left_open`` (accepted connections it had not
    closed, closed by the stage), ``stopped`` (serve returned within the timeout).
    """

    def __init__(self, serve: Callable[[socket.socket, socket.socket], Any], timeout: float,
                 send_buffer: int | None = None, receive_buffer: int | None = None) -> None:
        if not callable(serve):
            raise TypeError(f"serve must be a function serve(listener, stop), not {serve!r}")
        self.serve = serve
        self.timeout = seconds(timeout)
        self.listener = Listener(send_buffer, receive_buffer)
        self.address: tuple[str, int] = self.listener.getsockname()
        self._stop_send, self.stop = socket.socketpair()
        self.result: Any = None
        self.error: BaseException | None = None
        self.left_open = 0
        self.stopped = False
        self._thread = threading.Thread(target=self._main, name="switchyard-select-demo", daemon=True)

    def _main(self) -> None:
        try:
            self.result = self.serve(self.listener, self.stop)
        except BaseException as error:  # kept for the cell to show, never printed here
            self.error = error

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        """Wake the loop (a byte on ``stop``), wait for serve to return, close every socket."""
        try:
            self._stop_send.send(b"x")
        except OSError:
            pass
        self._thread.join(self.timeout)
        self.stopped = not self._thread.is_alive()
        if self.stopped:
            self.left_open = self.listener.close_all()
            self._stop_send.close()
            self.stop.close()
        if not self.stopped and self.error is None:
            self.error = TimeoutError(f"serve did not return within {self.timeout:g} s of being told to stop "
                                      "(is `stop` among the sockets it waits on?)")

    def __repr__(self) -> str:
        return f"<ThreadedServer {getattr(self.serve, '__name__', 'serve')}>"

    def cpu_seconds(self) -> float:
        """CPU seconds the server's thread has used so far (POSIX thread clock, else /proc; 0.0 if neither)."""
        return _thread_cpu(self._thread)


@contextmanager
def serve_in_thread(serve: Callable[[socket.socket, socket.socket], Any], *,
                    timeout: float = 5.0, send_buffer: int | None = None,
                    receive_buffer: int | None = None) -> Iterator[ThreadedServer]:
    """Run ``serve(listener, stop)`` in a background thread for the length of the block.

    ``listener``: a non-blocking listening socket on 127.0.0.1 (OS-chosen port). ``stop``: a socket
    that becomes readable when the block ends; serve must watch it and return. Leaving the block
    waits at most ``timeout`` s for serve to return, then closes every socket (if serve does not
    return, its thread is left as a daemon and ``error`` says so). ``send_buffer`` /
    ``receive_buffer``: kernel buffer sizes (bytes) every accepted connection gets; small ones make
    partial sends and back-pressure show after kilobytes instead of megabytes.
    """
    server = ThreadedServer(serve, timeout, send_buffer, receive_buffer)
    try:
        server.start()
        yield server
    finally:
        server.close()


def _thread_cpu(thread: threading.Thread) -> float:
    if thread.is_alive() and thread.ident is not None and hasattr(time, "pthread_getcpuclockid"):
        try:  # nanoseconds of this thread's CPU time
            return time.clock_gettime(time.pthread_getcpuclockid(thread.ident))
        except OSError:
            pass
    native = getattr(thread, "native_id", None)
    if native is None:
        return 0.0
    try:
        with open(f"/proc/self/task/{native}/stat", encoding="ascii") as file:
            fields = file.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks  # utime + stime


# --- a client that sends everything before it reads -------------------------------------------------


@dataclass(frozen=True)
class StubbornResult:
    """What a stubborn client saw: bytes it managed to send, bytes echoed back, and whether they match."""

    sent: int
    echoed: int
    intact: bool


def stubborn_client(address: tuple[str, int], size: int = 1_000_000, *, timeout: float = 2.0) -> StubbornResult:
    """Connect with a tiny receive buffer, send ``size`` bytes, and only then read the echo.

    A client like this fills the server's send buffer: a server that assumes ``send`` sends
    everything loses bytes (or dies of ``BlockingIOError``). Each phase gives up after ``timeout``
    s of no progress; runs in the calling thread; the socket is always closed.
    """
    timeout = seconds(timeout)
    payload = bytes(range(256)) * (size // 256) + bytes(size % 256)
    sent = 0
    received = bytearray()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.settimeout(timeout)
        sock.connect(address)
        try:
            while sent < size:
                sent += sock.send(payload[sent:sent + READ_CHUNK])
            sock.shutdown(socket.SHUT_WR)
            while chunk := sock.recv(READ_CHUNK):
                received += chunk
                if len(received) >= size:
                    break
        except (TimeoutError, ConnectionError):
            pass
    finally:
        sock.close()
    return StubbornResult(sent, len(received), bytes(received) == payload)


# --- clients that reset, and clients that never read -----------------------------------------------

RESET_SEND = 256 * 1024   # bytes a resetting client offers before it resets (the server gets echo work)
HOG_BUFFER = 4096         # a hog's own send and receive buffers: small, so it measures the server
STALL = 0.5               # seconds without progress after which a hog counts as stopped by the server
BOUNDED = 256 * 1024      # "the server stopped reading": it took at most this much from a hog


def taken_verdict(taken: int, offered: int) -> str:
    """How much a client that never reads managed to hand a server, as a stable sentence.

    At most :data:`BOUNDED` bytes: the server stopped reading it (back-pressure). More: the server
    kept reading it into memory (how much more depends on how fast the server copies, so the
    sentence gives only the bound it broke; ``RudeClients.taken`` has the figures).
    """
    if isinstance(taken, bool) or not isinstance(taken, int) or taken < 0:
        raise ValueError(f"taken must be a count of bytes >= 0, not {taken!r}")
    if isinstance(offered, bool) or not isinstance(offered, int) or offered <= 0:
        raise ValueError(f"offered must be a count of bytes > 0, not {offered!r}")
    of = f"of the {offered / 2**20:g} MB it offered"
    if taken <= BOUNDED:
        return (f"took at most {BOUNDED // 1024} KB {of}: the server stopped reading it "
                "(back-pressure), the rest waits in the client")
    return (f"took more than {BOUNDED // 1024} KB {of}: the server kept reading it into memory "
            "(no back-pressure)")


class RudeClients:
    """What :func:`rude_clients` did: ``reset`` connections it reset, ``taken`` bytes each hog handed over."""

    def __init__(self, resets: int, hogs: int, hog_bytes: int) -> None:
        self.resets, self.hogs, self.hog_bytes = resets, hogs, hog_bytes
        self.reset = 0
        self.taken: list[int] = []
        self.hog_sockets: list[socket.socket] = []

    @property
    def most_taken(self) -> int:
        """The most bytes one never-reading client handed the server."""
        return max(self.taken, default=0)

    def text(self) -> str:
        """Stable lines: how many resets happened, and how much the server took from a client that never reads."""
        lines = []
        if self.resets:
            lines.append(f"{self.reset} of {self.resets} clients connected, sent, and reset their connection (RST)")
        if self.hogs:
            lines.append(f"{self.hogs} client{'s' if self.hogs != 1 else ''} sent without ever reading; the server "
                         + taken_verdict(self.most_taken, self.hog_bytes))
        return "\n".join(lines)


def reset_connection(sock: socket.socket) -> None:
    """Close with SO_LINGER 0: the kernel sends RST instead of FIN, the peer's next call fails."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    sock.close()


@contextmanager
def rude_clients(address: tuple[str, int], *, resets: int = 50, hogs: int = 2, hog_bytes: int = 8 * 2**20,
                 timeout: float = 10.0) -> Iterator[RudeClients]:
    """Be rude to the server at ``address`` before the block starts; keep the hogs connected during it.

    ``resets`` clients each connect, offer 256 KB (a partial send is fine), wait a moment for the
    echo to start, then reset the connection: the server's next ``recv`` or ``send`` on it raises
    ``ConnectionResetError`` or ``BrokenPipeError``. ``hogs`` clients, with small buffers of their
    own, send up to ``hog_bytes`` and never read: each stops when the server has taken nothing for
    0.5 s, and ``taken`` records how much it handed over. Runs in the calling thread (bounded by
    ``timeout`` s); the hogs stay connected, stalled, until the block ends, then everything is closed.
    """
    for name, value in (("resets", resets), ("hogs", hogs), ("hog_bytes", hog_bytes)):
        if isinstance(value, bool) or not isinstance(value, int) or value < (1 if name == "hog_bytes" else 0):
            raise ValueError(f"{name} must be a whole number >= {1 if name == 'hog_bytes' else 0}, not {value!r}")
    timeout = seconds(timeout)
    deadline = time.monotonic() + timeout
    rude = RudeClients(resets, hogs, hog_bytes)
    try:
        for _ in range(hogs):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            rude.hog_sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, HOG_BUFFER)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, HOG_BUFFER)
            sock.settimeout(5)
            sock.connect(address)
            sock.setblocking(False)
        offer = bytes(range(256)) * (RESET_SEND // 256)
        for _ in range(resets):
            if time.monotonic() > deadline:
                break
            sock = socket.create_connection(address, timeout=5)
            try:
                sock.setblocking(False)
                try:
                    sock.send(offer)
                except BlockingIOError:
                    pass
                time.sleep(0.002)  # the server reads, and starts echoing
            finally:
                reset_connection(sock)
            rude.reset += 1
        chunk = bytes(range(256)) * 256  # 64 KB
        taken = [0] * hogs
        last = [time.monotonic()] * hogs
        while time.monotonic() < deadline:
            busy = [i for i in range(hogs) if taken[i] < hog_bytes and time.monotonic() - last[i] < STALL]
            if not busy:
                break
            with selectors.DefaultSelector() as sel:  # not select(): descriptors may be past 1024
                for i in busy:
                    sel.register(rude.hog_sockets[i], selectors.EVENT_WRITE)
                writable = {key.fileobj for key, _ in sel.select(0.05)}
            for i in busy:
                if rude.hog_sockets[i] in writable:
                    try:
                        sent = rude.hog_sockets[i].send(chunk[:hog_bytes - taken[i]])
                    except BlockingIOError:
                        continue
                    except ConnectionError:
                        last[i] = 0.0  # the server dropped it: it takes nothing more
                        continue
                    taken[i] += sent
                    last[i] = time.monotonic()
        rude.taken = taken
        yield rude
    finally:
        for sock in rude.hog_sockets:
            sock.close()


# --- a peer that answers after a delay ---------------------------------------------------------------


class DelayedEcho:
    """Echoes every message it receives ``delay`` seconds later, from one background thread."""

    def __init__(self, delay: float) -> None:
        self.delay = seconds(delay, "delay")
        self.listener = Listener()
        self.address: tuple[str, int] = self.listener.getsockname()
        self._wake_send, self._wake = socket.socketpair()
        self._clients: list[socket.socket] = []
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name="switchyard-delayed-echo", daemon=True)
        self._thread.start()

    def connect(self) -> socket.socket:
        """A blocking socket connected to the peer (closed when the block ends)."""
        sock = socket.create_connection(self.address, timeout=10)
        self._clients.append(sock)
        return sock

    def _main(self) -> None:
        sel = selectors.DefaultSelector()
        due: list[tuple[float, int, socket.socket, bytes]] = []
        order = itertools.count()
        sel.register(self.listener, selectors.EVENT_READ)
        sel.register(self._wake, selectors.EVENT_READ)
        try:
            while True:
                wait = max(0.0, due[0][0] - time.monotonic()) if due else None
                for key, _ in sel.select(wait):
                    if key.fileobj is self._wake:
                        return
                    if key.fileobj is self.listener:
                        conn, _ = self.listener.accept()
                        conn.setblocking(False)
                        sel.register(conn, selectors.EVENT_READ)
                        continue
                    client = key.fileobj
                    assert isinstance(client, socket.socket), "only sockets are registered"
                    try:
                        data = client.recv(READ_CHUNK)
                    except OSError:
                        data = b""
                    if data:
                        heapq.heappush(due, (time.monotonic() + self.delay, next(order), client, data))
                    else:
                        sel.unregister(client)
                while due and due[0][0] <= time.monotonic():
                    _, _, conn, data = heapq.heappop(due)
                    if conn.fileno() != -1:
                        conn.setblocking(True)
                        conn.settimeout(5)
                        try:
                            conn.sendall(data)
                        except OSError:
                            pass
                        conn.setblocking(False)
        except BaseException as error:
            self.error = error
        finally:
            sel.close()

    def close(self) -> None:
        self._wake_send.send(b"x")
        self._thread.join(5)
        for sock in self._clients:
            sock.close()
        self.listener.close_all()
        self._wake_send.close()
        self._wake.close()


@contextmanager
def delayed_echo(delay: float = 0.1) -> Iterator[DelayedEcho]:
    """A peer on 127.0.0.1 that echoes each message ``delay`` s after it arrives; stopped on exit."""
    peer = DelayedEcho(delay)
    try:
        yield peer
    finally:
        peer.close()


# --- verdicts -------------------------------------------------------------------------------------


def waiting_at_once(events: Iterable[Any]) -> int:
    """The most tasks that were waiting at the same moment, from a Tracer's events in recorded order.

    A task waits from its ``wait`` event until its next ``run`` or ``exit``. Only the order of the
    events counts, never their times, so the figure is the same on an idle machine and a crowded
    one: 1 when the tasks waited one after another, their number when all their waits overlapped.
    """
    waiting: set[str] = set()
    most = 0
    for event in events:
        if event.kind == "wait":
            waiting.add(event.task)
            most = max(most, len(waiting))
        elif event.kind in ("run", "exit"):
            waiting.discard(event.task)
    return most



SPIN_GRADES = (1, 0.001)  # CPU share as a multiple of a pure spin's: all it was given, or asleep


def spin_share(duration: float = 0.3) -> float:
    """The CPU seconds per wall second that a loop doing nothing but spin gets in this thread right now.

    On an idle machine that is about 1 (a whole core); when other programs share the cores it is
    less, by as much as the scheduler takes away. ``cpu_share`` grades a measured loop against it.
    """
    duration = seconds(duration, "duration", maximum=10)
    wall, cpu = time.perf_counter(), time.thread_time()
    end = wall + duration
    while time.perf_counter() < end:
        pass
    return max(time.thread_time() - cpu, 1e-9) / (time.perf_counter() - wall)


def cpu_share(cpu: float, wall: float, spin: float) -> Verdict:
    """A loop's CPU seconds per wall second, graded against ``spin``, what a pure spin got just before
    (``spin_share()``) in the same conditions: about 1× (it used all the CPU it was given) or about
    0.001× (asleep in the kernel). A busy loop gets a whole core on an idle machine and less on a
    crowded one, and so does the spin measured beside it, so the grade does not depend on the load.
    ``ratio`` keeps this run's figure (the loop's share divided by the spin's); ``holds``: busy.
    """
    cpu = seconds(cpu, "cpu", zero_ok=True)
    wall = seconds(wall, "wall")
    spin = seconds(spin, "spin")
    grade = about(cpu / wall, spin, choices=SPIN_GRADES, unit_name="the CPU share of a pure spin just before")
    busy = grade.holds
    tail = "all the CPU it was given, for nothing useful" if busy else "asleep in the kernel until data came"
    return Verdict(f"CPU: {grade}: {tail}", grade.ratio, busy)

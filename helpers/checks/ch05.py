"""Exercises of chapter 05 (I/O models): a broadcast server that survives rude clients, framing, accepting.

05.1 runs the learner's broadcast ``serve(listener, stop)`` in a thread (``helpers.selectdemo``)
with a talker, a listener that reads, one that never reads and one that resets; 05.2 feeds the
learner's splitter buffers cut at awkward places; 05.3 gives the learner's ``accept_all`` a real
non-blocking listener with clients waiting behind one edge-triggered epoll event (on Linux;
elsewhere the same queue without epoll), wrapped so that ``accept`` also fails as on a server's bad
day (a client that gave up, no descriptors left, a broken listener) at chosen calls. Nothing is
left running: every socket is closed, the server thread is joined (or reported).
"""

from __future__ import annotations

import errno
import os
import select
import socket
import struct
import time

from helpers import _system
from helpers.exercises import Wrong, exercise
from helpers.selectdemo import HAVE_EPOLL, Listener, reset_connection, serve_in_thread

IDLE = 0.5  # seconds during which an idle server must use (almost) no CPU
SPINNING = 0.005  # CPU seconds per wall second above which an idle server is spinning: a thread
                  # asleep in select uses none (its clock is read in nanoseconds); a spinning one
                  # gets far more than 1% of a core even on a machine loaded twentyfold


LIMIT = 1024 * 1024  # 05.1: the most bytes a broadcast server may keep for one client
CHUNK = 64 * 1024
STREAM = 2 * LIMIT  # what the talker sends after its hello: twice what a listener may owe


def _wait_accepted(server, n: int, what: str) -> None:
    deadline = time.monotonic() + 3.0
    while len(server.listener.accepted) < n:
        if server.error is not None:
            raise Wrong(f"your server raised {server.error!r} {what}")
        if time.monotonic() > deadline:
            raise Wrong(f"{n} clients connected, your server accepted {len(server.listener.accepted)} within 3 s")
        time.sleep(0.005)


def _settle(server, wait: float = 1.0) -> None:
    """A server that died closes its sockets before its thread records the error: give it a moment."""
    deadline = time.monotonic() + wait
    while server.error is None and server._thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)


def _read_exactly(sock: socket.socket, n: int, timeout: float) -> bytes:
    """Read n bytes from a blocking socket, or fewer if the peer goes quiet for ``timeout`` s or closes."""
    data = bytearray()
    sock.settimeout(timeout)
    try:
        while len(data) < n:
            chunk = sock.recv(min(CHUNK, n - len(data)))
            if not chunk:
                break
            data += chunk
    except (TimeoutError, ConnectionError):
        pass
    return bytes(data)


def _dropped(sock: socket.socket, timeout: float = 1.0) -> tuple[bool, int]:
    """Read a client until the server closes it (True) or it stays open and quiet (False); bytes read."""
    got = 0
    sock.settimeout(timeout)
    deadline = time.monotonic() + 5.0
    try:
        while time.monotonic() < deadline:
            chunk = sock.recv(CHUNK)
            if not chunk:
                return True, got
            got += len(chunk)
    except TimeoutError:
        return False, got
    except ConnectionError:
        return True, got
    return False, got


@exercise("05.1", title="A broadcast server that survives rude clients",
          hint=("When one listener never reads, its outbox grows with every message: should the "
                "talkers wait for it, or should it go? And what should a reset cost the others?",
                "robust_select_server keeps, for each client, that client's own bytes. Whose bytes does a "
                "broadcast server keep for a client, and why may it not stop reading a talker when one "
                "of those piles is full?",
                "Start from robust_select_server's loop. What changes is where a recv's bytes go, and what "
                "the limit sets off: one client closed, instead of another one paused."))
def broadcast_server(answer) -> str:
    if not callable(answer):
        raise Wrong("pass the function itself: check('05.1', serve)")
    hello = b"hello, everyone\n"
    stream = bytes(range(256)) * (STREAM // 256)
    clients: list[socket.socket] = []
    with serve_in_thread(answer, timeout=3.0, send_buffer=4096) as server:
        try:
            for _ in range(20):  # the stub raises NotImplementedError at once: don't make clients wait for it
                if isinstance(server.error, NotImplementedError):
                    raise server.error
                time.sleep(0.01)
            slow = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            clients.append(slow)
            slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: a small window
            slow.settimeout(5)
            slow.connect(server.address)
            talker, listener, rude = (socket.create_connection(server.address, timeout=5) for _ in range(3))
            clients += [talker, listener, rude]
            _wait_accepted(server, 4, "while clients connected")
            talker.sendall(hello)
            got = _read_exactly(listener, len(hello), 2.0)
            if got != hello:
                extra = f" (your server raised {server.error!r})" if server.error else ""
                raise Wrong(f"one client sent {hello!r}; another received {got!r}{extra}: "
                            "what one client sends goes to every other client")
            time.sleep(0.1)
            talker.setblocking(False)
            try:
                echoed = talker.recv(CHUNK)
            except BlockingIOError:
                echoed = b""
            talker.setblocking(True)
            if echoed:
                raise Wrong("the talker got its own bytes back: send each message to every *other* client")
            reset_connection(rude)  # it has the hello unread: the kernel sends RST
            for start in range(0, STREAM, CHUNK):
                talker.sendall(stream[start:start + CHUNK])
                got = _read_exactly(listener, CHUNK, 2.0)
                if got != stream[start:start + CHUNK]:
                    _settle(server)
                    if server.error is not None:
                        raise Wrong(f"after a client reset its connection your server raised {server.error!r}: "
                                    "a reset must cost only that client")
                    raise Wrong(f"a listener that reads got {start + len(got):,} of the {STREAM:,} bytes "
                                "another client sent, then nothing for 2 s: a client that never reads "
                                "must not hold up the others")
            dropped, owed = _dropped(slow)
            if not dropped:
                raise Wrong(f"a client that never reads is still connected, owed {STREAM:,} bytes: keep at "
                            f"most MAX_OWED = {LIMIT:,} bytes for a client, and close it when it falls further behind")
            for sock in (talker, listener):
                sock.close()
            time.sleep(0.2)
            before, began = server.cpu_seconds(), time.perf_counter()  # ``start`` is the stream's offset above
            time.sleep(IDLE)
            idle_cpu, idle_wall = server.cpu_seconds() - before, time.perf_counter() - began
        finally:
            for sock in clients:
                sock.close()
    if isinstance(server.error, NotImplementedError):
        raise server.error
    if idle_cpu > SPINNING * idle_wall:
        raise Wrong("with every client gone your server kept the CPU busy: a closed socket stays readable "
                    "(recv returns b'') until you stop watching it")
    if server.error is not None:
        raise Wrong(f"your server raised {server.error!r}")
    if not server.stopped:
        raise Wrong("your server did not return when `stop` became readable")
    if server.left_open:
        raise Wrong(f"your server left {server.left_open} client socket(s) open: close each one when it "
                    "is done, and the rest when you return")
    return ("2 MB reached the listener that reads; the one that never read was dropped past the limit; "
            "a reset cost nobody else; idle means asleep; every socket closed.")


def _frame(body: bytes) -> bytes:
    return struct.pack("!I", len(body)) + body


def _pieces(data: bytes, sizes: list[int]) -> list[bytes]:
    """Cut data into pieces of the given sizes, cycling through them."""
    pieces, i, k = [], 0, 0
    while i < len(data):
        size = sizes[k % len(sizes)]
        pieces.append(data[i:i + size])
        i, k = i + size, k + 1
    return pieces


def _result(got: object, call: str) -> tuple[list, bytes]:
    if not (isinstance(got, tuple) and len(got) == 2):
        raise Wrong(f"{call} should return a pair (messages, rest), got {got!r}")
    messages, rest = got
    if not isinstance(messages, list) or not isinstance(rest, (bytes, bytearray)):
        raise Wrong(f"{call} should return (a list of bytes, the leftover bytes), got {got!r}")
    return [bytes(m) for m in messages], bytes(rest)


@exercise("05.2", title="Framing in an event-driven server",
          hint=("How many bytes must the buffer hold before you even know how long its first message "
                "is, and how many more before that message is complete?",
                "The file server's recv_exactly could ask its socket for more bytes; split_frames cannot "
                "ask anyone. So what must the buffer hold before you may take a message out, and what "
                "becomes of the bytes when it does not?",
                "struct.unpack with the format \"!I\" turns 4 bytes into the length. Keep an offset into "
                "the buffer rather than cutting it up at each step."))
def framing_splitter(answer) -> str:
    if not callable(answer):
        raise Wrong("pass the function itself: check('05.2', split_frames)")
    cases = [
        (b"", [], b"", "an empty buffer"),
        (_frame(b"hello")[:3], [], _frame(b"hello")[:3], "half a header"),
        (_frame(b"hello")[:7], [], _frame(b"hello")[:7], "a header and half a body"),
        (_frame(b"hello"), [b"hello"], b"", "one whole message"),
        (_frame(b""), [b""], b"", "a message with an empty body"),
        (_frame(b"one") + _frame(b"two") + _frame(b"three")[:6], [b"one", b"two"], _frame(b"three")[:6],
         "two whole messages glued to the start of a third"),
    ]
    for buffer, messages, rest, what in cases:
        got = _result(answer(buffer), f"split_frames({buffer!r})")
        if got != (messages, rest):
            raise Wrong(f"{what}: split_frames({buffer!r}) should return {(messages, rest)!r}, got {got!r}")
    bodies = [bytes([n % 256]) * (n * 37 % 3000) for n in range(60)]
    stream = b"".join(_frame(body) for body in bodies)
    buffer, received = b"", []
    for piece in _pieces(stream, [1, 2, 3, 700, 5, 4096, 11]):  # as recv might hand them over
        messages, buffer = _result(answer(buffer + piece), "split_frames(...)")
        received += messages
    if received != bodies or buffer:
        raise Wrong(f"60 messages arriving in odd-sized pieces came out as {len(received)} messages "
                    f"({sum(a == b for a, b in zip(received, bodies))} right), {len(buffer)} bytes left over")
    return "partial headers and bodies wait, glued messages come apart, and 60 messages in odd pieces all arrive."


ABORTED = "aborted"  # 05.3's scripted faults: one client gave up while it waited in the queue
BROKEN = "broken"  # accept fails with EINVAL: the listening socket itself is wrong
SPINS = 20  # accept calls that fail for lack of descriptors before the check calls it spinning


class ScriptedListener:
    """A real non-blocking listening socket whose ``accept`` also fails the way a server's does on a
    bad day, at chosen calls: ``script`` maps a call number (1, 2, ...) to ABORTED or BROKEN, and
    ``short_from`` is the first call from which the process is "out of descriptors" (``short_errno``)
    until ``free()`` is called. The faults consume no real connection: the clients stay queued."""

    def __init__(self, sock: socket.socket, script: dict[int, str] | None = None,
                 short_from: int | None = None, short_errno: int = errno.EMFILE) -> None:
        self.sock = sock
        self.script = script or {}
        self.short_from = short_from
        self.short_errno = short_errno
        self.calls = self.short_calls = 0

    def free(self) -> None:
        self.short_from, self.calls = None, 0

    def accept(self) -> tuple[socket.socket, object]:
        self.calls += 1
        if self.short_from is not None and self.calls >= self.short_from:
            self.short_calls += 1
            if self.short_calls > SPINS:
                raise Wrong(f"accept failed {SPINS} times in a row for lack of descriptors and you kept "
                            "calling it: it fails the same way until the server closes something")
            raise OSError(self.short_errno, os.strerror(self.short_errno))
        fault = self.script.get(self.calls)
        if fault == ABORTED:
            raise ConnectionAbortedError(errno.ECONNABORTED, os.strerror(errno.ECONNABORTED))
        if fault == BROKEN:
            raise OSError(errno.EINVAL, os.strerror(errno.EINVAL))
        if self.calls > 100:
            raise Wrong("you kept calling accept after it raised BlockingIOError: that exception means "
                        "'nobody else is waiting', stop there")
        return self.sock.accept()

    def fileno(self) -> int:
        return self.sock.fileno()

    def setblocking(self, flag: bool) -> None:
        if flag:
            raise Wrong("the listening socket must stay non-blocking: a blocking accept would freeze "
                        "the whole event loop until the next client comes")


def _queued(listener: socket.socket, n: int) -> None:
    """Wait (2 s at most) until the kernel has all ``n`` connections in the listener's accept queue:
    on a loaded machine the last handshake may still be on its way when connect() returns."""
    port = listener.getsockname()[1]
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:
        queue = _system.listen_queue(port)  # the kernel's accept queue of the listener (Linux)
        if queue is None:  # not Linux: no way to ask, give it a moment
            time.sleep(0.1)
            return
        if queue[0] >= n:
            return
        time.sleep(0.005)


def _still_waiting(listener: socket.socket) -> bool:
    """Whether clients are still queued on the listener (asked level-triggered, whatever epoll says)."""
    if hasattr(select, "poll"):  # no 1024 ceiling
        poller = select.poll()
        poller.register(listener, select.POLLIN)
        return bool(poller.poll(0))
    return bool(select.select([listener], [], [], 0)[0])


def _accepted(got: object) -> tuple[list[socket.socket], bool]:
    if not (isinstance(got, tuple) and len(got) == 2 and isinstance(got[0], list) and isinstance(got[1], bool)
            and all(isinstance(conn, socket.socket) for conn in got[0])):
        raise Wrong(f"accept_all(listener) should return a pair (a list of the accepted sockets, True or "
                    f"False), got {got!r:.100}")
    return got


class _Stage:
    """05.3's stage: a real listener, edge-triggered epoll on it (Linux), clients that connect in waves."""

    def __init__(self, answer) -> None:
        self.answer = answer
        self.listener = Listener()
        self.clients: list[socket.socket] = []
        self.accepted: list[socket.socket] = []
        self.ep = select.epoll() if HAVE_EPOLL else None
        if self.ep is not None:
            self.ep.register(self.listener.fileno(), select.EPOLLIN | select.EPOLLET)

    def wave(self, n: int) -> None:
        """n clients connect together: one edge for all of them."""
        for _ in range(n):
            self.clients.append(socket.create_connection(self.listener.getsockname(), timeout=5))
        _queued(self.listener, n)
        if self.ep is not None and n:
            deadline = time.monotonic() + 2.0
            edges = self.ep.poll(0.5)
            while not edges and time.monotonic() < deadline:
                edges = self.ep.poll(0.1)
            if not edges:
                raise RuntimeError("no edge for waiting connections within 2 s")

    def call(self, scripted: ScriptedListener) -> tuple[list[socket.socket], bool]:
        try:
            got = self.answer(scripted)
        except ConnectionAbortedError as error:
            raise Wrong(f"accept raised {error!r} (a client gave up while it waited in the queue), and so "
                        "did accept_all: that error is about one client only, the others are still "
                        "waiting") from None
        conns, drained = _accepted(got)
        self.accepted += conns
        if any(conn.getblocking() for conn in conns):
            raise Wrong("make every accepted connection non-blocking before you hand it to the event loop")
        return conns, drained

    def close(self) -> None:
        for sock in self.clients + self.accepted:
            sock.close()
        if self.ep is not None:
            self.ep.close()
        self.listener.close_all()


@exercise("05.3", title="Accept everything one edge brings, on a bad day too",
          hint=("Of the ways accept can fail here, which one is about a single client, which one means "
                "nobody is left, and which one keeps failing until the server closes something?",
                "Only one of those answers empties the queue. After the others, who will tell the loop "
                "that clients are still waiting, once edge-triggered epoll has reported them?",
                "asyncio's own accept loop (_accept_connection in asyncio/selector_events.py) meets the "
                "same answers. Its epoll is level-triggered, so it may stop early: which of its choices "
                "would strand clients behind an edge?"))
def accept_everything(answer) -> str:
    if not callable(answer):
        raise Wrong("pass the function itself: check('05.3', accept_all)")
    stage = _Stage(answer)
    try:
        stage.wave(5)  # a plain day: five clients behind one edge
        conns, drained = stage.call(ScriptedListener(stage.listener))
        if len(conns) != 5:
            raise Wrong(f"5 clients were waiting behind one edge; accept_all returned {len(conns)}: with "
                        "edge-triggered epoll the others wait until the next client arrives, maybe forever")
        if _still_waiting(stage.listener):
            raise Wrong("accept_all left clients in the queue")
        if not drained:
            raise Wrong("accept said nobody else was waiting (BlockingIOError), yet accept_all returned False: "
                        "the loop would keep calling it without an edge")
        if stage.call(ScriptedListener(stage.listener)) != ([], True):
            raise Wrong("nobody was waiting; accept_all should return ([], True)")

        stage.wave(4)  # the second of them gives up while it waits
        conns, drained = stage.call(ScriptedListener(stage.listener, {2: ABORTED}))
        if len(conns) != 4 or not drained:
            raise Wrong(f"4 clients were waiting and accept's 2nd call raised ConnectionAbortedError (a client "
                        f"that gave up); accept_all returned {len(conns)} connection(s) and {drained}: that "
                        "error is about one client only, and no new edge will report the ones still queued")

        stage.wave(6)  # out of descriptors after two
        scripted = ScriptedListener(stage.listener, short_from=3)
        try:
            conns, drained = stage.call(scripted)
        except OSError as error:
            raise Wrong(f"out of descriptors, accept raised {error!r} and so did accept_all: a server lives "
                        "on; keep what you accepted and report that clients are still waiting") from None
        if len(conns) != 2 or drained:
            raise Wrong(f"after 2 accepts the process was out of descriptors (EMFILE), with 4 clients still "
                        f"waiting; accept_all returned {len(conns)} connection(s) and {drained}: edge-triggered "
                        "epoll will not report those 4 again, so the loop must hear it from you (False)")
        if scripted.short_calls > 2:
            raise Wrong(f"accept failed {scripted.short_calls} times in a row for lack of descriptors: one is "
                        "enough to know, the next ones fail the same way until the server closes something")
        scripted.free()  # the server closed something: the loop calls again, without an edge
        conns, drained = stage.call(scripted)
        if len(conns) != 4 or not drained:
            raise Wrong(f"with descriptors free again, 4 clients were waiting; accept_all returned "
                        f"{len(conns)} connection(s) and {drained}")

        stage.wave(2)  # the whole system is out of descriptors (ENFILE) at once
        scripted = ScriptedListener(stage.listener, short_from=1, short_errno=errno.ENFILE)
        try:
            got = stage.call(scripted)
        except OSError as error:
            raise Wrong(f"the system was out of descriptors (ENFILE) and accept_all raised {error!r}: treat "
                        "it as EMFILE, the process's own shortage") from None
        if got != ([], False):
            raise Wrong(f"out of descriptors (ENFILE) before the first accept, 2 clients waiting: accept_all "
                        f"should return ([], False), got {got!r:.80}")
        scripted.free()
        conns, drained = stage.call(scripted)
        if len(conns) != 2 or not drained:
            raise Wrong(f"with descriptors free again, 2 clients were waiting; accept_all returned "
                        f"{len(conns)} connection(s) and {drained}")

        stage.wave(1)  # the listening socket itself fails: that must not be hidden
        try:
            got = stage.call(ScriptedListener(stage.listener, {1: BROKEN}))
        except OSError as error:
            if error.errno != errno.EINVAL:
                raise
        else:
            raise Wrong(f"accept raised OSError EINVAL (the listening socket itself is broken) and accept_all "
                        f"returned {got!r:.60}: only 'nobody is waiting', 'a client gave up' and 'out of "
                        "descriptors' are part of a server's day; let any other error out")
    finally:
        stage.close()
    return ("5 clients behind one edge, none, a client that gave up, a shortage of descriptors (EMFILE, "
            "ENFILE) and a broken listener: every client accepted, and the loop told when to call again.")

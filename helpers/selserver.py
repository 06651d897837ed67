"""Servers built on ``selectors`` in ONE background thread: the base, and an echo server.

Who calls it: the other helpers of chapter 05, not notebooks directly (``__all__`` is empty):
``helpers.filexfer`` builds its file server on :class:`SelectorServer`, ``helpers.c10k`` holds
10,000 connections with :class:`SelectorEchoServer`; and the tests.
Where ``helpers.servers`` serves with asyncio, this module serves the way chapter 05 teaches:
a selector, non-blocking sockets, a callback per ready socket::

    caller's thread                     thread "switchyard-<name>"
    ---------------                     ---------------------------
    start() -> binds, starts ---------> loop: sel.select()
                                              listening socket ready -> accept, register
                                              connection ready       -> conn.readable()/writable()
    stop()  -> writes a byte  --------> wake socket ready -> close everything, end the thread
            <- joins the thread

Names:
    SelectorServer        the base: the loop, accept, wake-up; its start/stop/with are helpers.servers.LoopbackServer's
    Connection            one client's state on the loop thread; subclass it (readable, queue, close)
    SelectorEchoServer    sends every byte back, one thread for any number of clients
    selectors_echo_server start a SelectorEchoServer (use it as a context manager)

Threads: only the server's thread touches its sockets and connections; the caller's thread
calls start()/stop() and reads counters (``stats``) and copies of lists (``errors``).
Blocking: start() and stop() block the caller for at most ``timeout`` s (RuntimeError after).
Nothing prints: unexpected errors go to ``errors``.

Hostile clients: a connection holds at most ``Connection.max_outbox`` bytes of replies its client
has not read; past that the server stops reading from it until it has drained to half (the
client's own sends then block, in its kernel, not in our memory). When accept fails (out of
descriptors, most likely) the server stops accepting for ``ACCEPT_RETRY_DELAY`` s and tries again,
as asyncio does, instead of spinning; ``errors`` holds one line per kind of failure, with a count.
"""

from __future__ import annotations

import errno
import selectors
import socket
import time
import traceback
from dataclasses import dataclass

from helpers.gauge import InFlight
from helpers.servers import BACKLOG, CHUNK, LoopbackServer, LoopState, ServingThread

__all__: list[str] = []  # notebooks use it through helpers.filexfer and helpers.c10k

MAX_OUTBOX = 256 * 1024     # replies a connection may hold for a client that does not read them
ACCEPT_RETRY_DELAY = 0.25   # seconds without accepting after accept failed (asyncio waits 1 s)
# accept() errors that a pause may cure; any other one is recorded and retried the same way
OUT_OF_RESOURCES = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}

@dataclass(frozen=True)
class ServerStats:
    """connections: accepted in total; max_concurrent: the most open at once; open: open now."""

    connections: int
    max_concurrent: int
    open: int


class Connection:
    """One client, on the server's thread. Subclasses override :meth:`readable` (and maybe :meth:`eof`).

    ``queue(data)`` sends data as the socket accepts it (partial sends are kept, write interest
    is switched on with ``sel.modify`` and off again when everything has gone);
    ``close_when_sent()`` closes after the last queued byte; ``close()`` closes now.
    Back-pressure: while ``outbox`` holds ``max_outbox`` bytes or more, the server does not read
    from this client; :meth:`drained` runs once it is down to half (override to resume work
    that was put off, e.g. requests already received).
    """

    max_outbox = MAX_OUTBOX

    def __init__(self, server: SelectorServer, sock: socket.socket) -> None:
        self.server = server
        self.sock = sock
        self.outbox = bytearray()
        self.closing = False
        self._linger = False
        self.lingering = False  # sent our last byte; reading and dropping the client's until EOF
        self.closed = False
        self.paused = False  # not reading: the client has not read max_outbox bytes of replies

    # --- for subclasses ---
    def readable(self) -> None:
        """The socket has bytes (or EOF) to read. Default: read and call :meth:`received` / :meth:`eof`."""
        data = self.sock.recv(CHUNK)
        if self.lingering:
            if not data:
                self.close()
        elif data:
            self.received(data)
        else:
            self.eof()

    def received(self, data: bytes) -> None:
        """``data`` arrived (override)."""

    def eof(self) -> None:
        """The client closed its side: send what is queued, then close (override to do more)."""
        self.close_when_sent()

    def drained(self) -> None:
        """The outbox is down to half of ``max_outbox`` after a pause; reading resumes (override)."""

    def failed(self, error: OSError) -> None:
        """The connection broke (reset by the peer, broken pipe): close it (override to record it)."""
        self.close()

    def queue(self, data: bytes) -> None:
        if self.closed or not data:
            return
        self.outbox += data
        self._interest()

    def close_when_sent(self, *, linger: bool = False) -> None:
        """Close once everything queued has been sent.

        ``linger=True`` (after an error reply, while the client may still be sending): shut our
        sending side, then read and drop the client's bytes until its EOF before closing. Closing
        with unread bytes would make the kernel send a reset, which can destroy the error reply
        before the client reads it.
        """
        self.closing = True
        self._linger = linger
        if not self.outbox:
            self._finish()
        else:
            self._interest()

    def _finish(self) -> None:
        if not self._linger:
            self.close()
            return
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            self.close()
            return
        self.lingering = True
        self._interest()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.server._drop(self)

    # --- the server calls these ---
    def writable(self) -> None:
        sent = self.sock.send(self.outbox[:CHUNK])
        del self.outbox[:sent]
        if self.paused and len(self.outbox) <= self.max_outbox // 2 and not self.closing:
            self.paused = False
            self.drained()
            if self.closed:
                return
        if not self.outbox:
            if self.closing:
                self._finish()
            else:
                self._interest()
        elif not self.paused:
            self._interest()

    def _interest(self) -> None:
        if len(self.outbox) >= self.max_outbox:
            self.paused = True
        reading = 0 if self.paused else selectors.EVENT_READ
        events = reading | (selectors.EVENT_WRITE if self.outbox else 0)
        if self.closing and self.outbox:
            events = selectors.EVENT_WRITE  # nothing more to read: just flush
        if self.lingering:
            events = selectors.EVENT_READ
        sel = self.server._sel
        assert sel is not None  # a connection exists only while the server's selector does
        if sel.get_key(self.sock).events != events:
            sel.modify(self.sock, events, self)


class SelectorServer(LoopbackServer):
    """A selectors loop in the thread "switchyard-<name>", serving one loopback listening socket.

    A subclass sets ``connection_class`` (a :class:`Connection` subclass) and may override
    :meth:`_opened` / :meth:`_closed` (run on the server's thread). ``selector``: the selector class
    (``selectors.DefaultSelector``, epoll on Linux). start() is once per server; stop() any number
    of times; ``with`` does both (the caller's side is ``helpers.servers.LoopbackServer``'s, as for
    the asyncio servers).
    """

    connection_class: type[Connection] = Connection

    def __init__(self, name: str = "selectors", *, selector: type[selectors.BaseSelector] | None = None) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError(f"name must be a non-empty string, not {name!r}")
        super().__init__(name, [])
        self._selector_class = selector or selectors.DefaultSelector
        self._life = ServingThread(name, "server")
        self._gauge = InFlight()
        self._sel: selectors.BaseSelector | None = None
        self._wake: tuple[socket.socket, socket.socket] | None = None
        self._conns: dict[int, Connection] = {}
        self._failures: dict[str, tuple[int, int]] = {}  # kind -> (index in _errors, count)
        self._accept_paused_until = 0.0

    # --- for the caller (and LoopbackServer's start/stop/with) ---
    @property
    def state(self) -> LoopState:
        """CREATED, RUNNING, STOPPING or STOPPED."""
        return self._life.state

    @property
    def stats(self) -> ServerStats:
        return ServerStats(self._gauge.total, self._gauge.most, self._gauge.now)

    def _serve(self, listener: socket.socket, timeout: float) -> None:
        """Listen, register the listening and wake sockets, prepare (``_opened``), start the thread."""
        self._wake = wake = socket.socketpair()
        listener.listen(BACKLOG)
        listener.setblocking(False)
        wake[0].setblocking(False)
        self._sel = sel = self._selector_class()
        sel.register(listener, selectors.EVENT_READ, "listener")
        sel.register(wake[0], selectors.EVENT_READ, "wake")
        self._opened()
        self._life.start(self._main, self._wake_up)

    def _abandon(self) -> None:
        """start() failed: close what _serve opened (LoopbackServer closes the listening socket)."""
        for thing in (*(self._wake or ()), self._sel):
            if thing is not None:
                thing.close()
        self._life.stop()  # never started: now stopped for good
        self._closed()

    def _wake_up(self) -> None:
        """Make the loop return: a byte on the wake socket (stop() calls it once, from the caller's thread)."""
        assert self._wake is not None  # _serve made it before the thread started
        try:
            self._wake[1].send(b"x")
        except OSError:
            pass

    def _end(self, timeout: float) -> None:
        """Wake the loop, which closes everything, and join the thread; then release the rest."""
        if self._life.stop(timeout):
            assert self._wake is not None  # the thread ran: _serve made it
            self._wake[1].close()
            self._closed()

    # --- for subclasses (run on the caller's thread, before start / after stop) ---
    def _opened(self) -> None:
        """Prepare resources before the thread starts (override)."""

    def _closed(self) -> None:
        """Release resources after the thread has ended (override; must be idempotent)."""

    @property
    def held(self) -> int:
        """Bytes of replies the server holds now for clients that have not read them yet."""
        return sum(len(conn.outbox) for conn in list(self._conns.values()))

    def _record_once(self, kind: str, text: str) -> None:
        """Record a failure that may repeat as ONE line of ``errors``, with how often it happened."""
        index, count = self._failures.get(kind, (len(self._errors), 0))
        line = f"{text} ({count + 1:,} times)" if count else text
        if count:
            self._errors[index] = line
        else:
            self._errors.append(line)
        self._failures[kind] = (index, count + 1)

    # --- the server's thread ---
    def _main(self) -> None:
        sel, wake, listener = self._sel, self._wake, self._listener
        assert sel is not None and wake is not None and listener is not None  # _serve set them before start
        try:
            running = True
            while running:
                timeout = None
                if self._accept_paused_until:  # accept failed a moment ago: try again later
                    timeout = self._accept_paused_until - time.monotonic()
                    if timeout <= 0:
                        self._accept_paused_until = 0.0
                        sel.register(listener, selectors.EVENT_READ, "listener")
                        timeout = None
                # The listening socket first, drained: new clients wait in the kernel's accept
                # queue, and taking them all before serving others keeps that queue short.
                for key, mask in sorted(sel.select(timeout), key=lambda event: event[0].data != "listener"):
                    if key.data == "wake":
                        running = False
                        break
                    if key.data == "listener":
                        self._accept()
                        continue
                    conn: Connection = key.data
                    try:
                        if mask & selectors.EVENT_READ and not conn.closed and (conn.lingering or not conn.closing):
                            conn.readable()
                        if mask & selectors.EVENT_WRITE and not conn.closed and conn.outbox:
                            conn.writable()
                    except (BlockingIOError, InterruptedError):
                        pass
                    except OSError as error:  # reset by the peer, broken pipe: that client is gone
                        conn.failed(error)
                    except Exception:
                        self._errors.append(traceback.format_exc(limit=3))
                        conn.close()
        except Exception:
            self._errors.append(traceback.format_exc(limit=3))
        finally:
            for conn in list(self._conns.values()):
                conn.close()
            sel.close()
            listener.close()
            wake[0].close()

    def _accept(self) -> None:
        sel, listener = self._sel, self._listener
        assert sel is not None and listener is not None  # called on the server's thread only
        while True:
            try:
                sock, _addr = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except ConnectionAbortedError:  # the client left before we took it
                continue
            except OSError as error:  # out of descriptors, most likely: pause, record once, keep serving
                kind = errno.errorcode.get(error.errno, "?") if error.errno in OUT_OF_RESOURCES else "other"
                self._record_once(f"accept {kind}", f"accept failed, paused {ACCEPT_RETRY_DELAY:g} s: {error}")
                sel.unregister(listener)
                self._accept_paused_until = time.monotonic() + ACCEPT_RETRY_DELAY
                return
            sock.setblocking(False)
            conn = self.connection_class(self, sock)
            self._conns[sock.fileno()] = conn
            sel.register(sock, selectors.EVENT_READ, conn)
            self._gauge.enter()

    def _drop(self, conn: Connection) -> None:
        assert self._sel is not None  # connections exist only while the selector does
        try:
            self._sel.unregister(conn.sock)
        except (KeyError, ValueError):
            pass
        self._conns.pop(conn.sock.fileno(), None)
        conn.sock.close()
        self._gauge.leave()


class _EchoConnection(Connection):
    server: SelectorEchoServer  # only SelectorEchoServer uses this connection class

    def received(self, data: bytes) -> None:
        self.queue(data)
        self.server._bytes_echoed += len(data)


class SelectorEchoServer(SelectorServer):
    """Echoes every byte back to its client; one thread, one selector, any number of clients."""

    connection_class = _EchoConnection

    def __init__(self, name: str = "selectors-echo", *, selector: type[selectors.BaseSelector] | None = None) -> None:
        super().__init__(name, selector=selector)
        self._bytes_echoed = 0

    @property
    def bytes_echoed(self) -> int:
        return self._bytes_echoed


def selectors_echo_server(*, name: str = "selectors-echo",
                          selector: type[selectors.BaseSelector] | None = None) -> SelectorEchoServer:
    """Start a selectors echo server on 127.0.0.1 (OS-chosen port); ``with`` it to stop it."""
    return SelectorEchoServer(name, selector=selector).start()

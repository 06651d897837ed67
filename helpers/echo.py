"""The course's echo server: every byte a client sends comes back to it, in order.

Who calls it: ``helpers.c10k`` (chapter 05's asyncio server among those holding 10,000 clients)
and the tests, as the asyncio server to measure the other servers against (``with echo_server()
as server: ...``); no notebook imports it directly.

Public names:
    echo_server   start an EchoServer (use it as a context manager)
    EchoServer    the handle: address, port, tracer, stats, errors, wait_idle(), stop()
    EchoStats     connections, bytes_echoed, max_concurrent

What the server records, into a ``helpers.trace.Tracer`` (its own, or one passed in so that a
cell's clients and the server share one timeline): a lane "server" (spawn "listening", exit
"stopped") and one lane per client, "client 1", "client 2", ... in the order they were
accepted::

    spawn  accepted          the server accepted the connection
    wait   recv              waiting for the client's next bytes
    run    5 bytes           5 bytes arrived; the server sends them back (its bar lasts until
                             they are handed to the OS, so a client slow to read shows as a long bar)
    exit   EOF               the client closed its side, every byte went back; or
    exit   stopped           stop() closed the connection; or
    exit   ConnectionResetError: ...   the connection failed

Threads: the server runs on a BackgroundLoop (``helpers.servers``) in the thread
"switchyard-<name>": every connection is a task there. The caller's thread starts and stops it
and reads the tracer and counters (copies, safe to read while clients run).

Blocking and timeouts: echo_server(), wait_idle() and stop() block the caller for at most
``timeout`` (10 s) per step: TimeoutError from start and wait_idle(), RuntimeError from stop()
if the thread has not ended. Nothing prints: a failed connection is an "exit" with the error in
the tracer; an unexpected exception in the server's own code also goes to ``errors``.
"""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass

from helpers.gauge import InFlight
from helpers.servers import BACKLOG, CHUNK, DEFAULT_TIMEOUT, BackgroundServer
from helpers.trace import Tracer

__all__ = ["EchoServer", "EchoStats", "echo_server"]

SERVER_LANE = "server"


@dataclass(frozen=True)
class EchoStats:
    """connections: clients accepted in total; bytes_echoed: bytes sent back;
    max_concurrent: the most clients connected at once."""

    connections: int
    bytes_echoed: int
    max_concurrent: int


class EchoServer(BackgroundServer):
    """Sends every byte each client sends back to it, in order, until the client closes its side.

    Built on asyncio streams: ``drain()`` waits while the client is slow to read, and an empty
    read (EOF) ends the connection. A client that half-closes still gets all its bytes back.
    ``tracer``: where to record (see the module docstring); a new Tracer if not given.
    """

    def __init__(self, name: str = "echo", *, tracer: Tracer | None = None) -> None:
        if tracer is not None and not isinstance(tracer, Tracer):
            raise TypeError(f"tracer must be a helpers.trace.Tracer, not {type(tracer).__name__}")
        super().__init__(name)
        self.tracer = Tracer() if tracer is None else tracer
        self._handlers: set[asyncio.Task[None]] = set()  # open connections
        self._clients = InFlight()  # connections being served: now, most at once, total
        self._idle = asyncio.Event()  # set while no client is connected
        self._idle.set()
        self._server: asyncio.Server | None = None
        self._bytes_echoed = 0

    @property
    def stats(self) -> EchoStats:
        """Counters so far."""
        return EchoStats(self._clients.total, self._bytes_echoed, self._clients.most)

    def wait_idle(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        """Block until every client accepted so far has been closed (TimeoutError after ``timeout`` s)."""
        self._loop.run(self._idle.wait(), timeout)

    async def _open(self, sock: socket.socket) -> None:
        self._server = await asyncio.start_server(self._serve_client, sock=sock, backlog=BACKLOG)
        self.tracer.record(SERVER_LANE, "spawn", "listening")

    async def _close(self) -> None:
        assert self._server is not None, "_close runs only after _open succeeded"
        self._server.close()  # no new clients; closes the listening socket
        handlers = list(self._handlers)
        for task in handlers:
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)
        self.tracer.record(SERVER_LANE, "exit", "stopped")

    async def _serve_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Echo one client's bytes back until it sends EOF; runs as a task on the loop.

        It never ends with an exception: asyncio's streams report a task that does (cancelled
        ones included) as "Unhandled exception in client_connected_cb".
        """
        self._clients.enter()
        lane = f"client {self._clients.total}"  # numbered in accept order (one loop thread: no race)
        task = asyncio.current_task()
        assert task is not None, "asyncio serves each client in a task of its own"
        self._handlers.add(task)
        self._idle.clear()
        self.tracer.record(lane, "spawn", "accepted")
        how = "EOF"
        try:
            while True:
                self.tracer.record(lane, "wait", "recv")
                data = await reader.read(CHUNK)
                if not data:  # b"" is EOF: the client has closed its side
                    break
                self.tracer.record(lane, "run", _nbytes(len(data)))
                writer.write(data)
                await writer.drain()  # waits while the client is slow to read
                self._bytes_echoed += len(data)
            writer.close()  # send what is still buffered, then close
            await writer.wait_closed()
        except asyncio.CancelledError:  # stop(): a normal end, not an error (and not re-raised, see above)
            how = "stopped"
        except OSError as exc:  # the client reset the connection, or went away mid-reply
            how = f"{type(exc).__name__}: {exc}"
        except Exception as exc:  # a bug in the server: say so in errors too
            how = f"{type(exc).__name__}: {exc}"
            self._loop.logger.error("echo server failed serving %s", lane, exc_info=exc)
        finally:
            writer.transport.abort()  # closes now whatever happened (on stop(): drops unsent bytes)
            self._handlers.discard(task)
            self.tracer.record(lane, "exit", how)
            if self._clients.leave() == 0:
                self._idle.set()


def _nbytes(n: int) -> str:
    return f"{n} byte" + ("" if n == 1 else "s")


def echo_server(*, name: str = "echo", tracer: Tracer | None = None) -> EchoServer:
    """Start an echo server on 127.0.0.1 (a port the OS picks) in the thread "switchyard-<name>".

    Use it as ``with echo_server() as server:``; leaving the block stops it. ``tracer``: record
    into this Tracer (beside a cell's own lanes) instead of a new one, ``server.tracer``.
    """
    return EchoServer(name, tracer=tracer).start()

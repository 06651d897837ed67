"""gevent servers of the course, run in the notebook's own kernel with gevent's sockets (no patching).

Chapter 04 writes connection handlers (``handler(sock, address)``, the shape gevent's
``StreamServer`` calls); this module supplies the rigging around them, so that a cell shows the
handler and what it did, not the server's set-up and tear-down::

    reply = serve_one_client(fixed_echo)       # one client sends b"hello", reads, closes
    print(reply)                               # b'hello'

    with stream_server(echo) as server:        # a StreamServer on 127.0.0.1, port picked by the OS
        ...connect to server.address...

Who calls it: chapter 04's cells (and later chapters comparing server kinds).

Threads and blocking: everything runs in the caller's thread, in gevent's hub of that thread:
the server accepts in the hub and runs each handler in its own greenlet. The calls here block the
calling greenlet (the other greenlets keep running) for at most ``timeout`` seconds per step;
a handler that computes without ever waiting cannot be interrupted by any timeout, because it
never gives the hub a turn. On leaving, the listening socket is closed and every handler still
running is killed (``StreamServer.stop``), also after an error. Nothing here prints; a handler's
exception is raised again in the caller by ``serve_one_client``.

Hostile clients: a client that resets its connection is an ordinary end of it, so a handler that
ends with ``ConnectionResetError`` or ``BrokenPipeError`` is counted in ``server.resets``, not
reported with a traceback; any other error still is (gevent prints it, as the chapter shows).
When accept fails for want of descriptors, the server stops accepting for
``ACCEPT_RETRY_DELAY`` s and tries again, counted in ``server.accept_failures`` by error,
instead of gevent's traceback on stderr for each attempt.
"""

from __future__ import annotations

import errno
import functools
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from helpers._checks import seconds

__all__ = ["serve_one_client", "stream_server"]

HOST = "127.0.0.1"
MAX_TIMEOUT = 600.0
Handler = Callable[[Any, tuple[str, int]], object]
ACCEPT_RETRY_DELAY = 0.25  # seconds without accepting after accept failed for want of descriptors
OUT_OF_RESOURCES = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}
CLIENT_GONE = (ConnectionResetError, BrokenPipeError)  # how a handler learns that its client left


@functools.cache
def _server_class() -> type:
    """gevent's StreamServer, counting what it would print about clients and descriptors."""
    from gevent.server import StreamServer

    class CountingStreamServer(StreamServer):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.resets = 0
            self.accept_failures: Counter[str] = Counter()

        def do_read(self) -> Any:
            try:
                return super().do_read()
            except OSError as error:
                if error.errno not in OUT_OF_RESOURCES:
                    raise
                self.accept_failures[errno.errorcode[error.errno]] += 1
                # gevent's own back-off (stop accepting, a timer starts again), without its report
                self.stop_accepting()
                self._timer = self.loop.timer(ACCEPT_RETRY_DELAY)
                self._timer.start(self._accept_again)
                return None

        def _accept_again(self) -> None:
            """The end of the back-off, as gevent's own ends it: accept again unless stopped meanwhile."""
            if self.started:
                self.start_accepting()

    return CountingStreamServer


def _check_handler(handler: object) -> None:
    if not callable(handler):
        raise TypeError(f"handler must be a function handler(sock, address), not {handler!r}")


@contextmanager
def stream_server(handler: Handler, *, timeout: float = 5.0) -> Iterator[Any]:
    """Serve ``handler`` with a started gevent ``StreamServer`` on 127.0.0.1, port 0; stop it on exit.

    Yields the server: ``server.address`` is ``("127.0.0.1", port)``. On exit the listening
    socket is closed and handlers still running get ``timeout`` seconds, then are killed
    (gevent's own ``StreamServer.stop`` kills them only when they run in a pool, as here).
    ``server.resets``: handlers ended by a client that reset its connection;
    ``server.accept_failures``: failed accepts by error (EMFILE: out of descriptors).
    """
    _check_handler(handler)
    timeout = seconds(timeout, "timeout", maximum=MAX_TIMEOUT)
    from gevent.pool import Pool

    def handle(sock: Any, address: tuple[str, int]) -> None:
        try:
            handler(sock, address)
        except CLIENT_GONE:  # an ordinary end of a connection, not a traceback in the cell
            server.resets += 1

    # Handlers spawned in a pool: that is what lets stop() kill the ones still running.
    server = _server_class()((HOST, 0), handle, spawn=Pool())  # loopback only, port picked by the OS
    server.start()
    try:
        yield server
    finally:
        server.stop(timeout=timeout)


def serve_one_client(handler: Handler, message: bytes = b"hello", *, timeout: float = 10.0) -> bytes:
    """Serve one client with ``handler`` and return the reply the client read.

    The client connects, sends ``message``, reads until it has as many bytes back (or the
    server closes), then closes its socket. The call returns once ``handler`` has returned,
    so whatever the handler did after the client left is done too. Raises the handler's own
    exception if it raised one, TimeoutError if the handler has not returned within ``timeout``.
    """
    _check_handler(handler)
    if not isinstance(message, bytes):
        raise TypeError(f"message must be bytes, e.g. b'hello', not {message!r}")
    if not message:
        raise ValueError("message must not be empty: the client sends it and waits for the echo")
    timeout = seconds(timeout, "timeout", maximum=MAX_TIMEOUT)
    from gevent import socket as gsocket
    from gevent.event import Event

    finished = Event()
    errors: list[BaseException] = []

    def handle(sock: Any, address: tuple[str, int]) -> None:
        try:
            handler(sock, address)
        except Exception as error:  # kept for the caller instead of gevent's printed report
            errors.append(error)
        finally:
            finished.set()

    with stream_server(handle, timeout=timeout) as server:
        reply = b""
        try:
            with gsocket.create_connection(server.address, timeout=timeout) as sock:
                sock.sendall(message)
                while len(reply) < len(message) and (chunk := sock.recv(65536)):
                    reply += chunk
        except TimeoutError:
            raise TimeoutError(f"the client got {len(reply)} of {len(message)} bytes back "
                               f"within {timeout:g} s") from None
        except OSError:  # reset by a handler that failed: its own error says more
            if not (finished.wait(timeout=timeout) and errors):
                raise
        if not finished.wait(timeout=timeout):
            raise TimeoutError(f"the handler had not returned {timeout:g} s after the client left")
    if errors:
        raise errors[0]
    return reply

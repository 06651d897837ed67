"""The shared base of the course's TCP servers: an asyncio loop in a background thread of the kernel.

Who calls it: the server modules (``helpers.echo``, ``helpers.site``, and every server kind of the
second half, one module each), which subclass BackgroundServer; ``helpers.selserver``, whose
selectors servers share BackgroundServer's caller side (LoopbackServer); tests and notebooks may
run a BackgroundLoop of their own. Notebooks start servers through those modules, not this one.

Public names:
    BackgroundLoop    an asyncio event loop in its own thread "switchyard-<name>": start(), run(coro), stop()
    ServingThread     the life of every server's thread: start once, wake and join on stop (any number of times)
    LoopState         CREATED -> RUNNING -> STOPPED (STOPPING while stop() still waits for the thread)
    LoopbackServer    the caller's side of every server (name, state, errors, address, start/stop/with);
                      helpers.selserver.SelectorServer builds on it too
    BackgroundServer  base of the course's servers: one pre-bound loopback socket served on a BackgroundLoop
    loopback_socket   a TCP socket bound to 127.0.0.1 on a port the OS picks
    HOST, BACKLOG, CHUNK, DEFAULT_TIMEOUT
                      the address every server binds, the listen backlog every server uses (4096,
                      or the kernel's somaxconn if that is smaller), the most bytes one read takes,
                      the seconds each blocking step waits by default

Threads: the caller's thread (the notebook's) calls everything here; each server's coroutines
run on its own loop thread. The two meet in three places only: run() hands a coroutine to the
loop and waits for the result, stop() wakes the loop with call_soon_threadsafe, and the caller
reads copies of the lists and counters that the loop thread fills.

Blocking and timeouts: start(), run() and stop() (and the servers' own waits, built on run())
block the caller for at most ``timeout`` seconds per step. run() then raises TimeoutError (and
cancels what it waited for); stop() raises RuntimeError if the thread has not ended.
Nothing here prints: errors are collected in a list (``errors``) for the cell to print; each
server records what happens into a ``helpers.trace.Tracer`` for the same reason.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import enum
import logging
import socket
import threading
from collections.abc import Callable, Coroutine
from typing import Any, Self, TypeVar

from helpers import _system
from helpers._checks import seconds

__all__ = [
    "BACKLOG", "CHUNK", "DEFAULT_TIMEOUT", "HOST",
    "BackgroundLoop", "BackgroundServer", "LoopState", "LoopbackServer", "ServingThread", "loopback_socket",
]

T = TypeVar("T")

WANTED_BACKLOG = 4096


def _listen_backlog(wanted: int = WANTED_BACKLOG, limit_file: str = _system.SOMAXCONN) -> int:
    """``wanted``, or the kernel's cap on any listen backlog (somaxconn) if that is smaller and readable.

    A small backlog under a burst of connects makes the kernel drop SYNs, and a dropped SYN is
    retransmitted only after 1 s: hundreds of clients connecting at once then take seconds.
    Asking for more than somaxconn is silently cut to it, so say the real figure.
    """
    limit = _system.somaxconn(limit_file)
    return wanted if limit is None else min(wanted, limit)  # None: not Linux, or no /proc: ask for what we want


HOST = "127.0.0.1"
BACKLOG = _listen_backlog()  # connections the OS queues before they are accepted: bursts of 1000s of clients
CHUNK = 64 * 1024            # the most bytes one read takes
DEFAULT_TIMEOUT = 10.0


class LoopState(enum.Enum):
    """Where a BackgroundLoop is in its life; it only moves forward."""

    CREATED = "created"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"


class _ErrorList(logging.Handler):
    """A logging handler that appends each record's text to a list instead of printing it."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__()
        self._errors = errors

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            text += f": {type(exc).__name__}: {exc}"
        self._errors.append(text)


class ServingThread:
    """The life of a thread "switchyard-<name>" that serves until it is woken, shared by every server.

    BackgroundLoop (an asyncio loop) and ``helpers.selserver.SelectorServer`` (a selectors loop)
    each own one. start(body, wake) starts the thread once; stop(timeout) calls ``wake`` once, from
    the caller's thread, to make ``body`` return, then joins the thread; it may be called any number
    of times. The thread is a daemon: a server someone forgot to stop must not keep the kernel from
    shutting down or restarting; stop() (and so every ``with`` block) always joins it.
    ``what`` ("loop", "server") and ``blocked`` (a hint for a thread that does not end) word the errors.
    """

    def __init__(self, name: str, what: str, blocked: str = "") -> None:
        self.name = name
        self.what = what
        self.blocked = blocked
        self._state = LoopState.CREATED
        self._thread: threading.Thread | None = None
        self._wake: Callable[[], object] | None = None

    @property
    def state(self) -> LoopState:
        """CREATED, RUNNING, STOPPING or STOPPED."""
        return self._state

    def on_thread(self) -> bool:
        """True when called from the thread itself (which cannot wait for itself)."""
        return self._thread is not None and threading.current_thread() is self._thread

    def fresh(self) -> None:
        """Raise RuntimeError unless the thread was never started: it starts once."""
        if self._state is not LoopState.CREATED:
            raise RuntimeError(f"{self.what} {self.name!r} is {self._state.value}: a {self.what} starts once, "
                               "make a new one")

    def start(self, body: Callable[[], object], wake: Callable[[], object]) -> None:
        """Start the thread running ``body``; ``wake`` is what stop() calls to make it return."""
        self.fresh()
        thread = threading.Thread(target=body, name=f"switchyard-{self.name}", daemon=True)
        self._thread, self._wake = thread, wake  # before it runs: state and on_thread() are right from its first line
        self._state = LoopState.RUNNING
        try:
            thread.start()
        except BaseException:
            self._state = LoopState.STOPPED
            raise

    def stop(self, timeout: float = DEFAULT_TIMEOUT) -> bool:
        """Wake the thread (once) and join it; harmless if already stopped or never started.

        Returns True if this call saw the thread end (False: it had ended before, or never ran).
        Raises RuntimeError if the thread has not ended within ``timeout`` s (call stop() again
        to keep waiting).
        """
        timeout = seconds(timeout)
        if self.on_thread():
            raise RuntimeError(f"stop() was called on the {self.what}'s own thread, which cannot wait for itself")
        if self._state is LoopState.CREATED:
            self._state = LoopState.STOPPED
        if self._state is LoopState.STOPPED:
            return False
        if self._state is LoopState.RUNNING:
            self._state = LoopState.STOPPING
            assert self._wake is not None  # set by start(), with the state RUNNING
            self._wake()
        thread = self._thread
        assert thread is not None  # RUNNING or STOPPING: start() set it
        thread.join(timeout)
        if thread.is_alive():
            raise RuntimeError(f"thread {thread.name!r} did not stop within {timeout:g} s{self.blocked}")
        self._state = LoopState.STOPPED
        return True


class BackgroundLoop:
    """An asyncio event loop running in its own thread named "switchyard-<name>".

    start() creates the loop and the thread. run(coro, timeout) runs a coroutine on the loop
    and returns its result (or raises its exception) in the caller's thread. stop() wakes the
    loop, which cancels the tasks still running, closes itself and ends the thread; stop()
    joins the thread and may be called any number of times. Also a context manager.

    Problems the loop would log (and print) go to ``errors`` instead; ``logger`` writes there too.
    """

    def __init__(self, name: str) -> None:
        if not isinstance(name, str):
            raise TypeError(f"name must be a string, not {type(name).__name__}")
        if not name:
            raise ValueError("name must not be empty")
        self.name = name
        self.errors: list[str] = []
        self.logger = logging.Logger(f"switchyard.{name}", logging.WARNING)  # not in logging's tree: never prints
        self.logger.addHandler(_ErrorList(self.errors))
        self._loop: asyncio.AbstractEventLoop | None = None
        self._life = ServingThread(name, "loop", blocked=(
            ": a coroutine on its loop is blocking it (time.sleep() or another blocking call?). "
            "Call stop() again to keep waiting."))

    @property
    def state(self) -> LoopState:
        """CREATED, RUNNING, STOPPING or STOPPED."""
        return self._life.state

    def start(self) -> None:
        """Create the event loop and start the thread that runs it."""
        self._life.fresh()
        loop = asyncio.new_event_loop()
        loop.set_exception_handler(self._log_loop_error)
        try:
            self._life.start(lambda: self._main(loop), lambda: loop.call_soon_threadsafe(loop.stop))
        except BaseException:
            loop.close()
            raise
        self._loop = loop

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = DEFAULT_TIMEOUT) -> T:
        """Run ``coro`` on the loop; block until it is done and return its result.

        Raises TimeoutError (after cancelling the coroutine) if it takes longer than ``timeout`` s.
        """
        if not asyncio.iscoroutine(coro):
            raise TypeError(f"run() needs a coroutine object (call the async function), not {coro!r}")
        try:
            timeout = seconds(timeout)
            if self.state is not LoopState.RUNNING:
                raise RuntimeError(f"loop {self.name!r} is {self.state.value}, not running")
            if self._life.on_thread():
                raise RuntimeError("run() was called on the loop's own thread, where it would wait forever: use await")
        except (TypeError, ValueError, RuntimeError):
            coro.close()  # it will never run: close it so that Python does not warn "never awaited"
            raise
        assert self._loop is not None  # RUNNING: start() set it
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        done, _ = concurrent.futures.wait([future], timeout)
        if not done:
            future.cancel()
            # A coroutine function's object has __qualname__; another Coroutine may not.
            name = getattr(coro, "__qualname__", type(coro).__qualname__)
            raise TimeoutError(f"{name}() did not finish within {timeout:g} s on loop "
                               f"{self.name!r}, so it was cancelled")
        return future.result()

    def stop(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        """Stop the loop and join its thread; harmless if already stopped.

        Raises RuntimeError if the thread has not ended within ``timeout`` s (call stop() again
        to keep waiting).
        """
        self._life.stop(timeout)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _main(self, loop: asyncio.AbstractEventLoop) -> None:
        """The thread's body: run the loop until stop(), then cancel what is left and close it."""
        asyncio.set_event_loop(loop)
        try:
            loop.run_forever()
        finally:
            tasks = asyncio.all_tasks(loop)
            for task in tasks:
                task.cancel()
            if tasks:
                loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
            asyncio.set_event_loop(None)
            loop.close()

    def _log_loop_error(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        self.logger.error(context["message"], exc_info=context.get("exception"))


def loopback_socket() -> socket.socket:
    """Return a TCP socket bound to 127.0.0.1 on a port the OS picks (port 0).

    Serve this very socket and read its port with ``getsockname()``: never "find a free port,
    close it, bind again", as another program could take the port in between.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind((HOST, 0))
    except BaseException:
        sock.close()
        raise
    return sock


class LoopbackServer:
    """The caller's side of every course server: one loopback listening socket served by a thread.

    What the notebook's thread sees, the same for a server on an asyncio loop (BackgroundServer)
    and one on a selectors loop (``helpers.selserver.SelectorServer``): ``name``, ``state``,
    ``errors``, ``address`` and ``port``; start() once (which cleans up everything if it fails),
    stop() any number of times, and the ``with`` block. A subclass says how it serves, with four
    methods run in the caller's thread: ``_serve(sock, timeout)`` starts serving the pre-bound
    socket (``self._listener``) and its thread, ``_abandon()`` undoes what ``_serve`` did when it
    failed, ``_shut(timeout)`` stops serving while the thread still runs, ``_end(timeout)`` ends
    and joins the thread (and raises RuntimeError if it does not end in time).
    """

    def __init__(self, name: str, errors: list[str]) -> None:
        self._name = name
        self._errors = errors  # filled on the server's thread; the caller reads copies
        self._address: tuple[str, int] | None = None
        self._listener: socket.socket | None = None

    @property
    def name(self) -> str:
        """The name given at creation; the thread is "switchyard-<name>"."""
        return self._name

    @property
    def state(self) -> LoopState:
        """CREATED, RUNNING, STOPPING or STOPPED."""
        raise NotImplementedError

    @property
    def errors(self) -> list[str]:
        """Problems reported on the server's thread (collected here instead of printed; a copy)."""
        return list(self._errors)

    @property
    def address(self) -> tuple[str, int]:
        """("127.0.0.1", port) the server listens on."""
        if self._address is None:
            raise RuntimeError(f"server {self.name!r} has not been started")
        return self._address

    @property
    def port(self) -> int:
        """The port the OS picked."""
        return self.address[1]

    def start(self, timeout: float = DEFAULT_TIMEOUT) -> Self:
        """Bind a loopback socket, start the server's thread and serve; return self.

        If anything fails, the socket is closed and the thread stopped before the error is raised.
        """
        timeout = seconds(timeout)
        if self.state is not LoopState.CREATED:
            raise RuntimeError(f"server {self.name!r} is {self.state.value}: a server starts once, make a new one")
        sock = loopback_socket()
        try:
            address = sock.getsockname()
            self._listener = sock
            self._serve(sock, timeout)
        except BaseException:
            sock.close()
            self._abandon()
            raise
        self._address = address
        return self

    def stop(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        """Close every connection and the listening socket, end the thread and join it.

        Harmless if already stopped. Each step waits at most ``timeout`` s.
        """
        timeout = seconds(timeout)
        try:
            if self.state is LoopState.RUNNING:
                self._shut(timeout)
        finally:
            self._end(timeout)

    def __enter__(self) -> Self:
        if self.state is LoopState.CREATED:
            self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _serve(self, sock: socket.socket, timeout: float) -> None:
        raise NotImplementedError

    def _abandon(self) -> None:
        raise NotImplementedError

    def _shut(self, timeout: float) -> None:
        """Stop serving while the thread still runs (nothing by default)."""

    def _end(self, timeout: float) -> None:
        raise NotImplementedError


class BackgroundServer(LoopbackServer):
    """Base of the course's servers: one loopback listening socket served on a BackgroundLoop.

    A subclass writes two coroutines, both run on the loop: ``_open(sock)`` starts serving the
    pre-bound socket, ``_close()`` closes it and every open connection. This class and
    LoopbackServer do the rest: start() (which cleans up everything if it fails), stop()
    (idempotent) and the ``with`` block.
    """

    def __init__(self, name: str) -> None:
        self._loop = BackgroundLoop(name)
        super().__init__(self._loop.name, self._loop.errors)

    @property
    def state(self) -> LoopState:
        """CREATED, RUNNING, STOPPING or STOPPED."""
        return self._loop.state

    def _serve(self, sock: socket.socket, timeout: float) -> None:
        self._loop.start()
        self._loop.run(self._open(sock), timeout)

    def _abandon(self) -> None:
        self._loop.stop()

    def _shut(self, timeout: float) -> None:
        self._loop.run(self._stop_accepting(), timeout)
        self._loop.run(self._close(), timeout)

    def _end(self, timeout: float) -> None:
        self._loop.stop(timeout)

    async def _stop_accepting(self) -> None:
        """Accept no more connections, and let those already accepted get their transport.

        asyncio accepts a connection in one turn of the loop and makes its transport in a task
        a turn later. If the server closes in between, that transport fails halfway (the server
        is closed), silently, keeping the accepted socket for the garbage collector; Python
        3.13.0 then prints "Exception ignored in _SelectorTransport.__del__ ... TypeError" (fixed
        in 3.13.1) in whichever cell happens to run. So the listening socket leaves the selector
        first, and two turns let pending accepts finish; ``_close()`` then closes them all.
        """
        if self._listener is not None and self._listener.fileno() != -1:
            asyncio.get_running_loop().remove_reader(self._listener.fileno())
        for _ in range(2):
            await asyncio.sleep(0)

    async def _open(self, sock: socket.socket) -> None:
        raise NotImplementedError

    async def _close(self) -> None:
        raise NotImplementedError

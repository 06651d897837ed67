"""Chapter 06's home-made event loop, whole: a selectors loop, a Future, a Task, and awaitable sockets.

Chapter 06 builds this loop step by step in its cells (callbacks, then a Future, then a
generator-driven Task, ``yield from``, and ``async``/``await``); this module is where the
finished version lives, so that later cells, the exercises' checks and the tests can import it.
It is meant to be read: Future, Task and Loop in about 170 lines of code (the cells' version
is about 120), plus about 40 for the awaitable socket calls; no cancellation, no timers, no
transports (the chapter's closing section says what real asyncio adds)::

    +-------------------- Loop.run_until_complete(main, deadline=10) --------------------+
    |  ready: deque of callbacks   --run_once-->  call each one that is ready now        |
    |  selector: socket -> {READ: callback, WRITE: callback}                             |
    |       select(timeout) says which sockets are ready; their callbacks become ready   |
    +------------------------------------------------------------------------------------+
    Future: a result that is not there yet; set_result() schedules its done-callbacks.
    Task(coro): a Future that drives a coroutine: each step sends a value in; the coroutine
            yields the Future it waits for; the Task's _wakeup is that Future's done-callback.

For notebooks: :class:`Loop`, :class:`Future`, :class:`Task`, :func:`get_loop`, the futures
:func:`readable` and :func:`writable`, the awaitable socket operations :func:`sock_accept`,
:func:`sock_recv`, :func:`sock_sendall`, :func:`sock_connect`, :class:`LoopDeadline`, and
:class:`Cancelled` (for exercise 06.3, which writes cancel()).
``Loop(recorder=LoopRecorder(tracer))`` (:mod:`helpers.asynctrace`) records every task's
steps into a Tracer, with the words ``trace_tasks`` uses for asyncio ("wait Future",
"wait task 'b'", "exit returned 3").

The classes are written without type hints, like the chapter's cells, so that
``helpers.codediff.changes(cell_version, module_version)`` shows only what the module adds.

Threads and blocking: a loop runs in the thread that calls ``run_until_complete`` or
``run_for``, and blocks it until done: at most ``deadline`` seconds, then
:class:`LoopDeadline`. Nothing prints. ``close()`` (or leaving ``with Loop() as loop:``)
closes every unfinished task's coroutine, so their ``with sock:`` blocks close their sockets.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import os
import reprlib
import selectors
import socket
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from helpers._spare import accept_refused, keep_spare, refuse_one  # noqa: F401 (accept_refused: for callers)

__all__ = ["Cancelled", "Future", "Loop", "LoopDeadline", "Task", "get_loop", "readable", "writable",
           "sock_accept", "sock_connect", "sock_recv", "sock_sendall"]

READ, WRITE = selectors.EVENT_READ, selectors.EVENT_WRITE
_running: Loop | None = None  # the loop whose callbacks run now (one at a time; see Loop.running)
_short = reprlib.Repr()
_short.maxstring = _short.maxother = 40


class LoopDeadline(TimeoutError):
    """The loop was still busy when its deadline came: the program hangs or is too slow."""


class Cancelled(Exception):
    """Raised inside a task's coroutine to cancel it (asyncio's CancelledError; exercise 06.3 writes cancel())."""


def get_loop() -> Loop:
    """The home-made loop whose callbacks run now, e.g. inside a task (RuntimeError elsewhere)."""
    if _running is None:
        raise RuntimeError("no home-made loop is running: use it inside loop.run_until_complete(...)")
    return _running


class Future:
    """A result that is not there yet, and the callbacks waiting for it; ``await future`` waits for it."""

    waits_on: str | None = None  # what a trace says a task waits for ("read", "write"); None: "Future"
    _asyncio_future_blocking = False  # the mark a Task looks for, as asyncio's does (duck typing)

    def __init__(self, loop=None):
        self.loop = loop or get_loop()
        self._done, self._result, self._error = False, None, None
        self._callbacks = []

    def done(self):
        return self._done

    def result(self):
        if not self._done:
            raise RuntimeError("the result is not ready yet")
        if self._error is not None:
            raise self._error
        return self._result

    def set_result(self, value):
        self._finish(value, None)

    def set_exception(self, error):
        self._finish(None, error)

    def _finish(self, value, error):
        if self._done:
            raise RuntimeError("this future is already done")
        self._done, self._result, self._error = True, value, error
        for callback in self._callbacks:
            self.loop.call_soon(callback, self)  # scheduled, not called: like asyncio
        self._callbacks.clear()

    def add_done_callback(self, callback):
        if self._done:
            self.loop.call_soon(callback, self)
        else:
            self._callbacks.append(callback)

    def remove_done_callback(self, callback):
        """Forget ``callback`` (every time it was added); return how many were removed."""
        kept = [other for other in self._callbacks if other != callback]
        removed, self._callbacks[:] = len(self._callbacks) - len(kept), kept
        return removed

    def __iter__(self):
        if not self._done:
            self._asyncio_future_blocking = True  # asyncio's mark: "I am a future, and I wait"
            yield self  # to the Task driving us: "wake me when this future is done"
        return self.result()

    __await__ = __iter__  # what makes `await future` work


class Task(Future):
    """Drives a coroutine; each `await future` (or `yield future`) means "wake me when it is done"."""

    def __init__(self, coro, name=None, loop=None):
        super().__init__(loop)
        self.coro = coro  # a coroutine, or a generator that yields futures
        self.waiting_for = None  # the future whose done-callback will wake this task (asyncio: _fut_waiter)
        self.name = name or f"task {next(self.loop._numbers)}"
        self.loop.record("spawn", self.name, f"by {self.loop.current.name}" if self.loop.current else "")
        self.loop.tasks.add(self)
        self.loop.call_soon(self._step, None, None)

    def _step(self, value, error):
        with self.loop.stepping(self):  # records "run", and "pause" if the step records no wait or exit
            self._advance(value, error)

    def _advance(self, value, error):
        try:
            if error is None:
                future = self.coro.send(value)
            else:
                future = self.coro.throw(error)
        except StopIteration as stop:  # the coroutine returned: so is the task done
            self.loop.record("exit", self.name, f"returned {_short.repr(stop.value)}")
            self.set_result(stop.value)
        except Exception as exc:  # it raised: whoever awaits the task gets the exception
            self.loop.record("exit", self.name, f"raised {type(exc).__name__}")
            self.set_exception(exc)
        else:
            if future is None:  # a bare `yield`: "let the others run, then me" (asyncio's sleep(0))
                self.loop.call_soon(self._step, None, None)
                return
            if getattr(future, "_asyncio_future_blocking", None) is None:  # not a future: asyncio's answer
                self.loop.call_soon(self._step, None, RuntimeError(f"Task got bad yield: {future!r}"))
                return
            future._asyncio_future_blocking = False
            self.loop.record("wait", self.name, getattr(future, "waits_on", None) or self._label(future))
            self.waiting_for = future
            future.add_done_callback(self._wakeup)

    def _wakeup(self, future):
        self.waiting_for = None
        try:
            value = future.result()
        except Exception as exc:
            self._step(None, exc)  # the error is raised inside the coroutine, where it awaited
        else:
            self._step(value, None)

    @staticmethod
    def _label(future):
        return f"task {future.name!r}" if isinstance(future, Task) else "Future"

    def __repr__(self):
        return f"<Task {self.name!r} {'done' if self.done() else 'pending'}>"


class Loop:
    """A queue of ready callbacks, and a selector that says which sockets are ready."""

    def __init__(self, recorder=None):
        self.ready: deque[tuple[Callable, tuple]] = deque()  # (callback, args) to call soon
        self.selector = selectors.DefaultSelector()
        self.recorder = recorder  # a helpers.asynctrace.LoopRecorder, or None
        self.current = None  # the task whose step runs now
        self.tasks = set()  # tasks not finished yet (close() closes them)
        self._numbers = itertools.count(1)

    def call_soon(self, callback, *args):
        self.ready.append((callback, args))

    def add_reader(self, sock, callback, *args):
        self._watch(sock, READ, (callback, args))

    def add_writer(self, sock, callback, *args):
        self._watch(sock, WRITE, (callback, args))

    def remove_reader(self, sock):
        self._unwatch(sock, READ)

    def remove_writer(self, sock):
        self._unwatch(sock, WRITE)

    def _watch(self, sock, event, handler):
        try:
            key = self.selector.get_key(sock)
        except KeyError:  # not watched yet
            self.selector.register(sock, event, {event: handler})
        else:  # already watched for the other event: watch both
            self.selector.modify(sock, key.events | event, {**key.data, event: handler})

    def _unwatch(self, sock, event):
        key = self.selector.get_key(sock)
        handlers = {other: handler for other, handler in key.data.items() if other != event}
        if handlers:
            self.selector.modify(sock, key.events & ~event, handlers)
        else:
            self.selector.unregister(sock)

    def run_once(self, timeout):
        """Wait for sockets (not at all if callbacks are ready), then run the callbacks ready now."""
        for key, mask in self.selector.select(0 if self.ready else timeout):
            for event, (callback, args) in key.data.items():
                if mask & event:
                    self.call_soon(callback, *args)
        with self.running():  # what get_loop() and Future() find while the callbacks run
            for _ in range(len(self.ready)):  # not the ones these callbacks add: they wait for the next round
                callback, args = self.ready.popleft()
                callback(*args)

    def run(self, deadline=10):
        """Run until no callback is queued and no socket is watched."""
        end = time.monotonic() + deadline
        while self.ready or self.selector.get_map():
            if time.monotonic() > end:
                raise LoopDeadline(f"the loop was still busy after its deadline of {deadline:g} s")
            self.run_once(max(0.0, min(end - time.monotonic(), 0.5)))

    def run_until_complete(self, future, deadline=10):
        """Run until ``future`` is done; return its result (or raise its exception)."""
        if not isinstance(future, Future):  # a coroutine: run it as the task "main"
            future = Task(future, "main", self)
        end = time.monotonic() + deadline
        while not future.done():
            if time.monotonic() > end:
                raise LoopDeadline(f"the loop was still busy after its deadline of {deadline:g} s")
            self.run_once(max(0.0, min(end - time.monotonic(), 0.5)))
        return future.result()

    def run_for(self, seconds):
        """Run the loop for ``seconds``, whatever its tasks do (``swarm(..., sleep=loop.run_for)``)."""
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            self.run_once(left)

    @contextlib.contextmanager
    def running(self):
        """Make this loop the one get_loop() and Future() find, for the ``with`` block."""
        global _running
        if _running is not None and _running is not self:
            raise RuntimeError("another home-made loop is already running in this thread")
        previous, _running = _running, self
        try:
            yield
        finally:
            _running = previous

    @contextlib.contextmanager
    def stepping(self, task):
        """Around one step of ``task``: it is ``current``; the recorder (if any) sees run ... pause."""
        self.current = task
        try:
            with self.recorder.step(task.name) if self.recorder else contextlib.nullcontext():
                yield
        finally:
            self.current = None
            if task.done():
                self.tasks.discard(task)

    def record(self, kind, name, detail=""):
        """Tell the recorder, if any, that task ``name`` was spawned, waits (ends its step) or exited."""
        if self.recorder is not None:
            {"spawn": self.recorder.spawn, "wait": self.recorder.wait, "exit": self.recorder.done}[kind](name, detail)

    def close(self):
        """Close every unfinished task's coroutine (its ``finally`` and ``with`` blocks run), then the selector."""
        while self.tasks:
            self.tasks.pop().coro.close()
        self.ready.clear()
        self.selector.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


# --- awaitable sockets: each one a Future that a reader or writer callback completes --------------


def readable(sock: socket.socket | int) -> Future:
    """A Future done when ``sock`` (a socket or a file descriptor) can be read (bytes, EOF, or a client to accept)."""
    loop, future = get_loop(), Future()
    future.waits_on = "read"

    def on_ready() -> None:
        loop.remove_reader(sock)
        future.set_result(None)

    loop.add_reader(sock, on_ready)
    return future


def writable(sock: socket.socket) -> Future:
    """A Future done when ``sock`` can be written (room in its send buffer, or connected)."""
    loop, future = get_loop(), Future()
    future.waits_on = "write"

    def on_ready() -> None:
        loop.remove_writer(sock)
        future.set_result(None)

    loop.add_writer(sock, on_ready)
    return future


async def sock_accept(listener: socket.socket) -> tuple[socket.socket, Any]:
    """Wait for a client; return its (non-blocking) socket and address.

    Out of descriptors (EMFILE), a client is closed at once instead (counted in ``accept_refused``)
    and the wait goes on: the serving task lives on and serves new clients once descriptors are free.
    """
    while True:
        keep_spare()
        await readable(listener)
        try:
            client, address = listener.accept()
        except (BlockingIOError, InterruptedError, ConnectionAbortedError):
            continue  # another task took it, or the client left first
        except OSError as error:
            if error.errno not in (errno.EMFILE, errno.ENFILE):
                raise
            refuse_one(listener, error)  # no spin: that client is closed at once (see helpers._spare)
            continue
        client.setblocking(False)
        return client, address


async def sock_recv(sock: socket.socket, size: int) -> bytes:
    """Wait until ``sock`` has bytes (or EOF), then read at most ``size`` of them."""
    await readable(sock)
    return sock.recv(size)


async def sock_sendall(sock: socket.socket, data: bytes) -> None:
    """Send every byte of ``data``, waiting whenever the socket's send buffer is full."""
    view = memoryview(data)
    while view:
        await writable(sock)
        view = view[sock.send(view):]


async def sock_connect(sock: socket.socket, address: tuple[str, int]) -> None:
    """Connect the non-blocking ``sock``; raise the connection's error (ConnectionRefusedError, ...)."""
    sock.setblocking(False)
    try:
        sock.connect(address)
    except BlockingIOError:  # in progress: the socket becomes writable when it is done
        await writable(sock)
        error = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if error:
            raise OSError(error, os.strerror(error)) from None  # OSError(111, ...) is a ConnectionRefusedError

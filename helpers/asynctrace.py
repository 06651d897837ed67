"""asyncio tasks as trace events, and a recording hook for a home-made event loop.

Who calls it: the asyncio chapters (07-09) and their checks use :class:`trace_tasks`;
chapter 06's home-made event loop calls a :class:`LoopRecorder`. Both record into a
:class:`helpers.trace.Tracer`, so an asyncio program shows its switch order as text and
as a timeline like the generator and greenlet chapters (see :mod:`helpers.greenlets`).

``trace_tasks`` is used inside a running event loop, around the code that creates tasks::

    tracer = Tracer()
    with trace_tasks(tracer):               # in a notebook cell: top-level await works
        await asyncio.gather(cook("rice"), cook("tea"))
    print(tracer)

Every task the traced program creates inside the block is traced: made by the code in the
block, by a traced task, or by a callback (a server's connection handler). Tasks that other,
older tasks create meanwhile are not (in a notebook, the kernel's own tasks). Its events are::

    spawn  a task was created          ("by alice" when a traced task created it)
    run    a step starts               ("throw CancelledError" when the loop throws into it)
    pause  the step yielded control without waiting: asyncio.sleep(0), a bare yield
    wait   the step awaits something that is not done yet; the detail says what, e.g.
           "sleep", "task 'bob'", "gather", "StreamReader.readline", "Queue.get", "Future"
    exit   the coroutine finished: "returned 42", "raised ValueError", "cancelled"

How, with public APIs only: ``loop.set_task_factory`` installs a factory that wraps each
task's coroutine in a proxy implementing the coroutine protocol (send/throw/close/__await__).
The task drives the proxy, the proxy drives the coroutine and records around each
``send``/``throw``; the value a step yields is the future it waits on, and the suspended
coroutine's ``cr_await`` chain names the asyncio function it is inside ("sleep").

Names: a task gets its ``name=`` if it was given one; otherwise (asyncio's "Task-7" differs
from run to run) the next of ``names`` if that is a list, else "task 1", "task 2", ... in the
order this trace saw them created, so outputs are the same on every run. ``names`` may also
be a function task -> name or None (None: the rules above). asyncio sets a task's name only
after the factory returns, so names are resolved later, before the trace's next event.
(An eager task, 3.12's ``eager_task_factory``, runs its first step before its name is set: it
gets a "task N" name.)

What the block changes, and what it leaves alone: tasks created before the block are not
traced; the previous task factory is put back on leaving the block, always, also when the
block raised; blocks nest (the inner factory hands every task on to the outer one, so both
trace it). Recording never raises inside the traced code: a problem (a ``names`` function
that fails) is raised when the block ends. Tasks that outlive the block run on, untraced.
Everything runs in the event loop's thread; nothing here prints.

Two more tools for watching asyncio's own loop, used by chapter 07:

- :class:`VirtualClockLoop`: an asyncio ``SelectorEventLoop`` whose clock moves only when the
  loop would sleep. Where the real loop asks its selector to wait ``t`` seconds for I/O, this
  one checks for I/O without waiting and moves its clock ``t`` seconds forward. So the loop
  picks what to run from its timer heap exactly as it always does, but the answer cannot
  depend on how busy the machine is, and a three-day timer is reached at once.
  ``loop.waits`` lists every timeout the loop asked its selector for (None: "until I/O").
- :func:`loop_errors`: a context manager that swaps the running loop's exception handler for
  one that keeps what asyncio reports ("Task exception was never retrieved", "Task was
  destroyed but it is pending!") as short stable lines, instead of a logged traceback full of
  addresses; the previous handler is put back on leaving.

For notebooks: :class:`trace_tasks`, :class:`LoopRecorder`, :class:`VirtualClockLoop`,
:func:`loop_errors`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import reprlib
import selectors
import weakref
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from helpers.trace import Tracer

__all__ = ["trace_tasks", "LoopRecorder", "VirtualClockLoop", "loop_errors"]

Names = Sequence[str] | Callable[[asyncio.Task], str | None] | None

_AUTOMATIC = re.compile(r"Task-\d+|None")  # asyncio's default names; 3.13.0 names a factory's task "None"
_ASYNCIO_DIR = os.path.dirname(asyncio.__file__) + os.sep
_SHORT = reprlib.Repr()
_SHORT.maxstring = _SHORT.maxother = 40


def _check_tracer(tracer: object) -> Tracer:
    if not isinstance(tracer, Tracer):
        raise TypeError(f"tracer must be a helpers.trace.Tracer, not {type(tracer).__name__}")
    return tracer


def _check_name(name: object, what: str) -> str:
    if not isinstance(name, str) or not name:
        raise ValueError(f"{what} must be a non-empty str, not {name!r}")
    return name


def _type_name(exc: Any) -> str:
    return exc.__name__ if isinstance(exc, type) else type(exc).__name__


def _library_call(coro: Any) -> str | None:
    """The asyncio function a suspended coroutine is inside ("sleep", "Queue.get"), or None.

    Follows the public ``cr_await``/``gi_yieldfrom`` chain down from ``coro`` and names the
    first frame whose code is in the asyncio package; past ``async with``'s ``__aenter__``
    to what it awaits (``Lock.acquire``), else the class (``TaskGroup`` for ``__aexit__``).
    """
    obj, fallback = coro, None
    for _ in range(200):  # a chain is as deep as the awaits; this only guards a cycle
        code = getattr(obj, "cr_code", None) or getattr(obj, "gi_code", None)
        if code is None:
            return fallback
        if code.co_filename.startswith(_ASYNCIO_DIR):
            parts = [part for part in getattr(code, "co_qualname", code.co_name).split(".") if part != "<locals>"]
            if len(parts) > 1 and parts[-1].startswith("__"):
                fallback = fallback or parts[-2]
            elif len(parts) > 1 and parts[0].endswith("EventLoop"):
                return parts[-1]  # BaseSelectorEventLoop.sock_recv -> sock_recv
            else:
                return ".".join(parts)
        obj = getattr(obj, "cr_await", None) or getattr(obj, "gi_yieldfrom", None)
    return fallback


class _Traced:
    """A coroutine's stand-in inside a task: passes every step on and records around it."""

    __slots__ = ("_coro", "_trace", "_task", "_creator", "name", "__weakref__")

    def __init__(self, coro: Any, trace: trace_tasks, creator: str | None) -> None:
        self._coro = coro
        self._trace = trace
        self._task: weakref.ref | None = None
        self._creator = creator
        self.name: str | None = None

    def send(self, value: Any) -> Any:
        return self._step(self._coro.send, "", value)

    def throw(self, *args: Any) -> Any:
        return self._step(self._coro.throw, f"throw {_type_name(args[0])}" if args else "", *args)

    def close(self) -> None:
        self._coro.close()

    def __await__(self) -> Any:
        return self._coro.__await__()  # awaited directly (not as a task): nothing recorded

    def __getattr__(self, attr: str) -> Any:  # cr_code, cr_frame, __qualname__... for asyncio's reprs
        return getattr(self._coro, attr)

    def __repr__(self) -> str:
        return repr(self._coro)

    def _step(self, method: Callable[..., Any], detail: str, *args: Any) -> Any:
        trace = self._trace
        trace._before(self, detail)
        try:
            value = method(*args)
        except StopIteration as stop:
            trace._after(self, "exit", f"returned {_SHORT.repr(stop.value)}")
            raise
        except asyncio.CancelledError:
            trace._after(self, "exit", "cancelled")
            raise
        except BaseException as error:
            trace._after(self, "exit", f"raised {type(error).__name__}")
            raise
        trace._yielded(self, value)
        return value


class trace_tasks:
    """Record every step of the asyncio tasks created inside the block into ``tracer``.

    ``with trace_tasks(tracer, names) as tasks:`` inside a running event loop (a notebook
    cell, or an ``async def``). ``names``: None, a list of names given in order to tasks
    created without a name, or a function task -> name or None; see the module docstring.
    ``tasks.count`` is the number of tasks traced so far.
    """

    def __init__(self, tracer: Tracer, names: Names = None) -> None:
        self.tracer = _check_tracer(tracer)
        if names is None or callable(names):
            self._names, self._lookup = [], names
        elif isinstance(names, Sequence) and not isinstance(names, str):
            self._names = [_check_name(name, "each of names") for name in names]
            self._lookup = None
        else:
            raise TypeError(f"names must be a list of names or a function task -> name, not {names!r}")
        self.count = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._previous: Any = None
        self._active = False
        self._error: Exception | None = None
        self._pending: list[_Traced] = []  # created, spawn not recorded yet (their name may not be set)
        self._stepping: list[_Traced] = []  # the step running now (more than one only with eager tasks)
        self._by_task: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._automatic = 0
        self._owner: asyncio.Task | None = None

    def __enter__(self) -> trace_tasks:
        if self._active:
            raise RuntimeError("this trace_tasks is already in use: make a new one to nest")
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise RuntimeError("use trace_tasks inside a running event loop: in an async def, "
                               "or in a notebook cell around an await") from None
        self._loop, self._error, self._owner = loop, None, asyncio.current_task()
        self._previous = loop.get_task_factory()
        loop.set_task_factory(self._factory)
        self._active = True
        return self

    def __exit__(self, *exc_info: object) -> None:
        assert self._loop is not None
        self._loop.set_task_factory(self._previous)
        self._guard(self._flush)
        self._previous, self._active, self._stepping, self._owner = None, False, [], None
        if self._error is not None and exc_info[0] is None:
            error, self._error = self._error, None
            raise error

    def _factory(self, loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> Any:
        """The task factory: wrap the coroutine, then make the task as the previous factory would."""
        traced = coro
        if self._active and asyncio.iscoroutine(coro) and self._ours():  # else asyncio rejects it as usual
            creator = self._stepping[-1].name if self._stepping else None
            traced = _Traced(coro, self, creator)
            self._pending.append(traced)
        if self._previous is None:
            task = asyncio.Task(traced, loop=loop, **kwargs)
        else:
            task = self._previous(loop, traced, **kwargs)
        if traced is not coro and traced._task is None:
            traced._task = weakref.ref(task)
        return task

    def _ours(self) -> bool:
        """Whether a task made now is the traced program's (see the module docstring)."""
        maker = asyncio.current_task()
        return maker is None or maker is self._owner or maker in self._by_task

    def _guard(self, action: Callable[..., object], *args: Any) -> None:
        """Run a recording action; keep its error for the end of the block instead of raising."""
        try:
            action(*args)
        except Exception as error:
            self._keep(error)

    def _keep(self, error: Exception) -> None:
        if self._error is None:
            self._error = error

    def _flush(self) -> None:
        """Record the spawns not recorded yet, now that the tasks' names are set."""
        while self._pending:
            traced = self._pending.pop(0)
            traced.name = self._name_for(traced)
            self.count += 1
            self.tracer.record(traced.name, "spawn", f"by {traced._creator}" if traced._creator else "")

    def _name_for(self, traced: _Traced) -> str:
        task = traced._task() if traced._task is not None else None
        name = None
        if self._lookup is not None and task is not None:
            try:
                found = self._lookup(task)
                name = None if found is None else _check_name(found, "a task's name from names()")
            except Exception as error:  # the trace goes on; the error is raised when the block ends
                self._keep(error)
        if name is None and task is not None and not _AUTOMATIC.fullmatch(task.get_name()):
            name = task.get_name()
        if name is None:
            if self._names:
                name = self._names.pop(0)
            else:
                self._automatic += 1
                name = f"task {self._automatic}"
        if task is not None:
            self._by_task[task] = name
        return name

    def _before(self, traced: _Traced, detail: str) -> None:
        if not self._active:
            return
        if traced._task is None:  # an eager task's first step runs inside the factory
            task = asyncio.current_task()
            traced._task = weakref.ref(task) if task is not None else None
        self._stepping.append(traced)
        self._guard(self._flush)
        if traced.name is not None:
            self._guard(self.tracer.record, traced.name, "run", detail)

    def _after(self, traced: _Traced, kind: str, detail: str) -> None:
        if not self._active:
            return
        if self._stepping and self._stepping[-1] is traced:
            self._stepping.pop()
        self._guard(self._flush)
        if traced.name is not None:
            self._guard(self.tracer.record, traced.name, kind, detail)

    def _yielded(self, traced: _Traced, value: Any) -> None:
        if self._active:
            kind, detail = "pause", "yield"
            try:
                kind, detail = self._describe(traced, value)
            except Exception as error:
                self._keep(error)
            self._after(traced, kind, detail)

    def _describe(self, traced: _Traced, value: Any) -> tuple[str, str]:
        """What a step that yielded ``value`` is doing: ("pause", ...) or ("wait", what)."""
        call = _library_call(traced._coro)
        if value is None:  # asyncio.sleep(0) or a bare yield: ready again at once
            return "pause", "sleep(0)" if call == "sleep" else (call or "yield")
        if not asyncio.isfuture(value):  # asyncio throws a RuntimeError into it at the next step
            return "pause", f"yield {_SHORT.repr(value)}"
        if call is not None:
            return "wait", call
        if isinstance(value, asyncio.Task):
            return "wait", f"task {self._task_label(value)}"
        kind = type(value).__name__
        return "wait", "gather" if kind == "_GatheringFuture" else kind.lstrip("_")

    def _task_label(self, task: asyncio.Task) -> str:
        name = self._by_task.get(task)
        if name is None and not _AUTOMATIC.fullmatch(task.get_name()):
            name = task.get_name()
        return repr(name) if name is not None else "(an untraced task)"

    def __repr__(self) -> str:
        return f"<trace_tasks: {'on' if self._active else 'off'}, {self.count} tasks traced>"


class LoopRecorder:
    """The hook a home-made event loop calls to record its tasks into a Tracer.

    The loop names its tasks and says what happens; the recorder turns that into events::

        recorder = LoopRecorder(tracer)
        recorder.spawn("alice")                 # alice was created
        with recorder.step("alice"):            # run ... pause
            request = task.send(None)
            if request is a wait for a socket:
                recorder.wait("alice", "read")  # the step ends with wait instead of pause
        recorder.done("alice", "returned 3")    # or from inside the step

    A step that ends without ``wait`` or ``done`` ends with ``pause``. An exception leaving
    the ``with`` block ends the task: ``StopIteration`` as "returned <value>", any other as
    "raised <Kind>"; the exception goes on to the loop unchanged. Recording never raises into
    the loop: a problem (an empty task name) is appended to ``recorder.errors``.
    """

    def __init__(self, tracer: Tracer) -> None:
        self.tracer = _check_tracer(tracer)
        self.errors: list[Exception] = []
        self._ended: dict[str, bool] = {}  # tasks inside a step -> has the step ended already

    def _record(self, name: str, kind: str, detail: str = "") -> None:
        try:
            self.tracer.record(name, kind, detail)
        except Exception as error:
            self.errors.append(error)

    def spawn(self, name: str, detail: str = "") -> None:
        """Task ``name`` was created."""
        self._record(name, "spawn", detail)

    def step(self, name: str, detail: str = "") -> _LoopStep:
        """A context manager around one step of task ``name``: ``run`` now, ``pause`` at the end."""
        return _LoopStep(self, name, detail)

    def wait(self, name: str, on: str) -> None:
        """Task ``name`` gives control away until ``on`` happens ("read", "sleep 0.1 s")."""
        self._end(name, "wait", on)

    def done(self, name: str, detail: str = "") -> None:
        """Task ``name`` finished ("returned 3", "raised ValueError")."""
        self._end(name, "exit", detail)

    def _end(self, name: str, kind: str, detail: str) -> None:
        if self._ended.get(name) is False:
            self._ended[name] = True
        self._record(name, kind, detail)

    def __repr__(self) -> str:
        return f"<LoopRecorder: {len(self.tracer.events)} events, {len(self.errors)} errors>"


class _LoopStep:
    """One step of a home-made loop's task (see :meth:`LoopRecorder.step`)."""

    def __init__(self, recorder: LoopRecorder, name: str, detail: str) -> None:
        self._recorder, self._name, self._detail = recorder, name, detail

    def __enter__(self) -> _LoopStep:
        self._recorder._ended[self._name] = False
        self._recorder._record(self._name, "run", self._detail)
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: object) -> None:
        ended = self._recorder._ended.pop(self._name, False)
        if ended:
            return
        if kind is None:
            self._recorder._record(self._name, "pause")
        elif isinstance(error, StopIteration):
            self._recorder._record(self._name, "exit", f"returned {_SHORT.repr(error.value)}")
        else:
            self._recorder._record(self._name, "exit", f"raised {kind.__name__}")


class _VirtualSelector(selectors.DefaultSelector):
    """A selector that never sleeps: it reports ready I/O at once, else moves the clock on."""

    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0
        self.waits: list[float | None] = []

    def select(self, timeout: float | None = None) -> list:
        self.waits.append(timeout)
        ready = super().select(0)
        if ready or timeout == 0:
            return ready
        if timeout is None:
            raise RuntimeError("the virtual-clock loop would wait forever: nothing is scheduled and no "
                               "I/O is ready (in a real loop this is waiting for a socket or a signal)")
        self.now += timeout
        return []


class VirtualClockLoop(asyncio.SelectorEventLoop):
    """An event loop on a virtual clock: timers run in the real loop's order, without waiting.

    ``loop.time()`` starts at 0.0 and advances only when the loop would sleep in its selector,
    by the timeout it asked for. ``loop.waits`` is the list of those timeouts. Use it like any
    loop made with ``asyncio.new_event_loop()`` (``run_until_complete``, ``run_forever`` +
    ``stop``) outside a running loop, and ``close()`` it. If the loop would wait for I/O with
    no timer scheduled, ``select`` raises RuntimeError instead of hanging.
    """

    def __init__(self) -> None:
        self._virtual = _VirtualSelector()
        super().__init__(self._virtual)

    def time(self) -> float:
        return self._virtual.now

    @property
    def waits(self) -> list[float | None]:
        """Every timeout this loop asked its selector for, in order (None: no timeout)."""
        return self._virtual.waits


@contextlib.contextmanager
def loop_errors() -> Iterator[list[str]]:
    """Collect what the running loop reports to its exception handler, as stable lines.

    ``with loop_errors() as reported:`` inside a running loop (a cell, an ``async def``).
    Each report becomes ``"<message>: <ExceptionType>"`` (or just the message), with the
    address-free part of asyncio's message only. The previous handler is restored on exit.
    """
    loop = asyncio.get_running_loop()
    reported: list[str] = []
    previous = loop.get_exception_handler()

    def keep(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        message = str(context.get("message", "")).split(" <", 1)[0].strip()
        error = context.get("exception")
        reported.append(f"{message}: {type(error).__name__}" if error is not None else message)

    loop.set_exception_handler(keep)
    try:
        yield reported
    finally:
        loop.set_exception_handler(previous)

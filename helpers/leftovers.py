"""A chapter's closing check: is anything the chapter started still running?

Chapters that start tasks, threads or processes end with one cell that says so, and the
same cell must tell the truth when the learner runs the whole chapter twice in one kernel.
The chapter watches at its start and reports at its end::

    start = watch()        # early in the chapter (its setup cell)
    ...
    print(report(start).text())   # the last code cell

    tasks of this chapter still running: 0
    threads of this chapter still running: 0
    child processes of this chapter still running: 0

What counts, and what is left out and why:

* **The first watch of the kernel is the baseline.** :func:`watch` remembers what was running
  the first time it is called in a kernel and returns that same baseline on every later call,
  so a second Run All compares with the kernel as it was before the first run: what the first
  run left behind is counted, not hidden.
* **The kernel's own machinery is not the chapter's**: tasks whose coroutine and threads whose
  code belong to ``ipykernel``, ``zmq`` (pyzmq starts a garbage-collector thread the first time
  the kernel sends a large message, such as a picture) and ``jupyter_client``.
* **Nor is a library's one thread per process** (``PROCESS_WIDE``): pycares, the DNS resolver under
  aiohttp's, starts a single daemon thread the first time a resolver is freed and keeps it for the
  life of the process, whoever freed it; when the garbage collector gets to it varies from run to run.
* **The loop's default thread pool is the chapter's.** ``asyncio.to_thread``,
  ``run_in_executor(None, ...)`` and name lookups (``getaddrinfo``) run in the running loop's
  default executor, whose idle threads (``asyncio_0``, ...) would otherwise stay alive for the
  kernel's life. :func:`watch` gives the running loop a default executor that belongs to the
  chapter, and :func:`report` shuts it down before counting (its idle threads end at once),
  then leaves the loop a new one, still without threads, so later cells keep working.
* A thread or process that is just ending gets a moment (``grace``) before it is counted.

Who calls it: the closing cells of the chapters that start work in the background (07–10).
Nothing here prints; :meth:`Leftovers.text` returns the lines for the cell to print.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

__all__ = ["KERNEL_PACKAGES", "PROCESS_WIDE", "Leftovers", "Start", "is_process_wide", "report", "watch"]

#: Top-level packages whose tasks and threads are the kernel's machinery, not a chapter's.
KERNEL_PACKAGES = ("ipykernel", "zmq", "jupyter_client", "comm", "IPython")
#: Libraries that keep one thread for the whole process, started on first use and never stopped.
PROCESS_WIDE = ("pycares",)

_EXECUTOR_PREFIX = "chapter_pool"


@dataclass(frozen=True)
class Start:
    """What was running in this kernel when the chapter was first watched."""

    tasks: frozenset[int]      # id() of the tasks alive then (kept alive below)
    threads: frozenset[int]    # thread idents
    children: frozenset[int]   # pids
    _keep: tuple = field(default=(), repr=False, compare=False)  # the task objects, so ids stay unique


@dataclass(frozen=True)
class Leftovers:
    """What the chapter started and is still running, by kind (names, for a learner to look up)."""

    tasks: tuple[str, ...]
    threads: tuple[str, ...]
    children: tuple[str, ...]

    def __bool__(self) -> bool:
        return bool(self.tasks or self.threads or self.children)

    def text(self) -> str:
        return "\n".join(
            f"{kind} of this chapter still running: {len(items)}"
            + (f" ({', '.join(items)})" if items else "")
            for kind, items in (("tasks", self.tasks), ("threads", self.threads),
                                ("child processes", self.children))
        )


_first: Start | None = None
_owned: concurrent.futures.ThreadPoolExecutor | None = None


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _package_of_file(filename: str) -> str:
    """The top-level package a source file belongs to, from the deepest sys.path entry holding it."""
    path = Path(filename).resolve()
    best: tuple[str, ...] = ()
    for entry in sys.path:
        root = Path(entry or ".").resolve()
        if root in path.parents and (not best or len(root.parts) > len(best)):
            best = root.parts
    if not best:
        return ""
    return path.parts[len(best)].removesuffix(".py")


def _is_kernel_file(filename: str | None) -> bool:
    return bool(filename and _package_of_file(filename) in KERNEL_PACKAGES + PROCESS_WIDE)


def _thread_files(thread: threading.Thread) -> tuple[str | None, str | None]:
    """The source files of a thread's target and of its Thread subclass (either may be unknown)."""
    target = getattr(thread, "_target", None)
    code = getattr(target, "__code__", None) or getattr(getattr(target, "__func__", None), "__code__", None)
    module = sys.modules.get(type(thread).__module__)
    return (code.co_filename if code is not None else None), getattr(module, "__file__", None)


def _thread_is_kernel(thread: threading.Thread) -> bool:
    return any(_is_kernel_file(filename) for filename in _thread_files(thread))


def is_process_wide(thread: threading.Thread) -> bool:
    """Whether ``thread`` is one of the ``PROCESS_WIDE`` libraries' threads, kept for the process's life.

    The one definition of that exemption: the chapters' closing check leaves such a thread out,
    and so do the unit tests' and the validation harness's leak checks (``tools.leaks``).
    """
    return any(filename is not None and _package_of_file(filename) in PROCESS_WIDE
               for filename in _thread_files(thread))


def _task_is_kernel(task: asyncio.Task) -> bool:
    coro = task.get_coro()
    code = getattr(coro, "cr_code", None) or getattr(coro, "gi_code", None)
    return code is not None and _is_kernel_file(code.co_filename)


def _children() -> dict[int, str]:
    found = {}
    for child in psutil.Process().children(recursive=True):
        try:
            if child.status() != psutil.STATUS_ZOMBIE:
                found[child.pid] = child.name()
        except psutil.NoSuchProcess:
            pass
    return found


def _own_default_executor(loop: asyncio.AbstractEventLoop) -> None:
    global _owned
    if _owned is not None:
        _owned.shutdown(wait=False, cancel_futures=True)
    _owned = concurrent.futures.ThreadPoolExecutor(thread_name_prefix=_EXECUTOR_PREFIX)
    loop.set_default_executor(_owned)


def watch() -> Start:
    """Remember what runs now (only the first time in this kernel) and own the loop's default pool.

    Returns the baseline of the first call in this kernel, whatever later calls see.
    Outside a running loop only the baseline is taken.
    """
    global _first
    loop = _running_loop()
    if loop is not None:
        _own_default_executor(loop)
    if _first is None:
        tasks = tuple(asyncio.all_tasks(loop)) if loop is not None else ()
        _first = Start(
            tasks=frozenset(id(task) for task in tasks),
            threads=frozenset(t.ident for t in threading.enumerate() if t.ident is not None),
            children=frozenset(_children()),
            _keep=tasks,
        )
    return _first


def _measure(start: Start) -> Leftovers:
    loop = _running_loop()
    current = asyncio.current_task() if loop is not None else None
    tasks = tuple(sorted(
        task.get_name() for task in (asyncio.all_tasks(loop) if loop is not None else ())
        if id(task) not in start.tasks and task is not current and not _task_is_kernel(task)
    ))
    threads = tuple(sorted(
        thread.name for thread in threading.enumerate()
        if thread.ident not in start.threads and thread.is_alive() and not _thread_is_kernel(thread)
    ))
    children = tuple(sorted(
        f"{name} (pid {pid})" for pid, name in _children().items() if pid not in start.children
    ))
    return Leftovers(tasks, threads, children)


def report(start: Start, grace: float = 3.0) -> Leftovers:
    """Close the chapter's default pool, then say what the chapter left running (after ``grace`` s).

    Does not block longer than ``grace`` seconds on threads or processes that are ending.
    """
    global _owned
    loop = _running_loop()
    if _owned is not None:
        _owned.shutdown(wait=False, cancel_futures=True)  # its idle threads end at once
        _owned = None
        if loop is not None:  # a new pool has no threads until used: later cells may still use to_thread
            _own_default_executor(loop)
    deadline = time.monotonic() + grace
    while True:
        found = _measure(start)
        if not (found.threads or found.children) or time.monotonic() >= deadline:
            return found
        time.sleep(0.05)

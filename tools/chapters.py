"""The course's chapter list: the one place that names chapters, files and titles.

Navigation cells, the map in chapter 00 and the repository tests all derive from it.
A chapter that is planned but not written yet is listed (the map shows it as
"coming") and simply has no notebook file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["CHAPTERS", "NOTEBOOKS", "Chapter", "by_filename", "find", "written"]

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


@dataclass(frozen=True)
class Chapter:
    number: str   # "00".."11"
    slug: str     # file name without .ipynb
    title: str    # the notebook's first heading, without the number
    summary: str  # what the learner leaves with, one line for the map

    @property
    def filename(self) -> str:
        return f"{self.slug}.ipynb"

    @property
    def path(self) -> Path:
        return NOTEBOOKS / self.filename

    @property
    def heading(self) -> str:
        return f"{self.number} · {self.title}"

    def exists(self) -> bool:
        return self.path.exists()


CHAPTERS: tuple[Chapter, ...] = (
    Chapter("00", "00_start_here", "Start here",
            "How to run the course, read a switch-order trace and a timeline, and how it is validated"),
    Chapter("01", "01_generators", "Generators",
            "The iteration protocol, generator states and frames, send / throw / close, producer and consumer"),
    Chapter("02", "02_yield_from", "yield from (PEP 380)",
            "Delegation as a two-way channel, PEP 380 as runnable code, await underneath, a round-robin scheduler"),
    Chapter("03", "03_greenlet", "greenlet",
            "Stackful switching between plain functions, and what greenlet alone cannot do: notice I/O"),
    Chapter("04", "04_gevent", "gevent",
            "Greenlets that switch on I/O, pools and queues, monkey patching done safely, a 100-client server"),
    Chapter("05", "05_io_models", "I/O models: select, poll, epoll",
            "Blocking vs non-blocking sockets, select / poll / epoll, correct selector servers, C10K measured"),
    Chapter("06", "06_event_loop", "Build your own event loop",
            "From callbacks to a Future, a Task and async/await on a home-made loop"),
    Chapter("07", "07_asyncio_tasks", "asyncio tasks",
            "Tasks, gather / wait / timeouts, cancellation, TaskGroup, and mixing in blocking code"),
    Chapter("08", "08_asyncio_streams", "asyncio streams and HTTP",
            "Streams, HTTP written by hand, and a bounded concurrent crawler of a local site"),
    Chapter("09", "09_asyncio_sync", "asyncio synchronisation",
            "Why one thread still needs locks, semaphores, events, conditions, queues, subprocesses"),
    Chapter("10", "10_processes", "Processes and coroutines",
            "multiprocessing, why coroutines cannot use a second core, and a loop per process"),
    Chapter("11", "11_showdown", "Showdown",
            "Threads, processes, gevent, a select loop and asyncio, measured on your machine"),
)


def written() -> list[Chapter]:
    """The chapters that have a notebook, in course order."""
    return [chapter for chapter in CHAPTERS if chapter.exists()]


def find(text: str) -> Chapter:
    """The written chapter ``text`` names: a number (``5``, ``05``) or a notebook path or file name.

    ValueError, saying which chapters there are, for a number or name that is not in the
    list or whose notebook is not written yet.
    """
    if not isinstance(text, str):
        raise TypeError(f"a chapter is named by a str, not {text.__class__.__name__}")
    name = text.strip()
    if name.isdigit():
        found = [chapter for chapter in CHAPTERS if int(chapter.number) == int(name)]
    else:
        found = [chapter for chapter in CHAPTERS if chapter.filename == Path(name).name]
    there = ", ".join(chapter.number for chapter in written())
    if not found:
        raise ValueError(f"{text!r} is not a chapter of the course; give a number ({there}) "
                         "or a notebook path such as notebooks/00_start_here.ipynb")
    if not found[0].exists():
        raise ValueError(f"chapter {found[0].number} ({found[0].title}) has no notebook yet "
                         f"(notebooks/{found[0].filename}); written chapters: {there}")
    return found[0]


def by_filename(name: str) -> Chapter:
    for chapter in CHAPTERS:
        if chapter.filename == name:
            return chapter
    raise KeyError(f"{name} is not in the chapter list (tools/chapters.py)")

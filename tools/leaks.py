"""What a process has open right now: threads, inet sockets, child processes.

Used by the unit tests (after every test) and by the validation harness (after the
whole session) to prove that nothing a helper or a notebook started is left behind.

A library's one thread per process (``helpers.leftovers.PROCESS_WIDE``: pycares, the resolver
under aiohttp's when aiodns is installed, as beside the classroom's pins) is never counted: it
starts on first use and lives as long as the process, whichever test happened to start it.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import psutil

from helpers.leftovers import is_process_wide


@dataclass(frozen=True)
class Snapshot:
    threads: frozenset[str]
    sockets: frozenset[str]
    children: frozenset[str]

    def minus(self, before: Snapshot) -> Snapshot:
        return Snapshot(
            self.threads - before.threads,
            self.sockets - before.sockets,
            self.children - before.children,
        )

    def __bool__(self) -> bool:
        return bool(self.threads or self.sockets or self.children)

    def describe(self) -> str:
        parts = []
        for label, items in (("threads", self.threads), ("sockets", self.sockets),
                             ("child processes", self.children)):
            if items:
                parts.append(f"{label}: {', '.join(sorted(items))}")
        return "; ".join(parts)


def snapshot() -> Snapshot:
    me = psutil.Process()
    threads = frozenset(f"{t.name}#{t.ident}" for t in threading.enumerate()
                        if t.is_alive() and not is_process_wide(t))
    sockets = frozenset(
        f"fd{c.fd}:{c.laddr}->{c.raddr or '-'}({c.status})"
        for c in me.net_connections(kind="inet")
    )
    children = set()
    for child in me.children(recursive=True):
        try:
            if child.status() != psutil.STATUS_ZOMBIE:
                children.add(f"pid{child.pid}:{' '.join(child.cmdline()[:3])}")
        except psutil.NoSuchProcess:
            pass
    return Snapshot(threads, sockets, frozenset(children))


def leftovers(before: Snapshot, grace: float = 3.0) -> Snapshot:
    """What is open now but was not in ``before``, after waiting up to ``grace`` seconds."""
    deadline = time.monotonic() + grace
    while True:
        extra = snapshot().minus(before)
        if not extra or time.monotonic() >= deadline:
            return extra
        time.sleep(0.05)

"""How much memory a chapter's kernel uses: its peak resident size, children included.

A learner on Binder gets 1 GB (its guarantee; more is not promised), and the kernel
plus every process a cell starts (a gevent demo in a fresh interpreter, a client swarm)
must fit in it. The validation (``tools/pytest_harness.py``) watches each notebook's
kernel with a :class:`PeakWatch` while nbval runs its cells, fails the chapter whose
peak passes the limit, and prints every chapter's peak in its closing table.

What is measured: the memory of the kernel and all its descendants, sampled every
``interval`` seconds by a daemon thread of the pytest process (it only reads ``/proc``
through psutil, never prints, and is joined by :meth:`PeakWatch.stop`), plus a sample
taken on demand after every cell. The kernel alone counts its resident set (RSS).
With children, each process counts its proportional set (PSS: a page shared by n
processes counts 1/n in each), because forked workers share most pages with the kernel:
measured here, a 165 MB process with 4 forked children is 760 MB of summed RSS but
172 MB of PSS, and the machine holds the latter. (Where the system gives no PSS, RSS
is used: an upper bound.) On Linux the kernel's own high-water mark (``VmHWM``) is
read too, so a spike of the kernel itself between two samples is not missed; a child
that lives shorter than ``interval`` can be.
"""

from __future__ import annotations

import threading
from pathlib import Path

import psutil

from helpers._checks import seconds

__all__ = ["MB", "PeakWatch", "tree_memory"]

MB = 1024 * 1024


def _high_water_mark(pid: int) -> int:
    """The kernel's own peak RSS in bytes from /proc (Linux), or 0 where there is none."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _pss(process: psutil.Process) -> int:
    try:
        return process.memory_full_info().pss
    except (AttributeError, psutil.AccessDenied):  # no PSS on this system
        return process.memory_info().rss


def tree_memory(pid: int) -> int:
    """Bytes held now by process ``pid`` and its descendants (RSS alone, PSS with children); 0 if gone."""
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for process in processes:
        try:
            total += process.memory_info().rss if len(processes) == 1 else _pss(process)
        except psutil.Error:
            pass  # exited between the listing and the reading
    return total


class PeakWatch:
    """Track the peak memory of process ``pid`` and its descendants until :meth:`stop`."""

    def __init__(self, pid: int, interval: float = 0.1) -> None:
        if isinstance(pid, bool) or not isinstance(pid, int):
            raise TypeError(f"pid must be an int, not {pid.__class__.__name__}")
        if pid <= 0:
            raise ValueError(f"pid must be > 0, not {pid}")
        self.pid = pid
        self.interval = seconds(interval, "interval")
        self.peak = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"peak-watch-{pid}", daemon=True)
        self._thread.start()

    def sample(self) -> int:
        """Measure now; return the peak so far in bytes."""
        now = max(tree_memory(self.pid), _high_water_mark(self.pid))
        with self._lock:
            self.peak = max(self.peak, now)
            return self.peak

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def stop(self) -> int:
        """Take a last sample, stop the thread (joined) and return the peak in bytes."""
        peak = self.sample()
        self._stop.set()
        self._thread.join(timeout=5)
        return peak

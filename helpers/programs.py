"""A program that keeps running in a fresh interpreter while the cell talks to it (a server).

:func:`helpers.fresh.run_program` waits until its program has exited. A server never exits by
itself, and the cell must learn its port and run clients against it *while* it runs. So::

    with running_program(SERVER, args=["127.0.0.1", "0"]) as server:
        port = int(server.first_line())     # the program prints its port first
        report = swarm(("127.0.0.1", port), echo_payloads(200), where="process")
    print(server.stdout)                    # everything it printed, Ctrl-C included

Who calls it: chapter 04 (the sources' monkey-patched socket server), and later chapters that run
a server program of their own.

What the program sees: the same as with ``run_program`` (``program.py`` as ``__main__``, its own
process group, an empty stdin, a fresh working directory, unbuffered output, PYTHONHASHSEED=0),
optionally gevent-patched before it starts.

Threads and blocking: two helper threads read the program's stdout and stderr while it runs (so
a chatty program never blocks on a full pipe); they only collect text, never print.
``first_line`` blocks until the program has printed a line, exited, or ``timeout`` passed.
Leaving the ``with`` block stops the program the way a person would, with Ctrl-C (SIGINT, so a
server can print a last word in ``except KeyboardInterrupt``), waits ``grace`` seconds, then
kills its whole process group, reaps it and joins the reader threads: nothing outlives the block,
also when the block raised or the learner pressed stop. After the block, ``stdout``, ``stderr``
and ``returncode`` hold the outcome. A program that runs past ``timeout`` (counted from its start)
is stopped the same way when the block ends; ``timed_out`` says so.
"""

from __future__ import annotations

import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from helpers._checks import seconds
from helpers._child import close_pipes, interrupt, kill_group, start_program
from helpers.fresh import ProgramFailed, ProgramResult

__all__ = ["RunningProgram", "running_program"]

MAX_TIMEOUT = 600.0


class RunningProgram:
    """A program started by :func:`running_program`: read its first line, then its whole output."""

    def __init__(self, proc: subprocess.Popen, timeout: float) -> None:
        self._proc = proc
        self._deadline = time.monotonic() + timeout
        self._lock = threading.Lock()
        self._printed = threading.Condition(self._lock)
        self._out: list[str] = []
        self._err: list[str] = []
        self._closed = 0  # pipes read to their end
        self._readers = [threading.Thread(target=self._read, args=(pipe, store), daemon=True,
                                          name=f"switchyard-program-{name}")
                         for name, pipe, store in (("out", proc.stdout, self._out), ("err", proc.stderr, self._err))]
        for reader in self._readers:
            reader.start()
        self.returncode: int | None = None
        self.timed_out = False

    def _read(self, pipe, store: list[str]) -> None:
        for line in iter(pipe.readline, b""):
            with self._printed:
                store.append(line.decode("utf-8", errors="replace"))
                self._printed.notify_all()
        with self._printed:
            self._closed += 1
            self._printed.notify_all()

    def first_line(self, timeout: float = 20.0) -> str:
        """The first line the program printed, without its newline; waits for it.

        Raises :class:`helpers.fresh.ProgramFailed` (with the end of its stderr) if the program
        exited without printing one, TimeoutError if it printed none within ``timeout`` s.
        """
        timeout = seconds(timeout, "timeout", maximum=MAX_TIMEOUT)
        with self._printed:
            self._printed.wait_for(lambda: self._out or self._closed == 2, timeout)
            if self._out:
                return self._out[0].rstrip("\n")
            if self._closed < 2:
                raise TimeoutError(f"the program printed no line within {timeout:g} s")
        self._proc.wait()
        raise ProgramFailed(ProgramResult("", self.stderr, self._proc.returncode or 1))

    @property
    def running(self) -> bool:
        """True while the program has not exited."""
        return self._proc.poll() is None

    @property
    def stdout(self) -> str:
        """Everything the program printed on stdout so far (all of it after the block)."""
        with self._lock:
            return "".join(self._out)

    @property
    def stderr(self) -> str:
        """Everything the program printed on stderr so far."""
        with self._lock:
            return "".join(self._err)

    def _stop(self, grace: float) -> None:
        proc = self._proc
        try:
            if proc.poll() is None:
                self.timed_out = time.monotonic() > self._deadline
                interrupt(proc, grace)  # Ctrl-C, as a person stops a server
        finally:
            kill_group(proc)  # whatever is left of it and of what it started
            for reader in self._readers:
                reader.join(timeout=5.0)
            close_pipes(proc)
            self.returncode = proc.returncode

    def __repr__(self) -> str:
        state = "running" if self.returncode is None else f"exited with {self.returncode}"
        return f"<RunningProgram: {state}>"


@contextmanager
def running_program(source: str, *, args: Sequence[str] = (), gevent_patch: bool = False,
                    timeout: float = 60.0, grace: float = 5.0) -> Iterator[RunningProgram]:
    """Start ``source`` as ``program.py`` in a fresh interpreter; stop it with Ctrl-C when the block ends.

    ``args`` become ``sys.argv[1:]``; ``gevent_patch=True`` runs ``gevent.monkey.patch_all()``
    first. ``timeout``: the longest the program should run; ``grace``: seconds it gets after
    Ctrl-C before it is killed.
    """
    if not isinstance(source, str):
        raise TypeError(f"source must be a str (the program's text), not {type(source).__name__}")
    if isinstance(args, (str, bytes)) or not all(isinstance(arg, str) for arg in args):
        raise TypeError(f"args must be a list of str, e.g. ['127.0.0.1', '0'], not {args!r}")
    if not isinstance(gevent_patch, bool):
        raise TypeError(f"gevent_patch must be True or False, not {gevent_patch!r}")
    timeout = seconds(timeout, "timeout", maximum=MAX_TIMEOUT)
    grace = seconds(grace, "grace", maximum=MAX_TIMEOUT)
    with tempfile.TemporaryDirectory(prefix="switchyard-", ignore_cleanup_errors=True) as base:
        proc = start_program(source, base, gevent_patch=gevent_patch, args=args)
        program = None
        try:
            program = RunningProgram(proc, timeout)
            yield program
        finally:
            if program is not None:
                program._stop(grace)
            else:
                kill_group(proc)

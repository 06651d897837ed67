"""The helpers' child interpreters: start one in its own process group, talk to it in lines, stop it.

Private: notebooks never import it. Who uses it: :mod:`helpers.fresh` and :mod:`helpers.programs`
(a learner's program, from its source) and :mod:`helpers.swarm`, :mod:`helpers.showdown`,
:mod:`helpers.echobench` and :mod:`helpers.models` (the programs of ``helpers/children/``)::

    with Child("echo_server", "threads") as server:   # python -m helpers.children.echo_server threads
        port = int(server.readline(timeout=30) or 0)  # None: no line in time, or the child ended
        ...                                           # leaving the block: EOF on stdin, then the group is killed

    start(command, ...)            Popen in a session of its own: the child and everything it starts
                                   form one process group, so stopping the group stops them all
    module_command(name, *args)    ``python -m helpers.children.NAME ARGS`` with this interpreter
    start_program(source, base, ...)
                                   a learner's program as ``program.py`` (BOOTSTRAP runs it as
                                   ``__main__``, gevent-patched first if asked) in ``base/work``
    Child(name, *args, ...)        a program of ``helpers/children/`` that talks in lines: ``readline``,
                                   ``send``, ``ask`` (one JSON line out, one back), ``stop``
    interrupt(proc, grace)         Ctrl-C (SIGINT) to the child itself, then up to ``grace`` s to exit
    kill_group(proc)               SIGTERM to its group, TERM_GRACE s, SIGKILL; reap it
    close_pipes(proc)              close whichever of its stdin, stdout, stderr are pipes

Ctrl-C in a child: a parent that ignored SIGINT (nohup, a job started in the background, some CI
runners) passes SIG_IGN on through exec, and Python then installs no KeyboardInterrupt handler of
its own. So every child puts Python's own back first thing: ``BOOTSTRAP``'s first line for a
learner's program, :func:`helpers.children.restore_ctrl_c` for the programs of ``helpers/children/``.

Blocking: ``readline`` blocks its caller until a line came, the child closed its stdout, or the
timeout passed (``poll`` on the pipe, not ``select()``: the caller may hold descriptors past 1023);
``kill_group`` for up to TERM_GRACE s; ``interrupt`` for up to its grace. Nothing here starts a
thread or prints.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from typing import IO, Any

__all__ = ["BOOTSTRAP", "PROGRAM_NAME", "TERM_GRACE", "Child", "close_pipes", "interrupt", "kill_group",
           "module_command", "start", "start_program"]

TERM_GRACE = 1.0  # seconds between SIGTERM and SIGKILL
CHILDREN = "helpers.children"  # the package of the helpers' own child programs
PROGRAM_NAME = "program.py"
# The environment of a learner's program: output arrives as it is printed, the order of sets of
# strings is the same on every run (so stored notebook output matches), UTF-8 whatever the locale.
PROGRAM_ENV = {"PYTHONUNBUFFERED": "1", "PYTHONHASHSEED": "0", "PYTHONIOENCODING": "utf-8"}

# Runs first in the fresh interpreter: patch (maybe), then run program.py as __main__.
# argv: [-c, "patch"|"plain", path of program.py, *args]
# SIGINT first: a parent that ignored it (nohup, a background job, some CI runners) passes
# SIG_IGN on through exec, and Python then installs no KeyboardInterrupt handler of its own.
BOOTSTRAP = """\
import signal, sys
signal.signal(signal.SIGINT, signal.default_int_handler)
if sys.argv[1] == "patch":
    from gevent import monkey
    monkey.patch_all()
import linecache, traceback, types
with open(sys.argv[2], encoding="utf-8") as file:
    source = file.read()
linecache.cache["program.py"] = (len(source), None, source.splitlines(True), "program.py")
sys.argv = ["program.py", *sys.argv[3:]]

def excepthook(kind, error, tb):
    while tb is not None and tb.tb_frame.f_code.co_filename != "program.py":
        tb = tb.tb_next  # hide this bootstrap from the learner
    traceback.print_exception(kind, error, tb)

sys.excepthook = excepthook
code = compile(source, "program.py", "exec")
main = types.ModuleType("__main__")
main.__file__ = "program.py"
sys.modules["__main__"] = main
exec(code, main.__dict__)
"""


def start(command: Sequence[str], *, stdin: int | IO[Any] | None = subprocess.DEVNULL,
          stderr: int | None = subprocess.DEVNULL, cwd: str | os.PathLike[str] | None = None,
          env: Mapping[str, str] | None = None) -> subprocess.Popen:
    """Start ``command`` with its stdout on a pipe, in a new session (its own process group).

    ``env`` entries are added to (and override) the inherited environment.
    """
    return subprocess.Popen(list(command), stdin=stdin, stdout=subprocess.PIPE, stderr=stderr, cwd=cwd,
                            env={**os.environ, **env} if env is not None else None,
                            start_new_session=True)  # its own group: killable as a whole


def module_command(name: str, *args: str) -> list[str]:
    """The command that runs ``helpers/children/NAME.py`` as a program, with this interpreter."""
    return [sys.executable, "-m", f"{CHILDREN}.{name}", *args]


def start_program(source: str, base: str, *, gevent_patch: bool = False, args: Sequence[str] = (),
                  env: Mapping[str, str] | None = None,
                  cwd: str | os.PathLike[str] | None = None) -> subprocess.Popen:
    """Write ``source`` to ``base/program.py`` and start it there, in ``base/work`` unless ``cwd`` is given.

    stdin is empty, stdout and stderr are pipes; ``env`` entries go over PROGRAM_ENV.
    """
    path = os.path.join(base, PROGRAM_NAME)
    with open(path, "w", encoding="utf-8") as file:
        file.write(source)
    workdir = os.path.join(base, "work")
    os.mkdir(workdir)
    command = [sys.executable, "-c", BOOTSTRAP, "patch" if gevent_patch else "plain", path, *args]
    return start(command, stderr=subprocess.PIPE, cwd=cwd if cwd is not None else workdir,
                 env={**PROGRAM_ENV, **(env or {})})


class Child:
    """A program of ``helpers/children/`` in a fresh interpreter of its own process group, talking in lines.

    ``stdin`` is a pipe by default (``send``; closing it is the polite way to say "stop"), stdout
    always; stderr goes nowhere unless ``stderr=subprocess.PIPE``.
    """

    def __init__(self, name: str, *args: str, stdin: int | IO[Any] | None = subprocess.PIPE,
                 stderr: int | None = subprocess.DEVNULL, cwd: str | os.PathLike[str] | None = None,
                 env: Mapping[str, str] | None = None) -> None:
        self.proc = start(module_command(name, *args), stdin=stdin, stderr=stderr, cwd=cwd, env=env)
        self.ended = False  # its stdout reached EOF
        self._buffer = b""

    @property
    def pid(self) -> int:
        return self.proc.pid

    def readline(self, timeout: float) -> str | None:
        """The next line without its newline, or None if none came within ``timeout`` s or the child
        closed its stdout (then ``ended`` is True). Lines already read come back at once."""
        deadline = time.monotonic() + timeout
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        poller = select.poll()  # not select(): the caller may hold descriptors past 1023
        poller.register(fd, select.POLLIN)
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if self.ended or left <= 0 or not poller.poll(left * 1000):
                return None
            chunk = os.read(fd, 65536)
            if not chunk:
                self.ended = True
                return None
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return line.decode()

    def send(self, text: str) -> None:
        """Write ``text`` and a newline to the child's stdin (OSError once it has gone)."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(text.encode() + b"\n")
        self.proc.stdin.flush()

    def ask(self, command: dict, timeout: float) -> dict | None:
        """Send ``command`` as a JSON line; the JSON line it answers, or None (no answer in time, or gone)."""
        try:
            self.send(json.dumps(command))
        except OSError:
            return None
        line = self.readline(timeout)
        return json.loads(line) if line else None

    def stop(self) -> None:
        """EOF on its stdin, then its whole group stopped (:func:`kill_group`) and its pipes closed."""
        try:
            if self.proc.stdin is not None:
                self.proc.stdin.close()  # EOF: the polite way to say "stop"
        except OSError:
            pass
        try:
            kill_group(self.proc)
        finally:
            close_pipes(self.proc)

    def __enter__(self) -> Child:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def interrupt(proc: subprocess.Popen, grace: float) -> None:
    """Ctrl-C (SIGINT) to the child itself, as a person stops a server; wait up to ``grace`` s for it to exit."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass


def kill_group(proc: subprocess.Popen) -> None:
    """Stop the child's whole process group: SIGTERM, a short grace, SIGKILL; reap it."""
    if os.name == "nt":  # no process groups to signal; stop the program itself
        proc.kill()
        proc.wait()
        return
    try:
        if proc.poll() is None:
            _signal_group(proc.pid, signal.SIGTERM)
            proc.wait(timeout=TERM_GRACE)
    except subprocess.TimeoutExpired:
        pass
    finally:  # even if a second KeyboardInterrupt cuts the grace short
        # Also after the child exited: processes it started may still run. The group
        # id stays taken while any member lives, so this never hits a stranger's group.
        _signal_group(proc.pid, signal.SIGKILL)
        proc.wait()


def _signal_group(pgid: int, signum: int) -> None:
    try:
        os.killpg(pgid, signum)
    except (ProcessLookupError, PermissionError):
        pass  # nobody left in the group


def close_pipes(proc: subprocess.Popen) -> None:
    """Close whichever of the child's stdin, stdout and stderr are pipes of ours."""
    for pipe in (proc.stdin, proc.stdout, proc.stderr):
        if pipe is not None:
            try:
                pipe.close()
            except OSError:
                pass  # a buffered write to a child that has gone

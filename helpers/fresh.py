"""Run a Python program in a fresh interpreter and collect what it printed.

Why: gevent's monkey patching must happen before anything else imports ``socket``
or ``threading``, and patching a running Jupyter kernel hangs it for good. So a
notebook writes the program as a string, runs it here in a brand-new
``sys.executable`` (optionally gevent-patched first) and prints what it printed::

    result = run_program(source, gevent_patch=True).check_returncode()
    print(result.stdout, end="")

Who calls it: notebook cells, one program per call.

What blocks: ``run_program`` blocks the calling thread until the program has exited
and both of its output pipes are closed, or until ``timeout`` seconds have passed.

On timeout: the program's whole process group (the program and every process it
started) gets SIGTERM, then SIGKILL after a short grace; the program is reaped, its
temporary directory removed, and ``ProgramTimeout`` is raised carrying the output
captured so far. A KeyboardInterrupt (the learner pressing stop) kills the group the
same way and then propagates. Nothing is left running afterwards.

The program sees: ``__name__ == "__main__"``, ``sys.argv == ["program.py", *args]``,
tracebacks that name ``File "program.py", line N``, Python's own Ctrl-C (SIGINT raises
KeyboardInterrupt even if the kernel or a ``nohup`` ignored it), an empty stdin (``input()``
raises EOFError), a fresh empty working directory, and the environment variables
PYTHONUNBUFFERED=1 (output arrives as it is printed), PYTHONHASHSEED=0 (the order
of sets of strings and similar is the same on every run, so stored notebook output
matches) and PYTHONIOENCODING=utf-8. Nothing in this module prints.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from helpers._child import close_pipes, kill_group, start_program

__all__ = ["ProgramFailed", "ProgramResult", "ProgramTimeout", "run_program"]

MAX_TIMEOUT = 600.0
DRAIN_LIMIT = 5.0  # seconds to collect the last output after the kill
STDERR_TAIL_LINES = 20  # how much of stderr a ProgramFailed message shows


@dataclass(frozen=True)
class ProgramResult:
    """What a finished program printed and how it exited."""

    stdout: str
    stderr: str
    returncode: int

    @property
    def ok(self) -> bool:
        """True when the program exited with return code 0."""
        return self.returncode == 0

    def check_returncode(self) -> ProgramResult:
        """Return self if the program succeeded, else raise ProgramFailed."""
        if self.returncode != 0:
            raise ProgramFailed(self)
        return self


class ProgramFailed(RuntimeError):
    """The program exited with a non-zero return code (see ``.result``)."""

    def __init__(self, result: ProgramResult) -> None:
        self.result = result
        how = f"exited with return code {result.returncode}"
        if result.returncode < 0:
            how += f" (killed by signal {-result.returncode})"
        tail = "\n".join(result.stderr.rstrip().splitlines()[-STDERR_TAIL_LINES:])
        super().__init__(f"the program {how}; the end of its stderr:\n{tail or '(nothing)'}")


class ProgramTimeout(TimeoutError):
    """The program ran longer than its timeout and was killed (see ``.stdout``)."""

    def __init__(self, timeout: float, stdout: str, stderr: str) -> None:
        self.timeout = timeout
        self.stdout = stdout
        self.stderr = stderr
        message = f"the program ran longer than {timeout:g} s and was stopped."
        if stdout:
            message += "\nIts output so far:\n" + stdout.rstrip("\n")
        else:
            message += "\nIt printed nothing."
        if stderr:
            message += "\nIts stderr so far:\n" + stderr.rstrip("\n")
        super().__init__(message)


def run_program(
    source: str,
    *,
    timeout: float = 30.0,
    gevent_patch: bool = False,
    args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
) -> ProgramResult:
    """Run ``source`` as ``program.py`` in a fresh interpreter; return what it printed.

    ``gevent_patch=True`` runs ``gevent.monkey.patch_all()`` before the program, the
    way ``python -m gevent.monkey program.py`` does. ``args`` become ``sys.argv[1:]``,
    ``env`` entries are added to (and override) the inherited environment, ``cwd``
    replaces the fresh temporary working directory. Blocks until the program is done;
    raises ProgramTimeout after ``timeout`` seconds (the program is killed first).
    A process the program starts and leaves running still holds its stdout, so it
    counts as part of the program: it is waited for, then killed at the timeout.
    """
    _validate(source, timeout, gevent_patch, args, env, cwd)
    with tempfile.TemporaryDirectory(prefix="switchyard-", ignore_cleanup_errors=True) as base:
        proc = start_program(source, base, gevent_patch=gevent_patch, args=args, env=env, cwd=cwd)
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_group(proc)
            out, err = _drain(proc)
            raise ProgramTimeout(timeout, _text(out), _text(err)) from None
        finally:
            # Always, also after a clean exit (the program may have left children
            # running) or a KeyboardInterrupt (the learner pressed stop).
            kill_group(proc)
            close_pipes(proc)
    return ProgramResult(_text(out), _text(err), proc.returncode)


def _validate(source: object, timeout: object, gevent_patch: object, args: object,
              env: object, cwd: object) -> None:
    """Raise TypeError or ValueError for arguments run_program cannot use."""
    if not isinstance(source, str):
        raise TypeError(f"source must be a str (the program's text), not {type(source).__name__}")
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(f"timeout must be a number of seconds, not {type(timeout).__name__}")
    if not (0 < timeout <= MAX_TIMEOUT):  # also rejects NaN
        raise ValueError(f"timeout must be more than 0 and at most {MAX_TIMEOUT:g} seconds, "
                         f"not {timeout!r}")
    if not isinstance(gevent_patch, bool):
        raise TypeError(f"gevent_patch must be True or False, not {gevent_patch!r}")
    if isinstance(args, (str, bytes)) or not isinstance(args, Sequence):
        raise TypeError(f"args must be a list of str, e.g. ['--fast'], not {args!r}")
    if not all(isinstance(arg, str) for arg in args):
        raise TypeError(f"every item of args must be a str: {args!r}")
    if env is not None:
        if not isinstance(env, Mapping):
            raise TypeError(f"env must be a dict of str to str, not {type(env).__name__}")
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in env.items()):
            raise TypeError(f"env must map str to str: {dict(env)!r}")
    if cwd is not None and not isinstance(cwd, (str, os.PathLike)):
        raise TypeError(f"cwd must be a path (str or pathlib.Path), not {type(cwd).__name__}")
    if cwd is not None and not os.path.isdir(cwd):
        raise ValueError(f"cwd must be an existing directory: {cwd!r}")


def _drain(proc: subprocess.Popen) -> tuple[bytes, bytes]:
    """After the kill: the output read so far plus the rest, without waiting forever."""
    try:
        return proc.communicate(timeout=DRAIN_LIMIT)
    except subprocess.TimeoutExpired as stuck:  # a process escaped the group, holds a pipe
        return stuck.stdout or b"", stuck.stderr or b""


def _text(data: bytes | None) -> str:
    return (data or b"").decode("utf-8", errors="replace")

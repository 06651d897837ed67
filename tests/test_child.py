"""Tests for helpers._child (child interpreters: start, lines, stop) and the programs of helpers/children."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from helpers import _child
from helpers._child import Child, kill_group, module_command, start

ROOT = Path(__file__).resolve().parent.parent
CHILDREN = ROOT / "helpers" / "children"


@pytest.fixture
def stand_in(monkeypatch):
    """Child runs the given Python source instead of a program of helpers/children."""
    def use(source: str) -> None:
        monkeypatch.setattr(_child, "module_command", lambda name, *args: [sys.executable, "-c", source, *args])
    return use


def gone(pid: int, within: float = 5.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.05)
    return False


def test_module_command_runs_a_program_of_helpers_children_with_this_interpreter():
    assert module_command("swarm", "x") == [sys.executable, "-m", "helpers.children.swarm", "x"]


def test_readline_gives_lines_then_none_at_eof(stand_in):
    stand_in("import sys\nsys.stdout.write('one\\ntwo\\nthree')")
    with Child("any") as child:
        assert child.readline(10) == "one"
        assert child.readline(10) == "two"
        assert child.readline(10) is None and child.ended  # "three" has no newline: never a line
        assert child.readline(10) is None


def test_readline_times_out_without_a_line_and_says_the_child_still_runs(stand_in):
    stand_in("import time\nprint('half', end='', flush=True)\ntime.sleep(30)")
    with Child("any") as child:
        started = time.monotonic()
        assert child.readline(0.3) is None
        assert 0.3 <= time.monotonic() - started < 5
        assert not child.ended and child.proc.poll() is None
    assert child.proc.returncode is not None


def test_ask_sends_a_json_line_and_reads_the_answer_none_once_gone(stand_in):
    stand_in("import json, sys\nprint(json.dumps({'got': json.loads(sys.stdin.readline())}), flush=True)")
    with Child("any") as child:
        assert child.ask({"n": 1}, 10) == {"got": {"n": 1}}
        child.proc.wait(10)  # it answered once and left
        assert child.ask({"n": 2}, 1) is None


def test_stop_kills_the_whole_group_also_what_the_child_started(stand_in):
    stand_in("import signal, subprocess, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
             "p = subprocess.Popen(['sleep', '60'])\nprint(p.pid, flush=True)\ntime.sleep(60)")
    child = Child("any")
    grandchild = int(child.readline(20) or 0)
    started = time.monotonic()
    child.stop()
    assert time.monotonic() - started < 5  # SIGTERM ignored: SIGKILL after TERM_GRACE
    assert child.proc.returncode == -signal.SIGKILL
    assert gone(grandchild)
    assert all(pipe is None or pipe.closed for pipe in (child.proc.stdin, child.proc.stdout, child.proc.stderr))


def test_start_puts_the_child_in_a_process_group_of_its_own():
    proc = start([sys.executable, "-c", "import os; print(os.getpgid(0))"])
    try:
        assert int(proc.stdout.read()) == proc.pid != os.getpgid(0)
    finally:
        kill_group(proc)
        proc.stdout.close()


# --- the programs of helpers/children --------------------------------------------------------

# After each program has started: its SIGINT handler, printed at exit by a sitecustomize.
SITECUSTOMIZE = """
import atexit, signal, sys
atexit.register(lambda: print("SIGINT:", getattr(signal.getsignal(signal.SIGINT), "__name__", None),
                              file=sys.stderr, flush=True))
"""
PROGRAMS = {
    "echo_server": ["threads"],         # prints its port, then stops at stdin's EOF
    "echo_load": [],                    # empty stdin: no commands
    "swarm": [],                        # empty stdin: no plan, fails
    "showdown": ["no-such-command"],
}


def test_every_program_of_helpers_children_is_tested_below():
    assert sorted(PROGRAMS) == sorted(p.stem for p in CHILDREN.glob("*.py") if p.name != "__init__.py")


@pytest.mark.parametrize("name, args", PROGRAMS.items())
def test_every_child_program_gets_python_ctrl_c_whatever_the_parent_ignored(tmp_path, name, args):
    # A parent that ignores SIGINT (nohup, a background job, some CI runners) passes SIG_IGN on
    # through exec, and Python then installs no KeyboardInterrupt handler of its own.
    (tmp_path / "sitecustomize.py").write_text(SITECUSTOMIZE)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])}
    done = subprocess.run(module_command(name, *args), input="",
                          capture_output=True, text=True, timeout=60, cwd=ROOT, env=env,
                          preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    assert "SIGINT: default_int_handler" in done.stderr.splitlines(), done.stderr[-500:]

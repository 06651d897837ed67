"""Tests for helpers.fresh: programs run in a fresh interpreter, and nothing outlives them."""

from __future__ import annotations

import math
import os
import signal
import tempfile
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from helpers.fresh import ProgramFailed, ProgramResult, ProgramTimeout, run_program


def program(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


def assert_gone(*pids: int, within: float = 5.0) -> None:
    """Every pid has exited (a zombie re-parented to init counts as exited)."""
    deadline = time.monotonic() + within
    alive = list(pids)
    while alive and time.monotonic() < deadline:
        alive = [pid for pid in alive if _running(pid)]
        time.sleep(0.05)
    assert not alive, f"still running: {alive}"


def _running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


# --- what the program sees and prints ------------------------------------------------


def test_output_and_return_code():
    result = run_program('print("hello")\nprint("world")\n')
    assert result == ProgramResult(stdout="hello\nworld\n", stderr="", returncode=0)
    assert result.ok
    assert result.check_returncode() is result
    assert not hasattr(result, "check")  # renamed: not to be confused with the exercises' check()


def test_nothing_is_printed_by_the_helper(capfd):
    run_program('print("only in the result")')
    assert capfd.readouterr() == ("", "")


def test_traceback_names_program_py_with_the_right_line():
    result = run_program(program("""
        def divide(a, b):
            return a / b

        divide(1, 0)
    """))
    assert result.returncode == 1
    assert result.stderr.startswith("Traceback (most recent call last):\n")
    assert 'File "program.py", line 4, in <module>' in result.stderr
    assert 'File "program.py", line 2, in divide\n    return a / b' in result.stderr
    assert result.stderr.rstrip().endswith("ZeroDivisionError: division by zero")
    assert "<string>" not in result.stderr  # the bootstrap is hidden
    assert tempfile.gettempdir() not in result.stderr  # no temporary paths


def test_syntax_error_names_program_py_with_the_right_line():
    result = run_program("x = 1\nif x\n    print(x)\n")
    assert result.returncode == 1
    assert result.stderr.startswith('  File "program.py", line 2\n    if x\n')
    assert "SyntaxError" in result.stderr
    assert "<string>" not in result.stderr


def test_runs_as_main_with_argv():
    result = run_program(program("""
        import sys
        if __name__ == "__main__":
            print(__name__, sys.argv)
    """), args=["--fast", "3"])
    assert result.stdout == "__main__ ['program.py', '--fast', '3']\n"


def test_globals_are_the_programs_own():
    result = run_program("print(sorted(k for k in globals() if not k.startswith('__')))")
    assert result.stdout == "[]\n"


def test_non_zero_exit_and_check_returncode():
    result = run_program('import sys\nprint("bye", file=sys.stderr)\nsys.exit(3)\n')
    assert (result.returncode, result.ok, result.stderr) == (3, False, "bye\n")
    with pytest.raises(ProgramFailed) as failed:
        result.check_returncode()
    assert str(failed.value) == "the program exited with return code 3; the end of its stderr:\nbye"
    assert failed.value.result is result


def test_uncaught_exception_fails_check_with_the_traceback_tail():
    result = run_program('raise ValueError("no good")')
    with pytest.raises(ProgramFailed, match="(?s)return code 1;.*ValueError: no good"):
        result.check_returncode()


def test_stdin_is_empty():
    result = run_program(program("""
        try:
            input("name? ")
        except EOFError:
            print("stdin is empty")
    """))
    assert result.stdout == "name? stdin is empty\n"


def test_undecodable_output_is_replaced_not_an_error():
    result = run_program('import sys\nsys.stdout.buffer.write(b"caf\\xff\\n")\nprint("é")')
    assert result.stdout == "caf\ufffd\né\n"


def test_environment():
    result = run_program(program("""
        import os
        for name in ("PYTHONUNBUFFERED", "PYTHONHASHSEED", "SWITCHYARD_TEST"):
            print(name, os.environ.get(name))
    """), env={"SWITCHYARD_TEST": "yes"})
    assert result.stdout == "PYTHONUNBUFFERED 1\nPYTHONHASHSEED 0\nSWITCHYARD_TEST yes\n"


def test_set_order_is_the_same_on_every_run():
    source = 'print({"alpha", "beta", "gamma", "delta", "epsilon"})'
    assert run_program(source).stdout == run_program(source).stdout


def test_cwd_is_fresh_empty_and_removed_afterwards():
    result = run_program("import os\nprint(os.getcwd())\nprint(os.listdir('.'))\n")
    workdir, listing = result.stdout.splitlines()
    assert listing == "[]"
    assert not os.path.exists(workdir)


def test_cwd_can_be_given(tmp_path: Path):
    (tmp_path / "data.txt").write_text("from the caller\n")
    result = run_program("print(open('data.txt').read(), end='')", cwd=tmp_path)
    assert result.stdout == "from the caller\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.txt"]


# --- timeouts and interrupts: nothing may be left running -----------------------------


SPAWNS_A_SLEEPER = program("""
    import os, subprocess, sys, time
    child = subprocess.Popen(["sleep", "60"])
    print("started", os.getpid(), child.pid)
    print("working...", file=sys.stderr)
    time.sleep(60)
""")


def test_timeout_kills_the_program_and_its_children():
    started = time.monotonic()
    with pytest.raises(ProgramTimeout) as timeout:
        run_program(SPAWNS_A_SLEEPER, timeout=1.0)
    elapsed = time.monotonic() - started
    assert 1.0 <= elapsed < 6.0
    word, *pids = timeout.value.stdout.split()
    assert word == "started"
    assert_gone(*map(int, pids))
    assert str(timeout.value) == (
        "the program ran longer than 1 s and was stopped.\n"
        f"Its output so far:\nstarted {pids[0]} {pids[1]}\n"
        "Its stderr so far:\nworking..."
    )
    assert isinstance(timeout.value, TimeoutError)


def test_timeout_kills_a_program_that_ignores_sigterm():
    source = program("""
        import os, signal, subprocess, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # inherited by the child
        child = subprocess.Popen(["sleep", "60"])
        print(os.getpid(), child.pid)
        while True:
            time.sleep(0.01)
    """)
    started = time.monotonic()
    with pytest.raises(ProgramTimeout) as timeout:
        run_program(source, timeout=0.5)
    assert time.monotonic() - started < 6.0
    assert_gone(*map(int, timeout.value.stdout.split()))


def test_timeout_message_when_nothing_was_printed():
    with pytest.raises(ProgramTimeout) as timeout:
        run_program("import time\ntime.sleep(60)", timeout=0.5)
    assert str(timeout.value) == (
        "the program ran longer than 0.5 s and was stopped.\nIt printed nothing."
    )


def test_children_left_running_after_a_clean_exit_are_killed():
    source = program("""
        import subprocess
        child = subprocess.Popen(["sleep", "60"], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
        print(child.pid)
    """)
    result = run_program(source, timeout=10)
    assert result.ok
    assert_gone(int(result.stdout))


def test_keyboard_interrupt_kills_the_group_and_propagates(tmp_path: Path):
    pids_file = tmp_path / "pids"
    source = program("""
        import os, subprocess, sys, time
        child = subprocess.Popen(["sleep", "60"])
        with open(sys.argv[1], "w") as f:
            f.write(f"{os.getpid()} {child.pid}")
        time.sleep(60)
    """)

    def press_stop(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, press_stop)  # pytest-timeout's, maybe
    old_delay, old_interval = signal.setitimer(signal.ITIMER_REAL, 2.0)
    try:
        started = time.monotonic()
        with pytest.raises(KeyboardInterrupt):
            run_program(source, timeout=30, args=[str(pids_file)])
        assert time.monotonic() - started < 8.0
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if old_delay:
            signal.setitimer(signal.ITIMER_REAL, old_delay, old_interval)
    assert_gone(*map(int, pids_file.read_text().split()))


# --- gevent ----------------------------------------------------------------------------


TWO_SLEEPERS = program("""
    import time
    import gevent, gevent.monkey
    print(gevent.monkey.is_module_patched("socket"), gevent.monkey.is_module_patched("time"))
    start = time.perf_counter()
    gevent.joinall([gevent.spawn(time.sleep, 0.3), gevent.spawn(time.sleep, 0.3)])
    print(round(time.perf_counter() - start, 3))
""")


def test_gevent_patch_makes_time_sleep_cooperative():
    result = run_program(TWO_SLEEPERS, gevent_patch=True).check_returncode()
    patched, elapsed = result.stdout.splitlines()
    assert patched == "True True"
    # Together about 0.3 s, not 0.6 s one after the other.
    assert 0.29 <= float(elapsed) < 0.5, result.stdout


def test_without_gevent_patch_nothing_is_patched():
    result = run_program(TWO_SLEEPERS, gevent_patch=False).check_returncode()
    patched, elapsed = result.stdout.splitlines()
    assert patched == "False False"
    assert float(elapsed) >= 0.59  # plain time.sleep blocks: one after the other


def test_gevent_patch_runs_before_the_program_imports_anything():
    source = program("""
        import socket, threading
        print(socket.socket.__module__, threading.get_ident.__module__)
    """)
    result = run_program(source, gevent_patch=True).check_returncode()
    assert result.stdout == "gevent._socket3 gevent.thread\n"


# --- bad arguments -----------------------------------------------------------------------


@pytest.mark.parametrize("kwargs, error", [
    ({"source": b"print(1)"}, TypeError),
    ({"source": None}, TypeError),
    ({"timeout": 0}, ValueError),
    ({"timeout": -1}, ValueError),
    ({"timeout": 601}, ValueError),
    ({"timeout": math.nan}, ValueError),
    ({"timeout": "5"}, TypeError),
    ({"timeout": True}, TypeError),
    ({"gevent_patch": "yes"}, TypeError),
    ({"args": "--fast"}, TypeError),
    ({"args": [1, 2]}, TypeError),
    ({"env": {"A": 1}}, TypeError),
    ({"env": ["A=1"]}, TypeError),
    ({"cwd": "/no/such/directory"}, ValueError),
    ({"cwd": 0}, TypeError),  # a descriptor is not a path (os.path.isdir would have looked at it)
])
def test_bad_arguments_raise(kwargs, error):
    kwargs = {"source": "print(1)", **kwargs}
    with pytest.raises(error):
        run_program(**kwargs)


def test_result_is_frozen():
    result = run_program("pass")
    with pytest.raises(AttributeError):
        result.returncode = 1  # type: ignore[misc]


# --- Ctrl-C whatever the parent ignored ----------------------------------------------

# A parent that ignores SIGINT (nohup, a job started in the background, some CI runners) passes
# SIG_IGN on through exec, and Python then installs no KeyboardInterrupt handler of its own.
IGNORING_PARENT = """
import signal, sys
signal.signal(signal.SIGINT, signal.SIG_IGN)
from helpers.fresh import run_program
from helpers.programs import running_program
with running_program("import time\\ntry:\\n    print('ready')\\n    time.sleep(60)\\n"
                     "except KeyboardInterrupt:\\n    print('bye')\\n", grace=10) as program:
    program.first_line(timeout=30)
print(program.stdout.split(), program.returncode)
result = run_program("import os, signal\\ntry:\\n    os.kill(os.getpid(), signal.SIGINT)\\n"
                     "    import time; time.sleep(5)\\nexcept KeyboardInterrupt:\\n    print('caught')\\n")
print(result.stdout.split(), result.returncode)
"""


def test_programs_get_python_ctrl_c_even_from_a_parent_that_ignores_it():
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent
    done = subprocess.run([sys.executable, "-c", IGNORING_PARENT], capture_output=True, text=True,
                          timeout=120, cwd=root)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["['ready', 'bye'] 0", "['caught'] 0"], done.stdout

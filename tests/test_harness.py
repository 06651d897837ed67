"""The validation cannot lie: a hung notebook, a dead kernel or a wrong output fails the run.

Each test writes a throwaway notebook and runs the project's own pytest configuration
on it in a subprocess, with a short cell timeout, and looks at the exit code.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import psutil
import pytest

import course
from helpers.exercises import registered
from tools import chapters, pythons
from tools.chapters import CHAPTERS, written
from tools.memory import MB, PeakWatch, tree_memory
from tools.pytest_harness import THIS_PYTHON, WORKERS_ENV, chapter_table, default_workers

ROOT = Path(__file__).resolve().parent.parent
# Each test here runs a whole pytest session in a subprocess (kernels, nbval, workers): about
# 10-30 s on an idle machine, several times that with four validations sharing 2 CPUs. The
# limits below only catch a hang; they are not a speed test.
RUN_LIMIT = 300
pytestmark = pytest.mark.timeout(RUN_LIMIT + 60)
EXERCISE_FILES = ("tests/test_every_exercise.py::", "tests/test_chapter_code.py::")  # a chapter's exercise tests


def notebook(path: Path, *cells: tuple[str, str | None]) -> Path:
    """Write a notebook whose code cells store the given (source, stdout) pairs."""
    nb = nbformat.v4.new_notebook()
    nb.metadata = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
    for count, (source, stdout) in enumerate(cells, 1):
        cell = nbformat.v4.new_code_cell(source, execution_count=count)
        if stdout is not None:
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=stdout)]
        nb.cells.append(cell)
    nbformat.write(nb, path)
    return path


def validate(path: Path, *options: str, workers: int | str = 0, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run the project's validation (pyproject.toml's options) on one notebook, 3 s per cell.

    In this process (``workers=0``) by default; ``workers=1`` runs it as the parallel
    validation does, in an xdist worker.
    """
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-c", str(ROOT / "pyproject.toml"), "--rootdir", str(ROOT),
         "--nbval-cell-timeout=3", "-q", "-n", str(workers), *options, str(path)],
        cwd=ROOT, capture_output=True, text=True, timeout=RUN_LIMIT, env={**os.environ, **(env or {})},
    )


def test_a_good_notebook_passes(tmp_path):
    result = validate(notebook(tmp_path / "good.ipynb", ("print('hi')", "hi\n"), ("x = 1", None)))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout


def test_a_wrong_stored_output_fails(tmp_path):
    result = validate(notebook(tmp_path / "wrong.ipynb", ("print('hi')", "hello\n")))
    assert result.returncode != 0 and "1 failed" in result.stdout


def test_the_sanitize_file_hides_memory_addresses_and_only_them(tmp_path):
    stored = "<object object at 0x7f0000000001>\n"
    ok = validate(notebook(tmp_path / "address.ipynb", ("print(object())", stored)))
    assert ok.returncode == 0, ok.stdout
    wrong = validate(notebook(tmp_path / "other.ipynb", ("print(object())", "<list object at 0x7f0000000001>\n")))
    assert wrong.returncode != 0


HANGS = {
    "sleeps": "import time\ntime.sleep(600)",
    "ignores_interrupt": "import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\ntime.sleep(600)",
    "kills_its_kernel": "import os\nos._exit(1)",
}


@pytest.mark.parametrize("how", sorted(HANGS))
def test_a_hung_or_dead_notebook_fails_every_later_cell(tmp_path, how):
    path = notebook(tmp_path / f"{how}.ipynb", ("print(1)", "1\n"), (HANGS[how], None),
                    ("print(2)", "2\n"), ("print(3)", "3\n"))
    result = validate(path)
    assert result.returncode != 0, result.stdout
    assert "xfail" not in result.stdout.lower() and "xpass" not in result.stdout.lower()
    assert result.stdout.count("hung or killed its kernel") >= 2, result.stdout


def test_a_hang_in_a_cell_meant_to_raise_still_fails(tmp_path):
    """nbval accepts the interrupt's KeyboardInterrupt there; the later cells must not pass quietly."""
    path = notebook(tmp_path / "raises.ipynb", ("# NBVAL_RAISES_EXCEPTION\nimport time\ntime.sleep(600)", None),
                    ("print(2)", "2\n"))
    result = validate(path)
    assert result.returncode != 0, result.stdout
    assert "hung or killed its kernel" in result.stdout


def test_a_process_left_running_after_the_session_fails_the_run(tmp_path):
    pid_file = tmp_path / "pid"
    test_file = tmp_path / "test_leaky.py"
    test_file.write_text(
        "import subprocess\n"
        "def test_starts_and_forgets():\n"
        "    child = subprocess.Popen(['sleep', '60'])\n"
        f"    open({str(pid_file)!r}, 'w').write(str(child.pid))\n"
    )
    try:
        result = validate(test_file, "--leak-grace=1")
        assert result.returncode != 0, result.stdout
        assert "left behind after the test session: child processes" in result.stdout
    finally:
        if pid_file.exists():
            try:
                os.kill(int(pid_file.read_text()), signal.SIGKILL)
            except ProcessLookupError:
                pass


# --------------------------------------------------------------- memory guard

GROW_KERNEL = "block = b'x' * (300 * 1024 * 1024)\nprint(len(block) > 0)"  # 300 MB touched, in the kernel itself
GROW_CHILD = ("import subprocess, sys\n"
              "code = \"import time; block = b'x' * (300 * 1024 * 1024); time.sleep(1.5)\"\n"
              "print(subprocess.run([sys.executable, '-c', code], timeout=60).returncode)")


@pytest.mark.parametrize("cells", [
    pytest.param([("print(1)", "1\n"), (GROW_KERNEL, "True\n"), ("print(2)", "2\n")], id="kernel"),
    pytest.param([("print(1)", "1\n"), (GROW_CHILD, "0\n"), ("print(2)", "2\n")], id="child-process"),
])
def test_the_memory_guard_fails_the_cell_that_passes_the_limit(tmp_path, cells):
    path = notebook(tmp_path / "greedy.ipynb", *cells)
    result = validate(path, "--kernel-memory-limit=200", "--nbval-cell-timeout=30")
    assert result.returncode != 0, result.stdout
    assert "1 failed, 2 passed" in result.stdout, result.stdout
    found = re.search(r"reached (\d+) MB by the end of this cell, over the 200 MB limit", result.stdout)
    assert found and int(found.group(1)) > 300, result.stdout
    assert "::Cell 1 - greedy.ipynb: the kernel" in result.stdout  # the second cell, the one that allocated
    table = re.search(r"^greedy\s.*$", result.stdout, re.M)
    assert table is None  # a throwaway notebook is not a chapter: not in the table


def test_the_memory_guard_passes_a_notebook_under_the_limit_and_under_xdist(tmp_path):
    path = notebook(tmp_path / "small.ipynb", ("block = b'x' * (20 * 1024 * 1024)\nprint(len(block))", "20971520\n"))
    result = validate(path, "--kernel-memory-limit=200", workers=1)
    assert result.returncode == 0, result.stdout
    over = validate(path, "--kernel-memory-limit=1", workers=1)  # any kernel is over 1 MB: fails under xdist too
    assert over.returncode != 0 and "over the 1 MB limit" in over.stdout, over.stdout


def test_peak_watch_follows_children_and_checks_its_arguments():
    child = subprocess.Popen([sys.executable, "-c", "import time; block = b'x' * (80 * 1024 * 1024); time.sleep(30)"])
    try:
        watch = PeakWatch(os.getpid(), interval=0.05)
        deadline = time.monotonic() + 20
        while watch.sample() < 80 * MB and time.monotonic() < deadline:
            time.sleep(0.05)
        assert watch.stop() >= 80 * MB
    finally:
        child.kill()
        child.wait(timeout=10)
    with pytest.raises(TypeError):
        PeakWatch(True)
    with pytest.raises(ValueError):
        PeakWatch(0)
    with pytest.raises(ValueError):
        PeakWatch(os.getpid(), interval=0)


# --------------------------------------------------------------- parallel workers

def test_a_hung_notebook_fails_under_xdist_too(tmp_path):
    path = notebook(tmp_path / "hangs.ipynb", ("print(1)", "1\n"), (HANGS["sleeps"], None), ("print(2)", "2\n"))
    result = validate(path, workers=1)
    assert result.returncode != 0, result.stdout
    assert "hung or killed its kernel" in result.stdout and "xfail" not in result.stdout.lower()


def test_a_process_left_running_in_a_worker_fails_the_run(tmp_path):
    pid_file = tmp_path / "pid"
    test_file = tmp_path / "test_leaky_worker.py"
    test_file.write_text(
        "import subprocess\n"
        "def test_starts_and_forgets():\n"
        "    child = subprocess.Popen(['sleep', '60'])\n"
        f"    open({str(pid_file)!r}, 'w').write(str(child.pid))\n"
    )
    try:
        result = validate(test_file, "--leak-grace=1", workers=1)
        assert result.returncode != 0, result.stdout
        assert "left behind after the test session: child processes" in result.stdout
        assert "(worker gw0)" in result.stdout
    finally:
        if pid_file.exists():
            try:
                os.kill(int(pid_file.read_text()), signal.SIGKILL)
            except ProcessLookupError:
                pass


def test_auto_means_the_course_s_worker_count(tmp_path):
    path = notebook(tmp_path / "good.ipynb", ("print('hi')", "hi\n"))
    result = validate(path, "-v", workers="auto", env={WORKERS_ENV: "3"})
    assert result.returncode == 0 and "created: 3/3 workers" in result.stdout, result.stdout


def test_the_worker_count_comes_from_the_machine_or_the_environment(monkeypatch):
    monkeypatch.delenv(WORKERS_ENV, raising=False)
    assert default_workers() == min(16, 2 * len(os.sched_getaffinity(0)))
    monkeypatch.setenv(WORKERS_ENV, "3")
    assert default_workers() == 3
    for bad in ("0", "two", "-1"):
        monkeypatch.setenv(WORKERS_ENV, bad)
        with pytest.raises(pytest.UsageError, match=WORKERS_ENV):
            default_workers()


# --------------------------------------------------------------- one chapter

def collected(*options: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-c", str(ROOT / "pyproject.toml"), "--rootdir", str(ROOT),
         "-n", "0", "--collect-only", "-q", *options],
        cwd=ROOT, capture_output=True, text=True, timeout=RUN_LIMIT,
    )


def test_one_chapter_runs_its_notebook_twice_and_its_exercises_and_nothing_else():
    chapter = written()[-1]
    result = collected("--chapter", str(int(chapter.number)))
    assert result.returncode == 0, result.stdout + result.stderr
    ids = [line for line in result.stdout.splitlines() if "::" in line]
    cells = [i for i in ids if i.startswith(f"notebooks/{chapter.filename}::")]
    code = sum(cell.cell_type == "code" for cell in nbformat.read(chapter.path, 4).cells)
    assert cells == [f"notebooks/{chapter.filename}::Cell {n}" for n in range(code)] + [
        f"notebooks/{chapter.filename}::Cell {n} (second run)" for n in range(code)]
    # the chapter's own check tests (tests/test_chNN_checks.py, marked with its number) come along
    own = [i for i in ids if i.startswith(f"tests/test_ch{chapter.number}_checks.py::")]
    others = [i for i in ids if i not in cells and i not in own]
    assert others and all(i.startswith(EXERCISE_FILES) and f"[{chapter.number}." in i for i in others)
    mine = {number for number in registered() if number.startswith(chapter.number + ".")}
    assert {re.search(r"\[(\d+\.\d+)", i).group(1) for i in others} == mine  # each of its exercises, no other
    everything = collected()
    assert f"notebooks/{chapter.filename}::Cell 0" in everything.stdout
    assert "tests/test_harness.py::" in everything.stdout and "notebooks/00_start_here.ipynb::" in everything.stdout


ONLY_ONCE = [("count = globals().get('count', 0) + 1\nprint(count)", "1\n")]  # prints 2 on a second run


def test_the_second_run_catches_a_notebook_that_works_only_once(tmp_path):
    once = notebook(tmp_path / "once.ipynb", *ONLY_ONCE)
    result = validate(once, "--second-run=all")
    assert result.returncode != 0 and "1 failed, 1 passed" in result.stdout, result.stdout
    assert "::Cell 0 (second run)" in result.stdout
    assert validate(once, "--second-run=no").returncode == 0
    again = notebook(tmp_path / "again.ipynb", ("count = 1\nprint(count)", "1\n"))
    result = validate(again, "--second-run=all", workers=1)
    assert result.returncode == 0 and "2 passed" in result.stdout, result.stdout


def test_course_py_turns_a_chapter_into_the_option_and_refuses_an_unknown_one(monkeypatch):
    assert course.test_args(["03", "-x"]) == ["--chapter", "03", "-x"]
    assert course.test_args(["notebooks/03_greenlet.ipynb"]) == ["--chapter", "03"]
    assert course.test_args(["-k", "trace"]) == ["-k", "trace"]
    assert course.test_args(["tests/test_trace.py"]) == ["tests/test_trace.py"]
    done = subprocess.run([sys.executable, str(ROOT / "course.py"), "test", "42"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and "'42' is not a chapter of the course" in done.stderr, done.stderr
    # A chapter that is listed but not written yet (every chapter is written now: one is added).
    planned = chapters.Chapter("12", "12_planned", "Planned", "not written yet")
    assert not planned.exists()
    monkeypatch.setattr(chapters, "CHAPTERS", (*CHAPTERS, planned))
    with pytest.raises(SystemExit, match=r"chapter 12 \(Planned\) has no notebook yet"):
        course.test_args(["12"])


def test_the_pytest_option_refuses_an_unknown_chapter_too():
    result = collected("--chapter", "99")
    assert result.returncode == pytest.ExitCode.USAGE_ERROR, result.stdout + result.stderr
    assert "'99' is not a chapter of the course" in result.stderr


def test_the_table_lists_chapters_in_order_each_on_every_python():
    lines = chapter_table({("03", "3.11"): {"first": 2.04, "second": 4.5, "peak": 99 * MB},
                           ("01", "3.13"): {"second": 1.0}, ("03", "3.10"): {"first": 1.0},
                           ("01", "3.12"): {"first": 3.0}}, 1024)
    assert lines[0].split()[:2] == ["chapter", "python"]
    assert lines[1].split() == ["01_generators", "3.12", "3.0", "s", "-", "-"]
    assert lines[2].split() == ["01_generators", "3.13", "-", "1.0", "s", "-"]
    assert lines[3].split()[:2] == ["03_greenlet", "3.10"]
    assert lines[4].split() == ["03_greenlet", "3.11", "2.0", "s", "4.5", "s", "99", "MB"]
    assert "limit 1024 MB" in lines[-1]


# --------------------------------------------------------------- first setup: uv, else pip

def test_setup_uses_the_pinned_uv_and_falls_back_to_pip_with_the_same_pins(monkeypatch, tmp_path):
    pinned = re.search(r"^uv==\S+", (ROOT / "requirements.in").read_text(), re.M).group(0)
    assert course.uv_requirement() == pinned
    calls: list[list[str]] = []

    def fake_run(cmd, **kwargs):
        calls.append([str(part) for part in cmd])
        if "uv" in calls[-1]:
            raise subprocess.CalledProcessError(2, cmd)  # uv cannot reach the index, say

    monkeypatch.setattr(course, "run", fake_run)
    monkeypatch.setattr(course, "get_uv", lambda python: [str(python), "-m", "uv"])
    python = tmp_path / "python"
    course.install(python, ("requirements.txt",), editable=True)
    assert [call[1:3] for call in calls] == [["-m", "uv"], ["-m", "pip"], ["-m", "pip"]]
    assert calls[0][-2:] == calls[1][-2:] == ["-r", str(ROOT / "requirements.txt")]  # the same pins
    assert calls[2][-3:] == ["--no-deps", "-e", str(ROOT)]
    monkeypatch.undo()
    monkeypatch.setenv(course.INSTALLER_ENV, "pip")
    assert course.get_uv(python) is None  # forced pip: uv is not even looked for


FORKS = """
import os, sys, time
block = b'x' * (100 * 1024 * 1024)
children = []
for _ in range(4):
    pid = os.fork()
    if pid == 0:  # a child: it only holds the shared pages
        time.sleep(30)
        os._exit(0)
    children.append(pid)
print('ready', flush=True)
sys.stdin.read()
for pid in children:
    os.kill(pid, 9)
    os.waitpid(pid, 0)
"""


def test_forked_children_count_their_shared_pages_once():
    parent = subprocess.Popen([sys.executable, "-c", FORKS], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout.readline() == "ready\n"
        processes = [psutil.Process(parent.pid), *psutil.Process(parent.pid).children(recursive=True)]
        assert len(processes) >= 5
        summed_rss = sum(process.memory_info().rss for process in processes)
        assert summed_rss > 450 * MB  # what a plain RSS sum would wrongly report
        assert 100 * MB < tree_memory(parent.pid) < 250 * MB
    finally:
        parent.stdin.close()
        parent.wait(timeout=20)


def test_one_chapter_in_parallel_workers_prints_its_row_of_the_table():
    chapter = next(c for c in written() if c.number == "02")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-c", str(ROOT / "pyproject.toml"), "--rootdir", str(ROOT),
         "-n", "2", "--chapter", chapter.number],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:]
    table = result.stdout.split("time and memory per chapter")[1].splitlines()[1:-2]
    assert [row.split()[0] for row in table[1:]] == [chapter.slug], table  # this chapter and no other
    found = re.fullmatch(rf"{chapter.slug}\s+{THIS_PYTHON}\s+(\d+\.\d) s\s+(\d+\.\d) s\s+(\d+) MB", table[1])
    assert found and 30 < int(found.group(3)) < 1024, table
    code = sum(cell.cell_type == "code" for cell in nbformat.read(chapter.path, 4).cells)
    listed = collected("--chapter", chapter.number).stdout.splitlines()
    exercises = sum(line.startswith(EXERCISE_FILES) for line in listed)
    assert exercises >= 2 * sum(number.startswith(chapter.number + ".") for number in registered())
    assert f" {2 * code + exercises} passed" in result.stdout, result.stdout[-500:]


# --------------------------------------------------------------- other Pythons

OTHER = next((v for v in pythons.OTHERS if pythons.venv_python(pythons.venv_dir(ROOT, v)).exists()), None)
needs_other = pytest.mark.skipif(OTHER is None, reason="no .venv-3.12 or .venv-3.13 (course.py test builds them)")


def test_versions_are_chosen_by_name_or_all_found():
    assert pythons.parse("") is None and pythons.parse(" all ") is None
    assert pythons.parse("3.13, 3.12 3.13") == [pythons.REFERENCE, (3, 13), (3, 12)]
    assert pythons.parse("3.11") == [pythons.REFERENCE]
    for wrong in ("3", "three", "3.10"):
        with pytest.raises(ValueError, match=pythons.ENV):
            pythons.parse(wrong)


def test_an_interpreter_that_does_not_run_is_passed_over(tmp_path, monkeypatch):
    """A pyenv shim for a version pyenv has not selected is on PATH but fails: look further."""
    shims, versions = tmp_path / "shims", tmp_path / "pyenv" / "versions"
    shims.mkdir()
    shim = shims / "python3.12"
    shim.write_text("#!/bin/sh\necho 'pyenv: python3.12: command not found' >&2\nexit 127\n")
    for patch, answer in (("3.12.1", "3 12"), ("3.12.10", "3 12")):
        real = versions / patch / "bin" / "python3.12"
        real.parent.mkdir(parents=True)
        real.write_text(f"#!/bin/sh\necho {answer}\n")
    for path in [shim, *versions.glob("*/bin/python3.12")]:
        path.chmod(0o755)
    monkeypatch.setenv("PATH", str(shims))
    monkeypatch.setenv("PYENV_ROOT", str(versions.parent))
    assert pythons.candidates((3, 12))[:3] == [str(shim), str(versions / "3.12.10/bin/python3.12"),
                                               str(versions / "3.12.1/bin/python3.12")]
    assert pythons.find_interpreter((3, 12)) == str(versions / "3.12.10/bin/python3.12")  # newest patch
    assert pythons.find_interpreter((3, 14)) is None


def test_course_py_builds_no_other_environment_when_told_the_reference_only(monkeypatch):
    monkeypatch.setenv(pythons.ENV, "3.11")
    monkeypatch.setattr(course, "get_uv", lambda python: None)
    monkeypatch.setattr(course, "run", lambda *a, **k: pytest.fail("nothing to build"))
    assert course.ensure_other_venvs(course.venv_python()) == []
    monkeypatch.setenv(pythons.ENV, "3.99")
    with pytest.raises(SystemExit, match="asks for Python 3.99"):
        course.ensure_other_venvs(course.venv_python())


def test_a_python_without_its_environment_is_a_usage_error():
    result = collected("--pythons=3.99", "--chapter", "00")
    assert result.returncode == pytest.ExitCode.USAGE_ERROR, result.stdout + result.stderr
    assert ".venv-3.99" in result.stderr and "course.py test" in result.stderr


@needs_other
def test_a_chapter_runs_on_each_python_as_a_unit_of_its_own():
    version = pythons.label(OTHER)
    chapter = written()[0]
    result = collected("--chapter", chapter.number, f"--pythons={version}")
    assert result.returncode == 0, result.stdout + result.stderr
    ids = [line for line in result.stdout.splitlines() if line.startswith("notebooks/")]
    code = sum(cell.cell_type == "code" for cell in nbformat.read(chapter.path, 4).cells)
    other = [i for i in ids if f"::python{version}::" in i]
    assert other[0] == f"notebooks/{chapter.filename}::python{version}::Cell 0"
    assert len(other) == 2 * code and other[-1].endswith(f"Cell {code - 1} (second run)")
    assert len(ids) == 4 * code  # and the reference run, both times


@needs_other
def test_the_other_python_runs_the_notebook_in_its_own_kernel(tmp_path):
    """A notebook whose stored output is only true on the other version: one run fails, that one passes."""
    version = pythons.label(OTHER)
    checks = ("import sys, os\nprint(sys.version_info[:2], os.path.basename(os.environ.get('VIRTUAL_ENV', '')))",
              f"{OTHER} .venv-{version}\n")
    result = validate(notebook(tmp_path / "version.ipynb", checks), f"--pythons={version}", "-rA")
    assert result.returncode != 0 and "1 failed, 1 passed" in result.stdout, result.stdout[-2000:]
    assert re.search(rf"PASSED \S*version.ipynb::python{version}::Cell 0", result.stdout), result.stdout[-2000:]
    failed = [line for line in result.stdout.splitlines() if line.startswith("FAILED ")]
    assert len(failed) == 1 and "::Cell 0" in failed[0] and "python3" not in failed[0], failed  # the reference run

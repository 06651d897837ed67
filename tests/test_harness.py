"""The validation cannot lie: a hung notebook, a dead kernel or a wrong output fails the run.

Each test writes a throwaway notebook and runs the project's own pytest configuration
on it in a subprocess, with a short cell timeout, and looks at the exit code.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent


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


def validate(path: Path, *options: str, workers: int = 0) -> subprocess.CompletedProcess:
    """Run the project's validation (pyproject.toml's options) on one notebook, 3 s per cell.

    In this process (``workers=0``) by default; ``workers=1`` runs it as the parallel
    validation does, in an xdist worker.
    """
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-c", str(ROOT / "pyproject.toml"), "--rootdir", str(ROOT),
         "--nbval-cell-timeout=3", "-q", "-n", str(workers), *options, str(path)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
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
        result = validate(test_file)
        assert result.returncode != 0, result.stdout
        assert "left behind after the test session: child processes" in result.stdout
    finally:
        if pid_file.exists():
            try:
                os.kill(int(pid_file.read_text()), signal.SIGKILL)
            except ProcessLookupError:
                pass

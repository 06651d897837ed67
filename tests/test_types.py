"""The hints in helpers/, tools/ and course.py are checked: mypy finds nothing ([tool.mypy] in pyproject.toml).

mypy runs in a subprocess with its cache inside the virtual environment, so a second run is
quick, the checkout stays clean, and a new environment (new pins) starts from a cold cache.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHECKED = ("helpers", "tools", "course.py")  # also [tool.mypy] files, so a bare `mypy` checks the same
CACHE = Path(sys.prefix) / ".mypy_cache"
TIMEOUT = 280  # seconds: a cold run takes about 40 s on a loaded two-core machine, a warm one a few


def mypy(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mypy", "--cache-dir", str(CACHE), "--no-color-output", *args],
                          cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT)


@pytest.fixture(scope="module")
def course_run() -> subprocess.CompletedProcess[str]:
    """One run of a bare ``mypy`` in the checkout: the paths and settings come from pyproject.toml."""
    return mypy()


@pytest.mark.timeout(TIMEOUT + 20)
def test_mypy_finds_nothing(course_run):
    lines = course_run.stdout.splitlines()
    errors = [line for line in lines if ": error:" in line]
    clean = course_run.returncode == 0
    assert clean, "\n".join([*errors, *lines[-1:], course_run.stderr[-2000:]])


@pytest.mark.timeout(TIMEOUT + 20)
def test_mypy_checks_every_module_of_the_three_paths(course_run):
    """A check that read nothing would pass too: the count mypy prints is every file it was meant to read."""
    expected = sum(1 for name in CHECKED if name.endswith(".py")) + sum(
        1 for name in CHECKED if not name.endswith(".py") for _ in (ROOT / name).rglob("*.py"))
    counted = re.search(r"(?:checked|found in) (\d+) source files?", course_run.stdout)
    assert counted, course_run.stdout[-2000:] + course_run.stderr[-2000:]
    assert int(counted.group(1)) == expected


def test_mypy_applies_the_course_settings(tmp_path):
    """A wrong hint is caught, and so is a type error inside a function without hints (check_untyped_defs)."""
    (tmp_path / "bad.py").write_text(
        "def hinted(x: int) -> str:\n"
        "    return x\n"
        "\n"
        "def unhinted():\n"
        "    return 1 + ''\n")
    done = mypy("--config-file", str(ROOT / "pyproject.toml"), "bad.py", cwd=tmp_path)
    assert done.returncode == 1
    assert "bad.py:2: error" in done.stdout and "bad.py:5: error" in done.stdout, done.stdout + done.stderr

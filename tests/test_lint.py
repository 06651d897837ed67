"""The course's code is ruff-clean with the short rule set in pyproject.toml ([tool.ruff]).

Helpers, tools, tests, course.py, classroom/ and every notebook's code cells: what a learner reads and
what an instructor maintains follow the same rules.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHECKED = ("helpers", "tools", "tests", "notebooks", "course.py", "classroom")


def test_ruff_finds_nothing():
    done = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--output-format", "concise",
                           *CHECKED], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]


def test_ruff_reads_the_notebooks_and_the_course_rules(tmp_path):
    """A check that read nothing would pass too: prove it sees a notebook cell and applies the rules."""
    notebook = tmp_path / "bad.ipynb"
    notebook.write_text(
        '{"cells": [{"cell_type": "code", "execution_count": null, "id": "a", "metadata": {}, "outputs": [],'
        ' "source": ["import os\\n", "def f(id):\\n", "    return id\\n"]}],'
        ' "metadata": {}, "nbformat": 4, "nbformat_minor": 5}')
    done = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--output-format", "concise",
                           "--config", str(ROOT / "pyproject.toml"), str(notebook)],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "F401" in done.stdout and "A002" in done.stdout, done.stdout

"""Running a chapter top to bottom a second time, in the same kernel, prints the same again.

Learners re-run cells and whole chapters without restarting; servers must not collide,
tracers must not pile up events, nothing may depend on running only once.
"""

from __future__ import annotations

import copy
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbval.plugin import coalesce_streams, get_sanitize_patterns

from tools.chapters import NOTEBOOKS, written

PATTERNS = get_sanitize_patterns((Path(__file__).parent / "sanitize.cfg").read_text())


def printed(outputs) -> str:
    """The text nbval would compare: streams joined and sanitized as nbval does."""
    parts = []
    for output in coalesce_streams(copy.deepcopy(outputs)):
        if output.output_type == "stream":
            parts.append(f"{output.name}: {output.text}")
        elif output.output_type == "error":
            parts.append(f"error: {output.ename}: {output.evalue}")
        else:
            parts.append(f"data: {output.get('data', {}).get('text/plain', '')}")
    text = "\n".join(parts)
    for regex, replacement in PATTERNS:
        text = re.sub(regex, replacement, text)
    return text


@pytest.mark.parametrize("chapter", [
    pytest.param(chapter, id=chapter.slug, marks=pytest.mark.chapter(chapter.number, column="rerun"))
    for chapter in written()])
def test_a_second_run_in_the_same_kernel_prints_the_same(chapter, tmp_path):
    stored = nbformat.read(chapter.path, as_version=4)
    code = [cell for cell in stored.cells if cell.cell_type == "code"]
    twice = nbformat.v4.new_notebook(metadata=stored.metadata)
    again = copy.deepcopy(code)
    for number, cell in enumerate(again, 1):
        cell.id = f"again-{number}"
    twice.cells = copy.deepcopy(code) + again
    source, result = tmp_path / chapter.filename, tmp_path / "executed.ipynb"
    nbformat.write(twice, source)
    run = subprocess.run([sys.executable, "-m", "tools.build", "execute", str(source), str(result)],
                         cwd=NOTEBOOKS.parent, timeout=600, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    twice = nbformat.read(result, as_version=4)
    for number, (first, second) in enumerate(zip(twice.cells[:len(code)], twice.cells[len(code):]), 1):
        assert printed(second.outputs) == printed(first.outputs), f"code cell {number} differs on the second run"

"""Chapters 04 and 05 off Linux: the cells that need epoll, /proc or Linux's descriptor limits print
one line and skip, never crash.

The README invites macOS, whose hard descriptor limit is infinite (``RLIM_INFINITY``) while the
kernel keeps the soft one at or below its own maximum, and which has no ``select.epoll`` and no
``/proc``. These tests run the notebooks' own cells (their source, read from the notebook) with
those facts simulated: the limits through a fake ``resource`` under ``helpers._system``, epoll and
/proc through the flags the cells test (``HAVE_EPOLL``, ``HAVE_PROC``), and chapter 04's
fresh-interpreter program with its /proc file pointed at a path that does not exist.
"""

from __future__ import annotations

import json
import resource
import select
import socket
import tempfile
from pathlib import Path

import pytest

from helpers import _system, models, selectdemo
from tests.test_system import FakeLimits

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"

C10K_LAB = ["c05-83c54fb9", "c05-585a103e", "c05-460716a6", "c05-d28b8c63", "c05-66d3768d", "c05-dccbb11a",
            "c05-f199bf8d"]  # from the limits to the memory verdict (0-based cells 99 to 110 on main)
EPOLL_CELLS = ["c05-64454e4f", "c05-6a4c2c69", "c05-58657146", "c05-d4f4ba93", "c05-4def32f3"]


def cells(name: str) -> dict[str, str]:
    notebook = json.loads((NOTEBOOKS / name).read_text("utf-8"))
    return {cell["id"]: "".join(cell["source"]) for cell in notebook["cells"]}


def run_cell(source: str, namespace: dict, capsys: pytest.CaptureFixture[str], cell: str) -> str:
    exec(compile(source, cell, "exec"), namespace)  # noqa: S102 - the notebook's own cell
    return capsys.readouterr().out


@pytest.mark.chapter("05")
@pytest.mark.parametrize(("soft", "hard", "refuse_above"), [
    (256, resource.RLIM_INFINITY, 10_240),    # macOS: no hard limit, soft capped at OPEN_MAX
    (256, resource.RLIM_INFINITY, 100),       # macOS refusing every raise: the soft limit stays at 256
    (1024, 1024, None),                       # a system whose hard limit is low
])
def test_the_c10k_lab_cells_print_one_line_and_skip(monkeypatch, capsys, soft, hard, refuse_above):
    monkeypatch.setattr(_system, "resource", FakeLimits(soft, hard, refuse_above))
    source = cells("05_io_models.ipynb")
    namespace: dict = {"socket": socket}
    for cell in C10K_LAB:
        out = run_cell(source[cell], namespace, capsys, cell)
        assert out.startswith("skipped: ") and out.count("\n") == 1, (cell, out)


@pytest.mark.chapter("05")
def test_the_c10k_lab_runs_where_the_limits_fit(monkeypatch, capsys):
    monkeypatch.setattr(_system, "resource", FakeLimits(1024, 20_000))
    namespace: dict = {}
    out = run_cell(cells("05_io_models.ipynb")["c05-83c54fb9"], namespace, capsys, "c05-83c54fb9")
    assert namespace["SKIP"] == ""
    assert out == "soft limit raised to the hard limit: True\nenough for 10,000 server-side sockets: True\n"


@pytest.mark.chapter("05")
def test_the_epoll_cells_print_one_line_without_epoll(monkeypatch, capsys):
    monkeypatch.setattr(selectdemo, "HAVE_EPOLL", False)
    source = cells("05_io_models.ipynb")
    namespace: dict = {"socket": socket, "select": select, "tempfile": tempfile}
    assert run_cell(source["c05-cbb47053"], namespace, capsys, "c05-cbb47053") == ""  # defines epoll_read
    for cell in EPOLL_CELLS:
        assert run_cell(source[cell], namespace, capsys, cell) == selectdemo.NO_EPOLL + "\n", cell
    out = run_cell(source["c05-f37502e6"], namespace, capsys, "c05-f37502e6")  # regular files: select only
    assert out == "select says a regular file is readable and writable at once: True\n"


@pytest.mark.chapter("05")
def test_the_server_models_cell_prints_one_line_without_proc(monkeypatch, capsys):
    monkeypatch.setattr(models, "HAVE_PROC", False)
    out = run_cell(cells("05_io_models.ipynb")["c05-772aa3c0"], {}, capsys, "c05-772aa3c0")
    assert out == models.NO_PROC + "\n"


@pytest.mark.chapter("04")
@pytest.mark.parametrize(("statm", "memory_line"), [
    ("/nonexistent/proc/self/statm",
     "memory per sleeping greenlet: not measured here (it reads Linux's /proc, which this system lacks)"),
    ("/proc/self/statm", "memory per sleeping greenlet: a few KB at most (under 20 KB)"),  # as stored, on Linux
])
def test_the_ten_thousand_greenlets_program_runs_with_or_without_proc(capsys, statm: str, memory_line: str):
    source = cells("04_gevent.ipynb")["eeb8c2ac"]
    assert source.count('"/proc/self/statm"') == 1
    out = run_cell(source.replace('"/proc/self/statm"', f'"{statm}"'), {}, capsys, "eeb8c2ac")
    lines = out.splitlines()
    assert len(lines) == 3, out
    assert lines[0].startswith("10,000 greenlets sleeping 1 s at once took about 1× one sleep")
    assert lines[1] == memory_line
    assert lines[2].startswith("yes: a greenlet costs under 1 ms")

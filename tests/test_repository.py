"""Invariants of the stored course: every notebook as committed, the README and CI.

The notebook rules live in tools/notebooks.py (``problems``); the tests at the bottom
prove the rules catch what they must, on broken copies of a real chapter.
"""

from __future__ import annotations

import copy
import re
import subprocess
from pathlib import Path

import nbformat
import pytest

from tools.chapters import CHAPTERS, NOTEBOOKS, written
from tools.notebooks import normalise, problems

ROOT = NOTEBOOKS.parent
NOTEBOOK_FILES = sorted(NOTEBOOKS.glob("*.ipynb"))


def test_notebooks_are_the_chapter_list_in_order():
    assert NOTEBOOK_FILES, "no notebooks"
    assert [path.name for path in NOTEBOOK_FILES] == [chapter.filename for chapter in written()]
    assert [c.number for c in CHAPTERS] == [f"{n:02d}" for n in range(len(CHAPTERS))]


@pytest.mark.parametrize("path", NOTEBOOK_FILES, ids=lambda p: p.name)
def test_stored_notebook_keeps_the_rules(path):
    assert problems(path) == []


# --------------------------------------------------------------- the rules catch what they must

@pytest.fixture
def start_here(tmp_path):
    """A writable copy of chapter 00 under its own name, and a function to check an edit of it."""
    original = nbformat.read(NOTEBOOKS / CHAPTERS[0].filename, as_version=4)

    def check(edit) -> list[str]:
        nb = copy.deepcopy(original)
        edit(nb)
        path = tmp_path / CHAPTERS[0].filename
        nbformat.write(nb, path)
        return problems(path)

    return original, check


def code_cells(nb):
    return [cell for cell in nb.cells if cell.cell_type == "code"]


def test_the_copy_itself_is_fine(start_here):
    _, check = start_here
    assert check(lambda nb: None) == []


def test_an_error_output_is_caught(start_here):
    def add_error(nb):
        code_cells(nb)[0].outputs.append(nbformat.v4.new_output(
            "error", ename="ZeroDivisionError", evalue="division by zero", traceback=[]))
    assert any("stored an error (ZeroDivisionError: division by zero) but is not marked" in p
               for p in start_here[1](add_error))


def test_missing_outputs_are_caught(start_here):
    def clear(nb):
        for cell in code_cells(nb):
            cell.outputs, cell.execution_count = [], None
    assert any("execution counts" in p for p in start_here[1](clear))


def test_out_of_order_execution_is_caught(start_here):
    def swap(nb):
        cells = code_cells(nb)
        cells[0].execution_count, cells[1].execution_count = 2, 1
    assert any("execution counts" in p for p in start_here[1](swap))


def test_unnormalised_metadata_is_caught(start_here):
    def touch(nb):
        nb.metadata["language_info"]["version"] = "3.11.7"
        code_cells(nb)[0].metadata["execution"] = {"iopub.status.busy": "2026-11-22"}
    assert any("not normalised" in p for p in start_here[1](touch))


def test_stale_navigation_and_wrong_kernel_are_caught(start_here):
    def stale(nb):
        nb.cells[0].source = "[Contents](nowhere.ipynb)"
        nb.metadata["kernelspec"]["name"] = "python2"
    found = start_here[1](stale)
    assert any("navigation" in p for p in found) and any("kernelspec" in p for p in found)


def test_ignored_output_without_an_assertion_is_caught(start_here):
    def ignore(nb):
        cell = next(cell for cell in code_cells(nb) if "assert" not in cell.source)
        cell.source = "# NBVAL_IGNORE_OUTPUT\n" + cell.source
    assert any("asserts nothing" in p for p in start_here[1](ignore))


def test_a_cell_meant_to_raise_without_the_run_all_tag_is_caught(start_here):
    """Without the ``raises-exception`` tag, JupyterLab's Run All stops at that cell."""
    def untag(nb):
        cell = next(cell for cell in code_cells(nb) if cell.source.startswith("# NBVAL_RAISES_EXCEPTION"))
        assert "raises-exception" in cell.metadata["tags"]
        cell.metadata["tags"].remove("raises-exception")
    assert any("not normalised" in p for p in start_here[1](untag))


# --------------------------------------------------------------- answers are tagged (issue 24)

def prompt_fixture(*answer_tags: list[str]):
    """A small notebook: a "Predict" prompt, a cell that only defines, the answering cell, a check,
    then a "Spot the bug" prompt and its answering cell. ``answer_tags``: the tags of cells 2, 3, 5."""
    cells = [nbformat.v4.new_markdown_cell("**Predict, then run.** Which line comes first?"),
             nbformat.v4.new_code_cell("def order():\n    return ['a', 'b']", execution_count=1),
             nbformat.v4.new_code_cell("print(order())", execution_count=2),
             nbformat.v4.new_code_cell('check("00.1", order)', execution_count=3),
             nbformat.v4.new_markdown_cell("### Spot the bug: a missing return"),
             nbformat.v4.new_code_cell("print(len(order()))", execution_count=4)]
    cells[2].outputs = [nbformat.v4.new_output("stream", name="stdout", text="['a', 'b']\n")]
    cells[3].outputs = [nbformat.v4.new_output("stream", name="stdout", text="Exercise 00.1: solved!\n")]
    cells[5].outputs = [nbformat.v4.new_output("stream", name="stdout", text="2\n")]
    for cell, tags in zip((cells[2], cells[3], cells[5]), answer_tags):
        if tags:
            cell.metadata["tags"] = tags
    return nbformat.v4.new_notebook(cells=cells)


def test_every_prompt_of_the_stored_chapters_has_its_answer_tagged():
    """The learner's copies clear the outputs of ``answer`` cells: no prompt may leave its answer showing."""
    from tools.notebooks import unanswered_prompts
    found = {path.name: unanswered_prompts(nbformat.read(path, as_version=4)) for path in NOTEBOOK_FILES}
    assert {name: problems for name, problems in found.items() if problems} == {}


# What the two tests below check does not come from the rule that tags the answers
# (helpers.workspace.answer_cells): a prompt the rule fails to recognise, or an answering cell
# it leaves out, fails here.

# Markdown that mentions predicting or spotting a bug without asking the learner to do it now:
# a chapter's introduction ("after it you will be able to ... predict"), chapter 00's account
# of the course, and an experiment left to the learner that no cell of the chapter answers.
NOT_PROMPTS = (
    'deprecated APIs appear only as "spot the bug" exercises',  # 00: what the course is
    "the cell that answers each prediction starts empty",      # 00: running the course
    "and predict the print order",                              # 03's introduction
    "spot the bugs of the tutorials' servers",                  # 04's introduction
    "Try `workers=16`, and predict first",                      # 06: the learner's own experiment
    "and predict what happens to the *other* tasks",            # 07's introduction
    "the orders you will learn to predict in this chapter",     # 07: nested event loops
    "switching is cheap and predictable",                       # 10's introduction
    "predict how long they take",                               # 10's introduction
)
MENTIONS_A_PROMPT = re.compile(r"(?i)predict|spot\s+the\s+bug")


def test_every_mention_of_predict_or_spot_the_bug_is_a_prompt():
    """Read case- and whitespace-insensitively: a prompt the rule misses (say, "Spot the\\nbug") fails here."""
    from helpers.workspace import is_prompt
    missed, allowed_seen = [], set()
    for path in NOTEBOOK_FILES:
        for index, cell in enumerate(nbformat.read(path, as_version=4).cells):
            text = " ".join(cell.source.split())
            if cell.cell_type != "markdown" or not MENTIONS_A_PROMPT.search(text):
                continue
            for sentence in NOT_PROMPTS:
                if sentence in text:
                    allowed_seen.add(sentence)
                    text = text.replace(sentence, "")
            if MENTIONS_A_PROMPT.search(text) and not is_prompt(cell):
                missed.append(f"{path.name} cell {index}: {text[:80]!r}")
    assert missed == []
    assert set(NOT_PROMPTS) - allowed_seen == set(), "an allowed sentence is gone: drop it from NOT_PROMPTS"


# Every chapter's answer cells (tag ``answer``: their outputs are cleared in the learners'
# copies), by cell id, reviewed by reading each prompt and the cells up to the prose that
# answers it. A retag (a rule change, a new or moved prompt, an edited table in
# helpers/workspace.py) fails here until this list is updated, so it shows in review.
# The comment is the cell's first line of code.
REVIEWED_ANSWERS: dict[str, list[str]] = {
    "00_start_here": [
        "48d49cf5",  # tracer = Tracer()
        "6a4cb8f3",  # tracer.order()
        "44bf7e5d",  # tracer.timeline(title="two cooks, one stove")
        "e0a7a600",  # import threading
        "b1038f85",  # check("00.1", ...)
        "52785915",  # check("00.2", ...)
        "1eb71b58",  # show_progress()
    ],
    "01_generators": [
        "d007aa23",  # try:
        "c06fdfc1",  # def squares(n):
        "fba42492",  # def echo():
        "0d2a2112",  # from helpers.trace import Tracer
        "d29aca72",  # tracer.timeline(title="a steamer and two eaters, switching t
        "b61e6c01",  # check("01.1", ...)
        "a03c9af6",  # check("01.2", ...)
        "93a8d6a8",  # check("01.3", ...)
    ],
    "02_yield_from": [
        "7497c74b",  # def order(dish, count):
        "e123b36e",  # rows = compare(CASES, real, pep380)
        "852d0dd6",  # tracer = Tracer()
        "ccb45d56",  # tracer.timeline(title="round robin: two tasks, one thread")
        "a2aa5025",  # check("02.1", ...)
        "c9cfafb4",  # check("02.2", ...)
        "d9c58c90",  # check("02.3", ...)
    ],
    "03_greenlet": [
        "a6975ff0",  # from greenlet import greenlet
        "deefd8f9",  # main = greenlet.getcurrent()
        "4fa33409",  # def a_body():
        "cd5ad214",  # from helpers.trace import Tracer
        "c17bd447",  # from helpers.greenlets import trace_switches
        "995163fb",  # tracer.timeline(title="a tiny greenlet scheduler")
        "cebcec12",  # import time
        "2058760c",  # check("03.1", ...)
        "c876541a",  # check("03.2", ...)
        "729de2dd",  # check("03.3", ...)
    ],
    "04_gevent": [
        "fddb5826",  # from helpers.greenlets import trace_switches
        "bddd49a1",  # print(tracer)
        "d8e383a3",  # tracer.timeline(title="two counters and the hub")
        "99292b6c",  # tracer = Tracer()
        "28b0933b",  # tracer.timeline(clock="time", title="three nappers (seconds)
        "43e731c7",  # from helpers.timing import Stopwatch, about
        "eeb8c2ac",  # from helpers.fresh import run_program
        "38046e5a",  # from gevent.pool import Pool
        "373d40d2",  # tracer.timeline(clock="time", title="nine jobs in a pool of
        "7e4aceb3",  # balance = 0
        "6fb8aa13",  # SLEEPERS = '''
        "94e4b012",  # import socket
        "3b8e4b03",  # for host in ("127.0.0.1", "0.0.0.0"):
        "eb1de46c",  # with running_program(SERVER, args=["127.0.0.1", "0"]) as ser
        "2d9f9579",  # def spinning_echo(sock, address):
        "f760a1bf",  # from helpers.gservers import serve_one_client
        "e4eb2f2b",  # def printing_echo(sock, address):
        "d3706473",  # check("04.1", ...)
        "c0d95352",  # check("04.2", ...)
        "3cbc04bd",  # check("04.3", ...)
    ],
    "05_io_models": [
        "c05-ff4a83e5",  # import time
        "c05-bd6198e6",  # import select
        "c05-ed1efcf3",  # data, spins, busy_cpu, wall = measure(busy_wait)
        "c05-87d1eb39",  # from helpers.selectdemo import waiting_at_once
        "c05-cb537760",  # traces["synchronous"].timeline(clock="time", title="synchron
        "c05-750f3cf0",  # traces["threaded"].timeline(clock="time", title="threaded: t
        "c05-e07b276d",  # traces["event_driven"].timeline(clock="time", title="event-d
        "c05-d0f36a5e",  # from helpers.selectdemo import staged_clients
        "c05-08ac8b32",  # import contextlib
        "c05-186a5b1b",  # print(printed.getvalue().replace(hex(id(sys.stderr)), "0x...
        "c05-792a2d99",  # from helpers.selectdemo import rude_clients
        "c05-3cfbee87",  # with serve_in_thread(robust_select_server, send_buffer=4096,
        "c05-2b6af8ea",  # with serve_in_thread(tutorial_selectors_server) as server:
        "c05-f6421626",  # from helpers.selectdemo import stubborn_client
        "c05-dd2efd1f",  # with serve_in_thread(selectors_server, send_buffer=4096, rec
        "c05-64454e4f",  # WAYS = {"level-triggered, 1 KB per event": (False, False),
        "c05-6a4c2c69",  # if not HAVE_EPOLL:
        "c05-58657146",  # from helpers.models import compare_triggers
        "c05-f1fe5351",  # import socket
        "c05-179fe12f",  # from helpers.filexfer import ask, frame
        "c05-460716a6",  # import select
        "c05-d4f4ba93",  # from helpers.models import compare_waits
        "c05-4def32f3",  # waits.plot() if HAVE_EPOLL else print(NO_EPOLL)
        "c05-af4eaf82",  # check("05.1", ...)
        "c05-81d0b88a",  # check("05.2", ...)
        "c05-041fe498",  # check("05.3", ...)
    ],
    "06_event_loop": [
        "2c4e7766",  # def countdown(loop, name, count, said):
        "4f587feb",  # from helpers.timing import Stopwatch, about
        "10cf661e",  # def main(loop, address):
        "ccc8f06b",  # with slow_site(delay=0.05) as site:
        "662a478a",  # from helpers.swarm import echo_payloads, swarm
        "779c9048",  # paths = [f"/page/{number}" for number in range(1, 11)]
        "44e573d4",  # with slow_site(delay=0.25, chapters=10) as site, homeloop.Lo
        "c878c7dc",  # tracer = Tracer()
        "e7d81a43",  # tracer.timeline(title="a client and an echo task on the home
        "fdacf520",  # ours = Tracer()
        "c0bd5401",  # check("06.1", ...)
        "e5442f59",  # check("06.2", ...)
        "55e35458",  # check("06.3", ...)
        "7ae44187",  # check("06.4", ...)
    ],
    "07_asyncio_tasks": [
        "509504da",  # async def ready_answer():
        "3ba391ef",  # async def burn(seconds):
        "037eeb2a",  # tracer.timeline(title="gather raised, and the others went on
        "75985617",  # tracer = Tracer()
        "39682436",  # async def download(mirror, seconds):
        "47b83c66",  # async def first_of(mirrors):
        "7223a43f",  # tracer.timeline(title="first of three mirrors, the others ca
        "e5a878e9",  # print("CancelledError is an Exception:    ", issubclass(asyn
        "88fbdb9e",  # async def save_to(disk):
        "6adea8d6",  # tracer = Tracer()
        "2b0257b9",  # import contextvars
        "7211935f",  # log = []
        "d9e4666c",  # PUZZLE = '''
        "111195d4",  # import contextlib
        "2097dd6b",  # check("07.1", ...)
        "e87b953c",  # check("07.2", ...)
        "8c05a9d5",  # check("07.3", ...)
    ],
    "08_asyncio_streams": [
        "675cba17",  # async def say_poem(port):
        "18492c11",  # from helpers.timing import Stopwatch, about
        "protocol-code",  # class Shout(asyncio.Protocol):
        "77d3b305",  # import time
        "9888adc1",  # def sources_save(folder, page):
        "8ed5aa02",  # async def sources_crawl(urls, limit, folder):
        "637320fc",  # book.tracer.timeline(clock="time", title="the site's view of
        "capacity-code",  # from helpers.limits import limit_verdict
        "c00ebc8d",  # book.stop()
        "791987f9",  # check("08.1", ...)
        "87b48b22",  # check("08.2", ...)
        "c7d59761",  # check("08.3", ...)
    ],
    "09_asyncio_sync": [
        "d4df9f07",  # cache = {}
        "440adf96",  # log = []
        "467c05eb",  # def every_url_the_same_lock():
        "c7b485ef",  # import functools
        "40adfda1",  # async def add_async(times, switch_between):
        "00210e03",  # gate = asyncio.Semaphore(5)
        "e9e6d059",  # tracer.timeline(clock="time", title="Semaphore(5): 20 calls
        "212705b1",  # for kind in (asyncio.Queue, asyncio.LifoQueue, asyncio.Prior
        "41169b72",  # async def worker(queue, done, flying):
        "4ff65531",  # tracer.timeline(clock="time", title="3 workers, 9 jobs, a se
        "bounded-code",  # async def produce(queue, count, sizes):
        "0ba51599",  # check("09.1", ...)
        "4fb84bd2",  # check("09.2", ...)
        "0b3a7cfb",  # check("09.3", ...)
        "46fd78a3",  # check("09.4", ...)
    ],
    "10_processes": [
        "0fd1d808",  # def report(queue, parent_pid, x):
        "8f5d647f",  # def add_one_racy(counter, barrier):
        "cc4eee1e",  # unit = 0.2
        "488318e3",  # calls = []
        "17c51f4d",  # NO_GUARD = '''
        "17f4db2b",  # race = procs.core_race(procs.burn_for, jobs=len(jobs))
        "5456b38c",  # for job in (procs.hash_for, procs.hash_small_for):
        "f8d4601d",  # check("10.1", ...)
        "823307fb",  # check("10.2", ...)
        "3c797c7d",  # check("10.3", ...)
    ],
    "11_showdown": [
        "6894aec1",  # sleep_report = sleepers(SETTING)
        "dc48968d",  # sleep_report.plot()
        "cfc44579",  # switch_report = switch_costs(SETTING)
        "e58cb0bc",  # switch_report.plot()
        "d1cdb24c",  # print(switch_report.claim_no_overhead())
        "4ce8f14e",  # check("11.1", ...)
        "64c9e4b4",  # check("11.2", ...)
        "2a3472f9",  # check("11.3", ...)
    ],
}


@pytest.mark.parametrize("path", NOTEBOOK_FILES, ids=lambda p: p.name)
def test_the_answer_cells_are_the_reviewed_ones(path):
    from helpers.workspace import ANSWER_TAG
    cells = nbformat.read(path, as_version=4).cells
    tagged = [cell.id for cell in cells if ANSWER_TAG in cell.metadata.get("tags", [])]
    reviewed = REVIEWED_ANSWERS[path.stem]
    first_lines = {cell.id: cell.source.strip().split("\n")[0][:60] for cell in cells}
    assert {"tagged, not reviewed": [(i, first_lines[i]) for i in tagged if i not in reviewed],
            "reviewed, not tagged": [(i, first_lines.get(i, "(no such cell)")) for i in reviewed if i not in tagged]
            } == {"tagged, not reviewed": [], "reviewed, not tagged": []}


def test_the_extra_answers_name_cells_of_their_own_chapter():
    """helpers.workspace.EXTRA_ANSWERS: each id is a code cell of that chapter, and of no other."""
    from helpers.workspace import EXTRA_ANSWERS
    ids = {path.stem: {cell.id: cell.cell_type for cell in nbformat.read(path, as_version=4).cells}
           for path in NOTEBOOK_FILES}
    assert set(EXTRA_ANSWERS) <= set(ids)
    for stem, extra in EXTRA_ANSWERS.items():
        assert all(ids[stem].get(cell_id) == "code" for cell_id in extra), stem
        assert not any(cell_id in cells for other, cells in ids.items() if other != stem for cell_id in extra), stem


def test_a_prompt_whose_answer_is_untagged_is_caught():
    from tools.notebooks import unanswered_prompts
    assert unanswered_prompts(prompt_fixture(["answer"], ["answer"], ["answer"])) == []
    found = unanswered_prompts(prompt_fixture(["answer"], ["answer"], []))
    assert len(found) == 1 and found[0].startswith("cell 4 asks the learner to predict or spot a bug"), found
    found = unanswered_prompts(prompt_fixture([], [], ["answer"]))
    assert [problem[:7] for problem in found] == ["cell 0 ", "cell 3 "], found
    assert found[1] == "cell 3 checks an exercise and is not tagged 'answer'"


def test_normalise_tags_the_answers_by_the_rule_and_keeps_other_tags():
    """The rule skips a cell that shows nothing (it only defines); raises-exception stays; not-answer opts out."""
    from tools.notebooks import unanswered_prompts
    nb = prompt_fixture(["raises-exception"], [], [])
    normalise(nb)
    assert [cell.metadata.get("tags", []) for cell in nb.cells] == [
        [], [], ["raises-exception", "answer"], ["answer"], [], ["answer"]]
    assert unanswered_prompts(nb) == []
    opted_out = prompt_fixture(["not-answer"], [], [])
    normalise(opted_out)  # the author says cell 2 is not the answer: the rule takes the next that shows
    assert [cell.metadata.get("tags", []) for cell in opted_out.cells[1:4]] == [[], ["not-answer"], ["answer"]]


def test_normalise_is_idempotent(start_here):
    original, _ = start_here
    once = copy.deepcopy(original)
    normalise(once)
    twice = copy.deepcopy(once)
    normalise(twice)
    assert once == twice == original


# --------------------------------------------------------------- README, CI, boundaries

def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return re.findall(r"^\s*(python3 course\.py \w+)\s*$", text, re.M)


def test_readme_gives_the_two_commands_and_ci_runs_what_it_documents():
    commands = readme_commands()
    assert "python3 course.py lab" in commands and "python3 course.py test" in commands
    ci = (ROOT / ".ci" / "run").read_text()
    runs = re.findall(r"^\s*(python3 course\.py \w+)", ci, re.M)
    assert runs == ["python3 course.py test", "python3 course.py site", "python3 course.py browser",
                    "python3 course.py classroom"], runs
    assert set(runs) <= set(commands), "CI runs a command the README does not document"


def test_binder_badge_opens_the_learners_copy_of_chapter_00_in_jupyterlab():
    """binder/postBuild makes the copies (helpers.workspace); the badge opens chapter 00's."""
    text = (ROOT / "README.md").read_text()
    assert re.search(r"mybinder\.org/v2/gh/[^)\s]+\?urlpath=lab/tree/workspace/00_start_here\.ipynb", text)
    assert "python -m helpers.workspace sync" in (ROOT / "binder" / "postBuild").read_text()


def test_the_learners_workspace_is_ignored_by_git():
    ignored = subprocess.run(["git", "check-ignore", "-q", "workspace/00_start_here.ipynb"], cwd=ROOT)
    assert ignored.returncode == 0


def test_nothing_reads_the_steering_folder():
    """../shared exists beside developers' checkouts only, never beside a learner's."""
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    offenders = [name for name in tracked if name != "tests/test_repository.py"
                 and (ROOT / name).is_file() and "../shared" in (ROOT / name).read_text(errors="ignore")]
    assert offenders == []


def test_normalise_joins_a_print_that_arrived_in_two_pieces():
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("print('hello'); display(1); print('again')", execution_count=1)
    cell.outputs = [
        nbformat.v4.new_output("stream", name="stdout", text="hello"),
        nbformat.v4.new_output("stream", name="stdout", text="\n"),
        nbformat.v4.new_output("execute_result", data={"text/plain": "1"}, execution_count=1),
        nbformat.v4.new_output("stream", name="stdout", text="again\n"),
    ]
    nb.cells = [cell]
    normalise(nb)
    assert [(out.output_type, out.get("text")) for out in nb.cells[0].outputs] == [
        ("stream", "hello\n"), ("execute_result", None), ("stream", "again\n")]


def test_stored_metadata_is_what_jupyterlab_writes_but_the_version():
    """JupyterLab marks a notebook modified unless language_info is exactly its kernel's (tests/browser/)."""
    from helpers._lab import with_kernel_version
    from tools.notebooks import CANONICAL_METADATA

    kernel = {"name": "python", "version": "3.12.1", "mimetype": "text/x-python", "file_extension": ".py",
              "codemirror_mode": {"name": "ipython", "version": 3}, "pygments_lexer": "ipython3",
              "nbconvert_exporter": "python"}  # ipykernel's kernel_info reply, as JupyterLab stores it
    assert CANONICAL_METADATA["language_info"] == {key: kernel[key] for key in kernel if key != "version"}
    model = {"type": "notebook", "content": {"metadata": copy.deepcopy(CANONICAL_METADATA), "cells": []}}
    assert with_kernel_version(model, "3.12.1")["content"]["metadata"]["language_info"] == kernel
    assert with_kernel_version(model, "3.13.0")["content"]["metadata"]["language_info"]["version"] == "3.12.1"
    assert with_kernel_version({"type": "file", "content": "x"}) == {"type": "file", "content": "x"}


# --------------------------------------------------------------- the helpers' map (helpers/__init__.py)

HELPERS = ROOT / "helpers"
MAP_GROUPS = {"Imported by the notebooks": "notebooks", "Imported only by other helpers": "helpers",
              "Run as programs": "programs", "Imported by the course's tooling": "tooling"}


def helpers_map() -> dict[str, list[str]]:
    """The map in helpers/__init__.py's docstring: group ("notebooks", "helpers", ...) -> the names it lists."""
    import helpers

    groups: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in (helpers.__doc__ or "").splitlines():
        heading = next((group for start, group in MAP_GROUPS.items() if line.startswith(start)), None)
        if heading is not None:
            current = groups.setdefault(heading, [])
        elif current is not None and (entry := re.match(r" {4}(\w+) ", line)):
            current.append(entry.group(1))
    return groups


def helper_modules() -> set[str]:
    """helpers' own modules and subpackages, by name."""
    return ({path.stem for path in HELPERS.glob("*.py") if path.name != "__init__.py"}
            | {path.parent.name for path in HELPERS.glob("*/__init__.py")})


def imported_helpers(sources: dict[str, str]) -> dict[str, set[str]]:
    """helper module -> the sources (name -> text) that import it (``from helpers.x import``, ``import helpers.x``,
    ``from helpers import x``), a module importing itself aside."""
    found: dict[str, set[str]] = {}
    for name, text in sources.items():
        for line in text.splitlines():
            match = re.match(r"\s*(?:from helpers\.(\w+)[\w.]* import|import helpers\.(\w+)|from helpers import (.+))",
                             line)
            if not match:
                continue
            modules = [match.group(1) or match.group(2)] if not match.group(3) else [
                part.split(" as ")[0].strip(" ()") for part in match.group(3).split("#")[0].split(",")]
            for module in modules:
                if module and module != Path(name).stem:
                    found.setdefault(module, set()).add(name)
    return found


def notebook_sources() -> dict[str, str]:
    return {path.name: "\n".join(cell.source for cell in nbformat.read(path, 4).cells if cell.cell_type == "code")
            for path in NOTEBOOK_FILES}


def helper_sources() -> dict[str, str]:
    return {path.relative_to(HELPERS).as_posix(): path.read_text() for path in HELPERS.rglob("*.py")}


def test_the_helpers_map_lists_every_module_once():
    assert set(helpers_map()) == set(MAP_GROUPS.values()), "a heading of the map was renamed"
    listed = [name for names in helpers_map().values() for name in names]
    missing, gone = helper_modules() - set(listed), set(listed) - helper_modules()
    twice = {name for name in listed if listed.count(name) > 1}
    assert not (missing or gone or twice), f"not in the map: {missing}; no such module: {gone}; listed twice: {twice}"


def test_the_helpers_map_says_truly_who_imports_each_module():
    groups = helpers_map()
    by_notebooks = imported_helpers(notebook_sources())
    by_helpers = imported_helpers(helper_sources())
    tooling = (ROOT / "course.py").read_text() + "".join(path.read_text() for path in (ROOT / "tools").glob("*.py"))
    unlisted = set(by_notebooks) & helper_modules() - set(groups["notebooks"])
    unused = set(groups["notebooks"]) - set(by_notebooks)
    assert not (unlisted or unused), f"imported by notebooks, not so mapped: {unlisted}; mapped, not imported: {unused}"
    for module in groups["helpers"]:
        assert module in by_helpers and module not in by_notebooks, module
    assert groups["programs"] == ["children"], "the programs live in helpers/children/, one package"
    outside = {name: text for name, text in helper_sources().items() if not name.startswith("children/")}
    assert "children" not in by_notebooks and "children" not in imported_helpers(outside)
    programs = sorted((HELPERS / "children").glob("[!_]*.py"))
    assert programs, "helpers/children/ holds no program"
    for program in programs:  # each one a program, imported by nobody: run with python -m
        assert 'if __name__ == "__main__":' in program.read_text(), program.name
        importing = rf"helpers\.children\.{program.stem}\b\s+import|import helpers\.children\.{program.stem}\b"
        everything = "".join([*helper_sources().values(), *notebook_sources().values()])
        assert not re.search(importing, everything), program.name
    for module in groups["tooling"]:
        assert module not in by_notebooks and module not in by_helpers and f"helpers.{module}" in tooling, module

"""The learner's workspace (helpers/workspace.py): copies, updates that never lose work, reset, progress.

A "course" here is a small folder of chapter notebooks the test writes, changed between two
syncs to simulate a ``git pull``; the real chapters are used where the rule on them matters.
"""

from __future__ import annotations

import asyncio
import copy
import json
import os
import subprocess
import sys

import nbformat
import pytest

from helpers import workspace as ws
from tools.chapters import NOTEBOOKS

ROOT = NOTEBOOKS.parent


def chapter(title: str, answer_output: str = "4\n", extra: str = "") -> nbformat.NotebookNode:
    """A tiny chapter: prose, a cell with output, a "Predict" prompt and its answering cell, a check."""
    cells = [nbformat.v4.new_markdown_cell(f"# {title}\n{extra}"),
             nbformat.v4.new_code_cell("print('hello')", execution_count=1),
             nbformat.v4.new_markdown_cell("**Predict, then run.** What is 2 + 2?"),
             nbformat.v4.new_code_cell("print(2 + 2)", execution_count=2),
             nbformat.v4.new_code_cell(f'check("{title[:2]}.1", ...)', execution_count=3)]
    cells[1].outputs = [nbformat.v4.new_output("stream", name="stdout", text="hello\n")]
    cells[3].outputs = [nbformat.v4.new_output("stream", name="stdout", text=answer_output)]
    verdict = f"Exercise {title[:2]}.1: not solved yet.\n"
    cells[4].outputs = [nbformat.v4.new_output("stream", name="stdout", text=verdict)]
    nb = nbformat.v4.new_notebook(cells=cells)
    for number, cell in enumerate(nb.cells):
        cell.id = f"cell{number}"
    return nb


@pytest.fixture
def course(tmp_path):
    """A course folder with chapters 00 and 01, and an empty place for the workspace."""
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    nbformat.write(chapter("00 · Start"), notebooks / "00_start.ipynb")
    nbformat.write(chapter("01 · Next"), notebooks / "01_next.ipynb")
    return notebooks, tmp_path / "workspace"


def read(path) -> dict:
    return json.loads(path.read_text())


def outputs(nb: dict) -> list[list]:
    return [cell.get("outputs") for cell in nb["cells"] if cell["cell_type"] == "code"]


def edit(path, number: int, source: str) -> None:
    nb = read(path)
    nb["cells"][number]["source"] = source
    path.write_text(json.dumps(nb))


def run_cells(path) -> None:
    """What running a chapter does to the file: outputs and counts change, sources do not."""
    nb = read(path)
    for count, cell in enumerate((c for c in nb["cells"] if c["cell_type"] == "code"), 1):
        cell["execution_count"] = count
        cell["outputs"] = [{"output_type": "stream", "name": "stdout", "text": f"ran {count}\n"}]
    path.write_text(json.dumps(nb))


# --------------------------------------------------------------------------- first use

def test_first_use_makes_a_copy_of_every_chapter_with_the_answers_cleared(course):
    notebooks, workspace = course
    notices = ws.sync(workspace, notebooks)
    assert notices == [f"made your own copies of 2 chapters in {workspace} "
                       "(the course's stored chapters stay in notebooks/)"]
    assert sorted(path.name for path in workspace.glob("*.ipynb")) == ["00_start.ipynb", "01_next.ipynb"]
    copy_ = read(workspace / "00_start.ipynb")
    stored = read(notebooks / "00_start.ipynb")
    # The demo keeps its output (the chapter reads before it runs); the answer and the check are empty.
    assert outputs(copy_) == [outputs(stored)[0], [], []]
    assert [cell.get("execution_count") for cell in copy_["cells"] if cell["cell_type"] == "code"] == [1, None, None]
    assert copy_["metadata"] == stored["metadata"] and ws.sources(copy_) == ws.sources(stored)
    assert ws.find_workspace(workspace) == workspace and ws.find_workspace(notebooks) is None
    assert ws.sync(workspace, notebooks) == []  # nothing changed: nothing to say, nothing written


def test_the_real_chapters_copies_hide_every_answer_and_keep_the_rest(tmp_path):
    workspace = tmp_path / "workspace"
    ws.sync(workspace, NOTEBOOKS)
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        stored, made = read(path), read(workspace / path.name)
        answers = set(ws.answer_cells(stored["cells"]))
        assert answers, path.name
        for number, (old, new) in enumerate(zip(stored["cells"], made["cells"])):
            if old["cell_type"] != "code":
                assert old == new
            elif number in answers:
                assert new["outputs"] == [] and new["execution_count"] is None and "answer" in new["metadata"]["tags"]
            else:
                assert new == old, (path.name, number)
    # chapter 00's first "Predict, then run" prompt: its answering cell opens empty.
    cells = read(workspace / "00_start_here.ipynb")["cells"]
    prompt = next(number for number, cell in enumerate(cells) if "**Predict, then run.**" in ws._source(cell))
    answer = next(number for number in range(prompt + 1, len(cells)) if cells[number]["cell_type"] == "code"
                  and read(NOTEBOOKS / "00_start_here.ipynb")["cells"][number]["outputs"])
    assert cells[answer]["outputs"] == []


def test_the_rule_reads_wrapped_prompts_and_takes_every_code_cell_up_to_the_prose(monkeypatch):
    """A prompt split over two lines is a prompt; the answer's timeline and the listed extras are answers too."""
    def code(source, cell_id, shows=True):
        cell = nbformat.v4.new_code_cell(source, execution_count=1)
        cell.id = cell_id
        if shows:
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="shown\n")]
        return cell
    cells = [nbformat.v4.new_markdown_cell("This script starts a pool. **Spot the\nbug**, then run it."),
             code("def f(): ...", "defines", shows=False),
             code("print(run())", "answer"),
             code("tracer.timeline()", "timeline"),
             code("print(tracer)", "opted-out"),
             code("tracer.order()", "also"),
             nbformat.v4.new_markdown_cell("What happened: ..."),
             code("tracer.timeline(clock='time')", "extra"),
             code("print('unrelated')", "unrelated"),
             nbformat.v4.new_markdown_cell("**05.1 Predict the order.** Write it down."),
             code("my_order = ...\ncheck('05.1', my_order)", "check"),
             code("print('after the check')", "after-check")]
    cells[4].metadata["tags"] = ["not-answer"]
    monkeypatch.setattr(ws, "_EXTRA_IDS", frozenset({"extra"}))
    assert ws.is_prompt(cells[0])
    picked = [cells[index].id for index in ws.answer_cells(cells)]
    assert picked == ["answer", "timeline", "also", "extra", "check"]
    once = copy.deepcopy(cells)
    ws.tag_answers(once)
    twice = copy.deepcopy(once)
    ws.tag_answers(twice)
    assert once == twice  # idempotent: normalise can run any number of times
    made = ws.learner_copy(nbformat.v4.new_notebook(cells=cells))
    assert [cell.get("outputs") == [] for cell in made["cells"] if cell["cell_type"] == "code"] == [
        True, True, True, False, True, True, False, True, False]  # "defines" showed nothing anyway


# --------------------------------------------------------------------------- a new course version

def test_an_update_replaces_unedited_chapters_keeps_edited_ones_and_adds_new_ones(course):
    notebooks, workspace = course
    ws.sync(workspace, notebooks)
    edit(workspace / "00_start.ipynb", 1, "print('my own words')")  # the learner edits chapter 00
    run_cells(workspace / "01_next.ipynb")                          # and only runs chapter 01
    # The course changes both chapters and adds chapter 02 (a git pull).
    nbformat.write(chapter("00 · Start", extra="A new paragraph."), notebooks / "00_start.ipynb")
    nbformat.write(chapter("01 · Next", extra="Clearer."), notebooks / "01_next.ipynb")
    nbformat.write(chapter("02 · More"), notebooks / "02_more.ipynb")

    notices = ws.sync(workspace, notebooks)

    beside = sorted(path.name for path in workspace.glob("00_start.new-*.ipynb"))
    assert len(beside) == 1
    assert notices == [f"00_start.ipynb: kept (you edited it); the course's new version is beside it: {beside[0]}",
                       "01_next.ipynb: updated to the course's new version",
                       "02_more.ipynb: a new chapter"]
    mine = read(workspace / "00_start.ipynb")
    assert ws._source(mine["cells"][1]) == "print('my own words')"
    assert "A new paragraph." in ws._source(read(workspace / beside[0])["cells"][0])
    assert "Clearer." in ws._source(read(workspace / "01_next.ipynb")["cells"][0])
    assert (workspace / "02_more.ipynb").exists()
    # Once offered, the same version is not offered again; the edit still survives.
    assert ws.sync(workspace, notebooks) == []
    assert ws._source(read(workspace / "00_start.ipynb")["cells"][1]) == "print('my own words')"


def test_nothing_is_deleted_a_deleted_chapter_comes_back_and_a_file_of_the_learners_is_kept(course):
    notebooks, workspace = course
    ws.sync(workspace, notebooks)
    (workspace / "my_notes.ipynb").write_text("{}")
    (workspace / "01_next.ipynb").unlink()                 # the learner deletes a chapter to start over
    (notebooks / "00_start.ipynb").unlink()                # the course drops a chapter
    mine = chapter("02 · Mine")                            # the learner wrote a file the course adds later
    nbformat.write(mine, workspace / "02_more.ipynb")
    nbformat.write(chapter("02 · More"), notebooks / "02_more.ipynb")
    notices = ws.sync(workspace, notebooks)
    assert notices[0] == "01_next.ipynb: a fresh copy (it was not in your workspace)"
    assert notices[1].startswith("02_more.ipynb: kept (a file of yours has its name); "
                                 "the course's new version is beside it")
    assert (workspace / "00_start.ipynb").exists() and (workspace / "my_notes.ipynb").read_text() == "{}"
    assert "Mine" in ws._source(read(workspace / "02_more.ipynb")["cells"][0])


def test_only_new_stored_outputs_update_an_edited_chapter_silently(course):
    """The course re-ran a chapter (outputs changed, no source did): nothing to offer an edited copy."""
    notebooks, workspace = course
    ws.sync(workspace, notebooks)
    edit(workspace / "00_start.ipynb", 1, "print('mine')")
    nbformat.write(chapter("00 · Start", answer_output="four\n"), notebooks / "00_start.ipynb")
    nb = nbformat.read(notebooks / "00_start.ipynb", as_version=4)
    nb.cells[1].outputs[0].text = "hello again\n"
    nbformat.write(nb, notebooks / "00_start.ipynb")
    assert ws.sync(workspace, notebooks) == []
    assert ws._source(read(workspace / "00_start.ipynb")["cells"][1]) == "print('mine')"


# --------------------------------------------------------------------------- reset

def test_reset_gives_a_fresh_copy_and_keeps_the_old_one_as_a_backup(course):
    notebooks, workspace = course
    ws.sync(workspace, notebooks)
    edit(workspace / "00_start.ipynb", 1, "print('broken beyond repair')")
    notice = ws.reset("00_start.ipynb", workspace, notebooks)
    backups = list(workspace.glob("00_start.backup-*.ipynb"))
    assert len(backups) == 1 and notice == f"00_start.ipynb: a fresh copy; your old copy is {backups[0].name}"
    assert ws._source(read(backups[0])["cells"][1]) == "print('broken beyond repair')"
    assert read(workspace / "00_start.ipynb") == ws.learner_copy(read(notebooks / "00_start.ipynb"))
    # The fresh copy counts as never edited: the next course version replaces it.
    nbformat.write(chapter("00 · Start", extra="v2"), notebooks / "00_start.ipynb")
    assert ws.sync(workspace, notebooks) == ["00_start.ipynb: updated to the course's new version"]
    ws.reset("00_start.ipynb", workspace, notebooks)  # twice: a second backup, the first kept
    assert len(list(workspace.glob("00_start.backup-*.ipynb"))) == 2
    with pytest.raises(FileNotFoundError):
        ws.reset("07_nothing.ipynb", workspace, notebooks)


# --------------------------------------------------------------------------- progress

def test_progress_records_attempts_solutions_and_hints_and_shows_a_table(course, capsys):
    notebooks, workspace = course
    ws.sync(workspace, notebooks)
    ws.record("00.1", status="unsolved", workspace=workspace)  # the stub, run: seen, not attempted
    table = ws.progress_table(workspace, notebooks)
    assert table.splitlines()[1].split() == ["00_start", "1", "0", "0", "0"]
    ws.record("00.1", status="wrong", workspace=workspace)
    ws.record("00.1", hints=1, workspace=workspace)
    ws.record("00.1", status="solved", workspace=workspace)
    assert ws.load_progress(workspace)[0]["exercises"]["00.1"] == {
        "attempts": 2, "solved": True, "hints": 1, "last": "solved"}
    rows = [line.split() for line in ws.progress_table(workspace, notebooks).splitlines()]
    assert rows == [["chapter", "exercises", "attempted", "solved", "hints"],
                    ["00_start", "1", "1", "1", "1"], ["01_next", "1", "0", "0", "0"], ["all", "2", "1", "1", "1"]]


GARBAGE = ["{not json", '["a list"]', '{"exercises": {"00.1": 3}}', "",
           # well-formed JSON, values the course never writes
           '{"exercises": {"00.1": {"hints": "two"}}}', '{"exercises": {"00.1": {"attempts": -1}}}',
           '{"exercises": {"00.1": {"attempts": true}}}', '{"exercises": {"00.1": {"solved": "yes"}}}',
           '{"exercises": {"00.1": {"hints": 1.5, "last": 3}}}']


@pytest.mark.parametrize("garbage", GARBAGE)
def test_a_corrupt_progress_file_is_set_aside_with_a_note_and_rebuilt(course, garbage):
    notebooks, workspace = course
    ws.sync(workspace, notebooks)
    path = workspace / ".switchyard" / "progress.json"
    path.write_text(garbage)
    note = ws.record("00.1", status="wrong", workspace=workspace)
    aside = list(path.parent.glob("progress.json.unreadable-*"))
    assert len(aside) == 1 and aside[0].read_text() == garbage  # kept, never deleted
    assert note == f"(progress: progress.json was unreadable; kept it as {aside[0].name}, started a new one)"
    assert ws.load_progress(workspace) == ({"version": 1, "exercises": {"00.1": {
        "attempts": 1, "solved": False, "hints": 0, "last": "wrong"}}}, None)


@pytest.mark.parametrize("garbage", GARBAGE[-5:])
def test_bad_values_never_break_the_table_the_progress_cell_or_course_py_progress(course, garbage, monkeypatch,
                                                                                 capsys):
    """The table (course.py progress, chapter 00's cell) sets the file aside too, and the next check records."""
    notebooks, workspace = course
    ws.sync(workspace, notebooks)
    path = workspace / ".switchyard" / "progress.json"
    path.write_text(garbage)
    monkeypatch.chdir(workspace)
    ws.show_progress()  # chapter 00's progress cell (a table of the real chapters)
    lines = capsys.readouterr().out.splitlines()
    aside = list(path.parent.glob("progress.json.unreadable-*"))
    assert len(aside) == 1 and aside[0].read_text() == garbage
    assert lines[0] == f"(progress: progress.json was unreadable; kept it as {aside[0].name}, started a new one)"
    assert lines[1].split()[0] == "chapter" and lines[-1].split()[0] == "all"
    assert ws.record("00.1", hints=2, workspace=workspace) is None  # the next check records, no note
    assert ws.load_progress(workspace)[0]["exercises"]["00.1"]["hints"] == 2
    path.write_text(garbage)  # and course.py progress, in a fresh interpreter with no environment
    done = subprocess.run([sys.executable, "-S", str(ROOT / "course.py"), "progress"], capture_output=True, text=True,
                          env=dict(os.environ, SWITCHYARD_WORKSPACE=str(workspace)), timeout=60)
    assert done.returncode == 0 and "was unreadable" in done.stdout.splitlines()[0], done.stderr
    assert done.stdout.splitlines()[-1].split()[0] == "all"


def test_show_progress_prints_one_stable_line_outside_a_workspace(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(NOTEBOOKS)
    ws.show_progress()
    assert capsys.readouterr().out == ws.NO_WORKSPACE + "\n"
    workspace = tmp_path / "workspace"
    ws.sync(workspace, NOTEBOOKS)
    monkeypatch.chdir(workspace)
    ws.show_progress()
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["chapter", "exercises", "attempted", "solved", "hints"]
    assert lines[1].split()[:2] == ["00_start_here", "2"] and lines[-1].split()[0] == "all"


# --------------------------------------------------------------------------- commands, reference

def test_course_py_reset_and_progress_need_no_environment(tmp_path):
    env = dict(os.environ, SWITCHYARD_WORKSPACE=str(tmp_path / "ws"))
    def course_py(*args):  # -S: no site-packages, the standard library only
        return subprocess.run([sys.executable, "-S", str(ROOT / "course.py"), *args],
                              capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)
    done = course_py("progress")
    assert done.returncode == 0 and done.stdout.startswith("No workspace yet at"), done.stderr
    done = course_py("reset", "5")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "course.py: 05_io_models.ipynb: a fresh copy; your old copy is " + \
        next((tmp_path / "ws").glob("05_io_models.backup-*.ipynb")).name
    assert len(list((tmp_path / "ws").glob("*_*.ipynb"))) == len(list(NOTEBOOKS.glob("*.ipynb"))) + 1
    done = course_py("progress")
    assert done.returncode == 0 and done.stdout.splitlines()[-1].split()[0] == "all"
    done = course_py("reset", "42")
    assert done.returncode != 0 and "is not a chapter of the course" in done.stderr


def test_the_reference_contents_manager_shows_notebooks_read_only_and_refuses_every_write(tmp_path):
    from jupyter_server.services.contents.manager import HTTPError

    from helpers._lab import READ_ONLY, CourseContentsManager, ReferenceContentsManager

    nbformat.write(chapter("00 · Start"), tmp_path / "00_start.ipynb")
    before = (tmp_path / "00_start.ipynb").read_bytes()
    reference = ReferenceContentsManager(root_dir=str(tmp_path))

    async def scenario():
        model = await reference.get("00_start.ipynb")
        assert model["writable"] is False and model["content"]["cells"]
        listing = await reference.get("")
        assert all(entry["writable"] is False for entry in listing["content"])
        attempts = [reference.save(copy.deepcopy(model), "00_start.ipynb"),
                    reference.save(copy.deepcopy(model), "elsewhere.ipynb"),
                    reference.new_untitled(type="notebook"), reference.delete("00_start.ipynb"),
                    reference.rename("00_start.ipynb", "x.ipynb"), reference.copy("00_start.ipynb"),
                    reference.create_checkpoint("00_start.ipynb")]
        for attempt in attempts:
            with pytest.raises(HTTPError) as refused:
                await attempt
            assert refused.value.status_code == 403 and refused.value.log_message == READ_ONLY
        # The learner's lab (the same class, writable) saves as before.
        writable = CourseContentsManager(root_dir=str(tmp_path))
        assert (await writable.get("00_start.ipynb"))["writable"] is True

    asyncio.run(scenario())
    assert sorted(path.name for path in tmp_path.iterdir()) == ["00_start.ipynb"]
    assert (tmp_path / "00_start.ipynb").read_bytes() == before

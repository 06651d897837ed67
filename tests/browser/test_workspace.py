"""The learner's own copies (helpers/workspace.py) in real JupyterLab, as a learner uses them.

- a prediction's answer cell opens empty in the copy, and fills when the chapter runs;
- an exercise solved in the browser shows in the progress table (in the notebook and in
  ``course.py progress``'s table);
- an edit, saved in JupyterLab, survives a restart of ``python3 course.py lab`` and a new
  version of the course (a commit that changes the edited chapter and another one): the
  edited chapter keeps the edit with the new version beside it, the other is replaced;
- ``python3 course.py lab --reference`` shows the stored outputs and cannot save.

The copies apply the answer rule themselves, so these tests run on the chapters as stored,
tagged or not. Screenshots land in ``artifacts/browser/`` (``workspace-*.png``).
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest

from helpers import workspace as ws
from tests.browser.conftest import SCREENSHOTS
from tests.browser.jupyterlab import (
    CURRENT,
    OPENED,
    SETTINGS,
    SETTLED,
    START_RUN_ALL,
    isolated_env,
    read_server_info,
    stop_process_tree,
)
from tests.browser.test_unmodified import STATE
from tests.solutions.ch00 import SOLUTIONS
from tools.chapters import NOTEBOOKS

ROOT = NOTEBOOKS.parent
CHAPTER = "00_start_here.ipynb"

# As tests/browser/jupyterlab.Lab starts it: a port the OS picks, the app reachable from the page.
LAB_ARGS = ("--ServerApp.port=0", "--ServerApp.port_retries=0", "--LabApp.expose_app_in_browser=True")
MODEL = f"() => {CURRENT}.content.model.toJSON()"
# What the page shows under cell ``i``: the number of rendered outputs and their text.
SHOWN = f"""i => {{
    const cell = {CURRENT}.content.widgets[i];
    const outputs = [...cell.node.querySelectorAll('.jp-OutputArea-output')];
    return {{count: outputs.length, text: outputs.map(o => o.innerText).join('\\n')}};
}}"""
SET_SOURCE = f"([i, text]) => {{ {CURRENT}.content.model.cells.get(i).sharedModel.setSource(text); }}"
SAVE = f"""async () => {{
    const panel = {CURRENT};
    try {{ await jupyterapp.commands.execute('docmanager:save'); }} catch (error) {{ return 'failed: ' + error; }}
    return panel.model.dirty ? 'dirty' : 'saved';
}}"""
SCROLL_TO = f"i => {{ {CURRENT}.content.widgets[i].node.scrollIntoView({{block: 'center'}}); }}"
# Add a cell at the end, give it ``text``, run it; resolves when it has run.
RUN_NEW_CELL = f"""async text => {{
    const panel = {CURRENT};
    panel.content.activeCellIndex = panel.content.widgets.length - 1;
    await jupyterapp.commands.execute('notebook:insert-cell-below');
    panel.content.activeCell.model.sharedModel.setSource(text);
    await jupyterapp.commands.execute('notebook:run-cell');
    return panel.content.widgets.length - 1;
}}"""


def first_prediction(cells: list[dict]) -> int:
    """The index of the cell that answers the chapter's first "Predict, then run"."""
    prompt = next(number for number, cell in enumerate(cells) if ws.is_prompt(cell))
    return next(number for number in ws.answer_cells(cells) if number > prompt)


def check_cell(cells: list[dict], number: str) -> int:
    return next(index for index, cell in enumerate(cells)
                if cell["cell_type"] == "code" and f'check("{number}"' in ws._source(cell))


def open_notebook(page, url: str, name: str) -> None:
    page.goto(url)
    page.wait_for_function(OPENED, arg=name, timeout=90_000)


def run_all(page, timeout: float = 240.0) -> None:
    page.evaluate(START_RUN_ALL)
    page.wait_for_function(SETTLED, timeout=timeout * 1000, polling=250)


def shoot(page, cell: int, name: str) -> Path:
    page.evaluate(SCROLL_TO, cell)
    page.wait_for_timeout(500)
    path = SCREENSHOTS / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(page.screenshot())
    return path


def text_of(outputs: list[dict]) -> str:
    return "".join("".join(o.get("text", "")) if o.get("output_type") == "stream"
                   else "".join(o.get("data", {}).get("text/plain", "")) for o in outputs)


# --------------------------------------------------------------------------- in the session's lab

@pytest.mark.timeout(400)
def test_an_answer_opens_empty_fills_when_run_and_a_solved_exercise_shows_in_the_progress(lab, page):
    workspace = lab.root_dir / "throwaway" / "workspace"
    ws.sync(workspace, NOTEBOOKS)
    stored = json.loads((NOTEBOOKS / CHAPTER).read_text())["cells"]
    answer, exercise = first_prediction(stored), check_cell(stored, "00.1")
    name = f"throwaway/workspace/{CHAPTER}"
    open_notebook(page, lab.url(f"/lab/tree/{name}", query="reset&"), name)

    # The copy opens unmodified (no ● on its tab) once its kernel has started.
    state = page.evaluate(STATE)
    assert not state["dirty"] and "jp-mod-dirty" not in state["tab"], state
    # Before running: the demo above keeps its stored output, the answer shows nothing.
    opened = page.evaluate(MODEL)["cells"]
    assert opened[answer]["outputs"] == [] and opened[answer]["execution_count"] is None
    assert page.evaluate(SHOWN, answer)["count"] == 0
    demo = next(number for number in range(answer) if stored[number]["cell_type"] == "code"
                and stored[number]["outputs"])
    assert page.evaluate(SHOWN, demo)["count"] == len(stored[demo]["outputs"])
    shoot(page, answer, "workspace-answer-before-run.png")

    # The learner solves exercise 00.1 in its cell, then runs the chapter.
    source = ws._source(opened[exercise])
    solved = re.sub(r"^my_order = .*$", f"my_order = {SOLUTIONS['00.1']!r}", source, flags=re.M)
    assert solved != source
    page.evaluate(SET_SOURCE, [exercise, solved])
    run_all(page)
    ran = page.evaluate(MODEL)["cells"]
    assert text_of(ran[answer]["outputs"]) == text_of(stored[answer]["outputs"])  # the answer, now run
    assert page.evaluate(SHOWN, answer)["text"].strip() == text_of(stored[answer]["outputs"]).strip()
    shoot(page, answer, "workspace-answer-after-run.png")
    assert text_of(ran[exercise]["outputs"]).startswith("Exercise 00.1 (Predict the switch order): solved!")

    # The progress table, in the notebook (a cell the learner adds) and from course.py's side.
    table_cell = page.evaluate(RUN_NEW_CELL, "from helpers.workspace import show_progress\nshow_progress()")
    page.wait_for_function(f"i => {CURRENT}.content.model.toJSON().cells[i].outputs.length > 0",
                           arg=table_cell, timeout=60_000)
    shown = page.evaluate(SHOWN, table_cell)["text"]
    row = next(line.split() for line in shown.splitlines() if line.startswith("00_start_here"))
    assert row[1:] == ["2", "1", "1", "0"], shown  # 2 exercises, 1 attempted, 1 solved, no hint
    shoot(page, table_cell, "workspace-progress-table.png")
    assert ws.progress_table(workspace).splitlines()[1].split() == row
    lab.shut_down_kernels()


# --------------------------------------------------------------------------- course.py lab, restarted

@contextmanager
def course_lab(course: Path, workdir: Path, *args: str):
    """``python3 course.py lab [args]`` in ``course`` as a learner starts it; yields (url, log text)."""
    for name, values in SETTINGS.items():
        path = workdir / "settings" / f"{name}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    (workdir / "runtime").mkdir(parents=True, exist_ok=True)
    log = workdir / "lab.log"
    env = isolated_env(workdir)
    env.pop(ws.WORKSPACE_ENV, None)
    with open(log, "wb") as out:
        process = subprocess.Popen([sys.executable, "course.py", "lab", "--no-browser", *args, *LAB_ARGS], cwd=course,
                                   stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                   env=env, start_new_session=True)
    info = None
    try:
        info = read_server_info(workdir / "runtime", process, log)
        yield f"http://127.0.0.1:{info['port']}", info["token"], log.read_text()
    finally:
        stop_process_tree(process, info)


def git(course: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=course", "-c", "user.email=course@example.invalid", *args],
                   cwd=course, check=True, capture_output=True, timeout=60)


def new_version(course: Path, name: str, sentence: str) -> None:
    """The course's author adds ``sentence`` to the chapter's first prose cell after its heading."""
    path = course / "notebooks" / name
    nb = json.loads(path.read_text())
    cell = next(cell for cell in nb["cells"] if cell["cell_type"] == "markdown"
                and ws._source(cell).startswith("# "))
    cell["source"] = ws._source(cell) + "\n\n" + sentence
    path.write_text(json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n")


@pytest.fixture
def course_copy(tmp_path):
    """The course as a learner cloned it (its tracked files, one commit), sharing this .venv."""
    course = tmp_path / "course"
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    for name in tracked.split():
        if (ROOT / name).is_file():
            (course / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, course / name)
    (course / ".venv").symlink_to(ROOT / ".venv")
    git(course, "init", "-q")
    (course / ".git" / "info" / "exclude").write_text(".venv\n")
    git(course, "add", "-A")
    git(course, "commit", "-qm", "the course as cloned")
    return course


@pytest.mark.timeout(600)
def test_an_edit_survives_a_restart_and_a_course_update(course_copy, tmp_path, browser):
    workspace = course_copy / "workspace"
    edited = "# my notes: a, b and c take turns\nmy_order = ['a']\ncheck(\"00.1\", my_order)"
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    try:
        # 1. First start: the copies are made; the learner edits chapter 00 and saves it.
        with course_lab(course_copy, tmp_path / "first") as (url, token, log):
            assert "made your own copies of" in log
            open_notebook(page, f"{url}/lab/tree/{CHAPTER}?reset&token={token}", CHAPTER)
            cells = page.evaluate(MODEL)["cells"]
            exercise = check_cell(cells, "00.1")
            page.evaluate(SET_SOURCE, [exercise, edited])
            assert page.evaluate(SAVE) == "saved"
        on_disk = json.loads((workspace / CHAPTER).read_text())
        assert ws._source(on_disk["cells"][exercise]) == edited

        # 2. A restart: nothing to say, the edit is there.
        with course_lab(course_copy, tmp_path / "second") as (url, token, log):
            assert not [line for line in log.splitlines() if line.startswith("course.py:") and ".ipynb" in line]
            open_notebook(page, f"{url}/lab/tree/{CHAPTER}?reset&token={token}", CHAPTER)
            assert ws._source(page.evaluate(MODEL)["cells"][exercise]) == edited

        # 3. The course changes chapter 00 (edited by the learner) and 02 (never edited): a git pull.
        new_version(course_copy, CHAPTER, "A sentence the course added later.")
        new_version(course_copy, "02_yield_from.ipynb", "Another sentence the course added later.")
        git(course_copy, "commit", "-qam", "the course's new version")
        with course_lab(course_copy, tmp_path / "third") as (url, token, log):
            beside = sorted(workspace.glob("00_start_here.new-*.ipynb"))
            assert len(beside) == 1
            assert (f"course.py: 00_start_here.ipynb: kept (you edited it); the course's new version is beside it: "
                    f"{beside[0].name}") in log
            assert "course.py: 02_yield_from.ipynb: updated to the course's new version" in log
            open_notebook(page, f"{url}/lab/tree/{CHAPTER}?reset&token={token}", CHAPTER)
            mine = page.evaluate(MODEL)["cells"]
            assert ws._source(mine[exercise]) == edited
            assert "A sentence the course added later." not in json.dumps(mine)
            shoot(page, exercise, "workspace-edit-kept-after-update.png")
            open_notebook(page, f"{url}/lab/tree/{beside[0].name}?reset&token={token}", beside[0].name)
            assert "A sentence the course added later." in json.dumps(page.evaluate(MODEL))
            listing = page.locator(".jp-DirListing-itemText")
            listing.filter(has_text=beside[0].name).wait_for(timeout=30_000)
            path = SCREENSHOTS / "workspace-new-version-beside.png"
            path.write_bytes(page.screenshot())
        assert "Another sentence the course added later." in (workspace / "02_yield_from.ipynb").read_text()
    finally:
        context.close()


# --------------------------------------------------------------------------- the reference, read-only

@pytest.mark.timeout(300)
def test_the_reference_shows_the_stored_outputs_and_cannot_save(tmp_path, browser):
    before = hashlib.sha256((NOTEBOOKS / CHAPTER).read_bytes()).hexdigest()
    stored = json.loads((NOTEBOOKS / CHAPTER).read_text())["cells"]
    answer = first_prediction(stored)
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    try:
        with course_lab(ROOT, tmp_path / "reference", "--reference") as (url, token, log):
            assert "the course's reference chapters (notebooks/), read-only" in log
            info = json.loads(next((tmp_path / "reference" / "runtime").glob("jpserver-*.json")).read_text())
            assert info["root_dir"] == str(NOTEBOOKS)
            open_notebook(page, f"{url}/lab/tree/{CHAPTER}?reset&token={token}", CHAPTER)
            # The stored outputs, answers included, before anything runs.
            assert page.evaluate(SHOWN, answer)["text"].strip() == text_of(stored[answer]["outputs"]).strip()
            assert page.evaluate(f"() => {CURRENT}.context.contentsModel.writable") is False
            shoot(page, answer, "workspace-reference-read-only.png")
            # An edit, then Save: refused; the file is untouched.
            page.evaluate(SET_SOURCE, [answer, "print('changed in the reference')"])
            # Save (Ctrl+S): JupyterLab asks nothing of the server and says why, in a dialog it waits on.
            page.evaluate("() => { jupyterapp.commands.execute('docmanager:save'); }")
            dialog = page.locator(".jp-Dialog")
            dialog.wait_for(timeout=30_000)
            said = dialog.inner_text()
            (SCREENSHOTS / "workspace-reference-save-refused.png").write_bytes(page.screenshot())
            assert "Cannot Save" in said and "Document is read-only" in said, said
            # Asked directly, the server refuses too.
            status = page.evaluate("""async ([url, token, name]) => {
                const response = await fetch(`${url}/api/contents/${name}?token=${token}`, {method: 'PUT',
                    headers: {'Content-Type': 'application/json'},
                    body: JSON.stringify({type: 'file', format: 'text', content: 'x'})});
                return [response.status, await response.text()];
            }""", [url, token, CHAPTER])
            assert status[0] == 403 and "read-only" in status[1], status
            assert not list(NOTEBOOKS.glob(".ipynb_checkpoints/*"))
    finally:
        context.close()
    assert hashlib.sha256((NOTEBOOKS / CHAPTER).read_bytes()).hexdigest() == before

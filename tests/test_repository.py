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

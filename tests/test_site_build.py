"""tools/site.py without a browser: what a chapter's page keeps, folds and leaves out."""

from __future__ import annotations

import re

import nbformat

from tools import site
from tools.chapters import NOTEBOOKS, written

ROOT = NOTEBOOKS.parent


def notebook() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nav = nbformat.v4.new_markdown_cell("[next](02_yield_from.ipynb)")
    nav.metadata["tags"] = ["nav"]
    answer = nbformat.v4.new_code_cell("print(1)")
    answer.metadata["tags"] = ["answer"]
    answer.outputs = [nbformat.v4.new_output("stream", name="stdout", text="1\n")]
    unanswered = nbformat.v4.new_code_cell("check('01.1', ...)")
    unanswered.metadata["tags"] = ["answer"]
    widget = nbformat.v4.new_code_cell("bar")
    widget.outputs = [nbformat.v4.new_output("display_data", data={
        "text/plain": "echo bench: 28/28", site.WIDGET_VIEW: {"model_id": "abc", "version_major": 2}})]
    plain = nbformat.v4.new_code_cell("x = 1")
    nb.cells = [nav, answer, unanswered, widget, plain]
    return nb


def test_navigation_cells_are_left_out_the_theme_links_the_chapters():
    nb = site.prepare(notebook())
    assert "remove-cell" in nb.cells[0].metadata["tags"]
    assert not any("remove-cell" in c.metadata.get("tags", []) for c in nb.cells[1:])


def test_an_answers_output_is_folded_and_a_cell_without_output_is_left_alone():
    nb = site.prepare(notebook())
    assert "hide-output" in nb.cells[1].metadata["tags"]
    assert "hide-output" not in nb.cells[2].metadata["tags"]
    assert "hide-output" not in nb.cells[4].metadata.get("tags", [])


def test_a_widget_is_shown_in_its_stored_text_form():
    data = site.prepare(notebook()).cells[3].outputs[0]["data"]
    assert data == {"text/plain": "echo bench: 28/28"}


def test_the_front_page_lists_every_written_chapter_in_order_with_its_summary():
    page = site.index_page()
    linked = re.findall(r"\]\((\d\d_\w+)\.ipynb\)", page)
    assert linked == [chapter.slug for chapter in written()]
    assert all(chapter.summary in page for chapter in written())
    toctree = page.split("```{toctree}")[1].split("```")[0].splitlines()
    assert [entry for entry in toctree if entry and not entry.startswith(":")] == linked


def test_the_readme_badge_and_the_site_name_the_same_repository():
    owner_repo = site.REPOSITORY.removeprefix("https://github.com/")
    badge = re.search(r"mybinder\.org/v2/gh/([^/]+/[^/]+)/", (ROOT / "README.md").read_text())
    assert badge and badge[1] == owner_repo
    assert site.theme_options("http://hub")["launch_buttons"]["jupyterhub_url"] == "http://hub"

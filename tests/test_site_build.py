"""tools/site.py without a browser: what a chapter's page keeps, folds and leaves out."""

from __future__ import annotations

import re
import urllib.parse

import nbformat

from classroom.run import pull_link
from helpers import workspace
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
    assert f"/v2/gh/{owner_repo}/" in site.launch_links("01_generators.ipynb")["Binder"]
    assert "launch_buttons" not in site.theme_options()  # the theme's own would open notebooks/


def test_binder_opens_the_learners_copy_of_that_chapter_in_the_workspace_postbuild_makes():
    assert site.WORKSPACE == workspace.WORKSPACE.relative_to(workspace.ROOT).as_posix()
    assert "python -m helpers.workspace sync" in (ROOT / "binder" / "postBuild").read_text()
    binder = site.launch_links("05_io_models.ipynb")["Binder"]
    assert binder.startswith(f"{site.BINDERHUB}/v2/gh/")
    assert urllib.parse.urlparse(binder).path.endswith(f"/{site.BRANCH}")
    assert urllib.parse.parse_qs(urllib.parse.urlparse(binder).query) == {
        "urlpath": ["lab/tree/workspace/05_io_models.ipynb"]}


def test_the_hub_button_is_the_classrooms_link_which_makes_the_copies_and_opens_that_chapter():
    hub = site.launch_links("05_io_models.ipynb", "http://127.0.0.1:41234", "file:///srv/class/course.git",
                            "spring")["JupyterHub"]
    assert hub == pull_link("http://127.0.0.1:41234", "file:///srv/class/course.git", "spring",
                            chapter="05_io_models.ipynb")
    url = urllib.parse.urlparse(hub)
    assert url.netloc == "127.0.0.1:41234" and url.path == "/hub/user-redirect/git-pull"
    assert urllib.parse.parse_qs(url.query) == {
        "repo": ["file:///srv/class/course.git"], "branch": ["spring"], "targetpath": ["switchyard"],
        "urlpath": ["switchyard/open?chapter=05_io_models.ipynb"]}
    default = urllib.parse.parse_qs(urllib.parse.urlparse(site.launch_links("00_start_here.ipynb")["JupyterHub"]).query)
    assert default["repo"] == [site.REPOSITORY] and default["branch"] == [site.BRANCH]
    assert site.launch_links("00_start_here.ipynb")["JupyterHub"].startswith(site.DEFAULT_HUB + "/hub/")


def test_the_written_configuration_puts_each_chapters_own_launch_menu_first_on_its_page(tmp_path):
    site.write_sources("http://hub.example", NOTEBOOKS, tmp_path, repo="file:///srv/course.git", branch="b")
    conf: dict = {}
    exec((tmp_path / "conf.py").read_text(), conf)  # noqa: S102 - the file this build wrote
    chapters = written()
    assert sorted(conf["LAUNCH_LINKS"]) == [chapter.slug for chapter in chapters]
    chapter = chapters[3]
    context = {"header_buttons": [{"type": "link", "text": "fullscreen"}]}
    conf["add_launch_menu"](None, chapter.slug, "page.html", context, None)
    menu = context["header_buttons"][0]
    assert menu["type"] == "group" and context["header_buttons"][1]["text"] == "fullscreen"
    assert [(b["text"], b["url"]) for b in menu["buttons"]] == list(
        site.launch_links(chapter.filename, "http://hub.example", "file:///srv/course.git", "b").items())
    assert all(b["icon"] in ("_static/images/logo_binder.svg", "_static/images/logo_jupyterhub.svg")
               for b in menu["buttons"])
    untouched = {"header_buttons": []}
    conf["add_launch_menu"](None, "index", "page.html", untouched, None)  # the front page: no chapter to open
    assert untouched == {"header_buttons": []}


def test_the_command_passes_the_hub_and_the_repository_to_the_build(tmp_path, monkeypatch, capsys):
    asked = {}

    def fake_build(hub_url, **options):
        asked.update(options, hub_url=hub_url)
        (tmp_path / "index.html").write_text("<html></html>")
        return tmp_path / "index.html"

    monkeypatch.setattr(site, "build", fake_build)
    monkeypatch.setattr(site, "OUTPUT", tmp_path)
    monkeypatch.setattr(site, "ROOT", tmp_path.parent)
    assert site.main(["--hub-url", "http://127.0.0.1:5000", "--repo", "file:///c/course.git"]) == 0
    assert asked == {"hub_url": "http://127.0.0.1:5000", "repo": "file:///c/course.git", "branch": site.BRANCH}
    said = capsys.readouterr().out
    assert re.search(r"built \d+ chapters into \S+ in \d+\.\d s \(\d+\.\d MB\); open ", said), said


def test_an_output_the_page_cannot_show_stops_the_build_instead_of_vanishing():
    conf = site.CONF.format(theme_options={}, launch_links={})
    assert "unknown_mime_type" not in conf.split("suppress_warnings", 1)[1].splitlines()[0]

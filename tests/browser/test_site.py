"""The course as a website (``python3 course.py site``), read in Chromium as a visitor would.

The site is built from the reference notebooks' stored outputs into a throwaway folder and
served on 127.0.0.1; every chapter page is opened and checked: nothing is requested from
outside the machine, every picture loads, every stored output is on the page, answers stay
folded until clicked, the launch links open the learner's copy of that chapter, no widget is
left as a raw model.
"""

from __future__ import annotations

import re
import urllib.parse

import nbformat
import pytest

from classroom.run import pull_link
from tools import site
from tools.chapters import NOTEBOOKS, written

# The site is built as for a local classroom: its hub, and its file:// clone of the course.
HUB = "http://127.0.0.1:8000"
CLASSROOM_REPO = "file:///srv/switchyard-classroom/course.git"
CHAPTERS = [pytest.param(chapter, id=chapter.slug) for chapter in written()]
WIDGET_LEFTOVERS = ("application/vnd.jupyter.widget", "model_id", "Loading widget", "Error displaying widget")


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    folder = tmp_path_factory.mktemp("site")
    site.build(HUB, repo=CLASSROOM_REPO, source=folder / "src", output=folder / "out")
    server = site.serve(folder / "out")
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def visit(page, url: str) -> list[str]:
    """Open ``url``; return every URL the page requested."""
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(url, wait_until="networkidle")
    return requested


def expected_texts(nb) -> tuple[list[str], int]:
    """A line of every stored text output a page must show, and how many pictures it must show."""
    lines, images = [], 0
    for cell in nb.cells:
        if cell.cell_type != "code" or "nav" in cell.metadata.get("tags", []):
            continue
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if any(key.startswith("image/") for key in data):
                images += 1
                continue
            text = output.get("text") or data.get("text/plain") or output.get("evalue") or ""
            first = next((line.strip() for line in text.splitlines() if line.strip()), "")
            if first:
                lines.append(re.sub(r"\x1b\[[0-9;]*m", "", first))
    return lines, images


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_a_chapter_page_shows_every_stored_output_and_asks_nothing_of_the_internet(served, page, chapter):
    requested = visit(page, f"{served}/{chapter.slug}.html")
    outside = [url for url in requested if not url.startswith(served + "/") and not url.startswith("data:")]
    assert not outside, f"{chapter.slug} asked outside 127.0.0.1: {outside}"

    broken = page.evaluate(
        "() => Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src)")
    assert not broken, f"broken pictures on {chapter.slug}: {broken}"

    nb = nbformat.read(NOTEBOOKS / chapter.filename, as_version=4)
    lines, images = expected_texts(nb)
    page.evaluate("() => document.querySelectorAll('details').forEach(d => d.open = true)")
    text = page.inner_text("article")
    flat = " ".join(text.split())
    missing = [line for line in lines if " ".join(line.split()) not in flat]
    assert not missing, f"{len(missing)} of {len(lines)} stored outputs missing on {chapter.slug}: {missing[:3]}"
    shown = page.locator("article .cell_output img").count()
    assert shown == images, f"{chapter.slug}: {shown} pictures on the page, {images} stored"
    assert not [word for word in WIDGET_LEFTOVERS if word in text], f"a raw widget on {chapter.slug}"
    assert page.locator("article .cell_input").count() > 0 and page.locator("button.copybtn").count() > 0


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_launch_links_open_the_learners_copy_of_that_chapter_on_binder_and_on_a_hub(served, page, chapter):
    visit(page, f"{served}/{chapter.slug}.html")
    links = page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)")
    binder = [link for link in links if link.startswith(site.BINDERHUB)]
    hub = [link for link in links if "/hub/user-redirect/git-pull" in link]
    assert len(binder) == 1 and len(hub) == 1, (binder, hub)
    owner_repo = urllib.parse.urlparse(site.REPOSITORY).path.strip("/")
    assert binder[0].startswith(f"{site.BINDERHUB}/v2/gh/{owner_repo}/{site.BRANCH}?")
    # Binder's postBuild makes workspace/: the learner's copy, answers folded, progress recorded
    assert urllib.parse.parse_qs(urllib.parse.urlparse(binder[0]).query) == {
        "urlpath": [f"lab/tree/workspace/{chapter.filename}"]}
    # the classroom's own link: pull the classroom's clone, then switchyard/open makes the copies
    assert hub[0] == pull_link(HUB, CLASSROOM_REPO, site.BRANCH, chapter=chapter.filename)
    query = urllib.parse.parse_qs(urllib.parse.urlparse(hub[0]).query)
    assert query["repo"] == [CLASSROOM_REPO]
    assert query["urlpath"] == [f"switchyard/open?chapter={chapter.filename}"]


def test_answers_are_folded_until_clicked(served, page):
    answered = 0
    for chapter in written():
        nb = nbformat.read(NOTEBOOKS / chapter.filename, as_version=4)
        answers = [c for c in nb.cells if c.cell_type == "code" and "answer" in c.metadata.get("tags", [])
                   and c.get("outputs")]
        if not answers:
            continue
        visit(page, f"{served}/{chapter.slug}.html")
        folded = page.locator("article details.hide")
        assert folded.count() == len(answers), (chapter.slug, folded.count(), len(answers))
        first = folded.first
        output = first.locator(".cell_output")
        assert not output.is_visible()
        first.locator("summary").click()
        assert output.is_visible()
        answered += len(answers)
    assert answered, "no chapter has a cell tagged 'answer': nothing would be folded"


def test_the_front_page_maps_every_chapter_in_order_and_pages_link_to_their_neighbours(served, page):
    visit(page, f"{served}/index.html")
    hrefs = page.eval_on_selector_all("article a[href$='.html']", "els => els.map(e => e.getAttribute('href'))")
    assert [h for h in hrefs if re.fullmatch(r"\d\d_\w+\.html", h)] == [f"{c.slug}.html" for c in written()]
    chapters = written()
    visit(page, f"{served}/{chapters[1].slug}.html")
    previous = page.locator("a.left-prev").get_attribute("href")
    following = page.locator("a.right-next").get_attribute("href")
    assert previous.endswith(f"{chapters[0].slug}.html") and following.endswith(f"{chapters[2].slug}.html")


def test_search_finds_a_chapter_by_a_word_in_it(served, page):
    visit(page, f"{served}/search.html?q=epoll")
    page.wait_for_selector("#search-results li", timeout=15_000)
    found = page.eval_on_selector_all("#search-results li a", "els => els.map(e => e.getAttribute('href'))")
    assert any("05_io_models" in href for href in found), found

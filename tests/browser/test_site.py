"""The course as a website (``python3 course.py site``), read in Chromium as a visitor would.

The site is built from the reference notebooks' stored outputs into a throwaway folder and
served on 127.0.0.1. The build runs with every connection, datagram and name lookup beyond
loopback refused and recorded, and must have asked for none. Every chapter page is opened
and checked: nothing is requested from outside the machine, every picture loads, every
stored output is on the page, answers stay folded until clicked, the launch links open the
learner's copy of that chapter, no widget is left as a raw model.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import re
import socket
import subprocess
import urllib.parse
import urllib.request

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


def is_loopback(host) -> bool:
    """``host`` (an address's first part, or None for a Unix socket's path) is this machine."""
    if host is None or host in ("", "localhost", b"localhost"):
        return True
    try:
        return ipaddress.ip_address(host.decode() if isinstance(host, bytes) else host).is_loopback
    except ValueError:
        return False  # a name other than localhost: resolving it may ask a DNS server


@contextlib.contextmanager
def loopback_only():
    """In this process, refuse (and record) every connection, datagram or lookup beyond loopback.

    ``socket.socket`` (connect, connect_ex, sendto) and the name lookups (getaddrinfo,
    gethostbyname, gethostbyname_ex) are patched: urllib, http.client, requests and asyncio
    all go through them. A child process would escape the patch, so starting one is recorded
    too. Yields the list of what was refused.
    """
    asked: list[str] = []
    real_connect, real_connect_ex, real_sendto = socket.socket.connect, socket.socket.connect_ex, socket.socket.sendto
    real_getaddrinfo, real_byname, real_byname_ex = socket.getaddrinfo, socket.gethostbyname, socket.gethostbyname_ex
    real_popen = subprocess.Popen.__init__

    def refuse(what: str, host) -> None:
        if not is_loopback(host):
            asked.append(f"{what} {host!r}")
            raise OSError(errno.ENETUNREACH, f"loopback only while the site builds: {what} {host!r}")

    def host_of(address):
        return address[0] if isinstance(address, tuple) else None  # a str or bytes: a Unix socket

    def connect(self, address):
        refuse("connect", host_of(address))
        return real_connect(self, address)

    def connect_ex(self, address):
        refuse("connect", host_of(address))
        return real_connect_ex(self, address)

    def sendto(self, data, *flags_address):
        refuse("sendto", host_of(flags_address[-1]))
        return real_sendto(self, data, *flags_address)

    def getaddrinfo(host, *args, **kwargs):
        if not is_loopback(host):
            asked.append(f"getaddrinfo {host!r}")
            raise socket.gaierror(socket.EAI_NONAME, f"loopback only while the site builds: {host!r}")
        return real_getaddrinfo(host, *args, **kwargs)

    def byname(real):
        def lookup(host):
            if not is_loopback(host):
                asked.append(f"{real.__name__} {host!r}")
                raise socket.gaierror(socket.EAI_NONAME, f"loopback only while the site builds: {host!r}")
            return real(host)
        return lookup

    def popen(self, args, *rest, **kwargs):
        asked.append(f"a child process {args!r} (beyond this check)")
        return real_popen(self, args, *rest, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket.socket, "connect", connect)
        patch.setattr(socket.socket, "connect_ex", connect_ex)
        patch.setattr(socket.socket, "sendto", sendto)
        patch.setattr(socket, "getaddrinfo", getaddrinfo)
        patch.setattr(socket, "gethostbyname", byname(real_byname))
        patch.setattr(socket, "gethostbyname_ex", byname(real_byname_ex))
        patch.setattr(subprocess.Popen, "__init__", popen)
        yield asked


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The site, built as for a local classroom, beyond-loopback requests refused: (folder, what it asked)."""
    folder = tmp_path_factory.mktemp("site")
    with loopback_only() as asked:
        site.build(HUB, repo=CLASSROOM_REPO, source=folder / "src", output=folder / "out")
    return folder / "out", asked


@pytest.fixture(scope="module")
def served(built):
    server = site.serve(built[0])
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_the_build_asks_nothing_beyond_loopback(built):
    folder, asked = built
    assert (folder / "index.html").exists()
    assert asked == [], f"the site's build asked beyond loopback: {asked}"


def test_the_builds_guard_refuses_and_records_what_is_not_loopback():
    with socket.create_server(("127.0.0.1", 0)) as listener, loopback_only() as asked:
        with socket.create_connection(listener.getsockname(), timeout=5):
            pass  # loopback: allowed
        assert socket.getaddrinfo("localhost", 80) and not asked
        with socket.socket() as tcp, pytest.raises(OSError):
            tcp.connect(("192.0.2.1", 80))  # TEST-NET-1: never reached
        with pytest.raises(OSError):
            urllib.request.urlopen("https://pypi.org/simple/", timeout=5)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp, pytest.raises(OSError):
            udp.sendto(b"?", ("198.51.100.1", 53))
        with pytest.raises(OSError):
            socket.gethostbyname("example.org")
        subprocess.run(["true"], check=True)
    assert asked == ["connect '192.0.2.1'", "getaddrinfo 'pypi.org'", "sendto '198.51.100.1'",
                     "gethostbyname 'example.org'", "a child process ['true'] (beyond this check)"]
    assert "connect" not in vars(socket.socket) and socket.getaddrinfo.__module__ == "socket"  # patches undone


def visit(page, url: str) -> list[str]:
    """Open ``url``; return every URL the page requested."""
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(url, wait_until="networkidle")
    return requested


def outside(requested: list[str], served: str) -> list[str]:
    """The requests that went anywhere but the site's own server (a data: URL goes nowhere)."""
    return [url for url in requested if not url.startswith(served + "/") and not url.startswith("data:")]


IMAGE = "<a picture>"
ANSI = re.compile(r"\x1b\[[0-9;]*m")
# Each output block of a page, in order: a picture, or the text of its <pre> (not the copy
# button sphinx-copybutton puts beside it). textContent: folded answers count too.
SHOWN_OUTPUTS = """picture => Array.from(document.querySelectorAll("article .cell_output")).flatMap(block =>
    Array.from(block.children).map(output =>
        output.tagName === "IMG" || output.querySelector("img") ? picture
            : (output.querySelector("pre") || output).textContent))"""


def shown_outputs(page) -> list[str]:
    return page.evaluate(SHOWN_OUTPUTS, IMAGE)


def flat(text: str) -> str:
    """Text as compared: colour codes out, every run of white space one space."""
    return " ".join(ANSI.sub("", text).split())


def stored_outputs(nb) -> list[str]:
    """Every stored output a chapter's page must show, in order: its full text (flattened), or IMAGE.

    A cell's streams of one name make one block, as on the page (myst-nb's ``nb_merge_streams``);
    a picture with a text form is shown as the picture.
    """
    blocks: list[str] = []
    for cell in nb.cells:
        if cell.cell_type != "code" or "nav" in cell.metadata.get("tags", []):
            continue
        streams: dict[str, int] = {}
        for output in cell.get("outputs", []):
            if output["output_type"] == "stream":
                if output["name"] in streams:
                    at = streams[output["name"]]
                    blocks[at] = f"{blocks[at]} {flat(output['text'])}".strip()
                else:
                    streams[output["name"]] = len(blocks)
                    blocks.append(flat(output["text"]))
                continue
            data = output.get("data", {})
            if any(key.startswith("image/") for key in data):
                blocks.append(IMAGE)
            elif output["output_type"] == "error":
                blocks.append(flat("\n".join(output["traceback"])))
            else:
                blocks.append(flat(data.get("text/plain", "")))
    return blocks


def output_problems(stored: list[str], shown: list[str]) -> list[str]:
    """What is wrong with the output blocks a page shows, against the stored ones; [] if nothing."""
    shown = [block if block == IMAGE else flat(block) for block in shown]
    problems = []
    if len(shown) != len(stored):
        problems.append(f"{len(shown)} output blocks on the page ({shown.count(IMAGE)} pictures), "
                        f"{len(stored)} stored ({stored.count(IMAGE)} pictures)")
    for number, (want, got) in enumerate(zip(stored, shown), 1):
        if want != got:
            problems.append(f"output {number}: stored {want[:100]!r}, shown {got[:100]!r}")
            break  # after the first difference, the rest is usually shifted by one
    return problems


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_a_chapter_page_shows_every_stored_output_and_asks_nothing_of_the_internet(served, page, chapter):
    asked = outside(visit(page, f"{served}/{chapter.slug}.html"), served)
    assert not asked, f"{chapter.slug} asked outside 127.0.0.1: {asked}"

    broken = page.evaluate(
        "() => Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src)")
    assert not broken, f"broken pictures on {chapter.slug}: {broken}"

    stored = stored_outputs(nbformat.read(NOTEBOOKS / chapter.filename, as_version=4))
    assert stored, f"{chapter.slug} has no stored output: nothing would be checked"
    problems = output_problems(stored, shown_outputs(page))
    assert not problems, f"{chapter.slug}: " + "; ".join(problems)
    page.evaluate("() => document.querySelectorAll('details').forEach(d => d.open = true)")
    text = page.inner_text("article")
    assert not [word for word in WIDGET_LEFTOVERS if word in text], f"a raw widget on {chapter.slug}"
    assert page.locator("article .cell_input").count() > 0 and page.locator("button.copybtn").count() > 0


def test_the_output_check_fails_on_a_page_with_one_output_missing_or_changed(served, page):
    """The check above can fail: one block taken out, or one changed, on a real page."""
    chapter = written()[1]
    visit(page, f"{served}/{chapter.slug}.html")
    stored = stored_outputs(nbformat.read(NOTEBOOKS / chapter.filename, as_version=4))
    assert output_problems(stored, shown_outputs(page)) == []
    # the last of the page's outputs whose first line is also in the chapter's prose or code: the
    # old check (a first line anywhere in the article) could not miss it
    article = " ".join(page.inner_text("article").split())
    shown = shown_outputs(page)
    texts = [i for i, block in enumerate(shown) if block != IMAGE]
    echoed = [i for i in texts if article.count(flat(shown[i].strip().splitlines()[0])) > 1]
    target = (echoed or texts)[-1]
    page.evaluate("""n => document.querySelectorAll("article .cell_output > *")[n].remove()""", target)
    missing = output_problems(stored, shown_outputs(page))
    assert missing and missing[0].startswith(f"{len(stored) - 1} output blocks on the page"), missing
    visit(page, f"{served}/{chapter.slug}.html")
    page.evaluate("""n => { const pre = document.querySelectorAll("article .cell_output > *")[n].querySelector("pre");
                            pre.textContent = pre.textContent.replace(/\\S(?=\\s*$)/, "?"); }""", target)
    changed = output_problems(stored, shown_outputs(page))
    assert changed == [f"output {target + 1}: stored {stored[target][:100]!r}, "
                       f"shown {(stored[target][:-1] + '?')[:100]!r}"], changed


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
    asked = outside(visit(page, f"{served}/index.html"), served)
    assert not asked, f"the front page asked outside 127.0.0.1: {asked}"
    hrefs = page.eval_on_selector_all("article a[href$='.html']", "els => els.map(e => e.getAttribute('href'))")
    assert [h for h in hrefs if re.fullmatch(r"\d\d_\w+\.html", h)] == [f"{c.slug}.html" for c in written()]
    chapters = written()
    visit(page, f"{served}/{chapters[1].slug}.html")
    previous = page.locator("a.left-prev").get_attribute("href")
    following = page.locator("a.right-next").get_attribute("href")
    assert previous.endswith(f"{chapters[0].slug}.html") and following.endswith(f"{chapters[2].slug}.html")


def test_search_finds_a_chapter_by_a_word_in_it(served, page):
    requested = visit(page, f"{served}/search.html?q=epoll")
    page.wait_for_selector("#search-results li", timeout=15_000)
    page.wait_for_load_state("networkidle")
    assert not outside(requested, served), f"the search page asked outside 127.0.0.1: {outside(requested, served)}"
    found = page.eval_on_selector_all("#search-results li a", "els => els.map(e => e.getAttribute('href'))")
    assert any("05_io_models" in href for href in found), found


def test_an_output_the_page_cannot_show_stops_the_build(tmp_path, monkeypatch):
    """-W keeps its meaning: an output of a type myst-nb cannot render fails the build, not its page."""
    chapter = written()[0]
    monkeypatch.setattr(site, "written", lambda: [chapter])  # a one-chapter site of a small notebook: quick
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                           "language": "python"}})
    code = nbformat.v4.new_code_cell("print('hello')")
    code.outputs = [nbformat.v4.new_output("stream", name="stdout", text="hello\n")]
    nb.cells = [nbformat.v4.new_markdown_cell(f"# {chapter.heading}"), code]
    nbformat.write(nb, notebooks / chapter.filename)
    site.build(HUB, notebooks=notebooks, source=tmp_path / "src", output=tmp_path / "out")  # renderable: fine
    code.outputs.append(nbformat.v4.new_output("display_data", data={"application/x-switchyard-test": "?"}))
    nbformat.write(nb, notebooks / chapter.filename)
    with pytest.raises(SystemExit, match="the build failed"):
        site.build(HUB, notebooks=notebooks, source=tmp_path / "src", output=tmp_path / "out")

"""Chapter 06's crawler (cell ``531f5cca``) on the home-made loop, run here against the slow site.

The crawler is lesson code, so it lives in the notebook; this test executes that cell's source
(and the cells it needs: ``request`` and ``fetch``) and checks what the prose promises: each page
once, never more fetches at once than workers, and a fetch that fails is noted while the crawl
goes on and ends (no worker left waiting for a wake-up that never comes).
"""

from __future__ import annotations

import json
import socket
from collections import deque
from pathlib import Path

import pytest

from helpers import homeloop
from helpers.site import slow_site

pytestmark = pytest.mark.chapter("06")

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "06_event_loop.ipynb"
CELLS = {"setup": "a5380455", "fetch": "c7b8adc9", "crawl": "531f5cca"}


def chapter_namespace() -> dict:
    cells = {cell.get("id"): "".join(cell["source"]) for cell in json.loads(NOTEBOOK.read_text("utf-8"))["cells"]}
    namespace: dict = {"homeloop": homeloop, "HomeTask": homeloop.Task, "deque": deque, "socket": socket,
                       "sock_sendall": homeloop.sock_sendall, "sock_recv": homeloop.sock_recv}
    for name in ("setup", "fetch", "crawl"):
        exec(compile(cells[CELLS[name]], f"06_event_loop.ipynb:{CELLS[name]}", "exec"), namespace)  # noqa: S102
    return namespace


@pytest.mark.parametrize("workers", [1, 4])
def test_the_crawler_fetches_each_page_once_with_at_most_its_workers(workers: int):
    chapter = chapter_namespace()
    with slow_site(delay=0.01, chapters=5) as site, homeloop.Loop() as loop:
        pages, most, failed = loop.run_until_complete(chapter["crawl"](site.address, "/", workers), deadline=20)
        fetched = [request.path for request in site.requests]
    assert failed == {}
    assert sorted(fetched) == sorted(pages) and len(pages) == 12  # /, /book/, 5 pages, 5 chapters
    assert 1 <= most <= workers


@pytest.mark.parametrize("workers", [1, 4])
def test_a_fetch_that_fails_is_noted_and_the_crawl_still_ends(workers: int):
    chapter = chapter_namespace()
    real_fetch = chapter["fetch"]

    async def flaky(address, path):
        if path == "/book/":  # the index: its ten chapters are never found
            raise ConnectionResetError("reset by the test")
        return await real_fetch(address, path)

    chapter["fetch"] = flaky  # the crawl cell looks `fetch` up in the notebook's namespace
    with slow_site(delay=0.01, chapters=5) as site, homeloop.Loop() as loop:
        pages, most, failed = loop.run_until_complete(chapter["crawl"](site.address, "/", workers), deadline=20)
    assert list(failed) == ["/book/"] and isinstance(failed["/book/"], ConnectionResetError)
    assert sorted(pages) == ["/"] + [f"/page/{n}" for n in range(1, 6)]
    assert loop.tasks == set()


def test_a_site_that_is_down_ends_the_crawl_at_once_with_the_failure():
    chapter = chapter_namespace()
    with socket.create_server(("127.0.0.1", 0)) as closed:
        address = closed.getsockname()  # a port nobody listens on once this block ends
    with homeloop.Loop() as loop:
        pages, most, failed = loop.run_until_complete(chapter["crawl"](address, "/", 4), deadline=10)
    assert pages == {} and most == 1
    assert list(failed) == ["/"] and isinstance(failed["/"], ConnectionRefusedError)

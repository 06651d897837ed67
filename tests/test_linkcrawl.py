"""Chapter 09's link-following crawler (cell ``linkcrawl-def``), run here against the slow site.

The crawler is lesson code, so it lives in the notebook; this test executes that cell's source
and checks what its ``seen`` set promises: every page reachable from the start is fetched once,
however many links point to it, the workers never exceed their number, and the crawl ends.
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import aiohttp
import pytest

from helpers.site import slow_site

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "09_asyncio_sync.ipynb"


async def download(session, url):  # as chapter 09's first cell defines it
    async with session.get(url) as response:
        return await response.text()


def crawler(download=download):
    cells = {cell.get("id"): "".join(cell["source"]) for cell in json.loads(NOTEBOOK.read_text())["cells"]}
    namespace = {"asyncio": asyncio, "re": re, "aiohttp": aiohttp, "download": download}
    exec(cells["linkcrawl-def"], namespace)  # noqa: S102 - the notebook's own cell
    return namespace["crawl_site"]


async def crawl(site, workers):
    async with aiohttp.ClientSession() as session:
        return await asyncio.wait_for(crawler()(session, site.url("/"), workers=workers), 20)


@pytest.mark.parametrize("workers", [1, 3, 8])
def test_every_reachable_page_once_and_no_more_than_the_workers_at_once(workers):
    with slow_site(delay=0.01, chapters=5) as site:
        pages, failed, found = asyncio.run(crawl(site, workers))
        paths = [request.path for request in site.requests]
    want = {"/", "/book/"} | {f"/page/{n}" for n in range(1, 6)} | {f"/book/chapter-{i}.html" for i in range(1, 6)}
    assert failed == {}
    assert sorted(paths) == sorted(want)  # each once: the seen set
    assert {url.removeprefix(site.base_url) for url in pages} == want
    assert len(found) > len(set(found))  # pages link back: the seen set turned links away
    assert site.max_in_flight <= workers


def test_a_page_that_fails_is_reported_and_the_crawl_still_ends():
    async def flaky(session, url):
        if url.endswith("/book/"):
            raise aiohttp.ClientConnectionError("reset")
        return await download(session, url)

    async def run(site):
        async with aiohttp.ClientSession() as session:
            return await asyncio.wait_for(crawler(flaky)(session, site.url("/"), workers=2), 20)

    with slow_site(delay=0.01, chapters=3) as site:
        pages, failed, _ = asyncio.run(run(site))
    assert failed == {site.url("/book/"): "ClientConnectionError: reset"}
    assert len(pages) == 1 + 5  # the home page and its five pages; the book was behind the failed index

"""Exercises of chapter 08 (asyncio streams and HTTP): read an HTTP answer by its length, decode a
page with its declared charset, a bounded crawler that reports failures instead of raising.

08.1 and 08.3 take ``async def`` answers and run them with chapter 07's
:func:`helpers.checks.ch07.run_async` (a fresh event loop in a worker thread, joined before the
checker returns). The streams are ``asyncio.StreamReader`` objects fed by the checker, the
downloads are fakes that sleep: no network.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable

from helpers.checks.ch07 import run_async
from helpers.exercises import Wrong, exercise
from helpers.gauge import InFlight

BODY = "第一章 晨雾中的车站\n".encode("gbk") + bytes(range(256))  # not text in any one charset: bytes are bytes
FIRST = (b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=gbk\r\nContent-Length: "
         + str(len(BODY)).encode() + b"\r\nX-Note: a: colon\r\n\r\n" + BODY)
SECOND = b"HTTP/1.1 404 Not Found\r\ncontent-length: 9\r\n\r\nnot found"


def _needs_async(answer: object, call: str) -> None:
    if not callable(answer):
        raise Wrong(f"pass the function itself: {call}")
    if not inspect.iscoroutinefunction(answer):
        raise Wrong(f"{getattr(answer, '__name__', 'your function')} must be an `async def` function")


@exercise("08.1", title="Read an HTTP answer by its length",
          hint="the status code is the second word of the first line; header lines until the empty one, "
               "each split at its first colon; then exactly Content-Length bytes: reading to the end of the "
               "stream would wait for a close that never comes")
def read_by_length(answer) -> str:
    _needs_async(answer, "check('08.1', read_response)")

    async def program() -> str:
        reader = asyncio.StreamReader()
        reader.feed_data(FIRST + SECOND)  # two answers on one connection; no feed_eof(): it stays open
        try:
            got = await asyncio.wait_for(answer(reader), 1.0)
        except TimeoutError:
            raise Wrong("read_response(reader) was still waiting after 1 s: the connection stays open, so read "
                        "the body by its Content-Length, not until the end of the stream") from None
        if not (isinstance(got, tuple) and len(got) == 3):
            raise Wrong(f"return a tuple (status, headers, body), not {got!r}"[:300])
        status, headers, body = got
        if status != 200:
            raise Wrong(f"the status of 'HTTP/1.1 200 OK' is the int 200, not {status!r}")
        if not isinstance(headers, dict) or headers.get("content-type") != "text/html; charset=gbk":
            raise Wrong("headers['content-type'] should be 'text/html; charset=gbk' (names in lower case, "
                        f"values without the spaces around them); got {headers!r}"[:300])
        if headers.get("x-note") != "a: colon":
            raise Wrong(f"a header is split at its first colon only: 'X-Note: a: colon' gives 'a: colon', "
                        f"not {headers.get('x-note')!r}")
        if body != BODY:
            got_text = f"{len(body)} bytes" if isinstance(body, bytes) else repr(body)[:60]
            raise Wrong(f"the body should be the {len(BODY)} bytes Content-Length announces, got {got_text}")
        second = await asyncio.wait_for(answer(reader), 1.0)
        if second != (404, {"content-length": "9"}, b"not found"):
            raise Wrong(f"the second answer on the same connection should read (404, {{'content-length': '9'}}, "
                        f"b'not found'), got {second!r}"[:300])
        return "both answers read by their Content-Length, without waiting for the connection to close."

    return run_async(program)


PAGE = "<html><head><meta charset=\"{}\"><title>调车场</title></head><body><p>晨雾中的车站</p></body></html>"


@exercise("08.2", title="Decode a page the way a browser would",
          hint="look for charset= in the header (any case, maybe in quotes), then for a meta tag's charset in "
               "the bytes themselves (ASCII is the same in GBK and UTF-8), then fall back to UTF-8")
def decode(answer) -> str:
    if not callable(answer):
        raise Wrong("pass the function itself: check('08.2', decode_page)")
    gbk_page = PAGE.format("gbk").encode("gbk")
    utf8_page = PAGE.format("utf-8").encode("utf-8")
    plain_gbk = "<p>晨雾中的车站</p>".encode("gbk")
    plain_utf8 = "<p>晨雾中的车站</p>".encode()
    cases = [
        ("text/html; charset=gbk", plain_gbk, "<p>晨雾中的车站</p>", "the header says gbk"),
        ('text/html; Charset="GBK"', plain_gbk, "<p>晨雾中的车站</p>", "the header says GBK, in quotes"),
        ("text/html", gbk_page, PAGE.format("gbk"), "no charset in the header, the meta tag says gbk"),
        (None, gbk_page, PAGE.format("gbk"), "no header at all, the meta tag says gbk"),
        ("text/html; charset=utf-8", utf8_page, PAGE.format("utf-8"), "the header says utf-8"),
        ("text/html", plain_utf8, "<p>晨雾中的车站</p>", "no charset anywhere: UTF-8"),
        ("text/html; charset=gbk", PAGE.format("utf-8").encode("gbk"), PAGE.format("utf-8"),
         "the header says gbk and the meta tag utf-8: the header wins"),
    ]
    for content_type, body, want, what in cases:
        got = answer(content_type, body)
        if got != want:
            raise Wrong(f"{what}: expected {want[:30]!r}..., got {got!r}"[:300])
    return "header first, then <meta charset>, then UTF-8; GBK pages read right."


def _fake_fetch(flying: InFlight, calls: list[str]) -> Callable[[str], Awaitable[str]]:
    async def fetch(url: str) -> str:
        calls.append(url)
        with flying:
            await asyncio.sleep(0.02 + 0.01 * (len(calls) % 3))
        if url.endswith("/404"):
            raise LookupError("404 Not Found")
        if url.endswith("/reset"):
            raise ConnectionResetError("connection reset")
        if url.endswith("/slow"):
            raise TimeoutError("timed out")
        return f"page {url}"
    return fetch


@exercise("08.3", title="A crawler that reports instead of crashing",
          hint="one task per URL, all sharing a single semaphore sized by the limit, which each task enters "
               "before it fetches; "
               "catch the error inside that task and write down its type's name and its message; gather the tasks")
def crawl_all(answer) -> str:
    _needs_async(answer, "check('08.3', crawl_all)")

    async def program() -> str:
        flying, calls = InFlight(), []
        good = [f"http://book/chapter-{n}" for n in range(1, 10)]
        bad = ["http://book/404", "http://book/reset", "http://book/slow"]
        urls = good[:3] + bad + good[3:]
        try:
            got = await answer(_fake_fetch(flying, calls), urls, 3)
        except NotImplementedError:
            raise  # the stub: not solved yet
        except Exception as error:
            raise Wrong(f"crawl_all raised {type(error).__name__}: {error}: report failures, never raise") from None
        if not (isinstance(got, tuple) and len(got) == 2 and all(isinstance(part, dict) for part in got)):
            raise Wrong(f"return a tuple of two dicts (pages, failed), not {got!r}"[:300])
        pages, failed = got
        if sorted(calls) != sorted(urls):
            raise Wrong(f"fetch every URL once: {len(calls)} calls for {len(urls)} URLs")
        if pages != {url: f"page {url}" for url in good}:
            raise Wrong(f"pages should map each of the 9 good URLs to its page; got {sorted(pages)}"[:300])
        want = {"http://book/404": "LookupError: 404 Not Found",
                "http://book/reset": "ConnectionResetError: connection reset",
                "http://book/slow": "TimeoutError: timed out"}
        if failed != want:
            raise Wrong(f"failed should be {want}, got {failed}"[:400])
        if flying.most > 3:
            raise Wrong(f"{flying.most} fetches ran at once: the limit was 3")
        if flying.most < 3:
            raise Wrong(f"at most {flying.most} fetch(es) ran at once: with a limit of 3, 3 should run together")
        return "9 pages, 3 failures with their reasons, never more than 3 fetches at once, and 3 at a time."

    return run_async(program)

"""Exercises of chapter 08 (asyncio streams and HTTP): read HTTP answers of either framing on a
kept-alive connection, decode a page with its declared charset (gbk read as GB18030), a bounded
crawler that reports failures instead of raising.

08.1 and 08.3 take ``async def`` answers and run them with the asyncio chapters' shared
:func:`helpers.checks._async.run_async` (a fresh event loop in a worker thread, joined before the
checker returns). The streams are ``asyncio.StreamReader`` objects fed by the checker, the
downloads are fakes that sleep: no network.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from helpers.checks._async import needs_async, run_async
from helpers.exercises import Wrong, exercise
from helpers.gauge import InFlight

BODY = "第一章 晨雾中的车站\n".encode("gbk") + bytes(range(256))  # not text in any one charset: bytes are bytes
FIRST = (b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=gbk\r\nContent-Length: "
         + str(len(BODY)).encode() + b"\r\nX-Note: a: colon\r\n\r\n" + BODY)
# Chunked: sizes in hex (lower and upper case, one with a chunk extension), then a trailer line.
CHUNKS = [b"line 1\n", bytes(range(26)), b"x" * 300]
CHUNKED = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/plain\r\n\r\n"
           b"7\r\nline 1\n\r\n" + b"1a;name=value\r\n" + bytes(range(26)) + b"\r\n"
           + b"12C\r\n" + b"x" * 300 + b"\r\n0\r\nX-Trailer: end\r\n\r\n")
NO_CONTENT = b"HTTP/1.1 204 No Content\r\nX-Why: nothing to say\r\n\r\n"
# A 304's Content-Length is the length of the page it does not send.
NOT_MODIFIED = b"HTTP/1.1 304 Not Modified\r\nContent-Length: 5000\r\nETag: \"v1\"\r\n\r\n"
SECOND = b"HTTP/1.1 404 Not Found\r\ncontent-length: 9\r\n\r\nnot found"


@exercise("08.1", title="Read any HTTP answer on a kept-alive connection",
          hint=("On a connection that stays open, how does the reader know where one answer's body ends and the "
                "next answer begins? Which headers (or which statuses) say so?",
                "readline() and readexactly(n) read no further than asked. Chunked coding sends hexadecimal size "
                "lines (maybe with ';' and an extension), each chunk followed by CRLF, then a size of 0 and "
                "trailer lines up to an empty one. Pitfalls: a header's value may contain colons; 204 and 304 have "
                "no body."))
def read_any_framing(answer) -> str:
    needs_async(answer, "check('08.1', read_response)")

    async def program() -> str:
        reader = asyncio.StreamReader()
        # five answers on one connection; no feed_eof(): it stays open
        reader.feed_data(FIRST + CHUNKED + NO_CONTENT + NOT_MODIFIED + SECOND)

        async def next_answer(which: str) -> object:
            try:
                return await asyncio.wait_for(answer(reader), 1.0)
            except TimeoutError:
                extra = (": it has no body, whatever its headers say (a 304's Content-Length is the page's, not "
                         "sent)") if "04 N" in which else ""
                raise Wrong(f"read_response(reader) was still waiting after 1 s on the {which}{extra}; the connection "
                            "stays open, so read the body by its framing, not until the end of the stream") from None
            except (KeyError, IndexError, ValueError, asyncio.IncompleteReadError) as error:
                raise Wrong(f"on the {which}, read_response raised {type(error).__name__}: {error}"[:300]) from None

        got = await next_answer("first answer (Content-Length)")
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
        got = await next_answer("second answer (Transfer-Encoding: chunked)")
        want = b"".join(CHUNKS)
        if not (isinstance(got, tuple) and len(got) == 3 and got[0] == 200 and got[2] == want):
            shown = got[2][:40] if isinstance(got, tuple) and len(got) == 3 and isinstance(got[2], bytes) else got
            raise Wrong("the second answer is chunked (sizes 7, 1a;name=value and 12C in hexadecimal): its body is "
                        f"the {len(want)} bytes of the chunks joined, without the size lines; got {shown!r}"[:300])
        for which, status in [("204 No Content", 204), ("304 Not Modified", 304)]:
            got = await next_answer(f"answer {which}")
            if not (isinstance(got, tuple) and len(got) == 3 and got[0] == status and got[2] == b""):
                raise Wrong(f"a {which} answer has no body, whatever its headers say (a 304's Content-Length is "
                            f"the page's, not sent): return b'' as its body; got {got!r}"[:300])
        got = await next_answer("last answer (404)")
        if got != (404, {"content-length": "9"}, b"not found"):
            raise Wrong(f"the last answer on the same connection should read (404, {{'content-length': '9'}}, "
                        f"b'not found'), got {got!r}"[:300])
        return "five answers on one connection: by Content-Length, chunked, two without a body, and a 404."

    return run_async(program)


PAGE = "<html><head><meta charset=\"{}\"><title>调车场</title></head><body><p>晨雾中的车站</p></body></html>"


@exercise("08.2", title="Decode a page the way a browser would",
          hint=("Where can a page say its charset, and which of the two places wins when both do?",
                "A case-insensitive regular expression finds charset= in the header or in the page's bytes (the "
                "meta tag is ASCII, the same in GBK and UTF-8). Pitfalls: quotes around the label, a None header, "
                "and gbk or gb2312, which must decode as gb18030."))
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
        ("text/html; charset=GBK", "<p>刘䶮</p>".encode("gb18030"), "<p>刘䶮</p>",
         "the header says GBK and the page holds a character only GB18030 has: read gbk as gb18030"),
        ("text/html", PAGE.format("gb2312").replace("调车场", "吉野家的𠮷").encode("gb18030"),
         PAGE.format("gb2312").replace("调车场", "吉野家的𠮷"), "the meta tag says gb2312: read it as gb18030"),
    ]
    for content_type, body, want, what in cases:
        try:
            got = answer(content_type, body)
        except UnicodeDecodeError as error:
            raise Wrong(f"{what}: {type(error).__name__}: {error}"[:300]) from None
        if got != want:
            raise Wrong(f"{what}: expected {want[:30]!r}..., got {got!r}"[:300])
    return "header first, then <meta charset>, then UTF-8; GBK and GB2312 pages read right, as GB18030."


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
          hint=("For a semaphore to hold anything back, what must exist at the same time? And where must an error "
                "be caught so that it cannot stop the others?",
                "An asyncio.Semaphore sized by the limit bounds how many tasks are inside it at once, but only "
                "tasks that exist together. Pitfalls: an error let out of its own URL's task stops the report on "
                "the others, and type(error).__name__ names an error's type."))
def crawl_all(answer) -> str:
    needs_async(answer, "check('08.3', crawl_all)")

    async def program() -> str:
        flying = InFlight()
        calls: list[str] = []
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

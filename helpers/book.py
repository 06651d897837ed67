"""A local book site in a legacy encoding: a small Chinese novel served as GBK, for chapter 08's crawler.

The source tutorials crawl a real novel site whose pages are not UTF-8. This server plays that
site offline: every page is GBK and says so in its ``Content-Type`` (``text/html; charset=gbk``)
and in a ``<meta charset="gbk">``. Its index has the usual traps of such sites: relative links,
one chapter the index forgets (it exists, the index just does not list it), and one link that
answers 404. Who calls it: chapter 08's cells, as ``with book_site(delay=0.2) as book:``, then
any HTTP client (aiohttp, raw streams) on ``book.index_url``.

Public names:
    book_site(*, delay=0.2, chapters=12, missing=7, faults=None, keepalive=None) -> BookSite
    BookSite   the handle: base_url, url(), index_url, chapter_url(i), address, hits, max_in_flight,
               tracer, reset(), chapter_title(i), chapter_text(i), errors, stop()
    Hit        one request the site saw: path and outcome ("200", "404", "reset", "stalled")
    numeral(n) n in Chinese numerals, as chapter titles write it: numeral(12) == "十二"

Routes (GET or HEAD; every page GBK with a Content-Length):
    /book/ and /book/index.html   the index (目录), after the delay: relative links "chapter-<i>.html"
                                  to every chapter but ``missing``, then "afterword.html" (a 404)
    /book/chapter-<i>.html        chapter i of 1..chapters, after the delay: <h1> title, then the
                                  text's paragraphs inside <div id="text">
    anything else                 404, at once (a GBK page too), percent-escaped paths included
                                  ("chapter-%31.html"): one URL per page
A request followed by the client's half-close (SHUT_WR) is answered, then the connection closes.

Faults, to practise error handling: ``faults={3: ["reset"], 5: ["stall", "stall"]}`` makes the
first request of chapter 3 reset its connection (a TCP RST: the client reads "connection reset"),
and the first two requests of chapter 5 stall (no answer until the client gives up or the site
stops); the requests after them are answered as usual.

What it records: ``hits``, every request in arrival order with its outcome, and ``max_in_flight``,
the most requests being answered at the same time (a ``helpers.gauge.InFlight``): a client's
concurrency limit is proven from the server's side. And ``tracer``, a ``helpers.trace.Tracer``
with one lane per page (``chapter-3.html``; a page asked twice, a retry, shows twice on its lane)::

    spawn  GET        the request arrived
    run               the site works on it
    wait   delay      the site sleeps before it answers (index and chapters)
    run    answer     and wakes up to answer
    exit   200        the status, or "reset", "stalled", "cancelled"

so ``book.tracer.timeline(clock="time")`` draws the requests as the server saw them.
``reset()`` clears the three between two runs.

Threads: aiohttp serves on a BackgroundLoop (``helpers.servers``) in the thread
"switchyard-book" (the shape it shares with ``helpers.site`` is ``helpers._http.LocalSite``);
each request is a task on that loop, so slow requests overlap. Blocking: book_site() blocks
until the site listens; stop() cancels the requests still in flight (their clients see the
connection close) and joins the thread. Nothing prints: errors go to ``errors``.
"""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import html
import socket
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from aiohttp import web

from helpers._checks import seconds
from helpers._http import LocalSite

__all__ = ["BookSite", "Hit", "book_site", "numeral"]

MAX_CHAPTERS = 99
MAX_DELAY = 30.0
STALL = 60.0  # seconds a stalled request waits before it gives up itself (stop() cuts it short)
FAULTS = ("reset", "stall")
CHARSET = "gbk"

DIGITS = "零一二三四五六七八九"
# Common characters, all in GBK (and not in Latin-1, so a wrong decoding shows at once).
HANZI = (
    "天地人山水风月日云雨火车站道路门窗灯夜早晚春秋江河城市桥船铁轨信号钟声远近"
    "行走停等候看听说想写读书信心手眼前后上下东西南北中里外来去开关快慢明暗新旧"
    "长短高低大小多少老少家国时年分秒花草树林石田野鸟鱼马牛羊雪霜光影梦醒歌笛"
)
THEMES = (
    "晨雾中的车站", "信号与道岔", "一条轨道许多列车", "耐心的机车", "在岔口等候", "时刻表",
    "货车与旅客", "汽笛声声", "夜班", "道口", "繁忙的站台", "末班车",
)
AFTERWORD = "afterword.html"
# The record of the request being answered: set on its arrival, marked by the handler (same task).
_SLOT: contextvars.ContextVar[list[str]] = contextvars.ContextVar("switchyard_book_slot")


def numeral(n: int) -> str:
    """``n`` (1..99) in Chinese numerals: 1 一, 10 十, 12 十二, 20 二十, 47 四十七."""
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_CHAPTERS:
        raise ValueError(f"n must be a whole number from 1 to {MAX_CHAPTERS}, not {n!r}")
    tens, ones = divmod(n, 10)
    return (DIGITS[tens] if tens > 1 else "") + ("十" if tens else "") + (DIGITS[ones] if ones else "")


def _title(i: int) -> str:
    return f"第{numeral(i)}章 {THEMES[(i - 1) % len(THEMES)]}"


def _paragraphs(i: int) -> list[str]:
    """Chapter ``i``'s paragraphs: sentences of characters picked by a hash, the same on every run."""
    paragraphs = []
    for p in range(3 + i % 3):
        sentences = []
        for s in range(4 + (i + p) % 4):
            digest = hashlib.sha256(f"book {i} {p} {s}".encode()).digest()
            chars = [HANZI[byte % len(HANZI)] for byte in digest[1: 9 + digest[0] % 12]]
            sentences.append("".join(chars[:4]) + "，" + "".join(chars[4:]) + "。")
        paragraphs.append("".join(sentences))
    return paragraphs


def _page(title: str, body: str) -> bytes:
    return (
        f'<!doctype html>\n<html lang="zh">\n<head><meta charset="{CHARSET}"><title>{title}</title></head>\n'
        f"<body>\n<h1>{title}</h1>\n{body}</body>\n</html>\n"
    ).encode(CHARSET)


def _chapter_page(i: int) -> bytes:
    text = "".join(f"<p>{paragraph}</p>\n" for paragraph in _paragraphs(i))
    return _page(_title(i), f'<div id="text">\n{text}</div>\n<p><a href="index.html">目录</a></p>\n')


def _index_page(chapters: int, missing: int | None) -> bytes:
    items = "".join(f'<li><a href="chapter-{i}.html">{_title(i)}</a></li>\n'
                    for i in range(1, chapters + 1) if i != missing)
    items += f'<li><a href="{AFTERWORD}">后记</a></li>\n'
    return _page("调车场 · 目录", f"<ol>\n{items}</ol>\n")


def _response(body: bytes, status: int = 200) -> web.Response:
    return web.Response(body=body, status=status, content_type="text/html", charset=CHARSET)


@dataclass(frozen=True)
class Hit:
    """One request the site saw, e.g. ``/book/chapter-3.html reset``."""

    path: str
    outcome: str  # "200", "404", "reset", "stalled", "cancelled" (client left) or "in flight"

    def __str__(self) -> str:
        return f"{self.path} {self.outcome}"


class BookSite(LocalSite):
    """The book site (routes in the module docstring). Made and started by book_site().

    What it shares with the slow site (``url()``, ``base_url``, ``max_in_flight``, ``tracer``, the
    middleware around every request) is ``helpers._http.LocalSite``.
    """

    home = "/book/"
    runner_options = {"handler_cancellation": True}  # a broken connection cancels its request

    def __init__(self, *, delay: float = 0.2, chapters: int = 12, missing: int | None = 7,
                 faults: Mapping[int, Sequence[str]] | None = None, keepalive: float | None = None) -> None:
        delay = seconds(delay, "delay", zero_ok=True, maximum=MAX_DELAY)
        if isinstance(chapters, bool) or not isinstance(chapters, int) or not 1 <= chapters <= MAX_CHAPTERS:
            raise ValueError(f"chapters must be a whole number from 1 to {MAX_CHAPTERS}, not {chapters!r}")
        if missing is not None and (isinstance(missing, bool) or not isinstance(missing, int)
                                    or not 1 <= missing <= chapters):
            raise ValueError(f"missing must be None or a chapter from 1 to {chapters}, not {missing!r}")
        plan: dict[int, list[str]] = {}
        for chapter, kinds in (faults or {}).items():
            if isinstance(chapter, bool) or not isinstance(chapter, int) or not 1 <= chapter <= chapters:
                raise ValueError(f"faults: {chapter!r} is not a chapter from 1 to {chapters}")
            if isinstance(kinds, str) or not all(kind in FAULTS for kind in kinds):
                raise ValueError(f"faults[{chapter}] must be a list of {' or '.join(map(repr, FAULTS))}, not {kinds!r}")
            plan[chapter] = list(kinds)
        if keepalive is not None:
            keepalive = seconds(keepalive, "keepalive")
        super().__init__("book", delay=delay, chapters=chapters, keepalive=keepalive)
        self.missing = missing
        self._faults = plan
        self._hits: list[list[str]] = []  # [path, outcome] in arrival order

    # --- for the caller ---------------------------------------------------------------------

    @property
    def index_url(self) -> str:
        """The index page's URL, where a crawler starts."""
        return self.url("/book/index.html")

    def chapter_url(self, i: int) -> str:
        """The URL of chapter ``i`` (listed in the index or not)."""
        return self.url(f"/book/chapter-{i}.html")

    def chapter_title(self, i: int) -> str:
        """Chapter ``i``'s title, e.g. "第七章 货车与旅客"."""
        self._check_chapter(i)
        return _title(i)

    def chapter_text(self, i: int) -> str:
        """Chapter ``i``'s text, its paragraphs joined by newlines (what a crawler should save)."""
        self._check_chapter(i)
        return "\n".join(_paragraphs(i))

    @property
    def hits(self) -> list[Hit]:
        """Every request since the start (or the last reset()), in arrival order."""
        return [Hit(path, outcome) for path, outcome in self._hits]

    def reset(self) -> None:
        """Forget the hits, the in-flight record and the trace (between two measured runs).

        Faults already used are not re-armed. Refuses (RuntimeError) while requests are in flight.
        """
        self._in_flight.reset()
        self._hits.clear()
        self.tracer.clear()

    def _check_chapter(self, i: object) -> None:
        if isinstance(i, bool) or not isinstance(i, int) or not 1 <= i <= self.chapters:
            raise ValueError(f"this book has chapters 1 to {self.chapters}, not {i!r}")

    # --- on the site's loop (LocalSite calls these) -------------------------------------------

    def _routes(self, app: web.Application) -> None:
        app.router.add_get("/book/", self._index)
        app.router.add_get("/book/index.html", self._index)
        app.router.add_get(r"/book/chapter-{i:[1-9][0-9]?}.html", self._chapter)
        app.router.add_route("*", "/{anything:.*}", self._not_found)

    def _arrived(self, request: web.Request) -> tuple[str, str, list[str]]:
        """A lane per page ("chapter-3.html"); the record is the hit [path, outcome], filled in as it goes."""
        path = request.raw_path if len(request.raw_path) <= 60 else request.raw_path[:59] + "…"
        slot = [path, "in flight"]
        _SLOT.set(slot)
        self._hits.append(slot)  # in arrival order; the outcome is filled in when known
        return path.rsplit("/", 1)[-1] or path, request.method, slot  # "OPTIONS *", "CONNECT host:443" have no "/"

    def _answered(self, request: web.Request, record: list[str], status: int) -> None:
        record[1] = str(status)

    def _cut_short(self, record: list[str]) -> str:
        """Reset, stalled (marked by the handler), or else the client gave up or stop() came: "cancelled"."""
        if record[1] == "in flight":
            record[1] = "cancelled"
        return record[1]

    def _error_page(self, request: web.Request, exc: web.HTTPException) -> web.Response:
        """A 404 as the book's own GBK page; the book raises no other HTTP error."""
        if not isinstance(exc, web.HTTPNotFound):
            raise exc
        return _response(_page("404 Not Found", f"<p>这里没有 {html.escape(_SLOT.get()[0])}。</p>\n"), 404)

    async def _pause(self) -> None:
        await self._wait(self.delay, "delay")

    async def _index(self, request: web.Request) -> web.Response:
        await self._pause()
        return _response(_index_page(self.chapters, self.missing))

    async def _chapter(self, request: web.Request) -> web.Response:
        i = int(request.match_info["i"])
        if i > self.chapters:
            raise web.HTTPNotFound()
        fault = self._faults[i].pop(0) if self._faults.get(i) else None
        if fault == "reset":
            transport = request.transport
            if transport is not None:  # None: the client has gone already, nothing left to reset
                sock = transport.get_extra_info("socket")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close = RST
                transport.abort()
            _SLOT.get()[1] = "reset"
            raise asyncio.CancelledError  # no answer: aiohttp lets the aborted connection go
        if fault == "stall":
            _SLOT.get()[1] = "stalled"
            self._trace("wait", "stall")
            await asyncio.sleep(STALL)  # the client gives up first (which cancels this), or stop() does
            raise web.HTTPNotFound()
        await self._pause()
        return _response(_chapter_page(i))


def book_site(*, delay: float = 0.2, chapters: int = 12, missing: int | None = 7,
              faults: Mapping[int, Sequence[str]] | None = None, keepalive: float | None = None) -> BookSite:
    """Start the book site on 127.0.0.1 (a port the OS picks) and return its handle.

    ``delay``: seconds the index and each chapter wait before answering (0..30); ``chapters``:
    1..99; ``missing``: the chapter the index forgets (None: none); ``faults``: see the module
    docstring; ``keepalive``: seconds an idle keep-alive connection stays open (None: aiohttp's
    default). Use it as ``with book_site() as book:``; leaving the block stops it.
    """
    return BookSite(delay=delay, chapters=chapters, missing=missing, faults=faults, keepalive=keepalive).start()

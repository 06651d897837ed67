"""The course's local slow website: delayed pages and a small "book" to crawl.

The source tutorials download pages from the internet; the notebooks download them from this
site instead, so every run sees the same pages and the same delays, and needs no network.
Who calls it: the notebooks, as ``with slow_site(delay=0.2) as site:``, then any HTTP client
(urllib, raw sockets, aiohttp) on ``site.url("/page/1")``.

Public names:
    slow_site(*, delay=0.2, chapters=12, tracer=None, keepalive=None, capacity=None) -> SlowSite
               start a site (a context manager)
    latency(delay, in_flight, capacity) -> float   how long a page takes with that many requests in flight
    SlowSite   the handle: base_url, url(), address, requests, max_in_flight, tracer, chapter_urls(),
               expected_page(), errors, stop()
    Request    one answered request: method, path (with its query string), status

Routes (GET or HEAD; HTML in UTF-8 with a Content-Length, so hand-written HTTP/1.0 and 1.1
clients work, except /stream, chunked on purpose; "Connection: close" is honoured):
    /                        home page with links; answers at once
    /page/{n}                "Page n", n from 1 to 10000, after the delay
    /book/                   "The Switchyard Book": a numbered list of the chapters, after the delay
    /book/chapter-{i}.html   chapter i of 1..chapters, 1-4 KB of text that is the same on every run
    /stream/{n}              n lines (1..1000) sent one by one as a streamed answer: no Content-Length,
                             chunked transfer coding (HTTP/1.1) instead; answers at once
    ?delay=SECONDS           on the delayed routes: this request's delay instead (0..30, else 400)
    anything else            404 with a short HTML page
Numbers are written in ASCII digits without leading zeros (one URL per page): "/page/007",
"/page/%31" (a percent-escaped "1") and "/page/" followed by 5,000 digits are 404s like
"/page/0". Another method than GET or HEAD on a route above gets 405 with "Allow: GET, HEAD". A
request followed by the client's half-close (SHUT_WR) is answered, then the connection closes.
Every answer, errors included, is one of the site's own HTML pages and is recorded in
``requests`` (a failure of the site itself is a 500 page, recorded, with the traceback's last
line in ``errors``). Bytes that are not HTTP (garbage, a method HTTP does not know, a header
line over 8 KB) never reach the site: aiohttp's parser answers a bare 400 and closes; they are
not in ``requests``, and aiohttp's note is in ``errors``.

What it records, into a ``helpers.trace.Tracer`` (its own, ``site.tracer``, or one passed in so that
a cell's clients and the site share one timeline): a lane "server" (spawn "listening", exit
"stopped") and one lane per request, "request 1", "request 2", ... in arrival order (a lane per
request, not per connection: HTTP clients may send several requests on one connection)::

    spawn  GET /page/1     the request arrived
    run                    the site works on it
    wait   delay 0.2 s     the site sleeps before it answers (the delayed routes)
    run    answer          and wakes up to answer
    exit   200             the answer's status (or "stopped": stop() cut it short)

Capacity (``capacity=k``): a site with room for k requests at once. Past k it does not queue them,
it slows down like an overloaded server: a delayed page that arrives while n requests are being
answered (itself included) takes ``latency(delay, n, k)`` = delay × max(1, n / k)² seconds. Its
latency curve is flat up to k concurrent requests and rises steeply after (chapter 08 measures when a
client-side limit beats sending everything at once). None (the default): no limit, every page
takes its delay whatever the load.

Threads: aiohttp serves on a BackgroundLoop (helpers.servers) in the thread "switchyard-site"
(the shape it shares with ``helpers.book`` is ``helpers._http.LocalSite``).
Every request is a task on that loop, so slow requests overlap instead of queueing. The
caller's thread only starts and stops the site and reads its records.

Blocking and timeouts: slow_site() blocks until the site listens (TimeoutError after 10 s).
stop() gives requests still in flight 0.1 s, then cancels them (their clients see the
connection close) and joins the thread (RuntimeError if it has not ended within 10 s).
Nothing prints: aiohttp's access log is off and its error log goes to ``site.errors``.
"""

from __future__ import annotations

import hashlib
import html
import itertools
import re
from dataclasses import dataclass

from aiohttp import web

from helpers._checks import seconds
from helpers._http import LocalSite, check_path
from helpers.trace import Tracer

__all__ = ["Request", "SlowSite", "latency", "slow_site"]

MAX_DELAY = 30.0
MAX_CHAPTERS = 500
MAX_PAGE = 10_000
MAX_LINES = 1_000  # the most lines /stream/{n} sends
MAX_CAPACITY = 10_000
ALLOWED = ("GET", "HEAD")
NUMBER = "[1-9][0-9]*"  # a page or chapter number as the site writes it: ASCII digits, no leading zero

WORDS = (
    "the", "a", "train", "yard", "switch", "signal", "track", "engine", "wagon", "platform",
    "timetable", "junction", "driver", "guard", "whistle", "coroutine", "task", "loop", "await",
    "event", "queue", "socket", "thread", "future", "waits", "runs", "pauses", "resumes",
    "switches", "sends", "receives", "sleeps", "wakes", "quietly", "slowly", "early", "late",
    "again", "together", "before", "after", "while", "every", "one", "many", "small", "busy",
    "idle", "green", "red", "morning", "evening", "freight", "steam", "lantern", "ticket",
)
THEMES = (
    "The Yard at Dawn", "Signals and Switches", "One Track, Many Trains", "The Patient Engine",
    "Waiting at the Junction", "The Timetable", "Freight and Passengers", "A Whistle in the Loop",
    "The Night Shift", "Points and Crossings", "The Busy Platform", "Last Train Home",
)


@dataclass(frozen=True)
class Request:
    """One answered request, e.g. ``GET /page/1?delay=0.5 200``."""

    method: str
    path: str  # as the client sent it, query string included
    status: int

    def __str__(self) -> str:
        return f"{self.method} {self.path} {self.status}"


def _check_delay(delay: object) -> float:
    if isinstance(delay, bool) or not isinstance(delay, (int, float)) or not 0 <= delay <= MAX_DELAY:
        raise ValueError(f"delay must be a number of seconds from 0 to {MAX_DELAY:g}, not {delay!r}")
    return float(delay)


def _check_capacity(capacity: object) -> int | None:
    if capacity is None:
        return None
    if isinstance(capacity, bool) or not isinstance(capacity, int) or not 1 <= capacity <= MAX_CAPACITY:
        raise ValueError(f"capacity must be None or a whole number from 1 to {MAX_CAPACITY}, not {capacity!r}")
    return capacity


def latency(delay: float, in_flight: int, capacity: int | None) -> float:
    """Seconds a delayed page takes on a site of ``capacity`` answering ``in_flight`` requests (itself included).

    Flat up to the capacity, then growing with the square of the overload: a server past its
    capacity spends more and more of its time on the overload itself (switching, memory, locks)
    instead of on answers. ``capacity=None``: no limit, always ``delay``.
    """
    delay = _check_delay(delay)
    capacity = _check_capacity(capacity)
    if isinstance(in_flight, bool) or not isinstance(in_flight, int) or in_flight < 1:
        raise ValueError(f"in_flight must be a whole number >= 1 (the request itself), not {in_flight!r}")
    if capacity is None:
        return delay
    return delay * max(1.0, in_flight / capacity) ** 2


def _number(text: str, highest: int) -> int | None:
    """``text`` as a number from 1 to ``highest`` if it is one written the site's way, else None.

    Checks the digits before calling int(): int() refuses strings of over 4,300 digits
    (ValueError), and would accept "007" or non-ASCII digits such as "\u0663" (Arabic-Indic 3).
    """
    if not re.fullmatch(NUMBER, text) or len(text) > len(str(highest)):
        return None
    n = int(text)
    return n if n <= highest else None


def _shorten(text: str, most: int = 24) -> str:
    """``text``, cut to ``most`` characters with an ellipsis: error pages must not echo 5,000 digits."""
    return text if len(text) <= most else text[: most - 1] + "\N{HORIZONTAL ELLIPSIS}"


def _html(title: str, body: str) -> bytes:
    return (
        f'<!doctype html>\n<html lang="en">\n<head><meta charset="utf-8"><title>{title}</title></head>\n'
        f"<body>\n<h1>{title}</h1>\n{body}</body>\n</html>\n"
    ).encode()


def _home_html() -> bytes:
    links = "".join(f'<li><a href="/page/{n}">Page {n}</a></li>\n' for n in range(1, 6))
    return _html(
        "The Switchyard slow site",
        "<p>A small local website for the course \N{EM DASH} every other page answers after a delay.</p>\n"
        f'<p><a href="/book/">The Switchyard Book</a></p>\n<ul>\n{links}</ul>\n',
    )


def _page_html(n: int) -> bytes:
    return _html(f"Page {n}", f'<p>This is page {n} of the slow site.</p>\n<p><a href="/">Home</a></p>\n')


def _chapter_title(i: int) -> str:
    """The title of chapter ``i``, e.g. "Chapter 3: One Track, Many Trains"."""
    part = (i - 1) // len(THEMES) + 1
    return f"Chapter {i}: {THEMES[(i - 1) % len(THEMES)]}" + (f", part {part}" if part > 1 else "")


def _sentence(i: int, p: int, s: int) -> str:
    """Sentence ``s`` of paragraph ``p`` of chapter ``i``: 6 to 13 words picked by a hash, so always the same."""
    digest = hashlib.sha256(f"chapter {i} paragraph {p} sentence {s}".encode()).digest()
    words = [WORDS[byte % len(WORDS)] for byte in digest[1 : 7 + digest[0] % 8]]
    return " ".join(words).capitalize() + "."


def _chapter_html(i: int) -> bytes:
    paragraphs = "".join(
        "<p>" + " ".join(_sentence(i, p, s) for s in range(4 + (i + p) % 3)) + "</p>\n"
        for p in range(3 + i % 4)
    )
    return _html(_chapter_title(i), paragraphs + '<p><a href="/book/">Contents</a></p>\n')


def _index_html(chapters: int) -> bytes:
    items = "".join(
        f'<li><a href="/book/chapter-{i}.html">{_chapter_title(i)}</a></li>\n'
        for i in range(1, chapters + 1)
    )
    return _html("The Switchyard Book", f"<ol>\n{items}</ol>\n")


def _html_response(body: bytes, status: int = 200) -> web.Response:
    return web.Response(body=body, status=status, content_type="text/html", charset="utf-8")


def _error_response(status: int, reason: str, text: str) -> web.Response:
    """The site's own error page: "<h1>404 Not Found</h1>" and a one-line reason."""
    return _html_response(_html(f"{status} {reason}", f"<p>{html.escape(text, quote=False)}</p>\n"), status)


class SlowSite(LocalSite):
    """The slow site (routes in the module docstring); ``delay`` and ``chapters`` are as given.

    Made and started by slow_site(); stop() or leaving the ``with`` block ends it. What it shares
    with chapter 08's book site (``url()``, ``base_url``, ``max_in_flight``, ``tracer``, the
    middleware around every request) is ``helpers._http.LocalSite``.
    """

    def __init__(self, *, delay: float = 0.2, chapters: int = 12, tracer: Tracer | None = None,
                 keepalive: float | None = None, capacity: int | None = None) -> None:
        capacity = _check_capacity(capacity)
        if keepalive is not None:
            keepalive = seconds(keepalive, "keepalive")
        if tracer is not None and not isinstance(tracer, Tracer):
            raise TypeError(f"tracer must be a helpers.trace.Tracer, not {type(tracer).__name__}")
        if isinstance(chapters, bool) or not isinstance(chapters, int) or not 1 <= chapters <= MAX_CHAPTERS:
            raise ValueError(f"chapters must be a whole number from 1 to {MAX_CHAPTERS}, not {chapters!r}")
        delay = _check_delay(delay)
        super().__init__("site", delay=delay, chapters=chapters, keepalive=keepalive, tracer=tracer)
        self.capacity = capacity
        self._arrivals = itertools.count()
        self._answers: list[tuple[int, Request]] = []  # (arrival number, record), in answer order

    def chapter_urls(self) -> list[str]:
        """The URL of every chapter, in order."""
        return [self.url(f"/book/chapter-{i}.html") for i in range(1, self.chapters + 1)]

    def expected_page(self, path: str) -> bytes:
        """The exact body this site sends for a successful GET of ``path`` (any query string is ignored).

        Lets a notebook check a download byte for byte without another request. Raises
        ValueError for a path the site answers with 404.
        """
        page = check_path(path).partition("?")[0]
        number = re.fullmatch(r"/page/([^/]+)|/book/chapter-([^/]+)\.html", page)
        if page == "/":
            return _home_html()
        if page == "/book/":
            return _index_html(self.chapters)
        if number and number[1] and (n := _number(number[1], MAX_PAGE)):
            return _page_html(n)
        if number and number[2] and (i := _number(number[2], self.chapters)):
            return _chapter_html(i)
        raise ValueError(f"{_shorten(path, 60)!r} is not a page of this site (it answers 404 there)")

    @property
    def requests(self) -> list[Request]:
        """Every request answered so far, in the order they arrived."""
        return [record for _, record in sorted(self._answers, key=lambda item: item[0])]

    # --- on the site's loop (LocalSite calls these) -------------------------------------------

    def _routes(self, app: web.Application) -> None:
        for path, handler in [("/", self._home), (r"/page/{n:[0-9]+}", self._page), ("/book/", self._index),
                              (r"/book/chapter-{i:[0-9]+}.html", self._chapter)]:
            app.router.add_get(path, handler)  # GET and HEAD
            app.router.add_route("*", path, self._not_allowed)  # any other method on the same path
        app.router.add_get(r"/stream/{n:[0-9]+}", self._stream)  # a streamed answer: chunked
        app.router.add_route("*", "/{anything:.*}", self._not_found)  # checked last

    def _listening(self) -> None:
        self.tracer.record("server", "spawn", "listening")

    def _stopped(self) -> None:
        self.tracer.record("server", "exit", "stopped")

    def _arrived(self, request: web.Request) -> tuple[str, str, int]:
        """A lane per request, "request 1", "request 2", ... in arrival order; the record is that number."""
        arrival = next(self._arrivals)
        return f"request {arrival + 1}", f"{request.method} {_shorten(request.raw_path, 60)}", arrival

    def _answered(self, request: web.Request, record: int, status: int) -> None:
        self._answers.append((record, Request(request.method, request.raw_path, status)))

    def _error_page(self, request: web.Request, exc: web.HTTPException) -> web.Response:
        """400, 404 or 405 from a handler, as the site's own page (405 with "Allow: GET, HEAD")."""
        # text is None only for an exception made with a body, which the site never raises
        response = _error_response(exc.status, exc.reason, exc.text if exc.text is not None else exc.reason)
        if isinstance(exc, web.HTTPMethodNotAllowed):
            response.headers["Allow"] = ", ".join(ALLOWED)
        return response

    def _failed(self, request: web.Request, exc: Exception) -> web.Response:
        """A bug of the site: still its own page (500), recorded, and said in ``errors``."""
        self._loop.logger.error("the site failed answering %s %s", request.method,
                                _shorten(request.raw_path, 60), exc_info=exc)
        return _error_response(500, "Internal Server Error", "The site failed; see site.errors.")

    def _delay_for(self, request: web.Request) -> float:
        """The site's delay, or this request's ``?delay=SECONDS`` (400 Bad Request unless 0..30)."""
        given = request.query.get("delay")
        if given is None:
            return self.delay
        try:
            return _check_delay(float(given))
        except ValueError:
            raise web.HTTPBadRequest(
                text=f"delay must be a number of seconds from 0 to {MAX_DELAY:g}, not {given!r}"
            ) from None

    async def _pause(self, request: web.Request) -> None:
        """Wait the delay before answering, recorded as a "wait" on the request's lane."""
        delay = latency(self._delay_for(request), max(1, self._in_flight.now), self.capacity)
        await self._wait(delay, f"delay {delay:g} s")

    async def _not_found(self, request: web.Request) -> web.Response:
        raise web.HTTPNotFound(text=f"There is nothing at {_shorten(request.path, 60)}.")

    async def _not_allowed(self, request: web.Request) -> web.Response:
        raise web.HTTPMethodNotAllowed(request.method, ALLOWED,
                                       text=f"This site answers {' and '.join(ALLOWED)} only, not {request.method}.")

    async def _home(self, request: web.Request) -> web.Response:
        return _html_response(_home_html())

    async def _page(self, request: web.Request) -> web.Response:
        given = request.match_info["n"]
        n = _number(given, MAX_PAGE)
        if n is None:
            raise web.HTTPNotFound(text=f"There is no page {_shorten(given)}: pages are numbered 1 to {MAX_PAGE}.")
        await self._pause(request)
        return _html_response(_page_html(n))

    async def _stream(self, request: web.Request) -> web.StreamResponse:
        given = request.match_info["n"]
        n = _number(given, MAX_LINES)
        if n is None:
            raise web.HTTPNotFound(text=f"There is no stream {_shorten(given)}: streams have 1 to {MAX_LINES} lines.")
        response = web.StreamResponse(headers={"Content-Type": "text/plain; charset=utf-8"})
        await response.prepare(request)  # the headers go out now, before the length is known
        for line in range(1, n + 1):
            await response.write(f"line {line}\n".encode())
        await response.write_eof()
        return response

    async def _index(self, request: web.Request) -> web.Response:
        await self._pause(request)
        return _html_response(_index_html(self.chapters))

    async def _chapter(self, request: web.Request) -> web.Response:
        given = request.match_info["i"]
        i = _number(given, self.chapters)
        if i is None:
            raise web.HTTPNotFound(
                text=f"There is no chapter {_shorten(given)}: this book has chapters 1 to {self.chapters}.")
        await self._pause(request)
        return _html_response(_chapter_html(i))


def slow_site(*, delay: float = 0.2, chapters: int = 12, tracer: Tracer | None = None,
              keepalive: float | None = None, capacity: int | None = None) -> SlowSite:
    """Start the slow site on 127.0.0.1 (a port the OS picks) and return its handle.

    ``delay``: seconds every page but the home page waits before it answers (0..30);
    ``chapters``: how many chapters the book has (1..500). Anything else raises ValueError.
    ``tracer``: record into this Tracer (beside a cell's own lanes) instead of a new one, ``site.tracer``.
    ``keepalive``: seconds an idle keep-alive connection stays open before the site closes it
    (None: the default of aiohttp's ``AppRunner``, 3630 s, about an hour; ``web.run_app`` uses 75 s;
    chapter 08 shortens it to show a client waiting it out).
    ``capacity``: how many requests at once the site answers at full speed (None: no limit; past it,
    pages slow down as ``latency()`` says).
    Use it as ``with slow_site() as site:``; leaving the block stops it.
    """
    return SlowSite(delay=delay, chapters=chapters, tracer=tracer, keepalive=keepalive, capacity=capacity).start()

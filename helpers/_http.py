"""What the course's aiohttp sites (``helpers.site``, ``helpers.book``) share: their shape, and HTTP details.

Who calls it: those two modules, not notebooks.

- :class:`LocalSite`: the shape of both sites, a BackgroundServer (``helpers.servers``) serving an
  aiohttp app on its loop: ``base_url`` and ``url()``, a ``tracer`` with one lane per request
  (spawn, run, wait, run, exit), ``max_in_flight``, and around every request one middleware that
  counts it in flight, sends a percent-escaped path to the site's 404, turns the site's errors
  into its own pages and records the answer. Each site says what differs: its routes, its lanes,
  its pages, its records.
- :class:`AnsweringRunner`: ``web.AppRunner`` whose connections answer a request even when the
  client half-closes right after sending it (``shutdown(SHUT_WR)``, as ``nc -q``, HTTP/1.0 tools
  and some tests do). aiohttp closes the connection as soon as it reads the end of the client's
  stream, so such a client got nothing back while the site recorded an answer. TCP cannot tell a
  half-close from a full close: a client that closed for good gets the answer too, and its kernel
  drops it. After that answer the connection closes: the client can send nothing more.
- :func:`is_canonical`: a request path is the site's own spelling of it (no percent-escapes), so
  each page has one URL: ``/page/%31`` is not a second name for ``/page/1``.
- :func:`check_path`: a path given to ``url()`` is a string starting with "/".

Threads: a site's coroutines run on its BackgroundLoop's thread; ``url()``, ``base_url`` and
``max_in_flight`` are read from the caller's thread.
"""

from __future__ import annotations

import asyncio
import contextvars
import socket
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_server import Server

from helpers.gauge import InFlight
from helpers.servers import BACKLOG, BackgroundServer
from helpers.trace import Tracer

__all__ = ["AnsweringRunner", "LocalSite", "check_path", "is_canonical"]

GRACE = 0.1  # seconds stop() lets requests in flight finish before it cancels them
# The trace lane of the request being answered: set by the middleware, read by the handler it calls (same task).
_LANE: contextvars.ContextVar[str] = contextvars.ContextVar("switchyard_site_lane")


class _AnsweringHandler(RequestHandler):
    # aiohttp hints eof_received "-> None"; asyncio.Protocol's contract, which this relies on, is
    # "-> bool | None" (True keeps the transport open): the one place the code means to differ.
    def eof_received(self) -> bool | None:  # type: ignore[override]
        # Idle means waiting for the next request (its waiter pending) with none queued; else a
        # request is queued or being answered (between the two, the waiter is None).
        idle = not self._messages and self._waiter is not None and not self._waiter.done()
        if not idle:
            self._close = True  # answer what was asked, then close: no keep-alive after the client's end
            return True  # keep our sending side open
        return None  # idle: close, as aiohttp does


class _AnsweringServer(Server):
    __slots__ = ()

    def __call__(self) -> RequestHandler:
        return _AnsweringHandler(self, loop=self._loop, **self._kwargs)


class AnsweringRunner(web.AppRunner):
    """``web.AppRunner`` whose connections still answer a request after the client's half-close."""

    __slots__ = ()

    async def _make_server(self) -> Server:
        server = await super()._make_server()
        server.__class__ = _AnsweringServer
        return server


def is_canonical(raw_path: str) -> bool:
    """True if the path part of ``raw_path`` has no percent-escapes (the sites write none)."""
    return "%" not in raw_path.partition("?")[0]


def check_path(path: object, example: str = "/page/1") -> str:
    """``path`` if it is a string starting with "/" (TypeError or ValueError, with ``example``, if not)."""
    if not isinstance(path, str):
        raise TypeError(f"path must be a string, not {type(path).__name__}")
    if not path.startswith("/"):
        raise ValueError(f"path must start with '/', e.g. {example!r}, not {path!r}")
    return path


class LocalSite(BackgroundServer):
    """The shape of the course's local websites: an aiohttp app on a BackgroundLoop, traced request by request.

    A subclass gives ``name``, ``delay``, ``chapters``, ``keepalive`` and ``tracer`` to __init__, sets
    ``home`` (``url()``'s default path) and ``runner_options`` (more ``AppRunner`` options), and says:
    ``_routes(app)`` its routes; ``_arrived(request)`` -> (lane, what the lane's spawn says, the
    site's record of the request), called first; ``_answered(request, record, status)`` once
    answered; ``_cut_short(record)`` -> the lane's exit when the request is cancelled (stop(), a
    client that left); ``_error_page(request, exc)`` the site's page for an HTTP error a handler
    raised; and ``_failed(request, exc)`` for a bug of the site (by default aiohttp's bare 500).
    Handlers wait with ``await self._wait(delay, note)`` (a "wait" and a "run answer" on the lane).
    """

    home: ClassVar[str] = "/"
    runner_options: ClassVar[dict[str, Any]] = {}

    def __init__(self, name: str, *, delay: float, chapters: int, keepalive: float | None,
                 tracer: Tracer | None = None) -> None:
        super().__init__(name)
        self.delay = delay
        self.chapters = chapters
        self.keepalive = keepalive
        self.tracer = Tracer() if tracer is None else tracer
        self._runner: web.AppRunner | None = None
        self._in_flight = InFlight()  # requests being answered

    # --- for the caller ---------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """e.g. "http://127.0.0.1:PORT"."""
        host, port = self.address
        return f"http://{host}:{port}"

    def url(self, path: str | None = None) -> str:
        """The full URL of ``path`` (default: the site's home), which must start with "/"."""
        return self.base_url + check_path(self.home if path is None else path, self.home)

    @property
    def max_in_flight(self) -> int:
        """The most requests that were being answered at the same time."""
        return self._in_flight.most

    # --- on the site's loop -----------------------------------------------------------------

    async def _open(self, sock: socket.socket) -> None:
        app = web.Application(middlewares=[self._track])
        self._routes(app)
        options = dict(self.runner_options)
        if self.keepalive is not None:
            options["keepalive_timeout"] = self.keepalive
        self._runner = AnsweringRunner(app, access_log=None, logger=self._loop.logger, shutdown_timeout=GRACE,
                                       **options)
        await self._runner.setup()
        await web.SockSite(self._runner, sock, backlog=BACKLOG).start()
        self._listening()

    async def _close(self) -> None:
        assert self._runner is not None  # _close runs only after _open succeeded
        await self._runner.cleanup()  # closes the listening socket and every connection
        self._stopped()

    @web.middleware
    async def _track(self, request: web.Request,
                     handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        """Around every request: trace it, count it in flight, turn errors into the site's pages, record it."""
        lane, note, record = self._arrived(request)
        _LANE.set(lane)
        self.tracer.record(lane, "spawn", note)
        self.tracer.record(lane, "run")
        if not is_canonical(request.raw_path):  # "/page/%31": not the site's spelling of a URL
            handler = self._not_found
        with self._in_flight:
            try:
                response = await handler(request)
            except asyncio.CancelledError:  # stop(), or the client left: no answer
                self.tracer.record(lane, "exit", self._cut_short(record))
                raise
            except web.HTTPException as exc:  # 400, 404 or 405 from a handler
                response = self._error_page(request, exc)
            except Exception as exc:  # a bug of the site
                response = self._failed(request, exc)
        self._answered(request, record, response.status)
        self.tracer.record(lane, "exit", str(response.status))
        return response

    async def _wait(self, delay: float, note: str) -> None:
        """Wait ``delay`` s before answering, recorded as a "wait" (``note``) on the request's lane."""
        self._trace("wait", note)
        await asyncio.sleep(delay)
        self._trace("run", "answer")

    def _trace(self, kind: str, note: str) -> None:
        """Record ``kind`` on the lane of the request being answered."""
        self.tracer.record(_LANE.get(), kind, note)

    async def _not_found(self, request: web.Request) -> web.Response:
        raise web.HTTPNotFound()

    # --- for subclasses -----------------------------------------------------------------------

    def _routes(self, app: web.Application) -> None:
        raise NotImplementedError

    def _arrived(self, request: web.Request) -> tuple[str, str, Any]:
        raise NotImplementedError

    def _answered(self, request: web.Request, record: Any, status: int) -> None:
        raise NotImplementedError

    def _cut_short(self, record: Any) -> str:
        return "stopped"

    def _error_page(self, request: web.Request, exc: web.HTTPException) -> web.StreamResponse:
        raise exc

    def _failed(self, request: web.Request, exc: Exception) -> web.StreamResponse:
        raise exc

    def _listening(self) -> None:
        """The site listens (on its loop; nothing by default)."""

    def _stopped(self) -> None:
        """The site has closed every connection (on its loop; nothing by default)."""

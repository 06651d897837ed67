"""What the course's aiohttp sites (``helpers.site``, ``helpers.book``) share about HTTP itself.

Who calls it: those two modules, not notebooks.

- :class:`AnsweringRunner`: ``web.AppRunner`` whose connections answer a request even when the
  client half-closes right after sending it (``shutdown(SHUT_WR)``, as ``nc -q``, HTTP/1.0 tools
  and some tests do). aiohttp closes the connection as soon as it reads the end of the client's
  stream, so such a client got nothing back while the site recorded an answer. TCP cannot tell a
  half-close from a full close: a client that closed for good gets the answer too, and its kernel
  drops it. After that answer the connection closes: the client can send nothing more.
- :func:`is_canonical`: a request path is the site's own spelling of it (no percent-escapes), so
  each page has one URL: ``/page/%31`` is not a second name for ``/page/1``.
"""

from __future__ import annotations

from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_server import Server

__all__ = ["AnsweringRunner", "is_canonical"]


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

"""Chapter 08's hand-written ``http_get`` (cell ``38ddafdd``): it reads past interim 1xx answers.

The slow site never sends a 1xx, so the notebook cannot show it; this test runs the cell's own
source against a one-shot loopback server that answers ``100 Continue`` and ``103 Early Hints``
before the real answer, as HTTP/1.1 allows any server to do.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "08_asyncio_streams.ipynb"
INTERIM = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"


def http_get():
    cells = {cell.get("id"): "".join(cell["source"]) for cell in json.loads(NOTEBOOK.read_text())["cells"]}
    namespace = {"asyncio": asyncio}
    exec(cells["38ddafdd"], namespace)  # noqa: S102 - the notebook's own cell
    return namespace["http_get"]


async def ask(answer: bytes):
    async def serve(reader, writer):
        while (await reader.readline()) not in (b"\r\n", b""):
            pass  # the request, up to its empty line
        writer.write(answer)
        await writer.drain()
        writer.close()
        await writer.wait_closed()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    try:
        port = server.sockets[0].getsockname()[1]
        return await asyncio.wait_for(http_get()("127.0.0.1", port, "/"), 5)
    finally:
        server.close()
        await server.wait_closed()


def test_interim_answers_are_skipped_and_the_final_one_is_read():
    status_line, headers, body = asyncio.run(ask(INTERIM + b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"))
    assert (status_line, headers, body) == ("HTTP/1.1 200 OK", {"content-length": "5"}, b"hello")


def test_a_final_answer_without_a_body_after_an_interim_one():
    status_line, headers, body = asyncio.run(ask(INTERIM + b"HTTP/1.1 204 No Content\r\n\r\n"))
    assert (status_line, body) == ("HTTP/1.1 204 No Content", b"")


def test_a_chunked_answer_is_still_refused_with_a_clear_error():
    with pytest.raises(ValueError, match="no Content-Length"):
        asyncio.run(ask(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"))

"""Tests for helpers.book: the GBK book site of chapter 08.

Clients are urllib (no proxies) and raw sockets, with timeouts; the autouse fixture in
conftest.py fails any test that leaves a thread, a socket or a process behind.
"""

from __future__ import annotations

import re
import socket
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from helpers import book as book_module
from helpers.book import BookSite, Hit, book_site, numeral
from helpers.servers import LoopState

TIMEOUT = 10.0
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def fetch(url: str, timeout: float = TIMEOUT) -> tuple[int, dict[str, str], bytes]:
    try:
        with OPENER.open(url, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, dict(error.headers), error.read()


def test_numerals():
    assert [numeral(n) for n in (1, 2, 9, 10, 11, 12, 19, 20, 21, 47, 90, 99)] == [
        "一", "二", "九", "十", "十一", "十二", "十九", "二十", "二十一", "四十七", "九十", "九十九"]
    for bad in (0, 100, -1, 1.0, True, "3"):
        with pytest.raises(ValueError, match="whole number"):
            numeral(bad)


def test_pages_are_gbk_on_the_wire_and_declared_so():
    with book_site(delay=0) as book:
        status, headers, body = fetch(book.chapter_url(3))
        assert status == 200
        assert headers["Content-Type"] == "text/html; charset=gbk"
        assert int(headers["Content-Length"]) == len(body)
        assert b'<meta charset="gbk">' in body
        with pytest.raises(UnicodeDecodeError):
            body.decode("utf-8")
        text = body.decode("gbk")
        assert f"<h1>{book.chapter_title(3)}</h1>" in text and book.chapter_title(3).startswith("第三章 ")
        assert body.count(book.chapter_title(3).encode("gbk")) == 2  # <title> and <h1>
        paragraphs = re.findall(r"<p>([^<]+)</p>", text.split('<div id="text">')[1].split("</div>")[0])
        assert "\n".join(paragraphs) == book.chapter_text(3)
        assert 500 <= len(body) <= 4096
        assert '<a href="index.html">目录</a>' in text


def test_index_has_relative_links_one_chapter_missing_and_a_404_link():
    with book_site(delay=0, chapters=12, missing=7) as book:
        for url in (book.index_url, book.url("/book/")):
            status, headers, body = fetch(url)
            assert status == 200 and headers["Content-Type"] == "text/html; charset=gbk"
            links = re.findall(r'<a href="([^"]+)">([^<]+)</a>', body.decode("gbk"))
            assert [href for href, _ in links] == [f"chapter-{i}.html" for i in range(1, 13) if i != 7] + [
                "afterword.html"]
            assert links[-1][1] == "后记"
        assert fetch(book.chapter_url(7))[0] == 200  # missing from the index, not from the site
        status, headers, body = fetch(book.url("/book/afterword.html"))
        assert status == 404 and headers["Content-Type"] == "text/html; charset=gbk"
        assert "404 Not Found" in body.decode("gbk")
    with book_site(delay=0, chapters=3, missing=None) as book:
        body = fetch(book.index_url)[2].decode("gbk")
        assert re.findall(r'href="(chapter-\d+\.html)"', body) == ["chapter-1.html", "chapter-2.html",
                                                                   "chapter-3.html"]


def test_other_paths_are_404_at_once():
    with book_site(delay=5, chapters=12) as book:
        start = time.monotonic()
        for path in ["/", "/book", "/book/chapter-0.html", "/book/chapter-13.html", "/book/chapter-01.html",
                     "/book/chapter-1.htm", "/book/chapter-" + "9" * 5000 + ".html", "/nope"]:
            assert fetch(book.url(path))[0] == 404, path
        assert time.monotonic() - start < 3
    assert all(hit.outcome == "404" for hit in book.hits) and len(book.hits) == 8
    assert all(len(hit.path) <= 60 for hit in book.hits)


def test_chapters_are_deterministic_and_distinct():
    one, two = BookSite(chapters=99), BookSite(chapters=99)
    texts = [one.chapter_text(i) for i in range(1, 100)]
    assert texts == [two.chapter_text(i) for i in range(1, 100)]
    assert len(set(texts)) == 99
    assert all(text.encode("gbk") for text in texts)
    assert one.chapter_title(12) == "第十二章 末班车"
    with pytest.raises(ValueError, match="chapters 1 to 99"):
        one.chapter_text(100)


@pytest.mark.parametrize("arguments", [
    {"delay": -1}, {"delay": 31}, {"delay": "0.2"}, {"delay": True}, {"chapters": 0}, {"chapters": 100},
    {"chapters": 2.0}, {"missing": 0}, {"missing": 13}, {"missing": True}, {"faults": {13: ["reset"]}},
    {"faults": {3: "reset"}}, {"faults": {3: ["explode"]}}, {"keepalive": 0}, {"keepalive": "1"},
])
def test_bad_arguments_are_refused(arguments):
    with pytest.raises((TypeError, ValueError)):
        book_site(**arguments)


def test_delay_and_in_flight_record_and_reset():
    with book_site(delay=0.3) as book:
        start = time.monotonic()
        with ThreadPoolExecutor(max_workers=4) as pool:
            statuses = [status for status, _, _ in pool.map(fetch, [book.chapter_url(i) for i in (1, 2, 3, 4)])]
        elapsed = time.monotonic() - start
        assert statuses == [200] * 4
        assert 0.3 <= elapsed < 1.2
        assert book.max_in_flight == 4 and len(book.hits) == 4
        book.reset()
        assert book.max_in_flight == 0 and book.hits == []
        fetch(book.chapter_url(5))
        assert book.max_in_flight == 1 and book.hits == [Hit("/book/chapter-5.html", "200")]
        assert str(book.hits[0]) == "/book/chapter-5.html 200"


def test_reset_fault_resets_the_connection_then_the_chapter_answers():
    with book_site(delay=0, faults={3: ["reset"]}) as book:
        with socket.create_connection(book.address, timeout=TIMEOUT) as sock:
            sock.sendall(b"GET /book/chapter-3.html HTTP/1.1\r\nHost: x\r\n\r\n")
            with pytest.raises(ConnectionResetError):
                while sock.recv(65536):
                    pass
        assert fetch(book.chapter_url(3))[0] == 200
    assert [str(hit) for hit in book.hits] == ["/book/chapter-3.html reset", "/book/chapter-3.html 200"]
    assert book.errors == []


def test_stall_fault_holds_until_the_client_gives_up():
    with book_site(delay=0, faults={5: ["stall"]}) as book:
        with pytest.raises(TimeoutError):
            fetch(book.chapter_url(5), timeout=0.3)
        assert fetch(book.chapter_url(5))[0] == 200
        deadline = time.monotonic() + TIMEOUT
        while book.hits[0].outcome == "in flight" and time.monotonic() < deadline:
            time.sleep(0.02)
    assert [str(hit) for hit in book.hits] == ["/book/chapter-5.html stalled", "/book/chapter-5.html 200"]


def test_keepalive_closes_idle_connections():
    with book_site(delay=0, keepalive=0.3) as book, socket.create_connection(book.address, timeout=TIMEOUT) as sock:
        start = time.monotonic()
        sock.sendall(b"GET /book/chapter-1.html HTTP/1.1\r\nHost: x\r\n\r\n")
        while sock.recv(65536):
            pass
        assert 0.25 <= time.monotonic() - start < 3


def test_stop_with_a_stalled_request_is_prompt_and_lifecycle():
    book = book_site(delay=0, faults={1: ["stall"]})
    client = threading.Thread(target=lambda: _quietly(book.chapter_url(1)))
    client.start()
    try:
        deadline = time.monotonic() + TIMEOUT
        while book.max_in_flight == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert "switchyard-book" in {thread.name for thread in threading.enumerate()}
        start = time.monotonic()
        book.stop()
        assert time.monotonic() - start < 3
    finally:
        book.stop()
        client.join(TIMEOUT)
    assert book.state is LoopState.STOPPED
    book.stop()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(book.address, timeout=TIMEOUT).close()


def _quietly(url: str) -> None:
    try:
        fetch(url)
    except OSError:
        pass


def test_urls_and_public_names():
    with book_site(delay=0, chapters=3, missing=2) as book:
        assert book.index_url == book.base_url + "/book/index.html"
        assert book.chapter_url(2) == book.base_url + "/book/chapter-2.html"
        with pytest.raises(ValueError, match="start"):
            book.url("book/")
    assert sorted(book_module.__all__) == ["BookSite", "Hit", "book_site", "numeral"]


def test_the_trace_has_a_lane_per_page_and_a_retry_shows_on_its_lane():
    with book_site(delay=0.05, faults={2: ["reset"]}) as book:
        fetch(book.chapter_url(1))
        with pytest.raises(OSError):
            fetch(book.chapter_url(2))
        fetch(book.chapter_url(2))
        fetch(book.url("/nope"))
    assert book.tracer.text() == (
        " 1  chapter-1.html  spawn  GET\n"
        " 2  chapter-1.html  run\n"
        " 3  chapter-1.html  wait   delay\n"
        " 4  chapter-1.html  run    answer\n"
        " 5  chapter-1.html  exit   200\n"
        " 6  chapter-2.html  spawn  GET\n"
        " 7  chapter-2.html  run\n"
        " 8  chapter-2.html  exit   reset\n"
        " 9  chapter-2.html  spawn  GET\n"
        "10  chapter-2.html  run\n"
        "11  chapter-2.html  wait   delay\n"
        "12  chapter-2.html  run    answer\n"
        "13  chapter-2.html  exit   200\n"
        "14  nope            spawn  GET\n"
        "15  nope            run\n"
        "16  nope            exit   404"
    )
    assert repr(book.tracer.timeline(clock="time")) == "<Timeline: 3 tasks, 6 turns, time clock>"
    book.reset()
    assert book.tracer.events == ()


# --- hostile clients ----------------------------------------------------------------------------


def raw_exchange(address: tuple[str, int], request: bytes, half_close: bool = False) -> bytes:
    with socket.create_connection(address, timeout=TIMEOUT) as sock:
        sock.sendall(request)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


@pytest.mark.parametrize("request_line", [b"OPTIONS * HTTP/1.1", b"CONNECT example.com:443 HTTP/1.1"])
def test_requests_without_a_path_get_a_404_not_a_500(request_line):
    with book_site(delay=0) as book:
        raw = raw_exchange(book.address, request_line + b"\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert raw.startswith(b"HTTP/1.1 404")
        assert [hit.outcome for hit in book.hits] == ["404"]
        assert book.errors == []


def test_a_request_followed_by_a_half_close_is_answered():
    with book_site(delay=0.1) as book:
        raw = raw_exchange(book.address, b"GET /book/chapter-2.html HTTP/1.1\r\nHost: x\r\n\r\n", half_close=True)
        assert raw.startswith(b"HTTP/1.1 200 OK")
        assert raw.partition(b"\r\n\r\n")[2].decode("gbk").count(book.chapter_title(2)) >= 1
        assert [str(hit) for hit in book.hits] == ["/book/chapter-2.html 200"]


@pytest.mark.parametrize("path", ["/book/chapter-%31.html", "/book/%69ndex.html", "/%62ook/"])
def test_percent_escaped_paths_are_not_second_urls_of_a_page(path):
    with book_site(delay=0) as book:
        status, _, _ = fetch(book.url(path))
        assert status == 404
        assert [str(hit) for hit in book.hits] == [f"{path} 404"]

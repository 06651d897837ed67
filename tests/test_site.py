"""Tests for helpers.site: the course's local slow website.

Clients are urllib (with proxies switched off: loopback only) and raw sockets, all with
timeouts. The autouse fixture in conftest.py fails any test that leaves a thread, a socket
or a process behind.
"""

from __future__ import annotations

import random
import re
import socket
import struct
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from aiohttp import web

from helpers import site as site_module
from helpers.servers import BACKLOG, LoopState
from helpers.site import Request, SlowSite, slow_site
from helpers.trace import Tracer

TIMEOUT = 10.0
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never through a proxy


def fetch(url: str) -> tuple[int, dict[str, str], bytes]:
    """GET ``url``; return (status, headers, body), for error statuses too."""
    try:
        with OPENER.open(url, timeout=TIMEOUT) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, dict(error.headers), error.read()


def raw_exchange(site: SlowSite, request: bytes) -> bytes:
    """Send ``request`` over a plain socket and read until the server closes the connection."""
    with socket.create_connection(site.address, timeout=TIMEOUT) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def split_response(raw: bytes) -> tuple[str, dict[str, str], bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in header_lines)
    return status_line, {name.lower(): value for name, value in headers.items()}, body


PAGES = ["/", "/page/1", "/page/7", "/page/10000", "/book/", "/book/chapter-1.html", "/book/chapter-12.html"]


def test_every_route_answers_with_its_page():
    with slow_site(delay=0) as site:
        for path in PAGES:
            status, headers, body = fetch(site.url(path))
            assert status == 200, path
            assert headers["Content-Type"] == "text/html; charset=utf-8"
            assert int(headers["Content-Length"]) == len(body)
            assert body == site.expected_page(path)
            body.decode("utf-8")
        home = fetch(site.url("/"))[2].decode("utf-8")
        assert '<a href="/book/">' in home and '<a href="/page/1">' in home
        for link in re.findall(r'href="([^"]+)"', home):
            assert fetch(site.url(link))[0] == 200
        assert b"<title>Page 7</title>" in fetch(site.url("/page/7"))[2]
        index = fetch(site.url("/book/"))[2].decode()
        assert "<title>The Switchyard Book</title>" in index
        links = re.findall(r'<li><a href="(/book/chapter-\d+\.html)">(Chapter \d+: [^<]+)</a></li>', index)
        assert [link for link, _ in links] == [f"/book/chapter-{i}.html" for i in range(1, 13)]
        for i, (link, title) in enumerate(links, 1):
            assert title.startswith(f"Chapter {i}: ")
            assert f"<h1>{title}</h1>".encode() in fetch(site.url(link))[2]


def test_unknown_paths_get_404():
    with slow_site(delay=0, chapters=12) as site:
        for path in ["/nope", "/page/0", "/page/10001", "/page/x", "/book", "/book/chapter-0.html",
                     "/book/chapter-13.html", "/book/chapter-1.htm"]:
            status, headers, body = fetch(site.url(path))
            assert status == 404, path
            assert headers["Content-Type"] == "text/html; charset=utf-8"
            assert b"<h1>404 Not Found</h1>" in body
            with pytest.raises(ValueError, match="not a page"):
                site.expected_page(path)
        assert b"this book has chapters 1 to 12" in fetch(site.url("/book/chapter-13.html"))[2]


def test_bad_delay_query_gets_400_with_one_line_reason():
    with slow_site(delay=0) as site:
        for query in ["abc", "-1", "31", "nan", "inf", ""]:
            status, _, body = fetch(site.url(f"/page/1?delay={query}"))
            assert status == 400, query
            reason = re.search(rb"<p>(.*)</p>", body)[1].decode()
            assert reason == f"delay must be a number of seconds from 0 to 30, not '{query}'"


def test_delay_query_overrides_the_site_delay():
    with slow_site(delay=5) as site:
        start = time.monotonic()
        assert fetch(site.url("/page/1?delay=0"))[0] == 200
        assert fetch(site.url("/book/chapter-2.html?delay=0"))[0] == 200
        assert fetch(site.url("/"))[0] == 200  # the home page never waits
        assert time.monotonic() - start < 2
    with slow_site(delay=0) as site:
        start = time.monotonic()
        assert fetch(site.url("/page/1?delay=0.3"))[0] == 200
        assert time.monotonic() - start >= 0.3


@pytest.mark.parametrize("arguments", [
    {"delay": -0.1}, {"delay": 30.5}, {"delay": "0.2"}, {"delay": True}, {"delay": float("nan")},
    {"delay": None}, {"chapters": 0}, {"chapters": 501}, {"chapters": 2.0}, {"chapters": "3"},
    {"chapters": True},
])
def test_bad_arguments_raise_value_error(arguments):
    with pytest.raises(ValueError, match="delay must be|chapters must be"):
        slow_site(**arguments)


def test_urls():
    with slow_site(delay=0, chapters=3) as site:
        host, port = site.address
        assert host == "127.0.0.1" and isinstance(port, int) and port > 1024
        assert site.base_url == f"http://127.0.0.1:{port}"
        assert site.url() == site.base_url + "/"
        assert site.url("/page/2") == site.base_url + "/page/2"
        assert site.chapter_urls() == [site.base_url + f"/book/chapter-{i}.html" for i in (1, 2, 3)]
        with pytest.raises(ValueError, match="start with '/'"):
            site.url("page/2")
        with pytest.raises(TypeError, match="string"):
            site.url(2)


def test_chapters_are_deterministic_distinct_and_1_to_4_kb():
    with slow_site(delay=0) as first, slow_site(delay=0) as second:
        assert first.port != second.port
        one = [fetch(url)[2] for url in first.chapter_urls()]
        two = [fetch(url)[2] for url in second.chapter_urls()]
    assert one == two
    assert len(set(one)) == len(one) == 12
    every_chapter = [SlowSite(chapters=500).expected_page(f"/book/chapter-{i}.html") for i in range(1, 501)]
    assert len(set(every_chapter)) == 500
    assert all(1024 <= len(body) <= 4096 for body in every_chapter)


def test_parallel_requests_overlap():
    # The ten threads start first and send together (a barrier): on a machine shared by four
    # validations, a pool's threads started one by one were 7 in flight at most (a run of 24).
    # 2 s pages leave a thread that is slow to be scheduled time to send while the others wait.
    ready = threading.Barrier(10)

    def fetch_together(url: str):
        ready.wait(timeout=30)
        return fetch(url)

    with slow_site(delay=2.0) as site:
        urls = [site.url(f"/page/{n}") for n in range(1, 11)]
        start = time.monotonic()
        with ThreadPoolExecutor(max_workers=10) as pool:
            results = list(pool.map(fetch_together, urls))
        elapsed = time.monotonic() - start
        assert [status for status, _, _ in results] == [200] * 10
        assert [body for _, _, body in results] == [site.expected_page(f"/page/{n}") for n in range(1, 11)]
        assert 2.0 <= elapsed < 10.0, f"10 parallel requests of 2 s took {elapsed:.2f} s (serial: 20 s)"
        assert site.max_in_flight == 10


def test_raw_http_clients_get_full_responses_and_the_server_closes():
    with slow_site(delay=0) as site:
        raw = raw_exchange(site, b"GET /page/3 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        status_line, headers, body = split_response(raw)
        assert status_line == "HTTP/1.1 200 OK"
        assert headers["connection"] == "close"
        assert int(headers["content-length"]) == len(body)
        assert body == site.expected_page("/page/3")

        status_line, headers, body = split_response(raw_exchange(site, b"GET /book/ HTTP/1.0\r\n\r\n"))
        assert status_line == "HTTP/1.0 200 OK"
        assert body == site.expected_page("/book/")


def test_requests_are_recorded_in_arrival_order():
    with slow_site(delay=0) as site:
        for path in ["/", "/page/2?delay=0", "/nope", "/book/chapter-99.html", "/page/1?delay=x"]:
            fetch(site.url(path))
        raw_exchange(site, b"HEAD /book/ HTTP/1.0\r\n\r\n")
    assert site.requests == [
        Request("GET", "/", 200),
        Request("GET", "/page/2?delay=0", 200),
        Request("GET", "/nope", 404),
        Request("GET", "/book/chapter-99.html", 404),
        Request("GET", "/page/1?delay=x", 400),
        Request("HEAD", "/book/", 200),
    ]
    assert str(site.requests[1]) == "GET /page/2?delay=0 200"
    assert site.max_in_flight == 1


def test_stop_with_a_slow_request_in_flight_is_prompt():
    site = slow_site(delay=0)
    outcome: list[object] = []
    client = threading.Thread(target=lambda: outcome.append(_fetch_or_error(site.url("/page/1?delay=20"))))
    client.start()
    try:
        deadline = time.monotonic() + TIMEOUT
        while site.max_in_flight == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert site.max_in_flight == 1, "the slow request never arrived"
        start = time.monotonic()
        site.stop()
        assert time.monotonic() - start < 2
    finally:
        site.stop()
        client.join(TIMEOUT)
    assert not client.is_alive()
    assert isinstance(outcome[0], OSError)  # the connection was closed before an answer
    assert site.requests == []  # nothing was answered
    assert site.state is LoopState.STOPPED


def _fetch_or_error(url: str) -> object:
    try:
        return fetch(url)
    except OSError as error:  # urllib.error.URLError and http.client.RemoteDisconnected are OSErrors
        return error


def test_malformed_request_gets_400_and_prints_nothing(capfd):
    with slow_site(delay=0) as site:
        raw = raw_exchange(site, b"GET / HTTP/1.1\r\nthis is no header\r\n\r\n")
        assert re.match(rb"HTTP/1\.[01] 400 Bad Request\r\n", raw)
    assert capfd.readouterr() == ("", "")
    assert len(site.errors) == 1 and "Error handling request" in site.errors[0]


def test_site_lifecycle():
    with slow_site(delay=0) as site:
        assert site.state is LoopState.RUNNING
        assert "switchyard-site" in {thread.name for thread in threading.enumerate()}
    assert site.state is LoopState.STOPPED
    site.stop()
    site.stop()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(site.address, timeout=TIMEOUT).close()


def test_failed_start_cleans_up(monkeypatch):
    async def refuse(self):
        raise OSError("pretend the OS refused")

    monkeypatch.setattr(web.SockSite, "start", refuse)
    site = SlowSite(delay=0)
    with pytest.raises(OSError, match="pretend"):
        site.start()
    assert site.state is LoopState.STOPPED
    # the leak fixture checks that the thread ended and the bound socket was closed


# --- bad input: numbers int() cannot read, other methods, the site's own failures -----------


@pytest.mark.parametrize("path", [
    "/page/" + "9" * 5000,                    # over int()'s 4,300 digits
    "/page/" + "0" * 5000 + "1",              # zero-padded, also over the limit
    "/book/chapter-" + "1" * 4301 + ".html",
    "/book/chapter-" + "0" * 4400 + "2.html",
    "/page/007", "/page/00", "/book/chapter-01.html",  # one URL per page: no leading zeros
    "/page/%D9%A3",                           # an Arabic-Indic 3: a digit to Python, not to the site
])
def test_numbers_the_site_does_not_write_get_its_own_404_and_are_recorded(path):
    with slow_site(delay=0) as site:
        status, headers, body = fetch(site.url(path))
        assert status == 404
        assert headers["Content-Type"] == "text/html; charset=utf-8"
        assert b"<h1>404 Not Found</h1>" in body
        assert len(body) < 1000  # the page does not echo thousands of digits
        with pytest.raises(ValueError, match="not a page"):
            site.expected_page(path)
    assert site.requests == [Request("GET", path, 404)]
    assert site.errors == []


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE"])
def test_other_methods_get_405_with_allow_and_are_recorded(method):
    with slow_site(delay=0) as site:
        for path in ["/", "/page/1", "/book/", "/book/chapter-3.html"]:
            raw = raw_exchange(site, f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
                                     "Connection: close\r\n\r\n".encode())
            status_line, headers, body = split_response(raw)
            assert status_line == "HTTP/1.1 405 Method Not Allowed", path
            assert headers["allow"] == "GET, HEAD"
            assert b"<h1>405 Method Not Allowed</h1>" in body
            assert f"answers GET and HEAD only, not {method}".encode() in body
        status_line, headers, _ = split_response(raw_exchange(site, f"{method} /nope HTTP/1.0\r\n\r\n".encode()))
        assert status_line == "HTTP/1.0 404 Not Found"  # nothing there, whatever the method
        assert "allow" not in headers
    assert [str(record) for record in site.requests] == [
        f"{method} / 405", f"{method} /page/1 405", f"{method} /book/ 405", f"{method} /book/chapter-3.html 405",
        f"{method} /nope 404",
    ]
    assert site.errors == []


def test_head_still_answers_without_a_body():
    with slow_site(delay=0) as site:
        status_line, headers, body = split_response(raw_exchange(site, b"HEAD /page/2 HTTP/1.0\r\n\r\n"))
    assert status_line == "HTTP/1.0 200 OK"
    assert int(headers["content-length"]) == len(site.expected_page("/page/2")) and body == b""


def test_a_failure_of_the_site_is_its_own_500_page_recorded_and_in_errors(monkeypatch):
    def broken(n: int) -> bytes:
        raise RuntimeError("a bug in the site")

    monkeypatch.setattr(site_module, "_page_html", broken)
    with slow_site(delay=0) as site:
        status, headers, body = fetch(site.url("/page/4"))
        assert fetch(site.url("/"))[0] == 200  # the next request is served as usual
    assert status == 500 and headers["Content-Type"] == "text/html; charset=utf-8"
    assert b"<h1>500 Internal Server Error</h1>" in body
    assert site.requests == [Request("GET", "/page/4", 500), Request("GET", "/", 200)]
    assert site.errors == ["the site failed answering GET /page/4: RuntimeError: a bug in the site"]


def test_in_flight_gauge_counts_requests_and_listens_with_the_shared_backlog(monkeypatch):
    seen = []
    real = web.SockSite

    def spy(*args, **kwargs):
        seen.append(kwargs.get("backlog"))
        return real(*args, **kwargs)

    monkeypatch.setattr(site_module.web, "SockSite", spy)
    with slow_site(delay=0.3) as site:
        with ThreadPoolExecutor(max_workers=3) as pool:
            statuses = [status for status, _, _ in pool.map(fetch, [site.url(f"/page/{n}") for n in (1, 2, 3)])]
        assert statuses == [200] * 3
        assert site.max_in_flight == 3
        assert fetch(site.url("/"))[0] == 200
        assert site.max_in_flight == 3  # the most at once, not the latest
    assert seen == [BACKLOG]


def test_public_names():
    assert sorted(site_module.__all__) == ["Request", "SlowSite", "latency", "slow_site"]


# --- tried with bad input: garbage, huge requests, resets, slow clients, abandoned connections --


def _reset(sock: socket.socket) -> None:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


@pytest.mark.parametrize("garbage", [
    random.Random(1).randbytes(2000),
    b"\x00\xff\r\n\r\n",
    b"HELLO\r\n\r\n",
    b"GET /" + b"a" * 100_000 + b" HTTP/1.0\r\n\r\n",               # a request line over 8 KB
    b"GET / HTTP/1.0\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n",    # a header over 8 KB
    b"GET / HTTP/1.0\r\n" + b"X-Many: a\r\n" * 1000 + b"\r\n",      # 1,000 headers
], ids=["random", "binary", "not-http", "long-line", "long-header", "many-headers"])
def test_garbage_and_huge_requests_get_400_and_the_site_goes_on(garbage, capfd):
    with slow_site(delay=0) as site:
        raw = raw_exchange(site, garbage)
        assert re.match(rb"HTTP/1\.[01] 400 Bad Request\r\n", raw)
        assert fetch(site.url("/page/5"))[0] == 200
    assert site.requests == [Request("GET", "/page/5", 200)]  # the garbage never reached the site
    assert capfd.readouterr() == ("", "")


def test_a_large_body_on_a_get_is_ignored():
    with slow_site(delay=0) as site:
        raw = raw_exchange(site, b"GET /page/1 HTTP/1.0\r\nContent-Length: 100000\r\n\r\n" + b"x" * 100_000)
        status_line, _, body = split_response(raw)
        assert status_line == "HTTP/1.0 200 OK" and body == site.expected_page("/page/1")


def test_a_client_that_resets_mid_request_does_not_disturb_the_site():
    with slow_site(delay=0) as site:
        for _ in range(20):
            sock = socket.create_connection(site.address, timeout=TIMEOUT)
            sock.sendall(b"GET /page/1?delay=0.2 HTTP/1.1\r\nHost: x\r\n\r\n")
            _reset(sock)
        half = socket.create_connection(site.address, timeout=TIMEOUT)
        half.sendall(b"GET /page/1 HTTP/1.1\r\nHo")  # half a request, then a reset
        _reset(half)
        assert fetch(site.url("/page/2"))[0] == 200
        deadline = time.monotonic() + TIMEOUT
        while site._in_flight.now and time.monotonic() < deadline:  # the delayed ones still running finish
            time.sleep(0.02)
    # a request the site read before the reset is answered (into the void) and recorded; one the
    # reset beat is not: how many is a race, what they are is not
    assert set(map(str, site.requests)) <= {"GET /page/1?delay=0.2 200", "GET /page/2 200"}
    assert "GET /page/2 200" in map(str, site.requests)
    assert site.errors == []


def test_a_slow_client_does_not_hold_up_the_others():
    request = b"GET /page/9 HTTP/1.0\r\n\r\n"
    with slow_site(delay=0) as site, socket.create_connection(site.address, timeout=TIMEOUT) as slow:
        for byte in request[:-1]:  # all but the last byte, one every 10 ms
            slow.sendall(bytes([byte]))
            start = time.monotonic()
            assert fetch(site.url("/page/3"))[0] == 200
            assert time.monotonic() - start < 2
            time.sleep(0.01)
        slow.sendall(request[-1:])
        chunks = []
        while chunk := slow.recv(65536):
            chunks.append(chunk)
        status_line, _, body = split_response(b"".join(chunks))
        assert status_line == "HTTP/1.0 200 OK" and body == site.expected_page("/page/9")
    assert len(site.requests) == len(request)


def test_three_hundred_abandoned_connections():
    with slow_site(delay=0) as site:
        for n in range(300):  # connect and leave, without a request
            sock = socket.create_connection(site.address, timeout=TIMEOUT)
            if n % 2:
                _reset(sock)
            else:
                sock.close()
        idle = [socket.create_connection(site.address, timeout=TIMEOUT) for _ in range(300)]
        try:
            assert fetch(site.url("/page/1"))[0] == 200  # still answers beside 300 silent connections
            start = time.monotonic()
            site.stop()
            assert time.monotonic() - start < 5
        finally:
            for sock in idle:
                sock.close()
    assert site.requests == [Request("GET", "/page/1", 200)]
    assert site.errors == []


# --- what it records in its tracer -------------------------------------------------------------


def test_trace_has_a_lane_per_request_and_shows_the_delay_as_a_wait():
    with slow_site(delay=0.05) as site:
        for path in ["/", "/page/3", "/page/x", "/page/2?delay=x"]:
            fetch(site.url(path))
    assert site.tracer.text() == (
        " 1  server     spawn  listening\n"
        " 2  request 1  spawn  GET /\n"
        " 3  request 1  run\n"
        " 4  request 1  exit   200\n"
        " 5  request 2  spawn  GET /page/3\n"
        " 6  request 2  run\n"
        " 7  request 2  wait   delay 0.05 s\n"
        " 8  request 2  run    answer\n"
        " 9  request 2  exit   200\n"
        "10  request 3  spawn  GET /page/x\n"
        "11  request 3  run\n"
        "12  request 3  exit   404\n"
        "13  request 4  spawn  GET /page/2?delay=x\n"
        "14  request 4  run\n"
        "15  request 4  exit   400\n"
        "16  server     exit   stopped"
    )
    waits = [event for event in site.tracer.events if event.kind == "wait"]
    assert len(waits) == 1  # the waiting is no bar: request 2 has two short bars around it
    assert [bar.task for bar in site.tracer.timeline().bars].count("request 2") == 2


def test_trace_of_a_request_cut_short_by_stop_and_a_shared_tracer():
    tracer = Tracer()
    site = slow_site(delay=20, tracer=tracer)
    assert site.tracer is tracer
    client = threading.Thread(target=_fetch_or_error, args=(site.url("/page/1"),))
    client.start()
    try:
        deadline = time.monotonic() + TIMEOUT
        while not any(event.kind == "wait" for event in tracer.events) and time.monotonic() < deadline:
            time.sleep(0.01)
        site.stop()
    finally:
        site.stop()
        client.join(TIMEOUT)
    assert [(event.task, event.kind, event.detail) for event in tracer.events][-2:] == [
        ("request 1", "exit", "stopped"), ("server", "exit", "stopped")]
    with pytest.raises(TypeError, match="Tracer"):
        slow_site(tracer="not a tracer")


# --- keepalive: how long an idle HTTP/1.1 connection stays open (chapter 08) -----------------


def test_keepalive_closes_an_idle_connection_after_the_given_seconds():
    with slow_site(delay=0, keepalive=0.3) as site, socket.create_connection(site.address, timeout=TIMEOUT) as sock:
        start = time.monotonic()
        sock.sendall(b"GET /page/1 HTTP/1.1\r\nHost: x\r\n\r\n")  # no Connection: close
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
        elapsed = time.monotonic() - start
        _, headers, body = split_response(b"".join(chunks))
        assert body == site.expected_page("/page/1") and headers.get("connection") != "close"
        assert 0.25 <= elapsed < 3, elapsed
    assert site.keepalive == 0.3 and SlowSite().keepalive is None


@pytest.mark.parametrize("keepalive", [0, -1, "1", True, float("nan")])
def test_bad_keepalive_is_refused(keepalive):
    with pytest.raises((TypeError, ValueError), match="keepalive"):
        slow_site(keepalive=keepalive)


# --- hostile clients ----------------------------------------------------------------------------


def half_closed_exchange(address: tuple[str, int], request: bytes) -> bytes:
    """Send ``request``, half-close (SHUT_WR: "I send nothing more"), read until the server closes."""
    with socket.create_connection(address, timeout=TIMEOUT) as sock:
        sock.sendall(request)
        sock.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


@pytest.mark.parametrize("path", ["/", "/page/3"])  # at once, and after the delay
def test_a_request_followed_by_a_half_close_is_answered(path):
    with slow_site(delay=0.1) as site:
        raw = half_closed_exchange(site.address, f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        status, _, body = split_response(raw)
        assert status == "HTTP/1.1 200 OK"
        assert body == site.expected_page(path)
        assert [str(r) for r in site.requests] == [f"GET {path} 200"]


@pytest.mark.parametrize("path", ["/page/%31", "/page/%31%30", "/book/chapter-%31.html", "/%62ook/",
                                  "/page/1%3Fdelay=0"])
def test_percent_escaped_paths_are_not_second_urls_of_a_page(path):
    with slow_site(delay=0) as site:
        status, _, _ = fetch(site.url(path))
        assert status == 404
        assert site.requests == [Request("GET", path, 404)]
        with pytest.raises(ValueError):
            site.expected_page(path)


@pytest.mark.parametrize("request_line", [b"OPTIONS * HTTP/1.1", b"CONNECT example.com:443 HTTP/1.1"])
def test_requests_without_a_path_get_a_404_page(request_line):
    with slow_site(delay=0) as site:
        status, _, _ = split_response(raw_exchange(site, request_line + b"\r\nHost: x\r\nConnection: close\r\n\r\n"))
        assert status.startswith("HTTP/1.1 404")
        assert site.errors == []


# --- capacity: a latency curve flat up to k concurrent requests, rising past it; a streamed answer --


def test_latency_curve_is_flat_up_to_the_capacity_then_rises():
    curve = [site_module.latency(0.1, n, 3) for n in range(1, 13)]
    assert curve[:3] == [0.1, 0.1, 0.1]
    assert all(later > earlier for earlier, later in zip(curve[2:], curve[3:]))  # strictly rising past k
    assert curve[-1] == pytest.approx(0.1 * 16)  # 12 at once on a site for 3: (12 / 3)² delays
    assert [site_module.latency(0.1, n, None) for n in (1, 50, 500)] == [0.1, 0.1, 0.1]


@pytest.mark.parametrize("arguments", [(0.1, 0, 3), (0.1, 2.5, 3), (0.1, True, 3), (0.1, 2, 0), (0.1, 2, 1.5),
                                       (0.1, 2, True), (-1, 2, 3)])
def test_latency_refuses_bad_input(arguments):
    with pytest.raises(ValueError):
        site_module.latency(*arguments)


@pytest.mark.parametrize("capacity", [0, -1, 2.0, True, "3", 10_001])
def test_bad_capacity_is_refused(capacity):
    with pytest.raises(ValueError, match="capacity"):
        slow_site(capacity=capacity)


def _fetch_many(site: SlowSite, count: int) -> float:
    start = time.perf_counter()
    with ThreadPoolExecutor(count) as pool:
        statuses = list(pool.map(lambda n: fetch(site.url(f"/page/{n}"))[0], range(1, count + 1)))
    assert statuses == [200] * count
    return time.perf_counter() - start


def test_a_site_past_its_capacity_slows_down_and_within_it_does_not():
    with slow_site(delay=0.1, capacity=2) as site:
        within = _fetch_many(site, 2)
        waits = [event.detail for event in site.tracer.events if event.kind == "wait"]
        assert waits == ["delay 0.1 s"] * 2
    with slow_site(delay=0.1, capacity=2) as site:
        past = _fetch_many(site, 8)
        waits = sorted(float(event.detail.split()[1]) for event in site.tracer.events if event.kind == "wait")
        assert site.max_in_flight == 8
    assert waits[-1] > 0.1 * 4  # the last of 8 on a site for 2 waited (8/2)² = 16 delays, or nearly
    assert past > 3 * within


def test_stream_is_sent_with_chunked_transfer_coding():
    with slow_site(delay=0) as site:
        raw = raw_exchange(site, b"GET /stream/3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        status_line, headers, body = split_response(raw)
        assert status_line == "HTTP/1.1 200 OK"
        assert headers["transfer-encoding"] == "chunked" and "content-length" not in headers
        assert body == b"7\r\nline 1\n\r\n7\r\nline 2\n\r\n7\r\nline 3\n\r\n0\r\n\r\n"
        assert fetch(site.url("/stream/0"))[0] == 404
        assert fetch(site.url("/stream/1001"))[0] == 404
        assert [str(request) for request in site.requests] == ["GET /stream/3 200", "GET /stream/0 404",
                                                              "GET /stream/1001 404"]

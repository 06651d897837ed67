"""gevent servers run in this process's hub: one client served, errors and stuck handlers reported."""

from __future__ import annotations

import gevent
import pytest
from gevent import socket as gsocket

from helpers.gservers import serve_one_client, stream_server


def make_handlers():
    empty_reads = []

    def tutorial_echo(sock, address):  # the tutorials' loop, capped
        for _ in range(10_000):
            data = sock.recv(1024)
            sock.send(data)
            if not data:
                empty_reads.append(1)

    def fixed_echo(sock, address):
        while data := sock.recv(1024):
            sock.sendall(data)
        empty_reads.append(1)

    return empty_reads, tutorial_echo, fixed_echo


def test_chapter_04_spot_the_bug():
    empty_reads, tutorial_echo, fixed_echo = make_handlers()
    assert serve_one_client(tutorial_echo) == b"hello"
    assert len(empty_reads) == 9999  # every round after the client left read nothing
    empty_reads.clear()
    assert serve_one_client(fixed_echo, b"x" * 200_000) == b"x" * 200_000
    assert len(empty_reads) == 1


def test_a_handler_error_reaches_the_caller():
    def broken(sock, address):
        raise ValueError("bad handler")

    with pytest.raises(ValueError, match="bad handler"):
        serve_one_client(broken)


def test_a_handler_that_never_returns_is_reported_and_killed():
    stopped = []

    def stuck(sock, address):
        try:
            gevent.sleep(60)
        finally:
            stopped.append(address)

    with pytest.raises(TimeoutError, match="got 0 of 5 bytes back within 0.2 s"):
        serve_one_client(stuck, timeout=0.2)
    assert len(stopped) == 1  # the server's stop killed it


def test_a_handler_that_lingers_after_the_client_left_is_reported_and_killed():
    stopped = []

    def lingering(sock, address):
        try:
            sock.sendall(sock.recv(1024))
            gevent.sleep(60)
        finally:
            stopped.append(address)

    with pytest.raises(TimeoutError, match="had not returned 0.2 s after the client left"):
        serve_one_client(lingering, timeout=0.2)
    assert len(stopped) == 1


def test_stream_server_listens_on_loopback_and_closes():
    def upper(sock, address):
        sock.sendall(sock.recv(1024).upper())

    for _ in range(2):  # re-entry: a fresh server each time
        with stream_server(upper) as server:
            assert server.address[0] == "127.0.0.1" and server.address[1] > 1024
            with gsocket.create_connection(server.address, timeout=5) as sock:
                sock.sendall(b"abc")
                assert sock.recv(1024) == b"ABC"
        assert server.closed


@pytest.mark.parametrize("kwargs, error, match", [
    ({"handler": "echo"}, TypeError, "handler"),
    ({"message": "hello"}, TypeError, "message"),
    ({"message": b""}, ValueError, "message"),
    ({"timeout": 0}, ValueError, "timeout"),
    ({"timeout": "5"}, TypeError, "timeout"),
])
def test_bad_arguments(kwargs, error, match):
    arguments = {"handler": make_handlers()[2], **kwargs}
    with pytest.raises(error, match=match):
        serve_one_client(**arguments)
    if "message" not in kwargs:
        with pytest.raises(error, match=match), stream_server(arguments["handler"],
                                                              timeout=kwargs.get("timeout", 5)):
            pass

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


# --- hostile clients --------------------------------------------------------------------------


def test_clients_that_reset_are_counted_not_printed(capfd):
    import socket
    import struct

    def slow_echo(sock, address):
        data = sock.recv(1024)
        gevent.sleep(0.1)  # the client resets meanwhile
        for _ in range(3):
            sock.sendall(data * 1000)

    with stream_server(slow_echo) as server:
        for _ in range(25):
            client = gsocket.create_connection(server.address, timeout=5)
            client.sendall(b"x")
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            client.close()  # a reset, not an orderly close
        gevent.sleep(0.5)
        resets = getattr(server, "resets", None)
    captured = capfd.readouterr()
    assert captured.err == ""  # today's gevent: a traceback per client
    assert resets == 25


def test_out_of_descriptors_the_server_backs_off_quietly_and_serves_again(capfd):
    from helpers.gservers import ACCEPT_RETRY_DELAY
    from tests.hostile import descriptors_exhausted

    def echo_line(sock, address):
        sock.sendall(sock.recv(1024))

    with stream_server(echo_line) as server:
        waiting = [gsocket.socket() for _ in range(3)]
        try:
            with descriptors_exhausted():
                for sock in waiting:
                    sock.settimeout(5)
                    sock.connect(server.address)
                gevent.sleep(1.0)
            assert capfd.readouterr().err == ""  # today's gevent: a traceback per attempt
            failures = sum(getattr(server, "accept_failures", {}).values())
            assert 1 <= failures <= 1.0 / ACCEPT_RETRY_DELAY + 2, failures
            for sock in waiting:  # served once descriptors are free again
                sock.sendall(b"waited")
                assert sock.recv(100) == b"waited"
        finally:
            for sock in waiting:
                sock.close()
        for i in range(5):
            with gsocket.create_connection(server.address, timeout=5) as sock:
                sock.sendall(b"new %d" % i)
                assert sock.recv(100) == b"new %d" % i
    assert capfd.readouterr().err == ""

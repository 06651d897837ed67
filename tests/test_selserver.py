"""Tests for helpers.selserver: the selectors server base and its echo server.

Clients are plain sockets with timeouts, so no test can hang; the autouse fixture in conftest.py
fails any test that leaves a thread, a socket or a process behind.
"""

from __future__ import annotations

import selectors
import socket
import struct

import pytest

from helpers.selserver import SelectorEchoServer, selectors_echo_server
from helpers.servers import LoopState
from helpers.swarm import echo_payloads, swarm

TIMEOUT = 10.0


def recv_exactly(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        assert chunk, f"the server closed after {len(data)} of {n} bytes"
        data += chunk
    return data


def test_echoes_and_stops():
    with selectors_echo_server() as server:
        assert server.state is LoopState.RUNNING
        assert server.address[0] == "127.0.0.1" and server.port > 0
        with socket.create_connection(server.address, timeout=TIMEOUT) as sock:
            sock.sendall(b"hello")
            assert recv_exactly(sock, 5) == b"hello"
    assert server.state is LoopState.STOPPED
    assert server.stats.connections == 1 and server.stats.open == 0
    assert server.bytes_echoed == 5
    assert server.errors == []


def test_large_payload_with_partial_sends_is_byte_exact():
    payload = bytes(range(256)) * 20_000  # 5 MB: many partial sends on the server side
    with selectors_echo_server() as server, socket.create_connection(server.address, timeout=TIMEOUT) as sock:
        sock.setblocking(False)
        sel = selectors.DefaultSelector()
        sel.register(sock, selectors.EVENT_READ | selectors.EVENT_WRITE)
        sent, got = 0, bytearray()
        while len(got) < len(payload):
            assert sel.select(TIMEOUT), "no progress"
            if sent < len(payload):
                try:
                    sent += sock.send(payload[sent:sent + 65536])
                except BlockingIOError:
                    pass
                if sent == len(payload):
                    sel.modify(sock, selectors.EVENT_READ)
            try:
                got += sock.recv(65536)
            except BlockingIOError:
                pass
        sel.close()
        assert bytes(got) == payload


def test_many_clients_one_thread():
    with selectors_echo_server() as server:
        report = swarm(server.address, echo_payloads(500), hold=True, timeout=30)
    assert report.ok, report.text()
    assert server.stats.max_concurrent == 500


def test_stop_is_idempotent_and_closes_open_connections():
    server = SelectorEchoServer("test-stop").start()
    sock = socket.create_connection(server.address, timeout=TIMEOUT)
    try:
        sock.sendall(b"x")
        assert recv_exactly(sock, 1) == b"x"
        server.stop()
        server.stop()
        assert sock.recv(10) == b""  # the server closed it
    finally:
        sock.close()
    with pytest.raises(RuntimeError, match="starts once"):
        server.start()


def test_reset_client_does_not_break_the_server():
    with selectors_echo_server() as server:
        sock = socket.create_connection(server.address, timeout=TIMEOUT)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.sendall(b"abc")
        sock.close()  # reset
        with socket.create_connection(server.address, timeout=TIMEOUT) as other:
            other.sendall(b"still here")
            assert recv_exactly(other, 10) == b"still here"
    assert server.errors == []


def test_rerun_and_bad_name():
    for _ in range(2):
        with selectors_echo_server() as server:
            assert swarm(server.address, echo_payloads(5)).ok
    with pytest.raises(ValueError):
        SelectorEchoServer("")
    SelectorEchoServer("never-started").stop()  # harmless

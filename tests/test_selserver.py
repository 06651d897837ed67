"""Tests for helpers.selserver: the selectors server base and its echo server.

Clients are plain sockets with timeouts, so no test can hang; the autouse fixture in conftest.py
fails any test that leaves a thread, a socket or a process behind.
"""

from __future__ import annotations

import selectors
import socket
import struct
import time

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


# --- hostile clients --------------------------------------------------------------------------


def test_out_of_descriptors_the_server_pauses_records_once_and_serves_again():
    from helpers.selserver import ACCEPT_RETRY_DELAY
    from tests.hostile import descriptors_exhausted, echo_check, times_recorded

    with selectors_echo_server() as server:
        waiting = [socket.socket() for _ in range(3)]  # made before: connect needs no new descriptor
        try:
            with descriptors_exhausted():
                for sock in waiting:
                    sock.settimeout(TIMEOUT)
                    sock.connect(server.address)  # lands in the accept queue; accept() gets EMFILE
                time.sleep(1.0)
                errors = server.errors
            # One line, counted: one attempt per pause, not one per turn of a spinning loop.
            assert len(errors) == 1, errors[:3]
            assert "Too many open files" in errors[0]
            assert 1 <= times_recorded(errors[0]) <= 1.0 / ACCEPT_RETRY_DELAY + 2
            for sock in waiting:  # the clients that waited are served once descriptors are free
                sock.sendall(b"waited")
                assert recv_exactly(sock, 6) == b"waited"
        finally:
            for sock in waiting:
                sock.close()
        assert echo_check(server.address, 5) == 5
        assert server.stats.connections == 8


def test_a_client_that_never_reads_makes_the_server_stop_reading_not_buffer():
    from helpers.selserver import MAX_OUTBOX
    from helpers.servers import CHUNK
    from tests.hostile import send_without_reading

    with selectors_echo_server() as server, socket.create_connection(server.address, timeout=TIMEOUT) as sock:
        sent = send_without_reading(sock, 32 * 1024 * 1024)
        held = server.held
        assert held <= MAX_OUTBOX + CHUNK, f"the server holds {held:,} bytes for a client that does not read"
        assert sent < 32 * 1024 * 1024  # the sender was stalled by its own full socket buffers
        # Nothing was lost by pausing: every byte comes back once the client reads.
        expected = (bytes(range(256)) * 256 * (sent // 65536 + 1))[:sent]
        assert recv_exactly(sock, sent) == expected
        assert server.errors == []

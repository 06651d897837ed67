"""Tests for helpers.echo: the echo server, what it records, and how it takes bad input.

Clients are plain sockets with timeouts (or asyncio streams under asyncio.wait_for), so no
test can hang; the autouse fixture in conftest.py fails any test that leaves a thread, a
socket or a process behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import struct
import threading
import time

import pytest

from helpers import echo, servers
from helpers.echo import EchoServer, EchoStats, echo_server
from helpers.servers import LoopState
from helpers.trace import Tracer

TIMEOUT = 10.0  # seconds any one client step may take before the test fails


def connect(server: EchoServer) -> socket.socket:
    return socket.create_connection(server.address, timeout=TIMEOUT)


def recv_all(sock: socket.socket) -> bytes:
    """Read until the server closes (EOF)."""
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def recv_exactly(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        assert chunk, f"the server closed after {len(data)} of {n} bytes"
        data += chunk
    return data


def echo_once(server: EchoServer, payload: bytes = b"hello") -> bytes:
    with connect(server) as sock:
        sock.sendall(payload)
        return recv_exactly(sock, len(payload))


def reset(sock: socket.socket) -> None:
    """Close with SO_LINGER 0: the peer gets a reset (RST) instead of a normal close."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def thread_names() -> set[str]:
    return {thread.name for thread in threading.enumerate()}


def lane(server: EchoServer, name: str) -> list[tuple[str, str]]:
    """(kind, detail) of every event on one lane, in order."""
    return [(event.kind, event.detail) for event in server.tracer.events if event.task == name]


def exits(server: EchoServer) -> list[str]:
    return [event.detail for event in server.tracer.events if event.kind == "exit" and event.task != "server"]


# --- lifecycle --------------------------------------------------------------------------------


def test_echo_server_context_manager_start_stop():
    with echo_server() as server:
        host, port = server.address
        assert host == "127.0.0.1"
        assert isinstance(port, int) and port > 1024
        assert server.port == port
        assert server.state is LoopState.RUNNING
        assert "switchyard-echo" in thread_names()
        assert echo_once(server) == b"hello"
    assert server.state is LoopState.STOPPED
    assert "switchyard-echo" not in thread_names()
    server.stop()  # harmless
    server.stop()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(server.address, timeout=TIMEOUT).close()


def test_echo_server_without_with_block():
    server = echo_server(name="plain")
    try:
        assert "switchyard-plain" in thread_names()
        assert echo_once(server, b"abc") == b"abc"
    finally:
        server.stop()
    server.stop()
    assert server.state is LoopState.STOPPED


def test_echo_server_class_starts_in_with_block():
    with EchoServer("lazy") as server:
        assert echo_once(server) == b"hello"
    with pytest.raises(RuntimeError, match="starts once"):
        server.start()


def test_start_stop_twenty_times_in_a_row():
    for round_ in range(20):
        with echo_server() as server:
            payload = f"round {round_}".encode()
            assert echo_once(server, payload) == payload
    assert not any(name.startswith("switchyard-") for name in thread_names())


def test_twenty_servers_at_once_have_distinct_ports():
    with contextlib.ExitStack() as stack:
        running = [stack.enter_context(echo_server(name=f"echo{i}")) for i in range(20)]
        assert len({server.port for server in running}) == 20
        for i, server in enumerate(running):
            assert echo_once(server, f"server {i}".encode()) == f"server {i}".encode()


def test_failed_start_cleans_up(monkeypatch):
    async def refuse(*args, **kwargs):
        raise OSError("pretend the OS refused")

    monkeypatch.setattr(echo.asyncio, "start_server", refuse)
    server = EchoServer("broken")
    with pytest.raises(OSError, match="pretend"):
        server.start()
    assert server.state is LoopState.STOPPED
    assert "switchyard-broken" not in thread_names()
    with pytest.raises(RuntimeError, match="not been started"):
        _ = server.address
    # the leak fixture checks that the bound socket was closed


def test_failed_thread_start_cleans_up(monkeypatch):
    def no_threads(self):
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(threading.Thread, "start", no_threads)
    with pytest.raises(RuntimeError, match="can't start new thread"):
        echo_server()


def test_bad_arguments():
    with pytest.raises(TypeError, match="string"):
        echo_server(name=None)
    with pytest.raises(TypeError, match="Tracer"):
        echo_server(tracer=[])
    with pytest.raises(RuntimeError, match="not been started"):
        _ = EchoServer().port
    with echo_server() as server, pytest.raises(ValueError, match="timeout"):
        server.wait_idle(timeout=0)


def test_listens_with_the_shared_backlog(monkeypatch):
    seen = []
    real = asyncio.start_server

    async def spy(*args, **kwargs):
        seen.append(kwargs.get("backlog"))
        return await real(*args, **kwargs)

    monkeypatch.setattr(echo.asyncio, "start_server", spy)
    with echo_server():
        pass
    assert seen == [servers.BACKLOG]


def test_public_names():
    assert sorted(echo.__all__) == ["EchoServer", "EchoStats", "echo_server"]


# --- what it records --------------------------------------------------------------------------


def test_trace_for_one_client_is_exact():
    with echo_server() as server:
        assert echo_once(server) == b"hello"
        server.wait_idle()
        assert server.stats == EchoStats(connections=1, bytes_echoed=5, max_concurrent=1)
    assert server.tracer.text() == (
        "1  server    spawn  listening\n"
        "2  client 1  spawn  accepted\n"
        "3  client 1  wait   recv\n"
        "4  client 1  run    5 bytes\n"
        "5  client 1  wait   recv\n"
        "6  client 1  exit   EOF\n"
        "7  server    exit   stopped"
    )
    assert server.errors == []
    bars = server.tracer.timeline().bars  # one bar: from the 5 bytes to the next wait
    assert [(bar.task, bar.start, bar.end) for bar in bars] == [("client 1", 4.0, 5.0)]


def test_clients_are_lanes_in_accept_order():
    with echo_server() as server:
        echo_once(server, b"x")
        server.wait_idle()  # client 1's exit is recorded before client 2 connects
        echo_once(server, b"yy")
        server.wait_idle()
    assert server.tracer.tasks() == ["server", "client 1", "client 2"]
    assert lane(server, "client 1") == [("spawn", "accepted"), ("wait", "recv"), ("run", "1 byte"),
                                        ("wait", "recv"), ("exit", "EOF")]
    assert lane(server, "client 2")[2] == ("run", "2 bytes")
    assert server.stats == EchoStats(connections=2, bytes_echoed=3, max_concurrent=1)
    times = [event.time for event in server.tracer.events]
    assert times == sorted(times)


def test_a_shared_tracer_shows_the_cells_lanes_beside_the_servers():
    tracer = Tracer()
    tracer.record("cell", "spawn")
    with echo_server(tracer=tracer) as server:
        assert server.tracer is tracer
        tracer.record("cell", "note", "connect")
        echo_once(server)
        server.wait_idle()
    assert tracer.tasks() == ["cell", "server", "client 1"]
    assert [event.task for event in tracer.events][:3] == ["cell", "server", "cell"]


def test_two_hundred_simultaneous_clients_get_their_own_bytes_back():
    rng = random.Random(2024)
    payloads = [rng.randbytes(rng.randint(2, 20_000)) for _ in range(200)]
    assert len(set(payloads)) == 200

    async def client(port: int, payload: bytes, everyone_connected: asyncio.Barrier) -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(payload[:1])  # proves the server has accepted this client...
            first = await reader.readexactly(1)
            await everyone_connected.wait()  # ...so all 200 are connected at once here
            writer.write(payload[1:])
            writer.write_eof()
            return first + await reader.read()  # read() with no size: until EOF
        finally:
            writer.close()
            await writer.wait_closed()

    async def all_clients(port: int) -> list[bytes]:
        barrier = asyncio.Barrier(len(payloads))
        clients = (client(port, payload, barrier) for payload in payloads)
        return await asyncio.wait_for(asyncio.gather(*clients), TIMEOUT * 3)

    with echo_server() as server:
        echoed = asyncio.run(all_clients(server.port))
        server.wait_idle()
    assert echoed == payloads
    assert server.stats == EchoStats(
        connections=200, bytes_echoed=sum(map(len, payloads)), max_concurrent=200
    )
    assert server.tracer.tasks() == ["server"] + [f"client {n}" for n in range(1, 201)]
    assert exits(server) == ["EOF"] * 200
    assert server.errors == []


def test_one_mebibyte_with_half_close_comes_back_whole():
    payload = random.Random(1).randbytes(1024 * 1024)
    with echo_server() as server, connect(server) as sock:

        def send_then_half_close() -> None:
            sock.sendall(payload)
            sock.shutdown(socket.SHUT_WR)  # "no more from me", but keep reading

        sender = threading.Thread(target=send_then_half_close)  # reading at the same time avoids a deadlock
        sender.start()
        try:
            echoed = recv_all(sock)
        finally:
            sender.join(TIMEOUT)
        assert not sender.is_alive()
        assert echoed == payload  # every byte, in order, then EOF
        server.wait_idle()
        assert server.stats.bytes_echoed == len(payload)
        runs = [detail for kind, detail in lane(server, "client 1") if kind == "run"]
        assert sum(int(detail.split()[0]) for detail in runs) == len(payload)
        assert lane(server, "client 1")[-1] == ("exit", "EOF")


def test_client_reset_is_recorded_as_the_clients_exit():
    with echo_server() as server:
        with connect(server) as sock:
            sock.sendall(b"hi")
            assert recv_exactly(sock, 2) == b"hi"
            reset(sock)
        server.wait_idle()
    kinds = [kind for kind, _ in lane(server, "client 1")]
    assert kinds == ["spawn", "wait", "run", "wait", "exit"]
    assert exits(server)[0].startswith("ConnectionResetError")
    assert server.errors == []  # the client's doing, not the server's


# --- stopping with clients still connected ----------------------------------------------------


def test_stop_closes_connected_clients_and_reports_no_false_errors():
    """Python 3.11's streams report a handler task that ends cancelled as an unhandled exception:
    a normal stop() with clients connected must not turn into one error per client."""
    server = echo_server()
    clients = [connect(server) for _ in range(3)]
    try:
        for i, sock in enumerate(clients):
            sock.sendall(b"%d" % i)
            assert recv_exactly(sock, 1) == b"%d" % i
        start = time.monotonic()
        server.stop()
        assert time.monotonic() - start < 2
        for sock in clients:
            try:
                assert sock.recv(10) == b""  # closed by the server
            except ConnectionResetError:
                pass
    finally:
        for sock in clients:
            sock.close()
    assert server.errors == []
    assert exits(server) == ["stopped"] * 3
    assert server.tracer.events[-1].task == "server"


def test_a_real_error_in_the_server_is_still_recorded(monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("a bug in the server")

    with echo_server() as server:
        monkeypatch.setattr(asyncio.StreamWriter, "write", broken)
        with connect(server) as sock:
            sock.sendall(b"x")
            assert recv_all(sock) == b""  # the server closed instead of echoing
        server.wait_idle()
        monkeypatch.undo()
        assert echo_once(server) == b"hello"  # the next client is served as usual
        server.wait_idle()
    assert exits(server) == ["RuntimeError: a bug in the server", "EOF"]
    assert len(server.errors) == 1
    assert server.errors[0] == "echo server failed serving client 1: RuntimeError: a bug in the server"


def test_wait_idle_times_out_while_a_client_is_connected():
    with echo_server() as server, connect(server) as sock:
        sock.sendall(b"x")
        recv_exactly(sock, 1)
        with pytest.raises(TimeoutError, match="did not finish within 0.1 s"):
            server.wait_idle(timeout=0.1)


def test_stop_while_a_client_does_not_read():
    """The server is stuck in drain() for a client that never reads; stop() still ends promptly."""
    server = echo_server()
    try:
        with connect(server) as sock:
            sock.settimeout(0.5)
            chunk = b"z" * 65536
            with pytest.raises(TimeoutError):  # both directions' buffers are full: no more progress
                for _ in range(2000):
                    sock.sendall(chunk)
            start = time.monotonic()
            server.stop()
            assert time.monotonic() - start < 2
    finally:
        server.stop()
    assert lane(server, "client 1")[-1] == ("exit", "stopped")
    assert lane(server, "client 1")[-2][0] == "run"  # its bar is still open: stuck sending back
    assert server.errors == []


# --- tried with bad input: garbage, resets, huge sends, slow clients, abandoned connections -----


def test_garbage_bytes_come_back_exactly():
    payload = bytes(range(256)) * 4 + b"\r\n\x00\xff" + random.Random(7).randbytes(10_000)
    with echo_server() as server:
        assert echo_once(server, payload) == payload
        server.wait_idle()
    assert server.errors == []


def test_reset_while_the_server_is_stuck_sending_back():
    with echo_server() as server:
        with connect(server) as sock:
            sock.settimeout(0.5)
            with pytest.raises(TimeoutError):  # never reads: the server's drain() waits
                for _ in range(2000):
                    sock.sendall(b"r" * 65536)
            reset(sock)
        server.wait_idle()
        assert echo_once(server) == b"hello"  # the server goes on serving
        server.wait_idle()
    first = exits(server)[0]
    assert first.startswith(("ConnectionResetError", "BrokenPipeError")), first
    assert exits(server)[1] == "EOF"
    assert server.errors == []


def test_a_slow_client_does_not_hold_up_the_others():
    with echo_server() as server, connect(server) as slow:
        slow.sendall(b"s")
        assert recv_exactly(slow, 1) == b"s"  # connected and served once
        done = threading.Event()

        def trickle() -> None:  # one byte every 20 ms for about half a second
            for byte in b"trickling along":
                slow.sendall(bytes([byte]))
                time.sleep(0.02)
            done.set()

        trickler = threading.Thread(target=trickle)
        trickler.start()
        try:
            start = time.monotonic()
            for i in range(20):
                assert echo_once(server, b"quick %d" % i) == b"quick %d" % i
            quick = time.monotonic() - start
            assert done.wait(TIMEOUT)
        finally:
            trickler.join(TIMEOUT)
        assert recv_exactly(slow, len(b"trickling along")) == b"trickling along"
        assert quick < 5, f"20 quick clients took {quick:.2f} s beside a slow one"
        assert server.stats.max_concurrent >= 2
    assert server.errors == []


def test_three_hundred_abandoned_connections():
    """300 clients connect and leave without a byte (half of them with a reset), 300 more just
    stay connected; the server accounts for every one and stops promptly with no errors."""
    with echo_server() as server:
        for n in range(300):
            sock = connect(server)
            if n % 2:
                reset(sock)
            else:
                sock.close()
        deadline = time.monotonic() + TIMEOUT * 3
        while server.stats.connections < 300 and time.monotonic() < deadline:
            time.sleep(0.02)
        server.wait_idle(timeout=TIMEOUT * 3)
        assert server.stats.connections == 300
        details = exits(server)
        assert all(detail == "EOF" or detail.startswith("ConnectionResetError") for detail in details), set(details)
        assert len(details) == 300
        idle = [connect(server) for _ in range(300)]
        try:
            assert echo_once(server) == b"hello"  # still answers beside 300 silent clients
            start = time.monotonic()
            server.stop()
            assert time.monotonic() - start < 5
        finally:
            for sock in idle:
                sock.close()
    assert server.stats.connections == 601 and server.stats.max_concurrent >= 301
    assert exits(server)[300:].count("stopped") >= 300
    assert server.errors == []

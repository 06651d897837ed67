"""Tests for helpers.servers: the background loop and the echo server.

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

from helpers import servers
from helpers.servers import (
    BackgroundLoop,
    EchoServer,
    EchoStats,
    LoopState,
    ServerEvent,
    echo_server,
    format_events,
)

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


def thread_names() -> set[str]:
    return {thread.name for thread in threading.enumerate()}


# --- BackgroundLoop ---------------------------------------------------------------------------


def test_loop_runs_coroutines_on_its_own_named_thread():
    async def where() -> str:
        await asyncio.sleep(0)
        return threading.current_thread().name

    with BackgroundLoop("unit") as loop:
        assert loop.state is LoopState.RUNNING
        assert loop.run(where()) == "switchyard-unit"
        thread = next(t for t in threading.enumerate() if t.name == "switchyard-unit")
        assert thread.daemon  # a forgotten server must not block kernel shutdown
    assert loop.state is LoopState.STOPPED
    assert not thread.is_alive()
    loop.stop()  # harmless the second time
    assert loop.state is LoopState.STOPPED


def test_loop_run_passes_exceptions_back():
    async def fail() -> None:
        raise KeyError("boom")

    with BackgroundLoop("unit") as loop, pytest.raises(KeyError, match="boom"):
        loop.run(fail())


def test_loop_run_times_out_and_cancels():
    cancelled = threading.Event()

    async def forever() -> None:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    with BackgroundLoop("unit") as loop:
        start = time.monotonic()
        with pytest.raises(TimeoutError, match="did not finish within 0.2 s"):
            loop.run(forever(), timeout=0.2)
        assert time.monotonic() - start < 2
        assert cancelled.wait(TIMEOUT)


def test_loop_bad_use_raises_clear_errors():
    async def nothing() -> None:
        pass

    loop = BackgroundLoop("unit")
    with pytest.raises(RuntimeError, match="not running"):
        loop.run(nothing())
    with pytest.raises(TypeError, match="coroutine object"):
        loop.run(nothing)
    with pytest.raises(TypeError, match="string"):
        BackgroundLoop(3)
    with pytest.raises(ValueError, match="empty"):
        BackgroundLoop("")
    with loop:
        with pytest.raises(ValueError, match="positive"):
            loop.run(nothing(), timeout=-1)
        with pytest.raises(TypeError, match="number"):
            loop.run(nothing(), timeout="1")
        with pytest.raises(RuntimeError, match="starts once"):
            loop.start()
    with pytest.raises(RuntimeError, match="stopped"):
        loop.start()


def test_loop_stop_reports_a_blocked_thread_then_finishes():
    async def blocks() -> None:
        time.sleep(1.0)  # the mistake this error message is about

    loop = BackgroundLoop("unit")
    loop.start()
    with pytest.raises(TimeoutError):
        loop.run(blocks(), timeout=0.1)
    with pytest.raises(RuntimeError, match="did not stop within 0.1 s"):
        loop.stop(timeout=0.1)
    assert loop.state is LoopState.STOPPING
    loop.stop()
    assert loop.state is LoopState.STOPPED


def test_loop_collects_errors_instead_of_printing(capfd):
    async def trouble() -> None:
        asyncio.get_running_loop().call_soon(lambda: 1 / 0)
        await asyncio.sleep(0)  # the callback runs before this task resumes

    with BackgroundLoop("unit") as loop:
        loop.run(trouble())
    assert capfd.readouterr() == ("", "")
    assert len(loop.errors) == 1
    assert loop.errors[0].startswith("Exception in callback")
    assert loop.errors[0].endswith("ZeroDivisionError: division by zero")


def test_loop_that_never_started_stops_quietly():
    loop = BackgroundLoop("unit")
    loop.stop()
    assert loop.state is LoopState.STOPPED


# --- echo server: lifecycle -------------------------------------------------------------------


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

    monkeypatch.setattr(servers.asyncio, "start_server", refuse)
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
    with pytest.raises(TypeError, match="ServerEvent"):
        format_events(["accept client 1"])
    with pytest.raises(RuntimeError, match="not been started"):
        _ = EchoServer().port


# --- echo server: byte-exact echo -------------------------------------------------------------


def test_events_for_one_client_are_exact():
    with echo_server() as server:
        assert echo_once(server) == b"hello"
        server.wait_idle()
        text = format_events(server.events)
        assert server.stats == EchoStats(connections=1, bytes_echoed=5, max_concurrent=1)
    assert text == "accept  client 1\nrecv    client 1  5 bytes\nclose   client 1"
    assert format_events(server.events) == text  # stopping added nothing


def test_clients_are_numbered_in_accept_order():
    with echo_server() as server:
        echo_once(server, b"x")
        server.wait_idle()  # client 1's close is recorded before client 2 connects
        echo_once(server, b"yy")
        server.wait_idle()
    assert server.events == [
        ServerEvent("accept", 1), ServerEvent("recv", 1, 1), ServerEvent("close", 1),
        ServerEvent("accept", 2), ServerEvent("recv", 2, 2), ServerEvent("close", 2),
    ]
    assert str(server.events[1]) == "recv    client 1  1 byte"
    assert server.stats == EchoStats(connections=2, bytes_echoed=3, max_concurrent=1)
    times = [event.time for event in server.events]
    assert times == sorted(times)


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
    kinds = [event.kind for event in server.events]
    assert kinds.count("accept") == kinds.count("close") == 200
    assert "error" not in kinds


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
        recvs = [event for event in server.events if event.kind == "recv"]
        assert sum(event.nbytes for event in recvs) == len(payload)
        assert server.events[-1] == ServerEvent("close", 1)


def test_client_reset_is_recorded_as_an_error():
    with echo_server() as server:
        with connect(server) as sock:
            sock.sendall(b"hi")
            assert recv_exactly(sock, 2) == b"hi"
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        # closing with SO_LINGER 0 sends a reset instead of a normal close
        server.wait_idle()
    kinds = [event.kind for event in server.events]
    assert kinds == ["accept", "recv", "error", "close"]
    assert server.events[2].detail.startswith("ConnectionResetError")
    assert str(server.events[2]).startswith("error   client 1  ConnectionResetError")


# --- echo server: stopping with clients still connected ---------------------------------------


def test_stop_closes_connected_clients():
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
    assert [event.kind for event in server.events].count("close") == 3


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
    assert server.events[-1] == ServerEvent("close", 1)

"""Tests for helpers.servers: the background loop, the shared server base, the listen backlog.

Clients are plain sockets with timeouts (or asyncio streams under asyncio.wait_for), so no
test can hang; the autouse fixture in conftest.py fails any test that leaves a thread, a
socket or a process behind.
"""

from __future__ import annotations

import asyncio
import gc
import shutil
import socket
import subprocess
import threading
import time
import warnings

import pytest

from helpers import servers
from helpers.selserver import SelectorEchoServer
from helpers.servers import BACKLOG, BackgroundLoop, BackgroundServer, LoopbackServer, LoopState, loopback_socket

TIMEOUT = 10.0  # seconds any one client step may take before the test fails


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
        with pytest.raises(ValueError, match="more than 0"):
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




# --- the shared base: loopback socket, backlog, BackgroundServer ---------------------------------


def test_loopback_socket_is_bound_to_127_0_0_1_on_a_port_the_os_picked():
    with loopback_socket() as sock:
        host, port = sock.getsockname()
        assert host == "127.0.0.1" and port > 1024
        assert sock.type == socket.SOCK_STREAM


def test_backlog_is_4096_clamped_to_somaxconn(tmp_path):
    with open("/proc/sys/net/core/somaxconn", encoding="ascii") as file:
        assert BACKLOG == min(4096, int(file.read()))
    limit = tmp_path / "somaxconn"
    limit.write_text("128\n")
    assert servers._listen_backlog(4096, str(limit)) == 128
    limit.write_text("65535\n")
    assert servers._listen_backlog(4096, str(limit)) == 4096
    limit.write_text("not a number\n")
    assert servers._listen_backlog(4096, str(limit)) == 4096
    assert servers._listen_backlog(4096, str(tmp_path / "missing")) == 4096


class Greeter(BackgroundServer):
    """The smallest server on the shared base: says hello and closes; listens with BACKLOG."""

    async def _open(self, sock: socket.socket) -> None:
        self.listening = sock
        self._server = await asyncio.start_server(self._greet, sock=sock, backlog=BACKLOG)

    async def _close(self) -> None:
        self._server.close()
        await self._server.wait_closed()

    async def _greet(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"hello\n")
        writer.close()
        await writer.wait_closed()


def test_a_server_on_the_base_serves_and_listens_with_the_backlog():
    with Greeter("greeter") as server:
        assert server.state is LoopState.RUNNING
        assert "switchyard-greeter" in thread_names()
        with socket.create_connection(server.address, timeout=TIMEOUT) as sock:
            assert sock.makefile("rb").readline() == b"hello\n"
        assert listen_backlog_of(server.port) == BACKLOG
    assert server.state is LoopState.STOPPED
    assert "switchyard-greeter" not in thread_names()
    assert server.errors == []


def listen_backlog_of(port: int) -> int:
    """The backlog of the socket listening on 127.0.0.1:``port``, as the kernel reports it (ss's Send-Q)."""
    if shutil.which("ss") is None:
        pytest.skip("needs iproute2's ss to read a listening socket's backlog")
    out = subprocess.run(["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True, timeout=TIMEOUT,
                         check=True).stdout.split()
    assert out[0] == "LISTEN", out
    return int(out[2])


def test_base_server_before_start_and_bad_subclass():
    server = Greeter("unstarted")
    with pytest.raises(RuntimeError, match="not been started"):
        _ = server.address
    server.stop()  # harmless
    with pytest.raises(NotImplementedError), BackgroundServer("abstract"):
        pass
    assert "switchyard-abstract" not in thread_names()


def test_public_names():
    assert sorted(servers.__all__) == sorted([
        "BACKLOG", "CHUNK", "DEFAULT_TIMEOUT", "HOST",
        "BackgroundLoop", "BackgroundServer", "LoopState", "LoopbackServer", "ServingThread", "loopback_socket",
    ])
    for name in servers.__all__:
        assert hasattr(servers, name)


@pytest.mark.parametrize("make", [lambda name: Greeter(name), lambda name: SelectorEchoServer(name)],
                         ids=["asyncio", "selectors"])
def test_both_kinds_of_server_share_one_caller_side(make):
    server = make("shared")
    assert isinstance(server, LoopbackServer) and server.state is LoopState.CREATED
    with pytest.raises(RuntimeError, match="not been started"):
        _ = server.port
    with pytest.raises(ValueError):
        server.start(timeout=-1)  # refused before anything is bound or started
    assert server.state is LoopState.CREATED and "switchyard-shared" not in thread_names()
    with server as same:
        assert same is server and server.state is LoopState.RUNNING
        assert server.address == ("127.0.0.1", server.port) and "switchyard-shared" in thread_names()
        with pytest.raises(RuntimeError, match="a server starts once"):
            server.start()
    assert server.state is LoopState.STOPPED and "switchyard-shared" not in thread_names()
    server.stop()  # harmless
    assert server.errors == [] and server.errors is not server.errors  # a copy each time


def test_a_connection_accepted_as_the_server_stops_is_closed_not_left_to_the_garbage_collector():
    """asyncio accepts in one turn of the loop and makes the transport in a task a turn later.

    Stopping in between used to leave that half-made transport, socket open, to the garbage
    collector ("unclosed transport"; on Python 3.13.0 also a TypeError printed by its __del__).
    The race is made certain: the loop thread is held busy while a client connects and stop()
    is asked, so the accept and the stop come due in the same turn.
    """
    server = Greeter("racer").start()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        server._loop._loop.call_soon_threadsafe(time.sleep, 0.3)  # the loop thread is busy...
        client = socket.create_connection(server.address, timeout=TIMEOUT)  # ...the kernel queues this
        try:
            server.stop()
        finally:
            client.close()
        gc.collect()
    assert [str(w.message) for w in caught if "unclosed transport" in str(w.message)] == []
    assert server.errors == []


def test_a_serving_thread_starts_once_is_woken_once_and_says_when_it_ended():
    woken = threading.Event()
    calls = []
    life = servers.ServingThread("life", "server")
    assert life.stop() is False and life.state is LoopState.STOPPED  # never started: stopped for good
    with pytest.raises(RuntimeError, match="a server starts once"):
        life.start(woken.wait, woken.set)
    life = servers.ServingThread("life", "server")
    errors = []

    def body() -> None:
        try:
            life.stop()
        except RuntimeError as error:  # the thread cannot wait for itself
            errors.append(str(error))
        woken.wait(TIMEOUT)

    life.start(body, lambda: (calls.append("wake"), woken.set()))
    assert life.state is LoopState.RUNNING and "switchyard-life" in thread_names()
    assert life.stop() is True and life.stop() is False
    assert calls == ["wake"]
    assert errors == ["stop() was called on the server's own thread, which cannot wait for itself"]
    assert "switchyard-life" not in thread_names()

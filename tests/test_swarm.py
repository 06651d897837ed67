"""Tests for helpers.swarm: the client swarm against every kind of server, well- and ill-behaved."""

from __future__ import annotations

import asyncio
import os
import resource
import selectors
import socket
import socketserver
import struct
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from helpers import swarm as swarm_module
from helpers.servers import BACKLOG
from helpers.swarm import Payload, SwarmReport, aswarm, echo_payloads, swarm

try:  # the asyncio echo server is moving from helpers.servers to helpers.echo
    from helpers.echo import echo_server
except ImportError:  # pragma: no cover - depends on the branch
    from helpers.servers import echo_server

HOST = "127.0.0.1"


# --- servers to swarm ------------------------------------------------------------------------


class _EchoHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(65536):
            self.request.sendall(data)


class _ThreadingEcho(socketserver.ThreadingTCPServer):
    daemon_threads = False
    block_on_close = True     # server_close() joins every handler thread
    request_queue_size = 128  # socketserver's default listen backlog is 5: a burst would wait for SYN retries


@contextmanager
def thread_echo() -> Iterator[tuple[str, int]]:
    """socketserver's ThreadingTCPServer: one thread per client."""
    server = _ThreadingEcho((HOST, 0), _EchoHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="test-thread-echo")
    thread.start()
    try:
        yield server.server_address
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


@contextmanager
def selectors_echo() -> Iterator[tuple[str, int]]:
    """A non-blocking echo server: one selectors loop in one thread, as chapter 05 writes it."""
    listener = socket.create_server((HOST, 0), backlog=1024)
    listener.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(listener, selectors.EVENT_READ, None)
    stop = threading.Event()
    pending: dict[socket.socket, bytearray] = {}

    def loop() -> None:
        while not stop.is_set():
            for key, mask in sel.select(0.05):
                if key.data is None:
                    try:
                        conn, _ = listener.accept()
                    except BlockingIOError:
                        continue
                    conn.setblocking(False)
                    pending[conn] = bytearray()
                    sel.register(conn, selectors.EVENT_READ, "client")
                    continue
                conn = key.fileobj
                out = pending[conn]
                try:
                    if mask & selectors.EVENT_READ:
                        data = conn.recv(65536)
                        if not data and not out:
                            raise ConnectionError("EOF")
                        out += data
                    if out:
                        del out[:conn.send(out)]
                except BlockingIOError:
                    pass
                except OSError:
                    sel.unregister(conn)
                    conn.close()
                    del pending[conn]
                    continue
                sel.modify(conn, selectors.EVENT_READ | (selectors.EVENT_WRITE if out else 0), "client")

    thread = threading.Thread(target=loop, name="test-selectors-echo")
    thread.start()
    try:
        yield listener.getsockname()
    finally:
        stop.set()
        thread.join(10)
        for conn in pending:
            conn.close()
        sel.close()
        listener.close()


@contextmanager
def bad_server(behaviour: str) -> Iterator[tuple[str, int]]:
    """A server that misbehaves in one way for every client, in a thread.

    drop: reads the request, closes without a reply; short: replies with half the request;
    garble: replies with the request's bytes in reverse; reset: closes at once with RST
    (SO_LINGER 0); stall: accepts, then neither reads nor replies.
    """
    listener = socket.create_server((HOST, 0), backlog=128)
    listener.settimeout(0.05)
    stop = threading.Event()
    held: list[socket.socket] = []

    def read_all(conn: socket.socket) -> bytes:
        conn.settimeout(5)
        data = bytearray()
        while chunk := conn.recv(65536):
            data += chunk
        return bytes(data)

    def loop() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            if behaviour == "stall":
                held.append(conn)
                continue
            try:
                if behaviour == "reset":
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                elif behaviour == "drop":
                    read_all(conn)
                elif behaviour == "short":
                    request = read_all(conn)
                    conn.sendall(request[: len(request) // 2])
                elif behaviour == "garble":
                    conn.sendall(read_all(conn)[::-1])
            except OSError:
                pass
            finally:
                conn.close()

    thread = threading.Thread(target=loop, name=f"test-{behaviour}-server")
    thread.start()
    try:
        yield listener.getsockname()
    finally:
        stop.set()
        thread.join(10)
        for conn in held:
            conn.close()
        listener.close()


GEVENT_SERVER = textwrap.dedent("""
    from gevent import monkey
    monkey.patch_all()
    import select
    import sys
    from gevent.server import StreamServer

    def echo(conn, address):
        while data := conn.recv(65536):
            conn.sendall(data)
        conn.close()

    server = StreamServer(("127.0.0.1", 0), echo, backlog=1024)
    server.start()
    print(server.server_port, flush=True)
    select.select([sys.stdin], [], [])  # patched: the hub serves until the test closes our stdin
    server.stop(timeout=1)
""")


@contextmanager
def gevent_echo_in_fresh_interpreter() -> Iterator[tuple[str, int]]:
    """gevent's StreamServer, monkey-patched, in its own interpreter; it prints its port."""
    proc = subprocess.Popen([sys.executable, "-c", GEVENT_SERVER], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        with selectors.DefaultSelector() as sel:
            sel.register(proc.stdout, selectors.EVENT_READ)
            assert sel.select(30), "the gevent server did not print its port within 30 s"
        yield (HOST, int(proc.stdout.readline()))
    finally:
        proc.stdin.close()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        stderr = proc.stderr.read()
        proc.stdout.close()
        proc.stderr.close()
    assert proc.returncode == 0, stderr


def reserved_port() -> tuple[socket.socket, tuple[str, int]]:
    """A bound socket that does not listen: connecting to its port is refused."""
    sock = socket.socket()
    sock.bind((HOST, 0))
    return sock, sock.getsockname()


def assert_all_exact(report: SwarmReport, n: int) -> None:
    assert report.ok, report.text()
    assert (report.clients, report.connected, report.served, report.exact, report.checked) == (n, n, n, n, n)
    assert not report.failures
    assert 1 <= report.most_in_flight <= n
    assert 0 < report.slowest <= report.elapsed


# --- payloads ------------------------------------------------------------------------------


def test_echo_payloads_are_distinct_lines_that_expect_themselves():
    payloads = echo_payloads(50, size=40, lines=3)
    assert len(payloads) == 50
    assert len({p.send for p in payloads}) == 50
    for p in payloads:
        assert p.expect == p.send
        assert len(p.send) == 120
        lines = p.send.split(b"\n")
        assert lines[-1] == b"" and all(len(line) == 39 for line in lines[:-1])
    assert payloads[7].send.startswith(b"c7 l0 ")
    assert echo_payloads(3) == echo_payloads(3)  # deterministic


@pytest.mark.parametrize(("args", "error"), [
    ((0,), ValueError), ((True,), TypeError), ((2.0,), TypeError),
    ((5,), None),
])
def test_echo_payloads_checks_n(args, error):
    if error is None:
        assert len(echo_payloads(*args)) == 5
    else:
        with pytest.raises(error):
            echo_payloads(*args)


def test_echo_payloads_size_must_fit_the_label():
    with pytest.raises(ValueError, match="size must be at least 9 bytes"):  # "c999 l9 " and a newline
        echo_payloads(1000, size=8, lines=10)
    with pytest.raises(ValueError):
        echo_payloads(3, lines=0)
    assert echo_payloads(1000, size=9, lines=10)[999].send.endswith(b"c999 l9 \n")


def test_payload_wants_bytes():
    with pytest.raises(TypeError, match="send must be bytes"):
        Payload("text")
    with pytest.raises(TypeError, match="expect must be bytes or None"):
        Payload(b"x", "x")
    assert Payload(b"x").expect is None


# --- arguments -----------------------------------------------------------------------------


@pytest.mark.parametrize(("kwargs", "error", "message"), [
    ({"address": "127.0.0.1:80"}, TypeError, "address must be a .host, port. tuple"),
    ({"address": ["127.0.0.1", 80]}, TypeError, "address must be"),
    ({"address": ("127.0.0.1", 0)}, ValueError, "port must be 1 to 65535"),
    ({"address": ("127.0.0.1", True)}, TypeError, "address must be"),
    ({"payloads": []}, ValueError, "at least one Payload"),
    ({"payloads": b"hello"}, TypeError, "payloads must be a list of Payload"),
    ({"payloads": [b"hello"]}, TypeError, "every payload must be a Payload"),
    ({"hold": 1}, TypeError, "hold must be True or False"),
    ({"half_close": None}, TypeError, "half_close must be True or False"),
    ({"where": "greenlets"}, ValueError, "where must be 'threads' or 'process'"),
    ({"timeout": 0}, ValueError, "timeout must be a number of seconds"),
    ({"timeout": "5"}, TypeError, "timeout must be a number of seconds"),
    ({"timeout": 601}, ValueError, "at most 600"),
    ({"batch": 0}, ValueError, "batch must be at least 1"),
    ({"batch": 1.5}, TypeError, "batch must be an int"),
    ({"sleep": 0.1}, TypeError, "sleep must be a function"),
])
def test_bad_arguments_are_refused_before_any_connection(kwargs, error, message):
    args = {"address": ("127.0.0.1", 9), "payloads": echo_payloads(2), **kwargs}
    with pytest.raises(error, match=message):
        swarm(args.pop("address"), args.pop("payloads"), **args)


def test_holding_more_clients_than_descriptors_allow_is_refused_with_the_figures():
    with echo_server() as server:  # the server listens in this process: 2 descriptors per connection
        with pytest.raises(ValueError, match=r"10,000 clients need 20,000 descriptors in this process .*"
                                             r"where='process'"):
            swarm(server.address, echo_payloads(10_000), hold=True)


def test_fewer_at_once_when_the_limit_is_small_and_clients_need_not_all_be_held():
    plan, _ = swarm_module._plan((HOST, 9), echo_payloads(500), False, True, "threads", 5.0, None, time.sleep)
    room, notes = swarm_module._capacity(plan, fd_limit=400, open_fds=36, per_connection=2, where_text="here")
    assert room == 150
    assert notes == ("at most 150 clients at once: 500 clients need 1,000 descriptors here, "
                     "but only 300 of its limit of 400 are free",)
    held, _ = swarm_module._plan((HOST, 9), echo_payloads(500), True, True, "threads", 5.0, None, time.sleep)
    with pytest.raises(ValueError, match="too many clients at once"):
        swarm_module._capacity(held, fd_limit=400, open_fds=36, per_connection=2, where_text="here")
    assert swarm_module._capacity(plan, fd_limit=20_000, open_fds=36, per_connection=2, where_text="here") == (500, ())


def test_a_backlog_of_five_is_not_overrun():
    """socketserver's default listen backlog is 5: a burst of 300 connects would overflow it (resets,
    1 s SYN retries); the swarm connects only as fast as the server accepts."""
    class SmallBacklog(_ThreadingEcho):
        request_queue_size = 5

    server = SmallBacklog((HOST, 0), _EchoHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="test-backlog-5")
    thread.start()
    try:
        report = swarm(server.server_address, echo_payloads(300), batch=1000, timeout=30)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
    assert_all_exact(report, 300)


# --- well-behaved servers ------------------------------------------------------------------


@pytest.mark.parametrize("server", [thread_echo, selectors_echo, echo_server], ids=["threads", "selectors", "asyncio"])
@pytest.mark.parametrize("where", ["threads", "process"])
def test_every_reply_is_byte_exact(server, where):
    payloads = echo_payloads(300, size=100, lines=4)
    with server() as handle:
        address = handle if isinstance(handle, tuple) else handle.address
        report = swarm(address, payloads, where=where, timeout=30)
    assert_all_exact(report, 300)
    assert report.where == where
    assert (report.client_peak_rss_kb is None) == (where == "threads")


def test_held_clients_are_all_in_flight_at_once():
    with selectors_echo() as address:
        report = swarm(address, echo_payloads(400), hold=True, batch=100)
    assert_all_exact(report, 400)
    assert report.most_in_flight == 400


def test_big_payloads_both_ways_without_deadlock():
    """1 MiB each way: the client reads while it sends, or both sides' buffers fill and stall."""
    big = [Payload(bytes([i]) * 2**20, bytes([i]) * 2**20) for i in range(8)]
    with selectors_echo() as address:
        report = swarm(address, big, half_close=False, timeout=30)
    assert_all_exact(report, 8)


def test_gevent_server_in_a_fresh_interpreter():
    with gevent_echo_in_fresh_interpreter() as address:
        report = swarm(address, echo_payloads(500, lines=2), hold=True, timeout=30)
    assert_all_exact(report, 500)
    assert report.most_in_flight == 500


def test_the_swarm_is_rerunnable():
    with selectors_echo() as address:
        first = swarm(address, echo_payloads(50))
        second = swarm(address, echo_payloads(50))
    assert first.text() == second.text()
    assert first.ok and second.ok


def test_aswarm_lets_a_server_on_the_same_loop_serve():
    async def main() -> SwarmReport:
        async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
            writer.close()
            await writer.wait_closed()

        server = await asyncio.start_server(echo, HOST, 0, backlog=512)
        async with server:
            return await aswarm(server.sockets[0].getsockname(), echo_payloads(200), timeout=30)

    assert_all_exact(asyncio.run(main()), 200)


def test_gevent_sleep_lets_a_gevent_server_in_this_thread_serve():
    gevent = pytest.importorskip("gevent")
    from gevent.server import StreamServer

    def echo(conn, address):
        while data := conn.recv(65536):
            conn.sendall(data)
        conn.close()

    server = StreamServer((HOST, 0), echo)  # unpatched: it runs only while this thread yields to gevent
    server.start()
    try:
        starved = swarm(server.address, echo_payloads(20), timeout=1.0)  # time.sleep: the hub never runs
        fed = swarm(server.address, echo_payloads(20), timeout=30, sleep=gevent.sleep)
    finally:
        server.stop(timeout=1)
    assert starved.failures == Counter({"timeout": 20}) and starved.served == 0
    assert_all_exact(fed, 20)


# --- ill-behaved servers: reported by kind, in bounded time ----------------------------------


@pytest.mark.parametrize(("behaviour", "kind"), [
    ("drop", "no reply"), ("short", "short reply"), ("garble", "wrong bytes"), ("reset", "reset"),
])
@pytest.mark.parametrize("where", ["threads", "process"])
def test_a_misbehaving_server_is_reported_by_kind(behaviour, kind, where):
    started = time.monotonic()
    with bad_server(behaviour) as address:
        report = swarm(address, echo_payloads(20, size=200), where=where, timeout=10)
    assert time.monotonic() - started < 25
    assert report.failures == Counter({kind: 20}), report.text()
    assert report.exact == 0 and not report.ok
    # a reset can come before the client sees its connect succeed: then it never counted as connected
    assert report.connected == 20 or kind == "reset"
    assert report.served == (20 if kind == "wrong bytes" else 0)
    assert f"failures: {kind} 20" in report.text()


@pytest.mark.parametrize("where", ["threads", "process"])
def test_a_stalling_server_times_out_instead_of_hanging(where):
    started = time.monotonic()
    with bad_server("stall") as address:
        report = swarm(address, echo_payloads(30), where=where, timeout=1.0)
    assert time.monotonic() - started < 15
    assert report.failures == Counter({"timeout": 30})
    assert report.connected == 30 and report.served == 0
    assert "time: ran out at the 1 s timeout" in report.text()


@pytest.mark.parametrize("where", ["threads", "process"])
def test_nobody_listening_is_refused(where):
    sock, address = reserved_port()
    with sock:
        report = swarm(address, echo_payloads(10), where=where)
    assert report.failures == Counter({"refused": 10})
    assert report.connected == 0 and report.most_in_flight == 0


# --- the report's text ---------------------------------------------------------------------


def test_text_is_stable_and_prints_no_raw_time():
    report = SwarmReport(clients=1000, connected=1000, served=998, exact=997, checked=1000, most_in_flight=1000,
                         failures=Counter({"wrong bytes": 1, "reset": 2}), slowest=0.123456, elapsed=0.2345678)
    assert report.text() == "\n".join([
        "clients: 1,000", "connected: 1,000", "served (full reply): 998", "byte-exact: 997 of 1,000 checked",
        "most in flight at once: 1,000", "failures: reset 2, wrong bytes 1", "time: within the 30 s timeout",
    ])
    timed = report.text(unit=0.2, unit_name="one round trip")
    assert timed.endswith("time: about 1× one round trip (not 10×)\nslowest client: about 1× one round trip (not 10×)")
    assert "0.12" not in timed and "0.23" not in timed
    assert not report.ok
    assert SwarmReport(3, 3, 3, 3, 3, 3).ok
    assert not SwarmReport(3, 3, 3, 2, 3, 3).ok


# --- 10,000 at once ------------------------------------------------------------------------


def test_ten_thousand_clients_held_at_once_against_the_asyncio_echo_server(record_property):
    """Clients in a second process: the server's 10,000 descriptors here, the clients' there."""
    n = 10_000
    batch = min(BACKLOG, 1000)  # below the server's listen backlog
    with echo_server() as server:
        started = time.perf_counter()
        report = swarm(server.address, echo_payloads(n), hold=True, where="process", timeout=90, batch=batch)
        seconds = time.perf_counter() - started
        server.wait_idle(30)
    assert_all_exact(report, n)
    assert report.most_in_flight == n
    figures = {"backlog": BACKLOG, "batch": batch, "seconds": round(seconds, 2),
               "client_rss_mb": round(report.client_peak_rss_kb / 1024, 1),
               "server_process_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}
    for name, value in figures.items():
        record_property(name, value)
    print("10k swarm:", figures)  # seen with pytest -s; the assertions above are the test


# --- an interrupted caller -------------------------------------------------------------------


@pytest.mark.parametrize("where", ["threads", "process"])
def test_an_interrupted_swarm_stops_its_clients_and_closes_every_socket(where):
    """A learner's ^C (or a cell's timeout) while the swarm waits: everything it started is gone."""
    calls = []

    def interrupted_sleep(seconds: float) -> None:
        calls.append(seconds)
        if len(calls) == 20:  # the clients are connected to a server that never replies
            raise KeyboardInterrupt
        time.sleep(seconds)

    fds_before = len(os.listdir("/proc/self/fd"))
    with bad_server("stall") as address:
        threads_before = set(threading.enumerate())
        with pytest.raises(KeyboardInterrupt):
            swarm(address, echo_payloads(30), where=where, timeout=20, sleep=interrupted_sleep)
        assert set(threading.enumerate()) <= threads_before  # the swarm's worker thread is joined
        assert not _children()
    assert len(os.listdir("/proc/self/fd")) <= fds_before  # the server's 30 sockets are closed too now
    assert len(calls) == 20


def _children() -> list[str]:
    """Process ids of this process's children, from /proc (every thread's list)."""
    found = []
    for task in os.listdir("/proc/self/task"):
        try:
            found += open(f"/proc/self/task/{task}/children").read().split()
        except FileNotFoundError:  # a thread that just ended
            pass
    return found

"""Chapter 05's stage for cell-written servers: staged clients, a server thread, a delayed echo, cpu_share."""

from __future__ import annotations

import select
import selectors
import socket
import time

import pytest

from helpers.selectdemo import (
    HAVE_EPOLL,
    NO_EPOLL,
    Listener,
    StubbornResult,
    cpu_share,
    delayed_echo,
    rude_clients,
    serve_in_thread,
    spin_share,
    staged_clients,
    stubborn_client,
    taken_verdict,
)
from helpers.swarm import echo_payloads, swarm


def echo_server(listener, stop):
    """A correct selectors echo server (what the chapter ends with), small payloads only."""
    sel = selectors.DefaultSelector()
    sel.register(listener, selectors.EVENT_READ, "accept")
    sel.register(stop, selectors.EVENT_READ, "stop")
    served = 0
    try:
        while True:
            for key, _ in sel.select():
                if key.data == "stop":
                    return served
                if key.data == "accept":
                    conn, _ = listener.accept()
                    conn.setblocking(False)
                    sel.register(conn, selectors.EVENT_READ, "conn")
                    continue
                data = key.fileobj.recv(65536)
                if data:
                    key.fileobj.setblocking(True)
                    key.fileobj.sendall(data)
                    key.fileobj.setblocking(False)
                else:
                    sel.unregister(key.fileobj)
                    key.fileobj.close()
                    served += 1
    finally:
        sel.close()


def test_staged_clients_have_sent_before_the_block_and_everything_is_closed_after():
    with staged_clients([b"one", b"two"]) as stage:
        conns = []
        for _ in range(2):
            socket.socket.settimeout(stage.listener, 2)  # the listener is non-blocking: wait here
            conn, _ = stage.listener.accept()
            conns.append(conn)
        received = [conn.recv(10) for conn in conns]
        conns[0].sendall(b"reply")
        conns[0].close()
        replies = stage.replies(0.1)
    assert sorted(received) == [b"one", b"two"]
    assert replies == [b"reply", b""]
    assert stage.left_open == 1  # the second connection was forgotten, and closed by the stage
    assert all(sock.fileno() == -1 for sock in stage.clients)


def test_staged_clients_refuse_text():
    with pytest.raises(TypeError, match="bytes"):
        with staged_clients(["text"]):
            pass


def test_serve_in_thread_runs_a_server_for_the_swarm_and_stops_it():
    for _ in range(2):  # re-entry
        with serve_in_thread(echo_server) as server:
            report = swarm(server.address, echo_payloads(30), timeout=20)
        assert report.ok, report.text()
        assert server.stopped and server.error is None
        assert server.result == 30
        assert server.left_open == 0


def test_serve_in_thread_keeps_the_error_of_a_broken_server():
    def broken(listener, stop):
        raise ValueError("boom")

    with serve_in_thread(broken) as server:
        pass
    assert isinstance(server.error, ValueError) and server.stopped


def test_serve_in_thread_says_when_serve_ignores_stop():
    def deaf(listener, stop):
        time.sleep(0.6)  # never looks at stop

    with serve_in_thread(deaf, timeout=0.1) as server:
        pass
    assert not server.stopped
    assert isinstance(server.error, TimeoutError) and "stop" in str(server.error)
    server._thread.join(5)  # let it end, so that the test leaves no thread
    server.close()
    assert server.stopped


def test_serve_in_thread_refuses_a_non_function():
    with pytest.raises(TypeError, match="serve"):
        with serve_in_thread("serve"):
            pass


def test_delayed_echo_answers_after_its_delay():
    with delayed_echo(0.1) as peer:
        sock = peer.connect()
        start = time.perf_counter()
        sock.sendall(b"ping")
        assert sock.recv(10) == b"ping"
        took = time.perf_counter() - start
    assert 0.09 <= took < 2
    assert peer.error is None
    assert sock.fileno() == -1


def test_listener_closes_what_it_accepted():
    listener = Listener()
    client = socket.create_connection(listener.getsockname(), timeout=2)
    socket.socket.settimeout(listener, 2)
    listener.accept()
    assert listener.close_all() == 1
    client.close()


def test_taken_verdict_follows_the_figure():
    assert "stopped reading it (back-pressure)" in taken_verdict(90_000, 8 * 2**20)
    assert "kept reading it into memory" in taken_verdict(300_000, 8 * 2**20)
    assert "kept reading it into memory" in taken_verdict(8 * 2**20, 8 * 2**20)
    with pytest.raises(ValueError):
        taken_verdict(-1, 10)


def sink_server(listener, stop, read=True):
    """Reads every client into memory and never answers (read=False: accepts, never reads)."""
    sel = selectors.DefaultSelector()
    sel.register(listener, selectors.EVENT_READ, "accept")
    sel.register(stop, selectors.EVENT_READ, "stop")
    kept, conns = {}, []
    try:
        while True:
            for key, _ in sel.select():
                if key.data == "stop":
                    return sum(map(len, kept.values()))
                if key.data == "accept":
                    conn, _ = listener.accept()
                    conns.append(conn)
                    if read:
                        conn.setblocking(False)
                        sel.register(conn, selectors.EVENT_READ, "conn")
                        kept[conn] = bytearray()
                    continue
                try:
                    data = key.fileobj.recv(65536)
                except ConnectionError:
                    data = b""
                if data:
                    kept[key.fileobj] += data
                else:
                    sel.unregister(key.fileobj)
    finally:
        sel.close()
        for conn in conns:
            conn.close()


def test_rude_clients_against_a_server_without_and_with_back_pressure():
    with serve_in_thread(sink_server, receive_buffer=4096) as server:
        with rude_clients(server.address, resets=5, hogs=1, hog_bytes=2**20) as rude:
            pass
    assert server.error is None and rude.reset == 5 and rude.taken == [2**20]
    assert "1 client sent without ever reading; the server took more than 256 KB" in rude.text()
    with serve_in_thread(lambda listener, stop: sink_server(listener, stop, read=False),
                         receive_buffer=4096) as server:
        with rude_clients(server.address, resets=0, hogs=2, hog_bytes=2**20) as rude:
            pass
    assert rude.text().startswith("2 clients sent without ever reading; the server took at most 256 KB")
    with pytest.raises(ValueError):
        with rude_clients(("127.0.0.1", 1), resets=-1):
            pass


@pytest.mark.parametrize(("cpu", "spin", "text"), [
    (0.9, 1.0, "CPU: about 1× the CPU share of a pure spin just before (not 0.001×): all the CPU it was given"),
    (0.15, 0.2, "CPU: about 1× the CPU share of a pure spin just before (not 0.001×): all the CPU it was given"),
    (0.0002, 1.0, "CPU: about 0.001× the CPU share of a pure spin just before (not 1×): asleep in the kernel"),
    (0.0002, 0.1, "CPU: about 0.001× the CPU share of a pure spin just before (not 1×): asleep in the kernel"),
    (0.0, 0.5, "CPU: about 0.001× the CPU share of a pure spin just before (not 1×): asleep in the kernel"),
])
def test_cpu_share_grades_a_loop_against_a_pure_spin(cpu: float, spin: float, text: str):
    verdict = cpu_share(cpu, 1.0, spin)
    assert str(verdict).startswith(text)
    assert verdict.holds == ("about 1×" in text)
    assert verdict.ratio == pytest.approx(cpu / spin)


def test_cpu_share_refuses_bad_figures():
    with pytest.raises(ValueError):
        cpu_share(1.0, 0, 1.0)
    with pytest.raises(ValueError):
        cpu_share(1.0, 1.0, 0)
    with pytest.raises(ValueError):
        spin_share(60)


def test_a_pure_spin_gets_cpu_and_a_sleeping_thread_does_not():
    # the best of three spins: one spin starved by a loaded machine (44 µs of CPU in 50 ms, once in
    # four validations at once) is no yardstick, and no spin can make a sleeping thread look busy
    spin = max(spin_share(0.05) for _ in range(3))
    assert 0 < spin <= 1.05
    began, cpu = time.perf_counter(), time.thread_time()
    time.sleep(0.05)
    assert not cpu_share(time.thread_time() - cpu, time.perf_counter() - began, spin).holds


def test_epoll_flag_and_message():
    assert isinstance(HAVE_EPOLL, bool)
    assert "Linux" in NO_EPOLL


def test_stubborn_client_gets_its_bytes_from_a_buffering_server_and_not_from_a_naive_one():
    def naive(listener, stop):
        sel = selectors.DefaultSelector()
        sel.register(listener, selectors.EVENT_READ, "accept")
        sel.register(stop, selectors.EVENT_READ, "stop")
        try:
            while True:
                for key, _ in sel.select():
                    if key.data == "stop":
                        return
                    if key.data == "accept":
                        conn, _ = listener.accept()
                        conn.setblocking(False)
                        sel.register(conn, selectors.EVENT_READ, "conn")
                    elif data := key.fileobj.recv(1000):
                        key.fileobj.send(data)  # the bug: the result is ignored
                    else:
                        sel.unregister(key.fileobj)
        finally:
            sel.close()

    with serve_in_thread(naive, send_buffer=4096) as server:
        result = stubborn_client(server.address, size=300_000, timeout=0.5)
    assert result.sent == 300_000 and not result.intact
    assert isinstance(server.error, BlockingIOError) or result.echoed < 300_000

    def buffering(listener, stop):
        select.select([listener], [], [], 5)
        conn, _ = listener.accept()
        conn.settimeout(5)
        received = b""
        while chunk := conn.recv(65536):  # take everything first (the client reads only after sending)
            received += chunk
        conn.sendall(received)
        conn.close()

    with serve_in_thread(buffering) as server:
        result = stubborn_client(server.address, size=300_000, timeout=5)
    assert result == StubbornResult(300_000, 300_000, True)
    assert server.error is None


def test_server_cpu_seconds_tell_a_spinning_server_from_a_sleeping_one():
    def spinner(listener, stop):
        while not select.select([stop], [], [], 0)[0]:
            pass

    def sleeper(listener, stop):
        select.select([stop], [], [], 10)

    figures = {}
    for serve in (spinner, sleeper):
        with serve_in_thread(serve) as server:
            time.sleep(0.5)
            figures[serve.__name__] = server.cpu_seconds()
    assert figures["spinner"] > 0.005, figures  # even on a machine loaded twentyfold
    assert figures["sleeper"] < 0.005, figures  # asleep in select: (almost) none


def test_stubborn_client_gives_up_when_nobody_listens():
    listener = Listener()
    try:  # connected (the backlog accepts it) but never served
        result = stubborn_client(listener.getsockname(), size=100, timeout=0.2)
    finally:
        listener.close_all()
    assert result.sent == 100 and result.echoed == 0 and not result.intact


def test_waiting_at_once_counts_overlapping_waits_from_the_order_of_events():
    from helpers.selectdemo import waiting_at_once
    from helpers.trace import Tracer

    one_by_one, overlapping = Tracer(), Tracer()
    for name in ("a", "b", "c"):
        one_by_one.record(name, "run")
        one_by_one.record(name, "wait", "recv")
        one_by_one.record(name, "run")
        one_by_one.record(name, "exit", name)
    for name in ("a", "b", "c"):
        overlapping.record(name, "run")
        overlapping.record(name, "wait", "select")
    for name in ("b", "a", "c"):
        overlapping.record(name, "run")
        overlapping.record(name, "exit", name)
    assert waiting_at_once(one_by_one.events) == 1
    assert waiting_at_once(overlapping.events) == 3
    assert waiting_at_once(()) == 0

"""One echo server of a model, run as ``python -m helpers.children.echo_server KIND``.

Who calls it: :func:`helpers.echobench.echo_bench` (every kind) and
:func:`helpers.models.compare_models` (``forking``, ``threads``, ``select``), in a fresh
interpreter of its own process group (killed as a group when its model is done). It binds
127.0.0.1 on a port the OS picks with a listen backlog of 4096 (``helpers.servers.BACKLOG``),
prints that port on one line, and echoes every byte back to its client until its stdin reaches
EOF. A kind that cannot run here prints ``skip: <reason>`` instead of a port. The kinds, one per
model of the course:

    threads    the main thread accepts; a new thread serves each connection (blocking socket)
    forking    the main thread accepts; a forked child serves each connection (blocking socket):
               the naive process model
    processes  chapter 10's pre-forked fleet (helpers.procs.echo_fleet): two worker processes,
               one asyncio loop each, on two SO_REUSEPORT sockets bound to one port
    gevent     gevent's StreamServer: a greenlet per connection (gevent imported only here,
               no monkey patching: StreamServer hands out gevent's own sockets)
    select     chapter 05's selectors echo server (helpers.selserver): one loop, non-blocking
    homeloop   chapter 06's home-made loop (helpers.homeloop): a Task per connection using its
               awaitable sock_accept / sock_recv / sock_sendall
    asyncio    asyncio.start_server with streams (StreamReader.read, StreamWriter.write + drain)
    uvloop     the same asyncio streams server on uvloop's event loop
    stall      (tests only) lets connections wait in the backlog and never answers
    crash      (tests only) prints its port and exits at once: every connect is refused

With ``SWITCHYARD_PIN_CPU=N`` in its environment the server first moves itself to CPU N
(``os.sched_setaffinity``), before it starts a thread or a process: all of them inherit it.

Nothing else is printed.
"""

from __future__ import annotations

import os
import selectors
import signal
import socket
import sys
import threading

from helpers.children import restore_ctrl_c

__all__: list[str] = []

CHUNK = 64 * 1024


def _listener(blocking: bool = False) -> socket.socket:
    from helpers.servers import BACKLOG

    listener = socket.create_server(("127.0.0.1", 0), backlog=BACKLOG)
    listener.setblocking(blocking)
    return listener


def _ready(port: int) -> None:
    print(port, flush=True)


def _echo_blocking(conn: socket.socket) -> None:
    """Send every byte back until the client closes."""
    with conn:
        try:
            while data := conn.recv(CHUNK):
                conn.sendall(data)
        except OSError:
            pass


def _per_connection(kind: str) -> None:
    """threads / processes: accept in a selectors loop that also watches stdin for EOF."""
    import gc

    listener = _listener()
    sel = selectors.DefaultSelector()
    sel.register(listener, selectors.EVENT_READ, "accept")
    sel.register(sys.stdin.fileno(), selectors.EVENT_READ, "stop")
    if kind == "forking":
        signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children reap themselves: no zombies
        gc.freeze()  # what exists now is never touched by the collector: fewer copied pages per child
    _ready(listener.getsockname()[1])
    while True:
        for key, _mask in sel.select():
            if key.data == "stop":
                if not os.read(sys.stdin.fileno(), 1024):
                    return
                continue
            while True:  # take every waiting client
                try:
                    conn, _ = listener.accept()
                except (BlockingIOError, InterruptedError):
                    break
                conn.setblocking(True)
                if kind == "threads":  # "forking" goes on below
                    threading.Thread(target=_echo_blocking, args=(conn,), daemon=True).start()
                    continue
                if os.fork() == 0:  # the child: serve this one client, then leave
                    try:
                        gc.disable()
                        sel.close()
                        listener.close()
                        _echo_blocking(conn)
                    finally:
                        os._exit(0)
                conn.close()  # the parent keeps no copy


def _wait_for_eof() -> None:
    while os.read(sys.stdin.fileno(), 1024):
        pass


def _select() -> None:
    from helpers.selserver import SelectorEchoServer

    with SelectorEchoServer("echobench") as server:
        _ready(server.port)
        _wait_for_eof()


def _homeloop() -> None:
    from helpers.homeloop import Loop, Task, readable, sock_accept, sock_recv, sock_sendall

    async def echo(conn):
        with conn:
            try:
                while data := await sock_recv(conn, CHUNK):
                    await sock_sendall(conn, data)
            except OSError:
                pass

    async def accept_all(listener):
        while True:
            conn, _ = await sock_accept(listener)
            Task(echo(conn))

    async def until_eof():
        while True:
            await readable(sys.stdin.fileno())
            if not os.read(sys.stdin.fileno(), 1024):
                return

    listener = _listener()
    with Loop() as loop, listener:
        Task(accept_all(listener), "accept", loop)
        _ready(listener.getsockname()[1])
        loop.run_until_complete(Task(until_eof(), "stop", loop), deadline=1e9)


def _asyncio(kind: str) -> None:
    import asyncio

    factory = None
    if kind == "uvloop":
        try:  # a dependency where it has wheels (not on Windows): elsewhere the model is skipped
            import uvloop
        except ImportError as error:  # no wheel for this Python or platform
            print(f"skip: uvloop does not import here ({error})", flush=True)
            _wait_for_eof()
            return
        factory = uvloop.new_event_loop

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(CHUNK):
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
        finally:
            writer.close()

    async def main() -> None:
        from helpers.servers import BACKLOG

        server = await asyncio.start_server(echo, "127.0.0.1", 0, backlog=BACKLOG)
        stop = asyncio.get_running_loop().create_future()

        def on_stdin() -> None:
            if not os.read(sys.stdin.fileno(), 1024) and not stop.done():
                stop.set_result(None)

        asyncio.get_running_loop().add_reader(sys.stdin.fileno(), on_stdin)
        async with server:
            _ready(server.sockets[0].getsockname()[1])
            await stop

    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run(main())


def _gevent() -> None:
    from gevent.server import StreamServer
    from gevent.socket import wait_read

    from helpers.servers import BACKLOG

    def echo(conn, _address):
        _echo_blocking(conn)

    server = StreamServer(("127.0.0.1", 0), echo, backlog=BACKLOG)
    server.start()
    port = server.server_port
    assert port is not None  # start() bound the listening socket
    _ready(port)
    fd = sys.stdin.fileno()
    while True:
        wait_read(fd)
        if not os.read(fd, 1024):
            break
    server.close()


def _fleet() -> None:
    from helpers.procs import echo_fleet

    with echo_fleet(2) as fleet:
        _ready(fleet.address[1])
        _wait_for_eof()


def _stall() -> None:
    listener = _listener()
    _ready(listener.getsockname()[1])
    _wait_for_eof()
    listener.close()


def main(kind: str) -> None:
    if kind in ("threads", "forking"):
        _per_connection(kind)
    elif kind == "processes":
        _fleet()
    elif kind == "select":
        _select()
    elif kind == "homeloop":
        _homeloop()
    elif kind in ("asyncio", "uvloop"):
        _asyncio(kind)
    elif kind == "gevent":
        _gevent()
    elif kind == "stall":
        _stall()
    elif kind == "crash":
        _ready(_listener().getsockname()[1])
    else:
        raise SystemExit(f"unknown kind {kind!r}")


if __name__ == "__main__":
    restore_ctrl_c()
    from helpers._system import raise_fd_limit

    raise_fd_limit()  # soft descriptor limit up to the hard one
    if os.environ.get("SWITCHYARD_PIN_CPU"):
        os.sched_setaffinity(0, {int(os.environ["SWITCHYARD_PIN_CPU"])})
    main(sys.argv[1])

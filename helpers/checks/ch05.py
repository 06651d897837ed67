"""Exercises of chapter 05 (I/O models): fix a broken select loop, a framing receiver, drain a socket.

05.1 runs the learner's ``serve(listener, stop)`` in a thread (``helpers.selectdemo``) against
swarm clients and a stubborn client; 05.2 and 05.3 feed the learner's function scripted sockets
(fakes that deliver a few bytes per ``recv``) and a real non-blocking socketpair. Nothing is left
running: every socket is closed, the server thread is joined (or reported).
"""

from __future__ import annotations

import socket
import struct
import time

from helpers.exercises import Wrong, exercise
from helpers.selectdemo import serve_in_thread, stubborn_client
from helpers.swarm import echo_payloads, swarm

IDLE = 0.5  # seconds during which an idle server must use (almost) no CPU
SPINNING = 0.05  # CPU seconds per wall second above which an idle server is spinning (a loaded
                 # machine gives a spinning thread a fifth of a core or more; a sleeping one uses 0)


@exercise("05.1", title="Fix a broken select loop",
          hint="read from the socket select says is ready; on EOF stop reading it but finish sending; "
               "keep what send did not take; close a client once it is done both ways, and every "
               "remaining one when stop is readable")
def fixed_select_loop(answer) -> str:
    if not callable(answer):
        raise Wrong("pass the function itself: check('05.1', serve)")
    with serve_in_thread(answer, timeout=3.0, send_buffer=4096) as server:
        for _ in range(20):  # the stub raises NotImplementedError at once: don't make clients wait for it
            if isinstance(server.error, NotImplementedError):
                raise server.error
            time.sleep(0.01)
        report = swarm(server.address, echo_payloads(40, size=300, lines=3), timeout=3)
        stubborn = stubborn_client(server.address, size=1_000_000, timeout=2.0) if report.ok else None
        before, start = server.cpu_seconds(), time.perf_counter()
        time.sleep(IDLE)
        idle_cpu, idle_wall = server.cpu_seconds() - before, time.perf_counter() - start
    if isinstance(server.error, NotImplementedError):
        raise server.error
    if not report.ok:
        extra = f" (your server raised {server.error!r})" if server.error else ""
        raise Wrong(f"40 swarm clients were not all served byte-exact{extra}:\n{report.text()}")
    if not stubborn.intact:
        extra = f"; your server raised {server.error!r}" if server.error else ""
        raise Wrong(f"a client that sends 1 MB before reading got {stubborn.echoed:,} bytes back, not all "
                    f"1,000,000 intact{extra}: send may take fewer bytes than you give it")
    if idle_cpu > SPINNING * idle_wall:
        raise Wrong("with every client gone your server kept the CPU busy: a closed socket stays readable "
                    "(recv returns b'') until you stop watching it")
    if server.error is not None:
        raise Wrong(f"your server raised {server.error!r}")
    if not server.stopped:
        raise Wrong("your server did not return when `stop` became readable")
    if server.left_open:
        raise Wrong(f"your server left {server.left_open} client socket(s) open: close each one when it "
                    "is done, and the rest when you return")
    return "every client echoed byte-exact, the stubborn one too; idle means asleep; every socket closed."


class ScriptedSocket:
    """A fake socket: ``recv(n)`` returns at most ``n`` bytes of the next scripted piece, then b""."""

    def __init__(self, pieces: list[bytes]) -> None:
        self.pieces = [piece for piece in pieces if piece]
        self.calls = 0
        self.empty = 0

    def recv(self, n: int) -> bytes:
        if not isinstance(n, int) or n <= 0:
            raise Wrong(f"recv was called with {n!r}: ask for a positive number of bytes")
        self.calls += 1
        if not self.pieces:
            self.empty += 1
            if self.empty > 3:
                raise Wrong("you kept calling recv after it returned b'' (the peer has closed)")
            return b""
        piece = self.pieces[0]
        self.pieces[0] = piece[n:]
        if not self.pieces[0]:
            self.pieces.pop(0)
        return piece[:n]

    def left(self) -> bytes:
        return b"".join(self.pieces)


def _frame(body: bytes) -> bytes:
    return struct.pack("!I", len(body)) + body


def _split(data: bytes, size: int) -> list[bytes]:
    return [data[i:i + size] for i in range(0, len(data), size)]


@exercise("05.2", title="A framing receiver",
          hint="write a helper that calls recv until it has exactly n bytes (asking only for what is "
               "missing) and raises ConnectionError on b''; use it for the 4-byte header, "
               "struct.unpack('!I', ...), then for the body")
def framing_receiver(answer) -> str:
    if not callable(answer):
        raise Wrong("pass the function itself: check('05.2', receive_message)")
    body = bytes(range(256)) * 40
    sock = ScriptedSocket(_split(_frame(body), 3))  # three bytes at a time: header split too
    got = answer(sock)
    if got != body:
        raise Wrong(f"a 10,240-byte message arriving 3 bytes per recv came back as {len(got or b''):,} bytes"
                    if isinstance(got, (bytes, bytearray)) else f"receive_message should return bytes, got {got!r}")
    glued = _frame(b"first") + _frame(b"") + _frame(b"third message")
    sock = ScriptedSocket([glued])  # three messages in one piece
    got = [answer(sock) for _ in range(3)]
    if got != [b"first", b"", b"third message"]:
        raise Wrong(f"three messages glued together (b'first', b'', b'third message') came back as {got!r}: "
                    "never read past the end of the current message")
    sock = ScriptedSocket([_frame(b"cut short")[:9]])
    try:
        got = answer(sock)
    except ConnectionError:
        pass
    else:
        raise Wrong(f"the peer closed in the middle of a message and you returned {got!r}: "
                    "raise ConnectionError")
    a, b = socket.socketpair()
    try:
        b.sendall(_frame(b"over a real socket"))
        a.settimeout(2)
        got = answer(a)
    finally:
        a.close()
        b.close()
    if got != b"over a real socket":
        raise Wrong(f"over a real socket, got {got!r}")
    return "split headers, glued messages, an empty body, a peer closing early: all framed right."


class WatchedSocket:
    """Wraps a real non-blocking socket and counts recv calls that return b''."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.empty = 0

    def recv(self, n: int) -> bytes:
        data = self.sock.recv(n)
        if not data:
            self.empty += 1
            if self.empty > 3:
                raise Wrong("you kept calling recv after it returned b'' (the peer has closed): "
                            "b'' means stop")
        return data


@exercise("05.3", title="Drain an edge-triggered socket",
          hint="a loop with two ways out: an exception that means 'nothing more for now', and a "
               "return value that means 'the peer has closed'; collect what each recv gave")
def drain_socket(answer) -> str:
    if not callable(answer):
        raise Wrong("pass the function itself: check('05.3', drain)")
    a, b = socket.socketpair()
    try:
        a.setblocking(False)
        data = bytes(range(256)) * 200  # 51,200 bytes: more than one recv of the usual sizes
        b.sendall(data)
        got = answer(WatchedSocket(a))
        if got != data:
            raise Wrong(f"51,200 bytes were waiting; drain returned {len(got):,} bytes"
                        if isinstance(got, (bytes, bytearray)) else f"drain should return bytes, got {got!r}")
        got = answer(WatchedSocket(a))
        if got != b"":
            raise Wrong(f"with nothing waiting, drain should return b'', got {got!r}")
        b.sendall(b"last words")
        b.close()
        got = answer(WatchedSocket(a))
        if got != b"last words":
            raise Wrong(f"the peer sent b'last words' and closed; drain returned {got!r}")
    finally:
        a.close()
        b.close()
    return "everything waiting, nothing when empty, and the last words before EOF."

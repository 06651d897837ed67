"""Exercises of chapter 05 (I/O models): fix a broken select loop, framing in an event-driven server, drain a socket.

05.1 runs the learner's ``serve(listener, stop)`` in a thread (``helpers.selectdemo``) against
swarm clients and a stubborn client; 05.2 feeds the learner's splitter buffers cut at awkward
places; 05.3 gives the learner's drain a real non-blocking socketpair. Nothing is left
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
SPINNING = 0.005  # CPU seconds per wall second above which an idle server is spinning: a thread
                  # asleep in select uses none (its clock is read in nanoseconds); a spinning one
                  # gets far more than 1% of a core even on a machine loaded twentyfold


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


def _frame(body: bytes) -> bytes:
    return struct.pack("!I", len(body)) + body


def _pieces(data: bytes, sizes: list[int]) -> list[bytes]:
    """Cut data into pieces of the given sizes, cycling through them."""
    pieces, i, k = [], 0, 0
    while i < len(data):
        size = sizes[k % len(sizes)]
        pieces.append(data[i:i + size])
        i, k = i + size, k + 1
    return pieces


def _result(got: object, call: str) -> tuple[list, bytes]:
    if not (isinstance(got, tuple) and len(got) == 2):
        raise Wrong(f"{call} should return a pair (messages, rest), got {got!r}")
    messages, rest = got
    if not isinstance(messages, list) or not isinstance(rest, (bytes, bytearray)):
        raise Wrong(f"{call} should return (a list of bytes, the leftover bytes), got {got!r}")
    return [bytes(m) for m in messages], bytes(rest)


@exercise("05.2", title="Framing in an event-driven server",
          hint="look at the first 4 bytes (if there are 4), unpack the length, and check whether the "
               "whole body is there yet; repeat from the end of that message; whatever is left over "
               "is the rest")
def framing_splitter(answer) -> str:
    if not callable(answer):
        raise Wrong("pass the function itself: check('05.2', split_frames)")
    cases = [
        (b"", [], b"", "an empty buffer"),
        (_frame(b"hello")[:3], [], _frame(b"hello")[:3], "half a header"),
        (_frame(b"hello")[:7], [], _frame(b"hello")[:7], "a header and half a body"),
        (_frame(b"hello"), [b"hello"], b"", "one whole message"),
        (_frame(b""), [b""], b"", "a message with an empty body"),
        (_frame(b"one") + _frame(b"two") + _frame(b"three")[:6], [b"one", b"two"], _frame(b"three")[:6],
         "two whole messages glued to the start of a third"),
    ]
    for buffer, messages, rest, what in cases:
        got = _result(answer(buffer), f"split_frames({buffer!r})")
        if got != (messages, rest):
            raise Wrong(f"{what}: split_frames({buffer!r}) should return {(messages, rest)!r}, got {got!r}")
    bodies = [bytes([n % 256]) * (n * 37 % 3000) for n in range(60)]
    stream = b"".join(_frame(body) for body in bodies)
    buffer, received = b"", []
    for piece in _pieces(stream, [1, 2, 3, 700, 5, 4096, 11]):  # as recv might hand them over
        messages, buffer = _result(answer(buffer + piece), "split_frames(...)")
        received += messages
    if received != bodies or buffer:
        raise Wrong(f"60 messages arriving in odd-sized pieces came out as {len(received)} messages "
                    f"({sum(a == b for a, b in zip(received, bodies))} right), {len(buffer)} bytes left over")
    return "partial headers and bodies wait, glued messages come apart, and 60 messages in odd pieces all arrive."


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

"""Hostile clients and conditions for the servers' tests: descriptors run out, a client never reads.

Not a test module (no ``test_`` prefix): the server tests import it.
"""

from __future__ import annotations

import errno
import os
import re
import resource
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def descriptors_exhausted() -> Iterator[list[int]]:
    """In the ``with`` block this process can open no descriptor (EMFILE), not a socket, not a file.

    The soft limit drops to a little above the descriptors open now, and the rest are filled with
    /dev/null; on leaving, they are closed and the limit restored. Make the sockets you need
    (clients) before the block: ``connect`` needs no new descriptor, the server's ``accept`` does.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    highest = max(int(fd) for fd in os.listdir("/proc/self/fd"))
    fillers: list[int] = []
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(soft, highest + 64), hard))
    try:
        while True:
            try:
                fillers.append(os.open(os.devnull, os.O_RDONLY))
            except OSError as error:
                if error.errno != errno.EMFILE:
                    raise
                break
        yield fillers
    finally:
        for fd in fillers:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def times_recorded(line: str) -> int:
    """How often a failure recorded once happened: "... (12 times)" -> 12, no count -> 1."""
    found = re.search(r"\(([\d,]+) times\)$", line)
    return int(found.group(1).replace(",", "")) if found else 1


def send_without_reading(sock: socket.socket, limit: int, quiet: float = 0.5, timeout: float = 20.0) -> int:
    """Send up to ``limit`` bytes and read nothing, until the peer has taken none for ``quiet`` s.

    The bytes sent are ``bytes(range(256))`` repeated, whatever partial sends happen, so a reply can
    be compared with that pattern. Returns the bytes sent. A server that reads everything it is
    sent takes all ``limit``; one
    that stops reading from a client that does not read its replies stalls the sender much sooner.
    """
    sock.setblocking(False)
    block = bytes(range(256)) * 256  # 64 KiB; the stream is this block repeated, byte for byte
    twice = block * 2
    sent, last = 0, time.monotonic()
    end = last + timeout
    try:
        while sent < limit and time.monotonic() - last < quiet and time.monotonic() < end:
            offset = sent % len(block)  # after a partial send, go on from where the stream stopped
            try:
                sent += sock.send(twice[offset: offset + min(len(block), limit - sent)])
                last = time.monotonic()
            except BlockingIOError:
                time.sleep(0.01)
    finally:
        sock.setblocking(True)
    return sent


def echo_check(address: tuple[str, int], n: int = 5, timeout: float = 10.0) -> int:
    """Connect ``n`` new clients one after the other; return how many got their line echoed back."""
    served = 0
    for i in range(n):
        line = f"client {i}\n".encode()
        try:
            with socket.create_connection(address, timeout=timeout) as sock:
                sock.sendall(line)
                got = b""
                while len(got) < len(line) and (chunk := sock.recv(1024)):
                    got += chunk
            served += got == line
        except OSError:
            pass
    return served

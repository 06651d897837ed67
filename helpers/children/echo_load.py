"""The load generator of ``helpers.echobench``, run as ``python -m helpers.children.echo_load``.

Who calls it: only :func:`helpers.echobench.echo_bench`, in a fresh interpreter of its own
process group, so the clients neither share the kernel's descriptors nor its GIL. It reads one
JSON command per line on stdin and answers with one JSON line on stdout:

    {"cmd": "run", "port": P, "clients": N, "rounds": R, "size": S, "batch": B, "timeout": T}
        opens N connections to 127.0.0.1:P (in batches of at most B, all before any request),
        then every connection does R request/response round trips of S bytes, closed loop (the
        next request leaves when the reply is in), all connections at once, driven by one epoll
        loop; every reply is compared byte for byte and every round trip timed (perf_counter).
        Answers the figures (round trips, seconds, p50/p99/mean latency, exact, wrong, error)
        and KEEPS the connections open, so the caller can count what the server holds. With
        "group": G already connected, it uses G's connections (a warm-up before "open": every
        connection accepted and answering before the schedule starts; its latencies are not
        pooled with the schedule's).
    {"cmd": "open", "port": P, "clients": N, "rate": R, "duration": D, "size": S, "batch": B, "timeout": T}
        the same connections, but OPEN LOOP: request j of R * D is due at start + j / R, on
        connection j mod N, whether or not earlier replies are in (a connection with a request
        still in flight queues the next one and sends it the moment the reply arrives). Each
        latency runs from the request's INTENDED send time to its reply, so a server that falls
        behind shows the queueing in its latency instead of hiding it by slowing the clients
        down (coordinated omission). Requests still unanswered at the timeout count with the
        time they have waited. Answers the same figures plus "behind" (requests still waiting
        at the end of the schedule).
        With "group": G, the connections are kept under the name G and reused by the next
        "open" of that group (a group already connected is not connected again), so several
        servers can take turns on their own connections. The schedule goes on where the group's
        last "open" stopped (its first request on the connection after the last one used), so
        slices that add up to N requests or more make every connection send; each answer says
        how many of the N have sent since the group connected ("senders"), and the p50, p99 and
        mean of every latency since then ("p50_all", "p99_all", "mean_all"). With "every": true
        (the last slice of a step), an answer where fewer than N connections have sent carries
        an error saying so.
    {"cmd": "close"}   closes every connection (or only those of "group"); answers {"closed": N}.

EOF on stdin ends it. With ``SWITCHYARD_PIN_CPU=N`` in its environment it runs on CPU N only.
Nothing else is printed.
"""

from __future__ import annotations

import json
import os
import select
import socket
import sys
import time
from collections import deque
from collections.abc import Iterator

__all__: list[str] = []

CHUNK = 64 * 1024


def _payload(index: int, size: int) -> bytes:
    return (f"<{index:07d}>" * (size // 9 + 1)).encode()[:size]


def _percentile(ordered: list[float], fraction: float) -> float:
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else 0.0


def _connect(socks: list[socket.socket], port: int, clients: int, batch: int, deadline: float,
             result: dict) -> bool:
    try:
        for start in range(0, clients, batch):  # a batch never outgrows the listen backlog
            for _ in range(start, min(clients, start + batch)):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("connecting took longer than the timeout")
                socks.append(socket.create_connection(("127.0.0.1", port), timeout=left))
        result["connected"] = len(socks)
    except OSError as error:
        result["connected"] = len(socks)
        result["error"] = f"connect: {type(error).__name__}: {error}"
        return False
    return True


class _Loop:
    """One command's connections on one epoll loop: what ``run`` and ``run_open`` share.

    Connection ``i`` sends numbered copies of its own payload (``send``); ``replies`` waits for
    events and yields each reply once it is whole, with the time it was complete and whether it
    was byte-exact; ``latencies`` collects what the caller measures from them.
    """

    def __init__(self, socks: list[socket.socket], clients: int, size: int) -> None:
        self.socks, self.size = socks, size
        self.bases = [_payload(i, size) for i in range(clients)]
        self.expect: list[bytes] = [b""] * clients
        self.got = [bytearray() for _ in range(clients)]
        self.latencies: list[float] = []
        self.by_fd: dict[int, int] = {}
        self.poller = select.epoll()

    def register(self) -> None:
        for i, sock in enumerate(self.socks):
            sock.setblocking(False)
            self.by_fd[sock.fileno()] = i
            self.poller.register(sock.fileno(), select.EPOLLIN)

    def send(self, i: int, number: int) -> None:
        """Request ``number`` (its first 6 bytes) of connection ``i``, the reply it expects remembered."""
        size, base = self.size, self.bases[i]
        message = b"%06d" % number + base[6:] if size > 6 else base
        self.expect[i] = message
        if self.socks[i].send(message) != len(message):  # an empty send buffer takes a small message whole
            raise OSError("short send")

    def replies(self, timeout: float) -> Iterator[tuple[int, int, float, bool]]:
        """(connection, descriptor, perf_counter when whole, byte-exact) of each reply completed within ``timeout``."""
        for fd, _mask in self.poller.poll(timeout):
            i = self.by_fd[fd]
            data = self.socks[i].recv(CHUNK)
            if not data:
                raise ConnectionError("the server closed a connection")
            buffer = self.got[i]
            buffer += data
            if len(buffer) < self.size:
                continue
            now = time.perf_counter()
            exact = buffer == self.expect[i]
            buffer.clear()
            yield i, fd, now, exact

    def figures(self, result: dict) -> None:
        """p50, p99 and mean of the latencies into ``result``."""
        latencies = self.latencies
        latencies.sort()
        result["p50"] = _percentile(latencies, 0.50)
        result["p99"] = _percentile(latencies, 0.99)
        result["mean"] = sum(latencies) / len(latencies) if latencies else 0.0


def run(socks: list[socket.socket], port: int, clients: int, rounds: int, size: int, batch: int,
        timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    result: dict[str, object] = {"clients": clients, "connected": 0, "round_trips": 0, "seconds": 0.0, "p50": 0.0,
                                 "p99": 0.0, "mean": 0.0, "exact": 0, "wrong": 0, "served": 0, "error": None}
    answers = {"exact": 0, "wrong": 0}
    if not socks and not _connect(socks, port, clients, batch, deadline, result):
        return result
    result["connected"] = len(socks)
    loop = _Loop(socks, clients, size)
    sent_at = [0.0] * clients
    done = [0] * clients
    clock = time.perf_counter

    def send(i: int) -> None:
        sent_at[i] = clock()
        loop.send(i, done[i])

    try:
        loop.register()
        started = clock()
        for i in range(clients):
            send(i)
        busy = clients
        while busy:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{busy} of {clients} clients still waiting for a reply at the timeout")
            for i, fd, now, exact in loop.replies(min(left, 0.5)):
                loop.latencies.append(now - sent_at[i])
                answers["exact" if exact else "wrong"] += 1
                done[i] += 1
                if done[i] < rounds:
                    send(i)
                else:
                    loop.poller.unregister(fd)
                    busy -= 1
        result["seconds"] = clock() - started
    except OSError as error:  # TimeoutError, ConnectionError, ...
        result["error"] = f"{type(error).__name__}: {error}"
    finally:
        loop.poller.close()
    result.update(answers)
    result["served"] = sum(1 for d in done if d >= rounds)
    result["round_trips"] = len(loop.latencies)
    loop.figures(result)
    return result


class _Group:
    """What a group of connections keeps between its "open" commands: where the schedule goes on,
    which connections have sent, and every latency measured on them."""

    def __init__(self) -> None:
        self.socks: list[socket.socket] = []
        self.first = 0                      # the connection the next slice's first request goes to
        self.sent: set[int] = set()         # connections that have sent since the group connected
        self.latencies: list[float] = []    # every latency since the group connected


class _Schedule:
    """The open loop's schedule on ``loop``: request j of ``total`` is due at ``start + j / rate``, on
    connection (first + j) mod N; a connection with a request in flight queues the next one until its reply."""

    def __init__(self, loop: _Loop, clients: int, rate: float, total: int, first: int = 0) -> None:
        self.loop, self.clients, self.rate, self.total, self.first = loop, clients, rate, total, first
        self.sent: set[int] = set()
        self.in_flight: list[float | None] = [None] * clients   # intended send time of the request on the wire
        # intended times due while one was in flight
        self.queued: list[deque[float]] = [deque() for _ in range(clients)]
        self.numbers = [0] * clients
        self.start = time.perf_counter()
        self.due = 0  # the next request of the schedule
        self.answered = 0

    def _send(self, i: int, intended: float) -> None:
        number = self.numbers[i] % 1_000_000
        self.numbers[i] += 1
        self.in_flight[i] = intended
        self.sent.add(i)
        self.loop.send(i, number)

    def send_due(self, now: float) -> None:
        """Send every request due by ``now``, or queue it behind the one its connection has in flight."""
        while self.due < self.total and self.start + self.due / self.rate <= now:
            i, intended = (self.first + self.due) % self.clients, self.start + self.due / self.rate
            if self.in_flight[i] is None:
                self._send(i, intended)
            else:
                self.queued[i].append(intended)
            self.due += 1

    def wait(self) -> float:
        """Seconds until the next request is due (0.5 once every request has left)."""
        return (self.start + self.due / self.rate - time.perf_counter()) if self.due < self.total else 0.5

    def answer(self, i: int, now: float) -> None:
        """Connection ``i``'s reply was whole at ``now``: its latency, from the intended send time; its next request."""
        intended = self.in_flight[i]
        assert intended is not None  # a reply comes only for a request in flight
        self.loop.latencies.append(now - intended)
        self.in_flight[i] = None
        self.answered += 1
        if self.queued[i]:
            self._send(i, self.queued[i].popleft())

    def waited(self, now: float) -> list[float]:
        """How long each request still in flight or queued has waited by ``now``."""
        return [now - t for t in self.in_flight if t is not None] + [now - t for q in self.queued for t in q]


def run_open(group: _Group, port: int, clients: int, rate: float, duration: float, size: int,
             batch: int, timeout: float, every: bool = False) -> dict:
    deadline = time.monotonic() + timeout
    socks = group.socks
    total = max(1, int(rate * duration))
    result: dict[str, object] = {
        "clients": clients, "connected": 0, "round_trips": 0, "seconds": 0.0, "p50": 0.0, "p99": 0.0,
        "mean": 0.0, "exact": 0, "wrong": 0, "served": 0, "error": None, "offered": total, "behind": 0,
        "rate": rate}
    answers = {"exact": 0, "wrong": 0}
    if not socks and not _connect(socks, port, clients, batch, deadline, result):
        return result
    result["connected"] = len(socks)
    loop = _Loop(socks, clients, size)
    schedule = _Schedule(loop, clients, rate, total, group.first % clients)
    clock = time.perf_counter
    try:
        loop.register()
        schedule.start = clock()
        while schedule.answered < total:
            schedule.send_due(clock())
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{total - schedule.answered} of {total} requests unanswered at the timeout")
            # epoll waits in whole milliseconds (rounded up): a request may leave up to 1 ms late,
            # and that counts in its latency, the same for every server
            for i, _fd, now, exact in loop.replies(max(0.0, min(schedule.wait(), left))):
                answers["exact" if exact else "wrong"] += 1
                schedule.answer(i, now)
        result["seconds"] = clock() - schedule.start
    except OSError as error:  # TimeoutError, ConnectionError, ...
        result["error"] = f"{type(error).__name__}: {error}"
        now = clock()  # what is still waiting has waited this long at least: it counts
        loop.latencies += schedule.waited(now)
        result["seconds"] = now - schedule.start
    finally:
        loop.poller.close()
    result.update(answers)
    result["behind"] = total - schedule.answered
    result["served"] = schedule.answered
    result["round_trips"] = schedule.answered
    group.first = (schedule.first + schedule.due) % clients
    group.sent |= schedule.sent
    group.latencies += loop.latencies
    result["senders"] = len(group.sent)
    loop.figures(result)
    pooled = sorted(group.latencies)
    result["p50_all"] = _percentile(pooled, 0.50)
    result["p99_all"] = _percentile(pooled, 0.99)
    result["mean_all"] = sum(pooled) / len(pooled) if pooled else 0.0
    if every and len(group.sent) < clients and not result["error"]:
        result["error"] = f"only {len(group.sent):,} of {clients:,} connections sent a request in this step"
    return result


def main() -> None:
    groups: dict[str, _Group] = {}
    for line in sys.stdin:
        command = json.loads(line)
        if command["cmd"] == "run":
            group = groups.setdefault(command.get("group", ""), _Group())
            answer = run(group.socks, command["port"], command["clients"], command["rounds"], command["size"],
                         command["batch"], command["timeout"])
        elif command["cmd"] == "open":
            group = groups.setdefault(command.get("group", ""), _Group())
            answer = run_open(group, command["port"], command["clients"], command["rate"], command["duration"],
                              command["size"], command["batch"], command["timeout"], command.get("every", False))
        else:
            names = [command["group"]] if "group" in command else list(groups)
            answer = {"closed": sum(len(groups[name].socks) for name in names if name in groups)}
            for name in names:
                for sock in groups.pop(name, _Group()).socks:
                    sock.close()
        print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    from helpers.children import restore_ctrl_c

    restore_ctrl_c()
    from helpers._system import raise_fd_limit

    raise_fd_limit()  # soft descriptor limit up to the hard one
    if os.environ.get("SWITCHYARD_PIN_CPU"):
        os.sched_setaffinity(0, {int(os.environ["SWITCHYARD_PIN_CPU"])})
    main()

"""The load generator of ``helpers.echobench``, run as ``python -m helpers._echobench_load``.

Who calls it: only :func:`helpers.echobench.echo_bench`, in a fresh interpreter of its own
process group, so the clients neither share the kernel's descriptors nor its GIL. It reads one
JSON command per line on stdin and answers with one JSON line on stdout:

    {"cmd": "run", "port": P, "clients": N, "rounds": R, "size": S, "batch": B, "timeout": T}
        opens N connections to 127.0.0.1:P (in batches of at most B, all before any request),
        then every connection does R request/response round trips of S bytes, closed loop (the
        next request leaves when the reply is in), all connections at once, driven by one epoll
        loop; every reply is compared byte for byte and every round trip timed (perf_counter).
        Answers the figures (round trips, seconds, p50/p99/mean latency, exact, wrong, error)
        and KEEPS the connections open, so the caller can count what the server holds.
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
        servers can take turns on their own connections.
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


def run(socks: list[socket.socket], port: int, clients: int, rounds: int, size: int, batch: int,
        timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    result = {"clients": clients, "connected": 0, "round_trips": 0, "seconds": 0.0, "p50": 0.0,
              "p99": 0.0, "mean": 0.0, "exact": 0, "wrong": 0, "served": 0, "error": None}
    if not _connect(socks, port, clients, batch, deadline, result):
        return result
    bases = [_payload(i, size) for i in range(clients)]
    sent_at = [0.0] * clients
    done = [0] * clients
    expect: list[bytes] = [b""] * clients
    got = [bytearray() for _ in range(clients)]
    latencies: list[float] = []
    by_fd = {}
    poller = select.epoll()
    clock = time.perf_counter

    def send(i: int) -> None:
        message = b"%06d" % done[i] + bases[i][6:] if size > 6 else bases[i]
        expect[i] = message
        sent_at[i] = clock()
        if socks[i].send(message) != len(message):  # an empty send buffer takes a small message whole
            raise OSError("short send")

    try:
        for i, sock in enumerate(socks):
            sock.setblocking(False)
            by_fd[sock.fileno()] = i
            poller.register(sock.fileno(), select.EPOLLIN)
        started = clock()
        for i in range(clients):
            send(i)
        busy = clients
        while busy:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{busy} of {clients} clients still waiting for a reply at the timeout")
            for fd, _mask in poller.poll(min(left, 0.5)):
                i = by_fd[fd]
                data = socks[i].recv(CHUNK)
                if not data:
                    raise ConnectionError("the server closed a connection")
                buffer = got[i]
                buffer += data
                if len(buffer) < size:
                    continue
                latencies.append(clock() - sent_at[i])
                if buffer == expect[i]:
                    result["exact"] += 1
                else:
                    result["wrong"] += 1
                buffer.clear()
                done[i] += 1
                if done[i] < rounds:
                    send(i)
                else:
                    poller.unregister(fd)
                    busy -= 1
        result["seconds"] = clock() - started
    except OSError as error:  # TimeoutError, ConnectionError, ...
        result["error"] = f"{type(error).__name__}: {error}"
    finally:
        poller.close()
    result["served"] = sum(1 for d in done if d >= rounds)
    result["round_trips"] = len(latencies)
    latencies.sort()
    result["p50"] = _percentile(latencies, 0.50)
    result["p99"] = _percentile(latencies, 0.99)
    result["mean"] = sum(latencies) / len(latencies) if latencies else 0.0
    return result


def run_open(socks: list[socket.socket], port: int, clients: int, rate: float, duration: float, size: int,
             batch: int, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    total = max(1, int(rate * duration))
    result = {"clients": clients, "connected": 0, "round_trips": 0, "seconds": 0.0, "p50": 0.0, "p99": 0.0,
              "mean": 0.0, "exact": 0, "wrong": 0, "served": 0, "error": None, "offered": total, "behind": 0,
              "rate": rate}
    if not socks and not _connect(socks, port, clients, batch, deadline, result):
        return result
    result["connected"] = len(socks)
    bases = [_payload(i, size) for i in range(clients)]
    in_flight: list[float | None] = [None] * clients   # intended send time of the request on the wire
    queued: list[deque] = [deque() for _ in range(clients)]  # intended times due while one was in flight
    expect: list[bytes] = [b""] * clients
    got = [bytearray() for _ in range(clients)]
    numbers = [0] * clients
    latencies: list[float] = []
    by_fd = {}
    poller = select.epoll()
    clock = time.perf_counter

    def send(i: int, intended: float) -> None:
        message = b"%06d" % (numbers[i] % 1_000_000) + bases[i][6:] if size > 6 else bases[i]
        numbers[i] += 1
        expect[i] = message
        in_flight[i] = intended
        if socks[i].send(message) != len(message):  # an empty send buffer takes a small message whole
            raise OSError("short send")

    answered = 0
    start = clock()
    try:
        for i, sock in enumerate(socks):
            sock.setblocking(False)
            by_fd[sock.fileno()] = i
            poller.register(sock.fileno(), select.EPOLLIN)
        start = clock()
        due = 0  # the next request of the schedule
        while answered < total:
            now = clock()
            while due < total and start + due / rate <= now:
                i, intended = due % clients, start + due / rate
                if in_flight[i] is None:
                    send(i, intended)
                else:
                    queued[i].append(intended)
                due += 1
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{total - answered} of {total} requests unanswered at the timeout")
            wait = (start + due / rate - clock()) if due < total else 0.5
            # epoll waits in whole milliseconds (rounded up): a request may leave up to 1 ms late,
            # and that counts in its latency, the same for every server
            for fd, _mask in poller.poll(max(0.0, min(wait, left))):
                i = by_fd[fd]
                data = socks[i].recv(CHUNK)
                if not data:
                    raise ConnectionError("the server closed a connection")
                buffer = got[i]
                buffer += data
                if len(buffer) < size:
                    continue
                latencies.append(clock() - in_flight[i])
                result["exact" if buffer == expect[i] else "wrong"] += 1
                buffer.clear()
                in_flight[i] = None
                answered += 1
                if queued[i]:
                    send(i, queued[i].popleft())
        result["seconds"] = clock() - start
    except OSError as error:  # TimeoutError, ConnectionError, ...
        result["error"] = f"{type(error).__name__}: {error}"
        now = clock()  # what is still waiting has waited this long at least: it counts
        latencies += [now - t for t in in_flight if t is not None]
        latencies += [now - t for q in queued for t in q]
        result["seconds"] = now - start
    finally:
        poller.close()
    result["behind"] = total - answered
    result["served"] = answered
    result["round_trips"] = answered
    latencies.sort()
    result["p50"] = _percentile(latencies, 0.50)
    result["p99"] = _percentile(latencies, 0.99)
    result["mean"] = sum(latencies) / len(latencies) if latencies else 0.0
    return result


def main() -> None:
    groups: dict[str, list[socket.socket]] = {}
    for line in sys.stdin:
        command = json.loads(line)
        socks = groups.setdefault(command.get("group", ""), [])
        if command["cmd"] == "run":
            answer = run(socks, command["port"], command["clients"], command["rounds"], command["size"],
                         command["batch"], command["timeout"])
        elif command["cmd"] == "open":
            answer = run_open(socks, command["port"], command["clients"], command["rate"], command["duration"],
                              command["size"], command["batch"], command["timeout"])
        else:
            names = [command["group"]] if "group" in command else list(groups)
            answer = {"closed": sum(len(groups.get(name, [])) for name in names)}
            for name in names:
                for sock in groups.pop(name, []):
                    sock.close()
        print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    import signal  # Python's own Ctrl-C even if the parent ignored SIGINT (SIG_IGN survives exec)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    from helpers._system import raise_fd_limit

    raise_fd_limit()  # soft descriptor limit up to the hard one
    if os.environ.get("SWITCHYARD_PIN_CPU"):
        os.sched_setaffinity(0, {int(os.environ["SWITCHYARD_PIN_CPU"])})
    main()

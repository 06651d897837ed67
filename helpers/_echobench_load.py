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
    {"cmd": "close"}   closes every connection; answers {"closed": N}.

EOF on stdin ends it. Nothing else is printed.
"""

from __future__ import annotations

import json
import select
import socket
import sys
import time

__all__: list[str] = []

CHUNK = 64 * 1024


def _payload(index: int, size: int) -> bytes:
    return (f"<{index:07d}>" * (size // 9 + 1)).encode()[:size]


def _percentile(ordered: list[float], fraction: float) -> float:
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else 0.0


def run(socks: list[socket.socket], port: int, clients: int, rounds: int, size: int, batch: int,
        timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    result = {"clients": clients, "connected": 0, "round_trips": 0, "seconds": 0.0, "p50": 0.0,
              "p99": 0.0, "mean": 0.0, "exact": 0, "wrong": 0, "served": 0, "error": None}
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


def main() -> None:
    socks: list[socket.socket] = []
    for line in sys.stdin:
        command = json.loads(line)
        if command["cmd"] == "run":
            answer = run(socks, command["port"], command["clients"], command["rounds"], command["size"],
                         command["batch"], command["timeout"])
        else:
            answer = {"closed": len(socks)}
            for sock in socks:
                sock.close()
            socks.clear()
        print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    import signal  # Python's own Ctrl-C even if the parent ignored SIGINT (SIG_IGN survives exec)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    from helpers.swarm import _raise_fd_limit  # soft descriptor limit up to the hard one

    _raise_fd_limit()
    main()

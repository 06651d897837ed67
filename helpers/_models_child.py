"""One server of ``helpers.models.compare_models``, run as ``python -m helpers._models_child KIND``.

Who calls it: only :func:`helpers.models.compare_models`, in a fresh interpreter of its own process
group (killed as a group when the comparison ends). It binds 127.0.0.1 on a port the OS picks,
prints that port on one line, and serves until its stdin reaches EOF:

    process   the main thread accepts; a forked child serves each connection (blocking socket)
    thread    the main thread accepts; a new thread serves each connection (blocking socket)
    event     one thread, one selector, every connection a callback (non-blocking sockets)

Every kind does the same work per connection: read one line, send it back, wait for the client
to close. Nothing else is printed.
"""

from __future__ import annotations

import os
import selectors
import signal
import socket
import sys
import threading

__all__: list[str] = []


def _serve_blocking(conn: socket.socket) -> None:
    """Read one line, echo it, wait for EOF, close."""
    with conn:
        data = b""
        while not data.endswith(b"\n"):
            chunk = conn.recv(4096)
            if not chunk:
                return
            data += chunk
        conn.sendall(data)
        while conn.recv(4096):
            pass


def main(kind: str) -> None:
    listener = socket.create_server(("127.0.0.1", 0), backlog=1024)
    listener.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(listener, selectors.EVENT_READ, "accept")
    sel.register(sys.stdin.fileno(), selectors.EVENT_READ, "stop")
    if kind == "process":
        signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children reap themselves: no zombies
    buffers: dict[socket.socket, bytearray] = {}
    print(listener.getsockname()[1], flush=True)
    while True:
        for key, _mask in sel.select():
            if key.data == "stop":
                if not os.read(sys.stdin.fileno(), 1024):
                    return
            elif key.data == "accept":
                try:
                    conn, _ = listener.accept()
                except BlockingIOError:
                    continue
                if kind == "process":
                    if os.fork() == 0:  # the child: serve this one client, then leave
                        try:
                            sel.close()
                            listener.close()
                            conn.setblocking(True)
                            _serve_blocking(conn)
                        finally:
                            os._exit(0)
                    conn.close()  # the parent keeps no copy
                elif kind == "thread":
                    conn.setblocking(True)
                    threading.Thread(target=_serve_blocking, args=(conn,), daemon=True).start()
                else:
                    conn.setblocking(False)
                    buffers[conn] = bytearray()
                    sel.register(conn, selectors.EVENT_READ, "client")
            else:
                conn = key.fileobj
                try:
                    chunk = conn.recv(4096)
                except OSError:
                    chunk = b""
                if not chunk:
                    sel.unregister(conn)
                    conn.close()
                    del buffers[conn]
                    continue
                buffers[conn] += chunk
                if buffers[conn].endswith(b"\n"):
                    conn.send(buffers[conn])  # one short line: the socket's buffer takes it whole
                    buffers[conn].clear()


if __name__ == "__main__":
    # Python's own Ctrl-C even if the parent ignored SIGINT (SIG_IGN survives exec)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    main(sys.argv[1])

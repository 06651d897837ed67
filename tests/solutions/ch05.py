"""Reference solutions (and answers that must fail) for chapter 05's exercises."""

import errno
import json
import select
import selectors
import socket
import struct
from pathlib import Path

MAX_OWED = 1024 * 1024


def serve(listener, stop):
    """Broadcast: what one client sends goes to every other; slow listeners and resets are dropped."""
    outbox = {}                                           # client -> bytes it is still owed
    try:
        while True:
            writers = [c for c, owed in outbox.items() if owed]
            readable, writable, _ = select.select([listener, stop, *outbox], writers, [])
            if stop in readable:
                return
            gone = set()
            for s in readable:
                if s is listener:
                    conn, _ = listener.accept()
                    conn.setblocking(False)
                    outbox[conn] = b""
                    continue
                try:
                    data = s.recv(65536)
                except ConnectionError:
                    data = b""
                if not data:
                    gone.add(s)
                    continue
                for other in outbox:
                    if other is not s:
                        outbox[other] += data
                        if len(outbox[other]) > MAX_OWED:
                            gone.add(other)               # it does not keep up: drop it
            for s in writable:
                if s in gone:
                    continue
                try:
                    sent = s.send(outbox[s])
                except ConnectionError:
                    gone.add(s)
                    continue
                outbox[s] = outbox[s][sent:]
            for s in gone:
                del outbox[s]
                s.close()
    finally:
        for conn in outbox:
            conn.close()


def _broadcast(limit, catch, to_sender=False, stall=False):
    """Broadcast servers with one thing wrong each (built from one template, like the learners' attempts)."""
    def serve(listener, stop):
        outbox = {}
        try:
            while True:
                full = stall and any(len(owed) > MAX_OWED for owed in outbox.values())
                readers = [] if full else list(outbox)            # stall: stop reading everyone
                writers = [c for c, owed in outbox.items() if owed]
                readable, writable, _ = select.select([listener, stop, *readers], writers, [])
                if stop in readable:
                    return
                gone = set()
                for s in readable:
                    if s is listener:
                        conn, _ = listener.accept()
                        conn.setblocking(False)
                        outbox[conn] = b""
                        continue
                    if catch:
                        try:
                            data = s.recv(65536)
                        except ConnectionError:
                            data = b""
                    else:
                        data = s.recv(65536)
                    if not data:
                        gone.add(s)
                        continue
                    for other in outbox:
                        if other is not s or to_sender:
                            outbox[other] += data
                            if limit and len(outbox[other]) > MAX_OWED:
                                gone.add(other)
                for s in writable:
                    if s in gone:
                        continue
                    try:
                        sent = s.send(outbox[s])
                    except ConnectionError:
                        if not catch:
                            raise
                        gone.add(s)
                        continue
                    outbox[s] = outbox[s][sent:]
                for s in gone:
                    del outbox[s]
                    s.close()
        finally:
            for conn in outbox:
                conn.close()
    return serve


serve_without_limit = _broadcast(limit=False, catch=True)
serve_dying_on_reset = _broadcast(limit=True, catch=False)
serve_echoing_the_sender = _broadcast(limit=True, catch=True, to_sender=True)
serve_stalling_everyone = _broadcast(limit=False, catch=True, stall=True)


def split_frames(buffer):
    messages, start = [], 0
    while len(buffer) - start >= 4:
        (length,) = struct.unpack("!I", buffer[start:start + 4])
        if len(buffer) - start - 4 < length:
            break
        messages.append(buffer[start + 4:start + 4 + length])
        start += 4 + length
    return messages, buffer[start:]


def split_one_per_buffer(buffer):
    if len(buffer) < 4:
        return [], buffer
    (length,) = struct.unpack("!I", buffer[:4])
    if len(buffer) - 4 < length:
        return [], buffer
    return [buffer[4:4 + length]], b""  # anything after the first message is thrown away


def split_too_early(buffer):
    messages = []
    while len(buffer) >= 4:
        (length,) = struct.unpack("!I", buffer[:4])
        messages.append(buffer[4:4 + length])  # even when the body is not all there yet
        buffer = buffer[4 + length:]
    return messages, buffer


def accept_all(listener):
    conns = []
    while True:
        try:
            conn, _ = listener.accept()
        except BlockingIOError:
            return conns, True                   # nobody else is waiting
        except ConnectionAbortedError:
            continue                             # that client gave up; the others are still queued
        except OSError as error:
            if error.errno in (errno.EMFILE, errno.ENFILE):
                return conns, False              # the rest stay queued: no new edge will say so
            raise
        conn.setblocking(False)
        conns.append(conn)


def _accepting(on_abort="skip", on_short="report", blocking=False, one=False):
    """accept_all with one thing wrong (built from one template, like the learners' attempts)."""
    def accept_all(listener):
        conns = []
        while True:
            try:
                conn, _ = listener.accept()
            except BlockingIOError:
                return conns, True
            except ConnectionAbortedError:
                if on_abort == "stop":           # asyncio's choice: right when level-triggered only
                    return conns, True
                continue
            except OSError as error:
                if on_short == "everything":     # any error is "out of descriptors"
                    return conns, False
                if error.errno not in (errno.EMFILE, errno.ENFILE) or on_short == "raise":
                    raise
                if on_short == "retry":
                    continue
                return conns, on_short == "claim drained"
            if not blocking:
                conn.setblocking(False)
            conns.append(conn)
            if one:
                return conns, True
    return accept_all


accept_one = _accepting(one=True)                                   # one accept per event, as the seeds did
accept_leaving_blocking = _accepting(blocking=True)
accept_stopping_at_an_abort = _accepting(on_abort="stop")
accept_dying_out_of_descriptors = _accepting(on_short="raise")
accept_retrying_out_of_descriptors = _accepting(on_short="retry")
accept_claiming_drained = _accepting(on_short="claim drained")
accept_hiding_every_error = _accepting(on_short="everything")


def accept_without_the_flag(listener):
    """The right loop, returning only the list: the loop cannot tell a shortage from an empty queue."""
    return accept_all(listener)[0]


def chapter_function(name):
    """A function exactly as chapter 05's notebook defines it (the cell that says ``def name(``), with
    the chapter's module-level constants (``LIMIT = ...``) from the cells that set them."""
    notebook = json.loads((Path(__file__).parents[2] / "notebooks" / "05_io_models.ipynb").read_text("utf-8"))
    namespace = {"select": select, "selectors": selectors, "socket": socket, "struct": struct}
    code = [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]
    for cell in code:
        source = "".join(cell["source"])
        if source.startswith("LIMIT = "):
            exec(compile(source, f"05_io_models.ipynb:{cell['id']}", "exec"), namespace)
    for cell in code:
        source = "".join(cell["source"])
        if f"def {name}(" in source:
            exec(compile(source, f"05_io_models.ipynb:{cell['id']}", "exec"), namespace)
            return namespace[name]
    raise LookupError(f"chapter 05 defines no function {name!r}")


def chapter_drain_accept(listener):
    """Chapter 05's edge-triggered drain (the epoll_read cell's inner loop: until BlockingIOError), with
    ``accept`` instead of ``recv`` and the accept lines of robust_select_server, in the exercise's shape."""
    conns = []
    while True:
        try:
            conn, _ = listener.accept()
        except BlockingIOError:                  # nothing left to read right now
            return conns, True
        conn.setblocking(False)
        conns.append(conn)


def chapter_split_frames(buffer):
    """Chapter 05's file-server framing (a 2-byte length before each header), applied to a buffer."""
    messages = []
    while len(buffer) >= 2:
        (length,) = struct.unpack("!H", buffer[:2])
        if len(buffer) - 2 < length:
            break
        messages.append(buffer[2:2 + length])
        buffer = buffer[2 + length:]
    return messages, buffer


SOLUTIONS = {
    "05.1": serve,
    "05.2": split_frames,
    "05.3": accept_all,
}

WRONG = {
    "05.1": [serve_without_limit, serve_dying_on_reset, serve_echoing_the_sender, serve_stalling_everyone,
             "serve"],
    "05.2": [split_one_per_buffer, split_too_early, b"message"],
    "05.3": [accept_one, accept_leaving_blocking, accept_stopping_at_an_abort, accept_dying_out_of_descriptors,
             accept_retrying_out_of_descriptors, accept_claiming_drained, accept_hiding_every_error,
             accept_without_the_flag, 42],
}

# The chapter's own code, as a learner might hand it in: none of it may pass (the exercises need the
# idea in a new setting). Loaded from the notebook itself, so that it stays the chapter's code.
CHAPTER_CODE = {
    "05.1": [chapter_function("select_server"), chapter_function("robust_select_server"),
             chapter_function("selectors_server")],
    "05.2": [chapter_split_frames],
    "05.3": [chapter_drain_accept],
}

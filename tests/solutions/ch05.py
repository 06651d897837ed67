"""Reference solutions (and answers that must fail) for chapter 05's exercises."""

import select
import struct


def serve(listener, stop):
    inputs, outputs, pending = [listener, stop], [], {}
    try:
        while True:
            readable, writable, _ = select.select(inputs, outputs, [])
            if stop in readable:
                return
            for s in readable:
                if s is listener:
                    conn, _ = listener.accept()
                    conn.setblocking(False)
                    inputs.append(conn)
                    pending[conn] = b""
                elif data := s.recv(65536):
                    pending[s] += data
                    if s not in outputs:
                        outputs.append(s)
                else:
                    inputs.remove(s)
            for s in writable:
                sent = s.send(pending[s])
                pending[s] = pending[s][sent:]
                if not pending[s]:
                    outputs.remove(s)
            for s in [s for s in pending if s not in inputs and s not in outputs]:
                s.close()
                del pending[s]
    finally:
        for conn in pending:
            conn.close()


def serve_stale_variable(listener, stop):
    """The stub with its NotImplementedError removed: reads from the last accepted connection."""
    inputs, outputs, pending = [listener, stop], [], {}
    while True:
        readable, writable, _ = select.select(inputs, outputs, [])
        if stop in readable:
            return
        for s in readable:
            if s is listener:
                conn, _ = listener.accept()
                conn.setblocking(False)
                inputs.append(conn)
                pending[conn] = b""
            else:
                data = conn.recv(65536)  # the stale variable: the bug
                if data:
                    pending[s] += data
                    if s not in outputs:
                        outputs.append(s)
        for s in writable:
            s.send(pending[s])
            pending[s] = b""
            outputs.remove(s)


def serve_partial_send(listener, stop):
    """Right socket, EOF handled, but the result of send ignored."""
    inputs, outputs, pending = [listener, stop], [], {}
    try:
        while True:
            readable, writable, _ = select.select(inputs, outputs, [])
            if stop in readable:
                return
            for s in readable:
                if s is listener:
                    conn, _ = listener.accept()
                    conn.setblocking(False)
                    inputs.append(conn)
                    pending[conn] = b""
                elif data := s.recv(65536):
                    pending[s] += data
                    if s not in outputs:
                        outputs.append(s)
                else:
                    inputs.remove(s)
            for s in writable:
                s.send(pending[s])
                pending[s] = b""
                outputs.remove(s)
            for s in [s for s in pending if s not in inputs and s not in outputs]:
                s.close()
                del pending[s]
    finally:
        for conn in pending:
            conn.close()


def serve_spinning(listener, stop):
    """Correct echo, but closed sockets stay in inputs: the loop spins once the clients leave."""
    inputs, outputs, pending, done = [listener, stop], [], {}, set()
    try:
        while True:
            readable, writable, _ = select.select(inputs, outputs, [])
            if stop in readable:
                return
            for s in readable:
                if s is listener:
                    conn, _ = listener.accept()
                    conn.setblocking(False)
                    inputs.append(conn)
                    pending[conn] = b""
                elif data := s.recv(65536):
                    pending[s] += data
                    if s not in outputs:
                        outputs.append(s)
                else:
                    done.add(s)  # noted, but still watched for reading
            for s in writable:
                sent = s.send(pending[s])
                pending[s] = pending[s][sent:]
                if not pending[s]:
                    outputs.remove(s)
                    if s in done:
                        s.shutdown(1)  # the client sees EOF, yet the socket stays in inputs
    finally:
        for conn in pending:
            conn.close()


def serve_leaving_sockets_open(listener, stop):
    """Correct echo and no spinning, but nothing is ever closed."""
    inputs, outputs, pending = [listener, stop], [], {}
    while True:
        readable, writable, _ = select.select(inputs, outputs, [])
        if stop in readable:
            return
        for s in readable:
            if s is listener:
                conn, _ = listener.accept()
                conn.setblocking(False)
                inputs.append(conn)
                pending[conn] = b""
            elif data := s.recv(65536):
                pending[s] += data
                if s not in outputs:
                    outputs.append(s)
            else:
                inputs.remove(s)
        for s in writable:
            sent = s.send(pending[s])
            pending[s] = pending[s][sent:]
            if not pending[s]:
                outputs.remove(s)


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


def drain(sock):
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except BlockingIOError:
            return data
        if not chunk:
            return data
        data += chunk


def drain_once(sock):
    try:
        return sock.recv(1024)
    except BlockingIOError:
        return b""


def drain_ignoring_eof(sock):
    data = b""
    while True:
        try:
            data += sock.recv(65536)
        except BlockingIOError:
            return data


SOLUTIONS = {
    "05.1": serve,
    "05.2": split_frames,
    "05.3": drain,
}

WRONG = {
    "05.1": [serve_stale_variable, serve_partial_send, serve_spinning, serve_leaving_sockets_open, "serve"],
    "05.2": [split_one_per_buffer, split_too_early, b"message"],
    "05.3": [drain_once, drain_ignoring_eof, 42],
}

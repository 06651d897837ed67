"""A get/put file-transfer protocol with correct framing, its selectors server and its clients.

Who calls it: chapter 05's notebook (the framing lesson, ``file_server()``, a swarm of get/put
clients through ``helpers.swarm``), and its tests.

The protocol: every message, request or reply, is one *frame*::

    +---------+----------------------+-------------------+
    | 2 bytes | header (ASCII)       | body              |
    | H, big- | H bytes, e.g.        | as many bytes as  |
    | endian  | "PUT notes.txt 1234" | the header says   |
    +---------+----------------------+-------------------+

    requests   GET <name>                 PUT <name> <size>  + size bytes of body
    replies    OK <size> <sha256>         + size bytes: the file (to GET)
               STORED <size> <sha256>     no body: what was stored (to PUT)
               ERR <reason>               no body; then the server closes the connection

TCP delivers a byte stream, not messages: one ``recv`` may return half a header, or a header
glued to the start of the body. So the receiver loops (:func:`recv_exactly`) until it has the
2-byte length, then the whole header, then the whole body; the sender uses ``sendall``.

What notebooks use (``__all__``):
    file_server         start the server: selectors, one thread, a temporary folder it owns and removes
    put, get            one blocking client request each (``sendall`` + ``recv_exactly``)
    frame               build one frame (2-byte length, header, body)
    ask                 send raw bytes (also malformed ones), return the reply's header
    transfer_payloads   N mixed get/put swarm payloads and the checksums the server must end with

Also here, for tests and exercise checks: ``send_frame``, ``recv_frame``, ``recv_exactly`` (the
framing on blocking sockets), ``get_payload``/``put_payload`` (one swarm Payload with its exact
expected reply), ``FileServer`` (the class behind ``file_server``).

Threads: the server's sockets live on its thread "switchyard-<name>" (see ``helpers.selserver``);
the caller's thread starts and stops it and reads ``outcomes``/``errors``/``stored_checksums()``.
Bad input (unknown command, bad length, a name that leaves the folder or ends in the server's own
``.partial``, a file too big, a full folder, a client that closes early) gets an ``ERR`` reply
when the client can still read, is counted in ``outcomes``, and closes that connection only. So
does a failure on the server's side (disk full, a folder or a symlink where the file should be:
the server opens nothing through a symlink, and removes its half-written ``.partial``). A client
that sends requests but never reads the replies is served as fast as it reads: the server stops
reading from it while it holds ``Connection.max_outbox`` bytes of replies. Nothing prints.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import shutil
import socket
import stat
import struct
import tempfile
import threading
from collections import Counter
from collections.abc import Mapping

from helpers.selserver import Connection, SelectorServer
from helpers.servers import DEFAULT_TIMEOUT
from helpers.swarm import Payload

__all__ = ["ask", "file_server", "frame", "get", "put", "transfer_payloads"]  # what notebooks use

LENGTH = struct.Struct("!H")        # the header's length, 2 bytes big-endian
MAX_HEADER = 1024                  # a longer (or empty) header is a "bad length"
MAX_FILE = 4 * 1024 * 1024         # a PUT larger than this is "too big"
MAX_FOLDER = 64 * 1024 * 1024      # a PUT that would make the folder hold more is "folder full"
TEMP_SUFFIX = ".partial"           # a PUT is written to <name>.partial, then renamed: not a client's name
NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}")  # no "/", no leading ".": stays in the folder


def frame(header: str, body: bytes = b"") -> bytes:
    """One message: 2-byte length, the header, the body."""
    raw = header.encode("ascii")
    if not 0 < len(raw) <= MAX_HEADER:
        raise ValueError(f"a header must be 1 to {MAX_HEADER} bytes, not {len(raw)}")
    return LENGTH.pack(len(raw)) + raw + body


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- blocking clients ----------------------------------------------------------------------


def recv_exactly(sock: socket.socket, n: int) -> bytes:
    """Read exactly ``n`` bytes, looping over ``recv``; EOFError if the peer closes first."""
    chunks, got = [], 0
    while got < n:
        chunk = sock.recv(min(n - got, 65536))
        if not chunk:
            raise EOFError(f"the peer closed after {got} of {n} bytes")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def send_frame(sock: socket.socket, header: str, body: bytes = b"") -> None:
    """Send one frame with ``sendall`` (``send`` may send only part of it)."""
    sock.sendall(frame(header, body))


def recv_frame(sock: socket.socket) -> tuple[str, bytes]:
    """Receive one reply frame: (header, body). Only "OK <size> <sha256>" has a body, of <size> bytes."""
    (length,) = LENGTH.unpack(recv_exactly(sock, LENGTH.size))
    header = recv_exactly(sock, length).decode("ascii")
    words = header.split()
    body = recv_exactly(sock, int(words[1])) if words[0] == "OK" and len(words) == 3 else b""
    return header, body


def put(address: tuple[str, int], name: str, data: bytes, timeout: float = DEFAULT_TIMEOUT) -> str:
    """Store ``data`` as ``name`` on the server; return the reply header ("STORED <size> <sha256>" or "ERR ...")."""
    with socket.create_connection(address, timeout=timeout) as sock:
        send_frame(sock, f"PUT {name} {len(data)}", data)
        return recv_frame(sock)[0]


def get(address: tuple[str, int], name: str, timeout: float = DEFAULT_TIMEOUT) -> bytes:
    """Fetch file ``name``; raise FileNotFoundError (or ValueError) with the server's reason on ERR."""
    with socket.create_connection(address, timeout=timeout) as sock:
        send_frame(sock, f"GET {name}")
        header, body = recv_frame(sock)
    if header.startswith("ERR"):
        reason = header[4:]
        raise (FileNotFoundError if reason.startswith("no such file") else ValueError)(reason)
    return body


def ask(address: tuple[str, int], raw: bytes, timeout: float = DEFAULT_TIMEOUT) -> str:
    """Send ``raw`` bytes as they are (well-formed or not), half-close, return the reply's header.

    For showing how the server answers bad input; "(no reply)" if it closed without one.
    """
    with socket.create_connection(address, timeout=timeout) as sock:
        sock.sendall(raw)
        sock.shutdown(socket.SHUT_WR)
        try:
            return recv_frame(sock)[0]
        except EOFError:
            return "(no reply)"


# --- swarm payloads -----------------------------------------------------------------------


def get_payload(name: str, data: bytes) -> Payload:
    """A swarm client that GETs ``name`` and expects exactly ``data`` back (framed, with its checksum)."""
    return Payload(frame(f"GET {name}"), frame(f"OK {len(data)} {sha256(data)}", data))


def put_payload(name: str, data: bytes) -> Payload:
    """A swarm client that PUTs ``data`` as ``name`` and expects the server to confirm size and checksum."""
    return Payload(frame(f"PUT {name} {len(data)}", data), frame(f"STORED {len(data)} {sha256(data)}"))


def _content(i: int, size: int) -> bytes:
    """Distinct, reproducible bytes for file ``i`` (all 256 byte values appear)."""
    seed = hashlib.sha256(f"file {i}".encode()).digest()
    return (seed * (size // len(seed) + 1))[:size]


def transfer_payloads(n: int, *, size: int = 32 * 1024,
                      shared: int = 8) -> tuple[dict[str, bytes], list[Payload], dict[str, str]]:
    """``n`` clients, half GET one of ``shared`` seeded files, half PUT a file of their own.

    Returns (seed files for the server, payloads for the swarm, name -> sha256 the server must
    hold afterwards). Sizes vary around ``size`` so that bodies end at odd places.
    """
    if not (isinstance(n, int) and n >= 1 and isinstance(size, int) and size >= 1):
        raise ValueError(f"n and size must be positive ints, not {n!r}, {size!r}")
    seeds = {f"shared-{k}.bin": _content(-1 - k, size + 97 * k) for k in range(shared)}
    names = sorted(seeds)
    payloads, expected = [], {name: sha256(data) for name, data in seeds.items()}
    for i in range(n):
        if i % 2 == 0:
            name = names[(i // 2) % len(names)]
            payloads.append(get_payload(name, seeds[name]))
        else:
            name, data = f"upload-{i}.bin", _content(i, size + 13 * i % 4093)
            payloads.append(put_payload(name, data))
            expected[name] = sha256(data)
    return seeds, payloads, expected


# --- the server ----------------------------------------------------------------------------


class _Refused(Exception):
    """A bad request: the reason goes back to the client as "ERR <reason>" and into outcomes."""

    def __init__(self, kind: str, detail: str = "") -> None:
        super().__init__(kind)
        self.kind = kind
        self.detail = detail or kind


def _server_error(error: OSError, name: str) -> _Refused:
    """A failure on the server's side (disk full, a folder or a symlink under the name): ERR, recorded."""
    reason = os.strerror(error.errno) if error.errno else type(error).__name__
    if error.errno == errno.ELOOP:
        reason = "a symbolic link (not followed)"
    return _Refused("server error", f"server error: {name}: {reason}")


class _FileConnection(Connection):
    """Parses frames from the bytes received so far; acts only on whole frames."""

    server: FileServer

    def __init__(self, server: FileServer, sock: socket.socket) -> None:
        super().__init__(server, sock)
        self.inbox = bytearray()

    def received(self, data: bytes) -> None:
        self.inbox += data
        try:
            # Paused (the client is not reading our replies): the rest waits in inbox until drained().
            while not self.closing and not self.paused and self._one_request():
                pass
        except _Refused as refusal:
            self._refuse(refusal)

    def drained(self) -> None:
        self.received(b"")  # the requests put off while the client was not reading

    def failed(self, error: OSError) -> None:
        if self.inbox:  # in the middle of a request: record what was lost
            self.server._record("connection lost", f"connection lost: {type(error).__name__} after {self._missing()}")
        self.close()

    def eof(self) -> None:
        if self.inbox:  # a frame had begun: say how much was missing
            self._refuse(_Refused("early close", f"early close: {self._missing()}"))
        else:
            self.close_when_sent()

    def _missing(self) -> str:
        have = len(self.inbox)
        if have < LENGTH.size:
            return f"{have} of {LENGTH.size} length bytes"
        (length,) = LENGTH.unpack_from(self.inbox)
        if have < LENGTH.size + length:
            return f"{have - LENGTH.size} of {length} header bytes"
        words = bytes(self.inbox[LENGTH.size:LENGTH.size + length]).split()
        size = words[2].decode() if len(words) == 3 else "?"
        return f"{have - LENGTH.size - length} of {size} body bytes"

    def _one_request(self) -> bool:
        """Handle the first whole request in ``inbox``; False if it is not all here yet."""
        if len(self.inbox) < LENGTH.size:
            return False
        (length,) = LENGTH.unpack_from(self.inbox)
        if not 0 < length <= MAX_HEADER:
            raise _Refused("bad length", f"bad length: a header of {length} bytes (1 to {MAX_HEADER})")
        end = LENGTH.size + length
        if len(self.inbox) < end:
            return False
        try:
            words = bytes(self.inbox[LENGTH.size:end]).decode("ascii").split()
        except UnicodeDecodeError:
            raise _Refused("bad header", "bad header: not ASCII") from None
        command = words[0] if words else ""
        if command == "GET" and len(words) == 2:
            name = self._name(words[1])
            del self.inbox[:end]
            self._get(name)
            return True
        if command == "PUT" and len(words) == 3:
            name = self._name(words[1])
            if not words[2].isdigit():
                raise _Refused("bad length", f"bad length: size {words[2][:20]!r} is not a number")
            size = int(words[2])
            if size > self.server.max_file:
                raise _Refused("too big", f"too big: {size} bytes (at most {self.server.max_file})")
            if (held := self.server._folder_bytes(except_name=name)) + size > self.server.max_folder:
                raise _Refused("folder full", f"folder full: {held} + {size} bytes would pass "
                                              f"{self.server.max_folder}")
            if len(self.inbox) < end + size:
                return False
            body = bytes(self.inbox[end:end + size])
            del self.inbox[:end + size]
            self._put(name, body)
            return True
        if command in ("GET", "PUT"):
            raise _Refused("bad header", f"bad header: {command} takes {2 if command == 'GET' else 3} words")
        raise _Refused("unknown command", f"unknown command: {command[:20]!r}")

    def _name(self, name: str) -> str:
        if not NAME.fullmatch(name):
            raise _Refused("bad name", f"bad name: {name[:40]!r} (letters, digits, . _ -; no folders)")
        if name.endswith(TEMP_SUFFIX):
            raise _Refused("bad name", f"bad name: {name[:40]!r} (names ending in {TEMP_SUFFIX} are the server's)")
        return name

    def _get(self, name: str) -> None:
        try:
            # O_NOFOLLOW: a symlink planted in the folder is refused, never followed out of it
            fd = os.open(self.server._path(name), os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except FileNotFoundError:
            raise _Refused("no such file", f"no such file: {name}") from None
        except OSError as error:
            raise _server_error(error, name) from None
        try:
            with open(fd, "rb") as file:
                if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):
                    raise _Refused("server error", f"server error: {name}: not a regular file")
                data = file.read()
        except OSError as error:
            raise _server_error(error, name) from None
        self.queue(frame(f"OK {len(data)} {sha256(data)}", data))
        self.server._record("get")

    def _put(self, name: str, body: bytes) -> None:
        path = self.server._path(name)
        partial = path + TEMP_SUFFIX
        try:
            try:
                os.unlink(partial)  # whatever is there, a planted symlink included: not followed
            except FileNotFoundError:
                pass
            fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
            with open(fd, "wb") as file:
                file.write(body)
            os.replace(partial, path)  # readers never see half a file
        except OSError as error:
            try:
                os.unlink(partial)  # no half-written file left behind
            except OSError:
                pass
            raise _server_error(error, name) from None
        self.queue(frame(f"STORED {len(body)} {sha256(body)}"))
        self.server._record("put")

    def _refuse(self, refusal: _Refused) -> None:
        self.server._record(refusal.kind, refusal.detail)
        self.inbox.clear()
        self.queue(frame(f"ERR {refusal.detail}"[:MAX_HEADER]))
        self.close_when_sent(linger=True)


class FileServer(SelectorServer):
    """Serves GET and PUT (see the module docstring) from a temporary folder it creates and removes.

    ``files``: name -> bytes to put in the folder before serving. ``max_file``: the largest PUT;
    ``max_folder``: the most bytes the folder may hold.
    ``outcomes`` counts "get", "put" and each kind of refusal; ``refusals`` lists the reasons sent.
    """

    connection_class = _FileConnection

    def __init__(self, name: str = "files", *, files: Mapping[str, bytes] | None = None,
                 max_file: int = MAX_FILE, max_folder: int = MAX_FOLDER) -> None:
        super().__init__(name)
        self.max_file = max_file
        self.max_folder = max_folder
        self._files = dict(files or {})
        for file_name in self._files:
            if not NAME.fullmatch(file_name) or file_name.endswith(TEMP_SUFFIX):
                raise ValueError(f"bad file name {file_name!r}")
        self.folder: str | None = None
        self._outcomes: Counter[str] = Counter()
        self._refusals: list[str] = []
        self._lock = threading.Lock()  # the server's thread writes, the caller's thread reads

    def _path(self, name: str) -> str:
        """Where the file ``name`` lives (the connections run only while the folder exists)."""
        if self.folder is None:
            raise RuntimeError(f"server {self.name!r} has no folder: it is not running")
        return os.path.join(self.folder, name)

    def _folder_bytes(self, except_name: str = "") -> int:
        """Bytes the folder holds now, not counting ``except_name`` (a PUT replaces it)."""
        total = 0
        with os.scandir(self.folder) as entries:
            for entry in entries:
                if entry.name != except_name and entry.is_file(follow_symlinks=False):
                    total += entry.stat(follow_symlinks=False).st_size
        return total

    def _record(self, kind: str, detail: str | None = None) -> None:
        with self._lock:
            self._outcomes[kind] += 1
            if detail is not None:
                self._refusals.append(detail)

    @property
    def outcomes(self) -> Counter[str]:
        """Requests served ("get", "put") and refused or lost, by kind (a copy)."""
        with self._lock:
            return Counter(self._outcomes)

    @property
    def refusals(self) -> list[str]:
        """The reason of every refusal and lost connection, in order (a copy)."""
        with self._lock:
            return list(self._refusals)

    def _opened(self) -> None:
        self.folder = tempfile.mkdtemp(prefix="switchyard-files-")
        for file_name, data in self._files.items():
            with open(os.path.join(self.folder, file_name), "wb") as file:
                file.write(data)

    def _closed(self) -> None:
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)

    def stored_checksums(self) -> dict[str, str]:
        """name -> sha256 of every file in the folder now (call while the server runs)."""
        if self.folder is None or not os.path.isdir(self.folder):
            raise RuntimeError("the server is not running: its folder is gone")
        sums = {}
        for file_name in sorted(os.listdir(self.folder)):
            if not file_name.endswith(TEMP_SUFFIX):
                with open(os.path.join(self.folder, file_name), "rb") as file:
                    sums[file_name] = sha256(file.read())
        return sums

    def outcomes_text(self) -> str:
        """One stable line: requests served and refused, by kind."""
        return ", ".join(f"{kind} {count:,}" for kind, count in sorted(self.outcomes.items())) or "nothing yet"


def file_server(*, files: Mapping[str, bytes] | None = None, name: str = "files",
                max_file: int = MAX_FILE, max_folder: int = MAX_FOLDER) -> FileServer:
    """Start a FileServer on 127.0.0.1 (OS-chosen port) holding ``files``; ``with`` it to stop and clean up."""
    return FileServer(name, files=files, max_file=max_file, max_folder=max_folder).start()

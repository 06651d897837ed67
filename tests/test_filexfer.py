"""Tests for helpers.filexfer: framing, the get/put server, bad input, and a swarm of clients."""

from __future__ import annotations

import os
import socket
import struct
import time

import pytest

from helpers.filexfer import (
    FileServer,
    ask,
    file_server,
    frame,
    get,
    get_payload,
    put,
    put_payload,
    recv_exactly,
    recv_frame,
    send_frame,
    transfer_payloads,
)
from helpers.swarm import swarm

TIMEOUT = 10.0


def test_recv_exactly_loops_over_pieces_and_fails_on_early_close():
    a, b = socket.socketpair()
    with a, b:
        a.sendall(b"abc")
        a.sendall(b"defg")
        assert recv_exactly(b, 5) == b"abcde"
        assert recv_exactly(b, 2) == b"fg"
        a.sendall(b"xy")
        a.shutdown(socket.SHUT_WR)
        with pytest.raises(EOFError, match="2 of 5"):
            recv_exactly(b, 5)


def test_frames_round_trip_even_glued():
    a, b = socket.socketpair()
    with a, b:
        send_frame(a, "OK 3 abc", b"xyz")
        send_frame(a, "ERR nope")
        assert recv_frame(b) == ("OK 3 abc", b"xyz")
        assert recv_frame(b) == ("ERR nope", b"")
    with pytest.raises(ValueError):
        frame("")
    with pytest.raises(ValueError):
        frame("x" * 2000)


def test_put_then_get_and_folder_cleanup():
    with file_server(files={"seed.txt": b"seeded"}) as server:
        folder = server.folder
        assert get(server.address, "seed.txt") == b"seeded"
        reply = put(server.address, "new.bin", bytes(range(256)) * 1000)
        assert reply.startswith("STORED 256000 ")
        assert get(server.address, "new.bin") == bytes(range(256)) * 1000
        with pytest.raises(FileNotFoundError):
            get(server.address, "missing.txt")
        assert set(server.stored_checksums()) == {"seed.txt", "new.bin"}
        assert os.path.isdir(folder)
    assert not os.path.exists(folder)
    assert server.outcomes["get"] == 2 and server.outcomes["put"] == 1
    assert server.errors == []


def test_two_requests_on_one_connection_sent_glued():
    with file_server(files={"a.txt": b"AAA"}) as server, \
            socket.create_connection(server.address, timeout=TIMEOUT) as sock:
        sock.sendall(frame("PUT b.txt 2", b"BB") + frame("GET a.txt"))
        assert recv_frame(sock)[0].startswith("STORED 2 ")
        assert recv_frame(sock)[1] == b"AAA"


def test_bytes_arriving_one_at_a_time():
    with file_server() as server, socket.create_connection(server.address, timeout=TIMEOUT) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for byte in frame("PUT slow.txt 4", b"slow"):
            sock.send(bytes([byte]))
        assert recv_frame(sock)[0].startswith("STORED 4 ")
        assert get(server.address, "slow.txt") == b"slow"


@pytest.mark.parametrize("raw, kind", [
    (frame("DEL x"), "unknown command"),
    (frame("GET ../../etc/passwd"), "bad name"),
    (frame("GET /etc/passwd"), "bad name"),
    (frame("PUT .hidden 1", b"x"), "bad name"),
    (b"\x00\x00", "bad length"),
    (b"\x08\x00" + b"x" * 10, "bad length"),
    (frame("PUT x.bin lots"), "bad length"),
    (frame("PUT big.bin 5000000"), "too big"),
    (frame("PUT cut.bin 10") + b"abc", "early close"),
    (b"\x00\x05GE", "early close"),
    (b"\x00", "early close"),
    (frame("GET a b"), "bad header"),
    (b"\x00\x02\xff\xfe", "bad header"),
    (frame("GET nothing.txt"), "no such file"),
])
def test_bad_input_gets_an_error_reply_and_is_counted(raw, kind):
    with file_server(max_file=1_000_000) as server:
        reply = ask(server.address, raw)
        assert reply.startswith(f"ERR {kind}"), reply
        assert server.outcomes[kind] == 1
        assert len(server.refusals) == 1
        assert put(server.address, "after.txt", b"ok").startswith("STORED")  # still serving
        assert os.listdir(server.folder) == ["after.txt"]
    assert server.errors == []


def test_reset_mid_request_is_recorded():
    with file_server() as server:
        sock = socket.create_connection(server.address, timeout=TIMEOUT)
        sock.sendall(frame("PUT half.bin 1000", b"x" * 10))
        time.sleep(0.2)  # let the server read the first part
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()  # reset
        deadline = time.monotonic() + TIMEOUT
        while not server.outcomes["connection lost"] and time.monotonic() < deadline:
            time.sleep(0.01)
        assert server.refusals == ["connection lost: ConnectionResetError after 10 of 1000 body bytes"]
        assert put(server.address, "after.txt", b"ok").startswith("STORED")
        assert sorted(os.listdir(server.folder)) == ["after.txt"]


def test_oversize_upload_still_reads_the_error_reply():
    with file_server(max_file=1000) as server, socket.create_connection(server.address, timeout=TIMEOUT) as sock:
        sock.sendall(frame("PUT big.bin 3000000"))
        sock.sendall(b"x" * 3_000_000)  # the server drops these instead of resetting the connection
        sock.shutdown(socket.SHUT_WR)
        assert recv_frame(sock)[0].startswith("ERR too big")


def test_payloads_expect_exact_replies():
    assert get_payload("a.txt", b"hi").expect.endswith(b"hi")
    assert put_payload("a.txt", b"hi").send.endswith(b"hi")
    seeds, payloads, expected = transfer_payloads(10, size=100)
    assert len(payloads) == 10 and len(expected) == len(seeds) + 5
    with pytest.raises(ValueError):
        transfer_payloads(0)
    with pytest.raises(ValueError):
        FileServer(files={"../x": b""})


def test_swarm_of_300_is_byte_exact_with_checksums():
    seeds, payloads, expected = transfer_payloads(300)
    with file_server(files=seeds) as server:
        report = swarm(server.address, payloads, hold=True, timeout=30)
        assert report.ok, report.text()
        assert server.stored_checksums() == expected
    assert server.outcomes_text() == "get 150, put 150"


def test_stopped_server_has_no_folder():
    server = file_server()
    server.stop()
    with pytest.raises(RuntimeError):
        server.stored_checksums()


# --- hostile clients and a hostile folder ------------------------------------------------------


def test_out_of_descriptors_the_file_server_pauses_records_once_and_serves_again():
    from tests.hostile import descriptors_exhausted, times_recorded

    with file_server(files={"a.txt": b"alpha"}) as server:
        waiting = socket.socket()
        try:
            with descriptors_exhausted():
                waiting.settimeout(TIMEOUT)
                waiting.connect(server.address)
                time.sleep(1.0)
                errors = server.errors
            assert len(errors) == 1 and "Too many open files" in errors[0], errors[:3]
            assert times_recorded(errors[0]) <= 10
            send_frame(waiting, "GET a.txt")
            assert recv_frame(waiting)[1] == b"alpha"
        finally:
            waiting.close()
        assert [get(server.address, "a.txt") for _ in range(5)] == [b"alpha"] * 5


def test_pipelined_gets_never_read_are_held_one_reply_at_a_time():
    from helpers.selserver import MAX_OUTBOX

    data = os.urandom(1024 * 1024)
    with file_server(files={"big.bin": data}) as server, \
            socket.create_connection(server.address, timeout=TIMEOUT) as sock:
        sock.sendall(frame("GET big.bin") * 40)  # 560 bytes asking for 40 MiB, then not reading
        time.sleep(1.0)
        held = server.held
        assert held <= MAX_OUTBOX + len(data) + 200, f"the server holds {held:,} bytes for one client"
        for _ in range(40):  # every reply still comes, whole, once the client reads
            header, body = recv_frame(sock)
            assert header.startswith("OK") and body == data
        assert server.outcomes["get"] == 40


def test_a_folder_under_the_name_is_a_server_error_answered_recorded_and_cleaned_up():
    with file_server() as server:
        os.mkdir(os.path.join(server.folder, "d"))
        assert ask(server.address, frame("GET d")).startswith("ERR server error: d")
        assert ask(server.address, frame("PUT d 3", b"abc")) == "ERR server error: d: Is a directory"
        assert sorted(os.listdir(server.folder)) == ["d"]  # no d.partial left behind
        assert server.outcomes["server error"] == 2 and len(server.refusals) == 2
        assert put(server.address, "after.txt", b"ok").startswith("STORED")
    assert server.errors == []


def test_a_disk_full_put_gets_err_and_leaves_no_partial(monkeypatch):
    import helpers.filexfer as filexfer

    real_open = open

    class Full:
        def __init__(self, fd, mode):
            self.file = real_open(fd, mode)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.file.close()

        def write(self, data):
            self.file.write(data[:10])
            raise OSError(28, os.strerror(28))  # ENOSPC after 10 bytes

    def full_disk_open(fd, mode="r", *args, **kwargs):
        return Full(fd, mode) if mode == "wb" else real_open(fd, mode, *args, **kwargs)

    monkeypatch.setattr(filexfer, "open", full_disk_open, raising=False)
    with file_server() as server:
        reply = ask(server.address, frame("PUT n.txt 100", b"x" * 100))
        assert reply == "ERR server error: n.txt: No space left on device"
        assert os.listdir(server.folder) == []
        assert server.refusals == ["server error: n.txt: No space left on device"]


def test_the_servers_temp_suffix_is_not_a_name_a_client_may_use():
    with file_server() as server:
        assert ask(server.address, frame("PUT x.partial 3", b"abc")).startswith("ERR bad name")
        assert ask(server.address, frame("GET x.partial")).startswith("ERR bad name")
        assert os.listdir(server.folder) == []
        assert server.outcomes["bad name"] == 2


def test_symlinks_planted_in_the_folder_are_not_followed(tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"secret")
    with file_server() as server:
        os.symlink(outside, os.path.join(server.folder, "leak"))
        reply = ask(server.address, frame("GET leak"))
        assert reply == "ERR server error: leak: a symbolic link (not followed)", reply
        os.symlink(outside, os.path.join(server.folder, "x.partial"))
        assert put(server.address, "x", b"mine").startswith("STORED")
        assert outside.read_bytes() == b"secret"  # not written through the planted link
        assert not os.path.islink(os.path.join(server.folder, "x"))
        assert get(server.address, "x") == b"mine"
        assert server.outcomes["server error"] == 1


def test_the_folder_has_a_size_limit():
    with file_server(max_folder=10_000) as server:
        assert put(server.address, "a", b"a" * 6000).startswith("STORED")
        assert put(server.address, "b", b"b" * 6000) == "ERR folder full: 6000 + 6000 bytes would pass 10000"
        assert put(server.address, "a", b"A" * 9000).startswith("STORED")  # replacing a file frees its bytes
        assert os.listdir(server.folder) == ["a"]
        assert server.outcomes == {"put": 2, "folder full": 1}

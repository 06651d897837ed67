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

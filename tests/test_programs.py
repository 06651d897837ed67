"""Tests for helpers.programs: a program that runs while the caller talks to it, then stops."""

from __future__ import annotations

import socket
import textwrap
import threading

import pytest

from helpers.fresh import ProgramFailed
from helpers.programs import running_program
from helpers.swarm import echo_payloads, swarm

SERVER = textwrap.dedent('''
    import socket, sys
    import gevent
    connections = 0

    def handle(conn):
        with conn:
            while data := conn.recv(1024):
                conn.sendall(data)

    server = socket.socket()
    server.bind((sys.argv[1], int(sys.argv[2])))
    server.listen(100)
    try:
        print(server.getsockname()[1])
        while True:
            conn, _ = server.accept()
            connections += 1
            gevent.spawn(handle, conn)
    except KeyboardInterrupt:
        print("stopped after", connections)
''')


def test_first_line_then_ctrl_c_lets_the_program_say_goodbye():
    # "ready" is printed inside the try: a Ctrl-C that comes right after it is caught too.
    with running_program('import time\ntry:\n    print("ready")\n    time.sleep(60)\n'
                         'except KeyboardInterrupt:\n    print("bye")\n') as program:
        assert program.first_line() == "ready"
        assert program.running
    assert not program.running
    assert program.stdout == "ready\nbye\n"
    assert program.returncode == 0
    assert not program.timed_out


def test_a_patched_server_serves_a_swarm_and_reports_when_stopped():
    with running_program(SERVER, args=["127.0.0.1", "0"], gevent_patch=True) as server:
        port = int(server.first_line())
        report = swarm(("127.0.0.1", port), echo_payloads(20), hold=True, where="threads")
    assert report.ok
    assert server.stdout.splitlines() == [str(port), "stopped after 20"]


def test_a_program_that_fails_before_its_first_line_raises_program_failed():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with running_program(SERVER, args=["127.0.0.1", str(taken.getsockname()[1])]) as server:
            with pytest.raises(ProgramFailed, match="Address already in use"):
                server.first_line()
    assert server.returncode == 1


def test_first_line_times_out():
    with running_program("import time\ntime.sleep(30)\n") as program:
        with pytest.raises(TimeoutError, match="no line within 0.2 s"):
            program.first_line(timeout=0.2)


def test_a_program_ignoring_ctrl_c_is_killed_after_the_grace():
    source = "import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nprint('up')\ntime.sleep(60)\n"
    with running_program(source, grace=0.3) as program:
        program.first_line()
    assert program.returncode is not None and program.returncode < 0


def test_stopped_also_when_the_block_raises():
    with pytest.raises(RuntimeError), running_program("import time\nprint(1)\ntime.sleep(60)\n") as program:
        program.first_line()
        raise RuntimeError("the cell failed")
    assert not program.running
    assert not [t for t in threading.enumerate() if t.name.startswith("switchyard-program")]


def test_timed_out_is_reported():
    with running_program("import time\nprint(1)\ntime.sleep(60)\n", timeout=0.1, grace=0.5) as program:
        program.first_line()
        threading.Event().wait(0.3)
    assert program.timed_out


@pytest.mark.parametrize("kwargs, error", [
    ({"source": b"print(1)"}, TypeError),
    ({"source": "", "args": "0"}, TypeError),
    ({"source": "", "args": [0]}, TypeError),
    ({"source": "", "timeout": 0}, ValueError),
    ({"source": "", "gevent_patch": 1}, TypeError),
])
def test_bad_arguments(kwargs, error):
    with pytest.raises(error):
        with running_program(**kwargs):
            pass

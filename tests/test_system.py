"""helpers._system: each reader of /proc, the descriptor limits and somaxconn, against what the OS knows.

Linux here: every figure is compared with another way of knowing it (a socket just opened, a child
just started, resource.getrlimit), and each reader's "unknown" answer is checked on a path or a
process that does not exist.
"""

from __future__ import annotations

import os
import resource
import socket
import subprocess
import sys
import textwrap

import pytest

from helpers import _system

HOST = "127.0.0.1"


def gone_pid() -> int:
    """The pid of a process that has ended and been reaped."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_the_module_imports_only_what_a_fresh_interpreter_can_afford():
    """The python -m programs import it: no socket, no dataclasses (inspect), no asyncio on import."""
    code = ("import sys, helpers._system\n"
            "print(sorted({'socket', 'dataclasses', 'asyncio', 'selectors'} & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=True)
    assert out.stdout.strip() == "[]"


def test_the_soft_descriptor_limit_is_raised_to_the_hard_one():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(soft, 512), hard))
        assert _system.raise_fd_limit() == resource.getrlimit(resource.RLIMIT_NOFILE)
        assert _system.raise_fd_limit()[0] == (hard if hard != resource.RLIM_INFINITY else 1 << 20)
        assert _system.fd_hard_limit() == (hard if hard != resource.RLIM_INFINITY else 1 << 20)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


class FakeLimits:
    """resource's RLIMIT_NOFILE calls on a system of our choosing: ``refuse_above`` is the highest soft
    limit the system accepts (macOS: OPEN_MAX or kern.maxfilesperproc; Linux: nr_open)."""

    RLIMIT_NOFILE = resource.RLIMIT_NOFILE
    RLIM_INFINITY = resource.RLIM_INFINITY

    def __init__(self, soft: int, hard: int, refuse_above: int | None = None) -> None:
        self.limits = (soft, hard)
        self.refuse_above = refuse_above
        self.tries: list[int] = []

    def getrlimit(self, which: int) -> tuple[int, int]:
        assert which == self.RLIMIT_NOFILE
        return self.limits

    def setrlimit(self, which: int, limits: tuple[int, int]) -> None:
        soft, hard = limits
        self.tries.append(soft)
        if hard != self.limits[1] or (self.refuse_above is not None and soft > self.refuse_above):
            raise ValueError("current limit exceeds maximum limit")
        self.limits = (soft, hard)


@pytest.mark.parametrize(("soft", "hard", "refuse_above", "after"), [
    (256, resource.RLIM_INFINITY, 10_240, (10_240, resource.RLIM_INFINITY)),  # macOS: OPEN_MAX
    (256, resource.RLIM_INFINITY, 24_576, (16_384, resource.RLIM_INFINITY)),  # macOS: maxfilesperproc
    (256, resource.RLIM_INFINITY, None, (1 << 20, resource.RLIM_INFINITY)),   # infinite: capped at 1 << 20
    (1024, 1 << 30, 1 << 20, (1 << 20, 1 << 30)),                             # Linux, hard above nr_open
    (1024, 4096, None, (4096, 4096)),                                         # the usual case
    (256, resource.RLIM_INFINITY, 100, (256, resource.RLIM_INFINITY)),        # everything refused: unchanged
    (20_000, 20_000, None, (20_000, 20_000)),                                 # already there: no call
])
def test_raise_fd_limit_caps_its_target_and_never_raises(monkeypatch, soft, hard, refuse_above, after):
    fake = FakeLimits(soft, hard, refuse_above)
    monkeypatch.setattr(_system, "resource", fake)
    assert _system.raise_fd_limit() == after
    assert all(tried <= 1 << 20 for tried in fake.tries) and len(fake.tries) <= 9


def test_open_descriptors_are_counted_and_numbered(monkeypatch):
    before = _system.open_fds()
    with socket.socket() as sock:
        assert sock.fileno() in _system.fd_numbers()
        assert _system.open_fds() == before + 1
        assert _system.open_fds() == len(_system.fd_numbers(os.getpid()))
    with pytest.raises(OSError):
        _system.fd_numbers(gone_pid())

    def no_proc(pid="self"):
        raise FileNotFoundError(pid)

    monkeypatch.setattr(_system, "fd_numbers", no_proc)
    assert _system.open_fds() == 64 and _system.open_fds(unknown=7) == 7


def test_memory_figures_agree_with_each_other():
    rss_kb = _system.status_kb("VmRSS")
    assert rss_kb > 1000  # an interpreter with pytest loaded: megabytes
    assert _system.peak_rss_kb() >= rss_kb
    assert abs(_system.rss_bytes() // 1024 - rss_kb) < rss_kb // 2  # statm and status: the same figure
    pss = _system.smaps_kb(os.getpid(), "Pss")
    assert 0 < pss <= rss_kb + 1000
    assert abs(_system.smaps_kb(os.getpid(), "Pss", "No_Such_Line") - pss) < 1000  # a line not there adds 0
    assert 0 < _system.private_kb(os.getpid()) <= rss_kb + 1000
    assert _system.status_kb("No_Such_Field") == 0
    assert _system.mem_available() > 0
    assert _system.HAVE_PROC


def test_a_process_that_has_ended_is_unknown_or_zero():
    pid = gone_pid()
    with pytest.raises(OSError):
        _system.status_kb("VmRSS", pid)
    with pytest.raises(OSError):
        _system.smaps_kb(pid, "Pss")
    assert _system.private_kb(pid) == 0
    assert _system.process_tree(pid) == [pid]
    assert _system.census(pid) == _system.Census(0, 0, 0, 0)
    assert _system.cpu_ns(pid) == 0


def test_the_census_counts_a_process_and_its_child():
    """A child that starts a grandchild and a second thread: two processes, three threads."""
    program = textwrap.dedent("""
        import subprocess, sys, threading, time
        grandchild = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
        threading.Thread(target=time.sleep, args=(30,), daemon=True).start()
        sum(i * i for i in range(200_000))  # some CPU to count
        print(grandchild.pid, flush=True)
        sys.stdin.read()
        grandchild.kill()
        grandchild.wait()
    """)
    child = subprocess.Popen([sys.executable, "-c", program], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             text=True)
    try:
        grandchild = int(child.stdout.readline())
        assert sorted(_system.process_tree(child.pid)) == sorted([child.pid, grandchild])
        census = _system.census(child.pid)
        assert (census.processes, census.threads) == (2, 3)
        assert census.fds >= 6 and census.pss_kb > 1000
        assert _system.cpu_ns(child.pid) > _system.cpu_ns(grandchild) > 0
    finally:
        child.stdin.close()
        child.wait(timeout=30)
        child.stdout.close()


def test_somaxconn_is_read_and_unknown_where_unreadable(tmp_path):
    with open(_system.SOMAXCONN, encoding="ascii") as file:
        assert _system.somaxconn() == int(file.read())
    limit = tmp_path / "somaxconn"
    limit.write_text("128\n")
    assert _system.somaxconn(str(limit)) == 128
    limit.write_text("0\n")
    assert _system.somaxconn(str(limit)) == 1  # at least one
    limit.write_text("not a number\n")
    assert _system.somaxconn(str(limit)) is None
    assert _system.somaxconn(str(tmp_path / "missing")) is None


def test_a_listener_of_this_process_is_recognised():
    with socket.create_server((HOST, 0)) as listener:
        assert _system.listening_here(listener.getsockname()[1])
    with socket.socket() as bound:  # bound, not listening
        bound.bind((HOST, 0))
        assert not _system.listening_here(bound.getsockname()[1])


def test_the_accept_queue_of_a_local_listener_is_read_from_the_kernel():
    listener = socket.create_server((HOST, 0), backlog=77)
    clients = [socket.create_connection(listener.getsockname(), timeout=5) for _ in range(5)]
    try:
        assert _system.listen_queue(listener.getsockname()[1]) == (5, 77)
    finally:
        for client in clients:
            client.close()
        listener.close()
    with socket.socket() as bound:
        bound.bind((HOST, 0))
        assert _system.listen_queue(bound.getsockname()[1]) is None  # bound, not listening

"""Tests for helpers.procs: pool jobs, the traced CPU job and its readers, run_script, the echo fleet."""

from __future__ import annotations

import os
import signal
import socket

import psutil
import pytest

from helpers import procs
from helpers.fresh import ProgramTimeout
from helpers.swarm import echo_payloads, swarm


def test_small_jobs():
    assert procs.square(7) == 49
    assert procs.slow_square(3, 0.001) == 9
    assert procs.pid_square(5, 0.001) == (25, os.getpid())
    assert procs.where_am_i(os.getpid()) == "parent"
    assert procs.where_am_i(os.getpid() + 1) == "worker"


def test_burn_and_traced_burn_compute_the_same():
    run = procs.traced_burn(50_000)
    assert run.checksum == procs.burn(50_000)
    assert run.spans and all(start < end for start, end in run.spans)
    assert 0 < run.computing <= run.spans[-1][1] - run.spans[0][0] + 1e-9
    assert run.cpu_seconds > 0 and 0.0 <= run.held_back <= 1.0


def new_children(before: set[int]) -> list[psutil.Process]:
    return [child for child in psutil.Process().children() if child.pid not in before]


def spans(*pairs):
    return procs.Spans(0, tuple(pairs))


def test_most_at_once_and_overlap_share():
    apart = [spans((0, 1)), spans((1, 2))]  # an end and a start at one instant do not overlap
    assert procs.most_at_once(apart) == 1
    assert procs.overlap_share(apart) == 0.0
    together = [spans((0, 2)), spans((1, 3)), spans((1.5, 1.8))]
    assert procs.most_at_once(together) == 3
    assert procs.overlap_share(together) == pytest.approx(1 / 3)
    assert procs.most_at_once([]) == 0 and procs.overlap_share([]) == 0.0
    # A job resumed less than GAP after the other took over seems to compute over its end: not "two at once".
    blind = [spans((0, 0.5)), spans((0.5, 1.0005)), spans((1.0, 1.5))]
    assert procs.most_at_once(blind) == 1
    assert procs.most_at_once(blind, lasting=0) == 2


def test_held_back_share():
    assert procs.Spans(0, (), 0, 1.0, 0.25).held_back == pytest.approx(0.75)
    assert procs.Spans(0, (), 0, 1.0, 1.5).held_back == 0.0  # CPU clock ahead: never negative
    assert procs.Spans(0, (), 0, 0.0, 0.0).held_back == 0.0


def test_usable_cpus_and_cpu_seconds():
    assert 1 <= procs.usable_cpus() <= (os.cpu_count() or 1)
    before = procs.cpu_seconds()
    procs.burn(200_000)
    assert procs.cpu_seconds() > before


def test_run_script_lets_spawned_workers_import_the_program():
    result = procs.run_script(
        "import multiprocessing\n"
        "def cube(x):\n    return x ** 3\n"
        "if __name__ == '__main__':\n"
        "    with multiprocessing.get_context('spawn').Pool(1) as pool:\n"
        "        print(pool.map(cube, [1, 2, 3]))\n", timeout=60)
    assert result.check_returncode().stdout == "[1, 8, 27]\n"


def test_run_script_timeout_kills_everything():
    with pytest.raises(ProgramTimeout):
        procs.run_script("import time\nprint('start')\ntime.sleep(60)\n", timeout=1)


def test_echo_fleet_serves_byte_exact_on_every_worker_and_reaps_them():
    before = {child.pid for child in psutil.Process().children()}
    with procs.echo_fleet(workers=2) as fleet:
        host, port = fleet.address
        assert host == "127.0.0.1" and port > 1024
        workers = new_children(before)
        assert len(workers) == 2
        report = swarm(fleet.address, echo_payloads(100, size=128), hold=True, timeout=30)
    assert report.ok, report.text()
    assert sum(fleet.served.values()) == 100
    assert fleet.serving_workers() == 2
    assert fleet.exitcodes == [0, 0]
    assert not any(worker.is_running() for worker in workers)


def test_echo_fleet_runs_again_and_frees_its_port():
    for _ in range(2):
        with procs.echo_fleet(workers=1) as fleet:
            with socket.create_connection(fleet.address, timeout=5) as conn:
                conn.sendall(b"hello")
                conn.shutdown(socket.SHUT_WR)
                assert conn.recv(100) == b"hello"
        assert fleet.exitcodes == [0]
    with pytest.raises(OSError):
        socket.create_connection(fleet.address, timeout=2).close()


def test_echo_fleet_stops_workers_when_the_block_raises():
    with pytest.raises(RuntimeError, match="boom"):
        with procs.echo_fleet(workers=2) as fleet:
            raise RuntimeError("boom")
    assert fleet.exitcodes == [0, 0]


def test_echo_fleet_kills_a_worker_that_ignores_sigterm(monkeypatch):
    monkeypatch.setattr(procs, "GRACE", 0.5)
    before = {child.pid for child in psutil.Process().children()}
    with procs.echo_fleet(workers=1) as fleet:
        [worker] = new_children(before)
        os.kill(worker.pid, signal.SIGSTOP)  # a stopped process cannot handle SIGTERM
    assert fleet.exitcodes == [-signal.SIGKILL]


@pytest.mark.parametrize("workers", [0, 17, True, "2"])
def test_echo_fleet_refuses_bad_worker_counts(workers):
    with pytest.raises(ValueError):
        with procs.echo_fleet(workers=workers):
            pass

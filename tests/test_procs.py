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
    assert procs.together(apart) == [] and procs.together(blind) == []
    assert procs.together(together) == [(1, 2)]  # two or three at once, one stretch


def test_the_lines_chapter_10_prints_follow_the_spans():
    apart = [spans((0, 1)), spans((1, 2))]
    overlapping = [spans((0, 2)), spans((1, 3))]
    assert procs.at_once_line("threads", apart) == "threads    jobs computing at the same instant, at most: one"
    assert procs.at_once_line("processes", overlapping).endswith("at most: 2")
    gil = [procs.Spans(0, (), 0, 1.0, 0.5), procs.Spans(0, (), 0, 1.0, 0.45)]   # half the time waiting
    free = [procs.Spans(0, (), 0, 1.0, 0.99), procs.Spans(0, (), 0, 1.0, 0.97)]
    between = [procs.Spans(0, (), 0, 1.0, 0.85)]
    assert procs.held_back_line("threads", gil).endswith(
        "held back by each other: yes (one of 2 computes at a time: each waits about half of its time, or more)")
    four = gil * 2  # four threads on 4 CPUs: one computes, three wait
    assert "each waits about three quarters of its time" in procs.held_back_line("threads", four)
    assert procs.held_back_line("processes", free).endswith("held back by each other: no")
    assert procs.held_back_line("threads", between).endswith("held back by each other: unclear")
    with pytest.raises(ValueError):
        procs.held_back_line("threads", [])


def test_held_back_share():
    assert procs.Spans(0, (), 0, 1.0, 0.25).held_back == pytest.approx(0.75)
    assert procs.Spans(0, (), 0, 1.0, 1.5).held_back == 0.0  # CPU clock ahead: never negative
    assert procs.Spans(0, (), 0, 0.0, 0.0).held_back == 0.0
    assert procs.Spans(0, (), 0, 1.0, 0.25, 40).held_back == pytest.approx(0.75)  # it went to sleep 40 times


def test_a_job_that_never_went_to_sleep_was_not_held_back_whatever_the_clocks_say():
    # A process on a crowded machine: 0.3 s of CPU, the clocks 0.04 s apart (interrupts, the
    # hypervisor), and its thread never gave up the CPU of its own accord.
    crowded = [procs.Spans(0, (), 0, 0.34, 0.30, 0), procs.Spans(0, (), 0, 0.35, 0.30, 0)]
    assert procs.held_back_line("processes", crowded).endswith("held back by each other: no")
    # The same figures from threads that slept (waiting for the GIL): the verdict follows the clocks.
    slept = [procs.Spans(0, (), 0, 0.34, 0.30, 25), procs.Spans(0, (), 0, 0.35, 0.30, 30)]
    assert procs.held_back_line("threads", slept).endswith("held back by each other: unclear")
    gil = [procs.Spans(0, (), 0, 0.6, 0.30, 60), procs.Spans(0, (), 0, 0.6, 0.31, 61)]
    assert procs.held_back_line("threads", gil).endswith(
        "held back by each other: yes (one of 2 computes at a time: each waits about half of its time, or more)")
    four = gil * 2  # four threads on 4 CPUs: one computes, three wait
    assert "each waits about three quarters of its time" in procs.held_back_line("threads", four)
    # Unknown (no per-thread count on this system): the clocks alone decide, as before.
    assert procs.Spans(0, (), 0, 0.35, 0.30, None).held_back == pytest.approx(0.05 / 0.35)


def test_traced_burn_counts_the_sleeps_of_its_thread():
    alone = procs.traced_burn(200_000)
    if alone.blocked is None:
        pytest.skip("no per-thread count of voluntary context switches on this system")
    assert alone.blocked <= 2  # pure arithmetic: no lock, no I/O (a page fault from disk at most)
    assert alone.held_back < procs.HELD_NO


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


# --- portability -------------------------------------------------------------------------------

def test_fork_context_is_fork_here_and_one_clear_line_where_there_is_none():
    assert procs.fork_context().get_start_method() == "fork"
    with pytest.raises(ValueError, match="needs the fork start method.*win32 offers only spawn"):
        procs.fork_context(["spawn"], platform="win32")
    try:
        procs.fork_context(["spawn"], platform="win32")
    except procs.NeedsFork as error:
        shown = error._render_traceback_()  # what IPython prints instead of a traceback
        assert len(shown) == 1 and shown[0].startswith("NeedsFork: this chapter needs")


def test_without_fork_one_line_then_every_later_cell_skips(capsys):
    class Shell:  # what chapter_context uses of IPython's shell
        input_transformers_cleanup: list = []

    shell = Shell()
    assert procs.chapter_context(shell=shell).get_start_method() == "fork"  # here: fork, nothing added
    assert shell.input_transformers_cleanup == [] and capsys.readouterr().out == ""
    assert procs.chapter_context(["spawn"], platform="win32", shell=shell) is None
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and out.startswith("this chapter needs the fork start method")
    assert shell.input_transformers_cleanup == [procs.skip_cell]
    procs.chapter_context(["spawn"], platform="win32", shell=shell)  # a second Run All adds it once
    assert shell.input_transformers_cleanup == [procs.skip_cell]
    assert capsys.readouterr().out.count("\n") == 1  # its one line again
    later = "".join(procs.skip_cell(["child = mp.Process(target=f)\n", "child.start()\n"]))
    exec(later)  # what a later cell runs instead: one line, no NameError for mp
    assert capsys.readouterr().out == procs.SKIPPED + "\n"


# --- threads and processes, in the same run --------------------------------------------------

def test_core_verdict_grades_each_side_and_the_sentence_follows():
    gil = procs.core_verdict(1.0, 2.0, 2, 2)
    assert "2 threads:   about 1 (not 2)" in gil.text and "2 processes: about 2 (not 1)" in gil.text
    assert "only processes put this work on 2 cores" in gil.text and gil.holds
    assert gil.ratio == pytest.approx(2.0)
    # Loaded machine: threads lose more while the GIL holder waits for a CPU; still "about 1".
    assert procs.core_verdict(0.5, 2.0, 2, 2).text == gil.text
    released = procs.core_verdict(1.9, 2.0, 2, 2, work="sha256")
    assert released.text.startswith("sha256") and "this work runs outside the GIL" in released.text
    assert not released.holds
    stuck = procs.core_verdict(1.0, 1.1, 2, 2)
    assert "something besides the GIL held the processes back" in stuck.text
    odd = procs.core_verdict(2.0, 1.0, 2, 2)
    assert "not what the GIL predicts" in odd.text
    four = procs.core_verdict(1.1, 3.9, 4, 4)
    assert "4 threads:   about 1 (not 4)" in four.text and "on 4 cores" in four.text
    one_cpu = procs.core_verdict(1.0, 2.0, 2, 1)
    assert "here: one CPU, so they take turns on it" in one_cpu.text
    assert len({v.text for v in (gil, released, stuck, odd, four, one_cpu)}) == 6


@pytest.mark.parametrize("args", [(0, 2.0, 2, 2), (1.0, float("nan"), 2, 2), (1.0, 2.0, 1, 2),
                                  (1.0, 2.0, 2, 0), (1.0, 2.0, True, 2)])
def test_core_verdict_refuses_bad_figures(args):
    with pytest.raises(ValueError):
        procs.core_verdict(*args)


def test_share_rate():
    assert procs.Share(0.5, 1.0, 1, 0).rate == pytest.approx(0.5)
    assert procs.Share(1.2, 1.0, 1, 0).rate == 1.0  # clocks read a little apart: never above 1
    assert procs.Share(0.0, 0.0, 0, 0).rate == 0.0
    assert procs.Share(0.1, -0.2, 1, 0).rate == 1.0  # a clock estimate gone wrong never reads as "held back"


def test_jobs_of_the_race_run_for_their_seconds():
    import time
    for job in (procs.burn_for, procs.hash_for, procs.hash_small_for):
        share = job(time.perf_counter() + 0.05, 0.2)
        assert share.rounds > 0 and share.pid == os.getpid()
        assert 0 < share.cpu_seconds <= share.ready_seconds + 0.05
    late = procs.burn_for(time.perf_counter() - 5, 0.1)  # arrived after its start: still gets its time
    assert late.rounds > 0


def test_core_race_measures_both_sides_and_leaves_nothing_running():
    before = {child.pid for child in psutil.Process().children()}
    race = procs.core_race(procs.burn_for, jobs=2, seconds=0.2, rounds=1)
    assert race.work == "pure-Python arithmetic" and race.jobs == 2
    assert len(race.threads[0]) == len(race.processes[0]) == 2
    assert {share.pid for share in race.threads[0]} == {os.getpid()}
    assert os.getpid() not in {share.pid for share in race.processes[0]}
    assert 0 < race.threads_rate <= 2 and 0 < race.processes_rate <= 2
    assert set(race.per_wall_second) == {"threads", "processes"}
    assert "CPU-seconds per second they could run" in race.verdict().text
    assert not new_children(before)


def test_a_round_where_a_thread_was_kept_off_the_cpu_does_not_count_for_the_threads():
    # measured beside 40 spinning processes (0.3 s window): both threads could run a few ms each,
    # never met at the GIL, and summed to 2.0; where both could run longer they summed to 0.03-0.05
    absent = (procs.Share(0.009, 0.009, 1, 1), procs.Share(0.002, 0.002, 1, 1))
    there = (procs.Share(0.005, 0.207, 1, 1), procs.Share(0.004, 0.177, 1, 1))
    alone = (procs.Share(0.3, 0.3, 1, 2), procs.Share(0.3, 0.3, 1, 3))
    assert not procs.competed(absent) and procs.competed(there)
    race = procs.CoreRace("pure-Python arithmetic", 0.3, (absent, there), (alone, alone), 2)
    assert race.contested == (there,)
    assert race.threads_rate == pytest.approx(0.005 / 0.207 + 0.004 / 0.177)
    assert race.processes_rate == pytest.approx(2.0)
    assert "2 threads:   about 1 (not 2)" in race.verdict().text
    never = procs.CoreRace("pure-Python arithmetic", 0.3, (absent,), (alone,), 2)
    assert never.contested == () and never.threads_rate == pytest.approx(2.0)  # nothing better to go on


def test_core_race_runs_more_rounds_until_the_threads_competed(monkeypatch):
    absent = (procs.Share(0.01, 0.01, 1, 1),) * 2
    there = (procs.Share(0.25, 0.5, 1, 1),) * 2
    rounds = iter([absent, absent, there, there, absent, there] + [absent] * 20)
    calls = []

    def fake_round(pool, job, jobs, seconds):
        calls.append(seconds)
        return next(rounds), there
    monkeypatch.setattr(procs, "_race_round", fake_round)
    race = procs.core_race(procs.burn_for, jobs=2, seconds=0.5, rounds=3)
    assert len(calls) == 6 and len(race.contested) == 3  # stopped at the third round that counted
    calls.clear()
    race = procs.core_race(procs.burn_for, jobs=2, seconds=0.5, rounds=2)
    assert len(calls) == 2 * procs.RETRIES and race.contested == ()  # gave up, bounded


@pytest.mark.parametrize("kwargs", [{"jobs": 1}, {"jobs": 9}, {"seconds": 0}, {"rounds": 0}, {"job": 3}])
def test_core_race_refuses_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        procs.core_race(**kwargs)


# --- the picture of the spans ------------------------------------------------------------------

def test_spans_picture_carries_the_spans_it_draws():
    ways = {"threads": [spans((10.0, 10.5)), spans((10.5, 11.0))],
            "processes": [spans((10.0, 11.0)), spans((10.2, 11.0))]}
    picture = procs.spans_picture(ways)
    png = picture.png()
    assert png.startswith(b"\x89PNG") and picture._repr_png_() == png
    assert repr(picture) == "<SpansPicture: threads, processes; one row per job>"
    back = procs.picture_spans(png)
    assert list(back) == ["threads", "processes"]
    assert [run.spans for run in back["processes"]] == [((0.0, 1.0),), ((0.2, 1.0),)]
    assert procs.most_at_once(back["threads"]) == 1 and procs.most_at_once(back["processes"]) == 2


def test_spans_picture_refuses_what_it_cannot_draw():
    with pytest.raises(ValueError):
        procs.spans_picture({})
    with pytest.raises(ValueError):
        procs.spans_picture({"threads": [(0, 1)]})
    with pytest.raises(ValueError, match="carries no spans"):
        import matplotlib
        matplotlib.use("Agg")
        import io

        import matplotlib.pyplot as plt
        figure = plt.figure()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
        plt.close(figure)
        procs.picture_spans(buffer.getvalue())


def stored_spans_picture() -> dict[str, list[procs.Spans]]:
    import base64

    import nbformat
    path = os.path.join(os.path.dirname(__file__), "..", "notebooks", "10_processes.ipynb")
    nb = nbformat.read(path, as_version=4)
    [cell] = [cell for cell in nb.cells if "procs.spans_picture(" in cell.source]
    [png] = [output.data["image/png"] for output in cell.outputs if "image/png" in output.get("data", {})]
    return procs.picture_spans(base64.b64decode(png))


def test_stored_picture_shows_what_chapter_10_says():
    """The prose under the picture: asyncio and thread rows never overlap; the two process rows do."""
    ways = stored_spans_picture()
    assert list(ways) == ["asyncio", "threads", "processes"]
    assert procs.most_at_once(ways["asyncio"]) == 1
    assert procs.most_at_once(ways["threads"]) == 1
    assert procs.most_at_once(ways["processes"]) == len(ways["processes"]) >= 2
    assert procs.together(ways["processes"])  # the red marks under the process rows
    assert not procs.together(ways["asyncio"]) and not procs.together(ways["threads"])


# --- a fleet whose worker the notebook writes ----------------------------------------------------

async def _echo_serve(index, port, ready, served):
    import asyncio
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)

    async def echo(reader, writer):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        served[index] += 1
        writer.close()

    listening = socket.socket()
    listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    listening.bind(("127.0.0.1", port))
    server = await asyncio.start_server(echo, sock=listening)
    ready.set()
    await stop.wait()
    server.close()


def echo_worker(index, port, ready, served):
    import asyncio
    asyncio.run(_echo_serve(index, port, ready, served))


def broken_worker(index, port, ready, served):
    raise RuntimeError("no socket for you")


def test_fleet_of_runs_a_worker_written_outside_the_module():
    before = {child.pid for child in psutil.Process().children()}
    with procs.fleet_of(echo_worker, workers=2) as fleet:
        report = swarm(fleet.address, echo_payloads(60, size=64), hold=True, timeout=30)
    assert report.ok, report.text()
    assert sum(fleet.served.values()) == 60 and fleet.serving_workers() == 2
    assert fleet.exitcodes == [0, 0]
    assert not new_children(before)


def test_fleet_of_says_when_a_worker_dies_before_it_is_ready():
    with pytest.raises(RuntimeError, match="worker 0 ended .* before it was ready"):
        with procs.fleet_of(broken_worker, workers=1, timeout=10):
            pass


@pytest.mark.parametrize("args", [("not a function", 2), (echo_worker, 0), (echo_worker, True)])
def test_fleet_of_refuses_bad_arguments(args):
    with pytest.raises(ValueError):
        with procs.fleet_of(*args):
            pass

"""helpers.echobench: every model echoes byte-exact; bad arguments; a stalled or dead server; no leftovers."""

from __future__ import annotations

import math

import pytest

import helpers.echobench as eb
from helpers import _system
from helpers.echobench import MODELS, SETTINGS, Setting, echo_bench

TINY = Setting(rate=200, duration=0.1, slices=2, step_timeout=10.0)


@pytest.fixture
def tiny(monkeypatch):
    monkeypatch.setitem(SETTINGS, "tiny", TINY)
    return "tiny"


@pytest.fixture
def test_kinds(monkeypatch, tiny):
    monkeypatch.setattr(eb, "_KINDS", set(MODELS) | {"stall", "crash"})
    monkeypatch.setitem(SETTINGS, "short", Setting(rate=200, duration=0.1, slices=2, step_timeout=1.5))
    return "short"


def test_every_model_serves_every_client_byte_exact(tiny, capsys):
    report = echo_bench(models=MODELS, clients=(1, 5), setting=tiny, progress=True)
    assert [(r["model"], r["clients"]) for r in report.rows] == [(m, n) for m in MODELS for n in (1, 5)]
    for row in report.rows:
        if row["status"] == "skipped":  # only uvloop may be, and then with its reason
            assert row["model"] == "uvloop" and "uvloop does not import" in row["note"]
            continue
        assert row["ok"] and row["status"] == "byte-exact", row
        assert row["round_trips"] == row["offered"] == TINY.slices * int(TINY.rate * TINY.duration)
        assert row["throughput"] > 0 and 0 < row["p50"] <= row["p99"] and row["cpu_per_request"] > 0
    text = report.text()
    assert "every model served every client byte-exact: yes" in text
    assert capsys.readouterr() == ("", "")  # progress=True outside a kernel: silent


def test_every_connection_sends_in_every_step(tiny):
    """40 requests a step (2 slices of 20) would leave 10 of 50 connections silent: the slices grow to 25
    requests each, and the schedule runs on from the first slice to the second."""
    assert eb.slice_seconds(TINY, 5) == TINY.duration
    assert int(TINY.rate * eb.slice_seconds(TINY, 50)) * TINY.slices >= 50
    assert int(2000 * eb.slice_seconds(SETTINGS["fast"], 1000)) * SETTINGS["fast"].slices >= 1000
    report = echo_bench(models=("asyncio",), clients=(5, 50), setting=tiny, progress=False)
    assert [(r["clients"], r["senders"], r["status"]) for r in report.rows] == [(5, 5, "byte-exact"),
                                                                                (50, 50, "byte-exact")]
    assert report.rows[1]["p99_best_slice"] <= report.rows[1]["p99"] <= report.rows[1]["p99_worst_slice"]
    assert "at every client count each connection sent requests in the step" in report.text()
    assert "sent requests in the step (the schedule runs on from slice to slice): yes" in report.text()


def test_the_load_generator_says_when_a_connection_never_sent():
    """Its own check: a step (the last slice asks with "every") where some connections never sent is an error."""
    from helpers import _child

    with _child.Child("echo_server", "select") as server, _child.Child("echo_load") as load:
        port = int(server.readline(30))
        common = {"cmd": "open", "group": "g", "port": port, "clients": 30, "rate": 200, "size": 64, "batch": 100,
                  "timeout": 10}
        first = load.ask({**common, "duration": 0.05}, 15)  # 10 requests: connections 0-9
        assert first["senders"] == 10 and first["error"] is None
        second = load.ask({**common, "duration": 0.05, "every": True}, 15)  # 10-19: still 10 silent
        assert second["senders"] == 20 and second["error"] == "only 20 of 30 connections sent a request in this step"
        third = load.ask({**common, "duration": 0.05, "every": True}, 15)  # 20-29: every one has sent
        assert third["senders"] == 30 and third["error"] is None
        assert third["p50_all"] <= third["p99_all"] and third["round_trips"] == 10
        assert load.ask({"cmd": "close", "group": "g"}, 10) == {"closed": 30}


def test_what_the_servers_hold(tiny):
    report = echo_bench(models=("threads", "forking", "processes", "asyncio"), clients=(8,), setting=tiny,
                        progress=False)
    held = {r["model"]: (r["threads_added"], r["processes_added"], r["processes"]) for r in report.rows}
    assert held["threads"][0] >= 8 and held["forking"][1] >= 8
    assert held["asyncio"] == (0, 0, 1)
    assert held["processes"] == (0, 0, 3)  # the fleet: its parent and two workers, whatever the clients


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"models": ("fibers",)}, "unknown model 'fibers'"),
    ({"models": ()}, "at least one"),
    ({"models": ("select", "select")}, "named twice"),
    ({"clients": (0,)}, "from 1 to"),
    ({"clients": (-5, 10)}, "from 1 to"),
    ({"clients": (2.5,)}, "from 1 to"),
    ({"clients": (True,)}, "from 1 to"),
    ({"clients": ()}, "at least one client count"),
    ({"clients": (10**6,)}, "from 1 to"),
    ({"setting": "quick"}, "unknown setting 'quick'"),
])
def test_bad_arguments_are_refused_before_anything_starts(kwargs, message):
    with pytest.raises(ValueError, match=message):
        echo_bench(**kwargs)


def test_a_stalled_server_gives_a_timeout_row_and_is_stopped(test_kinds):
    report = echo_bench(models=("stall", "select"), clients=(1, 3), setting=test_kinds, progress=False)
    stall = [r for r in report.rows if r["model"] == "stall"]
    assert [r["status"] for r in stall] == ["timeout", "not run"]
    assert "timed out at 1 clients" in stall[1]["note"] or "timed out at 1" in stall[1]["note"]
    assert all(r["ok"] for r in report.rows if r["model"] == "select")  # the next model still runs
    text = report.text()
    assert "stall:     every client served byte-exact: no (1 clients: timeout; 3 clients: not run)" in text
    assert "every model served every client byte-exact: no" in text
    assert "note: stall at 1 clients: timeout" in text


def test_a_dead_server_gives_a_failed_row(test_kinds):
    report = echo_bench(models=("crash",), clients=(2,), setting=test_kinds, progress=False)
    (row,) = report.rows
    assert not row["ok"] and "Refused" in row["status"]


def test_an_interrupt_stops_every_child(monkeypatch, tiny):
    calls = []

    def interrupted(pid):
        calls.append(pid)
        raise KeyboardInterrupt

    monkeypatch.setattr(_system, "census", interrupted)
    with pytest.raises(KeyboardInterrupt):
        echo_bench(models=("threads",), clients=(2,), setting=tiny, progress=False)
    assert calls  # the leak check (conftest) proves the server and the clients are gone


def _fake_report(thread_p99: float = 0.010, thread_kb: float = 25.0, thread_cpu: float = 60e-6,
                 thread_p50: float = 0.001, processes_kb: float = 9.0) -> eb.EchoReport:
    """Figures like those measured here (asyncio p99 10 ms, 4 KB and 50 µs of CPU per request at 1,000)."""
    rows = []
    kb = {"threads": thread_kb, "forking": 1000.0, "processes": processes_kb, "uvloop": 3.5, "homeloop": 1.5,
          "asyncio": 4.0}
    for model in ("threads", "forking", "processes", "homeloop", "asyncio", "uvloop"):
        for n in (1, 10, 100, 1000):
            if model == "forking" and n == 1000:
                rows.append(eb._row(model, n, eb.MEMORY, "too big"))
                continue
            rows.append(eb._row(model, n, "byte-exact", round_trips=200, seconds=0.1, throughput=2000.0,
                                p50=thread_p50 if model == "threads" else 0.001,
                                p99=thread_p99 if model == "threads" else 0.010, ok=True, senders=n,
                                cpu_per_request=thread_cpu if model == "threads" else 50e-6,
                                threads=1 + (n if model == "threads" else 0),
                                processes=(3 if model == "processes" else 1) + (n if model == "forking" else 0),
                                threads_added=n if model == "threads" else 0,
                                processes_added=n if model == "forking" else 0, added_kb=kb[model] * n))
    return eb.EchoReport(rows, ("threads", "forking", "processes", "homeloop", "asyncio", "uvloop"),
                         (1, 10, 100, 1000), "fast", [], 2, "2 CPUs: pinned")


def test_the_text_is_made_of_verdicts_not_seconds():
    text = _fake_report().text()
    assert "forking:   every client served byte-exact: yes (not run at 1,000 clients: memory)" in text
    assert "event-driven servers (homeloop, asyncio, uvloop) held every connection" in text
    assert "the pre-forked fleet held every connection in its 2 worker processes" in text
    assert "at 1,000 clients the threads server added one of its threads per connection: yes" in text
    assert "at 100 clients the forking server added one of its processes per connection: yes" in text
    assert "threads tens of KB, forking hundreds of KB, processes a few KB or less" in text
    assert "2–20× the memory it cost asyncio: several times more" in text
    assert "a forked connection cost 10–300× the memory of a thread's" in text
    assert "p99" not in text  # the tail is graded by tail(), beside the table: it moves with the machine's load
    assert "p99 was 0.25–4× the event loops' (their median, round by round): about the same" in str(
        _fake_report().tail())
    assert "median latency" not in text  # graded, not printed: too noisy under load (see verdicts())
    assert _fake_report().ratios()["p50 threads/event loops"] == pytest.approx(1.0)
    assert "each connection sent requests in the step (the schedule runs on from slice to slice): yes" in text
    assert "the CPU it cost asyncio" not in text  # too noisy a ratio to print (see ratios())
    assert "every request of the schedule answered before the step's deadline: every model" in text
    assert "measured on this machine: 2 CPUs: pinned" in text
    assert " ms" not in text and "seconds" not in text


def test_the_verdicts_follow_the_figures():
    text = _fake_report(thread_p99=0.3, thread_kb=150.0, thread_cpu=600e-6).text()
    assert "p99 was over 12× the event loops' (their median, round by round): far longer" in str(
        _fake_report(thread_p99=0.3).tail())
    assert "20–200× the memory it cost asyncio: tens of times more" in text
    assert _fake_report(thread_cpu=600e-6).ratios()["CPU per request threads/asyncio"] == pytest.approx(12)
    assert "threads hundreds of KB" in text
    text = _fake_report(thread_p99=0.0008, thread_kb=5.0, thread_cpu=20e-6).text()
    assert "p99 was under 0.25× the event loops' (their median, round by round): shorter" in str(
        _fake_report(thread_p99=0.0008).tail())
    assert "about the memory it cost asyncio (under 2×)" in text
    assert "p99 was 4–12× the event loops' (their median, round by round): longer, by several times" in str(
        _fake_report(thread_p99=0.05).tail())
    def median(thread_p50: float) -> str:
        return str(eb._verdict_median(_fake_report(thread_p50=thread_p50).ratios()["p50 threads/event loops"], 1000))
    assert "p50) was 0.6–1.7× the event loops': about the same" in median(0.001)
    assert "p50) was over 5× the event loops': far longer" in median(0.008)
    assert "p50) was 1.7–5× the event loops': longer" in median(0.003)
    assert "p50) was under 0.6× the event loops': shorter" in median(0.0004)


def _with_slices(report: eb.EchoReport, slices: dict[str, list[float]]) -> eb.EchoReport:
    """``report`` with per-slice p99s (seconds) at its top client count, one list per model."""
    for row in report.rows:
        if row["clients"] == max(report.clients) and row["model"] in slices:
            row["p99_slices"] = slices[row["model"]]
    return report


def test_the_tail_is_compared_round_by_round_so_one_slow_slice_does_not_decide():
    loops = {m: [0.002] * 5 for m in ("processes", "homeloop", "asyncio", "uvloop")}
    # one burst of load in one of the threads' slices: pooled it sets their p99 (the row's 0.3 s)
    burst = _with_slices(_fake_report(thread_p99=0.3), {"threads": [0.002, 0.002, 0.3, 0.002, 0.002], **loops})
    assert burst.ratios()["p99 threads/event loops"] == pytest.approx(1.0)
    assert "round by round): about the same" in str(burst.tail())
    # one round where every event loop met the burst: outvoted too
    loops_burst = {m: [0.002, 0.002, 0.002, 0.3, 0.002] for m in loops}
    assert _with_slices(_fake_report(), {"threads": [0.002] * 5, **loops_burst}).ratios()[
        "p99 threads/event loops"] == pytest.approx(1.0)
    # threads slower in most rounds: that is the threads, and the verdict says so
    slow = _with_slices(_fake_report(), {"threads": [0.05, 0.05, 0.002, 0.05, 0.05], **loops})
    assert slow.ratios()["p99 threads/event loops"] == pytest.approx(25)
    assert "round by round): far longer" in str(slow.tail())
    # one loop's slow slices do not move the loops' median
    odd = {**loops, "homeloop": [0.1] * 5}
    assert _with_slices(_fake_report(), {"threads": [0.004] * 5, **odd}).ratios()[
        "p99 threads/event loops"] == pytest.approx(2.0)
    # the table's "rounds" column and the picture draw the same: the median of a row's slices
    [row] = [r for r in burst.rows if r["model"] == "threads" and r["clients"] == 1000]
    assert eb.round_p99(row) == pytest.approx(0.002) and row["p99"] == pytest.approx(0.3)
    assert "    2.00" in str(eb.Table([row])) and "  300.00" in str(eb.Table([row]))
    # a report without slices (read back from an older picture) is compared pooled
    assert _fake_report(thread_p99=0.02).ratios()["p99 threads/event loops"] == pytest.approx(2.0)


def test_the_map_reads_the_echo_bench():
    from helpers.showdown import choose
    from tests.showdown_figures import HERE, SLEEP_HERE, fake_sleep, fake_switch

    def line(**figures):
        return choose(fake_sleep(**SLEEP_HERE), fake_switch(**HERE), _fake_report(**figures), cores=2,
                      gil="gil").picks[0]

    here = line()
    assert [m for m, _ in here.ranking] == ["asyncio", "uvloop", "processes", "threads"]
    assert here.ranking[-1] == ("threads", "tens of KB per connection")
    # threads lighter per connection than the fleet's processes, and no longer tail: they climb
    assert [m for m, _ in line(thread_kb=5.0, processes_kb=20.0).ranking] == [
        "asyncio", "uvloop", "threads", "processes"]
    # a tail over 12x the event loops' puts them last whatever their memory, and the line says why
    slow = line(thread_kb=5.0, processes_kb=20.0, thread_p99=0.5)
    assert [m for m, _ in slow.ranking] == ["asyncio", "uvloop", "processes", "threads"]
    assert slow.ranking[-1] == ("threads", "a few KB or less per connection, p99 over 12× the event loops'")
    # 10x the loops' tail is still their order of magnitude, as the tail verdict says: not demoted
    near = line(thread_kb=5.0, processes_kb=20.0, thread_p99=0.1)
    assert [m for m, _ in near.ranking][2] == "threads" and "p99 over" not in str(near)
    # threads last by memory already (tens of KB, as measured here): a far longer tail, as a crowded
    # machine can give, changes neither the order nor the line, so the stored map holds under load
    crowded = line(thread_p99=0.5)
    assert crowded.ranking[-1] == ("threads", "tens of KB per connection") and str(crowded) == str(here)
    # the same when every model is light: preference already put threads last, the tail moved nothing
    assert "p99 over" not in str(line(thread_kb=5.0, thread_p99=0.5))


def test_table_and_plot():
    report = _fake_report()
    table = report.table()
    assert table == report.rows and table is not report.rows
    assert set(eb.ROW_KEYS) <= set(table[0])
    assert str(table).splitlines()[0].startswith("model")
    assert len(str(table).splitlines()) == len(report.rows) + 1
    picture = report.plot()
    assert repr(picture) == "<EchoFigure size 800x368 with 2 Axes>"  # what chapter 11 stores
    axes = picture.figure.axes
    assert len(axes) == 2
    assert axes[0].get_xscale() == "log" and axes[1].get_xscale() == "log"
    assert picture._repr_png_().startswith(b"\x89PNG") and picture._repr_png_() == picture.png()


def test_the_cpu_verdict_is_graded_though_not_printed():
    assert "far more" in str(eb._verdict_cpu(12, 1000)) and "comparable" in str(eb._verdict_cpu(1.0, 1000))


def test_a_close_without_answer_leaves_the_other_rows_whole(monkeypatch, tiny):
    """The load generator gives no answer to one model's close: it is stopped, and the next model at the
    same client count still gets its row (it used to call ask() on the stopped generator's None)."""
    ask = eb.Child.ask

    def no_answer_to_threads_close(self, command, timeout):
        if command.get("cmd") == "close" and command.get("group") == "threads":
            return None
        return ask(self, command, timeout)

    monkeypatch.setattr(eb.Child, "ask", no_answer_to_threads_close)
    report = echo_bench(models=("threads", "select"), clients=(4, 6), setting=tiny, progress=False)
    assert [(r["model"], r["clients"], r["status"]) for r in report.rows] == [
        (m, n, "byte-exact") for m in ("threads", "select") for n in (4, 6)]
    assert all(r["threads_added"] >= n for r, n in zip(report.rows[:2], (4, 6)))  # read while connections were open


def test_without_proc_the_map_says_not_measured_and_the_skip_line_says_why_once(monkeypatch):
    """No /proc (macOS): the sleepers and the echo bench skip; the map names what was not measured
    instead of crashing (it used to raise ValueError on an empty ranking)."""
    from helpers import _system
    from helpers.showdown import NEEDS_LINUX, SleepReport, SleepRow, choose
    from tests.showdown_figures import HERE, TINY, fake_switch

    monkeypatch.setattr(_system, "HAVE_PROC", False)
    echo = echo_bench(models=("threads", "asyncio"), clients=(1, 100), setting="fast", progress=False)
    text = echo.text()
    assert "threads:   skipped: the bench reads each server's memory from /proc" in text
    assert "skipped: skipped:" not in text
    sleep = SleepReport(TINY, tuple(SleepRow(m, 0, 0, math.nan, 0, 0, 0, 0, NEEDS_LINUX)
                                    for m in ("asyncio", "thread", "process")))
    chosen = str(choose(sleep, fake_switch(**HERE), echo, cores=2, gil="gil"))
    assert "- 10,000 mostly idle connections on one server: asyncio (not measured here)" in chosen
    assert "- 20 calls into a blocking driver you cannot change: threads (not measured)" in chosen
    assert str(choose(sleep, fake_switch(**HERE), None, cores=2, gil="gil"))  # without the echo bench too


def test_the_picture_carries_the_report_it_draws():
    report = _fake_report(thread_p99=0.3)
    back = eb.picture_report(report.plot().png())
    assert back.rows == report.rows and back.text() == report.text()
    assert str(back.table()) == str(report.table())
    with pytest.raises(ValueError, match="carries no echo report"):
        import io

        from matplotlib.figure import Figure
        buffer = io.BytesIO()
        Figure().savefig(buffer, format="png")
        eb.picture_report(buffer.getvalue())


def _stored_chapter_11() -> dict[str, list]:
    """Chapter 11's stored outputs of the echo cells: the bench's text, the table, the picture."""
    import base64
    import os

    import nbformat
    path = os.path.join(os.path.dirname(__file__), "..", "notebooks", "11_showdown.ipynb")
    cells = nbformat.read(path, as_version=4).cells

    def outputs(marker: str) -> list:
        [cell] = [cell for cell in cells if cell.cell_type == "code" and marker in cell.source]
        return cell.outputs
    text = "".join(o.text for o in outputs("echo_report = echo_bench(") if o.output_type == "stream")
    table = "".join(o.text for o in outputs("print(table)") if o.output_type == "stream")
    [png] = [o.data["image/png"] for o in outputs("echo_report.plot()") if "image/png" in o.get("data", {})]
    return {"text": text, "table": table, "report": eb.picture_report(base64.b64decode(png))}


def test_the_stored_picture_table_and_verdicts_of_chapter_11_come_from_one_run():
    """The echo picture stored in chapter 11 draws the rows of the table and the verdicts stored beside it
    (they used to come from different runs: the picture's p99 7-11 ms, the table's 1.2-1.4 ms)."""
    stored = _stored_chapter_11()
    drawn = stored["report"]
    assert stored["table"] == f"{drawn.table()}\n{drawn.tail()}\n"
    assert stored["text"] == f"{drawn.text()}\n"


def test_the_held_and_added_lines_follow_the_figures():
    report = _fake_report()
    for row in report.rows:
        if row["model"] == "asyncio":
            row["threads_added"] = 3  # a loop that started threads (a pool of its own)
        if row["model"] == "threads":
            row["threads_added"] = row["clients"] // 2  # a pool of threads, not one per connection
    text = report.text()
    assert "held every connection in the thread they started with, no thread or process added: no" in text
    assert "at 1,000 clients the threads server added one of its threads per connection: no" in text

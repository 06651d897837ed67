"""helpers.echobench: every model echoes byte-exact; bad arguments; a stalled or dead server; no leftovers."""

from __future__ import annotations

import pytest

import helpers.echobench as eb
from helpers.echobench import MODELS, SETTINGS, Setting, echo_bench

TINY = Setting(round_trips=20, min_rounds=2, step_timeout=10.0)


@pytest.fixture
def tiny(monkeypatch):
    monkeypatch.setitem(SETTINGS, "tiny", TINY)
    return "tiny"


@pytest.fixture
def test_kinds(monkeypatch, tiny):
    monkeypatch.setattr(eb, "_KINDS", set(MODELS) | {"stall", "crash"})
    monkeypatch.setitem(SETTINGS, "short", Setting(round_trips=20, min_rounds=2, step_timeout=1.5))
    return "short"


def test_every_model_serves_every_client_byte_exact(tiny, capsys):
    report = echo_bench(models=MODELS, clients=(1, 5), setting=tiny, progress=True)
    assert [(r["model"], r["clients"]) for r in report.rows] == [(m, n) for m in MODELS for n in (1, 5)]
    for row in report.rows:
        if row["status"] == "skipped":  # only uvloop may be, and then with its reason
            assert row["model"] == "uvloop" and "uvloop does not import" in row["note"]
            continue
        assert row["ok"] and row["status"] == "byte-exact", row
        assert row["round_trips"] == row["clients"] * TINY.rounds(row["clients"])
        assert row["throughput"] > 0 and 0 < row["p50"] <= row["p99"]
    text = report.text()
    assert "every model served every client byte-exact: yes" in text
    assert capsys.readouterr() == ("", "")  # progress=True outside a kernel: silent


def test_what_the_servers_hold(tiny):
    report = echo_bench(models=("threads", "processes", "asyncio"), clients=(8,), setting=tiny, progress=False)
    held = {r["model"]: (r["threads_added"], r["processes_added"]) for r in report.rows}
    assert held["threads"][0] >= 8 and held["processes"][1] >= 8
    assert held["asyncio"] == (0, 0)


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

    monkeypatch.setattr(eb, "_census", interrupted)
    with pytest.raises(KeyboardInterrupt):
        echo_bench(models=("threads",), clients=(2,), setting=tiny, progress=False)
    assert calls  # the leak check (conftest) proves the server and the clients are gone


def _fake_report():
    rows = []
    for model, base in (("threads", 10_000.0), ("asyncio", 30_000.0), ("uvloop", 35_000.0),
                        ("homeloop", 5_000.0), ("processes", 8_000.0)):
        for n in (1, 10, 100, 1000):
            if model == "processes" and n == 1000:
                rows.append(eb._row(model, n, eb.MEMORY, "too big"))
                continue
            tp = base / (3 if model == "threads" and n == 1000 else 1)
            rows.append(eb._row(model, n, "byte-exact", round_trips=2000, seconds=2000 / tp, throughput=tp,
                                p50=n / tp, p99=(10 if model == "threads" else 2) * n / tp, mean=n / tp, ok=True,
                                threads=1 + (n if model == "threads" else 0),
                                processes=1 + (n if model == "processes" else 0),
                                threads_added=n if model == "threads" else 0,
                                processes_added=n if model == "processes" else 0,
                                added_kb={"processes": 900, "threads": 20}.get(model, 1) * n))
    return eb.EchoReport(rows, ("threads", "processes", "homeloop", "asyncio", "uvloop"), (1, 10, 100, 1000),
                         "fast", [], 2)


def test_the_text_is_made_of_verdicts_not_seconds():
    text = _fake_report().text()
    assert "processes: every client served byte-exact: yes (not run at 1,000 clients: memory)" in text
    assert "event-driven servers (homeloop, asyncio, uvloop) held every connection" in text
    assert "at 1,000 clients the threads server added one of its threads per connection: yes" in text
    assert "at 100 clients the processes server added one of its processes per connection: yes" in text
    assert "yes: a forked process costs more than a thread" in text
    assert "throughput: no verdict" in text and "uvloop" in text.split("throughput: no verdict")[1]
    assert "measured on this machine: 2 cores" in text
    assert " ms" not in text and "seconds" not in text


def test_table_and_plot():
    report = _fake_report()
    table = report.table()
    assert table == report.rows and table is not report.rows
    assert set(eb.ROW_KEYS) <= set(table[0])
    assert str(table).splitlines()[0].startswith("model")
    assert len(str(table).splitlines()) == len(report.rows) + 1
    figure = report.plot()
    assert len(figure.axes) == 2
    assert all(ax.get_xscale() == "log" and ax.get_yscale() == "log" for ax in figure.axes)
    assert figure._repr_png_().startswith(b"\x89PNG")

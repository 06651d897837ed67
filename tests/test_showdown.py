"""helpers.showdown: sleepers and switch costs per model, in fresh interpreters, with stable text."""

from __future__ import annotations

import math
import os
import time

import pytest

from helpers import showdown
from helpers.showdown import (
    MODELS,
    SETTINGS,
    SWITCH_MODELS,
    Setting,
    SleepReport,
    SleepRow,
    choose,
    memory_band,
    sleepers,
    switch_costs,
    switch_line,
    uvloop_changes,
)

TINY = Setting(count=300, threads=50, processes=3, traced=50, rounds=200, batches=3, timeout=40)


def _children() -> set[int]:
    """Processes whose parent is this one (Linux /proc)."""
    found = set()
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat", encoding="ascii") as file:
                    if int(file.read().rsplit(")", 1)[1].split()[1]) == os.getpid():
                        found.add(int(name))
            except (OSError, ValueError, IndexError):
                pass
    return found


@pytest.fixture(scope="module")
def sleep_report() -> SleepReport:
    return sleepers(TINY, progress=False)


@pytest.fixture(scope="module")
def switch_report():
    return switch_costs(TINY, progress=False)


def test_every_model_starts_all_its_sleepers(sleep_report):
    assert [row.model for row in sleep_report.rows] == [m for m in MODELS if m != "uvloop" or
                                                        showdown.uvloop_available()]
    for row in sleep_report.rows:
        assert row.ok and row.started == row.asked, row
        assert row.rss_kb > 0 and row.traced_bytes > 0


def test_memory_families(sleep_report):
    per = {row.model: row.rss_per_task_kb for row in sleep_report.rows}
    assert per["generator"] < per["asyncio"] < per["thread"] < per["process"]
    assert sleep_report.row("thread").vm_per_task_kb > 1024  # a reserved stack, megabytes


def test_sleep_text_is_bands_and_verdicts(sleep_report):
    text = sleep_report.text()
    assert "300/300" in text and "50/50" in text and "3/3" in text
    assert "µs" not in text and " ms" not in text  # no raw times
    assert "threads: all 50 started" in text
    assert "claim:" in sleep_report.claim_many()


def test_no_process_left_behind(sleep_report, switch_report):
    time.sleep(0.2)
    assert not _children()


def test_switch_costs_order(switch_report):
    assert [row.model for row in switch_report.rows] == [m for m in SWITCH_MODELS if m != "uvloop" or
                                                         showdown.uvloop_available()]
    s = switch_report.seconds
    assert s("generator") < s("greenlet") < s("thread")
    assert "(between" in switch_report.text()
    assert "claim:" in switch_report.claim_no_overhead()


def test_pictures_and_map(sleep_report, switch_report):
    for picture in (sleep_report.plot(), switch_report.plot()):
        assert picture.png().startswith(b"\x89PNG")
        assert repr(picture) == "<a figure: run the cell in Jupyter to see it>"
    text = choose(sleep_report, switch_report)
    assert "processes (about a megabyte each" in text
    assert uvloop_changes(sleep_report, switch_report)


def test_overrun_is_killed_and_reported():
    slow = Setting(count=10_000, threads=50, processes=3, traced=10, rounds=200, batches=3, timeout=0.01)
    report = sleepers(slow, models=["gevent"], progress=False)
    assert not report.rows[0].ok and "killed" in report.rows[0].failure
    assert "killed" in report.text()
    time.sleep(0.2)
    assert not _children()
    costs = switch_costs(slow, models=["generator"], progress=False)
    assert math.isnan(costs.seconds("generator"))
    assert "not measured" in costs.text()


def test_bad_arguments():
    with pytest.raises(ValueError):
        sleepers("medium")
    with pytest.raises(ValueError):
        sleepers(TINY, models=["fibers"])
    with pytest.raises(ValueError):
        switch_costs(TINY, models=[])


def test_bands():
    assert memory_band(0.3) == "hundreds of bytes"
    assert memory_band(1.3) == "a KB or two"
    assert memory_band(16) == "tens of KB"
    assert memory_band(1300) == "about a megabyte"
    assert "yes" in switch_line("generator", 50e-9)
    assert "NO" in switch_line("generator", 5e-6)
    assert set(SETTINGS) == {"fast", "full"}


def test_failed_row_text():
    row = SleepRow("thread", 10, 0, math.nan, 0, 0, 0, 0, "the measuring interpreter overran its 1 s and was killed")
    report = SleepReport(TINY, (row,))
    assert "threads: not measured" in report.text()

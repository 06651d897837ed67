"""Chapter 11's showdown figures for tests: the tiny setting, and reports made from given figures.

Shared by tests/test_showdown.py (the verdicts of each report) and tests/test_echobench.py (the map
that reads both benches): ``fake_switch(**HERE)`` and ``fake_sleep(**SLEEP_HERE)`` are reports
with the figures measured on the reference machine, which a test then varies.
"""

from __future__ import annotations

from helpers.showdown import Setting, SleepReport, SleepRow, SwitchReport, SwitchRow

TINY = Setting(count=300, threads=50, processes=3, traced=50, rounds=200, batches=3, timeout=40)


def fake_switch(**cpu: float) -> SwitchReport:
    """model -> seconds per round trip (every figure of the row)."""
    rows = tuple(SwitchRow(model, 100, 3, seconds, seconds, seconds, seconds) for model, seconds in cpu.items())
    return SwitchReport(TINY, rows)


HERE = dict(generator=41e-9, greenlet=0.57e-6, asyncio=4.7e-6, uvloop=2.2e-6, thread=15e-6)  # measured here


def fake_sleep(**rows: tuple[float, float, float]) -> SleepReport:
    """rows: model -> (RSS KB per sleeper, tracemalloc KB per sleeper, CPU µs to start one)."""
    made = []
    for model, (rss, traced, cpu_us) in rows.items():
        n = 1000
        made.append(SleepRow(model, n, n, cpu_us * n / 1e6, rss * n, rss * n * (600 if model == "thread" else 1),
                             100, int(traced * 1024 * 100), "", cpu_us * n / 1e6))
    return SleepReport(TINY, tuple(made))


SLEEP_HERE = dict(asyncio=(1.26, 1.14, 13), thread=(16.1, 3.0, 117), process=(1311, 0.0012, 1000),
                  greenlet=(6.1, 2.07, 13))

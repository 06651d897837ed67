"""When does a concurrency limit pay? A graded verdict on two timings of the same work.

Who calls it: chapter 08, after fetching the same pages from a site of limited capacity
(``helpers.site.slow_site(capacity=k)``) once through a ``Semaphore(limit)`` and once with
every request at once. The verdict is computed from the two times, so a different measurement
prints a different conclusion; the raw ratio stays on the returned ``Verdict``.

Public names:
    limit_verdict(limited, unlimited, limit) -> helpers.timing.Verdict
"""

from __future__ import annotations

from helpers._checks import seconds
from helpers.timing import Verdict

__all__ = ["WIN", "limit_verdict"]

WIN = 2.0  # one side must take over twice as long as the other for a verdict: a band a loaded machine keeps


def limit_verdict(limited: float, unlimited: float, limit: int) -> Verdict:
    """Compare the seconds the work took with a limit of ``limit`` and with none.

    "the limit of 3 wins: without it the work took over 2× as long", "... loses: with it the work
    took over 2× as long", or "no clear winner (within 2× of each other)". ``ratio`` is
    unlimited / limited (over 1: the limit was faster); ``holds`` says whether the limit won.
    """
    limited = seconds(limited, "limited")
    unlimited = seconds(unlimited, "unlimited")
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValueError(f"limit must be a whole number >= 1, not {limit!r}")
    ratio = unlimited / limited
    if ratio >= WIN:
        text = f"the limit of {limit} wins: without it the work took over {WIN:g}× as long"
    elif ratio <= 1 / WIN:
        text = f"the limit of {limit} loses: with it the work took over {WIN:g}× as long"
    else:
        text = f"no clear winner: with and without the limit of {limit}, within {WIN:g}× of each other"
    return Verdict(text, ratio, ratio >= WIN)

"""How many at once: one gauge for every "in flight" count of the course.

Servers count connections being served, the slow site counts requests being answered, the
client swarm counts clients connected, exercise checks count fetches running: each keeps an
:class:`InFlight` gauge instead of hand-written ``in_flight += 1`` / ``max(...)`` pairs::

    gauge = InFlight()
    with gauge:             # one more in flight for the length of the block
        ...
    gauge.most              # the most that were ever in flight at the same time

Who calls it: helpers (servers, site, swarm, checks) and notebook cells. ``enter()`` and
``leave()`` may be called from any thread or coroutine; nothing blocks, nothing prints.
"""

from __future__ import annotations

import threading
from typing import Self

__all__ = ["InFlight"]


class InFlight:
    """A thread-safe gauge: ``now`` in flight, the ``most`` at once, ``total`` that ever entered."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._now = 0
        self._most = 0
        self._total = 0

    def enter(self) -> int:
        """Count one more in flight; return how many are in flight now."""
        with self._lock:
            self._now += 1
            self._total += 1
            self._most = max(self._most, self._now)
            return self._now

    def leave(self) -> int:
        """Count one fewer in flight; return how many are left. Raises if none was in flight."""
        with self._lock:
            if self._now == 0:
                raise RuntimeError("leave() without a matching enter(): nothing is in flight")
            self._now -= 1
            return self._now

    def __enter__(self) -> Self:
        self.enter()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.leave()

    @property
    def now(self) -> int:
        """How many are in flight at this moment."""
        return self._now

    @property
    def most(self) -> int:
        """The most that were in flight at the same time since the gauge was made (or reset)."""
        return self._most

    @property
    def total(self) -> int:
        """How many entered in all since the gauge was made (or reset)."""
        return self._total

    def reset(self) -> None:
        """Start counting afresh (re-running a cell); refuses while any are in flight."""
        with self._lock:
            if self._now:
                raise RuntimeError(f"reset() while {self._now} are still in flight")
            self._most = self._total = 0

    def __repr__(self) -> str:
        return f"<InFlight: now {self._now}, most {self._most}, total {self._total}>"

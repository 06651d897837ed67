"""Argument checks shared by the helpers (private: notebooks never import this module).

One place says what "a number of seconds" is, so that every helper rejects a bad timeout,
delay or interval with the same clear message instead of hanging or waiting forever.
"""

from __future__ import annotations

import math

__all__ = ["seconds"]


def seconds(value: object, name: str = "timeout", *, minimum: float = 0.0, zero_ok: bool = False,
            maximum: float = math.inf) -> float:
    """Return ``value`` as a float if it is a number of seconds in range, else raise.

    A positive, finite number by default; ``zero_ok=True`` also accepts 0, ``maximum`` caps it
    (inclusive). ``bool`` is not a number here. TypeError for a non-number, ValueError for one
    out of range (NaN and infinity included), each naming ``name`` and the value given.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number of seconds, not {value!r}")
    lowest_ok = (minimum <= value) if zero_ok else (minimum < value)
    if not (lowest_ok and value <= maximum and math.isfinite(value)):  # NaN fails every comparison
        span = "0 or more" if zero_ok else "more than 0"
        if maximum < math.inf:
            span += f" and at most {maximum:g}"
        raise ValueError(f"{name} must be a number of seconds, {span}; not {value!r}")
    return float(value)

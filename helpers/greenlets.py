"""Greenlet switches as trace events, and gevent's error reports kept out of the cell.

Who calls it: chapters 03 (greenlet) and 04 (gevent), and their exercise checks.

``greenlet.settrace`` calls a function on every switch between greenlets of the current
thread with ``("switch" | "throw", (origin, target))``. :class:`trace_switches` turns each
call into the course's events (see :mod:`helpers.trace`), so a greenlet program shows its
switch order as text and as a timeline like every other chapter::

    tracer = Tracer()
    with trace_switches(tracer, {ping: "ping", pong: "pong"}):
        ping.switch()
    print(tracer)

One switch becomes two events::

    origin  pause  switch to <target>     (or exit, when the origin has just finished)
    target  run

Into gevent's hub, a switch is a ``wait`` (the task cannot go on until the hub has seen a
timer, a socket or another greenlet finish: ``gevent.sleep(0.3)``, ``joinall``, ``recv``),
except ``gevent.sleep(0)`` and ``gevent.idle()``, which stay ``pause``: the task is ready again
at once and only lets the others take their turn. asyncio's trace (:mod:`helpers.asynctrace`)
draws the same line, so the timelines of both read alike.

Which greenlets are traced: those given a name. ``names`` maps greenlets to names (or is
a function returning a name or None); on top of that the thread's main greenlet is
"main", gevent's hub is "hub", and a gevent Greenlet whose ``name`` you assigned goes by
that name. Unnamed greenlets are left out of the trace (their switches still happen).

Threads: greenlet keeps one trace function per thread; enter and leave the ``with`` block
in the same thread. On leaving, the previous trace function is put back, always, also
when the block raised. Blocks nest: an inner tracer passes every switch on to the outer.
Nothing here prints.

For notebooks: :class:`trace_switches`, :func:`hub_error_reports`.
"""

from __future__ import annotations

import io
import re
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import greenlet

from helpers.trace import Tracer

__all__ = ["trace_switches", "hub_error_reports", "default_name"]

Names = Mapping[greenlet.greenlet, str] | Callable[[greenlet.greenlet], str | None] | None

_GENERATED_NAME = re.compile(r"Greenlet-\d+")  # gevent's default name: it changes on every run


def default_name(g: greenlet.greenlet) -> str | None:
    """The name a greenlet is traced under when ``names`` does not name it, or None.

    "main" for a thread's main greenlet, "hub" for gevent's hub, the assigned ``name`` of a
    gevent Greenlet (``g.name = "alice"``); None (not traced) for anything else.
    """
    if g.parent is None:
        return "main"
    gevent_hub = sys.modules.get("gevent.hub")
    if gevent_hub is not None and isinstance(g, gevent_hub.Hub):
        return "hub"
    gevent_greenlet = sys.modules.get("gevent.greenlet")
    if gevent_greenlet is not None and isinstance(g, gevent_greenlet.Greenlet):
        name = g.name
        if isinstance(name, str) and name and not _GENERATED_NAME.fullmatch(name):
            return name
    return None


def _no_name(g: greenlet.greenlet) -> None:
    """No name given: ``default_name`` decides."""
    return None


class trace_switches:
    """Record every switch between named greenlets of this thread into ``tracer``.

    Use it as ``with trace_switches(tracer, names) as switches:``; ``switches.count`` is the
    number of switches seen (named or not). ``names`` is a dict {greenlet: name} or a function
    greenlet -> name or None; see the module docstring for the default names. A name that is
    not a non-empty str raises ValueError when the block ends (the trace function itself never
    raises inside a switch).
    """

    def __init__(self, tracer: Tracer, names: Names = None) -> None:
        if not isinstance(tracer, Tracer):
            raise TypeError(f"tracer must be a helpers.trace.Tracer, not {type(tracer).__name__}")
        lookup: Callable[[greenlet.greenlet], object]  # its answer is checked in name_of
        if names is None:
            lookup = _no_name
        elif isinstance(names, Mapping):
            for key in names:
                if not isinstance(key, greenlet.greenlet):
                    raise TypeError(f"names must map greenlets to names, but has the key {key!r}")
            mapping = dict(names)
            lookup = mapping.get
        elif callable(names):
            lookup = names
        else:
            raise TypeError(f"names must be a dict of greenlets to names or a function, not {names!r}")
        self.tracer = tracer
        self.count = 0
        self._lookup = lookup
        self._previous: Any = None
        self._thread: threading.Thread | None = None
        self._error: Exception | None = None
        self._active = False

    def name_of(self, g: greenlet.greenlet) -> str | None:
        """The name ``g`` is traced under, or None if it is not traced."""
        name = self._lookup(g)
        if name is None:
            name = default_name(g)
        if name is not None and (not isinstance(name, str) or not name):
            raise ValueError(f"a greenlet's name must be a non-empty str, not {name!r}")
        return name

    def __enter__(self) -> trace_switches:
        if self._active:
            raise RuntimeError("this trace_switches is already in use: make a new one to nest")
        self._thread = threading.current_thread()
        self._error = None
        self._previous = greenlet.settrace(self._on_switch)
        self._active = True
        return self

    def __exit__(self, *exc_info: object) -> None:
        if threading.current_thread() is not self._thread:
            raise RuntimeError("leave the trace_switches block in the thread that entered it")
        greenlet.settrace(self._previous)
        self._previous, self._active = None, False
        if self._error is not None and exc_info[0] is None:
            error, self._error = self._error, None
            raise error

    def _on_switch(self, event: str, args: tuple[greenlet.greenlet, greenlet.greenlet]) -> None:
        """greenlet's trace function: runs inside every switch, so it must never raise."""
        try:
            if event in ("switch", "throw"):
                self._record(event, *args)
        except Exception as error:  # report it when the block ends
            if self._error is None:
                self._error = error
        if self._previous is not None:
            self._previous(event, args)

    def _record(self, event: str, origin: greenlet.greenlet, target: greenlet.greenlet) -> None:
        self.count += 1
        source, dest = self.name_of(origin), self.name_of(target)
        if source is not None:
            to = dest or "an untraced greenlet"
            if origin.dead:
                self.tracer.record(source, "exit", f"{'raised into' if event == 'throw' else 'returned to'} {to}")
            else:
                kind = "wait" if event == "switch" and _waits_in_hub(origin, target) else "pause"
                self.tracer.record(source, kind, f"{'throw into' if event == 'throw' else 'switch to'} {to}")
        if dest is not None:
            self.tracer.record(dest, "run")

    def __repr__(self) -> str:
        return f"<trace_switches: {'on' if self._active else 'off'}, {self.count} switches seen>"


def _waits_in_hub(origin: greenlet.greenlet, target: greenlet.greenlet) -> bool:
    """True when ``origin`` switches to gevent's hub to wait for something, not just to let others run.

    gevent's ``sleep(seconds)`` with ``seconds <= 0`` and ``idle()`` only queue the greenlet
    to run again: those are the switches that stay "pause". Read from the innermost frame of
    the switching greenlet (gevent's ``hub.py`` is plain Python, so its frame is there).
    """
    gevent_hub = sys.modules.get("gevent.hub")
    if gevent_hub is None or not isinstance(target, gevent_hub.Hub):
        return False
    frame = origin.gr_frame
    if frame is not None and frame.f_code.co_filename == gevent_hub.__file__:
        if frame.f_code.co_name == "idle":
            return False
        if frame.f_code.co_name == "sleep":
            seconds = frame.f_locals.get("seconds")
            return not (isinstance(seconds, (int, float)) and seconds <= 0)
    return True


@contextmanager
def hub_error_reports() -> Iterator[list[str]]:
    """Collect gevent's reports of failed greenlets in a list instead of printing them.

    gevent's hub prints a traceback and a time stamp on stderr when a greenlet dies of an
    exception. Inside the block each report's last traceback line (e.g.
    "ZeroDivisionError: division by zero") is appended to the list the block gets; the
    hub's previous stream is restored afterwards. Uses the current thread's hub.
    """
    import gevent

    hub = gevent.get_hub()
    buffer = io.StringIO()
    had_own = "exception_stream" in vars(hub)
    previous = vars(hub).get("exception_stream")
    hub.exception_stream = buffer
    reports: list[str] = []
    try:
        yield reports
    finally:
        if had_own:
            hub.exception_stream = previous
        else:
            del hub.exception_stream  # back to gevent's default: sys.stderr
        reports.extend(_last_lines(buffer.getvalue()))


def _last_lines(text: str) -> list[str]:
    """From printed reports, the "Kind: message" line ending each traceback."""
    found = []
    lines = text.splitlines()
    for number, line in enumerate(lines):
        if line.startswith("Traceback (most recent call last)"):
            for later in lines[number + 1:]:
                if later and not later.startswith(" "):
                    found.append(later)
                    break
    return found

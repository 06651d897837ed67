"""Switch-order traces: record who ran when, from any concurrency model, and show it.

This is the course's signature view. Every chapter (generators, greenlets, gevent,
the home-made loop, asyncio, threads) records the same kind of events into a
:class:`Tracer`, then shows them two ways:

- ``print(tracer)`` prints the switch order as stable text, one event a line (this is
  what nbval compares, so it must not depend on timing);
- ``tracer.timeline()`` draws a swimlane picture: one lane per task, a solid bar while the
  task runs, a light hatched bar while it is ready but another task runs, a thin dashed
  line while it waits (I/O, a timer), a dot for each note; a legend names the three.

The event kinds follow trio's instrumentation vocabulary, simplified::

    spawn   a task was created
    run     a task starts or resumes running        (its bar begins)
    note    something the task did while running     (a dot on its lane)
    pause   the task gives control away but could go on at once: yield, switch, sleep(0)
            (its bar ends; it is *ready*, waiting only for its turn)
    wait    the task gives control away until something happens: I/O, a timer, a lock
            (its bar ends; it is *waiting*, and could not run even if the CPU were free)
    exit    the task finished                        (its bar ends for good)

So between its events a task is in one of three states (:data:`STATES`, see :func:`segments`):
*running* from ``run`` to the next ``pause``/``wait``/``exit``; *ready* from ``spawn`` or
``pause`` to its next ``run``; *waiting* from ``wait`` to its next ``run``.

For notebooks: :class:`Tracer` and :func:`round_robin` (chapter 00's first demo). Adapters
that record into a Tracer: :mod:`helpers.greenlets` (greenlet, gevent) and
:mod:`helpers.asynctrace` (asyncio, and a hook for a home-made event loop).
``Tracer.record`` may be called from any thread; nothing here prints by itself.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from helpers import _figures

__all__ = ["Tracer", "Event", "Bar", "Timeline", "bars", "segments", "round_robin", "KINDS", "STATES", "CLOCKS"]

KINDS = ("spawn", "run", "note", "pause", "wait", "exit")
STATES = ("running", "ready", "waiting")
CLOCKS = ("step", "time")

# How a timeline is drawn: 100 dpi, so a 10-point label is about 14 pixels tall on screen.
DPI = 100
LABEL_SIZE = 10   # notes and the legend
TICK_SIZE = 11    # lane names and the clock
TITLE_SIZE = 12
MAX_LABELS = 24   # more notes than this: dots only, their labels would pile up
EDGE = 0.12       # a note this close to either end (share of the width) is labelled towards the middle


@dataclass(frozen=True)
class Event:
    """One thing that happened: ``step`` counts events from 1, ``time`` is seconds since the tracer started."""

    step: int
    time: float
    task: str
    kind: str
    detail: str = ""


class Tracer:
    """Collects :class:`Event` records in the order they happen (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: list[Event] = []
        self._start = time.perf_counter()

    def record(self, task: str, kind: str, detail: str = "") -> Event:
        """Record that ``task`` did ``kind`` (one of :data:`KINDS`) and return the event."""
        if not isinstance(task, str) or not task:
            raise ValueError(f"task must be a non-empty name, not {task!r}")
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}; got {kind!r}")
        with self._lock:
            event = Event(len(self._events) + 1, time.perf_counter() - self._start,
                          task, kind, str(detail))
            self._events.append(event)
        return event

    def note(self, task: str, detail: str) -> Event:
        """Shortcut for ``record(task, "note", detail)``."""
        return self.record(task, "note", detail)

    def clear(self) -> None:
        """Forget every event and restart the clock (re-running a cell starts clean)."""
        with self._lock:
            self._events.clear()
            self._start = time.perf_counter()

    @property
    def events(self) -> tuple[Event, ...]:
        with self._lock:
            return tuple(self._events)

    def tasks(self) -> list[str]:
        """Task names in the order they first appear."""
        return list(dict.fromkeys(event.task for event in self.events))

    def order(self) -> list[str]:
        """Which task ran, in order: one entry per ``run`` event (the switch order)."""
        return [event.task for event in self.events if event.kind == "run"]

    def text(self) -> str:
        """The trace as aligned text, one event a line; stable whenever the order is."""
        events = self.events
        if not events:
            return "(no events)"
        width = max(len(event.task) for event in events)
        digits = len(str(len(events)))
        lines = [f"{event.step:>{digits}}  {event.task:<{width}}  {event.kind:<5}  {event.detail}".rstrip()
                 for event in events]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.text()

    def __repr__(self) -> str:
        return f"<Tracer: {len(self.events)} events, tasks {self.tasks()}>"

    def timeline(self, clock: str = "step", title: str | None = None) -> Timeline:
        """A swimlane picture of the events (see :class:`Timeline`).

        ``clock="step"`` spaces events evenly, one tick each: the picture depends only on
        the order, so it is the same on every machine. ``clock="time"`` uses the measured
        seconds: use it to see waiting and overlap (it differs a little on every run).
        """
        if clock not in CLOCKS:
            raise ValueError(f"clock must be one of {', '.join(CLOCKS)}; got {clock!r}")
        return Timeline(self.events, clock, title)


@dataclass(frozen=True)
class Bar:
    """A stretch from ``start`` to ``end`` on the clock during which ``task`` was in ``state``.

    ``state`` is one of :data:`STATES`: "running", "ready" (could run, another task runs) or
    "waiting" (blocked on I/O or a timer). :func:`bars` gives only the running ones.
    """

    task: str
    start: float
    end: float
    state: str = "running"


def _clock(clock: str) -> Callable[[Event], float]:
    return (lambda e: float(e.step)) if clock == "step" else (lambda e: e.time)


def bars(events: tuple[Event, ...], clock: str = "step") -> list[Bar]:
    """Turn run → pause/wait/exit pairs into bars. A run with no end yet ends at the last event."""
    if not events:
        return []
    at = _clock(clock)
    open_since: dict[str, float] = {}
    result: list[Bar] = []
    for event in events:
        if event.kind == "run":
            open_since.setdefault(event.task, at(event))
        elif event.kind in ("pause", "wait", "exit") and event.task in open_since:
            result.append(Bar(event.task, open_since.pop(event.task), at(event)))
    last = at(events[-1])
    result.extend(Bar(task, start, last) for task, start in open_since.items())
    return result


_AFTER = {"spawn": "ready", "run": "running", "pause": "ready", "wait": "waiting"}


def segments(events: tuple[Event, ...], clock: str = "step") -> list[Bar]:
    """Every stretch of every task with its state: running, ready or waiting (see :data:`STATES`).

    ``spawn`` and ``pause`` start a ready stretch, ``run`` a running one, ``wait`` a waiting
    one; each ends at the task's next state change, ``exit`` ends the last. A running stretch
    only ends with ``pause``/``wait``/``exit`` (so the running segments are exactly
    :func:`bars`); stretches still open end at the last event (empty ready or waiting ones are
    left out). Sorted by start, then in the order the stretches ended.
    """
    if not events:
        return []
    at = _clock(clock)
    current: dict[str, tuple[str, float]] = {}  # task -> (state, since)
    result: list[Bar] = []
    for event in events:
        state, since = current.get(event.task, (None, 0.0))
        if event.kind == "note" or (event.kind == "run" and state == "running"):
            continue
        if state == "running" and event.kind == "spawn":
            continue  # a spawn after the task ran tells nothing new
        if state is not None:
            result.append(Bar(event.task, since, at(event), state))
        if event.kind == "exit":
            current.pop(event.task, None)
        else:
            current[event.task] = (_AFTER[event.kind], at(event))
    last = at(events[-1])
    result.extend(Bar(task, since, last, state) for task, (state, since) in current.items()
                  if state == "running" or last > since)
    result.sort(key=lambda bar: bar.start)  # stable: equal starts keep their order
    return result


class Timeline(_figures.LazyFigure):
    """A swimlane picture of a trace. Displays as an image in Jupyter; its text form is a summary.

    Each lane shows why its task is or is not running: a solid bar while it runs, a light
    hatched bar while it is ready but another task has the CPU, a thin dashed line while it
    waits for I/O or a timer (``timeline.segments``; ``timeline.bars`` are the running ones).

    ``timeline.figure`` is the matplotlib Figure (to adjust or save it);
    ``timeline.save(path)`` writes a PNG. Drawing uses no global pyplot state, so it
    never shows up twice and is safe to build in any thread.
    """

    def __init__(self, events: tuple[Event, ...], clock: str = "step", title: str | None = None) -> None:
        self.events = events
        self.clock = clock
        self.title = title
        self.tasks = list(dict.fromkeys(event.task for event in events))
        self.bars = bars(events, clock)
        self.segments = segments(events, clock)

    def _draw(self):
        from matplotlib.figure import Figure

        lanes = {task: index for index, task in enumerate(self.tasks)}
        legend = 0.35 if self.segments else 0.0  # inches under the axes for the key
        height = 0.65 * max(len(lanes), 1) + 1.3 + legend
        figure = Figure(figsize=(9, height), dpi=DPI)
        ax = figure.add_subplot()
        colours = [f"C{index % 10}" for index in range(len(lanes))]
        for bar in self.segments:
            lane, colour = lanes[bar.task], colours[lanes[bar.task]]
            width = max(bar.end - bar.start, 0.0)
            if bar.state == "running":
                ax.barh(lane, width, left=bar.start, height=0.5, color=colour, alpha=0.8)
            elif bar.state == "ready":
                ax.barh(lane, width, left=bar.start, height=0.3, color=colour, alpha=0.3,
                        hatch="////", edgecolor=colour, linewidth=0)
            else:
                ax.hlines(lane, bar.start, bar.start + width, colors=colour, linestyles=(0, (3, 2)), linewidth=1.6)
        at = _clock(self.clock)
        notes = [event for event in self.events if event.kind == "note"]
        if self.events:  # room on both sides, so that no label runs into the axis
            first, last = at(self.events[0]), at(self.events[-1])
            pad = max(last - first, 1e-9) * 0.04
            ax.set_xlim(first - pad, last + pad)
        low, high = ax.get_xlim()
        for event in notes:
            x, lane = at(event), lanes[event.task]
            ax.plot(x, lane, "o", color="black", markersize=4)
            if len(notes) <= MAX_LABELS:
                # Centred over its dot; near an edge it starts (or ends) at the dot instead, so
                # that no label runs past the axes.
                where = (x - low) / (high - low)
                align, shift = ("left", -4) if where < EDGE else ("right", 4) if where > 1 - EDGE else ("center", 0)
                ax.annotate(event.detail, (x, lane), xytext=(shift, 13), textcoords="offset points",
                            fontsize=LABEL_SIZE, ha=align)
        ax.set_yticks(range(len(lanes)), list(lanes))
        ax.set_ylim(len(lanes) - 0.4, -0.75)  # top lane: room for its labels under the frame
        ax.tick_params(labelsize=TICK_SIZE)
        ax.set_xlabel("step (one tick per event)" if self.clock == "step" else "seconds since the trace began",
                      fontsize=TICK_SIZE)
        if self.title:
            ax.set_title(self.title, fontsize=TITLE_SIZE)
        ax.grid(axis="x", alpha=0.3)
        self._legend(figure)
        figure.tight_layout(rect=(0, legend / height, 1, 1))
        return figure

    def _legend(self, figure) -> None:
        """A small key under the picture for the states drawn (grey: each lane has its own colour)."""
        from matplotlib.lines import Line2D
        from matplotlib.patches import Patch

        drawn = {bar.state for bar in self.segments}
        keys = {
            "running": Patch(color="grey", alpha=0.8, label="running"),
            "ready": Patch(facecolor=(0.5, 0.5, 0.5, 0.3), edgecolor="grey", hatch="////", linewidth=0,
                           label="ready (another task runs)"),
            "waiting": Line2D([], [], color="grey", linestyle=(0, (3, 2)), linewidth=1.6,
                              label="waiting (I/O, timer)"),
        }
        handles = [keys[state] for state in STATES if state in drawn]
        if handles:
            figure.legend(handles=handles, loc="lower center", ncols=len(handles), fontsize=LABEL_SIZE, frameon=False,
                          borderaxespad=0.1)

    def __repr__(self) -> str:
        runs = sum(1 for event in self.events if event.kind == "run")
        return f"<Timeline: {len(self.tasks)} tasks, {runs} turns, {self.clock} clock>"


def round_robin(tasks: Mapping[str, Iterator], tracer: Tracer) -> Tracer:
    """Run generator ``tasks`` in turns, one step each, until all finish; trace every switch.

    Each turn records ``run`` for the task, advances it with ``next()``, then records
    ``pause`` with the value it yielded, or ``exit`` when it is finished. This is the
    smallest scheduler there is: chapter 02 builds it from scratch.
    """
    queue = list(tasks.items())
    for name, _ in queue:
        tracer.record(name, "spawn")
    while queue:
        name, task = queue.pop(0)
        tracer.record(name, "run")
        try:
            value = next(task)
        except StopIteration:
            tracer.record(name, "exit")
            continue
        tracer.record(name, "pause", f"yield {value!r}")
        queue.append((name, task))
    return tracer

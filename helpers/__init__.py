"""Helpers for the Switchyard notebooks.

A chapter reads like a lesson; the plumbing lives here, one module per concern:

    trace      record switch events from any model; print them; draw a swimlane timeline
    greenlets  greenlet/gevent switches as trace events (greenlet.settrace); gevent's error reports
    timing     a stopwatch and verdicts with generous bands ("about 1x one task, not 10x")
    servers    TCP servers in a background thread (an echo server to start with)
    site       the course's local slow website: delayed pages and a small "book"
    fresh      run a program in a fresh interpreter (optionally gevent-patched) with a timeout
    exercises  self-checking exercises: ``check("00.1", answer)``
    stepper    step through any generator by hand: the logic, and an ipywidgets view of it
    pep380     run two delegating generators through the same presses and compare them

Notebooks import what they use by name, e.g. ``from helpers.trace import Tracer``.
Nothing here prints from a background thread: servers collect events for the cell to
print afterwards, so output always lands in the cell that asked for it.
"""

"""Helpers for the Switchyard notebooks.

A chapter reads like a lesson; the plumbing lives here, one module per concern:

    trace      record switch events from any model; print them; draw a swimlane timeline
               (running, ready and waiting drawn differently)
    greenlets  greenlet/gevent switches as trace events (greenlet.settrace); gevent's error reports
    asynctrace asyncio tasks as trace events (trace_tasks); LoopRecorder for a home-made loop
    timing     a stopwatch and verdicts with generous bands ("about 1x one task, not 10x")
    servers    the shared base of the course's servers: an asyncio loop in a background thread
    echo       the echo server (one trace lane per client)
    site       the course's local slow website: delayed pages and a small "book"
    book       chapter 08's book site in GBK: a crawler's target with a missing chapter, a 404, faults
    gservers   gevent servers on loopback: stream_server, serve_one_client
    selserver  a selectors server in one background thread (chapter 05's lab)
    selectdemo chapter 05's stage for servers written in a cell: a server thread, staged clients
    filexfer   a framed get/put file server, its clients and swarm payloads
    c10k       descriptor limits, select()'s ceiling, 10,000 connections held by one thread
    models     the cost of one wait (select/poll/epoll); process/thread/event servers compared
    homeloop   chapter 06's home-made event loop, finished: Future, Task, a selectors Loop, socket calls
    codediff   the lines that changed between two versions of a function or class
    swarm      N clients against any server, in a thread or a second process (to 10,000)
    gauge      InFlight: how many at once, and the most so far
    limits     chapter 08's verdict on a concurrency limit: wins, loses, or no clear winner
    heartbeat  the longest silence of a beating task, on a clock the OS's load does not advance
    fresh      run a program in a fresh interpreter (optionally gevent-patched) with a timeout
    programs   a fresh-interpreter program that keeps running while the cell talks to it (a server)
    procs      chapter 10's pool jobs, a CPU job that records when it computed, an echo fleet of processes
    exercises  self-checking exercises: ``check("00.1", answer)``
    stepper    step through any generator by hand: the logic, and an ipywidgets view of it
    echobench  chapter 11's showdown: one echo workload against a server of every model, 1 to 1,000 clients
    showdown   chapter 11's showdown: thousands of sleepers and the cost of one switch, every model
    progress   a progress bar for long measurements: a widget in a kernel, silent elsewhere
    workspace  the learner's own copies of the chapters (answers hidden, edits kept) and their progress
    leftovers  a chapter's closing check: tasks, threads and processes it left running (run twice too)
    pep380     chapter 02's table of cases; run two delegating generators through them and compare

Notebooks import what they use by name, e.g. ``from helpers.trace import Tracer``.
Nothing here prints from a background thread: servers collect events for the cell to
print afterwards, so output always lands in the cell that asked for it.
"""
